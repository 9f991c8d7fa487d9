import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from playground.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from playground.errors import CheckpointError
from playground.runs import load_checkpoint
from playground.train import Controls, fit, resume

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"n_train": 640, "n_test": 200}


def small(**train) -> RunConfig:
    return RunConfig(
        data=DataConfig(dataset="shapes", params=SMALL, augment=("hflip", "rotation:10")),
        model=ModelConfig(name="cnn", params={"channels": [8, 16], "fc": [32]}),
        optim=OptimConfig(name="adam", lr=3e-3, schedule="onecycle"),
        # log_seconds 0: a step event every log_every steps exactly, however loaded the machine
        train=TrainConfig(**{"epochs": 2, "batch_size": 64, "log_every": 5, "log_seconds": 0, **train}),
    )


def test_events_follow_the_schema(store):
    events = list(fit(small(), store=store))
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert kinds.count("epoch") == 2
    steps = [e for e in events if e["kind"] == "step"]
    assert [e["step"] for e in steps][:2] == [5, 10] and steps[-1]["step"] == 20
    for e in steps:
        assert {"step", "epoch", "loss", "acc", "lr", "images_per_s", "t"} <= set(e)
    ep = [e for e in events if e["kind"] == "epoch"][-1]
    assert len(ep["per_class_acc"]) == 10 and len(ep["confusion"]) == 10
    assert sum(map(sum, ep["confusion"])) == 200
    assert ep["test_acc"] == pytest.approx(sum(ep["confusion"][i][i] for i in range(10)) / 200)
    done = events[-1]
    assert done["test_acc"] == ep["test_acc"] and done["images_per_second"] > 0
    run = store.open(events[0]["run_id"])
    assert run.events() == events  # every event is on disk, in order
    assert run.config() == small()
    ckpt = load_checkpoint(run.checkpoint_path)
    assert ckpt["epoch"] == 2 and ckpt["step"] == 20
    assert run.model_path.exists() and run.status() == "done"


def test_training_learns(store):
    cfg = small(epochs=4).replace(
        data={"params": {"n_train": 3000, "n_test": 300}, "augment": ()}, model={"params": {}}
    )
    done = list(fit(cfg))[-1]
    assert done["kind"] == "done" and done["test_acc"] > 0.35  # chance is 0.1


def test_same_seed_same_run():
    a = [e["loss"] for e in fit(small(epochs=1)) if e["kind"] == "step"]
    b = [e["loss"] for e in fit(small(epochs=1)) if e["kind"] == "step"]
    assert a == b


def test_fractional_epochs():
    events = list(fit(small(epochs=1.5)))
    assert [e["epoch"] for e in events if e["kind"] == "epoch"] == [0, 1]
    assert events[-1]["step"] == 15


def test_huge_learning_rate_diverges_with_advice(store):
    cfg = small(epochs=3).replace(
        optim={"name": "sgd", "lr": 1e12, "schedule": "constant"},
        model={"params": {"channels": [8], "batch_norm": False, "fc": []}},
    )
    events = list(fit(cfg, store=store))
    last = events[-1]
    assert last["kind"] == "diverged", last
    assert "Lower the learning rate" in last["message"]
    assert store.open(events[0]["run_id"]).status() == "diverged"


@pytest.mark.parametrize(
    "change, words",
    [
        ({"train": {"batch_size": 5000}}, "larger than the training set"),
        ({"train": {"device": "cuda"}} if not torch.cuda.is_available() else {"train": {"device": "cuda:99"}}, "GPU"),
        ({"model": {"name": "vgg99"}}, "Choose one of"),
        ({"data": {"augment": ("twirl",)}}, "Unknown augmentation"),
        ({"optim": {"lr": 0.0}}, "learning rate"),
        ({"data": {"dataset": "image_folder", "data_root": "/nonexistent/x", "params": {}}}, "does not exist"),
        ({"data": {"dataset": "image_folder", "data_root": "/x", "params": {"colour": 1}}}, "no parameter 'colour'"),
    ],
)
def test_bad_input_ends_in_an_error_event(change, words):
    events = list(fit(small().replace(**change)))
    assert [e["kind"] for e in events] == ["error"]
    assert words in events[0]["message"]
    assert "traceback" not in events[0]


def test_error_before_start_leaves_no_run_behind(store):
    list(fit(small().replace(model={"name": "nope"}), store=store))
    assert store.list() == []


def test_stop_pause_resume_from_another_thread(store):
    controls = Controls()
    cfg = small(epochs=50, log_every=1)
    seen = []

    def drive():
        while len(seen) < 3:
            time.sleep(0.01)
        controls.pause()
        n = len(seen)
        time.sleep(0.5)
        seen.append(("paused_steps", len(seen) - n))
        controls.resume()
        time.sleep(0.2)
        controls.stop()

    th = threading.Thread(target=drive)
    th.start()
    for e in fit(cfg, store=store, controls=controls):
        seen.append(e)
    th.join()
    paused = [s for s in seen if isinstance(s, tuple)][0][1]
    assert paused <= 1  # at most the step already in flight
    last = seen[-1]
    assert last["kind"] == "stopped" and last["step"] < 50 * 10
    run = store.open(seen[0]["run_id"])
    assert run.status() == "stopped"
    final = run.load_checkpoint(final=True)
    assert final["step"] == last["step"]


def test_resume_continues_exactly_where_the_checkpoint_was(store):
    cfg = small(epochs=3)
    full = [e for e in fit(cfg) if e["kind"] in ("step", "epoch")]
    # Run one epoch of the same config, then cut the run as a kill would.
    controls = Controls()
    events = []
    for e in fit(cfg, store=store, controls=controls):
        events.append(e)
        if e["kind"] == "step" and e["step"] == 15:  # mid-way through epoch 1
            controls.stop()
    run = store.open(events[0]["run_id"])
    # A stop writes a final event; a kill would not. Make it look killed.
    lines = run.metrics_path.read_text().splitlines()
    run.metrics_path.write_text("\n".join(lines[:-1]) + "\n")
    assert run.status() == "running"
    resumed = list(resume(run.run_id, store))
    assert resumed[0] == {**resumed[0], "kind": "resumed", "epoch": 1, "step": 10}
    assert resumed[-1]["kind"] == "done"
    after = [e for e in run.events() if e["kind"] in ("step", "epoch")]
    assert [e["step"] for e in after] == [e["step"] for e in full]  # no gaps, no duplicates
    for a, b in zip(after, full):
        if a["kind"] == "step":
            assert a["loss"] == pytest.approx(b["loss"], rel=1e-4, abs=1e-5)
    assert after[-1]["test_acc"] == pytest.approx(full[-1]["test_acc"], abs=0.011)


def test_kill_and_resume_from_the_cli(tmp_path):
    """SIGKILL a real training process after its first checkpoint; resume continues it."""
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    args = [
        sys.executable,
        "-m",
        "playground",
        "train",
        "--runs",
        str(runs),
        "--dataset",
        "shapes",
        "--data-param",
        "n_train=640",
        "--data-param",
        "n_test=200",
        "--model-param",
        "channels=[8,16]",
        "--epochs",
        "40",
        "--batch-size",
        "64",
        "--log-every",
        "1",
    ]
    log = open(tmp_path / "train.log", "wb")
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            ckpts = list(runs.glob("*/checkpoint.pt"))
            if ckpts and load_checkpoint(ckpts[0])["epoch"] >= 2:
                break
            time.sleep(0.05)
        else:
            pytest.fail("no checkpoint appeared: " + (tmp_path / "train.log").read_text()[-2000:])
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
        log.close()
    run_dir = ckpts[0].parent
    before = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert before[-1]["kind"] not in ("done", "stopped")
    cut = load_checkpoint(run_dir / "checkpoint.pt")["epoch"]
    out = subprocess.run(
        [sys.executable, "-m", "playground", "resume", run_dir.name, "--runs", str(runs), "--json", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == "done" and result["run_id"] == run_dir.name
    events = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    epochs = [e["epoch"] for e in events if e["kind"] == "epoch"]
    assert epochs == list(range(40))  # kept epochs 0..cut-1, then continued
    steps = [e["step"] for e in events if e["kind"] == "step"]
    assert steps == list(range(1, 401))
    assert [e["kind"] for e in events].count("resumed") == 1
    assert any(e["kind"] == "resumed" and e["epoch"] == cut for e in events)


def test_checkpoints_that_are_not_ours_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    torch.save({"format": "cnn-playground/1", "model": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="hold code"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a CNN Playground checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="No checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_resume_of_unknown_run_is_a_clear_error(store):
    events = list(resume("../../etc", store))
    assert events[0]["kind"] == "error" and "not a run id" in events[0]["message"]


def test_resuming_a_done_run_is_refused_and_keeps_its_record(store):
    events = list(fit(small(epochs=1, log_every=2), store=store))
    run = store.open(events[0]["run_id"])
    before = run.metrics_path.read_bytes()
    (refused,) = list(resume(run.run_id, store))
    assert refused["kind"] == "error" and "is done" in refused["message"] and "more epochs" in refused["message"]
    assert run.metrics_path.read_bytes() == before and run.status() == "done"


@pytest.mark.parametrize(
    "change, words",
    [
        ({"train": {"batch_size": 1}}, "at least 2"),
        ({"data": {"augment": ("rotation:degrees=1/2",)}}, "wrong type"),
        ({"optim": {"name": "momentum", "params": {"momentum": "abc"}}}, "momentum"),
        ({"optim": {"params": {"lr": 0.1}}}, "cannot be set"),
        ({"model": {"params": {"num_classes": 3}}}, "cannot be set"),
        ({"data": {"params": {"root": "/x"}}}, "cannot be set"),
        ({"optim": {"schedule_params": {"total_steps": 5}}}, "cannot be set"),
        ({"train": {"device": "cuda:x"}}, "device"),
    ],
)
def test_more_bad_input_is_explained(change, words):
    events = list(fit(small().replace(**change)))
    assert [e["kind"] for e in events] == ["error"], events
    assert words in events[0]["message"] and "traceback" not in events[0]


def test_resume_with_a_generator_state_from_another_device(store):
    controls = Controls()
    events = []
    for e in fit(small(epochs=2), store=store, controls=controls):
        events.append(e)
        if e["kind"] == "step" and e["step"] == 15:  # after the epoch-1 checkpoint
            controls.stop()
    run = store.open(events[0]["run_id"])
    state = run.load_checkpoint()
    assert state["epoch"] == 1
    state["generator"] = torch.zeros(3, dtype=torch.uint8)  # not a CPU generator state
    run.save_checkpoint({k: v for k, v in state.items() if k != "format"})
    resumed = list(resume(run.run_id, store))
    assert resumed[0]["kind"] == "resumed" and "re-seeded" in resumed[0]["note"]
    assert resumed[-1]["kind"] == "done"


def test_metrics_csv_has_each_tasks_scalar_fields(store):
    """The run's CSV lists the events' own scalars (acc for classification), never tables."""
    import csv
    import io

    cfg = RunConfig().replace(data={"params": {"n_train": 200, "n_test": 50}}, train={"epochs": 1, "batch_size": 50})
    run_id = list(fit(cfg, store=store))[0]["run_id"]
    rows = list(csv.DictReader(io.StringIO(store.open(run_id).metrics_csv())))
    assert {"kind", "step", "loss", "acc", "test_acc"} <= set(rows[0])
    assert "confusion" not in rows[0] and "per_class_acc" not in rows[0]
    assert [r["kind"] for r in rows].count("epoch") == 1
    assert float(next(r for r in rows if r["kind"] == "epoch")["test_acc"]) >= 0


def test_a_slow_run_still_logs_about_every_log_seconds():
    from conftest import tiny_run

    events = list(fit(tiny_run(epochs=1, log_every=10_000, log_seconds=0.001)))  # every step is "slow"
    steps = [e["step"] for e in events if e["kind"] == "step"]
    assert len(steps) >= 8 and steps == sorted(set(steps))  # not only the epoch's last step
    fixed = [e for e in fit(tiny_run(epochs=1, log_every=10_000, log_seconds=0)) if e["kind"] == "step"]
    assert len(fixed) == 1  # the time rule off: the epoch's last step only


def test_a_run_stopped_inside_an_epoch_ends_with_its_test_figures():
    from conftest import tiny_run

    from playground.train import Controls

    controls, events = Controls(), []
    for e in fit(tiny_run(epochs=3), controls=controls):
        events.append(e)
        if e["kind"] == "step" and e["step"] == 4:
            controls.stop()
    partial, final = events[-2], events[-1]
    assert final["kind"] == "stopped" and partial["kind"] == "epoch" and partial["partial"]
    assert 0 <= partial["test_acc"] <= 1 and partial["step"] == 4 and "confusion" in partial


# -- settings changed while it trains -------------------------------------------------------


def test_the_learning_rate_changes_from_the_next_step_and_resume_keeps_it(store):
    from conftest import tiny_run

    cfg = tiny_run(epochs=3).replace(optim={"schedule": "constant", "lr": 0.004})
    controls, events = Controls(), []
    for e in fit(cfg, store=store, controls=controls):
        events.append(e)
        if e["kind"] == "step" and e["step"] == 4:
            controls.change(lr=0.0005)
        if e["kind"] == "step" and e["step"] == 14:
            controls.interrupt()
    sets = [e for e in events if e["kind"] == "set"]
    assert len(sets) == 1 and sets[0]["lr"] == pytest.approx(0.0005) and sets[0]["step"] == 4
    lrs = {e["step"]: e["lr"] for e in events if e["kind"] == "step"}
    assert lrs[4] == pytest.approx(0.004) and all(lrs[s] == pytest.approx(0.0005) for s in lrs if s > 4)
    run = store.open(events[0]["run_id"])
    assert any(row.startswith("set,") for row in run.metrics_csv().splitlines())  # the CSV shows the change
    after = [e for e in resume(run.run_id, store) if e["kind"] == "step"]
    assert after and all(e["lr"] == pytest.approx(0.0005) for e in after)  # the checkpoint kept it
    assert [e["kind"] for e in run.events()].count("set") == 1


def test_a_new_learning_rate_rescales_the_one_cycle_schedule():
    from conftest import tiny_run

    controls, events = Controls(), []
    for e in fit(tiny_run(epochs=2), controls=controls):  # one-cycle, the default
        events.append(e)
        if e["kind"] == "step" and e["step"] == 6:
            before = e["lr"]
            controls.change(lr=before / 4)
    steps = [e for e in events if e["kind"] == "step"]
    nxt = next(e for e in steps if e["step"] > 6)
    assert nxt["lr"] == pytest.approx(before / 4, rel=0.25)  # the schedule goes on from the new value
    assert max(e["lr"] for e in steps if e["step"] > 6) < max(e["lr"] for e in steps if e["step"] <= 6)


@pytest.mark.parametrize(
    "bad", [dict(lr=0), dict(lr=-1), dict(lr=float("nan")), dict(lr="fast"), dict(momentum=2.0), dict(batch_size=8)]
)
def test_bad_changes_are_refused_at_the_control(bad):
    from playground.errors import ConfigError

    with pytest.raises(ConfigError):
        Controls().change(**bad)


def test_a_change_reaches_a_worker_process(store):
    from conftest import tiny_run, wait_until

    from playground.jobs.manager import JobManager

    m = JobManager(store, max_running=1, workers="process")
    try:
        job = m.submit(tiny_run(epochs=200).replace(optim={"schedule": "constant"}), "a")
        assert wait_until(lambda: len(job.buffer.snapshot()["steps"]["step"]) >= 2, 120)
        m.change(job.run_id, lr=0.0123)
        assert wait_until(lambda: job.buffer.snapshot()["steps"]["lr"][-1] == pytest.approx(0.0123), 60)
        assert job.buffer.snapshot()["sets"][0]["lr"] == pytest.approx(0.0123)
        m.stop(job.run_id)
        assert wait_until(lambda: not job.live, 60)
        with pytest.raises(Exception, match="not training"):
            m.change(job.run_id, lr=0.01)
    finally:
        m.shutdown()


# -- the quick test estimate while an epoch trains ------------------------------------------------

QUICK_DATA = {"n_train": 640, "n_test": 600}


def _every_log(monkeypatch):
    """Every step event gets an estimate (no waiting, no cost cap): deterministic, whatever the load."""
    from playground.train.probes import QuickTest

    monkeypatch.setattr(QuickTest, "INTERVAL_S", 0.0)
    monkeypatch.setattr(QuickTest, "MAX_SHARE", float("inf"))


def test_a_quick_test_estimate_comes_before_the_epoch_ends(store):
    events = list(fit(small(epochs=1).replace(data={"params": QUICK_DATA}), store=store))  # defaults: 2 s apart
    first_epoch = next(i for i, e in enumerate(events) if e["kind"] == "epoch")
    quick = [e for e in events[:first_epoch] if e["kind"] == "step" and "quick_test_n" in e]
    assert quick and quick[0] is next(e for e in events if e["kind"] == "step")  # the first step event has one
    for e in quick:
        assert e["quick_test_n"] == 512 and 0 <= e["quick_test_acc"] <= 1 and e["quick_test_loss"] > 0
        assert e["quick_test_seconds"] >= 0
    rows = store.open(events[0]["run_id"]).metrics_csv()
    assert "quick_test_acc" in rows.splitlines()[0].split(",")  # the metrics CSV carries it


def test_the_estimate_is_the_fixed_subset_evaluated_with_the_model_of_that_step(store, monkeypatch):
    from playground.train import prepare
    from playground.train.probes import quick_test_subset

    _every_log(monkeypatch)
    # One step event, at the epoch's last step: the model the final file holds and the epoch evaluates.
    cfg = small(epochs=1, log_every=10, log_seconds=0).replace(data={"params": QUICK_DATA})
    events = list(fit(cfg, store=store))
    (quick,) = [e for e in events if e["kind"] == "step"]
    idx = quick_test_subset(600, 512, cfg.train.seed)
    assert len(set(idx.tolist())) == 512 and torch.equal(idx, quick_test_subset(600, 512, cfg.train.seed))
    p = prepare(cfg)
    p.model.load_state_dict(store.open(events[0]["run_id"]).load_checkpoint(final=True)["model"])
    p.model.eval()
    with torch.no_grad():  # evaluated in fp32, whatever the training's precision
        out = p.model(p.to_input(p.test_x[idx]))
    assert quick["quick_test_n"] == 512
    assert quick["quick_test_acc"] == pytest.approx((out.argmax(1) == p.test_y[idx]).float().mean().item(), abs=1e-5)
    loss = torch.nn.functional.cross_entropy(out, p.test_y[idx]).item()
    assert quick["quick_test_loss"] == pytest.approx(loss, abs=1e-4)
    # On the whole test split (it asks for more images than there are) it is the epoch's own evaluation.
    events = list(fit(cfg.replace(train={"quick_test": 5000})))
    (quick,), ep = [e for e in events if e["kind"] == "step"], events[-2]
    assert quick["quick_test_n"] == 600 and quick["quick_test_acc"] == pytest.approx(ep["test_acc"], abs=1e-5)
    assert quick["quick_test_loss"] == pytest.approx(ep["test_loss"], abs=1e-4)


def test_the_estimate_does_not_change_training(monkeypatch):
    _every_log(monkeypatch)
    cfg = small(epochs=1.5, log_every=2, log_seconds=0).replace(data={"params": QUICK_DATA})  # BN, augmentation
    on, off = list(fit(cfg)), list(fit(cfg.replace(train={"quick_test": 0})))
    steps_on = [e for e in on if e["kind"] == "step"]
    assert all("quick_test_n" in e for e in steps_on) and not any("quick_test_n" in e for e in off)
    figures = ("step", "loss", "acc", "lr")
    assert [[e[k] for k in figures] for e in steps_on] == [[e[k] for k in figures] for e in off if e["kind"] == "step"]
    ep_on, ep_off = [e for e in on if e["kind"] == "epoch"], [e for e in off if e["kind"] == "epoch"]
    assert [(e["test_loss"], e["confusion"]) for e in ep_on] == [(e["test_loss"], e["confusion"]) for e in ep_off]


def test_the_curves_draw_the_estimate_apart_from_the_full_evaluation(monkeypatch):
    from playground import plots
    from playground.jobs.buffer import RunBuffer, latest_test_acc

    _every_log(monkeypatch)
    events = list(fit(small(epochs=1, log_every=5, log_seconds=0).replace(data={"params": QUICK_DATA})))
    snap = RunBuffer.from_events(events).snapshot()
    quick = snap["quick"]
    assert quick["step"] == [5, 10] and quick["n"] == [512, 512]
    assert quick["acc"] == [e["quick_test_acc"] for e in events if e["kind"] == "step"]
    assert not any(k.startswith("quick_test_") for k in snap["latest"])
    fig = plots.training_curves(snap["steps"], snap["epochs"], snap["sets"], quick)
    names = [t.name for t in fig.data]
    assert names.count("test estimate (512 images)") == 2 and names.count("test (full)") == 2
    est = next(t for t in fig.data if t.name.startswith("test estimate"))
    full = next(t for t in fig.data if t.name == "test (full)")
    assert est.marker.symbol == "circle-open" and est.line.dash == "dot" and full.line.dash is None
    assert len(plots.training_curves(snap["steps"], snap["epochs"]).data) == 4  # without it: as before
    # The page's metric: the epoch's figure, then a newer estimate (marked with its size).
    assert latest_test_acc(snap) == {"acc": snap["epochs"][-1]["test_acc"], "step": 10, "n": None}
    later = {**snap, "quick": {k: v + [v[-1]] for k, v in quick.items()}}
    later["quick"]["step"][-1] = 12
    assert latest_test_acc(later) == {"acc": quick["acc"][-1], "step": 12, "n": 512}


def test_quick_test_must_be_a_sensible_number_of_images():
    from playground.errors import ConfigError

    with pytest.raises(ConfigError, match="quick_test"):
        small(quick_test=-1).validate()


def test_precision_auto_is_bf16_on_a_gpu_or_an_amx_cpu_and_each_setting_trains():
    from playground.device import amx_bf16, autocast_dtype

    cpu = torch.device("cpu")
    assert autocast_dtype(cpu, "auto") == (torch.bfloat16 if amx_bf16() else None)
    assert autocast_dtype(torch.device("cuda"), "auto") == torch.bfloat16
    assert autocast_dtype(cpu, "fp32") is None and autocast_dtype(cpu, "bf16") == torch.bfloat16
    for precision in ("fp32", "bf16"):
        events = list(fit(small(epochs=2, precision=precision, device="cpu")))
        assert events[0]["precision"] == precision
        epochs = [e for e in events if e["kind"] == "epoch"]
        assert events[-1]["kind"] == "done" and epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    (start,) = [e for e in fit(small(epochs=1, device="cpu")) if e["kind"] == "start"]
    assert start["precision"] == ("bf16" if amx_bf16() else "fp32")


def test_live_figures_draw_the_same_json_as_validated_ones():
    """The live curves skip plotly's validation (st.plotly_chart validates what it draws): what Streamlit
    sends to the browser is the same as for a figure built with validation."""
    import plotly.graph_objects as go
    import plotly.io as pio
    import plotly.tools

    from playground import plots

    steps = {
        "step": [10, 20, 30],
        "loss": [2.0, 1.0, 0.5],
        "acc": [0.1, 0.5, 0.8],
        "lr": [1e-3, 2e-3, 1e-3],
        "images_per_s": [900.0, 1000.0, 1100.0],
    }
    epochs, sets = [{"step": 30, "test_loss": 0.6, "test_acc": 0.79}], [{"step": 20, "lr": 0.01}]
    quick = {"step": [10, 20], "loss": [1.5, 0.9], "acc": [0.3, 0.6], "n": [512, 512]}
    drawn = lambda f: json.loads(
        pio.to_json(plotly.tools.return_figure_from_figure_or_data(f, validate_figure=True), validate=False)
    )
    for fig in (plots.training_curves(steps, epochs, sets, quick), plots.lr_curve(steps), plots.throughput(steps)):
        validated = go.Figure(fig.to_plotly_json())
        assert drawn(fig) == drawn(validated)
    assert [t.name for t in plots.training_curves(steps, epochs).data] == [
        "train",
        "train",
        "test (full)",
        "test (full)",
    ]
