"""Batched augmentations on the training device, one independent draw per sample.

Each augmentation has a torchvision-like name and works on a float batch
``(B, C, H, W)`` in [0, 1]. Geometric ones (rotation, translation, scale,
random resized crop) only produce per-sample 3x3 matrices; consecutive ones
are multiplied together and applied with a single ``affine_grid`` +
``grid_sample``. Pixel ones (flips, colour jitter, noise, erasing) are
per-sample broadcasts and masks. They draw the parameters of the functional
layer (``augment_functional.py``: explicit parameters, compared by the tests
with ``torchvision.transforms.v2.functional``) from the run's generator.

Specs are strings: ``"hflip"``, ``"rotation:15"`` (first parameter),
``"color_jitter:brightness=0.2,contrast=0.3"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from ..errors import ConfigError
from ..registry import Registry
from .augment_functional import (
    adjust_brightness,
    adjust_contrast,
    adjust_saturation,
    affine_matrix,
    crop_matrix,
    erase,
    flip,
    warp,
)

__all__ = ["AUGMENTATIONS", "Augmentation", "Pipeline", "build_pipeline", "parse_spec", "list_augmentations"]

# -- random augmentations -----------------------------------------------------


class Augmentation:
    """One random augmentation. Geometric ones return matrices, the others images."""

    geometric = False
    interpolation = "bilinear"  # how a geometric one samples the image (a run of them fused: nearest if all say so)

    def matrix(self, n: int, h: int, w: int, g: torch.Generator, device: torch.device) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


def _u(n: int, lo: float, hi: float, g: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=g, device=device) * (hi - lo) + lo


def _p(p: float, *, name: str) -> float:
    if not 0 <= p <= 1:
        raise ConfigError(f"{name}: probability p must be in [0, 1] (got {p}).")
    return float(p)


def _pair(v: float | Sequence[float], name: str, lo: float = 0.0) -> tuple[float, float]:
    a, b = (float(v[0]), float(v[1])) if isinstance(v, Sequence) and not isinstance(v, str) else (float(v), float(v))
    if not (lo <= a <= b):
        raise ConfigError(f"{name}: need {lo} <= min <= max (got {a}, {b}).")
    return a, b


AUGMENTATIONS: Registry[Callable[..., Augmentation]] = Registry("augmentation")


class _Flip(Augmentation):
    def __init__(self, p: float, dim: int, name: str):
        self.p, self.dim = _p(p, name=name), dim

    def __call__(self, x, g):
        return flip(x, torch.rand(len(x), generator=g, device=x.device) < self.p, self.dim)


@AUGMENTATIONS.register("hflip")
def hflip(p: float = 0.5) -> Augmentation:
    """RandomHorizontalFlip: mirror left-right with probability p."""
    return _Flip(p, -1, "hflip")


@AUGMENTATIONS.register("vflip")
def vflip(p: float = 0.5) -> Augmentation:
    """RandomVerticalFlip: mirror top-bottom with probability p."""
    return _Flip(p, -2, "vflip")


class _RandomAffine(Augmentation):
    geometric = True

    def __init__(self, degrees: float = 0.0, translate: float = 0.0, scale: tuple[float, float] = (1.0, 1.0)):
        self.degrees, self.translate, self.scale = degrees, translate, scale

    def matrix(self, n, h, w, g, device):
        angle = _u(n, -self.degrees, self.degrees, g, device)
        tx = _u(n, -self.translate * w, self.translate * w, g, device)
        ty = _u(n, -self.translate * h, self.translate * h, g, device)
        s = _u(n, self.scale[0], self.scale[1], g, device)
        return affine_matrix(angle, tx, ty, s)


INTERPOLATIONS = ("bilinear", "nearest")


@AUGMENTATIONS.register("rotation")
def rotation(degrees: float = 15.0, interpolation: str = "bilinear") -> Augmentation:
    """RandomRotation: rotate by an angle drawn from [-degrees, degrees]; interpolation bilinear, or nearest
    (torchvision's RandomRotation default, the course's ``RandomRotation(10)``:
    ``rotation:10,interpolation=nearest``)."""
    if not 0 <= degrees <= 180:
        raise ConfigError(f"rotation: degrees must be in [0, 180] (got {degrees}).")
    if interpolation not in INTERPOLATIONS:
        raise ConfigError(f"rotation: interpolation must be {' or '.join(INTERPOLATIONS)} (got {interpolation!r}).")
    aug = _RandomAffine(degrees=float(degrees))
    aug.interpolation = interpolation
    return aug


@AUGMENTATIONS.register("translate")
def translate(fraction: float = 0.1) -> Augmentation:
    """RandomAffine(translate): shift by up to a fraction of the width/height."""
    if not 0 <= fraction <= 0.5:
        raise ConfigError(f"translate: fraction must be in [0, 0.5] (got {fraction}).")
    return _RandomAffine(translate=float(fraction))


@AUGMENTATIONS.register("scale")
def scale(min: float = 0.9, max: float = 1.1) -> Augmentation:
    """RandomAffine(scale): zoom by a factor drawn from [min, max]."""
    lo, hi = _pair((min, max), "scale", lo=0.1)
    if hi > 4:
        raise ConfigError(f"scale: max must be at most 4 (got {hi}).")
    return _RandomAffine(scale=(lo, hi))


class _ResizedCrop(Augmentation):
    geometric = True

    def __init__(self, scale: tuple[float, float], ratio: tuple[float, float]):
        self.scale, self.ratio = scale, ratio

    def matrix(self, n, h, w, g, device):
        area = _u(n, *self.scale, g, device)
        log_r = _u(n, math.log(self.ratio[0]), math.log(self.ratio[1]), g, device)
        r = torch.exp(log_r)
        cw = (torch.sqrt(area * r) * w).clamp(1, w)  # crop width/height in pixels
        ch = (torch.sqrt(area / r) * h).clamp(1, h)
        left = torch.rand(n, generator=g, device=device) * (w - cw)
        top = torch.rand(n, generator=g, device=device) * (h - ch)
        return crop_matrix(top, left, ch, cw, h, w)


@AUGMENTATIONS.register("random_resized_crop", ranges={"scale": (0.05, 1.0, 0.05), "ratio": (0.25, 4.0, 0.05)})
def random_resized_crop(scale: Sequence[float] = (0.5, 1.0), ratio: Sequence[float] = (3 / 4, 4 / 3)) -> Augmentation:
    """RandomResizedCrop: crop a random area and aspect, resize back to full size."""
    s = _pair(scale, "random_resized_crop scale", lo=0.01)
    r = _pair(ratio, "random_resized_crop ratio", lo=0.05)
    if s[1] > 1:
        raise ConfigError("random_resized_crop: scale must be within (0, 1].")
    return _ResizedCrop(s, r)


class _ColorJitter(Augmentation):
    def __init__(self, brightness: float, contrast: float, saturation: float):
        self.brightness, self.contrast, self.saturation = brightness, contrast, saturation

    def __call__(self, x, g):
        n = len(x)
        for amount, fn in (
            (self.brightness, adjust_brightness),
            (self.contrast, adjust_contrast),
            (self.saturation, adjust_saturation),
        ):
            if amount > 0:
                x = fn(x, _u(n, max(0.0, 1 - amount), 1 + amount, g, x.device))
        return x


@AUGMENTATIONS.register("color_jitter")
def color_jitter(brightness: float = 0.3, contrast: float = 0.3, saturation: float = 0.3) -> Augmentation:
    """ColorJitter: brightness, contrast and saturation factors drawn from [1-a, 1+a]."""
    for k, v in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
        if not 0 <= v <= 1:
            raise ConfigError(f"color_jitter: {k} must be in [0, 1] (got {v}).")
    return _ColorJitter(float(brightness), float(contrast), float(saturation))


class _Noise(Augmentation):
    def __init__(self, std: float):
        self.std = std

    def __call__(self, x, g):
        noise = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
        return (x + self.std * noise).clamp_(0, 1)


@AUGMENTATIONS.register("gaussian_noise")
def gaussian_noise(std: float = 0.1) -> Augmentation:
    """GaussianNoise: add N(0, std) to every pixel, clipped to [0, 1]."""
    if not 0 <= std <= 1:
        raise ConfigError(f"gaussian_noise: std must be in [0, 1] (got {std}).")
    return _Noise(float(std))


class _Erasing(Augmentation):
    def __init__(self, p: float, scale: tuple[float, float], ratio: tuple[float, float], square: float = 0.0):
        self.p, self.scale, self.ratio, self.square = p, scale, ratio, square

    def __call__(self, x, g):
        n, _, h, w = x.shape
        dev = x.device
        if self.square:  # cutout: fixed square, centre anywhere (may hang over the edge)
            side = max(1, round(self.square * min(h, w)))
            eh = ew = torch.full((n,), side, device=dev)
            top = torch.randint(-side // 2, h - side // 2, (n,), generator=g, device=dev)
            left = torch.randint(-side // 2, w - side // 2, (n,), generator=g, device=dev)
        else:  # RandomErasing: random area and aspect, inside the image
            area = _u(n, *self.scale, g, dev) * h * w
            r = torch.exp(_u(n, math.log(self.ratio[0]), math.log(self.ratio[1]), g, dev))
            eh = torch.sqrt(area / r).round().clamp(1, h).long()
            ew = torch.sqrt(area * r).round().clamp(1, w).long()
            top = (torch.rand(n, generator=g, device=dev) * (h - eh + 1)).long()
            left = (torch.rand(n, generator=g, device=dev) * (w - ew + 1)).long()
        on = torch.rand(n, generator=g, device=dev) < self.p
        eh = torch.where(on, eh, torch.zeros_like(eh))
        return erase(x, top, left, eh, ew)


@AUGMENTATIONS.register("erasing", ranges={"scale": (0.01, 0.5, 0.01), "ratio": (0.1, 10.0, 0.1)})
def erasing(p: float = 0.5, scale: Sequence[float] = (0.02, 0.2), ratio: Sequence[float] = (0.3, 3.3)) -> Augmentation:
    """RandomErasing: blank a random rectangle with probability p."""
    s = _pair(scale, "erasing scale", lo=0.0)
    if s[1] > 1:
        raise ConfigError("erasing: scale must be within [0, 1].")
    return _Erasing(_p(p, name="erasing"), s, _pair(ratio, "erasing ratio", lo=0.05))


@AUGMENTATIONS.register("cutout")
def cutout(size: float = 0.25, p: float = 1.0) -> Augmentation:
    """Cutout: blank a square of `size` x the image side, centred anywhere."""
    if not 0 < size <= 1:
        raise ConfigError(f"cutout: size must be in (0, 1] (got {size}).")
    return _Erasing(_p(p, name="cutout"), (0, 0), (1, 1), square=float(size))


def list_augmentations() -> list[str]:
    return AUGMENTATIONS.names()


# -- specs and pipelines ------------------------------------------------------


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"rotation:15"`` -> ("rotation", {"degrees": 15}); ``"scale:min=0.8,max=1.2"``."""
    return AUGMENTATIONS.parse_spec(spec)


@dataclass
class Pipeline:
    """Augmentations applied in order; runs of geometric ones are fused into one warp."""

    steps: list[Augmentation]

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        pending: torch.Tensor | None = None
        mode = "nearest"  # of the pending run of geometric steps: nearest only if every one asks for it
        for step in self.steps:
            if step.geometric:
                m = step.matrix(n, h, w, g, x.device)
                pending = m if pending is None else m @ pending  # (B, 3, 3)
                mode = mode if step.interpolation == "nearest" else "bilinear"
                continue
            if pending is not None:
                x, pending, mode = warp(x, pending, mode), None, "nearest"
            x = step(x, g)
        return warp(x, pending, mode) if pending is not None else x

    def __bool__(self) -> bool:
        return bool(self.steps)


def build_pipeline(specs: Sequence[str]) -> Pipeline:
    steps = []
    for spec in specs:
        name, params = parse_spec(spec)
        steps.append(AUGMENTATIONS.call(name, **params))
    return Pipeline(steps)
