"""A run's events in memory, columnar (what the pages' plots need), filled by the job manager as its
worker reports them, or read back from the run store for a run this server is not running."""

from __future__ import annotations

import threading
from typing import Any, Iterable

from ..jobkinds import progress_line
from ..runs import FINAL_KINDS

__all__ = ["RunBuffer", "STEP_FIELDS", "run_progress"]

STEP_FIELDS = ("step", "epoch", "loss", "acc", "psnr", "lr", "images_per_s", "t")  # acc, psnr: tasks' metrics


class RunBuffer:
    """Thread-safe, columnar copy of a run's events (what the plots need)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.steps: dict[str, list[float]] = {k: [] for k in STEP_FIELDS}
        self.epochs: list[dict[str, Any]] = []
        self.start: dict[str, Any] | None = None
        self.final: dict[str, Any] | None = None
        self.version = 0  # bumps on every event, so readers can skip redraws
        self.latest: dict[str, Any] = {}  # newest value of each other step field (probes' live views)
        self.sets: list[dict[str, Any]] = []  # settings changed while it trained (``set`` events)
        self.batch: dict[str, Any] | None = None  # the last batch trained by "Step once" (``batch`` event)

    def add(self, e: dict[str, Any]) -> None:
        with self._lock:
            kind = e.get("kind")
            if kind == "step":
                for k in STEP_FIELDS:
                    self.steps[k].append(e.get(k))
                self.latest.update((k, v) for k, v in e.items() if k not in STEP_FIELDS and k != "kind")
            elif kind == "epoch":
                self.epochs.append(e)
            elif kind == "set":
                self.sets.append(e)
            elif kind == "batch":
                self.batch = e
            elif kind == "start":
                self.start = e
            elif kind == "resumed":
                self.final = None
            elif kind in FINAL_KINDS:
                self.final = e
            self.version += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"steps": {k: list(v) for k, v in self.steps.items()}, "epochs": list(self.epochs),
                    "start": self.start, "final": self.final, "version": self.version, "latest": dict(self.latest),
                    "sets": list(self.sets), "batch": self.batch}

    @classmethod
    def from_events(cls, events: Iterable[dict[str, Any]]) -> "RunBuffer":
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
    done = total if final and final.get("kind") == "done" else (steps["step"][-1] if steps["step"] else 0)
    elapsed = steps["t"][-1] - start.get("t", 0.0) if steps["t"] else 0.0
    return progress_line(done, total, elapsed, live)

