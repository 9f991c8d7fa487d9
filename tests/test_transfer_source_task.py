"""The Transfer page's source task as a job (the "top5" kind): the pretrained backbone's ImageNet top-5 of a
photo, computed in a worker process through the job manager's gate, never in the web server's process.

No weights can be downloaded here: a random-init torchvision state dict is saved where torch hub looks for
the pretrained file (TORCH_HOME in tmp_path), and the direct call (``imagenet_top5``) is the oracle."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest
from torchvision.models import get_model

from playground.errors import ConfigError
from playground.jobs.manager import JobManager
from playground.runs import RunStore
from playground.transfer import SourceTask, imagenet_top5
from playground.transfer.source_task import MAX_PHOTO_MB, PHOTO
from playground.weights import resolve_weights, weights_file

ROOT = Path(__file__).resolve().parents[1]
SMALL = "mobilenet_v3_small"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A torch hub cache in tmp_path holding random-init mobilenet_v3_small weights under the pretrained name."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.manual_seed(3)
    path = weights_file(resolve_weights(SMALL))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(get_model(SMALL, weights=None).state_dict(), path)
    return path


def photo(size=(71, 53), mode="RGB") -> bytes:
    rng = np.random.default_rng(0)
    channels = {"RGB": 3, "RGBA": 4}[mode]
    im = Image.fromarray(rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8), mode)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def wait(manager: JobManager, run_id: str, timeout: float = 180) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline and manager.status(run_id, "top5") in ("queued", "running", "paused"):
        time.sleep(0.2)
    return manager.status(run_id, "top5")


def test_the_top5_job_answers_in_a_worker_as_the_direct_call_does(hub, tmp_path):
    data = photo(mode="RGBA")
    manager = JobManager(RunStore(tmp_path / "runs"), max_running=1)  # worker processes, as in the app
    try:
        job = manager.submit(SourceTask(SMALL, data, "odd.png"), "alice")
        assert job.run.dir.parent.name == "top5" and (job.run.dir / PHOTO).read_bytes() == data
        assert wait(manager, job.run_id) == "done"
        snap = manager.snapshot(job.run_id, "top5")
        want = imagenet_top5(SMALL, data)  # the oracle: the same weights, called here
        assert [r["index"] for r in snap["top"]] == [r["index"] for r in want]
        assert [r["probability"] for r in snap["top"]] == pytest.approx([r["probability"] for r in want], rel=1e-5)
        thumb = Image.open(io.BytesIO(base64.b64decode(snap["final"]["thumbnail"])))
        assert thumb.format == "JPEG" and thumb.size == (71, 53)  # small already: not enlarged
        assert not (job.run.dir / PHOTO).exists()  # read once: only the answer is kept
        reopened = JobManager(manager.store).snapshot(job.run_id, "top5")  # after a restart, from the folder
        assert reopened["top"] == snap["top"] and reopened["final"]["kind"] == "done"
    finally:
        manager.shutdown()


def test_the_top5_job_says_what_to_do_when_it_cannot_answer(hub, tmp_path, monkeypatch):
    manager = JobManager(RunStore(tmp_path / "runs"), max_running=1)
    try:
        job = manager.submit(SourceTask(SMALL, b"not an image at all", "notes.png"), "alice")
        assert wait(manager, job.run_id) == "error"
        final = manager.snapshot(job.run_id, "top5")["final"]
        assert "The photo 'notes.png' is not an image that can be read" in final["message"]
        with pytest.raises(ConfigError, match="Unknown backbone 'vgg19'"):
            manager.submit(SourceTask("vgg19", photo()), "alice")
        with pytest.raises(ConfigError, match="Upload a photo"):
            manager.submit(SourceTask(SMALL, b""), "alice")
        big = b"\xff" * (MAX_PHOTO_MB * 2**20 + 1)
        with pytest.raises(ConfigError, match=f"at most {MAX_PHOTO_MB} MB"):
            manager.submit(SourceTask(SMALL, big, "huge.jpg"), "alice")
        with pytest.raises(ConfigError, match=r"resnet18-f37072fd\.pth into .*torch.*checkpoints"):
            manager.submit(SourceTask("resnet18", photo()), "alice")  # not cached: refused before anything runs
        assert [r.run_id for r in manager.store_for("top5").list()] == [job.run_id]  # refusals leave no folder
    finally:
        manager.shutdown()


@pytest.fixture
def app(app, hub):
    """conftest's app (its own run store, uploads and job manager), on the Transfer page, with this module's
    hub cache."""
    app.run()
    app.switch_page("app_pages/transfer.py")
    return app


def test_the_page_shows_the_top5_from_the_job_and_builds_no_backbone_itself(app, monkeypatch):
    """The page's process (here: the test's) never builds a backbone: the job's worker process does."""
    from app_pages.common import job_manager
    from playground.transfer import imagenet as imagenet_module

    def refuse(*a, **kw):
        raise AssertionError("a backbone was built in the web server's process")

    monkeypatch.setattr(imagenet_module, "pretrained_model", refuse)
    at = app.run()
    at.number_input(key="tl_limit").set_value(64).run()
    at.select_slider(key="tl_size").set_value(32).run()
    at.file_uploader(key="tl_photo").set_value(("cat.png", photo((300, 200)), "image/png")).run()
    assert not at.exception, [e.value for e in at.exception]
    (key, job_id), *_ = at.session_state["tl_top5_jobs"].items()
    assert key.startswith(f"{SMALL}:")
    assert wait(job_manager(), job_id) == "done"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    top = job_manager().snapshot(job_id, "top5")["top"]
    assert any(f"top guess: **{top[0]['class']}**" in c.value for c in at.caption)
    assert [c for c in at.get("plotly_chart") if c.proto.id and "tl_top5" in c.proto.id]
    assert any(m.caption == "cat.png" for i in at.get("image") for m in i.proto.imgs)  # the worker's thumbnail
    at.run()
    assert list(at.session_state["tl_top5_jobs"].values()) == [job_id]  # the same photo: asked once
    # The answer is no run: a reloaded tab (the session's runs read back, every kind) lists none in the sidebar.
    frame = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    frame.session_state["owner"] = at.session_state["owner"]
    frame.session_state["my_runs"] = [job_id]
    frame.run()
    assert not frame.exception, [e.value for e in frame.exception]
    assert not [p for p in frame.sidebar.get("page_link") if job_id[-6:] in p.proto.label]

    at.file_uploader(key="tl_photo").set_value(("broken.jpg", b"\xff\xd8\xff\xe0 cut short", "image/jpeg")).run()
    bad = at.session_state["tl_top5_jobs"][next(reversed(at.session_state["tl_top5_jobs"]))]
    assert wait(job_manager(), bad) == "error"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("broken.jpg" in e.value for e in at.error), [e.value for e in at.error]


def test_the_page_s_download_button_fetches_the_file_without_reading_it(tmp_path, monkeypatch):
    """The download the page offers runs in the server: it writes the file and never loads it (a worker does)."""
    from playground.weights import fetch_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    w = resolve_weights("vgg16")
    path = weights_file(w)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not read here")  # torch.load would refuse it: fetching only looks for the file
    assert fetch_weights(w) == path and path.read_bytes() == b"not read here"


def test_the_teacher_table_names_a_top5_job_from_memory_and_from_its_folder():
    from playground.teacher.table import describe

    asked = SourceTask("vgg16", b"\xff\xd8", "cat.jpg")
    on_disk = SourceTask.from_json(asked.to_json())
    assert on_disk.photo == b"" and on_disk.name == "cat.jpg"  # config.json holds no photo: its folder does
    assert describe(asked) == describe(on_disk) == ("a photo", "vgg16 (ImageNet top-5)")
