"""How a run normalises its inputs: a registry of choices (``data.normalize`` in the config).

Each entry gives the per-channel (mean, std) the engine subtracts and divides by, from the data set:

- ``data`` (the default): the training split's own statistics (``Dataset.mean``/``std``);
- ``none``: the raw pixels in [0, 1] (the course's ``transforms.ToTensor()`` alone, as for its MNIST MLP);
- ``fixed``: given values, one for every channel or one per channel (the course's CIFAR code uses
  ``Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))``: ``fixed:0.5,0.5``; per channel: ``fixed:mean=0.49/0.48/0.45``);
- ``imagenet``: ImageNet's statistics, the ones pretrained backbones were trained with.

A spec is text like the augmentations': ``"fixed:mean=0.5,std=0.5"``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ..errors import ConfigError
from ..registry import Registry

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "NORMALISATIONS", "normalisation_stats", "parse_normalisation"]

Stats = tuple[tuple[float, ...], tuple[float, ...]]
NORMALISATIONS: Registry[Callable[..., Callable[[Any], Stats]]] = Registry("normalisation")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LUMA = (0.299, 0.587, 0.114)  # a grey image's ImageNet statistics: the RGB ones through the grey conversion


def _channels(values: float | Sequence[float], c: int, what: str) -> tuple[float, ...]:
    vals = [float(v) for v in values] if isinstance(values, Sequence) else [float(values)]
    if len(vals) == 1:
        vals = vals * c
    if len(vals) != c:
        raise ConfigError(
            f"normalisation: {what} has {len(vals)} values but the images have {c} channel(s); "
            f"give one value, or {c} separated by '/' (e.g. {what}=0.5/0.5/0.5)."
        )
    return tuple(vals)


@NORMALISATIONS.register("data", label="the training split's mean and std")
def data() -> Callable[[Any], Stats]:
    """Subtract the training split's per-channel mean, divide by its std (the playground's default)."""
    return lambda ds: (tuple(ds.mean), tuple(ds.std))


@NORMALISATIONS.register("none", label="none: raw pixels in [0, 1]")
def none() -> Callable[[Any], Stats]:
    """No normalisation: the pixels as ``ToTensor()`` gives them, in [0, 1]."""
    return lambda ds: ((0.0,) * ds.shape[0], (1.0,) * ds.shape[0])


@NORMALISATIONS.register("fixed", label="fixed mean and std", ranges={"std": (0.01, 1.0, 0.01)})
def fixed(mean: float | Sequence[float] = 0.5, std: float | Sequence[float] = 0.5) -> Callable[[Any], Stats]:
    """Fixed values: (x - mean) / std, e.g. 0.5/0.5 maps [0, 1] to [-1, 1] (``Normalize((0.5,), (0.5,))``)."""
    stds = list(std) if isinstance(std, Sequence) else [std]
    if not all(float(s) > 0 for s in stds):
        raise ConfigError(f"normalisation: std must be positive (got {std}).")

    def stats(ds) -> Stats:
        c = ds.shape[0]
        return _channels(mean, c, "mean"), _channels(std, c, "std")

    return stats


@NORMALISATIONS.register("imagenet", label="ImageNet's mean and std (pretrained backbones)")
def imagenet() -> Callable[[Any], Stats]:
    """ImageNet's per-channel statistics (grey images: through the grey conversion)."""

    def stats(ds) -> Stats:
        if ds.shape[0] == 3:
            return IMAGENET_MEAN, IMAGENET_STD
        mean = sum(w * m for w, m in zip(LUMA, IMAGENET_MEAN))
        std = sum(w * s for w, s in zip(LUMA, IMAGENET_STD))  # an upper bound of the grey std
        return (mean,) * ds.shape[0], (std,) * ds.shape[0]

    return stats


def parse_normalisation(spec: str) -> tuple[str, dict[str, Any]]:
    """``"fixed:0.5,0.5"`` -> ("fixed", {"mean": 0.5, "std": 0.5}); checks the name and values."""
    name, params = NORMALISATIONS.parse_spec(spec or "data")
    NORMALISATIONS.call(name, **params)
    return name, params


def normalisation_stats(spec: str, ds) -> Stats:
    """The (mean, std) per channel that ``spec`` gives for the data set ``ds``."""
    name, params = parse_normalisation(spec)
    return NORMALISATIONS.call(name, **params)(ds)
