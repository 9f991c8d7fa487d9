"""Forward passes through a trained model: every layer's output for one image, predictions, the
test images that drive one channel hardest, and turning an uploaded file into a model input.

Layer outputs come from ``torchvision.models.feature_extraction`` (FX), with forward hooks as
the fallback for a model FX cannot trace (see ``Trained.extractor``). Layers without spatial
maps (flatten, linear) come back as vectors."""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..errors import ConfigError
from ..images import decode_tensor, hwc
from .trained import Trained

__all__ = [
    "DROPOUT",
    "layer_nodes",
    "layer_names",
    "layer_blocks",
    "readable_layers",
    "overview_map",
    "activations",
    "predict",
    "top_activating",
    "hwc",
    "image_from_bytes",
]

DROPOUT = (nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.AlphaDropout)


def layer_nodes(tr: Trained) -> list[str]:
    """Every layer output worth showing, in execution order (FX node names; dropout left out)."""
    return list(tr.cached("__nodes__", lambda: tuple(_find_nodes(tr.model))))


def _readable(tr: Trained) -> dict[str, Any]:
    nodes = layer_nodes(tr)  # outside ``cached``: its lock is not re-entrant
    return tr.cached("__names__", lambda: readable_layers(tr.model, nodes))


def layer_names(tr: Trained) -> dict[str, str]:
    """FX node -> a readable name: conv 1, batch norm 1, relu 1, pool 1, ..., fc 1 (see ``readable_layers``)."""
    return _readable(tr)["names"]


def layer_blocks(tr: Trained) -> list[dict[str, Any]]:
    """The layers grouped into blocks: [{title, nodes}] in execution order (see ``readable_layers``)."""
    return _readable(tr)["blocks"]


_READABLE = {
    "conv2d": "conv",
    "conv1d": "conv",
    "linear": "fc",
    "batchnorm2d": "batch norm",
    "batchnorm1d": "batch norm",
    "maxpool2d": "pool",
    "avgpool2d": "pool",
    "adaptiveavgpool2d": "pool",
    "adaptivemaxpool2d": "pool",
    "max_pool2d": "pool",
    "avg_pool2d": "pool",
    "adaptive_avg_pool2d": "pool",
    "flatten": "flatten",
    "add": "add",
    "iadd": "add",
    "cat": "concat",
    "layernorm": "layer norm",
    "groupnorm": "group norm",
}
_HEAD = ("fc", "flatten")


def _readable_kind(mods: dict[str, nn.Module], node: str) -> str:
    base = re.sub(r"_\d+$", "", _kind(mods, node)).lower()  # FX names a module's second call relu_1
    return _READABLE.get(base, base)


def readable_layers(model: nn.Module, nodes: Sequence[str]) -> dict[str, Any]:
    """Readable names and blocks for FX layer nodes.

    Names: the kind from the module type (conv, batch norm, relu, pool, fc, flatten, add, ...),
    numbered in execution order when the model has more than one of the kind ("conv 1", "conv 2",
    "fc 1"; a resnet's single classifier is "fc"). Blocks: the layers of one child of a top-level
    container (``features.0.*``, a residual block ``features.3.*``) stay together; a flat container
    (``classifier.*``, LeNet's ``features.*``) starts a block at each conv; a loose top-level layer
    starts one if it is a conv, goes to the head if it is flatten/fc, and otherwise joins the block
    before it. Blocks are titled "block k" (with a conv), "block k (residual)" (with an add) or
    "classifier"."""
    mods = dict(model.named_modules())
    kinds = {n: _readable_kind(mods, n) for n in nodes}
    totals: dict[str, int] = {}
    for k in kinds.values():
        totals[k] = totals.get(k, 0) + 1
    seen: dict[str, int] = {}
    names = {}
    for n in nodes:
        k = kinds[n]
        seen[k] = seen.get(k, 0) + 1
        names[n] = f"{k} {seen[k]}" if totals[k] > 1 else k
    groups: list[tuple[str | None, list[str]]] = []  # (unit, nodes)
    for n in nodes:
        parts, k = n.split("."), kinds[n]
        unit = ".".join(parts[:2]) if len(parts) >= 3 else (parts[0] if len(parts) == 2 else None)
        last_unit, last = groups[-1] if groups else (None, [])
        last_kinds = {kinds[m] for m in last}
        in_head = "conv" not in last_kinds and bool(last_kinds & set(_HEAD))
        new = (
            not groups
            or (k == "conv" and (unit is None or unit != last_unit or len(parts) == 2))
            or (k in _HEAD and not in_head)
            or (len(parts) >= 3 and unit != last_unit)
        )
        if new:
            groups.append((unit, [n]))
        else:
            last.append(n)
    blocks, b = [], 0
    for _, g in groups:
        ks = [kinds[n] for n in g]
        if "conv" in ks:
            b += 1
            title = f"block {b}" + (" (residual)" if "add" in ks else "")
        else:
            title = "classifier" if any(k in _HEAD for k in ks) else f"{names[g[0]]}"
        blocks.append({"title": title, "nodes": g})
    return {"names": names, "blocks": blocks}


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

    Returns ``layers``: [{name, label (readable: "conv 1"), block ("block 1"), kind, shape, spatial,
    maps (C, H, W) | None, vector (N,) | None}], ``blocks`` ([{title, nodes}], the shown nodes by
    block), ``probs`` (K,) and ``range`` (the largest |value| over all layers, for a global colour scale).
    """
    tr.check_image("Every layer's maps")
    nodes = tuple(nodes or layer_nodes(tr))
    out = tr.extractor(nodes)(tr.to_input(image))
    layers, top = [], 0.0
    mods = dict(tr.model.named_modules())
    names = layer_names(tr)
    blocks = [{"title": b["title"], "nodes": [n for n in b["nodes"] if n in nodes]} for b in layer_blocks(tr)]
    block_of = {n: b["title"] for b in blocks for n in b["nodes"]}
    for n in nodes:
        a = out[n][0].float()  # drop the batch dim
        spatial = a.ndim == 3 and a.shape[1] * a.shape[2] > 1
        arr = a.numpy()
        top = max(top, float(np.abs(arr).max()) if arr.size else 0.0)
        layers.append(
            {
                "name": n,
                "label": names.get(n, n),
                "block": block_of.get(n, ""),
                "kind": _kind(mods, n),
                "shape": tuple(a.shape),
                "spatial": spatial,
                "maps": arr if spatial else None,
                "vector": None if spatial else arr.reshape(-1),
            }
        )
    logits = out[nodes[-1]] if out[nodes[-1]].ndim == 2 else tr.model(tr.to_input(image))
    return {
        "layers": layers,
        "blocks": [b for b in blocks if b["nodes"]],
        "probs": logits[0].float().softmax(0).numpy(),
        "range": top,
    }


def overview_map(maps: np.ndarray) -> tuple[np.ndarray, int]:
    """A layer's (C, H, W) maps -> (its strongest channel's map, that channel): the channel with the
    largest mean |activation|, the one picture that stands for the layer in the overview."""
    c = int(np.abs(maps).reshape(maps.shape[0], -1).mean(1).argmax())
    return maps[c], c


@torch.no_grad()
def predict(tr: Trained, image: torch.Tensor, k: int = 3) -> list[tuple[str, float]]:
    """Top-k classes and probabilities for one uint8 image (C, H, W)."""
    probs = tr.model(tr.to_input(image))[0].float().softmax(0)
    p, i = probs.topk(min(k, len(probs)))
    return [(tr.classes[c], float(q)) for c, q in zip(i.tolist(), p.tolist())]


@torch.no_grad()
def top_activating(
    tr: Trained, node: str, channel: int, n: int = 12, limit: int = 2000, batch_size: int = 500
) -> dict[str, Any]:
    """The test images that drive one channel (spatial mean) or unit hardest: indices, values, images; of the
    first ``limit`` test images, fewer for a model too large to pass them all in the server (``searched``)."""
    ex = tr.extractor((node,))
    scores = []
    limit, batch_size = tr.plan(min(limit, len(tr.data.test_y)), batch_size)
    x = tr.data.test_x[:limit]
    for i in range(0, len(x), batch_size):
        a = ex(tr.to_input(x[i : i + batch_size]))[node].float()  # (B, C, H, W) or (B, N)
        if not 0 <= channel < a.shape[1]:
            raise ConfigError(f"Layer {node} has {a.shape[1]} channels/units; pick 0..{a.shape[1] - 1}.")
        v = a[:, channel]
        scores.append(v.flatten(1).mean(1) if v.ndim > 1 else v)
    s = torch.cat(scores)
    vals, idx = s.topk(min(n, len(s)))
    return {
        "index": idx.tolist(),
        "value": [round(v, 4) for v in vals.tolist()],
        "images": [hwc(tr.data.test_x[i]) for i in idx.tolist()],
        "labels": [tr.classes[int(tr.data.test_y[i])] for i in idx.tolist()],
        "searched": len(s),
    }


def image_from_bytes(
    data: bytes, shape: tuple[int, int, int], invert: bool = False, *, name: str | None = None
) -> torch.Tensor:
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
