"""Learned filters: the weights of each conv (or first linear) layer after any epoch, laid out as
one image of kernels for display."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..runs import Run
from ..train.snapshots import list_snapshots, load_snapshot, snapshot_weights
from .trained import Trained

__all__ = ["filters_at", "filters_change", "filter_scales", "filter_grid", "kernels_of"]


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


def filters_change(tr: Trained, run: Run, epoch: int) -> dict[str, torch.Tensor]:
    """What training has added to the filters by ``epoch``: its weights minus the initialisation's
    (snapshot 0), for the layers both hold (zeros for a frozen layer)."""
    now, start = filters_at(tr, run, epoch), filters_at(tr, run, 0)
    return {n: w - start[n] for n, w in now.items() if n in start and start[n].shape == w.shape}


def filter_scales(tr: Trained, run: Run | None, change: bool = False) -> dict[str, float]:
    """One colour scale per layer for the whole run: the largest |weight| of each layer over every
    snapshot (the initialisation and each epoch) and the loaded model, so the filters of epoch 0 and
    of epoch 4 are drawn on the same scale and learning shows as the epoch slider moves. ``change``:
    the largest |weight - initial weight| instead (the scale of ``filters_change``). Computed once per
    run and set of snapshots (kept with the model)."""
    epochs = tuple(list_snapshots(run)) if run is not None else ()

    def make() -> dict[str, float]:
        if change:
            out: dict[str, float] = {}
            for e in epochs:
                assert run is not None  # epochs is empty without a run
                for n, d in filters_change(tr, run, e).items():
                    out[n] = max(out.get(n, 0.0), float(d.abs().max()) if d.numel() else 0.0)
            return out
        out = {n: float(w.float().abs().max()) for n, w in snapshot_weights(tr.model).items() if w.numel()}
        for e in epochs:
            assert run is not None
            for n, w in load_snapshot(run, e).items():
                if w.numel():
                    out[n] = max(out.get(n, 0.0), float(w.abs().max()))
        return out

    key = ("__filter_scales__", run.run_id if run is not None else None, epochs, change)
    return dict(tr.cached(key, make))


def kernels_of(w: torch.Tensor, out_channel: int, scale: float | None = None, cols: int = 8) -> dict[str, Any]:
    """One output channel of a conv layer (O, I, k, k): its k x k kernel for each of the I input
    channels, tiled ``cols`` to a row with NaN gaps, on ``scale`` (the layer's shared range; None:
    the channel's own largest |weight|). Same dict as ``filter_grid`` (``z``, ``range``, ``who``:
    the input channel of each cell, -1 in the gaps; ``peak``: the largest |weight| shown), plus
    ``out_channel`` and ``grid`` (rows, columns of tiles)."""
    w = w.detach().float().cpu()
    if w.ndim != 4:
        raise ConfigError(f"Expected conv kernels (O, I, k, k), got shape {tuple(w.shape)}.")
    o, i, kh, kw = w.shape
    if not 0 <= out_channel < o:
        raise ConfigError(f"This layer has {o} filters (output channels); pick 0..{o - 1}.")
    cols = max(1, min(i, cols))
    rows = math.ceil(i / cols)
    z = np.full((rows * (kh + 1) - 1, cols * (kw + 1) - 1), np.nan, dtype=np.float32)
    who = np.full(z.shape, -1, dtype=np.int32)
    for ch in range(i):
        r, q = divmod(ch, cols)
        z[r * (kh + 1) : r * (kh + 1) + kh, q * (kw + 1) : q * (kw + 1) + kw] = w[out_channel, ch].numpy()
        who[r * (kh + 1) : r * (kh + 1) + kh, q * (kw + 1) : q * (kw + 1) + kw] = ch
    own = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    return {
        "rgb": None,
        "z": z,
        "who": who,
        "who_label": "input channel",
        "range": float(scale or own) or 1.0,
        "peak": own,
        "filters": o,
        "shown": 1,
        "inputs": i,
        "channels": list(range(i)),
        "kernel": (kh, kw),
        "out_channel": out_channel,
        "grid": (rows, cols),
    }


def _rgb_grid(w: torch.Tensor, o_shown: int, scale: float | None, cols: int | None) -> dict[str, Any]:
    """RGB conv kernels (O, 3, k, k): one colour tile per filter, white gaps (see ``filter_grid``)."""
    o, i, kh, kw = w.shape
    t = w[:o_shown]
    if scale:
        t = (0.5 + 0.5 * t / scale).clamp(0, 1)  # one scale for the layer: grey 0, full colour +-scale
    else:
        lo = t.amin(dim=(1, 2, 3), keepdim=True)
        hi = t.amax(dim=(1, 2, 3), keepdim=True)
        t = (t - lo) / (hi - lo).clamp_min(1e-12)  # (O, 3, k, k) in [0, 1]
    cols = min(o_shown, cols or 16)
    rows = math.ceil(o_shown / cols)
    img = np.ones((rows * (kh + 1) - 1, cols * (kw + 1) - 1, 3), dtype=np.float32)
    for j in range(o_shown):
        r, q = divmod(j, cols)
        img[r * (kh + 1) : r * (kh + 1) + kh, q * (kw + 1) : q * (kw + 1) + kw] = t[j].permute(1, 2, 0).numpy()
    return {
        "rgb": (img * 255).round().astype(np.uint8),
        "z": None,
        "filters": o,
        "shown": o_shown,
        "inputs": i,
        "kernel": (kh, kw),
        "range": scale,
        "peak": float(w[:o_shown].abs().max()),
    }


def filter_grid(
    w: torch.Tensor,
    in_shape: tuple[int, int, int] | None = None,
    in_channel: int | None = None,
    max_filters: int = 64,
    max_inputs: int = 16,
    scale: float | None = None,
    cols: int | None = None,
) -> dict[str, Any]:
    """Kernels as one image with gaps between tiles (NaN for a heatmap, white for RGB).

    - conv weights (O, I, k, k) with I == 3 and ``in_channel`` None: one RGB tile per filter,
      each scaled to [0, 1] on its own (how first-layer filters are usually shown), or with
      ``scale`` all on one symmetric scale: grey is 0, full colour is +-``scale``;
    - otherwise: rows are output filters, columns input channels (or only ``in_channel``),
      values kept signed in one colour scale (0 = white): ``range`` is ``scale`` when given (the
      layer's range over the whole run), else the largest |weight| shown;
    - linear weights (O, N) with ``in_shape``: each unit's weights as an image (MLP first layer).

    ``cols``: filters per row of a grid of filters (default 16; 8 for kernels over 7 pixels).
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
        return _rgb_grid(w, o_shown, scale, cols)
    chans = [in_channel] if in_channel is not None else list(range(min(i, max_inputs)))
    if any(not 0 <= ch < i for ch in chans):
        raise ConfigError(f"This layer has {i} input channels; pick 0..{i - 1}.")
    if len(chans) == 1:  # one input channel: a square-ish grid of the filters
        cols = min(o_shown, cols or (16 if kh <= 7 else 8))
        rows = math.ceil(o_shown / cols)
        tiles = [(divmod(j, cols), w[j, chans[0]]) for j in range(o_shown)]
    else:
        rows, cols = o_shown, len(chans)
        tiles = [((j, q), w[j, ch]) for j in range(o_shown) for q, ch in enumerate(chans)]
    z = np.full((rows * (kh + 1) - 1, cols * (kw + 1) - 1), np.nan, dtype=np.float32)
    who = np.full(z.shape, -1, dtype=np.int32)
    for j, ((r, q), k) in enumerate(tiles):
        z[r * (kh + 1) : r * (kh + 1) + kh, q * (kw + 1) : q * (kw + 1) + kw] = k.numpy()
        who[r * (kh + 1) : r * (kh + 1) + kh, q * (kw + 1) : q * (kw + 1) + kw] = j if len(chans) == 1 else j // cols
    own = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    return {
        "rgb": None,
        "z": z,
        "who": who,
        "who_label": "filter",
        "range": float(scale or own) or 1.0,
        "peak": own,
        "filters": o,
        "shown": o_shown,
        "inputs": i,
        "channels": chans,
        "kernel": (kh, kw),
    }
