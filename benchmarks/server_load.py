"""The server itself under a classroom's load, with no browser in between: sessions speak Streamlit's
websocket protocol (``benchmarks/st_protocol.py``) to one ``streamlit run`` server, and keep their live
views live as a browser does (the Train page's ``st.fragment(run_every=1 s)``: a fragment rerun a
second, each ``auto_rerun`` timer of the page; the whole page once per new epoch, as the page asks).

    python -m benchmarks.server_load [--sessions 30] [--arrivals 10,0] [--viewers 10] [--json]

Three phases, figures from the client (loopback) and from the server's /proc:

1. A classroom (once per ``--arrivals`` entry, each on a fresh server, classroom mode): the teacher
   opens the Start page (the server's cold start), then ``--sessions`` students arrive spread evenly
   over that many seconds (0: all in the same moment); each opens the Data page, opens the Train
   page set up by a link (a short run), presses Start training and keeps its run's page open, polled
   as the page polls, until the run has ended and the page has redrawn. Page response times (median,
   p95, worst), the live view's redraws, the queue wait each queued student saw, runs done, session
   errors (harness errors and exception boxes), the server's CPU (its own process: page serving and
   the job manager; its descendants: the training workers) and its peak memory (VmHWM).
2. Page costs, on the first classroom's server afterwards (warm, nothing training): ``--views``
   new sessions open each page one after another; the server's CPU seconds per view, less its idle
   rate.
3. The live view: one run trains (``--data-root``'s MNIST with the UI benchmark's recipe when it
   is there, else ``shapes``) while, in windows of ``--window-s``, ``--viewers`` sessions poll its
   page or none does, the order alternating per round (``--rounds``). Per viewer, the server CPU a
   second of live view costs (its rate with viewers less its rate without, over viewers), and the
   run's images/s with viewers over without (the same run, adjacent windows).

Targets (2-core machine): every run completes or is cleanly queued, no session error, p95 page
response <= 2 s, one live viewer <= 2% of a core, images/s with 10 viewers >= 0.9 of none.
The suite runs the same code in short form (tests/test_server_load.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.load_test import Server, final_events, run_config  # the same server launcher and short run
from benchmarks.st_protocol import Session
from playground.config import RunConfig

QUEUED = "Waiting for a free slot"
PAGE_COSTS = ("start", "data", "conv", "train (set up by link)", "train (a finished run)")


def summary(xs: list[float]) -> dict:
    """n, median, p95 (nearest rank) and worst, in seconds."""
    if not xs:
        return {"n": 0}
    xs = sorted(xs)
    return {
        "n": len(xs),
        "median_s": round(statistics.median(xs), 3),
        "p95_s": round(xs[max(0, math.ceil(0.95 * len(xs)) - 1)], 3),
        "max_s": round(xs[-1], 3),
    }


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _cpu_delta(before: dict, after: dict) -> dict:
    return {k: round(after[k] - before[k], 2) for k in before}


async def _timed(rec: dict, name: str, coro) -> None:
    t0 = time.perf_counter()
    await coro
    rec["pages"].setdefault(name, []).append(time.perf_counter() - t0)


# -- 1. a classroom --------------------------------------------------------------------------------


async def _student(url: str, cfg_url: str, wait_s: float, deadline: float, rec: dict) -> None:
    await asyncio.sleep(wait_s)
    async with Session(url, live=True) as s:
        try:
            left = lambda: max(1.0, deadline - time.perf_counter())
            await _timed(rec, "data", s.open("data", timeout=left()))
            await _timed(rec, "train (set up by link)", s.open("train", f"cfg={cfg_url}", timeout=left()))
            await _timed(rec, "Start training", s.click("Start training", timeout=left()))
            queued_since = time.perf_counter() if any(QUEUED in t for t in s.texts) else None
            while not s.idle and time.perf_counter() < deadline:
                s.check()
                if queued_since is not None and not any(QUEUED in t for t in s.texts):
                    rec["waits"].append(time.perf_counter() - queued_since)  # the page shows it running
                    queued_since = None
                await asyncio.sleep(0.2)
            if not s.idle:
                rec["errors"].append("the page still redrew itself at the time limit")
        finally:
            rec["ticks"] += s.tick_times
            rec["timers"] += s.timer_intervals
            rec["redraws"] += s.redraw_times
            rec["errors"] += [f"exception box: {e}" for e in s.exceptions]


async def _classroom(server: Server, sessions: int, arrival_s: float, cfg_url: str, limit_s: float) -> dict:
    rec: dict = {"pages": {}, "waits": [], "ticks": [], "redraws": [], "timers": [], "errors": []}
    t0 = time.perf_counter()
    async with Session(server.url) as teacher:  # the teacher opens the app first: the server's cold start
        await teacher.open("start", timeout=limit_s)
    cold = time.perf_counter() - t0
    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
    deadline = t0 + limit_s
    spacing = arrival_s / max(1, sessions - 1) if sessions > 1 else 0.0
    results = await asyncio.gather(
        *(_student(server.url, cfg_url, i * spacing, deadline, rec) for i in range(sessions)), return_exceptions=True
    )
    wall = time.perf_counter() - t0
    cpu = _cpu_delta(cpu0, server.cpu_seconds())
    rec["errors"] += [f"{type(r).__name__}: {r}"[:200] for r in results if isinstance(r, BaseException)]
    runs = final_events(server.runs)
    done = sum(1 for v in runs.values() if v["final"] and v["final"]["kind"] == "done")
    return {
        "sessions": sessions,
        "arrival_s": arrival_s,
        "cold_start_page_s": round(cold, 2),
        "pages": {k: summary(v) for k, v in rec["pages"].items()},
        "live_view_redraw": summary(rec["ticks"]),
        "epoch_redraw": summary(rec["redraws"]),
        "live_view_timers": {f"{v:g} s": rec["timers"].count(v) for v in sorted(set(rec["timers"]))},
        "runs_submitted": len(runs),
        "runs_done": done,
        "runs_unfinished": sum(1 for v in runs.values() if not v["final"]),
        "queued_sessions": len(rec["waits"]),
        "queue_wait": summary(rec["waits"]),
        "start_delay": summary([v["start"]["started_at"] - v["created"] for v in runs.values() if v["start"]]),
        "errors": rec["errors"],
        "wall_s": round(wall, 1),
        "cpu_s": {
            "page_serving": cpu["server"],
            "training": cpu["children"],
            "page_serving_per_session": round(cpu["server"] / max(1, sessions), 2),
            "training_per_run": round(cpu["children"] / max(1, len(runs)), 2),
        },
        "server_memory_mb": {k: round(v, 1) for k, v in server.memory_mb().items()},
        "server_errors": tracebacks(server.log_path) if rec["errors"] else [],
    }


def tracebacks(log: Path, keep: int = 3) -> list[str]:
    """The last lines of the last ``keep`` distinct tracebacks in the server's log (a classroom server shows
    students a redacted message; what went wrong is in its log)."""
    found: dict[str, None] = {}
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    for i, line in enumerate(lines):
        if line.startswith("Traceback"):
            end = next((j for j in range(i + 1, len(lines)) if lines[j] and not lines[j].startswith(" ")), i)
            found[" / ".join(x.strip() for x in lines[max(i + 1, end - 4) : end + 1])[:600]] = None
    return list(found)[-keep:]


# -- 2. page costs ---------------------------------------------------------------------------------


async def _page_costs(server: Server, cfg_url: str, views: int) -> dict:
    runs = final_events(server.runs)
    finished = next((k for k, v in runs.items() if v["final"]), None)
    pages = {
        "start": ("start", ""),
        "data": ("data", ""),
        "conv": ("conv", ""),
        "train (set up by link)": ("train", f"cfg={cfg_url}"),
        "train (a finished run)": ("train", f"run={finished}"),
    }
    c0, t0 = server.cpu_seconds()["server"], time.perf_counter()
    await asyncio.sleep(3.0)
    idle_rate = (server.cpu_seconds()["server"] - c0) / (time.perf_counter() - t0)
    out = {"idle_cpu_per_s": round(idle_rate, 4)}
    for name in PAGE_COSTS:
        if name == "train (a finished run)" and finished is None:
            continue
        page, query = pages[name]
        times, errors = [], []
        c0, t0 = server.cpu_seconds()["server"], time.perf_counter()
        for _ in range(views):
            t = time.perf_counter()
            async with Session(server.url) as s:
                await s.open(page, query, timeout=120)
                errors += s.exceptions
            times.append(time.perf_counter() - t)
        cpu = server.cpu_seconds()["server"] - c0 - idle_rate * (time.perf_counter() - t0)
        out[name] = {"cpu_s_per_view": round(cpu / views, 3), **summary(times), "errors": errors}
    return out


# -- 3. the live view: CPU per viewer, and what viewers take from the training ---------------------


def live_config(data_root: str | None) -> tuple[RunConfig, str]:
    """The UI benchmark's MNIST recipe (benchmarks/ui_bench.py) when ``data_root`` holds MNIST, else the
    same network on ``shapes``; many epochs: the run is stopped once its windows are measured."""
    from benchmarks.ui_bench import config

    mnist = bool(data_root) and (Path(data_root) / "MNIST" / "raw").is_dir()
    cfg = config(str(data_root), 50).replace(data={"data_root": None})  # the server's data folder (env)
    if not mnist:
        cfg = cfg.replace(data={"dataset": "shapes", "augment": ()}, train={"epochs": 400})
    return cfg, "mnist" if mnist else "shapes"


def images_per_s(metrics: Path, w0: float, w1: float) -> float | None:
    """Training images/s between wall times ``w0`` and ``w1``, from the run's step events: images over
    time between consecutive steps of one epoch (the end-of-epoch evaluations left out)."""
    events = _events(metrics)
    start = next(e for e in events if e["kind"] == "start")
    wall = lambda e: start["started_at"] + e["t"] - start["t"]
    steps = [e for e in events if e["kind"] == "step" and w0 <= wall(e) <= w1]
    pairs = [(a, b) for a, b in zip(steps, steps[1:]) if a["epoch"] == b["epoch"]]
    seconds = sum(b["t"] - a["t"] for a, b in pairs)
    return sum(b["step"] - a["step"] for a, b in pairs) * start["batch_size"] / seconds if seconds > 0 else None


async def _window(server: Server, query: str, viewers: int, window_s: float, metrics: Path) -> dict:
    sessions = [Session(server.url, live=True) for _ in range(viewers)]
    for s in sessions:
        await s.__aenter__()
    try:
        await asyncio.gather(*(s.open("train", query, timeout=120) for s in sessions))
        await asyncio.sleep(1.5)  # their first redraws, before the window
        c0, w0, sent0 = server.cpu_seconds(), time.time(), sum(s.ticks_sent for s in sessions)
        await asyncio.sleep(window_s)
        c1, w1, sent1 = server.cpu_seconds(), time.time(), sum(s.ticks_sent for s in sessions)
    finally:
        for s in sessions:
            await s.__aexit__(None, None, None)
    cpu = _cpu_delta(c0, c1)
    return {
        "viewers": viewers,
        "server_cpu_per_s": round(cpu["server"] / (w1 - w0), 4),
        "training_cpu_per_s": round(cpu["children"] / (w1 - w0), 3),
        "images_per_s": images_per_s(metrics, w0, w1),
        "fragment_runs": sent1 - sent0,
        "redraw": summary([t for s in sessions for t in s.tick_times]),
        "errors": [e for s in sessions for e in s.exceptions],
        "ended": _final(metrics) is not None,
    }


def _events(metrics: Path) -> list[dict]:
    return [json.loads(x) for x in metrics.read_text().splitlines() if x.strip()] if metrics.exists() else []


def _final(metrics: Path) -> dict | None:
    return next((e for e in _events(metrics) if e["kind"] in ("done", "stopped", "diverged", "error")), None)


async def _live_view(server: Server, cfg: RunConfig, viewers: int, rounds: int, window_s: float) -> dict:
    """One run for all rounds; each round a window with the viewers and one without, adjacent, their order
    alternating (0, N, N, 0, 0, N, ...), so a drift of the machine's speed falls on both alike."""
    async with Session(server.url) as owner:
        await owner.open("train", f"cfg={cfg.to_url()}", timeout=120)
        await owner.click("Start training", timeout=120)
        query = owner.query
    metrics = server.runs / dict(p.split("=", 1) for p in query.split("&"))["run"] / "metrics.jsonl"
    deadline = time.time() + 180
    while time.time() < deadline and not any(e["kind"] == "step" for e in _events(metrics)):
        await asyncio.sleep(0.2)  # the run trains (its worker has loaded the data)
    per_round = []
    for r in range(rounds):
        pair = [
            await _window(server, query, k, window_s, metrics) for k in ((0, viewers) if r % 2 == 0 else (viewers, 0))
        ]
        per_round.append(sorted(pair, key=lambda w: w["viewers"]))
    async with Session(server.url) as owner:  # the owner's tab stops it
        await owner.open("train", query, timeout=120)
        if "Stop" in owner.buttons:
            await owner.click("Stop", timeout=120)
    cost = [(w["server_cpu_per_s"] - n["server_cpu_per_s"]) / viewers for n, w in per_round]
    ratio = [w["images_per_s"] / n["images_per_s"] for n, w in per_round if w["images_per_s"] and n["images_per_s"]]
    runs = sum(w["fragment_runs"] for _, w in per_round)
    seconds = window_s * viewers * rounds
    return {
        "viewers": viewers,
        "rounds": rounds,
        "window_s": window_s,
        "per_viewer_core": round(statistics.median(cost), 4),
        "per_viewer_core_rounds": [round(c, 4) for c in cost],
        "cpu_s_per_fragment_run": round(statistics.median(cost) * seconds / max(1, runs), 4),
        "fragment_runs_per_viewer_s": round(runs / seconds, 2),
        "images_per_s_ratio": round(statistics.median(ratio), 3) if ratio else None,
        "images_per_s_ratio_rounds": [round(r, 3) for r in ratio],
        "rounds_detail": per_round,
        "errors": [e for rd in per_round for w in rd for e in w["errors"]]
        + (["the run ended inside a window"] if any(w["ended"] for rd in per_round for w in rd) else []),
    }


# -- all of it --------------------------------------------------------------------------------------


def targets(res: dict) -> dict:
    rooms = res["classrooms"]
    p95 = [
        (r["arrival_s"], k, v["p95_s"])
        for r in rooms
        for k, v in list(r["pages"].items())
        + [("live view redraw", r["live_view_redraw"]), ("epoch redraw", r["epoch_redraw"])]
        if v["n"]
    ]
    worst = max(p95, key=lambda x: x[2]) if p95 else None
    live = res.get("live_view") or {}
    errors = (
        res.get("errors", [])
        + [e for r in rooms for e in r["errors"]]
        + live.get("errors", [])
        + [e for v in (res.get("page_costs") or {}).values() if isinstance(v, dict) for e in v["errors"]]
    )
    return {
        "every run completes or is cleanly queued": bool(rooms)
        and all(r["runs_done"] == r["sessions"] == r["runs_submitted"] for r in rooms),
        "no session error": not errors,
        f"p95 page response <= 2 s (worst: {worst[1]}, arrival {worst[0]} s, {worst[2]} s)"
        if worst
        else "p95 page response <= 2 s": bool(worst) and worst[2] <= 2.0,
        "one live viewer <= 2% of a core": live.get("per_viewer_core") is not None and live["per_viewer_core"] <= 0.02,
        "images/s with the viewers >= 0.9 of none": (live.get("images_per_s_ratio") or 0) >= 0.9,
    }


def run(
    sessions: int = 30,
    arrivals: tuple[float, ...] = (10.0, 0.0),
    max_jobs: int = 2,
    train_limit: int = 600,
    epochs: float = 1.0,
    limit_s: float = 900,
    views: int = 5,
    viewers: int = 10,
    rounds: int = 3,
    window_s: float = 20.0,
    data_root: str | None = "../shared/data",
    live_cfg: RunConfig | None = None,
) -> dict:
    """The three phases (the module's docstring); returns the report, with ``targets``."""
    root = str(Path(data_root).resolve()) if data_root else None
    cfg, data = live_config(root)
    cfg = live_cfg or cfg
    env = {
        "PLAYGROUND_MAX_JOBS": str(max_jobs),
        "PLAYGROUND_CLASSROOM": "1",
        "PLAYGROUND_MAX_RUNS_PER_SESSION": "3",
        **({"PLAYGROUND_DATA": root} if data == "mnist" else {}),
    }
    cfg_url = run_config(train_limit, epochs).to_url()
    res: dict = {
        "machine": f"{os.cpu_count()} cores",
        "load_average": {"start": _load()},
        "classrooms": [],
        "max_jobs": max_jobs,
        "live_data": cfg.data.dataset,
    }
    res["errors"] = []  # a phase that broke off: the others still report

    def phase(key: str, coro) -> None:
        try:
            out = asyncio.run(coro)
        except Exception as e:
            res["errors"].append(f"{key}: {type(e).__name__}: {e}"[:600])
            return
        res["classrooms"].append(out) if key == "classroom" else res.__setitem__(key, out)

    for i, arrival in enumerate(arrivals or (None,)):  # no classroom: the page costs and live view only
        with tempfile.TemporaryDirectory() as tmp, Server(Path(tmp), env=env) as server:
            if arrival is not None:
                phase("classroom", _classroom(server, sessions, arrival, cfg_url, limit_s))
            if i == 0 and views:
                phase("page_costs", _page_costs(server, cfg_url, views))
            if i == 0 and rounds:
                phase("live_view", _live_view(server, cfg, viewers, rounds, window_s))
    res["load_average"]["end"] = _load()
    res["targets"] = targets(res)
    return res


def _print(res: dict) -> None:
    for room in res["classrooms"]:
        print(
            f"\nclassroom: {room['sessions']} sessions arriving over {room['arrival_s']} s "
            f"(the teacher's first page, the server's cold start: {room['cold_start_page_s']} s)"
        )
        rows = list(room["pages"].items()) + [
            ("live view redraw", room["live_view_redraw"]),
            ("epoch redraw (whole page)", room["epoch_redraw"]),
            ("queue wait (page shows it)", room["queue_wait"]),
        ]
        for k, v in rows:
            if v["n"]:
                print(
                    f"  {k:<28} n={v['n']:<5} median {v['median_s']:.3f} s  p95 {v['p95_s']:.3f} s  "
                    f"max {v['max_s']:.3f} s"
                )
        print(
            "  "
            + json.dumps(
                {
                    k: room[k]
                    for k in (
                        "runs_submitted",
                        "runs_done",
                        "runs_unfinished",
                        "live_view_timers",
                        "queued_sessions",
                        "wall_s",
                        "cpu_s",
                        "server_memory_mb",
                    )
                }
            )
        )
        for e in room["errors"][:10] + room["server_errors"]:
            print("  error:", e)
    for k, v in (res.get("page_costs") or {}).items():
        print(f"page cost {k}: {v}")
    live = res.get("live_view")
    if live:
        print("live view: " + json.dumps({k: v for k, v in live.items() if k != "rounds_detail"}))
    for e in res["errors"]:
        print("phase error:", e)
    print("targets: " + json.dumps(res["targets"], indent=1))
    print(f"load average: {res['load_average']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=30)
    ap.add_argument(
        "--arrivals",
        default="10,0",
        help="classrooms to run, each on a fresh server: the seconds over which its students arrive (0: all at once)",
    )
    ap.add_argument("--max-jobs", type=int, default=2)
    ap.add_argument("--train-limit", type=int, default=600)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--limit-s", type=float, default=900)
    ap.add_argument("--views", type=int, default=5, help="page-cost views per page (0: skip)")
    ap.add_argument("--viewers", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3, help="live-view rounds (0: skip)")
    ap.add_argument("--window-s", type=float, default=20.0)
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if not 1 <= a.sessions <= 60:
        raise SystemExit("--sessions must be between 1 and 60 (a bounded, loopback-only test).")
    try:
        arrivals = tuple(float(x) for x in a.arrivals.replace(",", " ").split())
    except ValueError:
        raise SystemExit(f"--arrivals takes seconds separated by commas, e.g. 10,0 (got {a.arrivals!r}).") from None
    res = run(
        a.sessions,
        arrivals,
        a.max_jobs,
        a.train_limit,
        a.epochs,
        a.limit_s,
        a.views,
        a.viewers,
        a.rounds,
        a.window_s,
        a.data_root,
    )
    if a.json:
        print(json.dumps(res))
    else:
        _print(res)
    return 0 if all(res["targets"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
