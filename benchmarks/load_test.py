"""A classroom under load: N browser sessions against one `streamlit run` server.

Every session is its own browser context (its own Streamlit session): it opens the Data
page, opens the Train page set up by link (a short run), presses Start training and keeps
the page open (its live curves poll the server) until every run has ended. Loopback only;
bounded in sessions and time.

    python benchmarks/load_test.py --sessions 25 --max-jobs 2 [--json]

Prints: runs completed / cleanly queued, queue waits, page response times (median, p95),
session errors, and the server's peak memory (VmHWM, so peaks between polls count too).
The suite runs the same code with a few sessions (tests/test_load.py). This is the end-to-end
check with real browsers, kept small; the server's own figures under a whole class (CPU per page
view and per second of live view, the live view polled as the page polls) come from the
protocol-level benchmarks/server_load.py, which needs no browser per student.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playground.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]

CHROMIUM = "/usr/bin/chromium"
STEP_TIMEOUT_MS = 300_000  # one page step may wait this long: 25 sessions' browsers share the server's cores
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]  # headless Chromium as root, nothing fetched in the background: the tests and ui_bench launch it with these


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`streamlit run streamlit_app.py` on a loopback port, with its own run store; restartable."""

    def __init__(self, workdir: Path, env: dict[str, str] | None = None, port: int | None = None):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.runs = self.workdir / "runs"
        self.env = {
            **os.environ,
            "PLAYGROUND_RUNS": str(self.runs),
            "PLAYGROUND_UPLOADS": str(self.workdir / "up"),
            **(env or {}),
        }
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "server.log"

    def start(self, timeout: float = 90) -> "Server":
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(ROOT / "streamlit_app.py"),
                "--server.port",
                str(self.port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("streamlit did not start: " + self.log_path.read_text()[-2000:])

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, like a power cut or the OOM killer."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(15)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def memory_mb(self) -> dict[str, float]:
        """Current and peak resident memory of the server process (Linux /proc)."""
        out = {}
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1]) / 1024
        except OSError:
            pass
        return {"rss_mb": out.get("VmRSS", 0.0), "peak_mb": out.get("VmHWM", 0.0)}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system, s) used so far: ``server`` by the server process itself (its page
        serving and the job manager's threads), ``children`` by its descendants (the fork server and
        the training workers, running or ended; Linux /proc)."""
        return cpu_seconds(self.proc.pid)

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _stat(pid: int | str) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields 3.. of proc(5): state, ppid, ...


def cpu_seconds(pid: int) -> dict[str, float]:
    """``server``: utime + stime of ``pid``; ``children``: what its descendants used, the live ones (their
    own times and those of the children they reaped) and the ended ones it reaped (cutime + cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int(_stat(d.name)[1])
            except (OSError, ValueError, IndexError):
                pass  # ended meanwhile
    own = [int(v) for v in _stat(pid)[11:15]]  # utime, stime, cutime, cstime
    children, todo = own[2] + own[3], [pid]
    while todo:
        p = todo.pop()
        for c in (k for k, v in parent.items() if v == p):
            try:
                children += sum(int(v) for v in _stat(c)[11:15])
            except (OSError, ValueError, IndexError):
                continue  # reaped meanwhile: its time is in its parent's cutime now
            todo.append(c)
    return {"server": (own[0] + own[1]) / tick, "children": children / tick}


def run_config(train_limit: int, epochs: float) -> RunConfig:
    return RunConfig().replace(
        data={"train_limit": train_limit},
        model={"params": {"channels": [8, 16], "fc": [32]}},
        train={"epochs": epochs, "batch_size": 64},
    )


def final_events(runs: Path) -> dict[str, dict]:
    """run id -> (start event, final event or None), read from the run store."""
    out = {}
    for d in runs.iterdir() if runs.is_dir() else []:
        m = d / "metrics.jsonl"
        if not m.exists():
            out[d.name] = {"start": None, "final": None, "created": (d / "config.json").stat().st_mtime}
            continue
        events = [json.loads(x) for x in m.read_text().splitlines() if x.strip()]
        start = next((e for e in events if e["kind"] == "start"), None)
        final = next((e for e in events if e["kind"] in ("done", "stopped", "diverged", "error")), None)
        out[d.name] = {"start": start, "final": final, "created": (d / "config.json").stat().st_mtime}
    return out


async def _session(browser, url: str, cfg_url: str, i: int, timings: dict, errors: list, stagger: float):
    await asyncio.sleep(i * stagger)  # students do not all click in the same millisecond
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(STEP_TIMEOUT_MS)  # navigation included: page loads queue behind the others
    page = await context.new_page()
    page.on("pageerror", lambda e: errors.append(f"session {i}: page error {e}"))
    try:
        t0 = time.perf_counter()
        await page.goto(url + "/data")
        await page.get_by_text("image shape (C, H, W)").wait_for(timeout=STEP_TIMEOUT_MS)
        timings["data_page"].append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await page.goto(f"{url}/train?cfg={cfg_url}")
        start = page.get_by_role("button", name="Start training")
        await start.wait_for(timeout=STEP_TIMEOUT_MS)
        timings["train_page"].append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await start.click()
        await page.wait_for_url("**run=*", timeout=STEP_TIMEOUT_MS)
        await page.get_by_text("Run ", exact=False).first.wait_for(timeout=STEP_TIMEOUT_MS)
        timings["submit"].append(time.perf_counter() - t0)
        return page, context, True
    except Exception as e:  # a timeout is a finding, not a crash of the harness
        errors.append(f"session {i}: {type(e).__name__}: {str(e)[:200]}")
        return page, context, False


async def run_load(
    url: str,
    runs: Path,
    server: Server | None,
    sessions: int,
    train_limit: int = 512,
    epochs: float = 1.0,
    time_limit: float = 1200,
    stagger: float = 2.0,
) -> dict:
    from playwright.async_api import async_playwright

    cfg_url = run_config(train_limit, epochs).to_url()
    timings: dict[str, list[float]] = {"data_page": [], "train_page": [], "submit": []}
    errors: list[str] = []
    t_begin = time.time()
    async with async_playwright() as p:
        shm = "--disable-dev-shm-usage"  # 25 browsers: /dev/shm is small
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, shm])
        opened = await asyncio.gather(
            *(_session(browser, url, cfg_url, i, timings, errors, stagger) for i in range(sessions))
        )
        # Keep every page open (live curves poll) until all runs have ended, or the time is up.
        peak = 0.0
        deadline = t_begin + time_limit
        while time.time() < deadline:
            state = final_events(runs)
            if server is not None:
                peak = max(peak, server.memory_mb()["peak_mb"])
            submitted = sum(ok for _, _, ok in opened)
            if len(state) >= submitted and all(v["final"] for v in state.values()):
                break
            await asyncio.sleep(1.0)
        for page, _, _ in opened:
            n = await page.locator('[data-testid="stException"]').count()
            if n:
                errors.append(f"{page.url}: {n} exception box(es) on the page")
        await browser.close()
    state = final_events(runs)
    done = [v for v in state.values() if v["final"] and v["final"]["kind"] == "done"]
    waits = [v["start"]["started_at"] - v["created"] for v in state.values() if v["start"]]

    def stats(xs: list[float]) -> dict:
        if not xs:
            return {"n": 0}
        xs = sorted(xs)
        return {
            "n": len(xs),
            "median_s": round(statistics.median(xs), 2),
            "p95_s": round(xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))], 2),
            "max_s": round(xs[-1], 2),
        }

    return {
        "sessions": sessions,
        "runs_submitted": len(state),
        "runs_done": len(done),
        "runs_unfinished": [k for k, v in state.items() if not v["final"]],
        "queue_wait": stats(waits),
        "data_page": stats(timings["data_page"]),
        "train_page": stats(timings["train_page"]),
        "submit": stats(timings["submit"]),
        "errors": errors,
        "server_peak_mb": round(peak or (server.memory_mb()["peak_mb"] if server else 0), 1),
        "wall_s": round(time.time() - t_begin, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=25)
    ap.add_argument("--max-jobs", type=int, default=2, help="PLAYGROUND_MAX_JOBS for the server")
    ap.add_argument("--train-limit", type=int, default=512)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--time-limit", type=float, default=1200)
    ap.add_argument("--stagger", type=float, default=2.0, help="seconds between sessions' arrivals")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if not 1 <= a.sessions <= 60:
        sys.exit("--sessions must be between 1 and 60 (a bounded, loopback-only test).")
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), env={"PLAYGROUND_MAX_JOBS": str(a.max_jobs), "PLAYGROUND_CLASSROOM": "1"})
        with server:
            result = asyncio.run(
                run_load(server.url, server.runs, server, a.sessions, a.train_limit, a.epochs, a.time_limit, a.stagger)
            )
    result["max_jobs"] = a.max_jobs
    for k in ("data_page", "train_page", "submit", "queue_wait"):
        s = result[k]
        if s["n"]:
            print(f"{k:>11}: median {s['median_s']} s, p95 {s['p95_s']} s, max {s['max_s']} s (n={s['n']})")
    print(
        f"runs: {result['runs_done']}/{result['sessions']} done, unfinished {len(result['runs_unfinished'])}, "
        f"errors {len(result['errors'])}, server peak {result['server_peak_mb']} MB, wall {result['wall_s']} s"
    )
    for e in result["errors"][:10]:
        print("  ", e)
    if a.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
