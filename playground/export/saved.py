"""A finished run as the exports read it: the final checkpoint's settings and data
statistics, and the model rebuilt with its final weights."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..config import RunConfig, without_server_paths
from ..errors import ExportError
from ..models.saved import load_saved
from ..runs import load_checkpoint, saved_state

__all__ = ["checkpoint_without_server_paths", "final_state", "run_model"]


def final_state(run) -> tuple[dict[str, Any], dict[str, Any], RunConfig]:
    """(final checkpoint, data meta {shape, classes, mean, std}, config) of a finished run."""
    state, _ = saved_state(run, final=True)
    config = RunConfig.from_dict(state["config"])
    meta = state.get("data")
    if meta is None:
        raise ExportError(
            "This model file predates exports (it lacks the data statistics); train the run again to export it."
        )
    return state, meta, config


def run_model(run) -> tuple[nn.Module, dict[str, Any], RunConfig]:
    """(model with the final weights, data meta {shape, classes, mean, std}, config) of a finished run."""
    saved = load_saved(run, final=True)
    if saved.mean is None:
        raise ExportError(
            "This model file predates exports (it lacks the data statistics); train the run again to export it."
        )
    meta = {"shape": list(saved.shape), "classes": saved.classes, "mean": saved.mean, "std": saved.std}
    return saved.model, meta, saved.config


def checkpoint_without_server_paths(path: Path | str) -> bytes:
    """A model or checkpoint file as bytes, its settings rewritten in memory without the server's
    folders (``without_server_paths``): what a session that only views the run downloads. Read with
    ``weights_only=True`` like every checkpoint; the file on disk is not changed."""
    state = load_checkpoint(path)
    if isinstance(state.get("config"), dict):
        state["config"] = without_server_paths(RunConfig.from_dict(state["config"])).to_dict()
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()
