"""A classifier the playground trained (cnn, lenet5, resnet, mlp) as a transfer backbone.

The source run's own network is the feature extractor: every layer up to its final ``Linear``
(for a cnn its conv blocks and hidden fully connected layers, for the resnet its stages and global
pool), and that final layer is replaced by a new head for the target's classes, exactly as a
torchvision backbone's ``fc`` or ``classifier[6]`` is. ``run_spec`` cuts the network into blocks for
freezing (a block starts at each layer with parameters; pooling, activations and flattening join
the block before them), read from the module tree itself.

The architecture travels in the transfer run's settings as ``source_arch`` ({"model", "params",
"shape", "classes", "mean", "std"}: ``source_arch_of``), so a saved transfer run is rebuilt, and the
server's gate sizes it, without reading the source run again. Without ``source_arch`` (a command
line that names only ``source_run``) it is read from the source run.

Target images are fed to the source network the way the source saw its own (``Preprocess``): grey
repeated to RGB or RGB turned to grey (ITU-R 601 luma, as Pillow's "L"), resized to the source's
height and width, normalised with the source data's statistics.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ..errors import CheckpointError, ConfigError
from ..runs import RunStore, saved_state
from ._registry import MODELS

__all__ = [
    "RUN_BACKBONE",
    "SOURCE_MODELS",
    "build_source_net",
    "check_arch",
    "read_source",
    "run_spec_parts",
    "same_arch",
    "source_arch_of",
]

RUN_BACKBONE = "run"  # the ``backbone`` value that means "the source run's own network"
SOURCE_MODELS = ("cnn", "lenet5", "resnet", "mlp")  # classifiers whose final layer is one nn.Linear
_ARCH_KEYS = ("model", "params", "shape")  # what must match between source_arch and the source run


def _kind(mod: nn.Module) -> str:
    for m in mod.modules():
        if isinstance(m, nn.Conv2d):
            return "conv"
        if isinstance(m, nn.Linear):
            return "fc"
    return type(mod).__name__.lower()


def _has_params(mod: nn.Module) -> bool:
    return any(True for _ in mod.parameters())


def _label(net: nn.Module, names: list[str]) -> str:
    names = [n for n in names if _has_params(net.get_submodule(n))] or names  # named by its layers with weights
    head, _, first = names[0].rpartition(".")
    last = names[-1].rpartition(".")
    span = (
        names[0]
        if len(names) == 1
        else f"{head}.{first}-{last[2]}"
        if head and last[0] == head
        else f"{names[0]} .. {names[-1]}"
    )
    mods = [net.get_submodule(n) for n in names]
    return f"{span} ({_kind(next((m for m in mods if _has_params(m)), mods[0]))})"


def run_spec_parts(net: nn.Module) -> tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]:
    """(the final Linear's module name, blocks from the input on) of a playground classifier."""
    linears = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ConfigError(f"{type(net).__name__} has no Linear layer to replace with a new head.")
    head = linears[-1]
    units: list[tuple[str, nn.Module]] = []
    for name, child in net.named_children():  # one level into Sequential stacks (features, classifier)
        units += (
            [(f"{name}.{n}", c) for n, c in child.named_children()]
            if isinstance(child, nn.Sequential)
            else [(name, child)]
        )
    blocks: list[list[str]] = []
    for name, mod in units:
        if name == head:
            continue
        if not blocks or (_has_params(mod) and any(_has_params(net.get_submodule(n)) for n in blocks[-1])):
            blocks.append([name])  # a layer with weights starts a block (unless the block has none yet)
        else:
            blocks[-1].append(name)  # pooling, activation, flatten, dropout: with the layer before them
    return head, tuple((_label(net, names), tuple(names)) for names in blocks)


def _data_meta(run, ckpt: dict[str, Any]) -> dict[str, Any]:
    meta = ckpt.get("data")
    if isinstance(meta, dict) and meta.get("shape"):
        return meta
    for e in run.iter_events():  # a checkpoint.pt of a run still training: its start event
        if e.get("kind") == "start" and isinstance(e.get("dataset"), dict):
            return e["dataset"]
    raise CheckpointError(f"Run {run.run_id} does not record its data's shape: train it again.")


def source_arch_of(model: str, params: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The ``source_arch`` setting of a source: its model, settings, input shape, classes and statistics."""
    shape = [int(v) for v in meta["shape"]]
    c = shape[0]
    return {
        "model": model,
        "params": dict(params),
        "shape": shape,
        "classes": len(meta["classes"]),
        "mean": [float(v) for v in (meta.get("mean") or [0.0] * c)],
        "std": [float(v) for v in (meta.get("std") or [1.0] * c)],
    }


def read_source(
    source_run: str, runs_root: str | None, with_weights: bool = True
) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None]:
    """(source_arch, its state dict) of a finished (or checkpointed) classifier run in ``runs_root``."""
    if not source_run:
        raise ConfigError(
            "backbone 'run' needs source_run: the id of a classifier the playground trained "
            "(cnn, lenet5, resnet, mlp; see `python -m playground runs`), or source_arch."
        )
    run = RunStore(runs_root).open(source_run)
    ckpt, _ = saved_state(run)  # model.pt, else its last checkpoint; weights_only=True inside
    cfg = saved if isinstance(saved := ckpt.get("config"), dict) else run.config().to_dict()
    model_cfg, task = cfg.get("model", {}), (cfg.get("train") or {}).get("task", "classify")
    name = model_cfg.get("name")
    if name == "transfer":
        raise CheckpointError(
            f"Run {source_run} trained a transfer model: choose its backbone "
            f"{(model_cfg.get('params') or {}).get('backbone', 'mobilenet_v3_small')} "
            "(weights run) instead of backbone 'run'."
        )
    if task != "classify" or name not in SOURCE_MODELS:
        raise CheckpointError(
            f"Run {source_run} trained a {name!r} model for the {task!r} task; a source "
            f"network must be a classifier: {', '.join(SOURCE_MODELS)}."
        )
    arch = source_arch_of(name, model_cfg.get("params") or {}, _data_meta(run, ckpt))
    return arch, (ckpt["model"] if with_weights else None)


def check_arch(arch: Any) -> dict[str, Any]:
    if not (
        isinstance(arch, dict)
        and all(k in arch for k in (*_ARCH_KEYS, "classes"))
        and arch["model"] in SOURCE_MODELS
        and len(arch["shape"]) == 3
        and arch["shape"][0] in (1, 3)
    ):
        raise ConfigError(
            "source_arch must name a source classifier ({'model': cnn, lenet5, resnet or mlp, "
            "'params', 'shape': [1 or 3, H, W], 'classes'}); playground.transfer.source_params "
            "writes it for a run."
        )
    return arch


def same_arch(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a[k] == b[k] for k in _ARCH_KEYS) and int(a["classes"]) == int(b["classes"])


def build_source_net(arch: dict[str, Any], state: dict[str, torch.Tensor] | None, where: str) -> nn.Module:
    """The source network (its own number of classes), with the source's weights when ``state`` is given."""
    net = MODELS.call(
        arch["model"], in_shape=tuple(arch["shape"]), num_classes=int(arch["classes"]), **dict(arch["params"])
    )
    if state is not None:
        try:
            net.load_state_dict(state)
        except (RuntimeError, KeyError) as e:
            raise CheckpointError(
                f"The weights of {where} do not fit its {arch['model']} "
                f"({str(e).splitlines()[0][:200] if str(e) else type(e).__name__})."
            ) from None
    return net
