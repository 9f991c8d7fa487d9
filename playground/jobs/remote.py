"""Jobs on a Ray cluster: with ``PLAYGROUND_RAY_ADDRESS`` set, each job the manager starts runs as a Ray
actor (``RayJob``) on some node instead of a local worker process (``workers.WorkerProcess``).

``RayWorker`` has the interface the manager drives a ``WorkerProcess`` through (``start``, ``events``,
``kill``), so the queue, the limits, the quotas and the gate stay in the server, unchanged. Events stream
back while the job runs through an actor method (``next_events``, a long poll of the actor's queue),
not by polling files. Controls travel as actor calls: ``RelayControls`` forwards every control method
by name (stop, pause, resume, change, and any added later) to the actor's own ``Controls``.

Files: without ``PLAYGROUND_RAY_RUNS`` the job's run folder travels with it (config, metrics and
checkpoint, for a resume) and every event comes back with what changed in the actor's copy since the
last one (``mirror``: the new metrics lines, a new checkpoint, model.pt), written into the server's run store
before the event is handed on, so the store is as current as the buffer. With it, the actor writes the
run folder on the shared storage directly. A job whose actor or node dies ends as ``interrupted``:
resumable from its last checkpoint. Ray is optional: imported only when a job is sent to it.
"""

from __future__ import annotations

import contextlib
import queue
import resource
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..errors import DatasetUnavailable, PlaygroundError
from ..failures import failure_message
from ..runs import FINAL_KINDS, Run, RunStore
from ..settings import apply_environment, environment, settings
from .controls import Controls
from .kinds import JobKind
from .mirror import Mirror, apply_changes, folder_files, within

__all__ = ["RayWorker", "RayJob", "RelayControls", "relay_controls", "connect", "CPU_JOB_CPUS"]

CPU_JOB_CPUS = 2  # a CPU job's Ray CPUs: Ray sets the actor's OMP_NUM_THREADS (torch's threads) to it
# Controls methods the trainer calls on its own side: never sent to the actor (the rest are controls).
TRAINER_SIDE = frozenset({"changes", "wait_while_paused", "out_of_time", "stop_message", "paused_for", "take_single"})
UNAVAILABLE_S = 30.0  # how long an unreachable actor may stay so before its job counts as interrupted
_actor_class: Any = None
_connect_lock = threading.Lock()


def connect():
    """The ``ray`` module, connected to the cluster the settings name (once per process)."""
    try:
        import ray
    except ImportError:
        raise PlaygroundError(
            "PLAYGROUND_RAY_ADDRESS is set but Ray is not installed here: pip install -e "
            "'.[ray]', or unset PLAYGROUND_RAY_ADDRESS to train in local worker processes."
        ) from None
    with _connect_lock:  # two jobs starting at once connect once
        if not ray.is_initialized():
            ray.init(address=settings().ray_address, log_to_driver=False)
    return ray


class RayJob:
    """The actor: one job, trained in a thread of its own while the actor's methods (events, controls)
    are served beside it (a threaded actor). ``files``: the run folder's files when they travel with the
    job; None when ``root`` is the shared run store."""

    def __init__(
        self,
        run_id: str,
        kind: JobKind,
        root: str | None,
        files: dict[str, bytes] | None,
        resuming: bool,
        device: str | None,
        time_limit_s: float | None,
        env: dict[str, str],
    ) -> None:
        import ray

        own_data = environment().get("PLAYGROUND_DATA")  # a node's own data folder wins over the server's
        apply_environment({**env, **({"PLAYGROUND_DATA": own_data} if own_data else {})})
        self.node = f"{socket.gethostname()} ({ray.util.get_node_ip_address()})"
        self.kind, self.resuming, self.device = kind, resuming, device
        self.controls = Controls(time_limit_s)
        self.queue: queue.Queue = queue.Queue()
        self.tmp = None
        if files is not None:
            self.tmp = Path(tempfile.mkdtemp(prefix="playground-ray-"))
            root = str(self.tmp)
            for rel, data in files.items():
                path = within(self.tmp / run_id, rel)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        self.store = RunStore(root, parse=self.kind.parse_config)
        self.run = self.store.open(run_id)
        self.mirror = Mirror(self.run.dir) if files is not None else None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._train, name=f"job-{run_id}", daemon=True)

    def start(self) -> str:
        limit = settings().worker_memory_mb  # the server's setting (applied above): as a worker process's
        if limit:
            cap = limit * 2**20
            resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))  # heap and anonymous mappings: tensors
        self._thread.start()
        return self.node

    def _put(self, e: Mapping[str, Any] | None) -> None:
        with self._lock:  # the trainer's thread, or one it emits from (download progress)
            changes = self.mirror.changes() if self.mirror is not None else None
            self.queue.put((e, changes, time.time()))

    def _train(self) -> None:
        try:
            problem = self._missing_data()
            if problem is not None:
                self.run.append(problem)
                self._put(problem)
                return
            for e in self.kind.events(self.run, self.store, self.controls, self.resuming, self._put, self.device):
                self._put(e)
        except BaseException as e:  # the kind turns errors into events; this is the last line of defence
            message = failure_message(e) or f"The run failed on Ray node {self.node} ({type(e).__name__}: {e})."
            event = {"kind": "error", "t": 0.0, "message": message}
            with contextlib.suppress(OSError):
                self.run.append(event)
            self._put(event)
        finally:
            self._put(None)
            with self._lock:
                self.mirror = None  # no file goes back once the copy is gone
            if self.tmp is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def _missing_data(self) -> dict[str, Any] | None:
        """The job's data, loaded on this node before it runs (then cached for it; the kind says what it
        reads): when the node lacks it, an error that names the node, the folder and the files."""
        try:
            self.kind.load_data(self.run)
        except DatasetUnavailable as e:
            return {
                "kind": "error",
                "t": 0.0,
                "message": f"Ray node {self.node} has no {e} "
                "Every node reads data sets from its own data folder (PLAYGROUND_DATA where its Ray "
                "processes were started, else the server's): put the files there on that node.",
            }
        return None

    def next_events(self, timeout: float = 0.5, most: int = 256) -> list[tuple]:
        """The events (with the files they changed, and when they were sent) since the last call; waits up
        to ``timeout`` s for the first. A None event is the end; an empty one carries files alone (written
        while no event came: the checkpoint after an epoch of a run paused there)."""
        try:
            out = [self.queue.get(timeout=timeout)]
        except queue.Empty:
            with self._lock:  # (an event put meanwhile goes first, with these files: the order stays)
                changes = self.mirror.changes() if self.mirror is not None and self.queue.empty() else None
            return [({}, changes, time.time())] if changes and any(changes.values()) else []
        while len(out) < most:
            try:
                out.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return out

    def control(self, name: str, args: tuple, kwargs: dict) -> Any:
        return getattr(self.controls, name)(*args, **kwargs)


class RelayControls:
    """The server's side of a Ray job's controls: a local ``Controls`` keeps the state the manager reads
    (paused, since when, stopped) and checks the values; every control method called on it is also sent,
    by name and in order, to the actor's ``Controls``. Calls made before the actor exists wait for it."""

    def __init__(self, time_limit_s: float | None = None) -> None:
        self.local = Controls(time_limit_s)
        self._actor: Any = None
        self._pending: list[tuple[str, tuple, dict]] = []
        self._send_lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.local, name)
        if name.startswith("_") or name in TRAINER_SIDE or not callable(attr):
            return attr

        def relay(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)  # checks the values (a bad learning rate is refused here)
            self.local.changes()  # the actor applies the changes; this side only keeps the state
            self._send(name, args, kwargs)
            return result

        return relay

    def attach(self, actor: Any) -> None:
        with self._send_lock:
            self._actor = actor
            pending, self._pending = self._pending, []
        for call in pending:
            self._send(*call)

    def _send(self, name: str, args: tuple, kwargs: dict) -> None:
        with self._send_lock:  # one at a time, each acknowledged: pause then resume arrive in that order
            if self._actor is None:
                self._pending.append((name, args, kwargs))
                return
            ray = connect()
            with contextlib.suppress(ray.exceptions.RayError):  # a dead actor: its job ends as interrupted
                ray.get(self._actor.control.remote(name, args, kwargs), timeout=30)


def relay_controls(time_limit_s: float | None) -> RelayControls:
    return RelayControls(time_limit_s)


def _resources(ray, want: str) -> tuple[dict[str, float], str | None]:
    """(actor options, device) for a job that asks for ``want`` (auto, cpu, cuda[:k]): a GPU of the
    cluster's when it has any (Ray hands the actor one, as cuda:0), else CPUs."""
    gpus = ray.cluster_resources().get("GPU", 0)
    if want.startswith("cuda") and not gpus:
        raise PlaygroundError(
            f"The run asks for a GPU ({want}) but the Ray cluster has none. Choose the CPU "
            "or auto, or add a GPU node to the cluster."
        )
    if want != "cpu" and gpus:
        return {"num_gpus": 1, "num_cpus": 1}, "cuda:0"
    cpus = ray.cluster_resources().get("CPU", 1)
    return {"num_cpus": max(1, min(CPU_JOB_CPUS, int(cpus)))}, "cpu" if want == "cpu" else None


class RayWorker:
    """One job on the Ray cluster, driven like a ``WorkerProcess``: ``start()``, ``events()``, ``kill()``.
    ``device`` (the manager's placement on its own GPUs) is not used: the cluster places the actor."""

    def __init__(
        self,
        run: Run,
        kind: JobKind,
        controls: RelayControls,
        resuming: bool,
        device: str | None = None,
        runs_root: Path | None = None,
    ) -> None:
        self.run, self.kind, self.controls, self.resuming = run, kind, controls, resuming
        self.runs_root = runs_root  # the manager's run store: where the run lives below ray_runs
        self.actor: Any = None
        self.node: str | None = None
        self.delays: list[float] = []  # seconds from the actor's put to this side (benchmarks)

    def start(self) -> None:
        global _actor_class
        ray = connect()
        options, device = _resources(ray, self.kind.device_of(self.kind.spec(self.run)))
        if settings().worker_memory_mb:  # Ray places it where this much memory is free; the actor caps itself
            options["memory"] = settings().worker_memory_mb * 2**20
        shared = settings().ray_runs
        if shared is not None:
            rel = self.run.dir.parent.relative_to(self.runs_root) if self.runs_root else Path()
            root, files = str(Path(shared) / rel), None
        else:
            root, files = None, {rel: (self.run.dir / rel).read_bytes() for rel, _ in folder_files(self.run.dir)}
        if _actor_class is None:
            _actor_class = ray.remote(RayJob)
        self.actor = _actor_class.options(max_concurrency=4, max_restarts=0, **options).remote(
            self.run.run_id, self.kind, root, files, self.resuming, device, self.controls.time_limit_s, environment()
        )
        self.controls.attach(self.actor)
        self._started = self.actor.start.remote()

    def events(self) -> Iterator[dict[str, Any]]:
        """The actor's events as they come, its files written into the run store first; when the actor or
        its node dies before a final event, an ``interrupted`` one (the run resumes from its checkpoint)."""
        ray = connect()
        final, step, unavailable_since, why = False, 0, None, None
        while True:
            try:
                batch = ray.get(self.actor.next_events.remote(0.5), timeout=60)
                unavailable_since = None
            except ray.exceptions.GetTimeoutError:  # still waiting for a node with room
                continue
            except ray.exceptions.ActorUnavailableError as err:  # its node unreachable: maybe for a moment
                unavailable_since = unavailable_since or time.monotonic()
                if time.monotonic() - unavailable_since < UNAVAILABLE_S:
                    time.sleep(1.0)
                    continue
                why = err
                break
            except ray.exceptions.RayError as err:  # the actor, its worker process or its node died
                why = err
                break
            if batch and self.node is None:
                with contextlib.suppress(ray.exceptions.RayError):
                    self.node = ray.get(self._started, timeout=5)
            for e, changes, sent in batch:
                apply_changes(self.run, changes)
                if e is None:
                    self.kill()
                    return
                if not e:  # files alone
                    continue
                self.delays.append(time.time() - sent)
                final = final or e.get("kind") in FINAL_KINDS or e.get("kind") == "interrupted"
                step = e.get("step", step) if isinstance(e.get("step"), int) else step
                yield e
        self.kill()
        if not final:
            yield {"kind": "interrupted", "step": step, "t": 0.0, "message": self._died(why)}

    def _died(self, why: BaseException | None) -> str:
        cause = str(why).strip().splitlines()[0][:300] if why is not None else "no reason given"
        return (
            f"The Ray actor training this run, or its node{f' {self.node}' if self.node else ''}, died "
            f"({type(why).__name__}: {cause}). Resume continues from the last saved checkpoint."
        )

    def kill(self) -> None:
        if self.actor is not None:
            ray = connect()
            with contextlib.suppress(Exception):
                ray.kill(self.actor, no_restart=True)
