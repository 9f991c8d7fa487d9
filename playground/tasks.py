"""What a run trains the model to do: a registry of tasks.

A task turns a batch of stored images into model inputs and targets, scores
the output, and evaluates on the test split; ``engine.fit`` does the rest
(loop, controls, events, checkpoints) the same way for every task. The
config chooses one with ``train.task``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from .registry import Registry

if TYPE_CHECKING:
    from .config import RunConfig
    from .engine import Prepared

__all__ = ["TASKS", "Task", "build_task"]

TASKS: Registry[type["Task"]] = Registry("task")


class Task:
    """The interface ``engine.fit`` drives. One instance per run."""

    #: name of the running metric in step events ("acc" for classification)
    metric = "acc"

    def __init__(self, config: "RunConfig") -> None:
        self.config = config

    def check(self, p: "Prepared") -> None:
        """Refuse, with a ConfigError saying what to change, a model or data set this task cannot use."""

    def batch(self, p: "Prepared", idx: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Training batch by index -> (inputs, targets), on the device, augmented with ``gen``."""
        raise NotImplementedError

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def score(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """A per-batch sum on the device (no sync); ``metric_value`` turns the summed scores into the metric."""
        raise NotImplementedError

    def metric_value(self, score_sum: float, n_images: int) -> float:
        return score_sum / max(n_images, 1)

    def evaluate(self, p: "Prepared") -> dict[str, Any]:
        """Test-split figures merged into the epoch event."""
        raise NotImplementedError

    def done_fields(self, last_epoch: dict[str, Any]) -> dict[str, Any]:
        """Figures from the last epoch event repeated in the final ``done`` event."""
        return {}


@TASKS.register("classify")
class Classify(Task):
    """Predict each image's class (cross-entropy; accuracy, confusion matrix)."""

    metric = "acc"

    def check(self, p):
        if getattr(p.model, "task", "classify") != "classify":  # e.g. an autoencoder outputs images
            from .errors import ConfigError

            raise ConfigError(f"Model {p.config.model.name!r} outputs images, not class scores: train it with "
                              f"task 'reconstruct' (the Autoencoders page), or pick a classifier.")

    def batch(self, p, idx, gen):
        return p.to_input(p.train_x[idx], gen), p.train_y[idx]  # (B, C, H, W) float, (B,)

    def loss(self, out, target):
        return F.cross_entropy(out, target, label_smoothing=self.config.optim.label_smoothing)

    def score(self, out, target):
        return (out.detach().argmax(1) == target).sum()

    def evaluate(self, p):
        from .engine import evaluate

        return evaluate(p)

    def done_fields(self, last_epoch):
        return {"test_acc": last_epoch.get("test_acc"), "test_loss": last_epoch.get("test_loss")}


def build_task(config: "RunConfig") -> Task:
    return TASKS.get(config.train.task)(config)


# Tasks in modules of their own register themselves on import (after TASKS and Task exist).
from . import reconstruct as _reconstruct  # noqa: E402,F401  (reconstruct, and its live_recon probe)
