"""Worker processes: a job (training, style transfer) runs in a process of its own, not in a thread of the server.

A run that runs out of memory, crashes the interpreter or is killed ends alone: the server, its
sessions and every other run go on, and the job manager turns the worker's death into a final
event a person can act on. Each worker also has its own random generators (a process of its own),
a memory limit (``PLAYGROUND_WORKER_MEMORY_MB``) and a lower CPU priority than the server
(``PLAYGROUND_WORKER_NICE``), so pages answer quickly while runs train.

Workers are forked from a fork server that has already imported torch and the module of every
registered job kind (``preload_modules``), so a run starts about as fast as a thread did (no second
``import torch``), and the fork happens from a clean single-threaded process, not from the
multi-threaded web server. A worker receives its kind object (unpickling it imports the kind's module).
Controls travel as multiprocessing events; events come back through a queue, in the schema
``engine.fit`` yields.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import resource
import signal
import threading
import time
from multiprocessing import forkserver
from typing import Any, Iterator

import torch

from ..device import cpu_threads
from ..runs import FINAL_KINDS, Run, RunStore
from ..settings import apply_environment, environment, settings
from .controls import Controls
from .kinds import JOB_KINDS, JobKind

__all__ = ["WorkerProcess", "process_controls", "warm_up", "died_message", "fork_server_ready"]

READY = {"kind": "worker_ready"}  # the worker's first message, not an event of the run
INTERRUPT_GRACE_S = 30.0  # how long a worker whose server is gone may take to save its run
_ctx_lock = threading.Lock()
_ctx: Any = None
_forks_ready = False  # the fork server has forked a process (fork_server_ready)


def preload_modules() -> list[str]:
    """What the fork server imports before it forks a worker: the module of every registered job kind (its
    engine with it), this one, and ``preload`` (the default data set, drawn there once)."""
    kinds = sorted({type(JOB_KINDS.get(name)).__module__ for name in JOB_KINDS.names()})
    return [*kinds, __name__, f"{__package__}.preload"]


def context():
    """The fork-server context, with the job kinds preloaded in the server (set up once per process).
    As with any multiprocessing start method but fork, a script that starts jobs needs the
    ``if __name__ == "__main__":`` guard (Streamlit, pytest and the CLI have it)."""
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            _ctx = mp.get_context("forkserver")
            _ctx.set_forkserver_preload(preload_modules())
        return _ctx


def warm_up() -> None:
    """Start the fork server in the background (it imports torch once, ~2 s), so the first run
    starts as fast as the later ones."""
    context()
    if mp.parent_process() is not None:  # a worker itself never serves workers
        return
    threading.Thread(target=_ensure_fork_server, name="forkserver-warm-up", daemon=True).start()


def _ensure_fork_server() -> None:
    try:
        forkserver.ensure_running()
    except (RuntimeError, OSError):  # e.g. still bootstrapping: the first run starts it instead
        pass


def _nothing() -> None:
    pass


def fork_server_ready(timeout: float = 300.0) -> None:
    """Returns once the fork server forks workers: the first time, a process that does nothing (no controls,
    nothing a closing server could take away before it is unpickled) is forked from it and joined, which takes
    until the fork server has imported torch and every kind's module (seconds; tens of seconds on a busy
    machine). A worker's start waits this out before it counts itself in (``starting.StartGate``), so a
    server that goes away never waits for those imports."""
    global _forks_ready
    if _forks_ready:
        return
    p = context().Process(target=_nothing, name="fork-server-probe", daemon=True)
    p.start()
    p.join(timeout)
    _forks_ready = p.exitcode == 0


def process_controls(time_limit_s: float | None) -> Controls:
    """Controls whose events other processes see (the job manager's controls of a worker's run)."""
    ctx = context()
    stop, running, interrupt = ctx.Event(), ctx.Event(), ctx.Event()
    running.set()
    return Controls(time_limit_s, events=(stop, running, interrupt, ctx.Queue()))


class WorkerProcess:
    """One job's worker: started with ``start()``, read with ``events()`` until its final event."""

    def __init__(
        self,
        run: Run,
        kind: JobKind,
        controls: Controls,
        resuming: bool,
        device: str | None = None,
        jobs_at_once: int = 1,
    ) -> None:
        """``jobs_at_once``: how many jobs may train side by side (a CPU job takes its share of the cores)."""
        ctx = context()
        self.run = run
        self.controls = controls  # its events must outlive the start: the worker opens them by name
        self.queue = ctx.Queue()
        # The worker holds the read end; only this process holds the write end. If this process dies
        # (even by SIGKILL), the worker reads EOF and ends too: no orphan keeps training a run that
        # the restarted server lists as interrupted.
        self._alive_r, self._alive_w = ctx.Pipe(duplex=False)
        # The go-ahead (``go``): the worker touches its run only once the server, not closing, says so
        # (starting.StartGate); a server gone before it says so (EOF) is a no.
        self._go_r, self._go_w = ctx.Pipe(duplex=False)
        limit = settings().worker_memory_mb
        self.process = ctx.Process(
            target=_child,
            name=f"job-{run.run_id}",
            daemon=True,
            args=(
                run.run_id,
                str(run.dir.parent),
                kind,
                resuming,
                device,
                controls.events,
                controls.time_limit_s,
                limit,
                environment(),
                self.queue,
                self._alive_r,
                jobs_at_once,
                self._go_r,
            ),
        )

    def start(self) -> None:
        """Start the worker; returns once it holds its controls (its first message, READY) or has died."""
        self.process.start()
        self._alive_r.close()
        self._go_r.close()
        while True:
            try:
                if self.queue.get(timeout=0.5) == READY:
                    return
            except queue.Empty:
                if not self.process.is_alive():
                    return

    def go(self, ok: bool) -> None:
        """Tell the started worker to begin its run (True) or to end without touching it (False)."""
        try:
            self._go_w.send(ok)
        except OSError:  # it died already: ``events`` says why
            pass
        self._go_w.close()

    def events(self) -> Iterator[dict[str, Any]]:
        """The worker's events as they come; when it dies without a final event, one that says why
        (also written to the run's metrics, which the dead worker could not do)."""
        final = False
        while True:
            try:
                e = self.queue.get(timeout=0.5)
            except queue.Empty:
                if self.process.is_alive():
                    continue
                try:  # it may have put its last events just before exiting
                    e = self.queue.get(timeout=1.0)
                except queue.Empty:
                    break
            if e is None:
                break
            if e == READY:
                continue
            final = final or e.get("kind") in FINAL_KINDS or e.get("kind") == "interrupted"
            yield e
        self.process.join(10)
        if not final:
            event = {"kind": "error", "t": 0.0, "message": died_message(self.process.exitcode)}
            try:
                self.run.append(event)
            except OSError:
                pass
            yield event

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()


def died_message(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name if -exitcode in signal.valid_signals() else f"signal {-exitcode}"
        why = " (most likely by the system for running out of memory)" if -exitcode == signal.SIGKILL else ""
        return (
            f"The run's worker process was killed by {name}{why}. Lower the batch size or use a smaller "
            "model, then Resume it from its last finished epoch or start it again."
        )
    return (
        f"The run's worker process ended without finishing the run (exit code {exitcode}). Resume it "
        "from its last finished epoch, or start it again; if it happens again, please report it."
    )


def _end_with_the_server(alive, controls: Controls) -> None:
    """When the server is gone (stopped, killed, crashed), save the run at its current step and end:
    the restarted server lists it as interrupted and resumes it from there. Killed after a grace period
    if saving takes longer (an orphan must not go on training)."""
    try:
        alive.recv()  # nothing is ever sent: this returns (EOFError) when the server is gone
    except (EOFError, OSError):
        pass
    controls.interrupt()
    time.sleep(INTERRUPT_GRACE_S)
    os.kill(os.getpid(), signal.SIGKILL)


def _child(
    run_id: str,
    root: str,
    kind: JobKind,
    resuming: bool,
    device: str | None,
    events,
    time_limit_s: float | None,
    memory_mb: int,
    env: dict[str, str],
    out,
    alive,
    jobs_at_once: int = 1,
    go=None,
) -> None:
    """The worker's main: run (or resume) the job of this kind (unpickling it imported its module), putting
    every event on ``out``; None at the end. It begins only on the server's go-ahead (``go``): told no, or the
    server gone, it ends at once without touching the run (which waits, queued, for the restarted server)."""
    controls = Controls(time_limit_s, events=events)
    threading.Thread(target=_end_with_the_server, args=(alive, controls), name="server-watch", daemon=True).start()
    apply_environment(env)
    os.nice(settings().worker_nice)  # the server's pages first when the cores are short; alone, as fast as ever
    if device == "cpu" or not torch.cuda.is_available():  # CPU jobs side by side share the cores
        torch.set_num_threads(cpu_threads(jobs_at_once))
    # Threads start before the limit, since a thread's stack counts against RLIMIT_DATA: the queue's feeder
    # thread (with the first put; near the limit it could not start, and the out-of-memory event was lost)
    # and torch's intra-op threads (one parallel op; else libgomp aborts the worker at its first one).
    out.put(READY)
    try:
        begin = go is None or go.recv()
    except (EOFError, OSError):
        begin = False
    if not begin:
        return
    torch.ones(1 << 20).add_(1)
    if memory_mb:
        cap = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))  # heap and anonymous mappings: tensors
    # SIGTERM (a service manager stopping the server's whole group): save and end, as when the server goes.
    signal.signal(signal.SIGTERM, lambda *_: controls.interrupt())
    store = RunStore(root, parse=kind.parse_config)
    try:
        for e in kind.events(store.open(run_id), store, controls, resuming, out.put, device):
            out.put(e)
    finally:
        out.put(None)
        out.close()
        out.join_thread()
        time.sleep(0)  # let the queue's feeder thread finish before the interpreter exits
