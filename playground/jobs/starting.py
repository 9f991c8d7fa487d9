"""Starting a job (``start_job``), and the server's closing: the two exclude each other (``StartGate``).

A worker process receives its controls (multiprocessing events: named POSIX semaphores) by pickle, and opens
them by name only once the fork server has forked it and it has read its arguments. When the server's
interpreter exits, multiprocessing's exit hook unlinks those names first; a worker still being started then
failed to open them (FileNotFoundError in ``SemLock._rebuild``, about one restart in three: the fork server
of a freshly started server may still be importing torch, so a start can take seconds). So a start counts
itself in from the check that the server is not closing until its worker has said it holds its controls
(``READY``), and the go-ahead to touch its run is given under the same lock that ``close`` takes: a start
either finished before the server began to close (its worker trains, and is interrupted and saved like any
other), or its worker is told not to begin and ends without touching the run, which stays queued on disk
for the restarted server. ``close`` waits for the starts in progress, so no name is unlinked under them.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from ..runs import RunStore
from .job import Job
from .remote import RayWorker, RelayControls
from .workers import WorkerProcess, fork_server_ready

__all__ = ["StartGate", "CLOSE_WAIT_S", "start_job"]

CLOSE_WAIT_S = 30.0  # how long closing waits for a start in progress (a fork server still importing torch)


class StartGate:
    """Counts the worker starts in progress; once ``close`` is called, none begins and none goes on."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._starting = 0
        self.closed = False

    @property
    def closing(self) -> bool:
        """The server is going away: ``close`` was called, or the main thread has ended (the interpreter is
        exiting; its exit hooks run next)."""
        return self.closed or not threading.main_thread().is_alive()

    def begin(self) -> bool:
        """A start may begin (counted in until ``end``); False when the server is going away."""
        with self._cond:
            if self.closing:
                return False
            self._starting += 1
            return True

    def end(self, go: Callable[[bool], None]) -> bool:
        """The start that ``begin`` let in is over (its worker holds its controls, or died): ``go(ok)`` tells
        the worker, under the lock ``close`` takes, whether to begin. Returns ``ok``."""
        with self._cond:
            self._starting -= 1
            self._cond.notify_all()
            ok = not self.closing
            go(ok)
            return ok

    def close(self, timeout: float = CLOSE_WAIT_S) -> None:
        """No start begins or goes on from now; waits (at most ``timeout`` s) for the starts in progress to
        reach the point where their workers hold their controls."""
        with self._cond:
            self.closed = True
            self._cond.wait_for(lambda: self._starting == 0, timeout)


def start_job(
    job: Job, gate: StartGate, store: RunStore, *, runs_root: Path, remote: bool, process: bool, jobs_at_once: int
) -> Iterator[Mapping[str, Any]] | None:
    """Start ``job``: its events (from its Ray actor when ``remote``, its worker process when ``process``,
    else its kind's ``events`` in this thread, with ``store`` its kind's run store; ``runs_root``: the run
    store's root, which a Ray job mirrors), or None when the server is going away (``gate``: the worker
    begins its run only on the go-ahead given under the gate's lock). ``jobs_at_once``: how many jobs may
    train side by side (a CPU worker takes its share of the cores)."""
    if process and not remote:  # a fork server still importing torch is waited for outside the gate
        fork_server_ready()
    if not gate.begin():
        return None
    worker: WorkerProcess | RayWorker | None = None
    try:
        if remote or process:
            c = job.controls  # a RelayControls exactly when the jobs run on Ray
            worker = (
                RayWorker(job.run, job.kind, c, job.resume, runs_root=runs_root)
                if isinstance(c, RelayControls)
                else WorkerProcess(job.run, job.kind, c, job.resume, job.device, jobs_at_once=jobs_at_once)
            )
            job.worker = worker
            worker.start()  # a worker process: returns once it holds its controls
    finally:
        go = gate.end(worker.go if isinstance(worker, WorkerProcess) else lambda ok: None)
    if not go and not isinstance(worker, RayWorker):  # a Ray actor, once started, runs on the cluster as before
        return None
    (job.run.dir / "queued").unlink(missing_ok=True)  # manager.QUEUED: started, a restarted server lists it
    if worker is not None:
        return worker.events()
    return job.kind.events(job.run, store, job.controls, job.resume, job.buffer.add, job.device)
