"""A server that goes away while the queue starts a run (the restart journey's race, issue 28): the start of a
worker and the server's closing exclude each other (``playground.jobs.starting``).

What an exiting interpreter does, done here in its order on one process: the job manager's exit hook
(``close``), then multiprocessing's, which unlinks the names of the semaphores the workers' controls are
made of. A worker forked before that reads its controls by name; one still unpickling them then failed
(FileNotFoundError in ``SemLock._rebuild``, exit code 1). Each round: one run trains, one waits; the first
is stopped, which hands its slot to the second, and the server closes as the second's worker starts."""

from __future__ import annotations

import multiprocessing.util as mp_util
from multiprocessing.synchronize import SemLock
from typing import Any

from conftest import tiny_run, wait_until

from playground.jobs.manager import QUEUED, JobManager

LONG = tiny_run(epochs=500)


def _semlocks(obj: Any, seen: set[int] | None = None) -> list[SemLock]:
    """The semaphores ``obj`` is made of (a job's controls, a worker's queue)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, SemLock):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [s for x in obj for s in _semlocks(x, seen)]
    inner = getattr(obj, "__dict__", None)
    return [s for x in inner.values() for s in _semlocks(x, seen)] if isinstance(inner, dict) else []


def _exit_unlinks(*objs: Any) -> None:
    """What multiprocessing's exit hook does to these objects' semaphores: their finalizers run (the names are
    unlinked; a process that has not opened one yet cannot any more)."""
    names = {s._semlock.name for o in objs for s in _semlocks(o)}
    for fin in list(mp_util._finalizer_registry.values()):
        args = getattr(fin, "_args", None)
        if args and args[0] in names:
            fin()  # unlinks the name, once (the finalizer leaves the registry)


class _Paused:
    """Holds every worker start at its beginning (``WorkerProcess.start``) until the test says ``proceed``:
    the server's closing then happens during a start, every round, whatever the machine's load (polling for
    the start once let it finish first on a quiet machine, and the round tested nothing)."""

    def __init__(self, monkeypatch) -> None:
        import threading

        from playground.jobs.workers import WorkerProcess

        self.forking, self.proceed = threading.Event(), threading.Event()
        real = WorkerProcess.start

        def start(worker: WorkerProcess) -> None:
            if worker.run.config().train.seed == 2:  # the waiting run's start only
                self.forking.set()
                assert self.proceed.wait(120)
            real(worker)

        monkeypatch.setattr(WorkerProcess, "start", start)


def _round(store, paused: _Paused, gate: bool) -> tuple[int | None, bool, bool, str]:
    """One round: the waiting run's worker's exit code (None: none was forked), whether its folder is still
    marked queued, whether it holds any event, and the run's state in the manager, after the server closed.
    ``gate``: the exit hook's closing waits for the start (as the manager does); False: as before it did."""
    import threading

    paused.forking.clear()
    paused.proceed.clear()
    m = JobManager(store, max_running=1, workers="process")
    try:
        first = m.submit(LONG, "a")
        second = m.submit(LONG.replace(train={"seed": 2}), "b")
        assert wait_until(lambda: len(first.buffer.snapshot()["steps"]["step"]) >= 1, 300)
        m.stop(first.run_id)  # its slot goes to the waiting run as soon as its worker ends
        assert paused.forking.wait(60)  # the waiting run's worker is being started now
        if gate:
            closer = threading.Thread(target=m.close)  # the server goes away now: the exit hook ...
            closer.start()
            assert wait_until(lambda: m.closing, 30)
            paused.proceed.set()  # ... the start goes on under it, and the hook waits for it
            closer.join(60)
            _exit_unlinks(second.controls, second.worker)  # ... then multiprocessing's
        else:
            _exit_unlinks(second.controls, second.worker)  # the hook did not wait: the names go first
            paused.proceed.set()

        def settled() -> bool:  # turned back to the queue, or its worker ended or trains
            w = second.worker
            back = second.state == "queued" and second.thread is None
            return back or (
                w is not None and (w.process.exitcode is not None or second.buffer.snapshot()["steps"]["step"])
            )

        assert wait_until(settled, 60)
        folder = second.run.dir
        queued, begun, state = (folder / QUEUED).is_file(), (folder / "metrics.jsonl").is_file(), second.state
    finally:
        m.shutdown()
    worker = second.worker
    if worker is not None:
        worker.process.join(60)
    return (None if worker is None else worker.process.exitcode), queued, begun, state


def test_a_run_started_as_the_server_closes_stays_queued_and_no_worker_fails(store, monkeypatch):
    paused = _Paused(monkeypatch)
    for _ in range(2):
        code, queued, begun, state = _round(store, paused, gate=True)
        assert code in (None, 0), f"the waiting run's worker failed (exit code {code}): it lost its controls"
        # Its worker was told not to begin: the run waits, on disk, for the restarted server.
        assert (queued, begun, state) == (True, False, "queued")


def test_without_the_gate_the_race_shows(store, monkeypatch):
    """The same round with the names unlinked before the start goes on (what an exit did before the gate): the
    waiting run's worker cannot open its controls. Shows that the round above does reach the race."""
    code, *_ = _round(store, _Paused(monkeypatch), gate=False)
    assert code not in (None, 0), code
