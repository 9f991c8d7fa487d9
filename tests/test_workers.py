"""Runs train in worker processes (``playground.jobs.workers``): a run that is killed or runs out of
memory ends alone with a message, its slot is freed, the next run trains; runs started together are
reproducible; controls reach the worker."""

from __future__ import annotations

import os
import time

import pytest
from conftest import tiny_run, wait_until

from playground.config import RunConfig
from playground.errors import ConfigError
from playground.jobs.manager import JobManager
from playground.settings import settings

QUICK = tiny_run()


def _wait(pred, timeout=120):
    return wait_until(pred, timeout)


@pytest.fixture
def jobs(store):
    m = JobManager(store, max_running=1, workers="process")
    yield m
    m.shutdown()


def test_a_killed_worker_ends_its_run_with_a_message_and_the_next_run_trains(jobs):
    victim = jobs.submit(QUICK.replace(train={"epochs": 500}), "a")
    assert _wait(lambda: victim.worker is not None and len(victim.buffer.snapshot()["steps"]["step"]) >= 1)
    assert victim.worker.process.pid is not None
    victim.worker.process.kill()  # what the kernel's OOM killer does
    assert _wait(lambda: victim.state == "error")
    message = victim.buffer.snapshot()["final"]["message"]
    assert "killed by SIGKILL" in message and "out of memory" in message and "Resume" in message
    assert jobs.store.open(victim.run_id).status() == "error"  # written for the dead worker
    nxt = jobs.submit(QUICK, "b")
    assert _wait(lambda: nxt.state == "done")


def test_workers_train_below_the_servers_cpu_priority(jobs, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_WORKER_NICE", "7")
    job = jobs.submit(QUICK.replace(train={"epochs": 500}), "a")
    assert _wait(lambda: job.worker is not None and len(job.buffer.snapshot()["steps"]["step"]) >= 1)
    assert os.getpriority(os.PRIO_PROCESS, job.worker.process.pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 7)
    jobs.stop(job.run_id)
    assert _wait(lambda: job.state == "stopped")


def test_a_bad_worker_priority_is_refused_with_its_range(monkeypatch):
    for bad, why in (("20", "at most 19"), ("-1", "at least 0"), ("high", "whole number")):
        monkeypatch.setenv("PLAYGROUND_WORKER_NICE", bad)
        with pytest.raises(ConfigError, match=why):
            settings()


def test_a_worker_over_its_memory_limit_ends_with_a_message(jobs, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_WORKER_MEMORY_MB", "1200")
    # ~3 GB of activations for one batch: within the model budget, beyond this worker's limit
    big = RunConfig().replace(
        data={"params": {"n_train": 600, "n_test": 50}},
        model={"params": {"channels": [256, 256], "pool": "none", "fc": []}},
        train={"epochs": 1, "batch_size": 512, "eval_batch_size": 50},
    )
    job = jobs.submit(big, "a")
    assert _wait(lambda: job.state in ("error", "done"), 180)
    assert job.state == "error"
    assert "Out of memory" in job.buffer.snapshot()["final"]["message"]
    monkeypatch.setenv("PLAYGROUND_WORKER_MEMORY_MB", "0")
    nxt = jobs.submit(QUICK, "b")
    assert _wait(lambda: nxt.state == "done")


def test_runs_started_together_in_workers_are_reproducible(store):
    m = JobManager(store, max_running=2, workers="process")
    try:
        a, b = m.submit(QUICK, "a"), m.submit(QUICK, "b")  # same seed, trained at the same time
        assert _wait(lambda: a.state == "done" and b.state == "done")
        assert m.status(a.run_id) == m.status(b.run_id) == "done"
        la, lb = (j.buffer.snapshot()["steps"]["loss"] for j in (a, b))
        assert la == lb and len(la) >= 4
    finally:
        m.shutdown()


def test_stop_and_pause_reach_the_worker(jobs):
    job = jobs.submit(QUICK.replace(train={"epochs": 500}), "a")
    assert _wait(lambda: len(job.buffer.snapshot()["steps"]["step"]) >= 1)
    jobs.pause(job.run_id)
    time.sleep(0.5)
    n = len(job.buffer.snapshot()["steps"]["step"])
    time.sleep(0.5)
    assert len(job.buffer.snapshot()["steps"]["step"]) == n  # paused in the worker too
    jobs.unpause(job.run_id)
    assert _wait(lambda: len(job.buffer.snapshot()["steps"]["step"]) > n)
    jobs.stop(job.run_id)
    assert _wait(lambda: job.state == "stopped")
    assert not job.worker.process.is_alive() or _wait(lambda: not job.worker.process.is_alive(), 10)


def test_workers_end_when_the_server_is_killed(store, tmp_path):
    """SIGKILL of the server process must not leave a worker training on: the restarted server lists
    the run as interrupted and may resume it (the run's lock is free)."""
    import os
    import signal
    import subprocess
    import sys

    script = tmp_path / "server.py"
    script.write_text(
        "import sys, time\n"
        "from playground.config import RunConfig\n"
        "from playground.runs import RunStore\n"
        "import playground.plugins\n"
        "from playground.jobs.manager import JobManager\n"
        "if __name__ == '__main__':\n"
        "    m = JobManager(RunStore(sys.argv[1]), max_running=1, workers='process')\n"
        f"    job = m.submit(RunConfig.from_json({QUICK.replace(train={'epochs': 500}).to_json()!r}), 'a')\n"
        "    print(job.run_id, flush=True)\n"
        "    time.sleep(600)\n"
    )
    server = subprocess.Popen([sys.executable, str(script), str(store.root)], stdout=subprocess.PIPE, text=True)
    try:
        run_id = server.stdout.readline().strip()
        run = store.open(run_id)
        assert _wait(lambda: run.lock_path.exists() and run.lock_path.read_text().strip().isdigit(), 60)
        worker_pid = int(run.lock_path.read_text().strip())
        assert worker_pid != server.pid  # it trains in a process of its own
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)

        def gone() -> bool:
            try:
                os.kill(worker_pid, 0)
            except ProcessLookupError:
                return True
            return False

        assert _wait(gone, 20), "the worker kept training after the server died"
        assert _wait(lambda: not run.busy(), 10) and store.open(run_id).status() in ("running", "created")
    finally:
        if server.poll() is None:
            server.kill()


# -- the server goes away: runs save their step and resume there ----------------------------------


def test_an_interrupted_run_saves_its_step_and_resumes_there_with_the_same_images(store):
    from playground.train import Controls, fit, resume

    cfg = tiny_run(epochs=2)  # 10 steps an epoch, a step event every 2
    whole = {e["step"]: e["loss"] for e in fit(cfg) if e["kind"] == "step"}
    controls, events = Controls(), []
    for e in fit(cfg, store=store, controls=controls):
        events.append(e)
        if e["kind"] == "step" and e["step"] == 14:
            controls.interrupt()  # what a worker does when its server goes away
    assert events[-1]["kind"] == "interrupted" and events[-1]["step"] == 14
    run = store.open(events[0]["run_id"])
    assert run.status() == "running" and run.resumable()  # no final event: listed as interrupted
    state = run.load_checkpoint()
    assert (state["epoch"], state["step"], state["in_epoch"]) == (1, 14, 4)
    after = list(resume(run.run_id, store))
    assert after[0]["kind"] == "resumed" and after[0]["in_epoch"] == 4 and after[-1]["kind"] == "done"
    resumed = {e["step"]: e["loss"] for e in after if e["kind"] == "step"}
    assert sorted(resumed) == [16, 18, 20]  # the rest of the epoch, no step twice
    assert resumed == pytest.approx({k: whole[k] for k in resumed}, rel=1e-4)  # same order, same draws
    assert [e["step"] for e in run.events() if e["kind"] == "step"] == list(range(2, 21, 2))


def test_a_worker_sent_sigterm_saves_its_run_which_resumes(jobs):
    import os
    import signal

    job = jobs.submit(QUICK.replace(train={"epochs": 500}), "a")
    assert _wait(lambda: job.worker is not None and len(job.buffer.snapshot()["steps"]["step"]) >= 3)
    os.kill(job.worker.process.pid, signal.SIGTERM)  # a service manager stopping the server's group
    assert _wait(lambda: job.state == "interrupted")
    run = jobs.store.open(job.run_id)
    assert jobs.status(job.run_id) == "interrupted" and run.resumable()
    saved = run.load_checkpoint()["step"]
    assert saved >= 6 and "error" not in [e["kind"] for e in run.events()]
    again = jobs.resume(job.run_id, "a")
    assert _wait(lambda: (again.buffer.snapshot()["steps"]["step"] or [0])[-1] > saved + 4)
    jobs.stop(job.run_id)
    assert _wait(lambda: again.state == "stopped")
    steps = [e["step"] for e in run.events() if e["kind"] == "step"]
    assert steps == sorted(set(steps))  # one line per step, across the interruption


SERVER = """
import sys, time
from playground.runs import RunStore
from playground.jobs.manager import JobManager
from conftest import tiny_run

if __name__ == "__main__":
    m = JobManager(RunStore(sys.argv[1]), max_running=1, workers="process")
    job = m.submit(tiny_run(epochs=500), "a")
    while len(job.buffer.snapshot()["steps"]["step"]) < 3:
        time.sleep(0.05)
    print(job.run_id, job.worker.process.pid, flush=True)
    time.sleep(600)
"""


def test_when_the_server_is_killed_its_workers_save_their_runs_and_end(store, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "server.py"
    script.write_text(SERVER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen(
        [sys.executable, str(script), str(store.root)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        run_id, pid = server.stdout.readline().split()
    finally:
        server.send_signal(signal.SIGKILL)  # no handler of the server runs: only the pipe tells the worker
        server.wait(30)
    run = store.open(run_id)

    def worker_gone() -> bool:
        try:
            os.kill(int(pid), 0)
            return False
        except ProcessLookupError:
            return True

    assert _wait(worker_gone, 60)
    assert run.status() == "running" and run.resumable()  # listed as interrupted by the next server
    assert run.load_checkpoint()["step"] >= 6  # the step it had reached, not only a finished epoch


def test_cpu_jobs_side_by_side_share_the_cores(store):
    """Two jobs of all the cores' threads each fight for them (10-20x slower here, docs/BENCHMARKS.md):
    a CPU worker takes its share, at least one thread; one job alone takes them all."""
    import os

    from playground.device import cpu_threads

    cpus = len(os.sched_getaffinity(0))
    assert cpu_threads(1) == cpus and cpu_threads(2) == max(1, cpus // 2) and cpu_threads(10 * cpus) == 1
    for at_once in (1, 2):
        m = JobManager(store, max_running=at_once, workers="process")
        try:
            job = m.submit(QUICK.replace(train={"device": "cpu"}), "a")
            assert _wait(lambda j=job: j.state == "done")
            assert job.buffer.snapshot()["start"]["threads"] == cpu_threads(at_once)
        finally:
            m.shutdown()


def _default_data_is_cached(out) -> None:
    from playground.data import datasets

    out.put([key[0] for key in datasets._cache])


def test_workers_inherit_the_default_data_set_from_the_fork_server():
    from playground.jobs.workers import context

    ctx = context()
    out = ctx.Queue()
    p = ctx.Process(target=_default_data_is_cached, args=(out,))
    p.start()
    cached = out.get(timeout=120)
    p.join(30)
    assert "shapes" in cached  # drawn once in the fork server (playground.jobs.preload), not per run


def test_a_failed_onednn_primitive_reads_as_out_of_memory_only_under_a_limit():
    import resource
    import subprocess
    import sys

    from playground.train.engine import _error_event

    if resource.getrlimit(resource.RLIMIT_DATA)[0] != resource.RLIM_INFINITY:
        pytest.skip("this test process itself runs under a data limit")
    assert _error_event(RuntimeError("could not create a primitive"))["message"].startswith("Internal error")
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_DATA, (16 * 2**30, 16 * 2**30)); "
        "from playground.train.engine import _error_event; "
        "print(_error_event(RuntimeError('could not create a primitive'))['message'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.startswith("Out of memory: the run needed more"), out.stderr


def test_fork_server_preloads_the_module_of_every_registered_kind():
    # Derived, not a list of strings: a kind registered later (a new capability) is preloaded too.
    from importlib.util import find_spec

    from playground.jobs.kinds import JOB_KINDS
    from playground.jobs.workers import preload_modules

    mods = preload_modules()
    for name in JOB_KINDS.names():
        assert type(JOB_KINDS.get(name)).__module__ in mods, name
    assert {"train", "style", "initrace", "featvis"} <= set(JOB_KINDS.names())
    assert all(find_spec(m) is not None for m in mods)  # each names a real, importable module
