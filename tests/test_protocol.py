"""Several sessions against one real ``streamlit run`` server, spoken to in Streamlit's own websocket
protocol (``benchmarks/st_protocol.py``): what a hostile client can send cannot reset the job system."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from conftest import wait_until_async

from benchmarks.load_test import Server
from benchmarks.st_protocol import Session
from playground.config import RunConfig

LONG = RunConfig().replace(
    data={"params": {"n_train": 2000, "n_test": 200}},
    model={"params": {"channels": [8], "fc": [16]}},
    train={"epochs": 200, "batch_size": 32, "log_every": 5},
)
SHORT = LONG.replace(train={"epochs": 1})


def _events(runs: Path, run_id: str) -> list[dict]:
    path = runs / run_id / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _new_run(runs: Path, known: set[str], timeout: float = 60) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        fresh = {p.name for p in runs.iterdir() if p.is_dir()} - known if runs.exists() else set()
        if fresh:
            return fresh.pop()
        time.sleep(0.1)
    raise AssertionError("no run was created")


async def _scenario(server: Server) -> None:
    runs = server.runs
    async with Session(server.url) as a, Session(server.url) as b, Session(server.url) as c:
        await a.open("train", f"cfg={LONG.to_url()}")
        await a.click("Start training")
        run_a = _new_run(runs, set())
        assert await wait_until_async(lambda: any(e["kind"] == "step" for e in _events(runs, run_a)))

        await b.clear_cache()  # any client may send this; it clears every st.cache_resource
        await asyncio.sleep(1.0)

        await c.open("train", f"cfg={SHORT.to_url()}")
        await c.click("Start training")
        run_c = _new_run(runs, {run_a})
        await asyncio.sleep(3.0)
        # The limit (one run at a time) still holds: the second run waits in the queue.
        assert not any(e["kind"] == "start" for e in _events(runs, run_c))

        await a.open("train", a.query)  # the owner's page, after the cache clear
        assert "Stop" in a.buttons, a.buttons
        await a.click("Stop")
        assert await wait_until_async(lambda: any(e["kind"] == "stopped" for e in _events(runs, run_a)))
        assert await wait_until_async(lambda: any(e["kind"] == "done" for e in _events(runs, run_c)), 120)
    steps = [e["step"] for e in _events(runs, run_a) if e["kind"] == "step"]
    assert steps == sorted(set(steps)), "two trainers wrote into one run"


def test_a_cache_clear_from_any_client_changes_nothing(tmp_path):
    with Server(tmp_path, env={"PLAYGROUND_MAX_JOBS": "1", "PLAYGROUND_CLASSROOM": "1"}) as server:
        asyncio.run(_scenario(server))
