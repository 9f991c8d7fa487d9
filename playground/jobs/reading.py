"""What a page reads of the jobs: one job, its snapshot (live, or read back from its run folder), its place in
the queue, its kind and status. The job manager's reading half (``manager.JobManager``; ``actions.JobActions``,
which acts on jobs, builds on it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import PlaygroundError
from .kinds import JOB_KINDS

if TYPE_CHECKING:
    import threading
    from collections import deque

    from ..runs import Run, RunStore
    from .job import Job

__all__ = ["JobReading"]


class JobReading:
    """The reading methods of ``JobManager`` (a base class: they use its lock, queue, jobs and stores)."""

    _lock: "threading.Lock"
    _queue: "deque[str]"
    _jobs: "dict[str, Job]"
    store: "RunStore"

    def store_for(self, kind: str) -> "RunStore":
        raise NotImplementedError

    def _pump(self) -> None:
        raise NotImplementedError

    def _order_locked(self) -> list[str]:
        raise NotImplementedError

    def get(self, run_id: str) -> "Job | None":
        with self._lock:
            return self._jobs.get(run_id)

    def get_locked(self, run_id: str) -> "Job | None":  # the caller holds the lock
        return self._jobs.get(run_id)

    def snapshot(self, run_id: str, kind: str | None = None) -> dict[str, Any]:
        """What a page draws of a run: its live buffer while this server holds it, else read back from
        the run store (a finished run, another server's, or one from before a restart). ``kind``: the
        kind of job it is (None: looked up)."""
        job = self.get(run_id)
        if job is not None:
            return job.buffer.snapshot()
        kind = kind or self.kind_of(run_id)
        run = self._open(run_id, kind)  # no kind holds it: the run store says it is not there
        assert kind is not None
        return JOB_KINDS.get(kind).buffer_from_run(run).snapshot()

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next to start; None when not queued."""
        with self._lock:
            try:
                return self._order_locked().index(run_id) + 1
            except ValueError:
                return None

    def jobs(self, owner: str | None = None) -> "list[Job]":
        with self._lock:
            jobs = list(self._jobs.values())
        return [j for j in jobs if owner is None or j.owner == owner]

    def live_jobs(self) -> "list[Job]":
        self._pump()  # pages poll this: long pauses hand their slots on
        return [j for j in self.jobs() if j.live]

    def kind_of(self, run_id: str) -> str | None:
        """The kind of job ``run_id`` is (train, style, initrace), from memory or its run folder; None if none."""
        job = self.get(run_id)
        if job is not None:
            return job.kind.name
        for name in JOB_KINDS.names():
            try:
                self.store_for(name).open(run_id)
                return name
            except PlaygroundError:
                continue
        return None

    def _open(self, run_id: str, kind: str | None) -> "Run":
        """The run's folder in its kind's store; when no kind holds it, the run store says it is not there."""
        return self.store_for(kind).open(run_id) if kind else self.store.open(run_id)

    def status(self, run_id: str, kind: str | None = None) -> str:
        """Live state (queued, running, paused, or final); for runs this server is not
        running, the run store's (of that kind), where a run with no final event is interrupted."""
        job = self.get(run_id)
        if job is not None:
            self._pump()
            if job.released and run_id in self._queue:
                return "queued"
            return "paused" if job.state == "running" and job.controls.paused else job.state
        status = self._open(run_id, kind or self.kind_of(run_id)).status()
        return "interrupted" if status in ("running", "created") else status
