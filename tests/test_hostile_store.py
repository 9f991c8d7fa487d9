"""Damaged run folders against one real ``streamlit run`` server (Streamlit's websocket protocol,
``benchmarks/st_protocol.py``): each kind of damage is said on the run's own page and never breaks the
Train page, the Inside page or the owner's other pages (whose sidebar lists the run)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import shutil

import pytest

from benchmarks.load_test import Server
from benchmarks.st_protocol import Session
from playground.config import RunConfig
from playground.errors import CheckpointError
from playground.runs import RunStore
from playground.train import fit

CFG = RunConfig().replace(
    data={"params": {"n_train": 200, "n_test": 50}},
    model={"params": {"channels": [4], "fc": []}},
    train={"epochs": 1, "batch_size": 50},
)


def _damage(d, kind: str) -> None:
    if kind == "no config":
        (d / "config.json").unlink()
    elif kind == "config not JSON":
        (d / "config.json").write_text("{not json")
    elif kind == "config of another shape":
        (d / "config.json").write_text('{"data": 5}')
    elif kind == "config a folder":
        (d / "config.json").unlink()
        (d / "config.json").mkdir()
    elif kind == "metrics unreadable":  # a folder in its place reads like a file without permission (as root too)
        (d / "metrics.jsonl").unlink()
        (d / "metrics.jsonl").mkdir()
    elif kind == "metrics not text":
        (d / "metrics.jsonl").write_bytes(b'\xff\xfe\x00garbage\n[1, 2]\n"x"\n')
    elif kind == "control key unreadable":
        (d / "control.key").unlink(missing_ok=True)
        (d / "control.key").mkdir()
    elif kind == "name a folder":
        (d / "name.txt").mkdir()
    elif kind == "weights not a checkpoint":
        (d / "model.pt").write_bytes(b"garbage")
        (d / "checkpoint.pt").write_bytes(b"garbage")


KINDS = [
    "no config",
    "config not JSON",
    "config of another shape",
    "config a folder",
    "metrics unreadable",
    "metrics not text",
    "control key unreadable",
    "name a folder",
    "weights not a checkpoint",
]


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """kind -> (the owner's cookie token, the run id): one session owns every damaged run, so its sidebar
    lists them all on every page."""
    work = tmp_path_factory.mktemp("damaged")
    store = RunStore(work / "runs")
    source = store.root / list(fit(CFG, store=store))[0]["run_id"]
    out, token = {}, secrets.token_urlsafe(16)
    for i, kind in enumerate(KINDS):
        d = store.root / f"20260101-00000{i}-damaged{i}"
        shutil.copytree(source, d)
        (d / "owner.sha256").write_text(hashlib.sha256(token.encode()).hexdigest())
        _damage(d, kind)
        out[kind] = (token, d.name)
    shutil.rmtree(source)
    return work, out


@pytest.mark.server
def test_damaged_run_folders_never_break_a_page(damaged):
    work, runs = damaged

    async def scenario() -> list[str]:
        broken = []
        token = next(iter(runs.values()))[0]
        async with Session(server.url, headers={"Cookie": f"playground_session={token}"}) as s:
            for kind, (_, run_id) in runs.items():
                await s.open("train", f"run={run_id}", timeout=120)
                broken += [f"{kind}: {e}" for e in s.exceptions]
                s.exceptions.clear()
                if kind.startswith(("no config", "config", "metrics")):
                    assert any("damaged" in t for t in s.texts), (kind, s.texts)
            for page in ("inside", "data"):  # the owner's other pages list every one of them
                await s.open(page, timeout=120)
                broken += [f"{page}: {e}" for e in s.exceptions]
        return broken

    with Server(work, env={"PLAYGROUND_CLASSROOM": "1"}) as server:
        broken = asyncio.run(scenario())
        log = server.log_path.read_text(errors="replace")
    assert broken == [], broken
    assert "Traceback" not in log, log[-3000:]


def test_a_run_id_with_a_trailing_newline_is_not_a_run_id(tmp_path):
    store = RunStore(tmp_path)
    run = store.create(CFG)
    assert store.open(run.run_id).run_id == run.run_id
    for bad in (run.run_id + "\n", run.run_id + "\n\n", "\n" + run.run_id, "../" + run.run_id):
        with pytest.raises(CheckpointError):
            store.open(bad)
