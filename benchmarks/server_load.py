"""The server itself under a classroom's load, with no browser in between: N sessions speak
Streamlit's websocket protocol (``benchmarks/st_protocol.py``) to one ``streamlit run`` server.

Each session opens Start, Data and Convolution, then the Train page set up by link (a short run),
presses Start training and re-opens its run's page every second or so (what a live page's polling
costs the server) until its run has ended. Every page time is the server's: from the rerun request
to the script's end, measured by the client on loopback.

    python -m benchmarks.server_load --sessions 25 --max-jobs 2 [--json]   (from the repository root)

Prints per page the median, 90th percentile and worst time, the runs done, the longest queue
wait, the server's peak memory, and the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.load_test import Server, run_config  # the same server launcher and short run
from benchmarks.st_protocol import Session

PAGES = ("start", "data", "conv")


async def _timed(times: dict[str, list[float]], name: str, coro) -> Session:
    t0 = time.perf_counter()
    s = await coro
    times.setdefault(name, []).append(time.perf_counter() - t0)
    return s


async def one_session(url: str, cfg_url: str, times: dict[str, list[float]], out: dict, deadline: float) -> None:
    async with Session(url) as s:
        for page in PAGES:
            await _timed(times, page, s.open(page, timeout=300))
        await _timed(times, "train (set up by link)", s.open("train", f"cfg={cfg_url}", timeout=300))
        t_start = time.perf_counter()
        await _timed(times, "Start training", s.click("Start training", timeout=300))
        query, queued_since = s.query, None
        while time.perf_counter() < deadline:
            await asyncio.sleep(1.0)
            await _timed(times, "live run page", s.open("train", query, timeout=300))
            text = " ".join(s.texts)
            if "Waiting for a free slot" in text:
                queued_since = queued_since or time.perf_counter()
            elif queued_since is not None:
                out["waits"].append(time.perf_counter() - queued_since)
                queued_since = None
            if any(w in text for w in ("done", "stopped", "error")) and "Stop" not in s.buttons:
                out["done"] += 1
                out["run_seconds"].append(time.perf_counter() - t_start)
                return
        out["unfinished"] += 1


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


async def scenario(url: str, sessions: int, cfg_url: str, limit_s: float) -> dict:
    times: dict[str, list[float]] = {}
    out = {"done": 0, "unfinished": 0, "errors": [], "waits": [], "run_seconds": []}
    deadline = time.perf_counter() + limit_s
    results = await asyncio.gather(*(one_session(url, cfg_url, times, out, deadline) for _ in range(sessions)),
                                   return_exceptions=True)
    out["errors"] = [f"{type(r).__name__}: {r}"[:200] for r in results if isinstance(r, BaseException)]
    out["pages"] = {k: {"n": len(v), "median_s": round(statistics.median(v), 3),
                        "p90_s": round(sorted(v)[max(0, int(len(v) * 0.9) - 1)], 3), "max_s": round(max(v), 3)}
                    for k, v in times.items()}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=25)
    ap.add_argument("--max-jobs", type=int, default=2)
    ap.add_argument("--train-limit", type=int, default=600)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--limit-s", type=float, default=900)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    load_start = _load()
    with tempfile.TemporaryDirectory() as tmp, \
            Server(Path(tmp), env={"PLAYGROUND_MAX_JOBS": str(args.max_jobs), "PLAYGROUND_CLASSROOM": "1",
                                   "PLAYGROUND_MAX_RUNS_PER_SESSION": "3"}) as server:
        t0 = time.perf_counter()
        res = asyncio.run(scenario(server.url, args.sessions, run_config(args.train_limit, args.epochs).to_url(),
                                   args.limit_s))
        res["wall_s"] = round(time.perf_counter() - t0, 1)
        res["server_memory"] = server.memory_mb()
    res["longest_wait_s"] = round(max(res.pop("waits") or [0.0]), 1)
    rs = res.pop("run_seconds")
    res["run_seconds_median"] = round(statistics.median(rs), 1) if rs else None
    res.update(sessions=args.sessions, max_jobs=args.max_jobs, load_average={"start": load_start, "end": _load()})
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res["pages"].items():
            print(f"{k:<24} n={v['n']:<4} median {v['median_s']:.3f} s  p90 {v['p90_s']:.3f} s  max {v['max_s']:.3f} s")
        print({k: v for k, v in res.items() if k != "pages"})
    return 0 if not res["errors"] and not res["unfinished"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
