import time

import pytest
from conftest import wait_until

from playground.config import RunConfig
from playground.errors import PlaygroundError
from playground.jobs.buffer import RunBuffer
from playground.jobs.manager import JobManager
from playground.train import fit


def tiny(epochs=1.0, n=320):
    return RunConfig().replace(
        data={"params": {"n_train": n, "n_test": 100}},
        model={"params": {"channels": [8], "fc": [16]}},
        train={"epochs": epochs, "batch_size": 32, "log_every": 2},
    )


_wait = wait_until  # conftest's poll, 60 s by default


@pytest.fixture
def manager(store):
    m = JobManager(store, max_running=1)
    yield m
    m.shutdown()


def test_jobs_queue_beyond_the_limit_and_all_finish(manager):
    jobs = [manager.submit(tiny(epochs=3), owner=f"s{i}") for i in range(3)]
    assert manager.status(jobs[0].run_id) == "running"
    assert [manager.queue_position(j.run_id) for j in jobs[1:]] == [1, 2]
    assert _wait(lambda: all(j.state == "done" for j in jobs), 180)
    for j in jobs:
        snap = j.buffer.snapshot()
        assert snap["final"]["kind"] == "done" and snap["steps"]["step"]
        assert manager.store.open(j.run_id).status() == "done"
    assert [j.run_id for j in manager.jobs(owner="s1")] == [jobs[1].run_id]


def test_stop_a_queued_job_removes_it(manager):
    first = manager.submit(tiny(epochs=50), "a")
    queued = manager.submit(tiny(), "b")
    manager.stop(queued.run_id)
    assert queued.state == "stopped" and manager.queue_position(queued.run_id) is None
    manager.stop(first.run_id)
    assert _wait(lambda: first.state == "stopped")


def test_pause_and_unpause(manager):
    job = manager.submit(tiny(epochs=50), "a")
    assert _wait(lambda: len(job.buffer.snapshot()["steps"]["step"]) >= 1)
    manager.pause(job.run_id)
    assert manager.status(job.run_id) == "paused"
    time.sleep(0.3)
    n = len(job.buffer.snapshot()["steps"]["step"])
    time.sleep(0.5)
    assert len(job.buffer.snapshot()["steps"]["step"]) <= n + 1
    manager.unpause(job.run_id)
    assert _wait(lambda: len(job.buffer.snapshot()["steps"]["step"]) > n + 1)
    manager.stop(job.run_id)


def test_bad_config_is_refused_before_queueing(manager):
    with pytest.raises(PlaygroundError, match="learning rate"):
        manager.submit(tiny().replace(optim={"lr": -1.0}), "a")
    assert manager.jobs() == [] and manager.store.list() == []


def test_a_failing_run_ends_alone(manager):
    bad = manager.submit(tiny().replace(train={"batch_size": 10_000}), "a")
    good = manager.submit(tiny(), "b")
    assert _wait(lambda: bad.state == "error" and good.state == "done", 120)
    assert "larger than the training set" in bad.buffer.snapshot()["final"]["message"]


def test_interrupted_run_after_a_restart_is_listed_and_resumes(store):
    # A run whose server died: events up to a checkpoint, no final event, no worker.
    cfg = tiny(epochs=3)
    events = []
    from playground.train import Controls

    c = Controls()
    for e in fit(cfg, store=store, controls=c):
        events.append(e)
        if e["kind"] == "epoch" and e["epoch"] == 0:
            c.stop()
    run = store.open(events[0]["run_id"])
    lines = run.metrics_path.read_text().splitlines()[:-1]  # drop "stopped": as if killed
    run.metrics_path.write_text("\n".join(lines) + "\n")

    fresh = JobManager(store, max_running=1)  # the restarted server
    assert fresh.status(run.run_id) == "interrupted"
    job = fresh.resume(run.run_id, owner="x")
    assert _wait(lambda: job.state == "done", 120)
    epochs = [e["epoch"] for e in run.events() if e["kind"] == "epoch"]
    assert epochs == [0, 1, 2]
    fresh.shutdown()


def test_buffer_rebuilds_from_events():
    buf = RunBuffer.from_events(
        [
            {"kind": "start", "total_steps": 4},
            {"kind": "step", "step": 1, "epoch": 0, "loss": 1.0, "acc": 0.5, "lr": 0.1, "images_per_s": 10.0, "t": 0.1},
            {"kind": "epoch", "epoch": 0, "step": 1, "test_acc": 0.5},
            {"kind": "done", "step": 1},
        ]
    )
    snap = buf.snapshot()
    assert snap["steps"]["loss"] == [1.0] and snap["final"]["kind"] == "done" and len(snap["epochs"]) == 1


def test_resumed_buffer_holds_no_stale_steps(store):
    from playground.train import Controls

    cfg = tiny(epochs=3)
    c = Controls()
    events = []
    for e in fit(cfg, store=store, controls=c):
        events.append(e)
        if e["kind"] == "step" and e["step"] == 14:  # mid-way through epoch 1 (10 steps an epoch)
            c.stop()
    run = store.open(events[0]["run_id"])
    lines = run.metrics_path.read_text().splitlines()[:-1]
    run.metrics_path.write_text("\n".join(lines) + "\n")
    m = JobManager(store, max_running=1)
    job = m.resume(run.run_id, owner="x")
    assert _wait(lambda: job.state == "done", 120)
    steps = job.buffer.snapshot()["steps"]["step"]
    assert steps == sorted(set(steps)), steps  # no step twice, never backwards
    assert [e["epoch"] for e in job.buffer.snapshot()["epochs"]] == [0, 1, 2]
    m.shutdown()


def test_resume_twice_queues_once(manager):
    first = manager.submit(tiny(epochs=50), "a")  # holds the only slot
    done = list(fit(tiny(), store=manager.store))
    run_id = done[0]["run_id"]
    a = manager.resume(run_id, "x")
    b = manager.resume(run_id, "y")
    assert a is b and manager.queue_position(run_id) == 1
    manager.stop(first.run_id)


def test_only_the_owner_or_the_key_holder_controls(manager):
    job = manager.submit(tiny(epochs=50), "alice")
    assert manager.may_control(job.run_id, "alice", None)
    assert not manager.may_control(job.run_id, "bob", None)
    assert not manager.may_control(job.run_id, "bob", "guess")
    assert manager.may_control(job.run_id, "bob", job.control_key)
    restarted = JobManager(manager.store)  # after a restart the key on disk still works
    assert restarted.may_control(job.run_id, "carol", job.control_key)
    assert not restarted.may_control(job.run_id, "carol", None)
    manager.stop(job.run_id)


def test_pause_after_stop_does_not_block_the_stop():
    from playground.train import Controls

    c = Controls()
    c.stop()
    c.pause()
    assert not c.paused and c.wait_while_paused() == 0.0


# -- every GPU of the box: placement -----------------------------------------------------------


def test_place_picks_the_least_loaded_gpu_with_room():
    from playground.device import place

    gpus = [{"index": 0, "free_mb": 10_000}, {"index": 1, "free_mb": 70_000}, {"index": 2, "free_mb": 50_000}]
    assert place(gpus, {}) == 1  # nothing placed: the most free memory
    assert place(gpus, {1: 1}) == 2  # then the next emptiest
    assert place(gpus, {0: 1, 1: 1, 2: 1}) is None  # one job per GPU: no room
    assert place(gpus, {0: 1, 1: 1, 2: 1}, per_gpu=2) == 1  # two per GPU: fewest jobs, then free memory
    assert place([], {}) is None


def test_the_manager_places_each_auto_job_on_its_own_gpu(store, monkeypatch):
    import threading

    from conftest import tiny_run, wait_until

    from playground.jobs.placement import place_job
    from playground.train.job import TrainKind

    fake = [{"index": i, "name": f"fake {i}", "free_mb": 80_000 - i, "total_mb": 81_000} for i in range(4)]
    monkeypatch.setattr("playground.jobs.manager.gpus", lambda: fake)
    monkeypatch.setattr("playground.jobs.placement.gpus", lambda: fake)
    release, seen = threading.Event(), {}

    def events(self, run, store, controls, resuming, emit, device=None):
        seen[run.run_id] = device
        release.wait(30)
        yield {"kind": "done", "step": 0, "t": 0.0}

    monkeypatch.setattr(TrainKind, "events", events)
    m = JobManager(store, max_running=4, workers="thread")
    try:
        jobs = [m.submit(tiny_run(), "a") for _ in range(3)]
        assert wait_until(lambda: len(seen) == 3, 10)
        assert [seen[j.run_id] for j in jobs] == ["cuda:0", "cuda:1", "cuda:2"]  # one GPU each, most free first
        assert [g["jobs"] for g in m.occupancy()] == [1, 1, 1, 0]
        pin = TrainKind().device_of(tiny_run(device="cuda:3"))
        assert place_job(pin, {}, m.jobs_per_gpu) == "cuda:3"  # a pinned GPU (none here to submit to)
        release.set()
        assert wait_until(lambda: all(not j.live for j in jobs), 10)
        again = m.submit(tiny_run(), "c")  # all free again: the GPU with the most free memory
        assert wait_until(lambda: again.run_id in seen, 10) and seen[again.run_id] == "cuda:0"
        cpu = m.submit(tiny_run(device="cpu"), "c")
        assert wait_until(lambda: cpu.run_id in seen, 10) and seen[cpu.run_id] is None
    finally:
        release.set()
        m.shutdown()


def test_every_job_kind_names_its_page():
    from pathlib import Path

    from playground.jobs.kinds import JOB_KINDS

    root = Path(__file__).resolve().parents[1]
    for name in JOB_KINDS.names():
        kind = JOB_KINDS.get(name)
        assert (root / "app_pages" / f"{kind.page}.py").is_file(), name
        # a kind listed in the sidebar opens its job from a link; one that is no run (top5) need not
        assert (kind.page_query("x") or not kind.listed) and kind.folder or name == "train"


def test_progress_and_eta_are_computed_in_the_core():
    from playground.jobs.buffer import RunBuffer, run_progress
    from playground.jobs.kinds import progress_line

    assert progress_line(40, 120, 20.0, live=True)["label"] == "step 40 / 120 — about 40 s left"
    assert progress_line(40, 120, 20.0, live=False)["eta_s"] is None  # paused or done: no ETA
    buf = RunBuffer.from_events(
        [{"kind": "start", "total_steps": 10, "t": 1.0}, {"kind": "step", "step": 5, "t": 6.0, "loss": 1.0}]
    )
    p = run_progress(buf.snapshot(), live=True)
    assert (p["done"], p["fraction"], p["eta_s"]) == (5, 0.5, 5.0)
    buf.add({"kind": "done", "step": 10, "t": 11.0})
    assert run_progress(buf.snapshot(), live=False)["fraction"] == 1.0


def test_step_once_trains_one_batch_shows_it_and_stays_paused(manager):
    from playground.train.stepview import read_batch

    job = manager.submit(tiny(epochs=50), "a")
    assert _wait(lambda: len(job.buffer.snapshot()["steps"]["step"]) >= 1)
    with pytest.raises(PlaygroundError, match="press Pause first"):
        manager.step_once(job.run_id)  # running: nothing to step
    manager.pause(job.run_id)
    time.sleep(0.5)  # the worker ends the step in progress and waits
    manager.step_once(job.run_id)
    assert _wait(lambda: job.buffer.snapshot()["batch"] is not None, 30)
    b1 = job.buffer.snapshot()["batch"]
    assert b1["batch_size"] == 32 and b1["shown"] == 16 and len(b1["labels"]) == len(b1["preds"]) == 16
    assert all(0 <= c < 10 for c in b1["labels"] + b1["preds"]) and all(0 < p <= 1 for p in b1["confidence"])
    assert b1["loss"] > 0 and 0 <= b1["batch_acc"] <= 1
    images = read_batch(manager.store.open(job.run_id), b1["step"])
    assert tuple(images.shape) == (16, 3, 32, 32) and str(images.dtype) == "torch.uint8" and images.float().std() > 5
    time.sleep(0.6)
    assert manager.status(job.run_id) == "paused"  # one step, then paused again
    assert job.buffer.snapshot()["steps"]["step"][-1] == b1["step"]  # its step event, and no other
    manager.step_once(job.run_id)
    assert _wait(lambda: job.buffer.snapshot()["batch"]["step"] == b1["step"] + 1, 30)
    assert read_batch(manager.store.open(job.run_id), b1["step"]) is None  # the newer batch replaced it
    manager.unpause(job.run_id)
    assert _wait(lambda: job.buffer.snapshot()["steps"]["step"][-1] > b1["step"] + 4)
    manager.stop(job.run_id)
    assert _wait(lambda: job.state == "stopped")
    kinds = [e["kind"] for e in manager.store.open(job.run_id).events()]
    assert kinds.count("batch") == 2  # in the run's metrics, like every event


def test_step_once_is_refused_for_a_run_that_is_stopping():
    from playground.errors import ConfigError
    from playground.jobs.controls import Controls

    c = Controls()
    with pytest.raises(ConfigError, match="Pause first"):
        c.step_once()
    c.pause()
    c.step_once()
    assert c.wait_while_paused() >= 0 and c.take_single() and not c.take_single()  # woke for one step
    assert c.paused  # and stays paused
    c.change(lr=0.01)
    c.step_once()
    c.wait_while_paused()
    assert c.take_single() and c.changes() == {"lr": 0.01}  # a change read while waiting is kept
    c.stop()
    with pytest.raises(ConfigError, match="stopping"):
        c.step_once()
