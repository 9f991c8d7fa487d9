"""The Teacher page (playground.teacher, app_pages/teacher.py): anonymous session names, the key that opens
it (one refusal for every wrong case, rate-limited), the class table of every run (memory and disk, every
kind), the leaderboard, the queue, the CSV; the page through AppTest and over Streamlit's protocol; Stop from
the teacher's page reaching a running job."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import time
from pathlib import Path

import pytest
from conftest import tiny_run, wait_until, wait_until_async
from streamlit.testing.v1 import AppTest

from playground import teacher
from playground.config import RunConfig
from playground.inside.race import InitRace
from playground.jobs.manager import JobManager, reset_manager
from playground.runs import RunStore
from playground.style.settings import StyleSettings
from playground.teacher.access import reset_gate

ROOT = Path(__file__).resolve().parents[1]
KEY = "correct horse battery staple"


def fake_run(
    store: RunStore,
    dataset: str = "shapes",
    model: str = "cnn",
    accs=(0.5, 0.8),
    final: str | None = "done",
    t: float = 12.0,
):
    """A run folder as a finished (or interrupted, ``final=None``) training run leaves it, without training."""
    run = store.create(RunConfig().replace(data={"dataset": dataset}, model={"name": model}))
    run.append({"kind": "start", "run_id": run.run_id, "device": "cpu", "t": 0.0})
    for i, a in enumerate(accs):
        run.append(
            {
                "kind": "step",
                "step": 10 * (i + 1),
                "epoch": i,
                "loss": 1.0 - a,
                "acc": a,
                "lr": 0.01,
                "images_per_s": 100.0,
                "t": t * (i + 0.9) / len(accs),
            }
        )
        run.append(
            {
                "kind": "epoch",
                "epoch": i,
                "step": 10 * (i + 1),
                "test_loss": 1.0 - a,
                "test_acc": a,
                "t": t * (i + 1) / len(accs),
            }
        )
    if final:
        run.append({"kind": final, "step": 10 * len(accs), "t": t})
    return run


@pytest.fixture(autouse=True)
def _fresh_gate():
    reset_gate()
    yield
    reset_gate()


# -- anonymous names ---------------------------------------------------------------------------------


def test_names_are_stable_per_session_differ_between_sessions_and_never_show_the_token():
    namer = teacher.Namer()
    tokens = [f"tok{i}-Zq9xYw{i * 7919}" for i in range(40)]
    names = [namer.name(t) for t in tokens]
    assert names == [namer.name(t) for t in tokens]  # stable
    assert len(set(names)) >= 39  # 409,600 names: 40 sessions practically never share one
    for tok, name in zip(tokens, names):
        assert re.fullmatch(r"[a-z]+-[a-z]+-\d\d", name), name
        assert tok not in name and not any(part in name for part in tok.split("-") if len(part) > 3)
    other = teacher.Namer()  # another server (another secret): other names, so names are not the token's hash
    assert sum(a == b for a, b in zip(names, (other.name(t) for t in tokens))) <= 2
    assert namer.name(None) == namer.name("") == teacher.NO_SESSION


# -- the key -------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_missing_wrong_or_unset_key_is_refused_and_only_the_key_opens():
    gate = teacher.KeyGate(key=lambda: KEY)
    assert not gate.check(None, "s") and not gate.check("", "s")
    assert not gate.check(KEY[:-1], "s") and not gate.check(KEY + " ", "s") and not gate.check("é" * 40, "s")
    assert gate.check(KEY, "s")
    closed = teacher.KeyGate(key=lambda: None)  # PLAYGROUND_TEACHER_KEY unset: closed to everyone
    assert not closed.check(KEY, "s") and not closed.check("", "s") and not closed.still_valid(closed.pass_token())
    assert gate.still_valid(gate.pass_token()) and not gate.still_valid("0" * 64) and not gate.still_valid(None)
    assert KEY not in gate.pass_token()


def test_a_pass_ends_when_the_key_changes():
    key = [KEY]
    gate = teacher.KeyGate(key=lambda: key[0])
    token = gate.pass_token()
    key[0] = "another key"
    assert not gate.still_valid(token)


def test_five_failures_lock_a_session_out_even_with_the_right_key_then_it_may_try_again():
    clock = Clock()
    gate = teacher.KeyGate(key=lambda: KEY, clock=clock, per_session=5, per_client=100, window_s=60, lockout_s=120)
    for _ in range(4):
        assert not gate.check("guess", "mallory")
        clock.t += 1
    assert gate.check(KEY, "mallory")  # four failures: not locked (and a success clears them)
    for _ in range(5):
        assert not gate.check("guess", "mallory")
    assert gate.locked("mallory") and not gate.check(KEY, "mallory")  # the right key too, the same answer
    assert gate.check(KEY, "teacher")  # another session is not affected
    clock.t += 121
    assert not gate.locked("mallory") and gate.check(KEY, "mallory")


def test_failures_spread_over_a_minute_do_not_add_up():
    clock = Clock()
    gate = teacher.KeyGate(key=lambda: KEY, clock=clock, per_session=5, window_s=60)
    for _ in range(12):
        assert not gate.check("guess", "s")
        clock.t += 16  # at most four within any minute
    assert gate.check(KEY, "s")


def test_one_client_guessing_from_many_sessions_locks_out_that_client_never_the_teacher():
    clock = Clock()
    gate = teacher.KeyGate(key=lambda: KEY, clock=clock, per_session=5, per_client=20, lockout_s=120)
    for i in range(20):  # one guess each from 20 new sessions (a client that reconnects for every guess)
        assert not gate.check(f"guess{i}", f"session{i}", "10.0.0.66")
    assert gate.locked("fresh", "10.0.0.66") and not gate.check(KEY, "fresh", "10.0.0.66")  # that client: refused
    assert gate.check(KEY, "teacher", "10.0.0.1")  # never global: the teacher's right key works
    clock.t += 121
    assert gate.check(KEY, "fresh", "10.0.0.66")


def test_the_gate_counts_every_failure_of_concurrent_sessions():
    import threading

    gate = teacher.KeyGate(key=lambda: KEY, per_session=10**6, per_client=400, lockout_s=600)
    threads = [
        threading.Thread(target=lambda i=i: [gate.check("x", f"s{i}", "c") for _ in range(50)]) for i in range(8)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not gate.check(KEY, "teacher", "c")  # 400 failures of that client counted exactly: locked
    assert gate.check(KEY, "teacher", "another client")


# -- the class table, leaderboard, queue, CSV -----------------------------------------------------------


@pytest.fixture
def class_store(tmp_path):
    store = RunStore(tmp_path / "runs")
    runs = {
        "a": fake_run(store, "shapes", "cnn", (0.6, 0.91)),
        "b": fake_run(store, "shapes", "mlp", (0.5, 0.7), final="stopped"),
        "c": fake_run(store, "mnist", "lenet5", (0.97, 0.985)),
        "d": fake_run(store, "mnist", "cnn", (0.9,), final=None),
    }  # interrupted
    bad = store.root / "20990101-000000-damagedrun"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    m = JobManager(store=store, workers="thread")
    race = m.store_for("initrace").create(InitRace(RunConfig(), {"zeros": ("zeros", {})}))
    runs["style"] = m.store_for("style").create(StyleSettings())
    return store, runs, bad.name, race.run_id


def test_the_table_lists_every_run_on_disk_of_every_kind(class_store):
    store, runs, damaged, race = class_store
    m = JobManager(store=store, workers="thread")
    rows = {r.run: r for r in teacher.class_table(m, teacher.Namer())}
    assert set(rows) == {r.run_id for r in runs.values()} | {damaged, race}
    a, b, c, d = (rows[runs[k].run_id] for k in "abcd")
    assert (a.status, a.dataset, a.model, a.test_acc, a.best_test_acc, a.epochs, a.time_s) == (
        "done",
        "shapes",
        "cnn",
        91.0,
        91.0,
        2,
        12.0,
    )
    assert (b.status, c.test_acc, d.status, d.test_acc) == ("stopped", 98.5, "interrupted", 90.0)
    assert rows[damaged].status == "damaged"
    assert rows[race].kind == "initrace" and rows[race].dataset == "shapes" and "init race" in rows[race].model
    style = rows[runs["style"].run_id]
    assert (style.kind, style.dataset, style.model, style.status) == (
        "style",
        "astronaut + mosaic",
        "vgg19",
        "interrupted",
    )
    assert all(r.session == teacher.NO_SESSION for r in rows.values())  # no session holds them: no name
    assert [r.run for r in teacher.class_table(m, teacher.Namer())] == sorted(rows, reverse=True)


def test_the_leaderboard_has_the_best_test_accuracy_per_data_set(class_store):
    store, runs, _, _ = class_store
    rows = teacher.class_table(JobManager(store=store, workers="thread"), teacher.Namer())
    board = teacher.leaderboard(rows)
    assert [(b["dataset"], b["test_acc"], b["run"]) for b in board] == [
        ("mnist", 98.5, runs["c"].run_id),
        ("shapes", 91.0, runs["a"].run_id),
    ]


def test_the_csv_lists_every_run_finished_ones_on_disk_and_live_ones_with_their_session(class_store, monkeypatch):
    store, runs, damaged, race = class_store
    monkeypatch.setenv("PLAYGROUND_WORKERS", "thread")
    m = JobManager(store=store, workers="thread", max_running=1)
    try:
        blocker = m.submit(tiny_run(epochs=200), owner="student-token-one")
        waiting = m.submit(tiny_run(epochs=1), owner="student-token-two")
        namer = teacher.Namer()
        rows = teacher.class_table(m, namer)
        text = teacher.results_csv(rows)
        table = list(csv.DictReader(io.StringIO(text)))
        assert tuple(table[0]) == teacher.CSV_COLUMNS
        assert {r["run"] for r in table} == {r.run_id for r in runs.values()} | {
            damaged,
            race,
            blocker.run_id,
            waiting.run_id,
        }
        by_id = {r["run"]: r for r in table}
        assert by_id[runs["c"].run_id]["test_acc"] == "98.5" and by_id[runs["c"].run_id]["status"] == "done"
        assert by_id[blocker.run_id]["session"] == namer.name("student-token-one")
        assert by_id[waiting.run_id]["status"] == "queued"
        assert "student-token" not in text
        q = teacher.queue(rows)
        assert [(x["run"], x["position"]) for x in q] == [(waiting.run_id, 1)] and q[0]["waited_s"] >= 0
    finally:
        m.shutdown()


def test_the_csv_quotes_what_a_spreadsheet_would_run_as_a_formula():
    row = teacher.RunRow(
        session="@cmd",
        run="r1",
        kind="train",
        status="done",
        dataset="shapes",
        model="cnn",
        test_acc=-1.5,
        best_test_acc=None,
        epochs=1,
        time_s=2.0,
        created="2026-01-01 00:00:00",
        device="cpu",
        name='=HYPERLINK("http://x","y")',
    )
    (cells,) = csv.DictReader(io.StringIO(teacher.results_csv([row])))
    assert cells["name"] == '\'=HYPERLINK("http://x","y")' and cells["session"] == "'@cmd"
    assert cells["test_acc"] == "-1.5" and cells["best_test_acc"] == "" and cells["run"] == "r1"


def test_the_machine_shows_the_cpu_and_the_slots(tmp_path):
    m = JobManager(store=RunStore(tmp_path / "runs"), workers="thread", max_running=3)
    info = teacher.machine(m)
    assert info["cpu"]["cores"] >= 1 and info["slots"] == {"running": 0, "paused": 0, "queued": 0, "max_running": 3}
    assert isinstance(info["gpus"], list)


def test_the_projector_figure_is_the_training_curves_tall(class_store):
    store, runs, _, _ = class_store
    snap = JobManager(store=store, workers="thread").snapshot(runs["a"].run_id)
    fig = teacher.projector_figure(snap)
    assert fig.layout.height == 560 and len(fig.data) == 4  # train and test, loss and accuracy


# -- the page (AppTest) -----------------------------------------------------------------------------------


@pytest.fixture
def page(class_store, tmp_path, monkeypatch):
    store, runs, _, _ = class_store
    monkeypatch.setenv("PLAYGROUND_RUNS", str(store.root))
    monkeypatch.setenv("PLAYGROUND_WORKERS", "thread")
    monkeypatch.setenv("PLAYGROUND_TEACHER_KEY", KEY)
    reset_manager()

    def open_page(**query: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
        at.run()
        for k, v in query.items():
            at.query_params[k] = v
        at.switch_page("app_pages/teacher.py").run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    yield open_page
    reset_manager()


def _seen(at: AppTest) -> list:
    """What a session is shown: every message, label and text of the page (and how many tables)."""
    return [
        [w.value for w in at.warning],
        [e.value for e in at.error],
        [i.value for i in at.info],
        [t.label for t in at.text_input],
        [b.label for b in at.button],
        [m.value for m in at.markdown],
        [c.value for c in at.caption],
        [t.value for t in at.title],
        len(at.dataframe),
    ]


def test_without_the_key_or_with_a_wrong_one_the_page_shows_the_same_refusal(page):
    missing = page()
    wrong = page(key="wrong key")
    assert [w.value for w in missing.warning] == [teacher.REFUSED]
    assert not missing.dataframe and not any(b.key == "tv_stop" for b in missing.button)
    assert _seen(wrong) == _seen(missing)
    assert "key" not in wrong.query_params  # taken out of the address bar
    wrong.text_input(key="tv_key").input("still wrong")
    wrong.button[0].click().run()  # the form's Open
    assert _seen(wrong) == _seen(missing)
    assert "teacher_pass" not in wrong.session_state


def test_the_page_is_closed_to_everyone_when_no_key_is_set(page, monkeypatch):
    monkeypatch.delenv("PLAYGROUND_TEACHER_KEY")
    at = page(key=KEY)
    assert [w.value for w in at.warning] == [teacher.REFUSED] and not at.dataframe


def test_with_the_key_the_page_shows_the_class(page, class_store):
    _, runs, _, _ = class_store
    at = page(key=KEY)
    assert not at.warning and "key" not in at.query_params
    table = at.dataframe[0].value
    assert set(runs[k].run_id for k in "abcd") <= set(table["run"])
    assert "mnist" in set(at.dataframe[1].value["dataset"])  # the leaderboard
    assert at.session_state["teacher_pass"] and KEY not in str(at.session_state["teacher_pass"])
    at.run()  # the next rerun: the pass, not the key
    assert at.dataframe and not at.warning
    at.toggle(key="tv_projector").set_value(True).run()
    assert not at.exception and len(at.dataframe) == 0  # the projector shows one run, not the class
    assert at.get("plotly_chart") and at.selectbox(key="tv_proj_pick").value in table["run"].tolist()


def test_a_typed_key_opens_the_page_once_per_session(page):
    at = page()
    at.text_input(key="tv_key").input(KEY)
    at.button[0].click().run()
    assert not at.exception and not at.warning and at.dataframe
    assert not at.text_input  # the form is gone; the session keeps its pass


def test_stop_from_the_teacher_page_reaches_a_running_job(page):
    from app_pages.common import job_manager

    m = job_manager()
    job = m.submit(tiny_run(epochs=200), owner="a-students-token")
    assert wait_until(lambda: job.buffer.snapshot()["steps"]["step"], 60)
    at = page(key=KEY)
    assert at.selectbox(key="tv_stop_pick").value == job.run_id
    at.button(key="tv_stop").click().run()
    assert wait_until(lambda: m.status(job.run_id) == "stopped", 30), m.status(job.run_id)
    events = [json.loads(x) for x in job.run.metrics_path.read_text().splitlines()]
    assert events[-1]["kind"] == "stopped"


# -- over Streamlit's protocol, against a real server ---------------------------------------------------------

LONG = RunConfig().replace(
    data={"params": {"n_train": 2000, "n_test": 200}},
    model={"params": {"channels": [8], "fc": [16]}},
    train={"epochs": 200, "batch_size": 32, "log_every": 5},
)


def _kinds(runs: Path, run_id: str) -> list[str]:
    path = runs / run_id / "metrics.jsonl"
    return [json.loads(x)["kind"] for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


async def _protocol(server) -> None:
    from benchmarks.st_protocol import Session

    async with (
        Session(server.url) as none,
        Session(server.url) as wrong,
        Session(server.url) as student,
        Session(server.url) as tutor,
    ):
        await none.open("teacher")
        await wrong.open("teacher", "key=not-the-key")
        assert teacher.REFUSED in none.texts and "Stop" not in none.buttons
        assert not any("Queue:" in t for t in none.texts)
        assert sorted(wrong.texts) == sorted(none.texts) and list(wrong.buttons) == list(none.buttons)
        assert "key=" not in wrong.query

        await student.open("train", f"cfg={LONG.to_url()}")
        await student.click("Start training")
        assert await wait_until_async(
            lambda: server.runs.is_dir() and any(p.is_dir() for p in server.runs.iterdir()), 60
        )
        run_id = next(p.name for p in server.runs.iterdir() if p.is_dir())
        assert await wait_until_async(lambda: "step" in _kinds(server.runs, run_id), 90)

        await tutor.open("teacher", f"key={KEY}")
        assert teacher.REFUSED not in tutor.texts and "Stop" in tutor.buttons, tutor.texts
        assert any("Queue:" in t for t in tutor.texts)
        assert "key=" not in tutor.query  # the key left the address bar; the session keeps its pass
        await tutor.click("Stop")
        assert await wait_until_async(lambda: "stopped" in _kinds(server.runs, run_id), 60), _kinds(
            server.runs, run_id
        )[-3:]
        await tutor.open("teacher", tutor.query)  # no key in the link any more: the pass opens it
        assert teacher.REFUSED not in tutor.texts and any("Queue:" in t for t in tutor.texts)
        await none.open("teacher")  # and a student still sees only the refusal
        assert teacher.REFUSED in none.texts and not any("Queue:" in t for t in none.texts)


def test_over_the_protocol_only_the_key_opens_the_page_and_its_stop_reaches_the_job(tmp_path):
    from benchmarks.load_test import Server

    env = {"PLAYGROUND_MAX_JOBS": "1", "PLAYGROUND_CLASSROOM": "1", "PLAYGROUND_TEACHER_KEY": KEY}
    with Server(tmp_path, env=env) as server:
        started = time.time()
        asyncio.run(_protocol(server))
        assert time.time() - started < 240


def test_a_run_on_disk_gets_its_sessions_name_from_the_digest_it_keeps(store):
    """Runs from before a server restart (no live job) are named from owner.sha256, like the session's live
    runs; a run no session started (the CLI) has no name."""
    import secrets

    token = secrets.token_urlsafe(16)
    run = store.create(RunConfig())
    run.write_control_key("k", owner=token)
    cli = store.create(RunConfig())
    m = JobManager(store, max_running=1)
    try:
        namer = teacher.Namer()
        rows = {r.run: r for r in teacher.class_table(m, namer)}
        assert rows[run.run_id].session == namer.name(token) != teacher.NO_SESSION
        assert rows[cli.run_id].session == teacher.NO_SESSION
        assert token not in run.owner_digest()
    finally:
        m.shutdown()
