"""The checkerboard artefacts of transposed convolutions, next to the upsampling decoders."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..images import float_images
from ..models.autoencoder import DECODERS, Up

__all__ = ["checkerboard", "decoder_demo"]


_CHECKER = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]) / 4


def checkerboard(x: torch.Tensor) -> torch.Tensor:
    """Per-image mean |response| to the 2x2 checker filter [[1,-1],[-1,1]]/4 (B, C, H, W) -> (B,).
    0 for smooth images, 0.5 for a full-contrast 0/1 checkerboard: the pattern transposed convolutions
    with stride 2 paint when their kernels overlap unevenly."""
    b, c, h, w = x.shape
    k = _CHECKER.to(x.device, x.dtype).view(1, 1, 2, 2)
    return F.conv2d(x.reshape(b * c, 1, h, w), k).abs().view(b, -1).mean(1)


@torch.no_grad()
def decoder_demo(size: int = 7, levels: int = 2) -> dict[str, np.ndarray]:
    """A flat map through ``levels`` upsampling layers of each decoder kind, every weight 1 and bias 0
    (each layer a plain sum): resize + conv stays flat, the transposed conv paints a checkerboard.
    Images scaled to [0, 1] per decoder; the borders (padding) are cut off."""
    out = {}
    for decoder in DECODERS:
        x = torch.ones(1, 1, size, size)
        for _ in range(levels):
            s = x.shape[-1]
            up = Up(1, 1, (2 * s, 2 * s), (s, s), decoder)
            torch.nn.init.ones_(up.conv.weight)
            if up.conv.bias is not None:  # both convs are built with a bias
                torch.nn.init.zeros_(up.conv.bias)
            x = up(x)
        m = 2**levels  # cut the border the zero padding darkens
        x = x[..., m:-m, m:-m]
        span = x.max() - x.min()
        x = (x - x.min()) / span if span > 1e-6 * x.abs().max() else torch.full_like(x, 0.5)  # flat: mid grey
        out[decoder] = float_images(x)[0]
    return out
