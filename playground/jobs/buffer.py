"""A run's events in memory, columnar (what the pages' plots need), filled by the job manager as its
worker reports them, or read back from the run store for a run this server is not running."""

from __future__ import annotations

import threading
from typing import Any, Iterable, Mapping, cast

from ..events import FINAL_KINDS, EpochEvent, FinalEvent, SetEvent, StartEvent
from .kinds import progress_line

__all__ = ["RunBuffer", "STEP_FIELDS", "QUICK_FIELDS", "latest_test_acc", "run_progress"]

STEP_FIELDS = ("step", "epoch", "loss", "acc", "psnr", "lr", "images_per_s", "t")  # acc, psnr: tasks' metrics
# The quick test estimate (``probes.QuickTest``), from the step events that carry one: step, epoch and t,
# and the event's quick_test_<field> for the others.
QUICK_FIELDS = ("step", "epoch", "loss", "acc", "psnr", "n", "seconds", "t")
_OWN = ("step", "epoch", "t")


class RunBuffer:
    """Thread-safe, columnar copy of a run's events (what the plots need)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.steps: dict[str, list[float | None]] = {k: [] for k in STEP_FIELDS}  # None: the event had no such field
        self.quick: dict[str, list[float | None]] = {k: [] for k in QUICK_FIELDS}  # the quick test estimates
        self.epochs: list[EpochEvent] = []
        self.start: StartEvent | None = None
        self.final: FinalEvent | None = None
        self.version = 0  # bumps on every event, so readers can skip redraws
        self.latest: dict[str, Any] = {}  # newest value of each other step field (probes' live views)
        self.sets: list[SetEvent] = []  # settings changed while it trained (``set`` events)
        self.batch: Mapping[str, Any] | None = None  # the last batch trained by "Step once" (``batch`` event)

    def add(self, e: Mapping[str, Any]) -> None:
        """One event (its ``kind`` says which of ``playground.events``' dicts it is)."""
        with self._lock:
            kind = e.get("kind")
            if kind == "step":
                for k in STEP_FIELDS:
                    self.steps[k].append(e.get(k))
                if "quick_test_n" in e:
                    for k in QUICK_FIELDS:
                        self.quick[k].append(e.get(k if k in _OWN else f"quick_test_{k}"))
                self.latest.update(
                    (k, v)
                    for k, v in e.items()
                    if k not in STEP_FIELDS and k != "kind" and not k.startswith("quick_test_")
                )
            elif kind == "epoch":
                self.epochs.append(cast(EpochEvent, e))
            elif kind == "set":
                self.sets.append(cast(SetEvent, e))
            elif kind == "batch":
                self.batch = e
            elif kind == "start":
                self.start = cast(StartEvent, e)
            elif kind == "resumed":
                self.final = None
            elif kind in FINAL_KINDS:
                self.final = cast(FinalEvent, e)
            self.version += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "steps": {k: list(v) for k, v in self.steps.items()},
                "epochs": list(self.epochs),
                "quick": {k: list(v) for k, v in self.quick.items()},
                "start": self.start,
                "final": self.final,
                "version": self.version,
                "latest": dict(self.latest),
                "sets": list(self.sets),
                "batch": self.batch,
            }

    @classmethod
    def from_events(cls, events: Iterable[Mapping[str, Any]]) -> "RunBuffer":
        buf = cls()
        for e in events:
            buf.add(e)
        return buf


def run_progress(snap: dict[str, Any], live: bool) -> dict[str, Any] | None:
    """A training run's progress from its buffer's snapshot (``progress_line``); None before it starts."""
    start, final, steps = snap["start"], snap["final"], snap["steps"]
    if not start:
        return None
    total = start["total_steps"]
    # an ended run: the steps its final event counts (the last step event may be a few steps older)
    done = (
        total
        if final and final.get("kind") == "done"
        else final["step"]
        if final and "step" in final
        else (steps["step"][-1] if steps["step"] else 0)
    )
    elapsed = steps["t"][-1] - start.get("t", 0.0) if steps["t"] else 0.0
    return progress_line(done, total, elapsed, live)


def latest_test_acc(snap: dict[str, Any]) -> dict[str, Any] | None:
    """The newest test accuracy of a buffer's snapshot: the last epoch's (the whole test split; ``n`` None)
    or the quick estimate's taken after it (``n`` test images), as {acc, step, n}; None before either."""
    last, quick = (snap["epochs"] or [None])[-1], snap.get("quick") or {}
    q = [(s, a, n) for s, a, n in zip(quick.get("step", ()), quick.get("acc", ()), quick.get("n", ())) if a is not None]
    if q and (last is None or q[-1][0] > last["step"]):
        return {"acc": q[-1][1], "step": q[-1][0], "n": q[-1][2]}
    return None if last is None else {"acc": last["test_acc"], "step": last["step"], "n": None}
