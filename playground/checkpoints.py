"""A run's checkpoint files: what the playground writes (a dict with ``format`` and a ``model`` state dict,
saved atomically by ``Run.save_checkpoint``) and the one way to read them back, with ``weights_only=True``:
pickled code is refused, not run, and anything else gets a CheckpointError that says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import torch

from .errors import CheckpointError

__all__ = ["CHECKPOINT_FORMAT", "load_checkpoint", "saved_state"]

CHECKPOINT_FORMAT = "cnn-playground/1"


class SavedRun(Protocol):  # what saved_state reads of a run (runs.Run)
    @property
    def run_id(self) -> str: ...
    @property
    def model_path(self) -> Path: ...
    def weights_path(self) -> Path | None: ...


def load_checkpoint(path: Path | str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read one of our checkpoints; anything else gets a CheckpointError saying why."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}.")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle with code (UnpicklingError), truncated zip, not a torch file
        raise CheckpointError(
            f"{path.name} is not a readable CNN Playground checkpoint ({type(e).__name__}). "
            "It may be corrupt, truncated, or hold code, which is refused; use a .pt saved by the playground."
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT or "model" not in ckpt:
        raise CheckpointError(
            f"{path.name} is a PyTorch file but not a CNN Playground checkpoint "
            f"(expected format {CHECKPOINT_FORMAT!r} with a model state dict)."
        )
    return ckpt


def saved_state(run: SavedRun, final: bool = False) -> tuple[dict[str, Any], str]:
    """(checkpoint, file name) of the run's weights: model.pt, else checkpoint.pt (``final``: model.pt
    only). Read with ``weights_only=True``. A CheckpointError says what to wait for when there is none."""
    path = run.model_path if final else run.weights_path()
    if path is None or not path.is_file():
        what = "a final model (it has not finished or stopped)" if final else "saved weights yet"
        raise CheckpointError(
            f"Run {run.run_id} has no {what}: weights are saved at the end of each epoch and "
            "when the run ends. Wait for its first epoch, or pick another run."
        )
    return load_checkpoint(path), path.name
