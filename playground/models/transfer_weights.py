"""Where a transfer backbone's starting weights come from: ImageNet's (the torch hub cache, ``playground.weights``),
a playground run that trained a transfer model with the same backbone, or none (from scratch); and loading
them into the backbone with every mismatch named (a file for another architecture is refused)."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from ..errors import CheckpointError, ConfigError
from ..runs import RunStore, saved_state
from ..weights import load_weights, resolve_weights, weights_file
from .backbones import Backbone

__all__ = ["source_state", "pretrained_state", "load_body"]


def source_state(source_run: str, arch: str, runs_root: str | None) -> dict[str, torch.Tensor]:
    """The backbone weights of a playground run that trained a ``transfer`` model with ``arch``."""
    if not source_run:
        raise ConfigError(
            "weights 'run' needs source_run: the id of a finished run that trained a transfer "
            "model (see `python -m playground runs`)."
        )
    run = RunStore(runs_root).open(source_run)
    ckpt, _ = saved_state(run)  # model.pt, else its last checkpoint; weights_only=True inside
    model_cfg = (ckpt.get("config") or {}).get("model", {})
    if model_cfg.get("name") != "transfer":
        raise CheckpointError(
            f"Run {source_run} trained a {model_cfg.get('name')!r} model, not a transfer backbone, "
            f"so its weights do not fit {arch}. Use backbone 'run' to transfer that network's "
            f"own layers, or pretrain a 'transfer' model with backbone {arch} first."
        )
    src_arch = (model_cfg.get("params") or {}).get("backbone", "mobilenet_v3_small")
    if src_arch != arch:
        raise CheckpointError(
            f"Run {source_run} trained backbone {src_arch}, not {arch}: the architectures do "
            f"not match. Choose backbone {src_arch}, or a source run with {arch}."
        )
    return ckpt["model"]


def pretrained_state(
    spec: Backbone,
    weights: str,
    source_run: str,
    runs_root: str | None,
    download: bool,
    progress: Callable[[int, int], None] | None,
) -> tuple[dict[str, torch.Tensor] | None, str]:
    """The state dict the backbone starts from (None: from scratch) and where it came from, for the messages."""
    if weights == "imagenet":
        w = resolve_weights(spec.arch)
        return load_weights(w, download=download, progress=progress), str(weights_file(w))
    if weights == "run":
        return source_state(source_run, spec.arch, runs_root), f"run {source_run}"
    return None, ""


def load_body(net: nn.Module, spec: Backbone, state: dict[str, torch.Tensor], where: str) -> None:
    """Every weight of ``state`` but the old head's into ``net``; a file for another architecture is refused."""
    head_keys = {f"{spec.head}.weight", f"{spec.head}.bias"}
    body = {k: v for k, v in state.items() if k not in head_keys}
    try:
        missing, unexpected = net.load_state_dict(body, strict=False)
    except RuntimeError as e:  # shape mismatches: a file for another architecture
        raise CheckpointError(f"The weights from {where} do not match {spec.arch}: {str(e)[:300]}") from None
    missing = [m for m in missing if m not in head_keys]
    if missing or unexpected:
        raise CheckpointError(
            f"The weights from {where} do not match {spec.arch}: "
            + (f"missing {len(missing)} tensor(s) (e.g. {', '.join(missing[:3])})" if missing else "")
            + ("; " if missing and unexpected else "")
            + (f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})" if unexpected else "")
            + "."
        )
