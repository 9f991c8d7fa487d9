"""Learned filters: the weights of each conv (or first linear) layer after any epoch, laid out as
one image of kernels for display."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..runs import Run
from ..train.snapshots import load_snapshot, snapshot_weights
from .trained import Trained

__all__ = ["filters_at", "filter_grid"]


def filters_at(tr: Trained, run: Run | None, epoch: int | None) -> dict[str, torch.Tensor]:
    """The filter weights after ``epoch`` epochs (a snapshot), or the loaded model's (None).

    Snapshots hold only the layers that train; frozen layers (a transfer model's pretrained
    backbone) are the same at every epoch, so they come from the model. A trainable layer too
    big for the snapshot is left out of the epoch view."""
    if epoch is None or run is None:
        return snapshot_weights(tr.model)
    snap = load_snapshot(run, epoch)
    mods = dict(tr.model.named_modules())
    out = {}
    for n, w in snapshot_weights(tr.model).items():
        if n in snap:
            out[n] = snap[n]
        elif not mods[n].weight.requires_grad:
            out[n] = w.float()
    return out | {n: w for n, w in snap.items() if n not in out}


def filter_grid(w: torch.Tensor, in_shape: tuple[int, int, int] | None = None, in_channel: int | None = None,
                max_filters: int = 64, max_inputs: int = 16) -> dict[str, Any]:
    """Kernels as one image with gaps between tiles (NaN for a heatmap, white for RGB).

    - conv weights (O, I, k, k) with I == 3 and ``in_channel`` None: one RGB tile per filter,
      each scaled to [0, 1] on its own (how first-layer filters are usually shown);
    - otherwise: rows are output filters, columns input channels (or only ``in_channel``),
      values kept signed and shared in one colour scale (0 = white);
    - linear weights (O, N) with ``in_shape``: each unit's weights as an image (MLP first layer).
    """
    w = w.detach().float().cpu()
    if w.ndim == 2:
        if in_shape is None or w.shape[1] != math.prod(in_shape):
            raise ConfigError("These are fully connected weights; they show as images only for the first layer.")
        c = in_shape[0]
        w = w.view(w.shape[0], *in_shape)  # (O, C, H, W): each unit's weights laid out like the input
        if c != 3:
            in_channel = in_channel or 0
    if w.ndim != 4:
        raise ConfigError(f"Expected conv kernels (O, I, k, k), got shape {tuple(w.shape)}.")
    o, i, kh, kw = w.shape
    o_shown = min(o, max_filters)
    if i == 3 and in_channel is None:
        t = w[:o_shown]
        lo = t.amin(dim=(1, 2, 3), keepdim=True)
        hi = t.amax(dim=(1, 2, 3), keepdim=True)
        t = (t - lo) / (hi - lo).clamp_min(1e-12)  # (O, 3, k, k) in [0, 1]
        cols = min(o_shown, 16)
        rows = math.ceil(o_shown / cols)
        img = np.ones((rows * (kh + 1) - 1, cols * (kw + 1) - 1, 3), dtype=np.float32)
        for j in range(o_shown):
            r, q = divmod(j, cols)
            img[r * (kh + 1): r * (kh + 1) + kh, q * (kw + 1): q * (kw + 1) + kw] = t[j].permute(1, 2, 0).numpy()
        return {"rgb": (img * 255).round().astype(np.uint8), "z": None, "filters": o, "shown": o_shown,
                "inputs": i, "kernel": (kh, kw)}
    chans = [in_channel] if in_channel is not None else list(range(min(i, max_inputs)))
    if any(not 0 <= ch < i for ch in chans):
        raise ConfigError(f"This layer has {i} input channels; pick 0..{i - 1}.")
    if len(chans) == 1:  # one input channel: a square-ish grid of the filters
        cols = min(o_shown, 16 if kh <= 7 else 8)
        rows = math.ceil(o_shown / cols)
        tiles = [(divmod(j, cols), w[j, chans[0]]) for j in range(o_shown)]
    else:
        rows, cols = o_shown, len(chans)
        tiles = [((j, q), w[j, ch]) for j in range(o_shown) for q, ch in enumerate(chans)]
    z = np.full((rows * (kh + 1) - 1, cols * (kw + 1) - 1), np.nan, dtype=np.float32)
    for (r, q), k in tiles:
        z[r * (kh + 1): r * (kh + 1) + kh, q * (kw + 1): q * (kw + 1) + kw] = k.numpy()
    return {"rgb": None, "z": z, "range": float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0,
            "filters": o, "shown": o_shown, "inputs": i, "channels": chans, "kernel": (kh, kw)}
