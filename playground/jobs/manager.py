"""Background jobs: a process-wide manager with one queue and one concurrency limit for every kind of
long work (training of every task, style transfer: ``playground.jobs.kinds``).

The process has one ``JobManager`` (``manager()``), a plain module-level object: not a Streamlit
cache entry, which any client can clear with one websocket message. Every session submits to it,
through its gate (``submit`` -> the kind's ``admit``: names, folders, the model budget; then the
per-session quota). A job's worker process (or thread) runs the kind's ``events`` (``engine.fit``
for training) and the manager feeds each event to the job's in-memory buffer, which pages read from
their fragments; the worker writes the run store. Workers never touch Streamlit. At most ``max_running``
jobs run at once (by default one per GPU, one on a CPU); the rest wait in a queue served round robin by
session (``queue_position``), counted per session and per client address (``note_address``).
"""

from __future__ import annotations

import atexit
import shutil
import threading
from collections import OrderedDict, deque
from typing import Any

from ..device import gpus
from ..errors import PlaygroundError
from ..runs import FINAL_KINDS, RunStore
from ..settings import settings
from .actions import JobActions
from .controls import Controls
from .fairness import check_room, release_idle_pauses, serving_order
from .job import Job
from .kinds import JOB_KINDS, JobKind, kind_of
from .placement import place_job, placed_jobs
from .remote import RelayControls, relay_controls
from .starting import CLOSE_WAIT_S, StartGate, start_job
from .workers import process_controls, warm_up

__all__ = ["JobManager", "manager", "reset_manager"]

QUEUED = "queued"  # a run folder's mark while its job waits in the queue
MAX_SESSIONS_KEPT = 10_000  # sessions whose client address is remembered (the oldest are forgotten)


class JobManager(JobActions):
    """The queue, the slots and the workers of every job (what a person does to a job: ``actions.JobActions``)."""

    def __init__(
        self,
        store: RunStore | None = None,
        max_running: int | None = None,
        max_queued: int | None = None,
        max_finished: int | None = None,
        workers: str | None = None,
    ):
        cfg = settings()
        self.store = store or RunStore()
        # "process": each run trains in a worker process (workers.py); "thread": in this process
        # (what tests that patch the engine in-process use).
        self.workers = workers or cfg.workers
        self.ray = cfg.ray_address is not None  # each job a Ray actor on the cluster (remote.py), not a local worker
        if self.workers == "process" and not self.ray:
            warm_up()
        self.max_running = max_running or cfg.max_jobs
        self.jobs_per_gpu = cfg.jobs_per_gpu
        self.max_queued = max_queued or cfg.max_queued
        # Finished runs stay in memory (their buffers) only up to this many; older ones are read
        # back from the run store when opened, so a long class does not grow the server.
        self.max_finished = cfg.max_finished if max_finished is None else max_finished
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._queue: deque[str] = deque()
        self._addresses: OrderedDict[str, str] = OrderedDict()  # session -> its client's address (latest)
        self._served: dict[str, int] = {}  # session -> when its last queued job started (round robin)
        self._tick = 0
        # The server is going away (shutdown(), or the interpreter exiting): the queue starts nothing more and
        # no start goes on; what waits stays queued on disk for the restarted server (starting.py).
        self._gate = StartGate()

    @property
    def closing(self) -> bool:
        return self._gate.closing

    def close(self, timeout: float = CLOSE_WAIT_S) -> None:
        """Start nothing more; wait for the starts in progress (``starting.StartGate``)."""
        self._gate.close(timeout)

    def note_address(self, owner: str, address: str) -> None:
        """The client address a session comes from: runs are also counted per address
        (PLAYGROUND_MAX_RUNS_PER_ADDRESS), so a client that drops its cookie cannot mint quota."""
        with self._lock:
            self._addresses[owner] = address
            self._addresses.move_to_end(owner)
            while len(self._addresses) > MAX_SESSIONS_KEPT:
                self._addresses.popitem(last=False)

    # -- submitting --------------------------------------------------------
    def submit(self, config: Any, owner: str) -> Job:
        """The gate every new job passes, of every kind (a RunConfig trains, a StyleJob paints): raises
        PlaygroundError (with the reason) before anything is allocated: bad names or values, a folder
        the session may not read, a model over the budget, a session over its quota, a full queue."""
        kind = kind_of(config)
        kind.admit(config, owner, runs_root=self.store.root)
        with self._lock:
            self._check_room(owner)
        job = Job(
            kind.create(self.store_for(kind.name), config),
            config,
            owner,
            kind=kind,
            buffer=kind.buffer(),
            controls=self._controls(kind),
        )
        try:
            job.run.write_control_key(job.control_key, owner)
            (job.run.dir / QUEUED).touch()  # waiting: a restarted server queues it again (restore_queued)
            return self._enqueue(job)
        except BaseException:  # the queue filled meanwhile (another tab's submit): no folder is left behind
            shutil.rmtree(job.run.dir, ignore_errors=True)
            raise

    def store_for(self, kind: str) -> RunStore:
        """The run store that holds this kind's runs (style transfers live in a subfolder of the runs; a kind
        without a folder of its own, training, in the manager's store itself)."""
        k = JOB_KINDS.get(kind)
        if not k.folder:
            return self.store
        return RunStore(k.store_root(self.store.root), parse=k.parse_config)

    def resume(self, run_id: str, owner: str) -> Job:
        """Queue an interrupted run to continue from its last checkpoint (of a kind that can resume)."""
        name = self.kind_of(run_id)
        run = self._open(run_id, name)
        assert name is not None  # _open raised: no kind holds the run
        kind = JOB_KINDS.get(name)
        if not kind.resumable:
            raise PlaygroundError(f"Run {run_id} is a {kind.name} job, which cannot resume: start it again.")
        job = Job(
            run,
            kind.spec(run),
            owner,
            kind=kind,
            buffer=kind.buffer_from_run(run),
            resume=True,
            controls=self._controls(kind),
        )  # the buffer: until the worker has truncated the file
        job.control_key = run.control_key() or job.control_key
        with self._lock:  # check and register in one step: two tabs may press Resume at once
            live = self._jobs.get(run_id)
            if live is not None and (live.live or run_id in self._queue):
                return live
            self._check_room(owner)
            self._jobs[run_id] = job
            self._queue.append(run_id)
        self._pump()
        return job

    def restore_queued(self) -> int:
        """The runs that waited in the queue when the server stopped (their folder's QUEUED mark, no event
        yet) wait again, in the order they were submitted, for the session that started them. How many."""
        back: dict[str, Job] = {}
        for name in JOB_KINDS.names():
            for run in self.store_for(name).list():
                if run.run_id in back or not (run.dir / QUEUED).is_file() or run.status() != "created":
                    continue
                try:
                    kind = JOB_KINDS.get(self.kind_of(run.run_id) or name)
                    job = Job(
                        run,
                        kind.spec(run),
                        run.owner_digest() or "",
                        kind=kind,
                        buffer=kind.buffer(),
                        controls=self._controls(kind),
                    )
                except PlaygroundError:
                    continue  # a damaged folder stays listed as damaged
                job.control_key = run.control_key() or job.control_key
                back[run.run_id] = job
        with self._lock:
            for run_id in sorted(back):  # run ids begin with their creation time
                self._jobs[run_id] = back[run_id]
                self._queue.append(run_id)
        self._pump()
        return len(back)

    def _check_room(self, owner: str) -> None:
        check_room(self._jobs.values(), len(self._queue), self.max_queued, owner, self._addresses)

    def _enqueue(self, job: Job) -> Job:
        with self._lock:
            self._check_room(job.owner)
            self._jobs[job.run_id] = job
            self._queue.append(job.run_id)
        self._pump()
        return job

    def _pump(self) -> None:
        with self._lock:
            if self.closing:  # the server is going away
                return
            release_idle_pauses(self._jobs.values())  # long pauses give their slots on
            while self._queue and self._running_count() < self.max_running:
                job = self._jobs[self._next_locked()]
                job.state = "running"
                if job.released:  # a long pause coming back: its worker is waiting, let it go on
                    job.released = False
                    job.controls.resume()
                    continue
                job.device = (
                    None
                    if self.ray
                    else place_job(  # Ray places its own
                        job.kind.device_of(job.config), placed_jobs(self._jobs.values()), self.jobs_per_gpu
                    )
                )
                job.thread = threading.Thread(target=self._work, args=(job,), name=f"job-{job.run_id}", daemon=True)
                job.thread.start()

    def _order_locked(self) -> list[str]:
        return serving_order(self._jobs, self._queue, self._served)

    def _next_locked(self) -> str:
        run_id = self._order_locked()[0]
        self._queue.remove(run_id)
        self._tick += 1
        self._served[self._jobs[run_id].owner] = self._tick
        return run_id

    def occupancy(self) -> list[dict[str, Any]]:
        """Per GPU: its name, the jobs placed on it and its memory in use (MB): the sidebar and the teacher."""
        with self._lock:
            placed = placed_jobs(self._jobs.values())
        return [{**d, "jobs": placed.get(d["index"], 0), "used_mb": d["total_mb"] - d["free_mb"]} for d in gpus()]

    def _running_count(self) -> int:
        return sum(1 for j in self._jobs.values() if j.state == "running" and not j.released)

    def _controls(self, kind: JobKind) -> Controls | RelayControls:
        limit = kind.time_limit_s(settings().max_run_minutes)
        if self.ray:
            return relay_controls(limit)
        return process_controls(limit) if self.workers == "process" else Controls(limit)

    def _work(self, job: Job) -> None:
        try:
            events = start_job(  # None: the server is going away
                job,
                self._gate,
                self.store_for(job.kind.name),
                runs_root=self.store.root,
                remote=self.ray,
                process=self.workers == "process",
                jobs_at_once=self.max_running,
            )
            if events is None:  # the server is going away: the run waits, queued, for the restarted one
                with self._lock:
                    job.state, job.thread = "queued", None
                    self._queue.appendleft(job.run_id)
                return
            for e in events:
                if e["kind"] == "resumed":  # the run store now holds only what the checkpoint covers
                    job.buffer = job.kind.buffer_from_run(job.run)
                    continue
                job.buffer.add(e)
                if e["kind"] == "interrupted":  # saved at this step; listed as interrupted, resumable
                    job.state = "interrupted"
                if e["kind"] in FINAL_KINDS:
                    with self._lock:  # ended and trimmed in one step: a reader never sees both kept
                        job.state = e["kind"]
                        self._forget_finished_locked()
        except Exception as e:  # fit() turns errors into events; this is the last line of defence
            job.buffer.add({"kind": "error", "message": f"The run ended unexpectedly ({type(e).__name__}: {e})."})
            job.state = "error"
        finally:
            if job.state == "running":  # the generator ended without a final event
                job.state = "error"
            self._forget_finished()
            self._pump()

    def _forget_finished(self) -> None:
        with self._lock:
            self._forget_finished_locked()

    def _forget_finished_locked(self) -> None:
        done = [k for k, j in self._jobs.items() if not j.live and k not in self._queue]
        for k in done[: max(0, len(done) - self.max_finished)]:  # oldest first (insertion order)
            del self._jobs[k]


_manager: JobManager | None = None
_manager_lock = threading.Lock()


def manager() -> JobManager:
    """The process's job manager, created on first use with the settings then in force. Nothing a
    client sends replaces it (unlike a Streamlit cache entry)."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = JobManager()
            _manager.restore_queued()  # what waited before a restart waits again
        return _manager


def _close_at_exit() -> None:
    """The interpreter is exiting: the queue starts nothing more, and the starts in progress finish first.
    Registered after multiprocessing's own exit hook, so it runs before that one unlinks the workers'
    semaphores and terminates the workers (starting.py)."""
    if _manager is not None:
        _manager.close()


atexit.register(_close_at_exit)


def reset_manager() -> None:
    """Stop every job and start over with the current settings (tests; a server that starts afresh)."""
    global _manager
    with _manager_lock:
        old, _manager = _manager, None
    if old is not None:
        old.shutdown()
