"""Data exploration for the Data page: numbers and numpy images, no Streamlit.

Pages call these and hand the results to ``plots``; they never touch torch.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np
import torch

from ..errors import ConfigError
from ..images import hwc
from .augment import build_pipeline
from .datasets import Dataset, load_dataset

__all__ = [
    "warm_up",
    "samples",
    "class_distribution",
    "pixel_histograms",
    "augment_preview",
    "normalise_preview",
    "flatten_view",
    "conv_patches",
    "conv_output_size",
    "conv_windows",
    "image",
    "prediction_tiles",
]


def image(ds: Dataset, index: int, split: str = "test") -> np.ndarray:
    x = ds.test_x if split == "test" else ds.train_x
    return hwc(x[index])


def samples(
    ds: Dataset, n: int = 32, class_index: int | None = None, split: str = "train", seed: int = 0
) -> tuple[list[np.ndarray], list[str], list[int]]:
    """Random images (optionally of one class): images, captions, indices."""
    x, y = (ds.train_x, ds.train_y) if split == "train" else (ds.test_x, ds.test_y)
    pool = torch.arange(len(y)) if class_index is None else (y == class_index).nonzero().squeeze(1)
    g = torch.Generator().manual_seed(seed)
    pick = pool[torch.randperm(len(pool), generator=g)[:n]]
    return [hwc(x[i]) for i in pick], [ds.classes[int(y[i])] for i in pick], pick.tolist()


def class_distribution(ds: Dataset) -> dict[str, list[int]]:
    return {"train": ds.class_counts("train"), "test": ds.class_counts("test")}


_hist_memo: "OrderedDict[tuple, tuple[weakref.ref, dict]]" = OrderedDict()  # never keeps a data set alive
_hist_lock = threading.Lock()
_hist_busy: dict[tuple, threading.Lock] = {}  # key -> the lock of the one computation in progress


def _memo(key: tuple, ds: Dataset) -> dict | None:
    with _hist_lock:
        hit = _hist_memo.get(key)
        return hit[1] if hit is not None and hit[0]() is ds else None  # not a new object at a reused address


def pixel_histograms(ds: Dataset, normalised: bool = False, bins: int = 64, max_images: int = 5000) -> dict[str, Any]:
    """Per-channel histograms of pixel values in [0, 1] (or after normalisation), computed once per
    data set and shared by every session (the Data page draws them for each visitor). Callers that
    arrive while it is being computed (a class opening the Data page at once) wait for that one
    computation instead of each making their own float copy of the images."""
    key = (id(ds), normalised, bins, max_images)
    out = _memo(key, ds)
    if out is not None:
        return out
    with _hist_lock:
        busy = _hist_busy.setdefault(key, threading.Lock())
    with busy:
        out = _memo(key, ds)
        if out is not None:
            return out
        try:
            out = _pixel_histograms(ds, normalised, bins, max_images)
            with _hist_lock:
                _hist_memo[key] = (weakref.ref(ds), out)
                while len(_hist_memo) > 16:
                    _hist_memo.popitem(last=False)
        finally:
            with _hist_lock:
                _hist_busy.pop(key, None)
    return out


_warming: set[str] = set()


def warm_up(name: str = "shapes") -> None:
    """Load the data set ``name`` (default parameters) and its pixel histograms in a background thread, once
    per process. The server's first page starts it, so a class opening the Data page together finds the
    built-in data set ready rather than all waiting for it to be drawn (seconds of a core). A failure is
    left for the page that loads the data set to report."""
    with _hist_lock:
        if name in _warming:
            return
        _warming.add(name)

    def work() -> None:
        try:
            ds = load_dataset(name)  # the default shapes: read from the disk cache after the first start
            pixel_histograms(ds)
            pixel_histograms(ds, normalised=True)
        except Exception:
            pass

    threading.Thread(target=work, name=f"warm-up-{name}", daemon=True).start()


def _pixel_histograms(ds: Dataset, normalised: bool, bins: int, max_images: int) -> dict[str, Any]:
    x = ds.train_x[:max_images].float() / 255  # (N, C, H, W)
    mean = torch.tensor(ds.mean).view(1, -1, 1, 1)
    std = torch.tensor(ds.std).view(1, -1, 1, 1)
    if normalised:
        x = (x - mean) / std
    lo, hi = float(x.min()), float(x.max())
    edges = np.linspace(lo, hi, bins + 1)
    counts = [torch.histc(x[:, c], bins=bins, min=lo, max=hi).numpy() for c in range(x.shape[1])]
    names = ["grey"] if x.shape[1] == 1 else ["red", "green", "blue"][: x.shape[1]]
    return {
        "edges": edges,
        "counts": counts,
        "channels": names,
        "mean": [float(v) for v in x.mean(dim=(0, 2, 3))],
        "std": [float(v) for v in x.std(dim=(0, 2, 3))],
    }


def augment_preview(ds: Dataset, index: int, specs: Sequence[str], n: int = 16, seed: int = 0) -> list[np.ndarray]:
    """One training image under ``n`` independent draws of the pipeline."""
    pipe = build_pipeline(specs)
    x = ds.train_x[index : index + 1].float().div(255).repeat(n, 1, 1, 1)  # (n, C, H, W)
    if pipe:
        x = pipe(x, torch.Generator().manual_seed(seed))
    out = (x * 255).round().clamp(0, 255).to(torch.uint8)
    return [hwc(t) for t in out]


def normalise_preview(ds: Dataset, index: int, spec: str = "data") -> dict[str, Any]:
    """An image before and after normalisation (``spec``: a ``data.normalize`` choice, by default the
    training split's statistics), per channel, with the statistics used."""
    from .normalise import normalisation_stats

    m, s = normalisation_stats(spec, ds)
    x = ds.train_x[index].float() / 255  # (C, H, W)
    z = (x - torch.tensor(m).view(-1, 1, 1)) / torch.tensor(s).view(-1, 1, 1)
    return {"before": x.numpy(), "after": z.numpy(), "mean": list(m), "std": list(s)}


def flatten_view(ds: Dataset, index: int) -> np.ndarray:
    """What an MLP receives: the image as one long vector (C*H*W,) in [0, 1]."""
    return (ds.train_x[index].float() / 255).flatten().numpy()


def conv_output_size(n: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Positions a k x k window visits along one side of n pixels: (n - k + 2p) / s + 1, rounded down
    (the window never hangs over the padded border)."""
    return (n - kernel + 2 * padding) // stride + 1


def conv_patches(ds: Dataset, index: int, kernel: int = 3, stride: int | None = None) -> dict[str, Any]:
    """The local k x k patches a convolution sees (unfold), with their top-left corners. ``stride``
    defaults to ``kernel`` (non-overlapping tiles, a way to cut the image up; a convolution layer
    usually slides with stride 1: see ``conv_windows``)."""
    x = ds.train_x[index : index + 1].float() / 255  # (1, C, H, W)
    stride = stride or kernel
    cols = torch.nn.functional.unfold(x, kernel, stride=stride)  # (1, C*k*k, L)
    _, c, h, w = x.shape
    ny, nx = conv_output_size(h, kernel, stride), conv_output_size(w, kernel, stride)
    patches = cols[0].T.reshape(ny * nx, c, kernel, kernel).numpy()
    corners = [(r * stride, q * stride) for r in range(ny) for q in range(nx)]
    tiles = [hwc(torch.from_numpy(p).mul(255).round().to(torch.uint8)) for p in patches]
    return {
        "patches": patches,
        "tiles": tiles,
        "corners": corners,
        "grid": (ny, nx),
        "inputs_per_unit": c * kernel * kernel,
        "mlp_inputs_per_unit": c * h * w,
    }


def conv_windows(
    ds: Dataset, index: int, kernel: int = 3, stride: int = 1, padding: int = 0, examples: int = 4
) -> dict[str, Any]:
    """Where a k x k convolution with ``stride`` and zero ``padding`` looks on one training image.

    ``image``: the padded image (H + 2p, W + 2p) or (.., 3) uint8 (the padding black); ``grid``
    (out_h, out_w) = ``conv_output_size`` per side and ``positions`` their product (unfold counts the
    same windows); ``examples``: a few windows as dicts (``row``, ``col``: output position; ``top``,
    ``left``: corner in the padded image; ``tile``: the k x k pixels it sees): the first window (top
    left), ``examples`` - 2 neighbours in the middle row (at stride 1 they overlap by k - 1 pixels)
    and the last one (bottom right); ``inputs_per_unit`` (C k k) and ``mlp_inputs_per_unit`` (C H W)."""
    x = ds.train_x[index : index + 1].float() / 255  # (1, C, H, W)
    _, c, h, w = x.shape
    if not (kernel >= 1 and stride >= 1 and 0 <= padding < kernel and kernel <= min(h, w) + 2 * padding):
        raise ConfigError(
            f"A {kernel}x{kernel} kernel with stride {stride} and padding {padding} does not fit "
            f"a {h}x{w} image (padding 0..{kernel - 1}, stride 1 or more)."
        )
    xp = torch.nn.functional.pad(x, (padding,) * 4)
    oh, ow = conv_output_size(h, kernel, stride, padding), conv_output_size(w, kernel, stride, padding)
    unfolded = torch.nn.functional.unfold(xp, kernel, stride=stride)[0]  # (C k k, oh * ow)
    mid, q0 = oh // 2, max(0, ow // 2 - 1)
    picks = [(0, 0)] + [(mid, min(q0 + j, ow - 1)) for j in range(max(examples - 2, 0))] + [(oh - 1, ow - 1)]
    ex = []
    for r, q in dict.fromkeys(picks):
        patch = unfolded[:, r * ow + q].reshape(c, kernel, kernel)
        ex.append(
            {
                "row": r,
                "col": q,
                "top": r * stride,
                "left": q * stride,
                "tile": hwc(patch.mul(255).round().to(torch.uint8)),
            }
        )
    return {
        "image": hwc(xp[0].mul(255).round().to(torch.uint8)),
        "size": (h, w),
        "kernel": kernel,
        "stride": stride,
        "padding": padding,
        "grid": (oh, ow),
        "positions": int(unfolded.shape[1]),
        "examples": ex,
        "inputs_per_unit": c * kernel * kernel,
        "mlp_inputs_per_unit": c * h * w,
    }


def prediction_tiles(ds: Dataset, samples_: dict[str, list]) -> list[tuple[np.ndarray, str, bool]]:
    """Test images of an epoch event's ``samples``: (image, caption, right?)."""
    out = []
    for i, t, p, prob in zip(samples_["index"], samples_["true"], samples_["pred"], samples_["prob"]):
        ok = t == p
        cap = f"{'✓' if ok else '✗'} {ds.classes[p]} ({prob:.0%})" + ("" if ok else f", is {ds.classes[t]}")
        out.append((hwc(ds.test_x[i]), cap, ok))
    return out
