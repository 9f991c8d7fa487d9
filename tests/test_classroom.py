"""A classroom server: faults end one run and free it, caps bound memory, sessions are isolated,
and hostile uploads never write outside their folder or take the process down."""

import errno
import io
import os
import random
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from playground.config import RunConfig
from playground.data import datasets as ds_mod
from playground.data import load_dataset
from playground.data.folder import read_image
from playground.data.uploads import check_folder_allowed, extract_zip, session_folder, sweep_uploads
from playground.errors import CheckpointError, ConfigError, DatasetUnavailable, PlaygroundError
from playground.jobs.manager import JobManager
from playground.runs import Run, load_checkpoint

QUICK = RunConfig().replace(
    data={"params": {"n_train": 300, "n_test": 50}},
    model={"params": {"channels": [4], "fc": []}},
    train={"epochs": 1, "batch_size": 50, "device": "cpu"},
)


def _wait(manager, run_ids, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline and any(manager.get(r).live for r in run_ids):
        time.sleep(0.05)
    return [manager.get(r) for r in run_ids]


# -- faults: one run fails, the others and the server go on ----------------------------


def test_out_of_memory_in_one_run_ends_only_that_run(store, monkeypatch):
    from playground.models.cnn import CNN

    real_forward = CNN.forward

    def forward(self, x):
        if getattr(self, "_boom", False):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(self, x)

    monkeypatch.setattr(CNN, "forward", forward)
    real_build = __import__("playground.train.plan", fromlist=["build_model"]).build_model

    def build(name, **kw):
        m = real_build(name, **kw)
        m._boom = kw.get("num_classes") == 10 and build.calls == 0
        build.calls += 1
        return m

    build.calls = 0
    monkeypatch.setattr("playground.train.plan.build_model", build)
    manager = JobManager(store, max_running=1, workers="thread")  # the patched engine lives in this process
    bad = manager.submit(QUICK, "a")
    good = manager.submit(QUICK.replace(train={"seed": 1}), "b")
    bad, good = _wait(manager, [bad.run_id, good.run_id])
    assert bad.state == "error" and "Out of memory" in bad.buffer.snapshot()["final"]["message"]
    assert good.state == "done"
    assert manager.live_jobs() == []  # the failed run freed its slot
    again = manager.submit(QUICK.replace(train={"seed": 2}), "a")
    assert _wait(manager, [again.run_id])[0].state == "done"


def test_full_disk_ends_the_run_with_a_message_and_the_server_goes_on(store, monkeypatch):
    real_append = Run.append
    victims: set[str] = set()

    def append(self, event):
        if self.run_id in victims and event["kind"] == "epoch":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_append(self, event)

    monkeypatch.setattr(Run, "append", append)
    manager = JobManager(store, max_running=2, workers="thread")  # the patched run store lives here
    full = manager.submit(QUICK, "a")
    victims.add(full.run_id)
    other = manager.submit(QUICK.replace(train={"seed": 3}), "b")
    full, other = _wait(manager, [full.run_id, other.run_id])
    assert full.state == "error"
    assert "disk is full" in full.buffer.snapshot()["final"]["message"]
    assert other.state == "done"


def test_a_corrupt_cached_data_set_is_named_with_what_to_do(tmp_path, mnist_root):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (mnist_root / "MNIST" / "raw").glob("*-ubyte"):
        (raw / f.name).write_bytes(f.read_bytes()[:5000])  # a truncated download
    cfg = QUICK.replace(data={"dataset": "mnist", "data_root": str(tmp_path), "download": False, "params": {}})
    from playground.train import fit

    final = list(fit(cfg))[-1]
    assert final["kind"] == "error"
    assert "damaged or incomplete" in final["message"] and "Delete them" in final["message"]


def test_a_pickled_checkpoint_carrying_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "checkpoint.pt"
    torch.save({"format": "cnn-playground/1", "model": Evil()}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not marker.exists()


# -- caps -------------------------------------------------------------------------------


def test_a_data_set_over_the_memory_cap_is_refused_with_the_setting(monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MAX_DATASET_MB", "1")
    with pytest.raises(DatasetUnavailable, match="PLAYGROUND_MAX_DATASET_MB"):
        load_dataset("shapes", n_train=2000, n_test=100)  # ~6 MB decoded


def test_an_image_folder_over_the_cap_is_refused_before_decoding(tmp_path, monkeypatch):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(tmp_path / c / f"{i}.png")
    monkeypatch.setenv("PLAYGROUND_MAX_DATASET_MB", "1")
    decoded = []
    monkeypatch.setattr("playground.data.folder.read_image", lambda *a: decoded.append(a))
    with pytest.raises(DatasetUnavailable, match="smaller image size"):
        load_dataset("image_folder", root=tmp_path, image_size=512)  # 6 x 3 x 512 x 512 > 1 MB
    assert decoded == []


def test_the_data_cache_keeps_to_its_budget(monkeypatch):
    ds_mod.clear_cache()
    monkeypatch.setenv("PLAYGROUND_DATA_CACHE_MB", "2")
    for seed in range(3):
        load_dataset("shapes", n_train=500, n_test=100, seed=seed)  # ~1.8 MB each
    assert ds_mod.cache_bytes() <= 2 * 2**20
    assert len(ds_mod._cache) == 1
    ds_mod.clear_cache()


def test_queue_cap_from_the_environment(store, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MAX_QUEUED", "1")
    manager = JobManager(store, max_running=1)
    slow = QUICK.replace(train={"epochs": 50})
    first = manager.submit(slow, "a")
    manager.submit(slow, "b")  # waits
    with pytest.raises(PlaygroundError, match="queue is full"):
        manager.submit(slow, "c")
    manager.shutdown()
    assert first.run_id


def test_finished_runs_leave_memory_but_stay_readable(store):
    manager = JobManager(store, max_running=1, max_finished=1)
    ids = [manager.submit(QUICK.replace(train={"seed": s}), "a").run_id for s in range(3)]
    deadline = time.time() + 120
    while time.time() < deadline and any(manager.status(r) in ("queued", "running") for r in ids):
        time.sleep(0.05)
    assert sum(manager.get(r) is not None for r in ids) == 1  # only the newest finished run in memory
    assert [manager.status(r) for r in ids] == ["done"] * 3  # the others read back from disk


def test_bad_settings_are_explained(monkeypatch):
    from playground.settings import settings

    monkeypatch.setenv("PLAYGROUND_MAX_QUEUED", "lots")
    with pytest.raises(ConfigError, match="PLAYGROUND_MAX_QUEUED"):
        settings()
    monkeypatch.delenv("PLAYGROUND_MAX_QUEUED")
    monkeypatch.setenv("PLAYGROUND_SHARE_RUNS", "everyone")
    with pytest.raises(ConfigError, match="view"):
        settings()


# -- isolation ----------------------------------------------------------------------------


def test_run_ids_are_unguessable(store):
    ids = {store.create(QUICK).run_id for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) >= 16 for i in ids)


def test_classroom_mode_reads_only_own_uploads_and_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_CLASSROOM", "1")
    monkeypatch.setenv("PLAYGROUND_DATA", str(tmp_path / "data"))
    up = tmp_path / "uploads"
    mine = session_folder("alice", up) / "dataset-1"
    mine.mkdir(parents=True)
    assert check_folder_allowed(mine, "alice", up) == mine.resolve()
    assert check_folder_allowed(tmp_path / "data" / "MNIST", "alice", up)
    for other in (session_folder("bob", up), Path("/etc"), mine / ".." / ".." / "bob", tmp_path):
        with pytest.raises(ConfigError, match="upload"):
            check_folder_allowed(other, "alice", up)
    monkeypatch.setenv("PLAYGROUND_CLASSROOM", "0")
    assert check_folder_allowed("/etc", "alice", up) == Path("/etc")  # a laptop: any folder


def test_old_uploads_are_swept_and_fresh_ones_kept(tmp_path):
    root = tmp_path / "uploads"
    old = session_folder("alice", root) / "dataset-old"
    new = session_folder("bob", root) / "dataset-new"
    for d in (old, new):
        (d / "cats").mkdir(parents=True)
        (d / "cats" / "1.png").write_bytes(b"x")
    past = time.time() - 48 * 3600
    for p in [old, old / "cats", old / "cats" / "1.png"]:
        os.utime(p, (past, past))
    assert sweep_uploads(root, max_age_hours=24) == 1
    assert not old.exists() and not old.parent.exists()  # the emptied session folder went too
    assert (new / "cats" / "1.png").exists()


# -- hostile input: a fuzz over the upload paths ------------------------------------------


def _good_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for c in ("cats", "dogs"):
            for i in range(3):
                img = io.BytesIO()
                Image.new("RGB", (12, 12), (i * 50, 90, 30)).save(img, "PNG")
                z.writestr(f"{c}/{i}.png", img.getvalue())
    return buf.getvalue()


def _mutations(data: bytes, rng: random.Random, n: int):
    for _ in range(n):
        b = bytearray(data)
        kind = rng.choice(("flip", "truncate", "splice", "zero"))
        if kind == "flip":
            for _ in range(rng.randint(1, 20)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif kind == "truncate":
            b = b[: rng.randrange(len(b))]
        elif kind == "splice":
            i = rng.randrange(len(b))
            b[i:i] = os.urandom(rng.randint(1, 64))
        else:
            i = rng.randrange(len(b))
            b[i : i + rng.randint(1, 64)] = bytes(min(64, len(b) - i))
        yield bytes(b)


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_fuzzed_zips_fail_cleanly_and_write_nothing_outside(tmp_path):
    rng = random.Random(7)
    outside = tmp_path / "outside"
    outside.mkdir()
    before = _files_under(tmp_path)
    good = _good_zip()
    messages, loaded = [], 0
    for i, data in enumerate(_mutations(good, rng, 120)):
        dest = tmp_path / "up" / f"u{i}"
        try:
            folder, _ = extract_zip(data, dest)
            load_dataset("image_folder", root=folder, image_size=8)  # decode whatever got through
            loaded += 1
        except PlaygroundError as e:  # refused: with a message, never another exception
            messages.append(str(e))
    ds_mod.clear_cache()
    written = _files_under(tmp_path) - before
    assert all((tmp_path / "up") in p.parents or p == tmp_path / "up" for p in written)
    assert messages and all(len(m) > 20 for m in messages)  # damage was found and explained
    assert loaded + len(messages) == 120


def _png_with_size(w: int, h: int) -> bytes:
    """A PNG whose header claims w x h pixels (the data is a few bytes)."""
    import struct
    import zlib

    def chunk(tag, payload):
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: _png_with_size(100_000, 100_000),  # huge dimensions: a decompression bomb
        lambda: _png_with_size(0, 0),
        lambda: (lambda b: b[: len(b) // 2])(_encoded("PNG")),  # truncated
        lambda: (lambda b: b[: len(b) // 3])(_encoded("JPEG")),
        lambda: b"GIF89a" + os.urandom(200),
        lambda: os.urandom(500),
        lambda: b"",
    ],
)
def test_hostile_single_images_are_refused_or_decoded_never_crash(tmp_path, make):
    path = tmp_path / "upload.png"
    path.write_bytes(make())
    try:
        arr = read_image(path, 16, "RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        assert not isinstance(e, MemoryError)
        return
    assert arr.shape == (16, 16, 3) and arr.dtype == np.uint8  # Pillow may recover a truncated file


def _encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, fmt)
    return buf.getvalue()


def test_a_folder_of_hostile_images_loads_the_good_ones(tmp_path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(2):
            (tmp_path / c / f"good{i}.png").write_bytes(_encoded("PNG"))
    (tmp_path / "a" / "bomb.png").write_bytes(_png_with_size(100_000, 100_000))
    (tmp_path / "b" / "cut.jpg").write_bytes(_encoded("JPEG")[:100])
    (tmp_path / "b" / "noise.png").write_bytes(os.urandom(300))
    ds = load_dataset("image_folder", root=tmp_path, image_size=16, test_fraction=0.5)
    assert len(ds.train_y) + len(ds.test_y) == 4
    assert "skipped" in " ".join(ds.notes)
    ds_mod.clear_cache()
