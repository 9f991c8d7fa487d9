"""Neural style transfer (Gatys et al. 2016) as an iterator of steps.

The anchor is PyTorch's neural-style tutorial: VGG19 features, content loss at
``conv_4``, style losses from Gram matrices at ``conv_1`` .. ``conv_5``, L-BFGS,
style weight 1e6 against content weight 1. One *step* is one evaluation of the
loss and its gradient (the tutorial counts its 300 steps the same way), so
``steps=300`` here and there do the same work.

What differs from the tutorial's structure, for speed (``benchmarks/style_bench.py``
measures both side by side):
- the network is cut after the last layer in use and run as a plain loop that
  keeps the tapped outputs, no loss modules spliced into a copied Sequential;
  ReLUs stay in place except right after a tapped layer;
- content features and style Gram matrices are computed once, under ``no_grad``;
- weights never get gradients, and the network runs channels_last.

``transfer(content, style, settings)`` yields ``start``, ``step`` (every step:
losses; every ``preview_every`` steps also the current image as uint8 HxWx3) and
one final event: ``done``, ``stopped`` (Stop keeps the current result) or
``diverged`` / ``error``, each with the image so far. The CLI and the Style page
consume the same iterator; ``StyleWorker`` runs it on a thread for the page.
"""

from __future__ import annotations

import io
import json
import math
import os
import threading
import time
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.transforms.v2 import functional as TF

from .errors import CheckpointError, ConfigError, PlaygroundError
from .registry import Registry

__all__ = ["StyleSettings", "IMAGES", "BACKBONES", "STYLE_OPTIMIZERS", "FeatureNet", "gram_matrix", "load_image",
           "builtin_image", "list_images", "feature_net", "feature_runs", "transfer", "run_transfer",
           "StyleWorker", "to_png", "loss_figure", "MIN_SIDE"]

MIN_SIDE = 16  # short side: below this the pooled maps of the deeper layers vanish
MIN_SIZE = 32
MAX_SIZE = 2048


# -- settings ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StyleSettings:
    """Everything that decides a result; saved next to it as JSON (``to_json``)."""

    content: str = "astronaut"  # a built-in name (see IMAGES) or a file path; uploads: "upload:<name>"
    style: str = "mosaic"
    size: int = 256  # long side of the result, in pixels (aspect kept)
    backbone: str = "vgg19"  # a BACKBONES name, or "run:<run_id>" for a playground-trained CNN
    content_layers: tuple[str, ...] | None = None  # None: the backbone's defaults
    style_layers: Mapping[str, float] | None = None  # layer -> weight; None: the backbone's defaults
    content_weight: float = 1.0
    style_weight: float = 1e6
    tv_weight: float = 0.0
    optimizer: str = "lbfgs"
    lr: float | None = None  # None: the optimiser's default (L-BFGS 1, Adam 0.02)
    steps: int = 300
    init: str = "content"  # content | noise
    preserve_colour: bool = False
    seed: int = 0
    device: str = "auto"

    def validate(self) -> "StyleSettings":
        if not (isinstance(self.size, int) and MIN_SIZE <= self.size <= MAX_SIZE):
            raise ConfigError(f"size must be a whole number of pixels from {MIN_SIZE} to {MAX_SIZE} (got {self.size!r}).")
        if not (isinstance(self.steps, int) and 1 <= self.steps <= 100_000):
            raise ConfigError(f"steps must be a whole number from 1 to 100000 (got {self.steps!r}).")
        for name in ("content_weight", "style_weight", "tv_weight"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"{name.replace('_', ' ')} must be a number >= 0 (got {v!r}).")
        if self.content_weight == 0 and self.style_weight == 0:
            raise ConfigError("Content and style weight are both 0: there is nothing to optimise. Raise one of them.")
        if self.lr is not None and (not isinstance(self.lr, (int, float)) or not 0 < self.lr < 1e3):
            raise ConfigError(f"learning rate must be a number above 0 (got {self.lr!r}); leave it empty for the default.")
        if self.init not in INITS:
            raise ConfigError(f"init must be one of {', '.join(INITS)} (got {self.init!r}).")
        STYLE_OPTIMIZERS.get(self.optimizer)
        if self.style_layers is not None:
            for k, v in self.style_layers.items():
                if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                    raise ConfigError(f"style layer {k}: the weight must be a number >= 0 (got {v!r}).")
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["content_layers"] = list(self.content_layers) if self.content_layers is not None else None
        d["style_layers"] = dict(self.style_layers) if self.style_layers is not None else None
        return d

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "StyleSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"Unknown style settings: {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
        d = dict(d)
        if d.get("content_layers") is not None:
            d["content_layers"] = tuple(d["content_layers"])
        return cls(**d)

    def replace(self, **kw: Any) -> "StyleSettings":
        return replace(self, **kw)


INITS = ("content", "noise")


# -- images --------------------------------------------------------------------------------------

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
        ("colorwheel", "colorwheel", "texture: a colour wheel (scikit-image)")):
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
    return (out ** 1.5 * 255).astype(np.uint8)


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
    pix = np.stack(np.mgrid[0:n, 0:n], -1).reshape(-1, 2)  # (n*n, 2)
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
    ink = ((y - cy) ** 2 + (x - cx) ** 2) < r ** 2
    out = np.empty((n, n, 3))
    out[:] = (0.96, 0.91, 0.80)
    out[ink] = (0.10, 0.15, 0.45)
    return (out * 255).astype(np.uint8)


def list_images() -> list[str]:
    return IMAGES.names()


def builtin_image(name: str) -> np.ndarray:
    """A built-in image as uint8 (H, W) or (H, W, C) (works offline: shipped with scikit-image or generated).
    Read-only and cached: callers copy before changing it."""
    return _builtin(name) if name in IMAGES else IMAGES.get(name)()


@lru_cache(maxsize=32)
def _builtin(name: str) -> np.ndarray:
    a = np.asarray(IMAGES.get(name)())
    a.setflags(write=False)
    return a


def _pil_to_float(img: Image.Image) -> torch.Tensor:
    """Any PIL mode -> float (3, H, W) in [0, 1]. Transparency is composited on white."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):  # 16-bit and 32-bit grayscale
        a = np.asarray(img).astype(np.float32)
        if mode == "F":
            lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
            a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)  # float images have no fixed range
            a = np.nan_to_num(a)
        else:
            a = a / (65535.0 if mode.startswith("I;16") or a.max() > 255 else 255.0)
            a = np.clip(a, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(a))[None].expand(3, -1, -1).contiguous()
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    img = img.convert("RGB")
    return TF.to_dtype(TF.pil_to_tensor(img), torch.float32, scale=True)  # (3, H, W)


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


def _open(data: bytes | str | Path, label: str) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
        img.draft("RGB", (MAX_SIZE, MAX_SIZE))  # JPEG: decode at a reduced scale when it is large
        img.load()
        return ImageOps.exif_transpose(img) or img
    except Image.DecompressionBombError:
        raise ConfigError(f"{label} is too large to open safely (more than {Image.MAX_IMAGE_PIXELS * 2:,} pixels). "
                          "Downscale it first.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise ConfigError(f"{label} is not an image that can be read (corrupt, truncated or an unsupported "
                          f"format: {type(e).__name__}). Use a PNG, JPEG, BMP, GIF, TIFF or WebP file.") from None


def resolve_image(source: Any, label: str = "image") -> torch.Tensor:
    """A built-in name, a path, bytes (an upload), a PIL image or an array -> float (3, H, W) in [0, 1]."""
    if isinstance(source, torch.Tensor):
        t = source.detach().float()
        return t if t.dim() == 3 else t.squeeze(0)
    if isinstance(source, np.ndarray):
        return _array_to_float(source)
    if isinstance(source, Image.Image):
        return _pil_to_float(source)
    if isinstance(source, bytes):
        return _pil_to_float(_open(source, f"The uploaded {label}"))
    if isinstance(source, (str, Path)):
        text = str(source)
        if text.startswith("upload:"):
            raise ConfigError(f"The {label} {text[7:]!r} was an upload: upload it again (settings files do not "
                              "carry the image).")
        if isinstance(source, str) and source in IMAGES:
            return _array_to_float(builtin_image(source))
        path = Path(text).expanduser()
        if path.is_file():
            return _pil_to_float(_open(path, f"The {label} file {path}"))
        raise ConfigError(f"No {label} {text!r}: give an image file that exists, or a built-in name "
                          f"({', '.join(list_images())}).")
    raise ConfigError(f"Cannot use a {type(source).__name__} as the {label}.")


def fit_size(h: int, w: int, size: int, label: str = "image") -> tuple[int, int]:
    """(h, w) scaled so the long side is ``size`` (aspect kept); the short side must stay >= MIN_SIDE."""
    s = size / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    if min(nh, nw) < MIN_SIDE:
        raise ConfigError(f"The {label} is too narrow: {w}x{h} at size {size} gives {nw}x{nh}, and the network needs "
                          f"at least {MIN_SIDE} px on the short side. Crop it, or raise the size.")
    return nh, nw


def load_image(source: Any, size: int, label: str = "image") -> torch.Tensor:
    """``resolve_image`` then resize (antialiased) so the long side is ``size`` -> (1, 3, h, w) float in [0, 1]."""
    t = resolve_image(source, label)  # (3, H, W)
    h, w = fit_size(t.shape[1], t.shape[2], size, label)
    if (h, w) != tuple(t.shape[1:]):
        t = TF.resize(t, [h, w], antialias=True).clamp_(0, 1)
    return t[None]


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float in [0, 1] -> (H, W, 3) uint8."""
    return image[0].detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def to_png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


_YCBCR = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def preserve_colour(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luminance-only transfer (Gatys et al. 2017): the result's luminance with the content's chroma."""
    m = _YCBCR.to(result.device)
    y = torch.einsum("ij,bjhw->bihw", m, result)  # (1, 3, H, W) in YCbCr
    yc = torch.einsum("ij,bjhw->bihw", m, content)
    mixed = torch.cat([y[:, :1], yc[:, 1:]], 1)
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(m), mixed).clamp(0, 1)


# -- feature networks ----------------------------------------------------------------------------

@dataclass
class FeatureNet:
    """A convolutional feature stack with named layers, ready for ``Extractor``."""

    label: str
    layers: list[tuple[str, nn.Module]]  # (conv_1 | relu_1 | pool_1 | bn_1 ..., module), in order
    mean: tuple[float, ...]
    std: tuple[float, ...]
    in_channels: int
    default_content: tuple[str, ...]
    default_style: dict[str, float]
    lower_quality: bool = False
    notes: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        return [n for n, _ in self.layers]

    def check(self, content_layers: Sequence[str], style_layers: Mapping[str, float]) -> None:
        names = self.names()
        bad = [n for n in (*content_layers, *style_layers) if n not in names]
        if bad:
            raise ConfigError(f"{self.label} has no layer {', '.join(map(repr, bad))}. Its layers: {', '.join(names)}.")
        if not content_layers and not style_layers:
            raise ConfigError("Choose at least one content or style layer.")


def name_layers(modules: Sequence[nn.Module]) -> list[tuple[str, nn.Module]]:
    """The tutorial's naming: conv_i counts convolutions; relu_i/bn_i/pool_i take the number of the conv before."""
    out, i = [], 0
    for m in modules:
        if isinstance(m, nn.Conv2d):
            i += 1
            name = f"conv_{i}"
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            name = f"pool_{i}"
        elif isinstance(m, nn.BatchNorm2d):
            name = f"bn_{i}"
        elif isinstance(m, (nn.Dropout, nn.Dropout2d)):
            continue  # identity when not training
        elif isinstance(m, nn.ReLU):
            name = f"relu_{i}"
        else:
            name = f"{type(m).__name__.lower()}_{i}"
        out.append((name, m))
    return out


BACKBONES: Registry[Callable[..., FeatureNet]] = Registry("feature network")


def _vgg(arch: str, cfg: str, download: bool, progress: Callable[[int, int], None] | None) -> FeatureNet:
    from torchvision.models.vgg import cfgs, make_layers

    from .weights import load_weights, resolve_weights, weights_file

    w = resolve_weights(arch)
    state = load_weights(w, download=download, progress=progress)
    feats = make_layers(cfgs[cfg], batch_norm=False)
    try:  # only the convolutional part is needed: the classifier's 120M parameters are never built
        feats.load_state_dict({k[len("features."):]: v for k, v in state.items() if k.startswith("features.")})
    except RuntimeError as e:
        raise CheckpointError(f"{weights_file(w)} does not match {arch}: {str(e)[:300]}. Delete it and "
                              "download it again.") from None
    del state
    tf = w.transforms()
    return FeatureNet(label=f"{arch} ({w.name})", layers=name_layers(list(feats)), mean=tuple(tf.mean),
                      std=tuple(tf.std), in_channels=3, default_content=("conv_4",),
                      default_style={f"conv_{i}": 1.0 for i in range(1, 6)})


@BACKBONES.register("vgg19")
def vgg19_features(*, download: bool = True, progress=None) -> FeatureNet:
    """VGG19 trained on ImageNet (torchvision weights; the tutorial's network, best quality)"""
    return _vgg("vgg19", VGG_CFG["vgg19"], download, progress)


@BACKBONES.register("vgg16")
def vgg16_features(*, download: bool = True, progress=None) -> FeatureNet:
    """VGG16 trained on ImageNet (torchvision weights)"""
    return _vgg("vgg16", VGG_CFG["vgg16"], download, progress)


VGG_CFG = {"vgg19": "E", "vgg16": "D"}


def backbone_info(backbone: str, store_root: str | None = None) -> dict[str, Any]:
    """Layer names and defaults of a backbone, and whether its weights are at hand, without loading
    VGG weights (the page asks this on every rerun): {"layers", "content", "style", "label",
    "lower_quality", "notes", "available", "message"}."""
    if backbone.startswith("run:"):
        net = feature_net(backbone, store_root=store_root)  # a small checkpoint: loading it checks it too
        return {"layers": net.names(), "content": list(net.default_content), "style": dict(net.default_style),
                "label": net.label, "lower_quality": True, "notes": net.notes, "available": True, "message": None}
    from torchvision.models.vgg import cfgs, make_layers

    from .weights import resolve_weights, weights_cached, weights_file

    BACKBONES.get(backbone)
    with torch.device("meta"):  # names only: no memory, no initialisation
        names = [n for n, _ in name_layers(list(make_layers(cfgs[VGG_CFG[backbone]])))]
    w = resolve_weights(backbone)
    cached = weights_cached(w)
    path = weights_file(w)
    mb = (w.meta.get("_file_size") or 0)
    message = None if cached else (
        f"The {backbone} ImageNet weights are not in the torch hub cache ({path}). Start tries to download "
        f"them{f' ({mb:.0f} MB)' if mb else ''}; offline, put {path.name} (from {w.url}) into {path.parent}, "
        "or use a CNN trained in the playground as the feature network (lower quality).")
    return {"layers": names, "content": ["conv_4"], "style": {f"conv_{i}": 1.0 for i in range(1, 6)},
            "label": f"{backbone} ({w.name})", "lower_quality": False, "notes": [], "available": cached,
            "message": message}


def _run_start(run) -> dict[str, Any] | None:
    for e in run.iter_events():
        if e.get("kind") == "start":
            return e
    return None


def _run_weights_path(run) -> Path | None:
    return next((p for p in (run.model_path, run.checkpoint_path) if p.is_file()), None)


FEATURE_RUN_SCAN = 100  # feature_runs looks at this many of the newest runs (a classroom store has hundreds)


def _last_test_acc(run, first_chunk: int = 1 << 14, most: int = 1 << 22) -> float | None:
    """The test accuracy of a run's last ``epoch`` (or ``done``) event, read from the end of metrics.jsonl:
    a long run's file is megabytes and the answer is in its last lines. Looks at most ``most`` bytes."""
    try:
        with open(run.metrics_path, "rb") as f:
            end = f.seek(0, os.SEEK_END)
            size = first_chunk
            while True:
                pos = max(0, end - size)
                f.seek(pos)
                lines = f.read(end - pos).split(b"\n")
                for line in reversed(lines[1:] if pos else lines):  # the first line of a chunk may be cut
                    if b'"test_acc"' not in line:
                        continue
                    try:
                        e = json.loads(line)
                    except ValueError:
                        continue
                    if e.get("kind") in ("epoch", "done") and isinstance(e.get("test_acc"), (int, float)):
                        return float(e["test_acc"])
                if pos == 0 or size >= most:
                    return None
                size *= 4
    except OSError:
        return None


def feature_runs(store=None, run_ids: Sequence[str] | None = None, limit: int = FEATURE_RUN_SCAN
                 ) -> list[dict[str, Any]]:
    """Playground runs usable as a feature network: a conv model (cnn, lenet5) with saved weights.

    Looks at the newest ``limit`` runs of ``store`` (only those in ``run_ids`` when given: the ones a
    session may see), reading each run's config and the end of its metrics file.
    Each: {"backbone": "run:<id>", "label": ..., "run_id", "model", "dataset", "test_acc"}; newest first."""
    from .runs import RunStore

    store = store or RunStore()
    runs = store.list()
    if run_ids is not None:
        wanted = set(run_ids)
        runs = [r for r in runs if r.run_id in wanted]
    out = []
    for run in runs[:max(0, limit)]:
        try:
            cfg = run.config()
        except Exception:  # an unreadable config.json: not offered
            continue
        if cfg.model.name not in ("cnn", "lenet5") or _run_weights_path(run) is None:
            continue
        acc = _last_test_acc(run)
        label = f"run {run.run_id}: {cfg.model.name} on {cfg.data.dataset}" + \
            (f", test accuracy {acc:.1%}" if acc is not None else "")
        out.append({"backbone": f"run:{run.run_id}", "label": label, "run_id": run.run_id, "model": cfg.model.name,
                    "dataset": cfg.data.dataset, "test_acc": acc})
    return out


def run_features(run_id: str, store=None) -> FeatureNet:
    """The conv stack of a playground-trained CNN (a run in the run store) as a feature network."""
    from .models import build_model
    from .runs import RunStore

    store = store or RunStore()
    run = store.open(run_id)
    cfg = run.config()
    if cfg.model.name not in ("cnn", "lenet5"):
        raise ConfigError(f"Run {run_id} trained a {cfg.model.name}; style transfer needs a convolutional "
                          "network (cnn or lenet5). Pick another run or train a cnn on the Train page.")
    path = _run_weights_path(run)
    start = _run_start(run)
    if path is None or start is None:
        raise CheckpointError(f"Run {run_id} has no saved weights yet (it never finished an epoch). "
                              "Pick another run, or let it train longer.")
    from .runs import load_checkpoint

    ckpt = load_checkpoint(path)
    d = start["dataset"]
    c, h, w = d["shape"]
    model = build_model(cfg.model.name, in_shape=(c, h, w), num_classes=len(d["classes"]), **dict(cfg.model.params))
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise CheckpointError(f"{path} does not match run {run_id}'s model: {str(e)[:300]}") from None
    leaves = [m for m in model.features.modules() if not list(m.children())]
    layers = name_layers(leaves)
    acts = [n for n, m in layers if not n.startswith(("conv_", "bn_", "pool_"))]
    convs = [n for n, _ in layers if n.startswith("conv_")]
    style = {n: 1.0 for n in (acts or convs)}
    content = ((acts or convs)[-2] if len(acts or convs) > 1 else (acts or convs)[-1],)
    notes = [f"Lower quality than VGG19: this network was trained on {d['name']} ({h}x{w} images, "
             f"{len(d['classes'])} classes), so its filters know far fewer textures; expect coarse results "
             "and tune the style weight (its features have another scale)."]
    if c == 1:
        notes.append("It was trained on grayscale images: it sees the luminance only, so colours come from the "
                     "starting image.")
    return FeatureNet(label=f"playground {cfg.model.name} (run {run_id}, {d['name']})", layers=layers,
                      mean=tuple(d["mean"]), std=tuple(d["std"]), in_channels=c, default_content=content,
                      default_style=style, lower_quality=True, notes=notes)


_NET_LOCK = threading.Lock()


def _on(net: FeatureNet, device: torch.device) -> FeatureNet:
    for _, m in net.layers:
        m.to(device).eval().requires_grad_(False)
    return net


@lru_cache(maxsize=4)
def _cached_net(backbone: str, key: tuple, download: bool, device: torch.device) -> FeatureNet:
    if backbone.startswith("run:"):
        from .runs import RunStore

        return _on(run_features(backbone[4:], RunStore(key[0])), device)
    return _on(BACKBONES.get(backbone)(download=download), device)


def _cache_key(backbone: str, store_root: str | None) -> tuple:
    """What identifies the files behind a backbone (so a new TORCH_HOME or a replaced file reloads)."""
    if backbone.startswith("run:"):
        from .runs import RunStore

        root = str(Path(store_root) if store_root else RunStore().root)
        return (root, backbone)
    from .weights import resolve_weights, weights_file

    if backbone not in BACKBONES:
        BACKBONES.get(backbone)  # the list of choices
    p = weights_file(resolve_weights(backbone))
    return (str(p), p.stat().st_mtime if p.is_file() else None)


def feature_net(backbone: str, *, device: torch.device | str = "cpu", download: bool = True,
                store_root: str | None = None, progress: Callable[[int, int], None] | None = None) -> FeatureNet:
    """Load (once per process; shared read-only by every caller) the named feature network.

    Offline and uncached VGG weights raise WeightsUnavailable saying where the file goes; the
    message also offers a playground-trained CNN."""
    from .errors import WeightsUnavailable

    key, device = _cache_key(backbone, store_root), torch.device(device)
    with _NET_LOCK:
        try:
            if progress is not None and not backbone.startswith("run:") and key[1] is None:
                BACKBONES.get(backbone)(download=download, progress=progress)  # a download: report its progress
                key = _cache_key(backbone, store_root)
            return _cached_net(backbone, key, download, device)
        except WeightsUnavailable as e:
            raise WeightsUnavailable(f"{e} Or use a CNN trained in the playground as the feature network "
                                     "(lower quality; choose backbone run:<run id>, or train a cnn on the "
                                     "Train page first).") from None


class Extractor(nn.Module):
    """Normalise the image, run the feature stack up to the last tapped layer, return the tapped outputs."""

    def __init__(self, net: FeatureNet, taps: set[str], channels_last: bool):
        super().__init__()
        names = net.names()
        last = max(names.index(t) for t in taps)
        self.names = names[:last + 1]
        mods = []
        for i, (name, m) in enumerate(net.layers[:last + 1]):
            if isinstance(m, nn.ReLU):
                # In place saves a copy per layer, except right after a tapped layer, whose output
                # the losses still hold.
                m = nn.ReLU(inplace=i > 0 and names[i - 1] not in taps)
            mods.append(m)
        self.body = nn.ModuleList(mods)
        self.taps = taps
        self.gray = net.in_channels == 1
        self.register_buffer("mean", torch.tensor(net.mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(net.std).view(1, -1, 1, 1))
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.eval().requires_grad_(False)

    def forward(self, image: torch.Tensor, want: set[str] | None = None) -> dict[str, torch.Tensor]:
        want = self.taps if want is None else want
        x = image  # (1, 3, H, W) in [0, 1]
        if self.gray:
            x = (x * x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        x = ((x - self.mean) / self.std).contiguous(memory_format=self.memory_format)
        out: dict[str, torch.Tensor] = {}
        for name, layer in zip(self.names, self.body):
            x = layer(x)
            if name in want:
                out[name] = x
                if len(out) == len(want):
                    break  # nothing deeper is needed for this pass
        return out


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C): channel correlations sum_p F[c, p] F[d, p], divided by C*H*W as in the tutorial."""
    b, c, h, w = f.shape
    if f.is_contiguous(memory_format=torch.channels_last) and not f.is_contiguous():
        m = f.permute(0, 2, 3, 1).reshape(b, h * w, c)  # a view, no copy: (B, HW, C)
        g = m.mT @ m
    else:
        m = f.reshape(b, c, h * w)  # (B, C, HW)
        g = m @ m.mT
    return g / (c * h * w)


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation: mean absolute difference of horizontal and vertical neighbours."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


# -- optimisers ----------------------------------------------------------------------------------

STYLE_OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("style optimiser")


@STYLE_OPTIMIZERS.register("lbfgs")
def _lbfgs(params, lr: float = 1.0) -> torch.optim.Optimizer:
    """L-BFGS (the tutorial's choice): one loss evaluation per step, so the page can update between steps"""
    # max_iter=1 per .step(): the curvature history lives in the optimiser state, so N calls do the
    # same iterations as one call with max_iter=N, and Stop and previews happen between them.
    return torch.optim.LBFGS(params, lr=lr, max_iter=1)


@STYLE_OPTIMIZERS.register("adam")
def _adam(params, lr: float = 0.02) -> torch.optim.Optimizer:
    """Adam on the pixels: cheaper steps, more of them needed"""
    return torch.optim.Adam(params, lr=lr)


# -- the loop ------------------------------------------------------------------------------------

def _device(name: str) -> torch.device:
    from .engine import resolve_device

    return resolve_device(name)


def transfer(content: Any, style: Any, settings: StyleSettings | None = None, *, controls: Any = None,
             preview_every: int = 10, net: FeatureNet | None = None, store_root: str | None = None,
             channels_last: bool = True, progress: Callable[[int, int], None] | None = None
             ) -> Iterator[dict[str, Any]]:
    """Style transfer as events (see the module docstring). ``content``/``style``: anything ``load_image``
    takes (default: the names in ``settings``). ``controls``: anything with a ``stopped`` property.
    Bad input raises PlaygroundError before the first event."""
    t0 = time.perf_counter()
    s = (settings or StyleSettings()).validate()
    device = _device(s.device)
    content_img = load_image(s.content if content is None else content, s.size, "content image").to(device)
    style_img = load_image(s.style if style is None else style, s.size, "style image").to(device)
    net = net or feature_net(s.backbone, device=device, store_root=store_root, progress=progress)
    content_layers = tuple(s.content_layers) if s.content_layers is not None else net.default_content
    style_layers = dict(s.style_layers) if s.style_layers is not None else dict(net.default_style)
    if s.content_weight == 0:
        content_layers = ()
    style_layers = {k: float(v) for k, v in style_layers.items() if v > 0} if s.style_weight > 0 else {}
    net.check(content_layers, style_layers)
    ext = Extractor(net, set(content_layers) | set(style_layers), channels_last).to(device)

    with torch.no_grad():  # targets once: the content's features, the style's Gram matrices
        c_targets = {k: v.detach().clone() for k, v in ext(content_img, set(content_layers)).items()}
        s_targets = {k: gram_matrix(v) for k, v in ext(style_img, set(style_layers)).items()}

    gen = torch.Generator(device="cpu").manual_seed(s.seed)
    if s.init == "noise":
        image = torch.rand(content_img.shape, generator=gen).to(device)
    else:
        image = content_img.clone()
    image.requires_grad_(True)
    opt = STYLE_OPTIMIZERS.call(s.optimizer, [image], lr=s.lr)
    losses = {"content": 0.0, "style": 0.0, "tv": 0.0, "total": 0.0}

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        feats = ext(image)
        zero = image.new_zeros(())
        c_loss = sum((F.mse_loss(feats[k], c_targets[k]) for k in content_layers), zero) * s.content_weight
        s_loss = sum((F.mse_loss(gram_matrix(feats[k]), s_targets[k]) * w for k, w in style_layers.items()),
                     zero) * s.style_weight
        t_loss = tv_loss(image) * s.tv_weight if s.tv_weight > 0 else zero
        total = c_loss + s_loss + t_loss
        total.backward()
        losses.update(content=c_loss.detach(), style=s_loss.detach(), tv=t_loss.detach(), total=total.detach())
        return total

    def picture(x: torch.Tensor) -> np.ndarray:
        return to_uint8(preserve_colour(x, content_img) if s.preserve_colour else x)

    notes = list(net.notes)
    h, w = content_img.shape[-2:]
    setup = time.perf_counter() - t0
    yield {"kind": "start", "device": str(device), "backbone": net.label, "lower_quality": net.lower_quality,
           "size": [int(h), int(w)], "style_size": list(style_img.shape[-2:]), "steps": s.steps,
           "content_layers": list(content_layers), "style_layers": style_layers, "notes": notes,
           "setup_seconds": round(setup, 3), "t": round(setup, 3)}

    t_opt = time.perf_counter()
    good = image.detach().clone()  # the last image whose loss was finite
    step, final = 0, None
    vals = dict(losses)
    while step < s.steps:
        if controls is not None and getattr(controls, "stopped", False):
            final = {"kind": "stopped", "message": f"Stopped at step {step} of {s.steps}; the result so far is kept."}
            break
        before = image.detach().clone()  # the image this step's loss is evaluated at
        opt.step(closure)
        step += 1
        vals = {k: float(v) for k, v in losses.items()}  # the sync point
        if not all(math.isfinite(v) for v in vals.values()):
            with torch.no_grad():
                image.copy_(before if bool(torch.isfinite(before).all()) else good)
            final = {"kind": "diverged", "message": (
                f"The loss became {vals['total']} at step {step}: it overflowed (float32 holds up to about 3e38), "
                "so the run stopped and keeps the last good image. Lower the style, content or TV weight "
                f"(the tutorial uses style 1e6, content 1).")}
            break
        with torch.no_grad():
            image.clamp_(0, 1)  # the tutorial's projection back into the valid pixel range
        good = before
        event = {"kind": "step", "step": step, **{k: _sig(v) for k, v in vals.items()},
                 "t": round(time.perf_counter() - t0, 3)}
        if preview_every and (step % preview_every == 0 or step == s.steps):
            event["image"] = picture(image.detach())
        yield event
    seconds = time.perf_counter() - t_opt
    final = final or {"kind": "done"}
    final.update({"step": step, **{k: _sig(v) for k, v in vals.items()}, "seconds": round(seconds, 3),
                  "seconds_per_step": round(seconds / max(step, 1), 4), "t": round(time.perf_counter() - t0, 3),
                  "size": [int(h), int(w)], "device": str(device), "image": picture(image.detach())})
    yield final


def _sig(v: float) -> float:
    return float(f"{v:.6g}")


def run_transfer(settings: StyleSettings, content: Any = None, style: Any = None, **kw: Any
                 ) -> Iterator[dict[str, Any]]:
    """``transfer`` with any PlaygroundError turned into an ``error`` event (for workers and the CLI)."""
    try:
        yield from transfer(content, style, settings, **kw)
    except PlaygroundError as e:
        yield {"kind": "error", "message": str(e)}
    except (RuntimeError, MemoryError) as e:  # out of memory, mostly: say what to change
        yield {"kind": "error", "message": f"The transfer failed ({type(e).__name__}: {str(e)[:300]}). A smaller "
                                           "size needs less memory."}


# -- a background worker for the page ------------------------------------------------------------

def _max_parallel() -> int:
    env = os.environ.get("PLAYGROUND_MAX_STYLE_JOBS")
    if env:
        return max(1, int(env))
    return max(1, torch.cuda.device_count()) if torch.cuda.is_available() else 1


_SLOTS = threading.BoundedSemaphore(_max_parallel())  # transfers of every session share the device(s)

# A worker whose page stopped asking for snapshots (browser closed, session gone) stops itself after this
# long and keeps its result, so an abandoned 2048 px run does not hold the shared slot for hours. Two
# minutes, not one: a browser throttles the timers of a hidden tab to about one per minute.
ABANDON_AFTER_S = 120.0
# On a CPU server one worker may hold the shared slot for at most about size^2 x steps of this: 5000
# steps at 256 px (the page's maximum; ~0.2 s a step on a 2-core VM), 1250 at 512, 312 at 1024.
CPU_PIXEL_STEPS = 256 * 256 * 5000


class _Stop:
    def __init__(self, expired: Callable[[], bool] = lambda: False) -> None:
        self._ev = threading.Event()
        self._expired = expired

    def stop(self) -> None:
        self._ev.set()

    @property
    def stopped(self) -> bool:
        if not self._ev.is_set() and self._expired():
            self._ev.set()
        return self._ev.is_set()


class StyleWorker:
    """One transfer on a thread; the page reads ``snapshot()`` from its fragment (never st.* here).

    Stop keeps the current result: the worker ends with a ``stopped`` event carrying the image. So does a
    worker nobody polls: ``snapshot()`` not called for ``abandon_after`` seconds. On a CPU the work is
    capped (``CPU_PIXEL_STEPS``): the slot is shared by every session of the server."""

    def __init__(self, settings: StyleSettings, content: Any = None, style: Any = None, *,
                 preview_every: int = 5, store_root: str | None = None, abandon_after: float = ABANDON_AFTER_S):
        settings.validate()
        if _device(settings.device).type == "cpu" and settings.size ** 2 * settings.steps > CPU_PIXEL_STEPS:
            most = CPU_PIXEL_STEPS // settings.size ** 2
            raise ConfigError(f"{settings.steps} steps at {settings.size} px would hold this server's shared "
                              f"style-transfer slot (a CPU) too long: at {settings.size} px use at most {most} steps, "
                              "or a smaller size. `python -m playground style` on your own machine has no limit.")
        self.settings = settings
        self.abandon_after = float(abandon_after)
        self._polled = time.monotonic()
        self.abandoned = False
        self.controls = _Stop(self._expired)
        self._lock = threading.Lock()
        self.state = "queued"
        self.start_event: dict[str, Any] | None = None
        self.final: dict[str, Any] | None = None
        self.curves: dict[str, list[float]] = {k: [] for k in ("step", "content", "style", "tv", "total", "t")}
        self.image: np.ndarray | None = None
        self.download: tuple[int, int] | None = None
        self.version = 0
        self._args = (content, style, preview_every, store_root)
        self.thread = threading.Thread(target=self._work, name="style-transfer", daemon=True)
        self.thread.start()

    def _progress(self, done: int, total: int) -> None:
        with self._lock:
            self.download = (done, total)
            self.version += 1

    def _expired(self) -> bool:
        if time.monotonic() - self._polled > self.abandon_after:
            self.abandoned = True
        return self.abandoned

    def _work(self) -> None:
        content, style, preview_every, store_root = self._args
        with _SLOTS:
            if self.controls.stopped:
                self._add({"kind": "stopped", "message": "Stopped before it started.", "step": 0})
                return
            self.state = "running"
            try:
                for e in run_transfer(self.settings, controls=self.controls, preview_every=preview_every,
                                      store_root=store_root, progress=self._progress,
                                      **({"content": content} if content is not None else {}),
                                      **({"style": style} if style is not None else {})):
                    self._add(e)
            finally:
                if self.state in ("queued", "running"):
                    self._add({"kind": "error", "message": "The transfer ended without a result."})

    def _add(self, e: dict[str, Any]) -> None:
        with self._lock:
            kind = e["kind"]
            if kind == "start":
                self.start_event = e
                self.image = None
            elif kind == "step":
                for k in self.curves:
                    self.curves[k].append(e[k])
            if "image" in e:
                self.image = e["image"]
            if kind in ("done", "stopped", "diverged", "error"):
                self.final = {k: v for k, v in e.items() if k != "image"}
                if kind == "stopped" and self.abandoned:
                    self.final["message"] = (f"Stopped at step {e.get('step', 0)}: nobody had looked at this transfer "
                                             f"for {self.abandon_after:.0f} s (the page was closed or left), so it "
                                             "gave the shared slot back. The result so far is kept.")
                self.state = kind
            self.version += 1

    def stop(self) -> None:
        self.controls.stop()

    @property
    def live(self) -> bool:
        return self.state in ("queued", "running")

    def snapshot(self) -> dict[str, Any]:
        """The page's view of the run; each call also tells the worker someone is still watching."""
        self._polled = time.monotonic()
        with self._lock:
            return {"state": self.state, "start": self.start_event, "final": self.final, "image": self.image,
                    "curves": {k: list(v) for k, v in self.curves.items()}, "download": self.download,
                    "version": self.version}

    def result(self) -> dict[str, Any]:
        """Settings and final figures (the settings JSON download)."""
        snap = self.snapshot()
        return {"settings": self.settings.to_dict(), "result": snap["final"],
                "backbone": (snap["start"] or {}).get("backbone")}


# -- plots ---------------------------------------------------------------------------------------

def loss_figure(curves: Mapping[str, Sequence[float]]):
    """Content, style and TV loss (weighted, as optimised) against step: three panels, log scale."""
    import plotly.graph_objects as go

    from .plots import _axis, _layout, downsample

    panels = (("content", "#1f77b4"), ("style", "#d62728"), ("tv", "#2ca02c"))
    traces, axes = [], {}
    for i, (name, colour) in enumerate(panels):
        suffix = "" if i == 0 else str(i + 1)
        x, y = downsample(curves.get("step", []), curves.get(name, []))
        y = np.where(y > 0, y, np.nan)  # a log axis cannot show 0 (a weight of 0 switches a loss off)
        traces.append(go.Scatter(x=x, y=y, name=f"{name} loss", line=dict(color=colour),
                                 xaxis=f"x{suffix}", yaxis=f"y{suffix}"))
        lo, hi = i / 3 + (0.04 if i else 0), (i + 1) / 3 - (0.04 if i < 2 else 0)
        axes[f"xaxis{suffix}"] = _axis("step", domain=[lo, hi], anchor=f"y{suffix}")
        axes[f"yaxis{suffix}"] = _axis(f"{name} loss" if name != "tv" else "TV loss", type="log",
                                       anchor=f"x{suffix}", exponentformat="power")
    notes = [dict(text="off (weight 0)", xref=f"x{'' if i == 0 else i + 1} domain", yref=f"y{'' if i == 0 else i + 1} domain",
                  x=0.5, y=0.5, showarrow=False, font=dict(color="#888"))
             for i, (name, _) in enumerate(panels) if curves.get(name) and not any(curves[name])]
    return go.Figure(data=traces, layout=_layout(height=300, showlegend=False, annotations=notes, **axes))


def save_random_weights(arch: str = "vgg19", seed: int = 0) -> Path:
    """For benchmarks and tests where the real weights are absent (no network): write a state dict with
    ``arch``'s real keys and shapes where torch hub looks for the weights (``weights_file``). Conv layers get
    torchvision's VGG initialisation (Kaiming normal, fan_out), the unused classifier zeros. Timings are
    the same as with the trained weights; results look like noise, not like art."""
    from torchvision.models import get_model
    from torchvision.models.vgg import cfgs, make_layers

    from .weights import resolve_weights, weights_file

    cfg = VGG_CFG[arch]
    torch.manual_seed(seed)
    feats = make_layers(cfgs[cfg], batch_norm=False)
    for m in feats.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in get_model(arch, weights=None).state_dict().items()}
    state = {f"features.{k}": v for k, v in feats.state_dict().items()}
    state.update({k: torch.zeros(s) for k, s in shapes.items() if k not in state})
    path = weights_file(resolve_weights(arch))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


# -- command line: `python -m playground style ...` (wired in cli.py) -----------------------------

def _pairs(items: Sequence[str] | None, flag: str) -> dict[str, float] | None:
    if items is None:
        return None
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name] = float(value) if sep else 1.0
        except ValueError:
            raise ConfigError(f"--{flag} takes LAYER or LAYER=WEIGHT, e.g. conv_1=1 conv_3=0.5 (got {item!r}).") from None
    return out


def add_style_args(p) -> None:
    d = StyleSettings()
    p.add_argument("--settings", help="a settings JSON (as the page downloads it) to start from; flags override it")
    p.add_argument("--content", help=f"content image: a file or a built-in name ({', '.join(list_images())}); "
                                     f"default {d.content}")
    p.add_argument("--style", help=f"style image: a file or a built-in name; default {d.style}")
    p.add_argument("--size", type=int, help=f"long side of the result in pixels, aspect kept (default {d.size})")
    p.add_argument("--steps", type=int, help=f"loss evaluations (default {d.steps})")
    p.add_argument("--backbone", help="vgg19 (default), vgg16, or run:<run_id> for a CNN trained in the "
                                      "playground (works offline; lower quality)")
    p.add_argument("--content-layers", nargs="*", help="default: the backbone's (vgg: conv_4)")
    p.add_argument("--style-layers", nargs="*", metavar="LAYER[=WEIGHT]",
                   help="default: the backbone's (vgg: conv_1 .. conv_5, weight 1 each)")
    p.add_argument("--content-weight", type=float, help=f"default {d.content_weight:g}")
    p.add_argument("--style-weight", type=float, help=f"default {d.style_weight:g}")
    p.add_argument("--tv-weight", type=float, help=f"total-variation weight (default {d.tv_weight:g})")
    p.add_argument("--optimizer", choices=STYLE_OPTIMIZERS.names(), help=f"default {d.optimizer}")
    p.add_argument("--lr", type=float, help="learning rate (default: L-BFGS 1, Adam 0.02)")
    p.add_argument("--init", choices=INITS, help=f"start from the content image or noise (default {d.init})")
    p.add_argument("--preserve-colour", action=argparse_bool(), help="keep the content image's colours")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto (default), cpu or cuda")
    p.add_argument("--runs", help="run store for run:<id> backbones (default $PLAYGROUND_RUNS or ./runs)")
    p.add_argument("--out", default="style-result.png", help="where the result PNG goes (default style-result.png)")
    p.add_argument("--json", action="store_true", help="last stdout line: final losses, seconds, ... as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def argparse_bool():
    import argparse

    return argparse.BooleanOptionalAction


def settings_from_args(args) -> StyleSettings:
    base = StyleSettings()
    if args.settings:
        try:
            data = json.loads(Path(args.settings).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"Cannot read the settings file {args.settings}: {e}.") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{args.settings} does not hold a settings object.")
        base = StyleSettings.from_dict(data.get("settings", data))  # the page's download nests it
    changes = {k: getattr(args, k) for k in ("content", "style", "size", "steps", "backbone", "content_weight",
                                             "style_weight", "tv_weight", "optimizer", "lr", "init",
                                             "preserve_colour", "seed", "device") if getattr(args, k) is not None}
    if args.content_layers is not None:
        changes["content_layers"] = tuple(args.content_layers)
    if args.style_layers is not None:
        changes["style_layers"] = _pairs(args.style_layers, "style-layers")
    return base.replace(**changes).validate()


def cmd_style(args) -> int:
    import sys

    s = settings_from_args(args)
    out_path = Path(args.out)
    if not out_path.parent.is_dir():
        raise ConfigError(f"The folder for --out ({out_path.parent}) does not exist.")
    log = sys.stderr if args.json else sys.stdout
    every = max(1, s.steps // 20)
    final: dict[str, Any] = {}
    start: dict[str, Any] = {}
    for e in transfer(None, None, s, preview_every=0, store_root=args.runs):
        kind = e["kind"]
        if kind == "start":
            start = e
            print(f"{e['backbone']} on {e['device']}: content {e['size'][1]}x{e['size'][0]}, style "
                  f"{e['style_size'][1]}x{e['style_size'][0]}, {e['steps']} steps of {s.optimizer} "
                  f"(setup {e['setup_seconds']:.1f} s)", file=log, flush=True)
            for note in e["notes"]:
                print(f"  note: {note}", file=log, flush=True)
        elif kind == "step":
            if not args.quiet and (e["step"] % every == 0):
                print(f"  step {e['step']:>5}  content {e['content']:.4g}  style {e['style']:.4g}  "
                      f"tv {e['tv']:.4g}  total {e['total']:.4g}  ({e['t']:.1f} s)", file=log, flush=True)
        else:
            final = e
    Image.fromarray(final["image"]).save(out_path, format="PNG")
    kind = final["kind"]
    line = f"{kind}: {final['step']} steps in {final['seconds']:.1f} s, total loss {final['total']:.4g}; wrote {out_path}"
    print(line + (f"\n{final['message']}" if "message" in final else ""), file=log, flush=True)
    if args.json:
        result = {"status": kind, **{k: final[k] for k in ("content", "style", "tv", "total", "seconds",
                                                          "seconds_per_step", "step", "size", "device")},
                  "setup_seconds": start.get("setup_seconds"), "backbone": start.get("backbone"),
                  "out": str(out_path)}
        if "message" in final:
            result["message"] = final["message"]
        print(json.dumps(result), flush=True)
    return {"done": 0, "stopped": 1, "diverged": 1}.get(kind, 2)
