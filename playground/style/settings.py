"""What decides a style result: ``StyleSettings``, its limits, and the choices its fields name
(the start images in ``STARTS``, the optimisers in ``STYLE_OPTIMIZERS``)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Callable, Mapping

import torch

from playground.errors import ConfigError
from playground.registry import Registry

__all__ = ["StyleSettings", "STARTS", "STYLE_OPTIMIZERS", "MIN_SIDE", "MIN_SIZE", "MAX_SIZE"]

MIN_SIDE = 16  # short side: below this the pooled maps of the deeper layers vanish
MIN_SIZE = 32
MAX_SIZE = 2048

STARTS = ("content", "noise")  # what the optimised image starts from

STYLE_OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("style optimiser")


@STYLE_OPTIMIZERS.register("lbfgs")
def _lbfgs(params, lr: float = 1.0) -> torch.optim.Optimizer:
    """L-BFGS (the tutorial's choice): one loss evaluation per step, so the page can update between steps"""
    # max_iter=1 per .step(): the curvature history lives in the optimiser state, so N calls do the
    # same iterations as one call with max_iter=N, and Stop and previews happen between them.
    return torch.optim.LBFGS(params, lr=lr, max_iter=1)


@STYLE_OPTIMIZERS.register("adam")
def _adam(params, lr: float = 0.02) -> torch.optim.Optimizer:
    """Adam on the pixels: cheaper steps, more of them needed"""
    return torch.optim.Adam(params, lr=lr)


@dataclass(frozen=True)
class StyleSettings:
    """Everything that decides a result; saved next to it as JSON (``to_json``)."""

    content: str = "astronaut"  # a built-in name (see IMAGES) or a file path; uploads: "upload:<name>"
    style: str = "mosaic"
    size: int = 256  # long side of the result, in pixels (aspect kept)
    backbone: str = "vgg19"  # a FEATURE_NETS name, or "run:<run_id>" for a playground-trained CNN
    content_layers: tuple[str, ...] | None = None  # None: the backbone's defaults
    style_layers: Mapping[str, float] | None = None  # layer -> weight; None: the backbone's defaults
    content_weight: float = 1.0
    style_weight: float = 1e6
    tv_weight: float = 0.0
    optimizer: str = "lbfgs"
    lr: float | None = None  # None: the optimiser's default (L-BFGS 1, Adam 0.02)
    steps: int = 300
    init: str = "content"  # one of STARTS: content | noise
    preserve_colour: bool = False
    seed: int = 0
    device: str = "auto"

    def validate(self) -> "StyleSettings":
        if not (isinstance(self.size, int) and MIN_SIZE <= self.size <= MAX_SIZE):
            raise ConfigError(
                f"size must be a whole number of pixels from {MIN_SIZE} to {MAX_SIZE} (got {self.size!r})."
            )
        if not (isinstance(self.steps, int) and 1 <= self.steps <= 100_000):
            raise ConfigError(f"steps must be a whole number from 1 to 100000 (got {self.steps!r}).")
        for name in ("content_weight", "style_weight", "tv_weight"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"{name.replace('_', ' ')} must be a number >= 0 (got {v!r}).")
        if self.content_weight == 0 and self.style_weight == 0:
            raise ConfigError("Content and style weight are both 0: there is nothing to optimise. Raise one of them.")
        if self.lr is not None and (not isinstance(self.lr, (int, float)) or not 0 < self.lr < 1e3):
            raise ConfigError(
                f"learning rate must be a number above 0 (got {self.lr!r}); leave it empty for the default."
            )
        if self.init not in STARTS:
            raise ConfigError(f"init must be one of {', '.join(STARTS)} (got {self.init!r}).")
        STYLE_OPTIMIZERS.check(self.optimizer)
        if self.style_layers is not None:
            for k, v in self.style_layers.items():
                if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                    raise ConfigError(f"style layer {k}: the weight must be a number >= 0 (got {v!r}).")
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["content_layers"] = list(self.content_layers) if self.content_layers is not None else None
        d["style_layers"] = dict(self.style_layers) if self.style_layers is not None else None
        return d

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StyleSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"Unknown style settings: {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
        d = dict(d)
        if d.get("content_layers") is not None:
            d["content_layers"] = tuple(d["content_layers"])
        return cls(**d)

    def replace(self, **kw: Any) -> "StyleSettings":
        return replace(self, **kw)
