"""The events a run reports, as typed dicts: one schema for the CLI, the app and the run store (the
engine's docstring, ``playground.train.engine``, says when each is sent). Infrastructure: it imports
nothing from the capability packages.

Every event is a JSON object with a ``kind``. The fields below are those the core writes and reads;
tasks and probes add their own (a task's metric: ``acc`` or ``psnr``, its ``train_``/``test_`` forms;
probes' fields such as ``unit_spread``), so a reader uses ``.get`` for those. Events read back from
a run's metrics.jsonl are plain dicts (``Run.iter_events`` checks only that each has a ``kind``)."""

from __future__ import annotations

from typing import Any, Literal, TypedDict, Union

from typing_extensions import Required

__all__ = [
    "FINAL_KINDS",
    "FinalKind",
    "StartEvent",
    "StepEvent",
    "EpochEvent",
    "ResumedEvent",
    "SetEvent",
    "FinalEvent",
    "ErrorEvent",
    "InterruptedEvent",
    "Event",
]

FinalKind = Literal["done", "stopped", "diverged", "error"]
FINAL_KINDS: tuple[FinalKind, ...] = ("done", "stopped", "diverged", "error")  # a run's last event


class StartEvent(TypedDict, total=False):
    kind: Required[Literal["start"]]
    run_id: str | None  # None: a run without a run store
    device: str
    precision: str  # "bf16" or "fp32"
    threads: int  # CPU runs
    dataset: dict[str, Any]  # the data set's summary
    task: str
    train_images: int
    parameters: int
    trainable_parameters: int
    batch_size: int  # the one used (auto picks it)
    steps_per_epoch: int
    total_steps: int
    epochs: float
    started_at: float  # Unix time
    t: float  # seconds of training so far (pauses left out)


class StepEvent(TypedDict, total=False):
    kind: Required[Literal["step"]]
    step: Required[int]
    epoch: Required[int]
    loss: float  # the mean training loss since the last step event
    lr: float
    images_per_s: float
    t: float
    # every few seconds, the quick test estimate (``probes.QuickTest``)
    quick_test_loss: float
    quick_test_acc: float
    quick_test_n: int
    quick_test_seconds: float


class EpochEvent(TypedDict, total=False):
    kind: Required[Literal["epoch"]]
    epoch: Required[int]
    step: Required[int]
    train_loss: float
    test_loss: float
    test_acc: float  # classification runs
    per_class_acc: list[float]
    confusion: list[list[int]]
    partial: bool  # stopped inside the epoch: the figures of its steps so far
    t: float


class ResumedEvent(TypedDict, total=False):
    kind: Required[Literal["resumed"]]
    epoch: Required[int]
    step: Required[int]
    in_epoch: int  # steps of that epoch already done
    note: str
    t: float


class SetEvent(TypedDict, total=False):
    kind: Required[Literal["set"]]
    step: Required[int]  # applied from the next step
    lr: float
    momentum: float
    weight_decay: float
    t: float


class FinalEvent(TypedDict, total=False):
    kind: Required[FinalKind]
    message: str  # what happened, and what to do next (stopped, diverged, error)
    step: int
    epoch: int
    t: float
    run_id: str | None  # done
    device: str
    train_seconds: float
    images_per_second: float


class ErrorEvent(TypedDict, total=False):
    kind: Required[Literal["error"]]
    message: Required[str]
    traceback: str  # an internal error's (a bug to report)


class InterruptedEvent(TypedDict):
    """The server is going away: the run saved this step (not written to the run's file)."""

    kind: Literal["interrupted"]
    step: int
    epoch: int
    t: float
    message: str


Event = Union[StartEvent, StepEvent, EpochEvent, ResumedEvent, SetEvent, FinalEvent, ErrorEvent, InterruptedEvent]
