"""How a lesson's experiment runs its jobs: through the job manager, as a click on a page does (the same
gate, queue, slots and worker processes), whether the lesson runs from its landing page or from the
harness (``playground lessons``).

``Ctx`` says where and how big: the data folder, the device, and whether it is the quick (shrunk) form
the test suite asserts. ``Runner.jobs(specs)`` submits specs (RunConfig, InitRace, StyleJob) together and
waits for them; it raises, with the job's own message, when one fails.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..errors import PlaygroundError
from ..runs import Run

__all__ = ["Ctx", "Runner", "Outcome", "job_manager_api"]


@dataclass(frozen=True)
class Ctx:
    """Where a lesson runs: ``root`` the data folder (None: the settings' own), ``device`` (auto, cpu, cuda:k),
    ``quick`` the shrunk form (fewer images and steps) the test suite asserts."""

    root: str | None = None
    device: str = "auto"
    quick: bool = False


@dataclass
class Outcome:
    """What an experiment measured: the figure its point is stated in, the numbers in words, and what the
    landing page shows (plotly figures, captioned images as numpy arrays)."""

    figure: float
    text: str
    ok: bool = True  # conditions beside the figure (e.g. both models learned on centred images)
    charts: list[Any] = field(default_factory=list)
    images: list[tuple[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def job_manager_api():
    """The job manager module (``manager()``, ``JobManager``), with the training kind of job registered."""
    from ..jobs import manager as mod
    from ..train import job as _train_kind  # noqa: F401  (registers the "train" kind: a RunConfig trains)

    return mod


class Runner:
    """Submits a lesson's jobs to a job manager for ``owner`` and waits; records each job for the page."""

    FINAL = ("done", "stopped", "diverged", "error", "interrupted")

    def __init__(
        self, mgr: Any, owner: str, ctx: Ctx, progress: Callable[[str], None] | None = None, poll_s: float = 0.1
    ):
        self.mgr, self.owner, self.ctx = mgr, owner, ctx
        self.progress = progress or (lambda _text: None)
        self.poll_s = poll_s
        self.started: list[tuple[str, str]] = []  # (job kind, run id), in the order submitted
        self.cancelled = threading.Event()
        self.live: list[Any] = []

    def jobs(self, specs: Sequence[Any], what: str = "") -> list[Any]:
        """Submit every spec, wait until all have ended; returns the Jobs (``job.run``, ``job.buffer``)."""
        jobs = [self.mgr.submit(spec, self.owner) for spec in specs]
        self.live = jobs
        self.started += [(job.kind.name, job.run_id) for job in jobs]
        self.progress(what or f"training {len(jobs)} job(s)...")
        while any(job.state not in self.FINAL for job in jobs):
            if self.cancelled.is_set():
                for job in jobs:
                    self.mgr.stop(job.run_id)
                raise PlaygroundError("The lesson was stopped.")
            time.sleep(self.poll_s)
        self.live = []
        for job in jobs:
            if job.state not in ("done", "stopped"):
                raise PlaygroundError(f"A job of this lesson ended with {job.state}: {_message(job)}")
        return jobs

    def runs(self, configs: Sequence[Any], what: str = "") -> list[Run]:
        return [job.run for job in self.jobs(configs, what)]


def _message(job: Any) -> str:
    """The job's final message: from its buffer (the manager's own, e.g. a worker that died), else its run."""
    try:
        final = job.buffer.snapshot().get("final") or {}
        if final.get("message"):
            return str(final["message"])
    except (AttributeError, TypeError):
        pass
    return final_message(job.run)


def final_message(run: Run) -> str:
    try:
        for e in reversed(run.events()):
            if e.get("message"):
                return str(e["message"])
    except (PlaygroundError, OSError):
        pass
    return "no message (see the run's metrics)."


def final_event(run: Run) -> dict[str, Any]:
    """The run's final event (done: test_acc, test_psnr, ...)."""
    for e in reversed(run.events()):
        if e.get("kind") in Runner.FINAL:
            return e
    raise PlaygroundError(f"Run {run.run_id} has no final event: {final_message(run)}")
