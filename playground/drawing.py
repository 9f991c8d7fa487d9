"""A canvas's strokes (white ink on black) -> a network's input: ``drawing`` prepares them the way MNIST's
digits were, ``shrunk_drawing`` only shrinks them (what a network gets without that preparation).

The canvas's pixels come from ``playground.payload.drawing_pixels`` (bounded before they are decoded).
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from .errors import ConfigError

__all__ = ["drawing", "shrunk_drawing"]


def _ink(a: np.ndarray) -> np.ndarray:
    """A canvas image (H, W), (H, W, 3) or (H, W, 4) uint8 -> ink as float (H, W) in 0..255: the strokes'
    brightness, times their opacity (a transparent background has none)."""
    a = np.asarray(a)
    if a.ndim == 2:
        return a.astype(np.float32)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or min(a.shape[:2]) < 1:
        raise ConfigError(f"A drawing is an (H, W), (H, W, 3) or (H, W, 4) image, not {tuple(a.shape)}.")
    f = a.astype(np.float32)
    ink = f[..., 0] if a.shape[2] == 1 else f[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    return ink * (f[..., 3] / 255.0) if a.shape[2] == 4 else ink


def _as_input(ink: torch.Tensor, channels: int) -> torch.Tensor:
    return ink.clamp(0, 255).round().to(torch.uint8).unsqueeze(0).expand(channels, -1, -1).contiguous()


def drawing(a: np.ndarray, shape: tuple[int, int, int] = (1, 28, 28), box: float = 20 / 28) -> torch.Tensor:
    """A drawing -> uint8 (C, H, W) prepared the way MNIST's digits were (LeCun et al.): the ink's bounding
    box scaled (antialiased, aspect kept) so its longer side is ``box`` of the image (20 of 28 px), then
    placed so the ink's centre of mass sits at the image's centre. Grey ink is copied to each channel.
    Raises ConfigError when there is no ink ("draw something")."""
    c, h, w = shape
    ink = _ink(a)
    mask = ink > 0.1 * ink.max() if ink.size else ink
    if ink.size == 0 or ink.max() < 8 or mask.sum() < 2:
        raise ConfigError("The drawing is empty: draw something (a digit, with the mouse or a finger).")
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    crop = torch.from_numpy(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].copy())
    s = box * min(h, w) / max(crop.shape)
    size = [max(1, round(crop.shape[0] * s)), max(1, round(crop.shape[1] * s))]
    small = TF.resize(crop[None], size, antialias=True)[0].clamp(min=0)
    ys, xs = torch.arange(size[0], dtype=torch.float32), torch.arange(size[1], dtype=torch.float32)
    total = small.sum()
    cy, cx = float((small.sum(1) * ys).sum() / total), float((small.sum(0) * xs).sum() / total)
    top, left = round((h - 1) / 2 - cy), round((w - 1) / 2 - cx)
    out = torch.zeros(h, w)
    y0, x0 = max(0, top), max(0, left)  # a very lopsided stroke can put part of the box outside: clip it
    y1, x1 = min(h, top + size[0]), min(w, left + size[1])
    out[y0:y1, x0:x1] = small[y0 - top : y1 - top, x0 - left : x1 - left]
    return _as_input(out, c)


def shrunk_drawing(a: np.ndarray, shape: tuple[int, int, int] = (1, 28, 28)) -> torch.Tensor:
    """The same drawing only shrunk to the input size (no cropping, scaling or centring): what a network
    gets without MNIST's preparation, to show why it matters."""
    c, h, w = shape
    ink = torch.from_numpy(_ink(a).copy())
    return _as_input(TF.resize(ink[None], [h, w], antialias=True)[0], c)
