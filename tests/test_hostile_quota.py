"""Quotas a client cannot mint, a queue one session cannot hold, and the teacher's stop-all (the job
manager, issue 28): runs counted per client address too, served round robin by session, every run of one
session stopped at once, the queue cleared, concurrent submits to a full queue leave no folder, and after a
restart the session that started a run controls it again (Resume from the sidebar)."""

from __future__ import annotations

import threading

import pytest
from conftest import wait_until

from playground.config import RunConfig
from playground.errors import PlaygroundError
from playground.identity import session_id
from playground.jobs.manager import QUEUED, JobManager

LONG = RunConfig().replace(
    data={"params": {"n_train": 320, "n_test": 100}},
    model={"params": {"channels": [4], "fc": []}},
    train={"epochs": 100, "batch_size": 32, "log_every": 2},
)


@pytest.fixture
def manager(store):
    m = JobManager(store, max_running=1)
    yield m
    m.shutdown()


def test_runs_are_counted_per_client_address_whatever_the_session(manager, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MAX_RUNS_PER_ADDRESS", "3")
    for i in range(5):  # a client that drops its cookie: a new session every time, one address
        manager.note_address(f"cookieless{i}", "10.0.0.66")
    for i in range(3):
        manager.submit(LONG, f"cookieless{i}")
    with pytest.raises(PlaygroundError, match="PLAYGROUND_MAX_RUNS_PER_ADDRESS"):
        manager.submit(LONG, "cookieless3")
    manager.note_address("classmate", "10.0.0.7")
    manager.submit(LONG, "classmate")  # another client is not affected


def test_the_queue_is_served_round_robin_by_session(manager):
    first = manager.submit(LONG, "hog")  # takes the one slot
    hogs = [manager.submit(LONG, "hog") for _ in range(3)]
    other = manager.submit(LONG, "other")
    late = manager.submit(LONG, "late")
    order = sorted([*hogs, other, late], key=lambda j: manager.queue_position(j.run_id))
    assert [j.owner for j in order[:3]] == ["other", "late", "hog"], [j.owner for j in order]
    assert manager.queue_position(first.run_id) is None


def test_the_teacher_stops_every_run_of_one_session_and_clears_the_queue(manager):
    hog = [manager.submit(LONG, "hog") for _ in range(4)]
    others = [manager.submit(LONG, f"s{i}") for i in range(3)]
    assert manager.stop_owner("hog") == 4
    assert all(manager.queue_position(j.run_id) is None for j in hog)
    cleared = manager.clear_queue()  # the others' runs that wait (the first may have started meanwhile)
    assert cleared in (2, 3)
    assert [j.state for j in others].count("stopped") == cleared
    assert not any(manager.queue_position(j.run_id) for j in others)


def test_concurrent_submits_to_a_full_queue_leave_no_run_folder(store, monkeypatch):
    m = JobManager(store, max_running=1, max_queued=1)
    try:
        m.submit(LONG, "a")  # trains
        m.submit(LONG, "b")  # fills the queue
        before = {p.name for p in store.root.iterdir()}
        errors = []
        go = threading.Barrier(8)

        def submit(i: int) -> None:
            go.wait()
            try:
                m.submit(LONG, f"c{i}")
            except PlaygroundError as e:
                errors.append(e)

        threads = [threading.Thread(target=submit, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(errors) == 8
        assert {p.name for p in store.root.iterdir()} == before
    finally:
        m.shutdown()


def test_after_a_restart_the_session_that_started_a_run_controls_it(manager):
    me = session_id("A" * 22)
    job = manager.submit(LONG, me)
    manager.stop(job.run_id)
    restarted = JobManager(manager.store)  # no live job: the run folder's owner.sha256 says whose it is
    assert restarted.may_control(job.run_id, me, None)
    assert not restarted.may_control(job.run_id, session_id("B" * 22), None)


def test_runs_that_waited_in_the_queue_wait_again_after_a_restart(store):
    me = session_id("C" * 22)
    before = JobManager(store, max_running=1)
    try:
        first = before.submit(LONG, me)
        waiting = [before.submit(LONG.replace(train={"seed": i}), me) for i in (1, 2)]
        # The first has started once its queued mark is gone (its worker holds its controls and was told to
        # begin: jobs/starting.py; on a loaded machine the fork server may take seconds to be ready).
        assert wait_until(lambda: not (first.run.dir / QUEUED).exists(), 120)
        after = JobManager(store, max_running=1)  # a new server on the same run store (the old one killed)
        try:
            assert after.restore_queued() == 2
            back = [after.get(j.run_id) for j in waiting]
            assert all(j is not None and j.owner == me for j in back)
            assert [after.status(j.run_id) for j in waiting].count("queued") >= 1
            assert after.get(first.run_id) is None  # it had started: interrupted, resumed by its owner
            assert after.may_control(waiting[0].run_id, me, None)
        finally:
            after.shutdown()
    finally:
        before.shutdown()


def test_new_sessions_from_one_address_share_its_upload_room(tmp_path, monkeypatch):
    """A client that drops its cookie gets a new session each connection, but no new disk: the uploads of every
    session from one client address count together (PLAYGROUND_UPLOAD_QUOTA_PER_ADDRESS_MB)."""
    import io
    import zipfile

    from playground.data.uploads import extract_zip, note_upload_address, session_folder, upload_room
    from playground.errors import DatasetUnavailable

    monkeypatch.setenv("PLAYGROUND_UPLOAD_QUOTA_MB", "2")
    monkeypatch.setenv("PLAYGROUND_UPLOAD_QUOTA_PER_ADDRESS_MB", "3")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:  # 1 MB of "images", stored
        for i in range(2):
            zf.writestr(f"cats/{i}.png", bytes(512 * 1024))
    data = buf.getvalue()
    for session in ("s1", "s2"):  # two cookie-less sessions from one address: 2 MB together
        note_upload_address(session, "10.0.0.7", tmp_path)
        dest = session_folder(session, tmp_path) / "dataset-1"
        extract_zip(data, dest, room=upload_room(session, dest, tmp_path, address="10.0.0.7"))
    third = session_folder("s3", tmp_path) / "dataset-1"
    note_upload_address("s3", "10.0.0.7", tmp_path)
    assert upload_room("s3", third, tmp_path, address="10.0.0.7") < 2**20  # 3 MB less the two sessions' 2
    with pytest.raises(DatasetUnavailable, match="PLAYGROUND_UPLOAD_QUOTA_PER_ADDRESS_MB"):
        extract_zip(data, third, room=upload_room("s3", third, tmp_path, address="10.0.0.7"))
    # another address keeps its own room, and the address itself is written nowhere
    assert upload_room("s4", None, tmp_path, address="10.0.0.8") == 2 * 2**20
    assert not any("10.0.0.7" in p.read_text(errors="ignore") for p in tmp_path.rglob(".address"))
