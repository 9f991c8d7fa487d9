"""The one way to load a run's model: ``load_saved(run)`` -> a ``SavedModel`` (the model with its
weights, the config, the data's shape, classes and statistics, where the weights came from and how
many epochs they had trained). Every page and tool that reads a run's weights goes through it (the
Inside page, the Autoencoders views, exports, style feature networks, transfer source runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from ..config import RunConfig
from ..errors import CheckpointError, ConfigError, PlaygroundError
from ..runs import Run, saved_state
from . import build_saved_model

__all__ = ["SavedModel", "load_saved", "saved_state", "saved_architecture"]


@dataclass
class SavedModel:
    model: nn.Module  # in eval mode, on the CPU
    config: RunConfig  # the settings the weights were trained with
    run_id: str
    source: str  # "model.pt" (final) or "checkpoint.pt" (the last save of a live or interrupted run)
    epochs_done: int | None  # epochs the weights had finished (0 while the first one is in progress)
    shape: tuple[int, int, int]  # (C, H, W) the model takes
    classes: list[str]
    mean: list[float] | None = None  # the normalisation its input had (None: not recorded)
    std: list[float] | None = None
    state: dict[str, Any] = field(default_factory=dict, repr=False)  # the checkpoint as read

    @torch.no_grad()
    def predict(self, image: torch.Tensor, k: int = 5) -> list[tuple[str, float]]:
        """Top-``k`` classes and probabilities for one uint8 image (C, H, W) in the model's input shape,
        normalised as the model was trained."""
        if self.config.train.task != "classify":
            raise ConfigError(
                f"Run {self.run_id} trained the {self.config.train.task!r} task: it outputs images, not classes."
            )
        if tuple(image.shape) != tuple(self.shape):
            raise ConfigError(f"The model takes {tuple(self.shape)} images, not {tuple(image.shape)}.")
        x = image[None].float() / 255
        if self.mean is not None and self.std is not None:
            c = len(self.mean)
            x = (x - torch.tensor(self.mean).view(1, c, 1, 1)) / torch.tensor(self.std).view(1, c, 1, 1)
        probs = self.model(x)[0].float().softmax(0)
        p, i = probs.topk(min(k, len(probs)))
        return [(self.classes[c], round(float(q), 6)) for c, q in zip(i.tolist(), p.tolist())]


def _epochs_done(state: dict[str, Any], source: str) -> int | None:
    if "epochs_done" in state:
        return int(state["epochs_done"])
    epoch = state.get("epoch")  # older files: model.pt recorded the last epoch's index, checkpoint.pt the count
    return None if epoch is None else int(epoch) + (source == "model.pt")


def _data_meta(run: Run, state: dict[str, Any]) -> dict[str, Any]:
    meta = state.get("data")
    if isinstance(meta, dict) and meta.get("shape") and meta.get("classes") is not None:
        return meta
    for e in run.iter_events():  # a checkpoint.pt: the start event describes the data set
        if e.get("kind") == "start" and isinstance(e.get("dataset"), dict):
            return e["dataset"]
    raise CheckpointError(
        f"Run {run.run_id} does not record its data's shape (no start event): it cannot be rebuilt. Train it again."
    )


def saved_architecture(run: Run) -> nn.Module:
    """The run's model built on PyTorch's meta device from its settings and recorded data shape: its layers,
    with no weights read or memory allocated (for checks a server makes before it starts a job)."""
    if run.weights_path() is None:
        saved_state(run)  # raises: no saved weights yet, and what to wait for
    config, meta = run.config(), _data_meta(run, {})
    with torch.device("meta"):
        return build_saved_model(
            config.model.name,
            in_shape=tuple(meta["shape"]),
            num_classes=len(meta["classes"]),
            params=dict(config.model.params),
        )


def load_saved(run: Run, final: bool = False) -> SavedModel:
    """The run's model with its saved weights (see ``saved_state``), built as it was trained."""
    state, source = saved_state(run, final)
    try:  # the settings saved with the weights; the run's own when they are missing or from an older version
        config = RunConfig.from_dict(state["config"]) if isinstance(state.get("config"), dict) else run.config()
    except PlaygroundError:
        config = run.config()
    meta = _data_meta(run, state)
    m = config.model
    model = build_saved_model(
        m.name, in_shape=tuple(meta["shape"]), num_classes=len(meta["classes"]), params=dict(m.params)
    )
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(
            f"The saved weights of run {run.run_id} ({source}) do not fit its model "
            f"({str(e).splitlines()[0] if str(e) else type(e).__name__})."
        ) from None
    return SavedModel(
        model=model.eval(),
        config=config,
        run_id=run.run_id,
        source=source,
        epochs_done=_epochs_done(state, source),
        shape=tuple(meta["shape"]),
        classes=list(meta["classes"]),
        mean=meta.get("mean"),
        std=meta.get("std"),
        state=state,
    )
