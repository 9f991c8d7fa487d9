"""Corruptions for denoising autoencoders: batched, on the device, one draw per sample.

Each corruption works on a float batch ``(B, C, H, W)`` in [0, 1] and takes the
engine's ``torch.Generator``, so every image (and every pixel) gets its own
independent draw and a seeded run is reproducible. Specs are strings, as for
augmentations: ``"gaussian:0.5"`` (first parameter), ``"salt_pepper:p=0.1"``,
``"mask:0.3"``; several specs apply in order; ``"none"`` is the clean input.

- gaussian:    x + N(0, std^2) per value, clipped to [0, 1] (``clip=0`` keeps the raw sum)
- salt_pepper: each pixel, with probability p, becomes white (1) or black (0), half and half
- mask:        each pixel, with probability ``fraction``, is dropped (set to 0)

Salt-and-pepper and masking act on whole pixels (all channels together), as
a dead or stuck sensor pixel would; Gaussian noise is independent per value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from ..errors import ConfigError
from ..registry import Registry

__all__ = [
    "NOISES",
    "Noise",
    "Corruption",
    "build_noise",
    "parse_noise",
    "list_noises",
    "add_gaussian_noise",
    "add_salt_pepper_noise",
    "add_mask_noise",
]


# -- functional layer ------------------------------------------------------------


def add_gaussian_noise(
    x: torch.Tensor, std: float, g: torch.Generator | None = None, clip: bool = True
) -> torch.Tensor:
    noise = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)  # (B, C, H, W)
    out = x + std * noise
    return out.clamp_(0, 1) if clip else out


def _pixel_draws(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    b, _, h, w = x.shape
    return torch.rand((b, 1, h, w), generator=g, device=x.device)  # one draw per pixel, all channels


def add_salt_pepper_noise(
    x: torch.Tensor, p: float, g: torch.Generator | None = None, salt: float = 0.5
) -> torch.Tensor:
    """Each pixel is hit with probability ``p``; a hit pixel is white with probability ``salt``, else black."""
    u = _pixel_draws(x, g)  # (B, 1, H, W)
    hit = u < p
    # The same uniform draw decides the colour: u < p*salt -> white, p*salt <= u < p -> black.
    white = u < p * salt
    out = torch.where(hit, torch.zeros((), device=x.device, dtype=x.dtype), x)
    return torch.where(white, torch.ones((), device=x.device, dtype=x.dtype), out)


def add_mask_noise(x: torch.Tensor, fraction: float, g: torch.Generator | None = None) -> torch.Tensor:
    """Drop each pixel (all its channels) with probability ``fraction``."""
    return x.masked_fill(_pixel_draws(x, g) < fraction, 0.0)


# -- registry of configured corruptions ------------------------------------------


class Noise:
    """One configured corruption: ``noise(x, g)``."""

    def __call__(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in vars(self).items())})"


NOISES: Registry[Callable[..., Noise]] = Registry("noise")


def _in(value: Any, lo: float, hi: float, what: str, hint: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ConfigError(f"{what} must be a number in [{lo:g}, {hi:g}] (got {value!r}); {hint}.")
    return float(value)


class _Identity(Noise):
    def __call__(self, x, g):
        return x


class _Gaussian(Noise):
    def __init__(self, std: float, clip: bool):
        self.std, self.clip = std, clip

    def __call__(self, x, g):
        return add_gaussian_noise(x, self.std, g, self.clip)


class _SaltPepper(Noise):
    def __init__(self, p: float, salt: float):
        self.p, self.salt = p, salt

    def __call__(self, x, g):
        return add_salt_pepper_noise(x, self.p, g, self.salt)


class _Mask(Noise):
    def __init__(self, fraction: float):
        self.fraction = fraction

    def __call__(self, x, g):
        return add_mask_noise(x, self.fraction, g)


@NOISES.register("none")
def none() -> Noise:
    """No corruption: a plain (not denoising) autoencoder."""
    return _Identity()


@NOISES.register("gaussian")
def gaussian(std: float = 0.5, clip: int = 1) -> Noise:
    """Gaussian noise: add N(0, std^2) to every value, clipped to [0, 1] (clip=0: not clipped)."""
    return _Gaussian(
        _in(std, 0, 2, "gaussian noise std", "pixels are in [0, 1], so try 0.1 to 0.8"),
        bool(_in(clip, 0, 1, "gaussian clip", "1 clips to [0, 1], 0 does not")),
    )


@NOISES.register("salt_pepper")
def salt_pepper(p: float = 0.1, salt: float = 0.5) -> Noise:
    """Salt and pepper: each pixel, with probability p, turns white or black."""
    return _SaltPepper(
        _in(p, 0, 1, "salt_pepper probability p", "it is the share of pixels hit, e.g. 0.1"),
        _in(salt, 0, 1, "salt_pepper salt", "it is the share of hit pixels that turn white"),
    )


@NOISES.register("mask")
def mask(fraction: float = 0.3) -> Noise:
    """Masking: drop (zero) each pixel with probability `fraction`."""
    return _Mask(_in(fraction, 0, 0.99, "mask fraction", "it is the share of pixels dropped, e.g. 0.3"))


def list_noises() -> list[str]:
    return NOISES.names()


# -- specs -------------------------------------------------------------------------


def parse_noise(spec: str) -> tuple[str, dict[str, Any]]:
    """``"gaussian:0.5"`` -> ("gaussian", {"std": 0.5}); ``"salt_pepper:p=0.1,salt=0.3"``."""
    return NOISES.parse_spec(spec)


@dataclass
class Corruption:
    """Corruptions applied in order (empty: the clean input)."""

    steps: list[Noise]
    specs: tuple[str, ...] = ()

    def __call__(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        for step in self.steps:
            x = step(x, g)
        return x

    def __bool__(self) -> bool:
        return any(not isinstance(s, _Identity) for s in self.steps)


def build_noise(specs: Sequence[str] | str) -> Corruption:
    if isinstance(specs, str):
        specs = (specs,) if specs.strip() else ()
    steps = []
    for spec in specs:
        name, params = parse_noise(spec)
        steps.append(NOISES.call(name, **params))
    return Corruption(steps, tuple(specs))
