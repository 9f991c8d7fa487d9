"""Source models from the playground's own runs: which runs can be transferred, the settings that
transfer one, and what happens to the target's images on the way into the source network.

- ``source_runs(runs)``: the runs with saved weights that a transfer can start from: a classifier
  (cnn, lenet5, resnet, mlp: its own layers become the feature extractor, backbone "run") or an
  earlier ``transfer`` run (its torchvision backbone).
- ``source_params(run)``: the ``transfer`` model's parameters for a run (weights "run", the backbone,
  and for a classifier its ``source_arch``, so the new run is rebuilt without reading the source again).
- ``input_notes(source_shape, target_shape)``: grey/RGB conversion and resizing, said in words.
"""

from __future__ import annotations

from typing import Any, Iterable

from ..errors import PlaygroundError
from ..models.run_backbone import RUN_BACKBONE, SOURCE_MODELS, read_source
from ..runs import Run

__all__ = ["source_runs", "source_params", "input_notes"]


def source_runs(runs: Iterable[Run]) -> list[dict[str, Any]]:
    """One row per run a transfer can start from (saved weights, a classifier or a transfer model):
    run_id, model, backbone (the transfer model's ``backbone`` for it), dataset, label."""
    out = []
    for run in runs:
        try:
            cfg = run.config()
            ready = run.weights_path() is not None
        except (PlaygroundError, OSError):
            continue
        name = cfg.model.name
        if not ready or cfg.train.task != "classify" or name not in (*SOURCE_MODELS, "transfer"):
            continue
        backbone = dict(cfg.model.params).get("backbone", "mobilenet_v3_small") if name == "transfer" else RUN_BACKBONE
        what = f"transfer {backbone}" if name == "transfer" else name
        out.append(
            {
                "run_id": run.run_id,
                "model": name,
                "backbone": backbone,
                "dataset": cfg.data.dataset,
                "label": f"{run.label() if hasattr(run, 'label') else run.run_id} ({what} on {cfg.data.dataset})",
            }
        )
    return out


def source_params(run: Run) -> dict[str, Any]:
    """The transfer model's parameters that start from ``run``'s weights."""
    cfg = run.config()
    if cfg.model.name == "transfer":
        return {
            "backbone": dict(cfg.model.params).get("backbone", "mobilenet_v3_small"),
            "weights": "run",
            "source_run": run.run_id,
        }
    arch, _ = read_source(run.run_id, str(run.dir.parent), with_weights=False)  # refuses what cannot be a source
    return {"backbone": RUN_BACKBONE, "weights": "run", "source_run": run.run_id, "source_arch": arch}


def input_notes(source_shape: Iterable[int], target_shape: Iterable[int]) -> list[str]:
    """What the model does to the target's images so the source network can take them."""
    (sc, sh, sw), (tc, th, tw) = tuple(source_shape), tuple(target_shape)
    notes = []
    if (sc, tc) == (3, 1):
        notes.append("grey images are repeated to three channels (the source saw RGB)")
    elif (sc, tc) == (1, 3):
        notes.append("RGB images are turned to grey (luma 0.299 R + 0.587 G + 0.114 B; the source saw grey)")
    if (sh, sw) != (th, tw):
        notes.append(f"images are resized from {th} x {tw} to {sh} x {sw} px (the source's input size)")
    return notes
