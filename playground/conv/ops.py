"""One convolution, as a lesson computes it: ``F.conv2d`` and pooling on one image, the output size with
its formula filled in, one output value's arithmetic, and what local connectivity and weight sharing
save in parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import ConfigError

__all__ = ["ConvSettings", "PADDINGS", "POOLS", "out_size", "size_formula", "convolve", "position", "param_counts"]

PADDINGS = ("zeros", "reflect", "replicate", "circular")  # what F.pad calls constant, reflect, replicate, circular
POOLS = ("none", "max", "avg")
_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


@dataclass(frozen=True)
class ConvSettings:
    padding_mode: str = "zeros"
    padding: int = 0
    stride: int = 1
    dilation: int = 1
    bias: float = 0.0
    relu: bool = False
    pool: str = "none"
    pool_size: int = 2
    pool_stride: int = 2

    def validate(self) -> "ConvSettings":
        if self.padding_mode not in PADDINGS:
            raise ConfigError(f"Padding must be one of {', '.join(PADDINGS)} (got {self.padding_mode!r}).")
        if self.pool not in POOLS:
            raise ConfigError(f"Pooling must be one of {', '.join(POOLS)} (got {self.pool!r}).")
        for name, lo in (("padding", 0), ("stride", 1), ("dilation", 1), ("pool_size", 1), ("pool_stride", 1)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo or v > 64:
                raise ConfigError(f"{name.replace('_', ' ')} must be a whole number from {lo} to 64 (got {v!r}).")
        if not isinstance(self.bias, (int, float)) or self.bias != self.bias or abs(self.bias) > 1e6:
            raise ConfigError(f"The bias must be a number (got {self.bias!r}).")
        return self


def out_size(n: int, k: int, p: int = 0, s: int = 1, d: int = 1) -> int:
    """PyTorch's output size: floor((n + 2p - d(k - 1) - 1) / s) + 1 (may be <= 0: no output)."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def size_formula(n: int, k: int, p: int, s: int, d: int) -> str:
    """The output size formula with the numbers filled in, e.g. 'floor((28 + 2·1 - 1·(3 - 1) - 1) / 1) + 1 = 28'."""
    return f"floor(({n} + 2·{p} - {d}·({k} - 1) - 1) / {s}) + 1 = {out_size(n, k, p, s, d)}"


def _empty(what: str, axis: str, n: int, k: int, p: int, s: int, d: int) -> ConfigError:
    reach, part = d * (k - 1) + 1, "kernel" if what == "convolution" else "window"
    return ConfigError(
        f"The {what} has no output {axis}: {size_formula(n, k, p, s, d)}. The {part} "
        f"reaches over {reach} pixels (dilation {d} x (size {k} - 1) + 1) but the {axis} is only "
        f"{n + 2 * p} with padding. Use a smaller kernel or dilation, or more padding."
    )


def _kernel(weight: torch.Tensor, c: int) -> torch.Tensor:
    w = weight.detach().float()
    if w.dim() == 2:  # one k x k kernel: the same slice for every input channel
        w = w.expand(c, *w.shape)
    if w.dim() != 3 or w.shape[0] != c or w.shape[1] != w.shape[2]:
        raise ConfigError(
            f"A kernel of shape {tuple(weight.shape)} does not fit a {c}-channel image: give a "
            f"k x k kernel or {c} slices of one."
        )
    if not torch.isfinite(w).all():
        raise ConfigError("Every kernel value must be a number (one is empty, infinite or not a number).")
    return w.contiguous()


def _pad(image: torch.Tensor, s: ConvSettings) -> torch.Tensor:
    p, (_, h, w) = s.padding, image.shape
    if not p:
        return image
    if s.padding_mode == "reflect" and p >= min(h, w):
        raise ConfigError(
            f"Reflect padding of {p} needs an image larger than {p} pixels each way ({h} x {w}): "
            "use less padding, or replicate/zeros."
        )
    if s.padding_mode == "circular" and p > min(h, w):
        raise ConfigError(f"Circular padding of {p} wraps at most the image's size ({h} x {w}): use less padding.")
    return F.pad(image[None], (p, p, p, p), mode=_PAD_MODE[s.padding_mode])[0]


def convolve(image: torch.Tensor, weight: torch.Tensor, settings: ConvSettings | None = None) -> dict[str, Any]:
    """One output channel of a convolution of ``image`` (C, H, W) with ``weight`` ((k, k), or (C, k, k)),
    then the optional ReLU and pooling -> padded input, maps, sizes and their formulas."""
    s = (settings or ConvSettings()).validate()
    x = image.detach().float()
    c, h, w = x.shape
    kern = _kernel(weight, c)
    k = kern.shape[-1]
    for axis, n in (("height", h), ("width", w)):
        if out_size(n, k, s.padding, s.stride, s.dilation) <= 0:
            raise _empty("convolution", axis, n, k, s.padding, s.stride, s.dilation)
    padded = _pad(x, s)
    conv = F.conv2d(padded[None], kern[None], torch.tensor([float(s.bias)]), stride=s.stride, dilation=s.dilation)[0, 0]
    act = conv.clamp_min(0) if s.relu else conv
    oh, ow = conv.shape
    formulas = {
        "height": size_formula(h, k, s.padding, s.stride, s.dilation),
        "width": size_formula(w, k, s.padding, s.stride, s.dilation),
    }
    pooled = None
    if s.pool != "none":
        for axis, n in (("height", oh), ("width", ow)):
            if out_size(n, s.pool_size, 0, s.pool_stride) <= 0:
                raise _empty("pooling", axis, n, s.pool_size, 0, s.pool_stride, 1)
        pool = F.max_pool2d if s.pool == "max" else F.avg_pool2d
        pooled = pool(act[None, None], s.pool_size, s.pool_stride)[0, 0]
        formulas["pool height"] = size_formula(oh, s.pool_size, 0, s.pool_stride, 1)
        formulas["pool width"] = size_formula(ow, s.pool_size, 0, s.pool_stride, 1)
    return {
        "input": x,
        "padded": padded,
        "kernel": kern,
        "conv": conv,
        "activated": act,
        "pooled": pooled,
        "k": k,
        "size": (oh, ow),
        "formulas": formulas,
    }


def position(result: dict[str, Any], i: int, j: int, settings: ConvSettings | None = None) -> dict[str, Any]:
    """Output value (i, j)'s arithmetic: its receptive field in the input (rows, columns; outside the image is
    padding), the k x k patch per channel, the products, their sums, plus the bias, after the ReLU."""
    s = settings or ConvSettings()
    oh, ow = result["size"]
    if not (0 <= i < oh and 0 <= j < ow):
        raise ConfigError(f"Position ({i}, {j}) is outside the {oh} x {ow} output.")
    k, d, kern = result["k"], s.dilation, result["kernel"]
    rows = [i * s.stride + d * a for a in range(k)]  # in padded coordinates
    cols = [j * s.stride + d * b for b in range(k)]
    patch = result["padded"][:, rows][:, :, cols]  # (C, k, k)
    products = patch * kern
    per_channel = products.flatten(1).sum(1)
    total = float(per_channel.sum()) + float(s.bias)
    return {
        "rows": [r - s.padding for r in rows],
        "cols": [c - s.padding for c in cols],
        "patch": patch,
        "products": products,
        "per_channel": per_channel.tolist(),
        "sum": float(per_channel.sum()),
        "bias": float(s.bias),
        "value": total,
        "after_relu": max(total, 0.0) if s.relu else total,
        "map_value": float(result["activated"][i, j]),
    }


def param_counts(c: int, h: int, w: int, k: int, oh: int, ow: int) -> dict[str, Any]:
    """Parameters of one output channel (weights + bias) mapping a C x H x W input to an oh x ow map:
    convolution (one kernel, shared), locally connected (a kernel per position) and fully connected."""
    conv = c * k * k + 1
    local = oh * ow * (c * k * k + 1)
    full = (c * h * w + 1) * oh * ow
    return {
        "convolution": conv,
        "locally connected": local,
        "fully connected": full,
        "sentences": {
            "convolution": f"one {c} x {k} x {k} kernel and a bias, used at all {oh * ow:,} positions: "
            "the same feature detector everywhere (weight sharing).",
            "locally connected": f"a separate kernel at each of the {oh * ow:,} positions: still local, but "
            f"{local // conv:,} times the parameters, and what it learns at one place "
            "does not carry to another.",
            "fully connected": f"every output value sees all {c * h * w:,} input values: no notion of "
            f"neighbourhood, and {full // conv:,} times the parameters of the convolution.",
        },
    }
