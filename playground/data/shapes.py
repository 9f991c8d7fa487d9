"""`shapes`: the built-in data set, drawn procedurally from a seed (no download).

Ten classes of coloured shapes on textured backgrounds, each at a random
position, scale and rotation, 32x32 RGB. Every shape is an implicit function
of the sample's own (inverse-transformed) coordinates, so a whole class is
drawn in one batched tensor expression, supersampled 2x for anti-aliasing.
Because position, size and angle vary, it makes invariance visible: a CNN
copes with the shift, an MLP has to learn every position separately.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ..files import atomic_write_bytes
from ..settings import settings
from .datasets import Dataset, check_size, register_dataset

__all__ = ["SHAPE_CLASSES", "make_shapes"]

Mask = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (u, v) -> bool, u/v in shape units


def _polar(u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.sqrt(u * u + v * v), torch.atan2(v, u)


def _circle(u, v):
    return u * u + v * v < 0.8


def _square(u, v):
    return torch.maximum(u.abs(), v.abs()) < 0.75


def _triangle(u, v):  # equilateral, pointing up (v grows downwards)
    return (v < 0.55) & (v > -0.95 + math.sqrt(3) * u.abs())


def _plus(u, v):
    a, b = u.abs(), v.abs()
    return ((a < 0.3) & (b < 0.95)) | ((b < 0.3) & (a < 0.95))


def _ring(u, v):
    r2 = u * u + v * v
    return (r2 < 0.9) & (r2 > 0.3)


def _star(u, v):  # five points
    r, t = _polar(u, v)
    k = torch.remainder(t + math.pi / 2, 2 * math.pi / 5) - math.pi / 5  # angle to nearest point
    return r < 0.42 + 0.58 * (1 - k.abs() / (math.pi / 5)) ** 2


def _hexagon(u, v):
    r, t = _polar(u, v)
    k = torch.remainder(t, math.pi / 3) - math.pi / 6
    return r * torch.cos(k) < 0.8


def _crescent(u, v):
    return (u * u + v * v < 0.85) & ((u - 0.45) ** 2 + (v + 0.1) ** 2 > 0.55)


def _arrow(u, v):  # shaft and head, pointing right
    shaft = (u > -0.95) & (u < 0.2) & (v.abs() < 0.22)
    head = (u >= 0.1) & (u < 0.95) & (v.abs() < 0.95 * (0.95 - u) / 0.85)
    return shaft | head


def _heart(u, v):
    x, y = u * 1.25, -(v * 1.25) + 0.25  # the implicit heart, y up
    return (x * x + y * y - 1) ** 3 - x * x * y**3 < 0


SHAPES: dict[str, Mask] = {
    "circle": _circle,
    "square": _square,
    "triangle": _triangle,
    "plus": _plus,
    "ring": _ring,
    "star": _star,
    "hexagon": _hexagon,
    "crescent": _crescent,
    "arrow": _arrow,
    "heart": _heart,
}
SHAPE_CLASSES = list(SHAPES)


CHUNK = 512  # images drawn at a time: the supersampled temporaries stay in the cache (2x faster than all at once)


def _background_draws(n: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    """The random draws of ``n`` backgrounds, in the order the data set was first drawn in (the same seed
    gives the same images whatever the chunking)."""
    return {
        "c1": torch.rand(n, 3, 1, 1, generator=g),
        "c2": torch.rand(n, 3, 1, 1, generator=g),
        "ang": torch.rand(n, 1, 1, generator=g) * 2 * math.pi,
        "freq": 1 + torch.rand(n, 1, 1, generator=g) * 5,
        "kind": torch.randint(0, 3, (n, 1, 1), generator=g),
        "contrast": 0.15 + 0.35 * torch.rand(n, 1, 1, 1, generator=g),
    }  # keep the shape the salient part


def _backgrounds(d: dict[str, torch.Tensor], grain: torch.Tensor, size: int) -> torch.Tensor:
    """(n, 3, size, size) in [0, 1]: two-colour gradients, stripes or checks, plus grain."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    proj = torch.cos(d["ang"]) * xs + torch.sin(d["ang"]) * ys  # (n, size, size)
    gradient = (proj + 1) / 2
    stripes = (torch.sin(proj * d["freq"] * math.pi) + 1) / 2
    checks = ((torch.sin(xs * d["freq"] * math.pi) * torch.sin(ys * d["freq"] * math.pi)) > 0).float()
    t = torch.where(d["kind"] == 0, gradient, torch.where(d["kind"] == 1, stripes, checks)).unsqueeze(1)
    bg = d["c1"] + (d["c2"] - d["c1"]) * t * d["contrast"]
    bg = bg + 0.04 * grain
    return bg.clamp(0, 1)


def _masks(
    labels: torch.Tensor, scale: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor, theta: torch.Tensor, size: int
) -> torch.Tensor:
    """(n, 1, size, size) in [0, 1]: each image's shape, drawn on a 2x canvas and averaged (anti-aliased)."""
    grid = torch.linspace(-1, 1, 2 * size)
    gy, gx = torch.meshgrid(grid, grid, indexing="ij")  # (ss, ss)
    mask = torch.zeros(len(labels), 2 * size, 2 * size)
    for k, fn in enumerate(SHAPES.values()):
        idx = (labels == k).nonzero().squeeze(1)
        if len(idx) == 0:
            continue
        c, s = torch.cos(theta[idx]).view(-1, 1, 1), torch.sin(theta[idx]).view(-1, 1, 1)
        dx, dy = gx - cx[idx].view(-1, 1, 1), gy - cy[idx].view(-1, 1, 1)  # (k, ss, ss)
        u = (c * dx + s * dy) / scale[idx].view(-1, 1, 1)  # inverse rotation, shape units
        v = (-s * dx + c * dy) / scale[idx].view(-1, 1, 1)
        mask[idx] = fn(u, v).float()
    return F.avg_pool2d(mask.unsqueeze(1), 2)


def make_shapes(n: int, *, seed: int = 0, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` images (balanced classes, shuffled): uint8 (n, 3, size, size), labels (n,). Every random
    number is drawn first, then the images are drawn ``CHUNK`` at a time."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % len(SHAPES)
    labels = labels[torch.randperm(n, generator=g)]
    scale = 0.35 + 0.3 * torch.rand(n, generator=g)  # shape radius, fraction of half-canvas
    max_off = 0.95 - scale
    cx = (torch.rand(n, generator=g) * 2 - 1) * max_off
    cy = (torch.rand(n, generator=g) * 2 - 1) * max_off
    theta = (torch.rand(n, generator=g) * 2 - 1) * math.radians(45)
    colour = torch.rand(n, 3, generator=g)
    bgd = _background_draws(n, g)
    grain = torch.randn(n, 3, size, size, generator=g)
    shade = 0.85 + 0.15 * torch.rand(n, 1, size, size, generator=g)

    out = torch.empty(n, 3, size, size, dtype=torch.uint8)
    for a in range(0, n, CHUNK):
        b = min(n, a + CHUNK)
        mask = _masks(labels[a:b], scale[a:b], cx[a:b], cy[a:b], theta[a:b], size)
        bg = _backgrounds({k: v[a:b] for k, v in bgd.items()}, grain[a:b], size)
        # Shape colour far enough from the background's mean that the shape stays visible.
        bg_mean = bg.mean(dim=(2, 3))
        col = colour[a:b]
        far = (col - bg_mean).abs().sum(1, keepdim=True) < 0.9
        col = torch.where(far, 1 - bg_mean, col)
        img = bg * (1 - mask) + col.view(b - a, 3, 1, 1) * shade[a:b] * mask
        out[a:b] = (img * 255).round().clamp(0, 255).to(torch.uint8)
    return out, labels


@register_dataset(
    "shapes",
    input_shape=lambda size=32, **_: (3, size, size),
    num_classes=10,
    ranges={"n_train": (10, 20000, 10), "n_test": (10, 5000, 10), "size": (8, 256, 8), "seed": (0, 1000, 1)},
)
def shapes(*, n_train: int = 8000, n_test: int = 2000, size: int = 32, seed: int = 0) -> Dataset:
    """Built in: 10 classes of shapes on textured backgrounds, 32x32 RGB, no download."""
    from ..errors import ConfigError

    if n_train < 10 or n_test < 10:
        raise ConfigError("shapes needs at least 10 train and 10 test images (one per class).")
    if not 8 <= size <= 256:
        raise ConfigError(f"shapes image size must be between 8 and 256 (got {size}).")
    if n_train > 60_000 or n_test > 10_000:  # drawing takes several times the images' bytes: bounded up front
        raise ConfigError(
            f"shapes draws at most 60,000 training and 10,000 test images (got {n_train:,} and "
            f"{n_test:,}): ask for fewer."
        )
    check_size((n_train + n_test) * 3 * size * size, "shapes")
    drawn = _kept if (n_train, n_test, size, seed) == DEFAULT else _draw
    tx, ty, vx, vy = drawn(n_train, n_test, size, seed)
    return Dataset("shapes", SHAPE_CLASSES, tx, ty, vx, vy)


DEFAULT = (8000, 2000, 32, 0)  # n_train, n_test, size, seed: the set every class and default run uses


def _draw(n_train: int, n_test: int, size: int, seed: int) -> tuple[torch.Tensor, ...]:
    return (*make_shapes(n_train, seed=seed, size=size), *make_shapes(n_test, seed=seed + 1_000_003, size=size))


def _kept(n_train: int, n_test: int, size: int, seed: int) -> tuple[torch.Tensor, ...]:
    """The default set from the disk cache (``PLAYGROUND_CACHE``; 31 MB, read in tens of milliseconds),
    drawn and written there when it is absent or unreadable (2-4 s of a core, per process: the server, its
    fork server, every command). Only the default: a link's settings never fill a disk. Keyed by this
    file's source and torch's version, so a changed drawing is never read from an old file."""
    root = settings().cache_root
    if root is None:
        return _draw(n_train, n_test, size, seed)
    key = hashlib.sha256(
        Path(__file__).read_bytes() + f"|{torch.__version__}|{n_train}|{n_test}|{size}|{seed}".encode()
    ).hexdigest()[:16]
    path = root / f"shapes-{key}.pt"
    try:
        t = torch.load(path, weights_only=True)  # tensors only: never code, whatever the file holds
        if _whole(t, n_train, n_test, size):
            return tuple(t)
    except Exception:
        pass
    t = _draw(n_train, n_test, size, seed)
    try:
        root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, lambda f: torch.save(t, f))
    except OSError:  # a read-only or full disk: drawn each time, as with no cache
        pass
    return t


def _whole(t, n_train: int, n_test: int, size: int) -> bool:
    if not (isinstance(t, (tuple, list)) and len(t) == 4 and all(torch.is_tensor(x) for x in t)):
        return False
    tx, ty, vx, vy = t
    return (
        tx.shape == (n_train, 3, size, size)
        and vx.shape == (n_test, 3, size, size)
        and tx.dtype == vx.dtype == torch.uint8
        and ty.shape == (n_train,)
        and vy.shape == (n_test,)
        and all(y.dtype == torch.int64 and int(y.min()) >= 0 and int(y.max()) < len(SHAPES) for y in (ty, vy))
    )
