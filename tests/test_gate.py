"""The one gate (``JobManager.submit`` -> ``playground.train.gate.admit``) and the job manager's own
policies, tried as a hostile or careless student would: oversized models, other people's folders,
a session that fills the queue, a run that never ends, a pause that holds a slot, crafted links."""

from __future__ import annotations

import json
import resource
import threading
import time

import pytest
import torch
from conftest import tiny_run, wait_until

from playground.config import RunConfig
from playground.errors import ConfigError, PlaygroundError
from playground.jobs.manager import JobManager, manager, reset_manager
from playground.models import build_model, list_models
from playground.seeding import seeded
from playground.train import prepare
from playground.train.gate import check_budget, estimate

tiny = tiny_run
_wait = wait_until


@pytest.fixture
def jobs(store):
    m = JobManager(store, max_running=1)
    yield m
    m.shutdown()


# -- the model budget ---------------------------------------------------------------------


def _config_for(name: str, dataset: str = "shapes") -> RunConfig:
    task = "reconstruct" if name in list_models(task="reconstruct") else "classify"
    params = {"weights": "none", "download": False} if name in list_models(pretrained=True) else {}
    return RunConfig().replace(data={"dataset": dataset}, model={"name": name, "params": params}, train={"task": task})


@pytest.mark.parametrize("name", list_models())
def test_the_meta_estimate_counts_the_real_models_parameters(name):
    """Oracle: the estimate built on the meta device has exactly the parameters of the real model."""
    cfg = _config_for(name)
    real = build_model(name, in_shape=(3, 32, 32), num_classes=10, **dict(cfg.model.params))
    b = estimate(cfg)
    assert b.parameters == sum(q.numel() for q in real.parameters())
    assert b.activation_bytes > 0


def test_an_estimate_is_built_once_per_setting_and_a_bad_one_is_never_kept(monkeypatch):
    from playground.train import gate

    built = []
    real = gate._build_estimate
    monkeypatch.setattr(gate, "_build_estimate", lambda *a: built.append(a[1]) or real(*a))
    gate._estimate.cache_clear()
    shape = (3, 32, 32)
    a = gate.estimate_model("cnn", {"channels": [8, 16]}, shape, 10, 64)
    assert gate.estimate_model("cnn", {"channels": [8, 16]}, shape, 10, 64) == a and len(built) == 1
    wider = gate.estimate_model("cnn", {"channels": [16, 32]}, shape, 10, 64)
    double = gate.estimate_model("cnn", {"channels": [8, 16]}, shape, 10, 128)
    assert len(built) == 3 and wider.parameters > a.parameters
    assert double.parameters == a.parameters and double.activation_bytes == 2 * a.activation_bytes
    for _ in range(2):  # a refused setting is built again each time, and refused each time
        with pytest.raises(ConfigError):
            gate.estimate_model("cnn", {"channels": [8, 16], "kernel": 0}, shape, 10, 64)
    assert len(built) == 5


def test_activation_estimate_of_a_small_mlp_by_hand():
    cfg = RunConfig().replace(
        data={"dataset": "mnist"}, model={"name": "mlp", "params": {"hidden": [100]}}, train={"batch_size": 64}
    )
    # Flatten 784, Linear 100, ReLU 100, Linear 10 per image (dropout off)
    assert estimate(cfg).activation_bytes == 64 * (784 + 100 + 100 + 10) * 4


@pytest.mark.parametrize(
    "params, name, words",
    [
        ({"channels": [100000]}, "cnn", "at most 65,536"),  # 12 GiB of weights
        ({"hidden": [100000, 100000]}, "mlp", "at most 65,536"),  # 38 GiB
        ({"blocks": [{"channels": 16, "pool": "none"}] * 10_000}, "cnn", "at most 64"),  # ~117 GiB of activations
        ({"hidden": [60000, 60000]}, "mlp", "M parameters"),  # within the width cap, over the budget
        ({"channels": [512, 512, 512, 512], "pool": "none", "fc": []}, "cnn", "MB of activations"),  # 6 GB a batch
    ],
)
def test_oversized_models_are_refused_at_once_without_allocating(params, name, words):
    cfg = RunConfig().replace(model={"name": name, "params": params}, train={"batch_size": 256})
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=words):
        check_budget(cfg)
    took = time.perf_counter() - t0
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    print(f"{name} {str(params)[:40]}: refused in {took * 1000:.0f} ms, peak memory +{grown_mb:.0f} MB")
    assert grown_mb < 300  # the models would need 12-117 GiB


def test_the_budget_names_a_batch_size_that_fits(monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MAX_ACTIVATION_MB", "16")
    cfg = RunConfig().replace(train={"batch_size": 512})
    with pytest.raises(ConfigError, match=r"Lower the batch size \(about \d+ would fit\)") as e:
        check_budget(cfg)
    fits = int(str(e.value).split("batch size (about ")[1].split(" would")[0])
    check_budget(cfg.replace(train={"batch_size": fits}))  # the suggestion really fits


def test_submit_refuses_an_oversized_model_before_creating_a_run(jobs):
    with pytest.raises(PlaygroundError, match="M parameters"):
        jobs.submit(RunConfig().replace(model={"name": "mlp", "params": {"hidden": [60000, 60000]}}), "a")
    assert jobs.store.list() == []  # nothing allocated, no run folder left behind


def test_init_lab_goes_through_the_budget():
    from playground.data import load_dataset
    from playground.inside import init_stats

    data = load_dataset("shapes", n_train=64, n_test=16)
    with pytest.raises(ConfigError, match="M parameters"):
        init_stats("mlp", {"hidden": [60000, 60000]}, data, {"default": ("default", {})})


# -- folders, quotas, time, pauses ---------------------------------------------------------------


def test_classroom_folder_rule_holds_for_every_config_whoever_built_it(jobs, monkeypatch, tmp_path):
    monkeypatch.setenv("PLAYGROUND_CLASSROOM", "1")
    monkeypatch.setenv("PLAYGROUND_UPLOADS", str(tmp_path / "uploads"))
    secret = tmp_path / "someone-elses" / "images"
    secret.mkdir(parents=True)
    for dataset in ("image_folder", "mnist"):  # a crafted link, "run again with one change", a page
        with pytest.raises(PlaygroundError, match="reads only your own uploads"):
            jobs.submit(tiny().replace(data={"dataset": dataset, "data_root": str(secret), "params": {}}), "a")
    assert jobs.store.list() == []


def test_a_session_cannot_fill_the_queue(jobs, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MAX_RUNS_PER_SESSION", "2")
    mine = [jobs.submit(tiny(epochs=50), "greedy") for _ in range(2)]
    with pytest.raises(PlaygroundError, match="allows 2 per person"):
        jobs.submit(tiny(), "greedy")
    other = jobs.submit(tiny(), "someone-else")  # others still get in
    jobs.stop(mine[0].run_id)
    assert _wait(lambda: mine[0].state == "stopped")
    again = jobs.submit(tiny(), "greedy")  # a slot of the quota came back
    for j in (mine[1], other, again):
        jobs.stop(j.run_id)


def test_a_run_stops_at_the_servers_time_limit_and_says_so(jobs, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MAX_RUN_MINUTES", "0.01")  # 0.6 s of training
    job = jobs.submit(tiny(epochs=500), "a")
    assert _wait(lambda: job.state == "stopped", 120)
    final = job.buffer.snapshot()["final"]
    assert "at most 0.01 minutes" in final["message"] and "saved" in final["message"]
    assert jobs.store.open(job.run_id).model_path.exists()  # the model so far is kept
    nxt = jobs.submit(tiny(epochs=0.2), "b")  # the slot is free again
    assert _wait(lambda: nxt.state == "done", 120)


def test_a_long_pause_gives_the_slot_back_and_resume_requeues(jobs, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_PAUSE_RELEASE_MIN", "0.005")  # 0.3 s
    first = jobs.submit(tiny(epochs=50), "a")
    assert _wait(lambda: len(first.buffer.snapshot()["steps"]["step"]) >= 1)
    jobs.pause(first.run_id)
    second = jobs.submit(tiny(epochs=0.3), "b")
    assert jobs.status(second.run_id) == "queued"
    time.sleep(0.5)
    assert _wait(lambda: jobs.status(second.run_id) in ("running", "done"), 30)  # the pause let it in
    jobs.unpause(first.run_id)  # waits for a slot, then goes on from where it paused
    assert _wait(lambda: second.state == "done", 120)
    steps = len(first.buffer.snapshot()["steps"]["step"])
    assert _wait(lambda: len(first.buffer.snapshot()["steps"]["step"]) > steps, 60)
    jobs.stop(first.run_id)
    assert _wait(lambda: first.state == "stopped", 60)
    assert jobs._running_count() == 0


# -- the manager outlives Streamlit's caches -----------------------------------------------------


def test_clearing_streamlits_caches_keeps_the_one_manager(monkeypatch, tmp_path):
    import streamlit as st

    from app_pages.common import job_manager

    monkeypatch.setenv("PLAYGROUND_RUNS", str(tmp_path / "runs"))
    reset_manager()
    try:
        m = job_manager()
        job = m.submit(tiny(epochs=50), "a")
        st.cache_resource.clear()  # what a client's clear_cache message does
        st.cache_data.clear()
        assert job_manager() is m is manager()
        assert job_manager().status(job.run_id) in ("running", "queued")
        job_manager().stop(job.run_id)
        assert _wait(lambda: job.state == "stopped")
    finally:
        reset_manager()


def test_runs_built_at_the_same_time_get_the_same_weights():
    """Layer initialisation draws from torch's global generator: built in parallel threads with the
    same seed, every model must still get the same weights, while other code of the server seeds and
    draws (every seeded draw of the core goes through ``seeding.seeded``; unseeded draws in another
    thread, e.g. dropout while training, are why long jobs belong in processes of their own)."""
    cfg = tiny().replace(model={"params": {"channels": [32, 32], "fc": [64]}})
    out: list[torch.Tensor] = []

    def build():
        out.append(torch.cat([q.detach().flatten().cpu() for q in prepare(cfg).model.parameters()]))

    def meddle():
        for i in range(200):
            with seeded(i):
                torch.rand(100)

    threads = [threading.Thread(target=build) for _ in range(4)] + [threading.Thread(target=meddle)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(torch.equal(out[0], w) for w in out[1:])


# -- crafted links and values --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, words",
    [
        ("[" * 100_000 + "]" * 100_000, "characters long"),
        ('{"train": ' * 50 + "{}" + "}" * 50, "nested"),
        ('{"train": {"seed": ' + "9" * 5000 + "}}", "5,000 digits"),
        ('{"train": {"seed": 1208925819614629174706176}}', "seed must be a whole number from 0 to 2\\*\\*63"),
        ('{"train": {"epochs": 1e9}}', "at most 10,000"),
        ('{"train": {"batch_size": 10000000}}', "batch size must be from 1 to"),
    ],
)
def test_crafted_settings_get_a_message_not_a_traceback(text, words):
    with pytest.raises(ConfigError, match=words):
        RunConfig.from_json(text).validate()


def test_a_crafted_link_gets_a_message():
    cfg_json = json.dumps({"train": {"seed": 2**80}})
    import base64
    import zlib

    link = base64.urlsafe_b64encode(zlib.compress(cfg_json.encode())).decode().rstrip("=")
    with pytest.raises(ConfigError, match="seed"):
        RunConfig.from_url(link).validate()


def test_user_text_is_shown_literally_in_markdown():
    """Class, file and folder names come from students: a folder named like a Markdown link or
    image must show as typed, not as a link or a remote image on other students' pages."""
    import re

    from app_pages.common import md

    hostile = "[click](http://evil.example) ![x](http://evil.example/p.png) <b>x</b> *y* :material/home:"
    shown = md(hostile)
    assert not re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]\(", shown)  # no unescaped [text](url)
    assert "\\<b\\>" in shown and "\\*y\\*" in shown
    assert shown.replace("\\", "") == hostile  # nothing lost: the same characters, escaped
