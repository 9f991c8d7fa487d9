"""Jobs on a Ray cluster (``playground.jobs.remote``): with PLAYGROUND_RAY_ADDRESS set, the job manager runs
each job as a Ray actor; its events stream into the same buffer and run store, controls reach it, its files
come back (or are written to PLAYGROUND_RAY_RUNS), and a job whose actor dies ends interrupted, resumable.

One local Ray head for the module (2 CPUs, a 200 MB object store, no dashboard, free ports), shut down
by its own handle at the end."""

from __future__ import annotations

import time

import pytest
from conftest import tiny_run, wait_until

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")

from playground.jobs.manager import JobManager  # noqa: E402
from playground.runs import RunStore, saved_state  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    ctx = ray.init(
        address="local",
        num_cpus=2,
        num_gpus=0,
        include_dashboard=False,
        object_store_memory=200 * 2**20,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
    )  # Ray uses the machine's own address
    yield ctx.address_info["address"]
    ctx.disconnect()  # ray.shutdown(): the head this module started, and its workers
    assert not ray.is_initialized()


@pytest.fixture
def jobs(cluster, store, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RAY_ADDRESS", cluster)
    m = JobManager(store, max_running=1)
    yield m
    m.shutdown()


def _steps(run) -> list[int]:
    return [e["step"] for e in run.events() if e["kind"] == "step"]


def test_a_run_on_ray_streams_its_events_into_the_buffer_and_the_store(jobs):
    job = jobs.submit(tiny_run(epochs=2), "a")
    assert jobs.ray and job.device is None  # the cluster places it, not the server
    assert wait_until(lambda: job.buffer.snapshot()["steps"]["step"] or not job.live, 120)
    seen_live = job.live  # a step arrived while the run still trained: streamed, not sent at the end
    assert wait_until(lambda: not job.live, 120)
    assert job.state == "done", job.buffer.snapshot()["final"]
    assert seen_live and job.worker.node and len(job.worker.delays) >= 10
    run = jobs.store.open(job.run_id)
    assert run.status() == "done" and jobs.status(job.run_id) == "done"
    assert _steps(run) == job.buffer.snapshot()["steps"]["step"] == list(range(2, 21, 2))
    assert run.model_path.is_file() and run.checkpoint_path.is_file()
    state, name = saved_state(run, final=True)  # the final model came back, readable
    assert name == "model.pt" and state["model"]
    assert not run.busy()


def test_a_learning_rate_change_pause_step_once_and_stop_reach_the_remote_job(jobs):
    from playground.train.stepview import read_batch

    job = jobs.submit(tiny_run(epochs=500), "a")
    assert wait_until(lambda: len(job.buffer.snapshot()["steps"]["step"]) >= 2, 120)
    assert jobs.change(job.run_id, lr=0.0007) == {"lr": 0.0007}
    run = jobs.store.open(job.run_id)
    # The set event holds the learning rate as the schedule computes it from then on (0.0007 up to rounding).
    assert wait_until(
        lambda: any(e["kind"] == "set" and e.get("lr") == pytest.approx(0.0007) for e in run.events()), 30
    )
    assert wait_until(lambda: any(e.get("lr") == pytest.approx(0.0007) for e in job.buffer.snapshot()["sets"]), 30)
    jobs.pause(job.run_id)
    assert jobs.status(job.run_id) == "paused"
    time.sleep(0.6)
    n = len(job.buffer.snapshot()["steps"]["step"])
    time.sleep(0.6)
    assert len(job.buffer.snapshot()["steps"]["step"]) == n  # paused on the node too
    jobs.step_once(job.run_id)  # one batch, then paused again; its images come back with the event
    assert wait_until(lambda: job.buffer.snapshot()["batch"] is not None, 30)
    b = job.buffer.snapshot()["batch"]
    assert wait_until(lambda: read_batch(run, b["step"]) is not None, 10)
    assert tuple(read_batch(run, b["step"]).shape) == (16, 3, 32, 32) and jobs.status(job.run_id) == "paused"
    jobs.unpause(job.run_id)
    assert wait_until(lambda: len(job.buffer.snapshot()["steps"]["step"]) > n, 30)
    jobs.stop(job.run_id)
    assert wait_until(lambda: job.state == "stopped", 60)
    assert run.status() == "stopped" and run.model_path.is_file()


def test_a_killed_actor_ends_its_run_interrupted_and_it_resumes(jobs):
    job = jobs.submit(tiny_run(epochs=3), "a")  # 10 steps an epoch, a step event every 2
    assert wait_until(lambda: job.buffer.snapshot()["epochs"] or not job.live, 120)
    jobs.pause(job.run_id)  # hold it inside epoch 1, so the kill lands mid-run whatever the load
    run = jobs.store.open(job.run_id)
    assert wait_until(run.checkpoint_path.is_file, 30)  # epoch 0's checkpoint came back while paused
    ray.kill(job.worker.actor)  # what a node's death does to it
    assert wait_until(lambda: job.state == "interrupted", 60)
    assert job.buffer.snapshot()["final"] is None  # no final event: listed as interrupted
    assert jobs.status(job.run_id) == "interrupted" and run.status() == "running" and run.resumable()
    again = jobs.resume(job.run_id, "a")
    assert wait_until(lambda: again.state == "done", 120), again.buffer.snapshot()["final"]
    assert run.status() == "done" and run.model_path.is_file()
    assert _steps(run) == list(range(2, 31, 2))  # epoch 0 kept, the rest trained once
    assert again.buffer.snapshot()["steps"]["step"] == list(range(2, 31, 2))


def test_a_node_without_the_data_set_names_itself_the_folder_and_the_files(jobs, tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    cfg = tiny_run().replace(data={"dataset": "mnist", "data_root": str(empty), "download": False, "params": {}})
    job = jobs.submit(cfg, "a")
    assert wait_until(lambda: not job.live, 120)
    message = job.buffer.snapshot()["final"]["message"]
    assert job.state == "error" and message.startswith("Ray node ") and job.worker.node in message
    assert str(empty / "MNIST" / "raw") in message and "train-images-idx3-ubyte" in message
    assert jobs.store.open(job.run_id).status() == "error"


def test_with_a_shared_run_folder_the_node_writes_the_run_in_place(cluster, tmp_path, monkeypatch):
    shared = tmp_path / "shared-runs"  # what every node mounts; here the server's run store itself
    monkeypatch.setenv("PLAYGROUND_RAY_ADDRESS", cluster)
    monkeypatch.setenv("PLAYGROUND_RAY_RUNS", str(shared))
    m = JobManager(RunStore(shared), max_running=1)
    try:
        job = m.submit(tiny_run(), "a")
        assert wait_until(lambda: not job.live, 120)
        assert job.state == "done", job.buffer.snapshot()["final"]
        run = m.store.open(job.run_id)
        assert run.status() == "done" and run.model_path.is_file() and _steps(run) == list(range(2, 11, 2))
        assert job.buffer.snapshot()["steps"]["step"] == _steps(run)  # written once, by the node
    finally:
        m.shutdown()


def test_the_relay_sends_every_control_by_name_in_order_new_ones_too(cluster, monkeypatch):
    from playground.errors import ConfigError
    from playground.jobs.controls import Controls
    from playground.jobs.remote import RelayControls

    sent = []

    class Actor:  # stands in for the actor handle: actor.control.remote(...) -> an object ref
        class control:
            @staticmethod
            def remote(name, args, kwargs):
                sent.append((name, args, kwargs))
                return ray.put(None)

    monkeypatch.setattr(Controls, "nudge", lambda self: self.pause(), raising=False)  # a control added later
    relay = RelayControls(60.0)
    relay.pause()
    relay.change(lr=0.1)
    with pytest.raises(ConfigError):
        relay.change(lr=-1)  # refused here, never sent
    assert relay.paused and sent == [] and relay.time_limit_s == 60.0
    relay.attach(Actor())  # calls made before the actor existed arrive first, in order
    relay.resume()
    relay.nudge()
    assert relay.changes() == {} and relay.paused_for() > 0  # the trainer's side: read here, not sent
    assert [c[0] for c in sent] == ["pause", "change", "resume", "nudge"]
    assert sent[1] == ("change", (), {"lr": 0.1})


def test_a_remote_job_over_its_memory_limit_ends_with_a_message_and_the_next_runs(jobs, monkeypatch):
    """PLAYGROUND_WORKER_MEMORY_MB on Ray: the actor asks the cluster for that much memory and caps its own
    process at it, so a run that needs more ends alone with the out-of-memory message (not the node)."""
    from playground.config import RunConfig

    monkeypatch.setenv("PLAYGROUND_WORKER_MEMORY_MB", "1200")
    # ~3 GB of activations for one batch: within the model budget, beyond this job's limit
    big = RunConfig().replace(
        data={"params": {"n_train": 600, "n_test": 50}},
        model={"params": {"channels": [256, 256], "pool": "none", "fc": []}},
        train={"epochs": 1, "batch_size": 512, "eval_batch_size": 50, "device": "cpu"},
    )
    job = jobs.submit(big, "a")
    assert wait_until(lambda: not job.live, 240)
    final = job.buffer.snapshot()["final"]
    assert job.state == "error", final
    assert "Out of memory" in final["message"], final["message"]
    monkeypatch.setenv("PLAYGROUND_WORKER_MEMORY_MB", "0")
    nxt = jobs.submit(tiny_run(), "b")
    assert wait_until(lambda: not nxt.live, 120)
    assert nxt.state == "done", nxt.buffer.snapshot()["final"]
