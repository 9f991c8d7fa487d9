"""The run store forgives damage (a bad run is listed as damaged, never hides the others), sweeps the
temp files a kill leaves, reports a full disk clearly, and lets one trainer at a time train a run."""

import errno
import fcntl
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from conftest import wait_until
from streamlit.testing.v1 import AppTest

from playground.cli import main as cli_main
from playground.config import RunConfig
from playground.errors import CheckpointError, PlaygroundError
from playground.inside import inspectable_runs
from playground.jobs.manager import JobManager, manager, reset_manager
from playground.runs import DISK_FULL, RunStore, atomic_write_bytes, load_checkpoint
from playground.train import Controls, fit, resume

ROOT = Path(__file__).resolve().parents[1]
BUSY = "is being trained by another process"


def tiny(epochs=2.0) -> RunConfig:  # shapes, 10 steps an epoch, about a second an epoch on a laptop CPU
    return RunConfig().replace(
        data={"params": {"n_train": 320, "n_test": 64}},
        model={"params": {"channels": [8], "fc": [16]}},
        train={"epochs": epochs, "batch_size": 32, "log_every": 5},
    )


_wait = wait_until  # conftest's poll, 60 s by default


def _epochs(run):
    return [e["epoch"] for e in run.events() if e["kind"] == "epoch"]


def _interrupted(store, epochs=2.0):
    """A run killed after its first checkpoint: events up to epoch 0, a checkpoint, no final event."""
    c = Controls()
    events = []
    for e in fit(tiny(epochs), store=store, controls=c):
        events.append(e)
        if e["kind"] == "epoch":
            c.stop()
    run = store.open(events[0]["run_id"])
    lines = run.metrics_path.read_bytes().splitlines(keepends=True)[:-1]  # drop "stopped": as if killed
    run.metrics_path.write_bytes(b"".join(lines))
    assert run.status() == "running" and load_checkpoint(run.checkpoint_path)["epoch"] == 1
    return run


# -- damage -------------------------------------------------------------------------------------


def test_a_damaged_store_lists_the_good_run_and_the_damaged_ones(store, capsys):
    good = store.open(list(fit(tiny(1), store=store))[0]["run_id"])
    bad_config = store.create(tiny())
    bad_config.config_path.write_bytes(b'\xff\xfe{"data": \x81}')  # not UTF-8
    shutil.copy(good.model_path, bad_config.model_path)  # weights the Inside page would offer
    junk = store.create(tiny())
    lines = good.metrics_path.read_bytes().splitlines(keepends=True)
    junk.metrics_path.write_bytes(
        lines[0]
        + b"[1, 2]\n"
        + b"not json\n"
        + b'"text"\n'
        + b"\xff\xfe\x00\n"
        + b'{"no": "kind"}\n'
        + b"\n"
        + b"".join(lines[1:])
    )
    empty = store.root / "20990101-000000-emptyfolder"
    empty.mkdir()

    runs = {r.run_id: r for r in store.list()}
    assert {k: r.status() for k, r in runs.items()} == {
        good.run_id: "done",
        bad_config.run_id: "damaged",
        junk.run_id: "damaged",
        empty.name: "damaged",
    }
    assert runs[good.run_id].damage() is None
    # The junk lines are skipped and counted; every real event is still read.
    assert runs[junk.run_id].events() == good.events() and runs[junk.run_id].skipped_lines == 5
    assert "5 line(s)" in runs[junk.run_id].damage() and "metrics.jsonl" in runs[junk.run_id].damage()
    with pytest.raises(CheckpointError, match=f"Run {bad_config.run_id} .*config.json.*not UTF-8"):
        runs[bad_config.run_id].config()
    assert "config.json is missing" in runs[empty.name].damage()
    with pytest.raises(CheckpointError, match="has no config.json"):
        store.open(empty.name)
    # Not JSON at all, and JSON that is not a config: both the same clear error.
    bad_config.config_path.write_text('{"data": {"dataset": ')
    with pytest.raises(CheckpointError, match="not a valid run configuration"):
        bad_config.config()
    bad_config.config_path.write_text("[1, 2, 3]")
    with pytest.raises(CheckpointError, match="not a valid run configuration"):
        bad_config.config()
    bad_config.config_path.write_bytes(b'\xff\xfe{"data": \x81}')

    # The Inside page's run picker still offers the good run.
    assert [r["run_id"] for r in inspectable_runs(store)] == [good.run_id]
    # `playground runs` lists all four and exits 0.
    capsys.readouterr()
    assert cli_main(["runs", "--runs", str(store.root)]) == 0
    out = capsys.readouterr().out
    for run_id in runs:
        assert run_id in out
    assert out.count("damaged") >= 3 and f"{good.run_id}  done" in out and "not UTF-8" in out


def test_resume_repairs_junk_metrics_lines(store):
    run = _interrupted(store)
    with open(run.metrics_path, "ab") as f:
        f.write(b"garbage\n")
    assert run.status() == "damaged" and run.resumable()  # the config and checkpoint are fine
    assert list(resume(run.run_id, store))[-1]["kind"] == "done"
    assert run.status() == "done" and run.skipped_lines == 0 and _epochs(run) == [0, 1]


# -- stale temp files ---------------------------------------------------------------------------


def test_stale_temp_files_are_swept_and_fresh_or_locked_ones_kept(store):
    run = store.create(tiny())
    (run.dir / "snapshots").mkdir()
    old = time.time() - 3600

    def tmp(name, age=old):
        p = run.dir / name
        p.write_bytes(b"PK half a checkpoint")
        os.utime(p, (age, age))
        return p

    stale, stale_snap = tmp(".checkpoint.pt.0123abcd.tmp"), tmp("snapshots/.epoch-0001.pt.deadbeef.tmp")
    fresh, not_ours = tmp(".checkpoint.pt.89abcdef.tmp", age=time.time()), tmp("notes.tmp")
    writing = tmp(".model.pt.00aa11bb.tmp")  # old, but its writer is alive (a slow save): it holds the lock
    held = open(writing, "rb")
    fcntl.flock(held, fcntl.LOCK_EX)
    store.open(run.run_id)
    assert not stale.exists() and not stale_snap.exists()
    assert fresh.exists() and not_ours.exists() and writing.exists()
    held.close()  # the writer died: the kernel dropped its lock
    store.list()
    assert not writing.exists() and fresh.exists()


def test_atomic_writes_leave_no_temp_file(tmp_path):
    target = tmp_path / "x.bin"
    atomic_write_bytes(target, lambda f: f.write(b"ok"))

    def fails(f):
        f.write(b"half")
        raise ValueError("boom")

    with pytest.raises(ValueError):
        atomic_write_bytes(target, fails)
    assert target.read_bytes() == b"ok" and [p.name for p in tmp_path.iterdir()] == ["x.bin"]


# -- a full disk --------------------------------------------------------------------------------


def test_a_full_disk_in_torch_save_ends_fit_with_the_disk_full_message(store, monkeypatch):
    real_save, saves = torch.save, []

    def save(obj, f, *args, **kwargs):  # the second resumable checkpoint hits a full disk, as torch reports it
        if isinstance(obj, dict) and "optimizer" in obj:
            saves.append(obj["epoch"])
            if len(saves) == 2:
                f.write(b"PK\x03\x04 half")
                raise RuntimeError(
                    "[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed "
                    "writing file data/3: file write failed"
                )
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    events = list(fit(tiny(3), store=store))
    assert events[-1] == {"kind": "error", "message": DISK_FULL}  # no "Internal error", no traceback
    run = store.open(events[0]["run_id"])
    assert run.status() == "error" and run.events()[-1]["message"] == DISK_FULL
    assert load_checkpoint(run.checkpoint_path)["epoch"] == 1  # the last good checkpoint is intact
    assert not [p for p in run.dir.iterdir() if p.name.endswith(".tmp")]
    assert run.resumable()  # an error run with a checkpoint: the app offers Resume

    monkeypatch.setattr(torch, "save", real_save)  # space freed
    resumed = list(resume(run.run_id, store))
    assert resumed[0]["kind"] == "resumed" and resumed[0]["epoch"] == 1 and resumed[-1]["kind"] == "done"
    assert _epochs(run) == [0, 1, 2] and not run.resumable()


def test_a_full_disk_is_an_enospc_from_every_writer(store, monkeypatch):
    def torch_full(f):
        raise RuntimeError("PytorchStreamWriter failed writing file data.pkl: No space left on device")

    store.root.mkdir(parents=True)
    with pytest.raises(OSError) as e:
        atomic_write_bytes(store.root / "x.pt", torch_full)
    assert e.value.errno == errno.ENOSPC and list(store.root.iterdir()) == []

    run = store.create(tiny())
    if Path("/dev/full").exists():  # the kernel's always-full device: a real ENOSPC from write()
        run.metrics_path.symlink_to("/dev/full")
        with pytest.raises(OSError) as e:
            run.append({"kind": "step", "step": 1})
        assert e.value.errno == errno.ENOSPC

    def no_space(path, write):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("playground.runs.atomic_write_bytes", no_space)
    before = {p.name for p in store.root.iterdir()}
    with pytest.raises(PlaygroundError, match="The disk is full"):
        store.create(tiny())
    events = list(fit(tiny(), store=store))
    assert [e["kind"] for e in events] == ["error"] and "The disk is full" in events[0]["message"]
    assert {p.name for p in store.root.iterdir()} == before  # no empty (damaged) run folder left behind


# -- one trainer at a time ----------------------------------------------------------------------


def test_a_second_trainer_of_a_run_is_refused(store):
    first = fit(tiny(3), store=store)
    events = [next(first)]  # "start": the run is locked from here until the generator ends
    run = store.open(events[0]["run_id"])
    assert run.busy() and not run.resumable()

    refused = list(resume(run.run_id, store))
    assert [e["kind"] for e in refused] == ["error"] and BUSY in refused[0]["message"]
    in_thread: list = []
    th = threading.Thread(target=lambda: in_thread.extend(resume(run.run_id, store)))
    th.start()
    th.join(30)
    assert [e["kind"] for e in in_thread] == ["error"] and BUSY in in_thread[0]["message"]
    again = list(fit(tiny(3), run=run))
    assert [e["kind"] for e in again] == ["error"] and BUSY in again[0]["message"]

    events += list(first)
    assert events[-1]["kind"] == "done" and not run.busy()
    assert run.events() == events  # the refusals wrote nothing, cut nothing
    assert _epochs(run) == [0, 1, 2]


def test_two_resumes_of_an_interrupted_run_train_it_once(store):
    run = _interrupted(store, epochs=3)
    a = resume(run.run_id, store)
    first = next(a)
    assert first["kind"] == "resumed"
    b = list(resume(run.run_id, store))
    assert [e["kind"] for e in b] == ["error"] and BUSY in b[0]["message"]
    assert list(a)[-1]["kind"] == "done"
    assert _epochs(run) == [0, 1, 2]
    assert [e["kind"] for e in run.events()].count("resumed") == 1


def test_the_lock_is_released_when_the_trainer_is_closed_or_fails(store):
    gen = fit(tiny(50), store=store)
    run_id = next(gen)["run_id"]
    next(gen)
    gen.close()  # the consumer went away
    run = store.open(run_id)
    assert not run.busy() and run.status() == "stopped"
    bad = store.create(tiny().replace(train={"batch_size": 10_000}))
    events = list(fit(bad.config(), run=bad))
    assert events[-1]["kind"] == "error" and "larger than the training set" in events[-1]["message"]
    assert not bad.busy()
    restarted = resume(run_id, store)
    assert next(restarted)["kind"] == "start"  # killed before its first checkpoint: it starts over
    restarted.close()


def test_a_lock_held_by_another_process_blocks_resume_until_it_dies(store):
    run = _interrupted(store)
    holder = (
        "import fcntl, sys, time\nf = open(sys.argv[1], 'a')\nfcntl.flock(f, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\ntime.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", holder, str(run.lock_path)], stdout=subprocess.PIPE, text=True)
    jm = JobManager(store, max_running=1)
    try:
        assert proc.stdout.readline().strip() == "locked"
        before = run.metrics_path.read_bytes()
        assert run.busy() and not run.resumable()
        refused = list(resume(run.run_id, store))
        assert [e["kind"] for e in refused] == ["error"] and BUSY in refused[0]["message"]
        job = jm.resume(run.run_id, owner="x")  # the job manager starts no second trainer either
        assert _wait(lambda: job.state == "error")
        assert BUSY in job.buffer.snapshot()["final"]["message"]
        assert run.metrics_path.read_bytes() == before  # nothing cut back, nothing appended
    finally:
        jm.shutdown()
        proc.kill()
        proc.wait(30)
    assert not run.busy() and run.resumable()  # a dead holder's lock is free again
    resumed = list(resume(run.run_id, store))
    assert resumed[0]["kind"] == "resumed" and resumed[-1]["kind"] == "done"
    assert _epochs(run) == [0, 1]


# -- resumable ----------------------------------------------------------------------------------


def test_resumable_runs_ended_early_with_a_checkpoint(store):
    run = _interrupted(store)
    assert run.resumable()  # interrupted
    run.append({"kind": "error", "message": "The disk is full: ..."})
    assert run.status() == "error" and run.resumable()
    run.append({"kind": "done", "step": 20})
    assert not run.resumable()
    run.append({"kind": "stopped", "step": 20})
    assert run.resumable()
    run.checkpoint_path.unlink()
    assert not run.resumable()  # nothing to continue from
    other = _interrupted(store)
    other.config_path.write_bytes(b"\xff")
    assert not other.resumable()


def test_the_train_page_offers_resume_for_an_error_run(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("PLAYGROUND_UPLOADS", str(tmp_path / "uploads"))
    reset_manager()  # a fresh manager (and run store) for this test
    store = RunStore(tmp_path / "runs")
    run = _interrupted(store)
    run.append({"kind": "error", "message": DISK_FULL})
    run.write_control_key("the-key")
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    try:
        at.query_params["run"] = run.run_id
        at.query_params["ctl"] = "the-key"
        at.run()
        at.switch_page("app_pages/train.py").run()
        assert not at.exception, [e.value for e in at.exception]
        assert any(DISK_FULL in e.value for e in at.error)
        at.button(key="c_continue").click().run()
        assert not at.exception, [e.value for e in at.exception]
        job = manager().get(run.run_id)
        assert job is not None and _wait(lambda: job.state == "done", 120)
        assert _epochs(run) == [0, 1] and run.status() == "done"
        at.run()
        assert not any(b.key == "c_continue" for b in at.button)  # done: nothing to resume
    finally:
        reset_manager()


def test_a_run_name_is_one_clean_line_and_shows_in_its_label(store):
    from playground.config import RunConfig

    run = store.create(RunConfig())
    assert run.name == "" and run.label() == run.run_id
    assert run.set_name("  lr 0.01\n\tno\x00 augmentation  ") == "lr 0.01 no augmentation"
    assert store.open(run.run_id).name == "lr 0.01 no augmentation"
    assert run.label() == f"lr 0.01 no augmentation · {run.run_id[-6:]}"
    assert len(run.set_name("x" * 500)) == 40
    assert run.set_name("   ") == "" and not (run.dir / "name.txt").exists() and run.label() == run.run_id


def test_a_runs_owner_is_kept_as_a_digest_and_found_again(store):
    import secrets

    from playground.config import RunConfig

    me, other = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    mine = [store.create(RunConfig()) for _ in range(2)]
    theirs = store.create(RunConfig())
    for r in mine:
        r.write_control_key("k", owner=me)
    theirs.write_control_key("k", owner=other)
    store.create(RunConfig())  # a CLI run: no owner
    assert store.owned_by(me) == sorted(r.run_id for r in mine)
    assert store.owned_by(other) == [theirs.run_id]
    assert store.owned_by(secrets.token_urlsafe(16)) == []
    assert me not in (mine[0].dir / "owner.sha256").read_text()  # the token itself is never stored
