"""The source task: what the pretrained backbone itself predicts (ImageNet top-5) for a photo,
with the weights' own transforms and ``weights.meta["categories"]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from PIL import Image

from ..images import decode
from ..models.transfer import backbone_spec
from ..weights import pretrained_model

__all__ = ["load_photo", "imagenet_top5"]


def load_photo(source: bytes | str | Path | Image.Image, name: str | None = None) -> Image.Image:
    """Any image the one decoder reads (``playground.images``: palette, RGBA, 16-bit grey, CMYK, EXIF, the
    pixel cap) -> 8-bit RGB. ``name``: the file's name, for the messages. Raises ConfigError."""
    label = f"The photo {name!r}" if name else "This photo"
    return decode(source, mode="RGB", label=label)


@torch.no_grad()
def imagenet_top5(
    backbone: str,
    image: Image.Image | bytes,
    *,
    download: bool = False,
    progress: Callable[[int, int], None] | None = None,
    k: int = 5,
    name: str | None = None,
) -> list[dict[str, Any]]:
    """The pretrained backbone's own prediction: the top ``k`` of its 1,000 ImageNet classes (``name``: the
    photo's file name, for the messages). It builds the backbone (vgg16: 528 MB of weights), so the pages
    call it through a job (``source_task``), in a worker process, never in the web server's.

    Raises WeightsUnavailable (naming the file and folder) when the weights are not cached
    and cannot be downloaded, ConfigError when the photo cannot be read."""
    image = load_photo(image, name)  # a PIL image too: alpha onto white, like a file; checked before loading
    model, w = pretrained_model(backbone_spec(backbone).arch, download=download, progress=progress)
    model.eval()
    x = w.transforms()(image).unsqueeze(0)  # (1, 3, 224, 224): the weights' resize, crop, mean/std
    probs = model(x).softmax(1)[0]
    top = probs.topk(k)
    names = w.meta["categories"]
    return [
        {"class": names[i], "index": int(i), "probability": float(p)}
        for p, i in zip(top.values.tolist(), top.indices.tolist())
    ]
