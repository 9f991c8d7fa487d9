"""Forward passes through a trained model: every layer's output for one image, predictions, the
test images that drive one channel hardest, and turning an uploaded file into a model input.

Layer outputs come from ``torchvision.models.feature_extraction`` (FX), with forward hooks as
the fallback for a model FX cannot trace (see ``Trained.extractor``). Layers without spatial
maps (flatten, linear) come back as vectors."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..errors import ConfigError
from ..images import decode_tensor, hwc
from .trained import Trained

__all__ = ["DROPOUT", "layer_nodes", "activations", "predict", "top_activating", "hwc", "image_from_bytes"]

DROPOUT = (nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.AlphaDropout)


def layer_nodes(tr: Trained) -> list[str]:
    """Every layer output worth showing, in execution order (FX node names; dropout left out)."""
    return list(tr.cached("__nodes__", lambda: tuple(_find_nodes(tr.model))))


def _find_nodes(model: nn.Module) -> list[str]:
    from torchvision.models.feature_extraction import get_graph_node_names

    mods = dict(model.named_modules())
    try:
        _, nodes = get_graph_node_names(model)  # traces the model twice: ~100 ms, so done once
    except Exception:  # untraceable: the leaf modules, in definition order
        nodes = [n for n, m in mods.items() if n and not any(True for _ in m.children())]
    finally:
        model.eval()  # tracing switches train/eval and leaves train mode on when it fails
    return [n for n in nodes if n != "x" and not isinstance(mods.get(n), DROPOUT)]


def _kind(mods: dict[str, nn.Module], node: str) -> str:
    m = mods.get(node)
    return type(m).__name__ if m is not None else node.rsplit(".", 1)[-1]


@torch.no_grad()
def activations(tr: Trained, image: torch.Tensor, nodes: Sequence[str] | None = None) -> dict[str, Any]:
    """Feature maps of every layer for one uint8 image (C, H, W).

    Returns ``layers``: [{name, kind, shape, spatial, maps (C, H, W) | None, vector (N,) | None}],
    ``probs`` (K,) and ``range`` (the largest |value| over all layers, for a global colour scale).
    """
    nodes = tuple(nodes or layer_nodes(tr))
    out = tr.extractor(nodes)(tr.to_input(image))
    layers, top = [], 0.0
    mods = dict(tr.model.named_modules())
    for n in nodes:
        a = out[n][0].float()  # drop the batch dim
        spatial = a.ndim == 3 and a.shape[1] * a.shape[2] > 1
        arr = a.numpy()
        top = max(top, float(np.abs(arr).max()) if arr.size else 0.0)
        layers.append({"name": n, "kind": _kind(mods, n), "shape": tuple(a.shape), "spatial": spatial,
                       "maps": arr if spatial else None, "vector": None if spatial else arr.reshape(-1)})
    logits = out[nodes[-1]] if out[nodes[-1]].ndim == 2 else tr.model(tr.to_input(image))
    return {"layers": layers, "probs": logits[0].float().softmax(0).numpy(), "range": top}


@torch.no_grad()
def predict(tr: Trained, image: torch.Tensor, k: int = 3) -> list[tuple[str, float]]:
    """Top-k classes and probabilities for one uint8 image (C, H, W)."""
    probs = tr.model(tr.to_input(image))[0].float().softmax(0)
    p, i = probs.topk(min(k, len(probs)))
    return [(tr.classes[c], float(q)) for c, q in zip(i.tolist(), p.tolist())]


@torch.no_grad()
def top_activating(tr: Trained, node: str, channel: int, n: int = 12, limit: int = 2000,
                   batch_size: int = 500) -> dict[str, Any]:
    """The test images that drive one channel (spatial mean) or unit hardest: indices, values, images."""
    ex = tr.extractor((node,))
    scores = []
    x = tr.data.test_x[:limit]
    for i in range(0, len(x), batch_size):
        a = ex(tr.to_input(x[i:i + batch_size]))[node].float()  # (B, C, H, W) or (B, N)
        if not 0 <= channel < a.shape[1]:
            raise ConfigError(f"Layer {node} has {a.shape[1]} channels/units; pick 0..{a.shape[1] - 1}.")
        v = a[:, channel]
        scores.append(v.flatten(1).mean(1) if v.ndim > 1 else v)
    s = torch.cat(scores)
    vals, idx = s.topk(min(n, len(s)))
    return {"index": idx.tolist(), "value": [round(v, 4) for v in vals.tolist()],
            "images": [hwc(tr.data.test_x[i]) for i in idx.tolist()],
            "labels": [tr.classes[int(tr.data.test_y[i])] for i in idx.tolist()], "searched": len(s)}


def image_from_bytes(data: bytes, shape: tuple[int, int, int], invert: bool = False, *,
                     name: str | None = None) -> torch.Tensor:
    """An uploaded image of any mode and size -> uint8 (C, H, W) for the model, through the one decoder
    (``playground.images``: EXIF-rotated, alpha over white, 16-bit scaled, the pixel cap), converted to grey
    or RGB, scaled (antialiased) to cover the model's input and centre-cropped, optionally inverted (MNIST
    digits are white on black; a photo of a digit on paper is the other way round). ``name``: the file's
    name, for the messages. Raises PlaygroundError for a file that cannot be used."""
    c, h, w = shape
    if c not in (1, 3):
        raise ConfigError(f"The model takes {c}-channel images; uploads work for grey or RGB models.")
    label = f"The uploaded file {name!r}" if name else "The uploaded file"
    t = decode_tensor(data, channels=c, size=(h, w), label=label)
    return (255 - t) if invert else t
