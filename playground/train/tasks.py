"""What a run trains the model to do: a registry of tasks.

A task turns a batch of stored images into model inputs and targets, scores
the output, and evaluates on the test split; ``engine.fit`` does the rest
(loop, controls, events, checkpoints) the same way for every task. The
config chooses one with ``train.task``. ``classify`` lives here; other tasks
register from their own module (``playground.train.reconstruct``:
``reconstruct``), imported by ``playground.train``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..registry import Registry

if TYPE_CHECKING:
    from ..config import RunConfig
    from .prepared import Prepared

__all__ = ["TASKS", "Task", "Classify", "build_task", "task_figures", "evaluate", "evaluate_subset", "SAMPLES"]

SAMPLES = 16  # test images whose predictions every epoch event carries

TASKS: Registry[type["Task"]] = Registry("task")


class Task:
    """The interface ``engine.fit`` drives. One instance per run."""

    #: name of the running metric in step events ("acc" for classification)
    metric = "acc"
    #: the figures its epoch events and its final ``done`` event carry, the test metric first: every reader of
    #: a run's results (the teacher's table and projector, the curves, compare) reads these names from here
    final_fields: tuple[str, ...] = ()
    metric_label = "accuracy"  # what the metric is called on a chart's axis
    metric_range: tuple[float, float] | None = (0.0, 1.02)  # the axis' range (None: fitted to the values)

    def __init__(self, config: "RunConfig") -> None:
        self.config = config

    @classmethod
    def check_config(cls, config: "RunConfig") -> None:
        """Refuse task settings that are wrong before any data is loaded (ConfigError)."""

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
        """Figures from the last epoch event repeated in the final ``done`` event (``final_fields``)."""
        return {k: last_epoch.get(k) for k in self.final_fields}

    def quick_evaluate(self, p: "Prepared", idx: torch.Tensor) -> dict[str, float] | None:
        """The quick test estimate: figures on the test images ``idx`` only (``loss`` and the metric), in eval
        mode, changing nothing training depends on; None: this task has none."""
        return None


@TASKS.register("classify")
class Classify(Task):
    """Predict each image's class (cross-entropy; accuracy, confusion matrix)."""

    metric = "acc"
    final_fields = ("test_acc", "test_loss")

    def check(self, p):
        if getattr(p.model, "task", "classify") != "classify":  # e.g. an autoencoder outputs images
            raise ConfigError(
                f"Model {p.config.model.name!r} outputs images, not class scores: train it with "
                f"task 'reconstruct' (the Autoencoders page), or pick a classifier."
            )

    def batch(self, p, idx, gen):
        return p.to_input(p.train_x[idx], gen), p.train_y[idx]  # (B, C, H, W) float, (B,)

    def loss(self, out, target):
        return F.cross_entropy(out, target, label_smoothing=self.config.optim.label_smoothing)

    def score(self, out, target):
        return (out.detach().argmax(1) == target).sum()

    def evaluate(self, p):
        return evaluate(p)

    def quick_evaluate(self, p, idx):
        return evaluate_subset(p, idx)


def task_figures(task: str) -> dict[str, Any]:
    """What a task's runs report, for the readers of their events: the step metric (``metric``), the test
    metric of its epoch and final events (``test``), the chart's label and range."""
    t = TASKS.get(task)
    return {
        "metric": t.metric,
        "test": t.final_fields[0] if t.final_fields else None,
        "label": t.metric_label,
        "range": t.metric_range,
    }


def build_task(config: "RunConfig") -> Task:
    return TASKS.get(config.train.task)(config)


@torch.no_grad()
def evaluate(p: "Prepared", batch_size: int | None = None) -> dict[str, Any]:
    """Test loss, accuracy, per-class accuracy and confusion matrix (rows: true class)."""
    bs = batch_size or p.config.train.eval_batch_size
    k = p.data.num_classes
    was_training = p.model.training
    p.model.eval()
    loss_sum = torch.zeros((), device=p.device)
    confusion = torch.zeros(k * k, dtype=torch.int64, device=p.device)
    for i in range(0, len(p.test_y), bs):
        x, y = p.to_input(p.test_x[i : i + bs]), p.test_y[i : i + bs]
        out = p.model(x)  # fp32, as the Inside page, predict and the exports compute it (Prepared.autocast)
        loss_sum += F.cross_entropy(out.float(), y, reduction="sum")
        confusion += torch.bincount(y * k + out.argmax(1), minlength=k * k)
    # A fixed spread of test images, for the "predictions, right or wrong" grid.
    idx = torch.linspace(0, len(p.test_y) - 1, min(SAMPLES, len(p.test_y)), device=p.device).long()
    probs = p.model(p.to_input(p.test_x[idx])).float().softmax(1)
    conf_p, pred = probs.max(1)
    p.model.train(was_training)
    conf = confusion.view(k, k).cpu()
    n = conf.sum().item()
    per_class = (conf.diag().double() / conf.sum(1).clamp_min(1).double()).tolist()
    return {
        "test_loss": loss_sum.item() / max(n, 1),
        "test_acc": conf.diag().sum().item() / max(n, 1),
        "per_class_acc": [round(a, 4) for a in per_class],
        "confusion": conf.tolist(),
        "samples": {
            "index": idx.tolist(),
            "true": p.test_y[idx].tolist(),
            "pred": pred.tolist(),
            "prob": [round(c, 4) for c in conf_p.tolist()],
        },
    }


@torch.no_grad()
def evaluate_subset(p: "Prepared", idx: torch.Tensor, batch_size: int | None = None) -> dict[str, float]:
    """Mean test loss and accuracy on the test images ``idx`` (eval mode: batch-norm statistics stay as
    they are; no gradients, no random draws; the model's mode is restored)."""
    bs = batch_size or p.config.train.eval_batch_size
    was_training = p.model.training
    p.model.eval()
    try:
        sums = torch.zeros(2, device=p.device)  # loss, correct
        for i in range(0, len(idx), bs):
            j = idx[i : i + bs]
            x, y = p.to_input(p.test_x[j]), p.test_y[j]  # (b, C, H, W) float, normalised; (b,)
            out = p.model(x)  # fp32, as evaluate
            sums += torch.stack([F.cross_entropy(out.float(), y, reduction="sum"), (out.argmax(1) == y).sum()])
    finally:
        p.model.train(was_training)
    loss, correct = sums.tolist()
    n = max(len(idx), 1)
    return {"loss": loss / n, "acc": correct / n}
