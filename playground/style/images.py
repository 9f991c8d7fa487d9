"""Images for style transfer: the built-in registry (scikit-image photos and textures, generated
styles), resolving anything a user may give (a name, a path, upload bytes, PIL, arrays of any mode; files
and uploads through the one decoder in ``playground.images``),
resizing to the chosen long side, back to uint8 and PNG, and luminance-only colour preservation."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from playground.errors import ConfigError
from playground.images import decode_tensor
from playground.registry import Registry

from .settings import MAX_SIZE, MIN_SIDE

__all__ = [
    "IMAGES",
    "list_images",
    "builtin_image",
    "resolve_image",
    "fit_size",
    "load_image",
    "to_uint8",
    "to_png",
    "YCBCR",
    "preserve_colour",
]

IMAGES: Registry[Callable[[], np.ndarray]] = Registry("built-in image")


def _skimage(name: str) -> np.ndarray:
    import skimage.data

    return getattr(skimage.data, name)()


def _register_skimage(key: str, attr: str, doc: str) -> None:
    def load() -> np.ndarray:
        return _skimage(attr)

    load.__doc__ = doc
    IMAGES.register(key)(load)


for _key, _attr, _doc in (
    ("astronaut", "astronaut", "photo: Eileen Collins, astronaut (scikit-image)"),
    ("chelsea", "chelsea", "photo: Chelsea the cat (scikit-image)"),
    ("coffee", "coffee", "photo: a cup of coffee (scikit-image)"),
    ("rocket", "rocket", "photo: a rocket on the launch pad (scikit-image)"),
    ("hubble", "hubble_deep_field", "photo: the Hubble deep field (scikit-image)"),
    ("cells", "immunohistochemistry", "photo: stained tissue under a microscope (scikit-image)"),
    ("brick", "brick", "texture: a brick wall, grayscale (scikit-image)"),
    ("grass", "grass", "texture: grass, grayscale (scikit-image)"),
    ("gravel", "gravel", "texture: gravel, grayscale (scikit-image)"),
    ("colorwheel", "colorwheel", "texture: a colour wheel (scikit-image)"),
):
    _register_skimage(_key, _attr, _doc)

_PALETTES = {  # bold palettes for the generated styles (RGB 0..1)
    "sunset": [(0.98, 0.80, 0.20), (0.93, 0.35, 0.15), (0.60, 0.10, 0.35), (0.15, 0.10, 0.40), (0.05, 0.55, 0.65)],
}


@IMAGES.register("waves")
def _waves(n: int = 512, seed: int = 1) -> np.ndarray:
    """generated: interfering colour waves (a few random plane waves per channel)"""
    g = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n] / n
    out = np.zeros((n, n, 3))
    for c in range(3):
        for _ in range(3):
            k, phase, angle = g.uniform(6, 22), g.uniform(0, 2 * np.pi), g.uniform(0, np.pi)
            out[..., c] += np.sin(2 * np.pi * k * (x * np.cos(angle) + y * np.sin(angle)) + phase)
    out = (out - out.min()) / (out.max() - out.min())
    return (out**1.5 * 255).astype(np.uint8)


@IMAGES.register("stripes")
def _stripes(n: int = 512, seed: int = 2) -> np.ndarray:
    """generated: bold diagonal bands of a sunset palette, wobbling"""
    g = np.random.default_rng(seed)
    pal = np.array(_PALETTES["sunset"])
    y, x = np.mgrid[0:n, 0:n] / n
    wobble = 0.03 * np.sin(2 * np.pi * (4 * y + g.uniform())) + 0.02 * np.sin(2 * np.pi * 9 * x)
    band = np.floor((x + y + wobble) * 9).astype(int) % len(pal)
    return (pal[band] * 255).astype(np.uint8)


@IMAGES.register("mosaic")
def _mosaic(n: int = 512, seed: int = 3, cells: int = 140) -> np.ndarray:
    """generated: stained-glass mosaic (Voronoi cells with dark leading)"""
    from scipy.spatial import cKDTree  # scipy comes with scikit-image

    g = np.random.default_rng(seed)
    pts = g.uniform(0, n, size=(cells, 2))
    cols = g.uniform(0.1, 1.0, size=(cells, 3)) ** 0.7
    pix = np.moveaxis(np.mgrid[0:n, 0:n], 0, -1).reshape(-1, 2)  # (n*n, 2)
    dist, idx = cKDTree(pts).query(pix, k=2)  # the two nearest cell centres of every pixel
    out = cols[idx[:, 0]]
    out[dist[:, 1] - dist[:, 0] < 3.0] = 0.08  # near the border of two cells: dark leading
    return (out.reshape(n, n, 3) * 255).astype(np.uint8)


@IMAGES.register("dots")
def _dots(n: int = 512, seed: int = 4) -> np.ndarray:
    """generated: halftone dots of varying size on a warm paper"""
    g = np.random.default_rng(seed)
    step = 16
    y, x = np.mgrid[0:n, 0:n]
    cy, cx = (y // step) * step + step / 2, (x // step) * step + step / 2
    field = 0.5 + 0.5 * np.sin(2 * np.pi * (cx / n * 2 + g.uniform())) * np.cos(2 * np.pi * cy / n * 1.5)
    r = 1.5 + field * step * 0.45
    ink = ((y - cy) ** 2 + (x - cx) ** 2) < r**2
    out = np.empty((n, n, 3))
    out[:] = (0.96, 0.91, 0.80)
    out[ink] = (0.10, 0.15, 0.45)
    return (out * 255).astype(np.uint8)


def list_images() -> list[str]:
    return IMAGES.names()


def builtin_image(name: str) -> np.ndarray:
    """A built-in image as uint8 (H, W) or (H, W, C) (works offline: shipped with scikit-image or generated).
    Read-only and cached: callers copy before changing it."""
    IMAGES.check(name)
    return _builtin(name)


@lru_cache(maxsize=32)
def _builtin(name: str) -> np.ndarray:
    a = np.asarray(IMAGES.get(name)())
    a.setflags(write=False)
    return a


def _array_to_float(a: np.ndarray) -> torch.Tensor:
    """uint8/uint16/bool/float (H, W), (H, W, 1|3|4) -> float (3, H, W) in [0, 1]."""
    a = np.asarray(a)
    if a.dtype == bool:
        a = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32) / float(np.iinfo(a.dtype).max)
    else:
        a = np.clip(np.nan_to_num(a.astype(np.float32)), 0, 1)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ConfigError(f"An image array must be (H, W) or (H, W, 1|3|4); got shape {a.shape}.")
    if a.shape[2] == 4:  # composite on white
        a = a[..., :3] * a[..., 3:] + (1 - a[..., 3:])
    t = torch.from_numpy(np.array(a, copy=True)).permute(2, 0, 1)
    return t.expand(3, -1, -1).contiguous() if t.shape[0] == 1 else t.contiguous()


def resolve_image(source: Any, label: str = "image", *, at_least: int = MAX_SIZE) -> torch.Tensor:
    """A built-in name, a path, bytes (an upload), a PIL image or an array -> float (3, H, W) in [0, 1], contiguous.

    Files, uploads and PIL images go through the one decoder (``playground.images``); a JPEG may be decoded at
    a reduced scale keeping both sides >= ``at_least``."""
    if isinstance(source, torch.Tensor):
        t = source.detach().float()
        return (t if t.dim() == 3 else t.squeeze(0)).contiguous()
    if isinstance(source, np.ndarray):
        return _array_to_float(source)
    if isinstance(source, Image.Image):
        return _decoded(source, f"The {label}", at_least)
    if isinstance(source, bytes):
        return _decoded(source, f"The uploaded {label}", at_least)
    if isinstance(source, (str, Path)):
        text = str(source)
        if text.startswith("upload:"):
            raise ConfigError(
                f"The {label} {text[7:]!r} was an upload: upload it again (settings files do not carry the image)."
            )
        if isinstance(source, str) and source in IMAGES:
            return _array_to_float(builtin_image(source))
        path = Path(text).expanduser()
        if path.is_file():
            return _decoded(path, f"The {label} file {path}", at_least)
        raise ConfigError(
            f"No {label} {text!r}: give an image file that exists, or a built-in name ({', '.join(list_images())})."
        )
    raise ConfigError(f"Cannot use a {type(source).__name__} as the {label}.")


def _decoded(source: bytes | Path | Image.Image, label: str, at_least: int) -> torch.Tensor:
    t = decode_tensor(source, channels=3, at_least=at_least, label=label)  # uint8 (3, H, W), contiguous
    return TF.to_dtype(t, torch.float32, scale=True)


def fit_size(h: int, w: int, size: int, label: str = "image") -> tuple[int, int]:
    """(h, w) scaled so the long side is ``size`` (aspect kept); the short side must stay >= MIN_SIDE."""
    s = size / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    if min(nh, nw) < MIN_SIDE:
        raise ConfigError(
            f"The {label} is too narrow: {w}x{h} at size {size} gives {nw}x{nh}, and the network needs "
            f"at least {MIN_SIDE} px on the short side. Crop it, or raise the size."
        )
    return nh, nw


def load_image(source: Any, size: int, label: str = "image") -> torch.Tensor:
    """``resolve_image`` then resize (antialiased) so the long side is ``size`` -> (1, 3, h, w) float in [0, 1]."""
    t = resolve_image(source, label, at_least=size)  # (3, H, W)
    h, w = fit_size(t.shape[1], t.shape[2], size, label)
    if (h, w) != tuple(t.shape[1:]):
        t = TF.resize(t, [h, w], antialias=True).clamp_(0, 1)
    return t[None].contiguous()  # L-BFGS flattens the image with .view: it must be contiguous


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float in [0, 1] -> (H, W, 3) uint8."""
    return image[0].detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def to_png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


YCBCR = torch.tensor(  # RGB -> YCbCr (JPEG's full-range matrix)
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)


def preserve_colour(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luminance-only transfer (Gatys et al. 2017): the result's luminance with the content's chroma."""
    m = YCBCR.to(result.device)
    y = torch.einsum("ij,bjhw->bihw", m, result)  # (1, 3, H, W) in YCbCr
    yc = torch.einsum("ij,bjhw->bihw", m, content)
    mixed = torch.cat([y[:, :1], yc[:, 1:]], 1)
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(m), mixed).clamp(0, 1)
