"""Backbone recipes: what a transfer run trains when it leaves freeze, k and backbone_lr_scale unset."""

from __future__ import annotations

from typing import Any

__all__ = ["RECIPES", "default_freeze", "default_recipe"]


def default_freeze(weights: str) -> str:
    """What trains when a run sets no ``freeze``: the new head on pretrained features; every layer without
    pretrained weights (a head on random features learns next to nothing)."""
    return "finetune_all" if weights == "none" else "head_only"


# The course's recipe, the default where a run sets none of freeze, k, backbone_lr_scale and picks the backbone
# with pretrained weights: vgg16's features frozen, its whole classifier (fc6, fc7, the new head) trains at one
# rate (the course: ``optim.SGD(vgg16.classifier.parameters(), lr=0.001)``).
RECIPES: dict[str, dict[str, Any]] = {"vgg16": {"freeze": "last_k", "k": 2, "backbone_lr_scale": 1.0}}


def default_recipe(
    backbone: str, weights: str, freeze: str | None, k: int | None, backbone_lr_scale: float | None
) -> tuple[str, int, float]:
    """(freeze, k, backbone_lr_scale) of a run that left some unset: the backbone's recipe when it set none
    and starts from pretrained weights, else the defaults (``default_freeze``, 1, 0.1)."""
    recipe = RECIPES.get(backbone) if weights != "none" else None
    if recipe and freeze is None and k is None and backbone_lr_scale is None:
        return recipe["freeze"], recipe["k"], recipe["backbone_lr_scale"]
    return (
        default_freeze(weights) if freeze is None else freeze,
        1 if k is None else k,
        0.1 if backbone_lr_scale is None else backbone_lr_scale,
    )
