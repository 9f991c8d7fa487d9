"""The Convolution page's core: the operation itself on one image.

- ``kernels``: kernel presets (identity, blurs, sharpen, Sobel, Laplacian, emboss, random) and a run's
  first-layer kernels;
- ``ops``: ``convolve`` (padding modes, stride, dilation, bias, ReLU, pooling through ``F.conv2d`` and
  ``F.max_pool2d``/``F.avg_pool2d``), the output-size formula filled in, one position's arithmetic,
  and the parameters of a convolution vs a locally connected and a fully connected layer;
- ``load_input``: a data set's sample, a built-in photograph or an upload, grey or RGB, at a size
  the page can draw.
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision.transforms.v2 import functional as TF

from ..data import load_dataset
from ..drawing import drawing
from ..errors import ConfigError
from ..images import decode_tensor
from ..style.images import builtin_image
from .kernels import KERNELS, MAX_K, kernel, kernel_from_rows, kernel_sizes, run_kernels
from .ops import PADDINGS, POOLS, ConvSettings, convolve, out_size, param_counts, position, size_formula

__all__ = [
    "KERNELS",
    "MAX_K",
    "kernel",
    "kernel_from_rows",
    "kernel_sizes",
    "run_kernels",
    "PADDINGS",
    "POOLS",
    "ConvSettings",
    "convolve",
    "out_size",
    "param_counts",
    "position",
    "size_formula",
    "load_input",
    "to_grey",
    "MAX_SIDE",
]

MAX_SIDE = 128  # the page draws every pixel of the input and output maps: keep them readable and fast
_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)


def to_grey(x: torch.Tensor) -> torch.Tensor:
    """(3, H, W) -> (1, H, W) luminance; grey stays grey."""
    return x if x.shape[0] == 1 else (x * _LUMA).sum(0, keepdim=True)


def _fit(x: torch.Tensor, side: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    if max(h, w) <= side:
        return x
    s = side / max(h, w)
    return TF.resize(x, [max(1, round(h * s)), max(1, round(w * s))], antialias=True).clamp(0, 1)


def load_input(kind: str, source: Any, *, side: int = 64, grey: bool = True, index: int = 0) -> torch.Tensor:
    """The page's input as float (C, H, W) in [0, 1], its long side at most ``side`` (<= MAX_SIDE).

    ``kind``: "dataset" (``source`` a data set name, ``index`` a training image), "photo" (a built-in
    photograph's name), "upload" or "camera" (the file's bytes, through the one image decoder) or "drawing"
    (a canvas's pixels, prepared like MNIST's digits at ``side`` x ``side``)."""
    side = max(4, min(int(side), MAX_SIDE))
    if kind == "dataset":
        data = load_dataset(source, download=False)
        if not 0 <= index < len(data.train_y):
            raise ConfigError(
                f"{source} has {len(data.train_y)} training images: pick an index from 0 to {len(data.train_y) - 1}."
            )
        x = data.train_x[index].float() / 255
    elif kind == "photo":
        a = torch.from_numpy(builtin_image(source).copy())
        x = (a[None] if a.dim() == 2 else a.permute(2, 0, 1)).float() / 255
    elif kind in ("upload", "camera"):
        label = "The uploaded image" if kind == "upload" else "The webcam photo"
        x = decode_tensor(source, channels=1 if grey else 3, label=label).float() / 255
    elif kind == "drawing":
        x = drawing(source, (1, side, side)).float() / 255
    else:
        raise ConfigError(
            f"Unknown input {kind!r}: a data set's image, a built-in photo, an upload, a webcam photo or a drawing."
        )
    x = _fit(x, side)
    if grey:
        x = to_grey(x)
    elif x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    return x.contiguous()
