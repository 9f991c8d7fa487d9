"""The source task: what the pretrained backbone itself predicts (ImageNet top-5) for a photo,
with the weights' own transforms and ``weights.meta["categories"]``."""

from __future__ import annotations

import io
import threading
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ConfigError
from ..models.transfer import backbone_spec
from ..weights import pretrained_model, resolve_weights, weights_file

__all__ = ["load_photo", "imagenet_top5"]

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
