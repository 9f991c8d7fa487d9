"""What the Transfer learning page shows: the surgery, the source task, the cost.

- ``surgery_table``: the module tree as rows (name, type, output shape, parameters,
  trainable, block), read from the model itself (forward hooks, ``requires_grad``).
- ``freeze_options``: the freeze-depth slider's stops, from "only the new head" to "everything".
- ``imagenet_top5``: the pretrained backbone's own task, on an uploaded photo, with the
  weights' transforms and ``weights.meta["categories"]``.
- ``time_backbone`` / ``epoch_estimate``: a quick timing of the chosen backbone and size,
  turned into seconds per epoch for full forward passes and for the feature cache.
- ``top5_figure`` / ``comparison_figure``: plotly figures in the style of ``plots``.
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any, Callable, Sequence

import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn as nn
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ConfigError
from .models.transfer import BACKBONES, TransferNet, backbone_spec, build_transfer
from .plots import TEST, TRAIN, _axis, _layout

__all__ = ["FOUR_CASES", "surgery_table", "freeze_options", "load_photo", "imagenet_top5", "time_backbone", "epoch_estimate",
           "top5_figure", "comparison_figure", "backbone_choices"]


# The four cases (cs231n's "transfer learning" notes): how much data, how close to the source task,
# and the setting each suggests. ``settings`` are the transfer model's parameters plus the learning rate.
FOUR_CASES: list[dict[str, Any]] = [
    {"case": "small data, similar to the source",
     "why": "Too few images to fine-tune millions of weights without overfitting, and the pretrained "
            "features already fit: train only a new linear head on them.",
     "settings": {"freeze": "head_only", "k": 1, "backbone_lr_scale": 0.1, "feature_cache": True, "lr": 3e-3}},
    {"case": "large data, similar to the source",
     "why": "Enough images to adjust the backbone safely: fine-tune everything, the backbone at a "
            "tenth of the head's learning rate so the good features are nudged, not erased.",
     "settings": {"freeze": "finetune_all", "k": 1, "backbone_lr_scale": 0.1, "feature_cache": False, "lr": 1e-3}},
    {"case": "small data, different from the source",
     "why": "The last blocks are the most source-specific; with few images, retrain only them (and "
            "the head) at a low rate, and augment.",
     "settings": {"freeze": "last_k", "k": 2, "backbone_lr_scale": 0.1, "feature_cache": False, "lr": 1e-3}},
    {"case": "large data, different from the source",
     "why": "Enough data to train much of the network: fine-tune everything at the full rate; the "
            "pretrained start still converges faster than a random one.",
     "settings": {"freeze": "finetune_all", "k": 1, "backbone_lr_scale": 1.0, "feature_cache": False, "lr": 1e-3}},
]


def backbone_choices() -> dict[str, str]:
    """name -> one line about it (for the page's select box)."""
    return {name: b.note for name, b in BACKBONES.items()}


def _trainable(mod: nn.Module) -> str:
    flags = [q.requires_grad for q in mod.parameters()]
    if not flags:
        return "—"
    return "yes" if all(flags) else "no" if not any(flags) else "partly"


@torch.no_grad()
def surgery_table(model: TransferNet, in_shape: tuple[int, int, int], max_depth: int | None = None) -> list[dict[str, Any]]:
    """One row per module of the backbone (names as torchvision spells them: ``classifier.6``),
    with the output shape of one (1, C, H, W) image, parameters (own and below), and whether
    they train. ``max_depth`` 1 keeps the top-level modules only."""
    block_of = {name: label for label, names in model.spec.blocks for name in names}
    shapes: dict[str, list[int]] = {}
    hooks = []

    def record(name: str):
        def hook(_m, _i, out) -> None:  # returns None: the output is left as it is
            if torch.is_tensor(out):
                shapes.setdefault(name, list(out.shape))
        return hook

    for name, mod in model.backbone.named_modules():
        if name:
            hooks.append(mod.register_forward_hook(record(name)))
    was_training = model.training
    model.eval()
    try:
        x = torch.rand(1, *in_shape, device=next(model.parameters()).device)
        pre = model.preprocess(x)
        model.backbone(pre)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    rows = [{"name": "(preprocess)", "type": "Preprocess", "depth": 0, "output shape": str(list(pre.shape)),
             "parameters": 0, "trainable": "—", "block": "",
             "note": f"grey -> RGB, resize to {model.preprocess.size} px, normalise (weights' transforms)"}]
    for name, mod in model.backbone.named_modules():
        if not name:
            continue
        depth = name.count(".") + 1
        if max_depth is not None and depth > max_depth:
            continue
        block = next((label for prefix, label in block_of.items()
                      if name == prefix or name.startswith(prefix + ".")), "")
        note = ""
        if name == model.spec.head:
            block = "head"
            note = f"new head, replaces {model.replaced['old']}"
        rows.append({"name": name, "type": type(mod).__name__, "depth": depth,
                     "output shape": str(shapes[name]) if name in shapes else "",
                     "parameters": sum(q.numel() for q in mod.parameters()), "trainable": _trainable(mod),
                     "block": block, "note": note})
    return rows


def freeze_options(backbone: str) -> list[dict[str, Any]]:
    """The freeze-depth slider's stops: (label, freeze, k), from the head alone to every block."""
    spec = backbone_spec(backbone)
    labels = [label for label, _ in spec.blocks]
    out = [{"label": "train only the new head", "freeze": "head_only", "k": 1}]
    for k in range(1, len(labels)):
        out.append({"label": f"unfreeze the last {k} block{'s' if k > 1 else ''} (from {labels[-k]})",
                    "freeze": "last_k", "k": k})
    out.append({"label": "fine-tune everything", "freeze": "finetune_all", "k": 1})
    return out


# -- the source task: ImageNet top-5 of a photo ------------------------------------------

_models: dict[str, tuple[float, nn.Module]] = {}
_models_lock = threading.Lock()


def load_photo(data: bytes) -> Image.Image:
    """Any image file Pillow reads, in any mode (palette, RGBA, 16-bit grey, CMYK) -> 8-bit RGB."""
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except Image.DecompressionBombError:
        raise ConfigError(f"This photo is too large to open safely (more than {Image.MAX_IMAGE_PIXELS * 2:,} "
                          "pixels); downscale it (the model sees 224 x 224 anyway) and upload it again.") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ConfigError(f"This file is not an image Pillow can read ({type(e).__name__}); "
                          "upload a JPEG, PNG, WebP, BMP or TIFF.") from None
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):  # Pillow's convert would clip these
        a = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") else max(float(a.max()), 1.0)
        im = Image.fromarray(np.clip(a / hi * 255, 0, 255).round().astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255, 255)), im)  # transparent -> white
    return im.convert("RGB")


def _pretrained(backbone: str, download: bool, progress) -> tuple[nn.Module, Any]:
    from .weights import pretrained_model, resolve_weights, weights_file

    w = resolve_weights(backbone_spec(backbone).arch)
    path = weights_file(w)
    with _models_lock:  # one model per backbone and weights file (reloaded if the file changes)
        hit = _models.get(backbone)
        if hit is not None and path.is_file() and hit[0] == path.stat().st_mtime:
            return hit[1], w
    model, w = pretrained_model(backbone_spec(backbone).arch, download=download, progress=progress)
    model.eval()
    with _models_lock:
        _models[backbone] = (path.stat().st_mtime, model)
    return model, w


@torch.no_grad()
def imagenet_top5(backbone: str, image: Image.Image | bytes, *, download: bool = False,
                  progress: Callable[[int, int], None] | None = None, k: int = 5) -> list[dict[str, Any]]:
    """The pretrained backbone's own prediction: the top ``k`` of its 1,000 ImageNet classes.

    Raises WeightsUnavailable (naming the file and folder) when the weights are not cached
    and cannot be downloaded."""
    model, w = _pretrained(backbone, download, progress)
    if isinstance(image, (bytes, bytearray)):
        image = load_photo(bytes(image))
    x = w.transforms()(image.convert("RGB")).unsqueeze(0)  # (1, 3, 224, 224): the weights' resize, crop, mean/std
    probs = model(x).softmax(1)[0]
    top = probs.topk(k)
    names = w.meta["categories"]
    return [{"class": names[i], "index": int(i), "probability": float(p)}
            for p, i in zip(top.values.tolist(), top.indices.tolist())]


# -- cost: a quick timing -> seconds per epoch ---------------------------------------------

def time_backbone(backbone: str, image_size: int, *, freeze: str = "head_only", k: int = 1, in_channels: int = 3,
                  batch_size: int = 16, steps: int = 2, device: str | torch.device = "cpu",
                  num_classes: int = 10) -> dict[str, float]:
    """Images per second of the chosen backbone and size (random weights: the cost does not depend on them):
    forward passes (what the feature cache costs once), training steps with the chosen freezing (a full
    forward pass per step), and head-only steps on features (an epoch on the cache)."""
    device = torch.device(device)
    torch.manual_seed(0)
    model = build_transfer(in_shape=(in_channels, image_size, image_size), num_classes=num_classes,
                           backbone=backbone, weights="none", freeze=freeze, k=k, image_size=image_size).to(device)
    x = torch.rand(batch_size, in_channels, image_size, image_size, device=device)
    y = torch.randint(0, num_classes, (batch_size,), device=device)
    opt = torch.optim.SGD([q for q in model.parameters() if q.requires_grad], lr=1e-3)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def rate(fn, n_steps: int, n_images: int) -> float:
        fn()  # warm-up (allocations, cudnn choices)
        sync()
        t0 = time.perf_counter()
        for _ in range(n_steps):
            fn()
        sync()
        return n_steps * n_images / max(time.perf_counter() - t0, 1e-9)

    def forward():
        with torch.no_grad():
            model.eval()
            model.features(x)

    def train_step():
        model.train()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    feats = torch.randn(256, model.in_features, device=device)
    yf = torch.randint(0, num_classes, (256,), device=device)

    def head_step():
        loss = nn.functional.cross_entropy(model(feats), yf)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return {"forward_images_per_s": rate(forward, steps, batch_size),
            "train_images_per_s": rate(train_step, steps, batch_size),
            "head_images_per_s": rate(head_step, 20, 256)}


def epoch_estimate(timing: dict[str, float], n_train: int, n_test: int) -> dict[str, float]:
    """Seconds per epoch: full forward passes (train steps + a test pass) vs the feature cache
    (one forward pass over train + test, then epochs of the head alone)."""
    full = n_train / timing["train_images_per_s"] + n_test / timing["forward_images_per_s"]
    once = (n_train + n_test) / timing["forward_images_per_s"]
    head = (n_train + n_test) / timing["head_images_per_s"]
    return {"full_epoch_s": full, "cache_once_s": once, "cache_epoch_s": head,
            "speedup_per_epoch": full / max(head, 1e-9)}


# -- figures ---------------------------------------------------------------------------

def top5_figure(rows: Sequence[dict[str, Any]], title: str = "ImageNet top-5") -> go.Figure:
    names = [r["class"] for r in rows][::-1]  # the best on top
    probs = [r["probability"] for r in rows][::-1]
    bar = go.Bar(x=probs, y=names, orientation="h", marker_color=TRAIN, text=[f"{p:.1%}" for p in probs],
                 textposition="auto", hovertemplate="%{y}: %{x:.2%}<extra></extra>")
    return go.Figure(bar, layout=_layout(title, 280, xaxis=_axis("probability", range=[0, 1])))


def comparison_figure(runs: dict[str, list[dict[str, Any]]]) -> go.Figure:
    """Test accuracy per epoch of several runs on the same data (e.g. from scratch vs transferred)."""
    colours = [TEST, TRAIN, "#2ca02c", "#9467bd", "#ff7f0e"]
    traces = [go.Scatter(x=[e["epoch"] + 1 for e in epochs], y=[e["test_acc"] for e in epochs], name=label,
                         mode="lines+markers", line=dict(color=colours[i % len(colours)]))
              for i, (label, epochs) in enumerate(runs.items())]
    return go.Figure(data=traces, layout=_layout("test accuracy: from scratch vs transferred",
                                                 xaxis=_axis("epoch", dtick=1),
                                                 yaxis=_axis("test accuracy", range=[0, 1.02])))
