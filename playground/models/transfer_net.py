"""The transfer model itself: a backbone whose final layer is a new head, behind the preprocessing that travels
with its weights; what trains (the freeze depth, frozen blocks kept in eval mode), the head's and the
backbone's learning rates, the features the head sees (the feature cache), and the facts the engine applies
(``playground.train.plan.prepare``). Built by ``playground.models.transfer``."""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn as nn

from ..data.normalise import parse_normalisation
from ..errors import ConfigError
from .backbones import Backbone, Preprocess, convert_stats

__all__ = ["FREEZE", "TransferNet"]

FREEZE = ("head_only", "last_k", "finetune_all")


class TransferNet(nn.Module):
    """preprocess -> torchvision backbone whose final layer is the new head.

    ``normalises_input``: it takes images in [0, 1] (inspection and exports must not normalise).

    ``forward`` takes images (B, C, H, W) in [0, 1], or backbone features (B, in_features)
    from the feature cache, which go to the head alone."""

    normalises_input = True

    def __init__(
        self,
        spec: Backbone,
        net: nn.Module,
        preprocess: Preprocess,
        num_classes: int,
        *,
        weights: str,
        freeze: str,
        k: int,
        backbone_lr_scale: float,
        feature_cache: bool,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.preprocess = preprocess
        self.backbone = net
        old = net.get_submodule(spec.head)
        if not isinstance(old, nn.Linear):
            raise RuntimeError(f"{spec.arch}.{spec.head} is {type(old).__name__}, not Linear")  # torchvision changed
        self.replaced = {
            "name": spec.head,
            "old": repr(old),
            "in_features": old.in_features,
            "old_out_features": old.out_features,
        }
        self.backbone.set_submodule(spec.head, nn.Linear(old.in_features, num_classes))
        self.weights_source = weights
        self.freeze_mode, self.k = freeze, k
        self.backbone_lr_scale = backbone_lr_scale
        self.feature_cache = feature_cache
        self.stats_from_data = weights == "none"  # from scratch: normalise with the data's own statistics
        self.set_freeze(freeze, k)

    @property
    def head(self) -> nn.Linear:
        return cast(nn.Linear, self.backbone.get_submodule(self.spec.head))  # __init__ put a Linear there

    @property
    def in_features(self) -> int:
        return self.head.in_features

    # -- freezing --------------------------------------------------------------
    def trainable_blocks(self) -> list[str]:
        """Labels of the blocks that train (the head always does)."""
        labels = [label for label, _ in self.spec.blocks]
        n = {"head_only": 0, "last_k": self.k, "finetune_all": len(labels)}[self.freeze_mode]
        return labels[len(labels) - n :] if n else []

    def set_freeze(self, freeze: str, k: int = 1) -> None:
        if freeze not in FREEZE:
            raise ConfigError(f"freeze must be one of {', '.join(FREEZE)} (got {freeze!r}).")
        n_blocks = len(self.spec.blocks)
        if freeze == "last_k" and not (isinstance(k, int) and 1 <= k <= n_blocks):
            raise ConfigError(
                f"k must be a whole number from 1 to {n_blocks} for {self.spec.arch} "
                f"(got {k}); use finetune_all to train every block."
            )
        self.freeze_mode, self.k = freeze, k
        live = set(self.trainable_blocks())
        self.backbone.requires_grad_(freeze == "finetune_all")
        self._frozen: list[nn.Module] = []
        for label, names in self.spec.blocks:
            for name in names:
                mod = self.backbone.get_submodule(name)
                mod.requires_grad_(label in live)
                if label not in live:
                    self._frozen.append(mod)
        self.head.requires_grad_(True)
        self.train(self.training)

    def train(self, mode: bool = True) -> "TransferNet":
        super().train(mode)
        for mod in self._frozen if hasattr(self, "_frozen") else ():
            mod.eval()  # frozen blocks are a fixed function: no BatchNorm updates, no dropout
        return self

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """The head at ``lr``, the trainable part of the backbone at ``lr * backbone_lr_scale``."""
        head = list(self.head.parameters())
        ids = {id(q) for q in head}
        body = [q for q in self.backbone.parameters() if q.requires_grad and id(q) not in ids]
        groups = [{"params": head, "lr": lr, "name": "head"}]
        if body:
            groups.append({"params": body, "lr": lr * self.backbone_lr_scale, "name": "backbone"})
        return groups

    # -- forward ---------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:  # (B, in_features): cached backbone features
            return self.head(x)
        return self.backbone(self.preprocess(x))  # (B, C, H, W) -> (B, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What the head sees: (B, C, H, W) in [0, 1] -> (B, in_features)."""
        seen: list[torch.Tensor] = []
        hook = self.head.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
        try:
            self.backbone(self.preprocess(x))
        finally:
            hook.remove()
        return seen[0]

    def uses_feature_cache(self, augment: tuple[str, ...] = ()) -> bool:
        """The cache holds one feature vector per image: only for a fully frozen backbone and no augmentation."""
        return self.feature_cache and self.freeze_mode == "head_only" and not augment

    # -- facts the engine applies (plan.prepare) ----------------------------------
    def check_init(self, init: str) -> None:
        """An initialisation other than the default would overwrite pretrained weights."""
        if init != "default" and self.weights_source != "none":
            raise ConfigError(
                f"The initialisation {init!r} would overwrite the pretrained backbone. "
                "Use init 'default' (the new head starts as nn.Linear's default), or weights none "
                "to train from scratch."
            )

    def adopts_normalisation(self, normalize: str = "data") -> bool:
        """Whether the run's normalisation (``data.normalize``) replaces the one built in: always from
        scratch; with pretrained weights for every explicit choice (none, fixed values, ImageNet's), while
        the default ("data") keeps the statistics the weights were trained with (their own transforms, or the
        source run's), which is what those weights expect."""
        return self.weights_source == "none" or parse_normalisation(normalize)[0] != "data"

    def adopt_data_stats(self, mean: torch.Tensor, std: torch.Tensor, normalize: str = "data") -> None:
        """Normalise with the run's (mean, std) where ``adopts_normalisation`` says so; else keep the weights'."""
        if self.adopts_normalisation(normalize):
            c = self.preprocess.channels
            self.preprocess.mean.copy_(convert_stats(mean, c).view(1, c, 1, 1))
            self.preprocess.std.copy_(convert_stats(std, c).view(1, c, 1, 1))
