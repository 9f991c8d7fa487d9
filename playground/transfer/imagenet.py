"""The source task: what the pretrained backbone itself predicts (ImageNet top-5) for a photo,
with the weights' own transforms and ``weights.meta["categories"]``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn
from PIL import Image

from ..images import decode
from ..models.transfer import backbone_spec
from ..weights import pretrained_model, resolve_weights, weights_file

__all__ = ["load_photo", "imagenet_top5"]

_models: dict[str, tuple[float, nn.Module]] = {}
_models_lock = threading.Lock()


def load_photo(source: bytes | str | Path | Image.Image, name: str | None = None) -> Image.Image:
    """Any image the one decoder reads (``playground.images``: palette, RGBA, 16-bit grey, CMYK, EXIF, the
    pixel cap) -> 8-bit RGB. ``name``: the file's name, for the messages. Raises ConfigError."""
    label = f"The photo {name!r}" if name else "This photo"
    return decode(source, mode="RGB", label=label)


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
def imagenet_top5(
    backbone: str,
    image: Image.Image | bytes,
    *,
    download: bool = False,
    progress: Callable[[int, int], None] | None = None,
    k: int = 5,
) -> list[dict[str, Any]]:
    """The pretrained backbone's own prediction: the top ``k`` of its 1,000 ImageNet classes.

    Raises WeightsUnavailable (naming the file and folder) when the weights are not cached
    and cannot be downloaded."""
    model, w = _pretrained(backbone, download, progress)
    image = load_photo(image)  # a PIL image too: alpha onto white, like a file
    x = w.transforms()(image).unsqueeze(0)  # (1, 3, 224, 224): the weights' resize, crop, mean/std
    probs = model(x).softmax(1)[0]
    top = probs.topk(k)
    names = w.meta["categories"]
    return [
        {"class": names[i], "index": int(i), "probability": float(p)}
        for p, i in zip(top.values.tolist(), top.indices.tolist())
    ]
