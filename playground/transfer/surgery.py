"""The surgery: a transfer model's module tree as rows, and the freeze-depth slider's stops.

- ``surgery_table``: the module tree as rows (name, type, output shape, parameters,
  trainable, block), read from the model itself (forward hooks, ``requires_grad``).
- ``describe_transfer``: the table, the parameter counts and the blocks of a transfer model's settings, from
  the model built on the meta device (the page asks on every change: VGG16's 528 MB of weights never exist).
- ``freeze_options``: the freeze-depth slider's stops, from "only the new head" to "everything".
- ``FOUR_CASES``: how much data and how close to the source task, and the setting each suggests.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ..models.transfer import Backbone, TransferNet, backbone_spec

__all__ = ["FOUR_CASES", "describe_transfer", "surgery_table", "freeze_options", "keep_freeze"]


# The four cases (cs231n's "transfer learning" notes): how much data, how close to the source task,
# and the setting each suggests. ``settings`` are the transfer model's parameters plus the learning rate.
FOUR_CASES: list[dict[str, Any]] = [
    {
        "case": "small data, similar to the source",
        "why": "Too few images to fine-tune millions of weights without overfitting, and the pretrained "
        "features already fit: train only a new linear head on them.",
        "settings": {"freeze": "head_only", "k": 1, "backbone_lr_scale": 0.1, "feature_cache": True, "lr": 3e-3},
    },
    {
        "case": "large data, similar to the source",
        "why": "Enough images to adjust the backbone safely: fine-tune everything, the backbone at a "
        "tenth of the head's learning rate so the good features are nudged, not erased.",
        "settings": {"freeze": "finetune_all", "k": 1, "backbone_lr_scale": 0.1, "feature_cache": False, "lr": 1e-3},
    },
    {
        "case": "small data, different from the source",
        "why": "The last blocks are the most source-specific; with few images, retrain only them (and "
        "the head) at a low rate, and augment.",
        "settings": {"freeze": "last_k", "k": 2, "backbone_lr_scale": 0.1, "feature_cache": False, "lr": 1e-3},
    },
    {
        "case": "large data, different from the source",
        "why": "Enough data to train much of the network: fine-tune everything at the full rate; the "
        "pretrained start still converges faster than a random one.",
        "settings": {"freeze": "finetune_all", "k": 1, "backbone_lr_scale": 1.0, "feature_cache": False, "lr": 1e-3},
    },
]


def _trainable(mod: nn.Module) -> str:
    flags = [q.requires_grad for q in mod.parameters()]
    if not flags:
        return "—"
    return "yes" if all(flags) else "no" if not any(flags) else "partly"


@torch.no_grad()
def surgery_table(
    model: TransferNet, in_shape: tuple[int, int, int], max_depth: int | None = None
) -> list[dict[str, Any]]:
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
    rows = [
        {
            "name": "(preprocess)",
            "type": "Preprocess",
            "depth": 0,
            "output shape": str(list(pre.shape)),
            "parameters": 0,
            "trainable": "—",
            "block": "",
            "note": f"grey/RGB to {model.preprocess.channels} channels, resize to "
            f"{' x '.join(map(str, model.preprocess.hw))} px, normalise",
        }
    ]
    for name, mod in model.backbone.named_modules():
        if not name:
            continue
        depth = name.count(".") + 1
        if max_depth is not None and depth > max_depth:
            continue
        block = next(
            (label for prefix, label in block_of.items() if name == prefix or name.startswith(prefix + ".")), ""
        )
        note = ""
        if name == model.spec.head:
            block = "head"
            note = f"new head, replaces {model.replaced['old']}"
        rows.append(
            {
                "name": name,
                "type": type(mod).__name__,
                "depth": depth,
                "output shape": str(shapes[name]) if name in shapes else "",
                "parameters": sum(q.numel() for q in mod.parameters()),
                "trainable": _trainable(mod),
                "block": block,
                "note": note,
            }
        )
    return rows


def describe_transfer(
    params: dict[str, Any], in_shape: tuple[int, int, int], num_classes: int, runs_root: str | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any], list[list]]:
    """(surgery_table rows, {"total", "trainable", "replaced", "blocks"}, the blocks as lists) of the transfer
    model ``params`` describe, built on the meta device: shapes and counts only, no weights read or held."""
    from .timing import meta_model

    m = meta_model("transfer", params, in_shape, num_classes, runs_root)
    rows = surgery_table(m, in_shape)
    counts = {
        "total": sum(q.numel() for q in m.parameters()),
        "trainable": sum(q.numel() for q in m.parameters() if q.requires_grad),
        "replaced": m.replaced,
        "blocks": m.trainable_blocks(),
    }
    return rows, counts, [list(b) for b in m.spec.blocks]


def freeze_options(backbone: str | Backbone) -> list[dict[str, Any]]:
    """The freeze-depth slider's stops: (label, freeze, k), from the head alone to every block.
    ``backbone``: a torchvision backbone's name, or a model's ``spec`` (a playground source network)."""
    spec = backbone if isinstance(backbone, Backbone) else backbone_spec(backbone)
    labels = [label for label, _ in spec.blocks]
    out = [{"label": "train only the new head", "freeze": "head_only", "k": 1}]
    for k in range(1, len(labels)):
        out.append(
            {
                "label": f"unfreeze the last {k} block{'s' if k > 1 else ''} (from {labels[-k]})",
                "freeze": "last_k",
                "k": k,
            }
        )
    out.append({"label": "fine-tune everything", "freeze": "finetune_all", "k": 1})
    return out


def keep_freeze(freeze: str, k: int, stops: list[dict[str, Any]]) -> tuple[dict[str, Any], str | None]:
    """The stop of ``stops`` for a depth chosen on another backbone: the same one where it exists; else
    the nearest (the last k blocks, k cut to what this backbone has) and a note that says what changed."""
    for o in stops:
        if o["freeze"] == freeze and (freeze != "last_k" or o["k"] == k):
            return o, None
    last_k = [o for o in stops if o["freeze"] == "last_k"]
    if freeze == "last_k" and last_k:
        o = last_k[-1] if k > last_k[-1]["k"] else last_k[0]
        return o, (f"This backbone has {len(stops) - 1} blocks: 'unfreeze the last {k}' became '{o['label']}'.")
    o = stops[-1] if freeze == "last_k" else stops[0]
    return o, f"What trains became '{o['label']}' (this backbone has no other depth to unfreeze)."
