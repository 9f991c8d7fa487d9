"""Model registry (torchvision's pattern): one family per file.

Every builder takes the data's ``in_shape=(C, H, W)`` and ``num_classes``
plus its own keyword parameters; ``build_model`` drops ``None`` values so
unset UI fields fall back to the builder's defaults.
"""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from . import autoencoder as _autoencoder  # noqa: F401  (registers autoencoder, conv_autoencoder)
from . import cnn as _cnn  # noqa: F401  (registers cnn, lenet5)
from . import course_ae as _course_ae  # noqa: F401  (registers course_denoiser, course_conv_autoencoder)
from . import mlp as _mlp  # noqa: F401  (registers mlp)
from . import resnet as _resnet  # noqa: F401  (registers resnet)
from . import transfer as _transfer  # noqa: F401  (registers transfer)
from ._registry import ENGINE_PARAMS, MODELS, register_model
from .layers import ACTIVATIONS

__all__ = [
    "ACTIVATIONS",
    "ENGINE_PARAMS",
    "MODELS",
    "register_model",
    "list_models",
    "build_model",
    "build_saved_model",
    "model_params",
    "summary",
]


def list_models(**where: Any) -> list[str]:
    """Registered model names; filter on their facts, e.g. ``list_models(task="reconstruct")``,
    ``list_models(task="classify", pretrained=False)``."""
    return MODELS.names(**where)


def model_params(name: str) -> dict[str, Any]:
    """The builder's parameters and defaults (for forms and `playground list`)."""
    return {k: v for k, v in MODELS.params(name).items() if k not in ENGINE_PARAMS}


def build_model(
    name: str, *, in_shape: tuple[int, int, int], num_classes: int, runs_root: Any = None, **params: Any
) -> nn.Module:
    """``runs_root``: the run store a source run is read from, for models whose builder reads one."""
    if runs_root is not None and MODELS.facts(name)["reads_runs"]:
        params["runs_root"] = str(runs_root)
    return MODELS.call(name, in_shape=tuple(in_shape), num_classes=num_classes, **params)


def build_saved_model(
    name: str, *, in_shape: tuple[int, int, int], num_classes: int, params: dict[str, Any]
) -> nn.Module:
    """The model of a saved run, built to receive its checkpoint's state dict (no weights fetched)."""
    return build_model(
        name, in_shape=in_shape, num_classes=num_classes, **{**dict(params), **MODELS.facts(name)["reload"]}
    )


def summary(model: nn.Module, in_shape: tuple[int, int, int], depth: int = 3) -> "Any":
    """torchinfo's summary: per-layer output shapes and parameter counts (a ModelStatistics;
    ``str()`` it for the table, ``.summary_list`` for rows)."""
    import torchinfo

    return torchinfo.summary(
        model,
        input_size=(1, *in_shape),
        depth=depth,
        verbose=0,
        col_names=("output_size", "num_params", "trainable"),
        device="cpu",
    )
