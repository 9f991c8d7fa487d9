"""Shared fixtures. Real data lives in ../shared/data (see its README); where it is
absent (a fresh clone) those tests skip with the reason, unless
PLAYGROUND_REQUIRE_DATA=1 (set by .ci/run), which turns the skip into a failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


@pytest.fixture
def store(tmp_path):
    from playground.runs import RunStore

    return RunStore(tmp_path / "runs")


@pytest.fixture(autouse=True)
def _isolate(tmp_path, monkeypatch):
    # Nothing a test does lands in the working tree's ./data or ./runs.
    monkeypatch.setenv("PLAYGROUND_RUNS", str(tmp_path / "default-runs"))
    monkeypatch.setenv("PLAYGROUND_DATA", str(tmp_path / "default-data"))
