"""A finished run as the exports read it: the final checkpoint's settings and data
statistics, and the model rebuilt with its final weights."""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from ..config import RunConfig
from ..errors import ExportError
from ..models import build_saved_model

__all__ = ["final_state", "run_model"]


def final_state(run) -> tuple[dict[str, Any], dict[str, Any], RunConfig]:
    """(final checkpoint, data meta {shape, classes, mean, std}, config) of a finished run."""
    state = run.load_checkpoint(final=True)
    config = RunConfig.from_dict(state["config"])
    meta = state.get("data")
    if meta is None:
        raise ExportError("This model file predates exports (it lacks the data statistics); "
                          "train the run again to export it.")
    return state, meta, config


def run_model(run) -> tuple[nn.Module, dict[str, Any], RunConfig]:
    """(model with the final weights, data meta {shape, classes, mean, std}, config) of a finished run."""
    state, meta, config = final_state(run)
    m = config.model
    model = build_saved_model(m.name, in_shape=tuple(meta["shape"]), num_classes=len(meta["classes"]), params=m.params)
    model.load_state_dict(state["model"])
    return model.eval(), meta, config
