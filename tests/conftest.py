"""Shared fixtures. Real data lives in ../shared/data (see its README); where it is
absent (a fresh clone) those tests skip with the reason, unless
PLAYGROUND_REQUIRE_DATA=1 (set by .ci/run), which turns the skip into a failure."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import playground.plugins  # noqa: F401  (every capability registers its job kind, as in the app and the CLI)

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PLAYGROUND_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()


def _need(path: Path, what: str) -> Path:
    if path.exists():
        return path
    msg = f"{what} not found at {path} (set PLAYGROUND_SHARED_DATA to the folder holding MNIST/ and cifar10-jpg/)"
    if os.environ.get("PLAYGROUND_REQUIRE_DATA") == "1":
        pytest.fail(msg + "; PLAYGROUND_REQUIRE_DATA=1 makes this a failure")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    return _need(SHARED_DATA / "MNIST" / "raw" / "train-images-idx3-ubyte", "MNIST").parents[2]


@pytest.fixture(scope="session")
def cifar_jpg() -> Path:
    return _need(SHARED_DATA / "cifar10-jpg" / "train", "cifar10-jpg").parent


@pytest.fixture(scope="session")
def mnist_run(mnist_root, tmp_path_factory):
    """One CNN trained for one epoch on the real MNIST (about 99%), saved in its own run store: the
    accuracy target and every test that needs a network that knows digits (~15 s, once per suite).
    (runs root, run id, the done event)."""
    from playground.bench import FAST_MNIST
    from playground.runs import RunStore
    from playground.train import fit

    root = tmp_path_factory.mktemp("mnist-runs")
    cfg = FAST_MNIST.replace(
        data={"data_root": str(mnist_root), "download": False},
        train={"epochs": 1.0, "device": "cpu", "target_acc": None, "checkpoint": True},
    )
    events = list(fit(cfg, store=RunStore(root)))
    return root, events[0]["run_id"], events


@pytest.fixture
def app(tmp_path, monkeypatch):
    """The whole app in AppTest, with its own run store, uploads and a fresh job manager (shut down after)."""
    from streamlit.testing.v1 import AppTest

    from app_pages.common import job_manager
    from playground.jobs.manager import reset_manager

    monkeypatch.setenv("PLAYGROUND_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("PLAYGROUND_UPLOADS", str(tmp_path / "uploads"))
    reset_manager()
    yield AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    job_manager().shutdown()
    reset_manager()


@pytest.fixture
def store(tmp_path):
    from playground.runs import RunStore

    return RunStore(tmp_path / "runs")


def pytest_collection_modifyitems(items):
    """The markers follow from what a test uses, so a new test file is marked without being listed anywhere:
    the `server` fixture (a server and Chromium); a module that drives Chromium (imports CHROMIUM) or starts
    servers itself (imports the load test's Server or the protocol client's Session); a module that imports
    ray; the `mnist_run` fixture (trains on the real MNIST once per suite)."""
    from benchmarks.load_test import Server
    from benchmarks.st_protocol import Session

    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        env = vars(getattr(item, "module", None) or object())
        marks = set()
        if "server" in names:
            marks |= {"server", "browser"}
        if env.get("CHROMIUM") is CHROMIUM:
            marks.add("browser")
        if env.get("Server") is Server or env.get("Session") is Session:
            marks.add("server")
        if "ray" in env or "RAY" in env:
            marks.add("ray")
        if "mnist_run" in names:
            marks.add("slow")
        for mark in sorted(marks - {m.name for m in item.iter_markers()}):
            item.add_marker(getattr(pytest.mark, mark))


@pytest.fixture(autouse=True)
def _isolate(tmp_path, monkeypatch):
    # Nothing a test does lands in the working tree's ./data or ./runs.
    monkeypatch.setenv("PLAYGROUND_RUNS", str(tmp_path / "default-runs"))
    monkeypatch.setenv("PLAYGROUND_DATA", str(tmp_path / "default-data"))


# -- real browser (Debian's Chromium + Playwright) against `streamlit run` ----------
# Each page's browser test uses the `server` fixture (a fresh server on a free
# loopback port with its own run store) and launches Chromium with ARGS.

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
# One list of Chromium flags and one port finder, with the load test (the browser tests import ARGS from here).
from benchmarks.load_test import ARGS as ARGS  # noqa: E402
from benchmarks.load_test import free_port  # noqa: E402


def _need_browser():
    msg = None
    if not CHROMIUM.exists():
        msg = f"{CHROMIUM} not found (apt-get install chromium)"
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            msg = "the playwright package is not installed (pip install -e '.[dev]')"
    if msg:
        if os.environ.get("PLAYGROUND_REQUIRE_BROWSER") == "1":
            pytest.fail(msg + "; PLAYGROUND_REQUIRE_BROWSER=1 makes this a failure")
        pytest.skip(msg)


@pytest.fixture
def server(tmp_path):
    _need_browser()
    port = free_port()
    env = {**os.environ, "PLAYGROUND_RUNS": str(tmp_path / "runs"), "PLAYGROUND_UPLOADS": str(tmp_path / "up")}
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "streamlit_app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + (tmp_path / "server.log").read_text()[-2000:])
    yield url
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def tiny_run(epochs: float = 1.0, n: int = 320, **train):
    """A run of a few seconds: a small CNN on ``n`` shapes, batch 32 (the job, gate and worker tests)."""
    from playground.config import RunConfig

    return RunConfig().replace(
        data={"params": {"n_train": n, "n_test": 100}},
        model={"params": {"channels": [8], "fc": [16]}},
        train={"epochs": epochs, "batch_size": 32, "log_every": 2, "log_seconds": 0, **train},
    )  # a step event every 2 steps exactly, however loaded


def wait_until(pred, timeout: float = 60) -> bool:
    """Poll ``pred`` every 50 ms until it is true or ``timeout`` seconds pass."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


async def wait_until_async(pred, timeout: float = 90) -> bool:
    """``wait_until`` for a protocol-level client's coroutine: poll ``pred`` every 200 ms, yielding to the loop."""
    import asyncio
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        await asyncio.sleep(0.2)
    return False
