"""UI benchmark: the Train page open in a real browser vs the same run from the CLI.

    .venv/bin/python benchmarks/ui_bench.py --data-root ../shared/data [--memory-minutes 10] [--json]

Measures, on one machine, in one go:
- CLI images/s vs images/s of the same run started from the Train page while
  Chromium keeps the page open and redrawing (best of --rounds, interleaved);
- how far behind the training the page's progress is (seconds, median and p95),
  read from the page every 0.5 s against the run's metrics.jsonl;
- with --memory-minutes, the server's resident memory over a run that long with
  the page open (first-minute level vs the end).
Needs Debian's Chromium at /usr/bin/chromium and the playwright package.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: its sibling load_test
from load_test import ARGS, free_port

from playground.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def config(data_root: str, epochs: float) -> RunConfig:
    return RunConfig(
        data=DataConfig(dataset="mnist", data_root=data_root, augment=("rotation:10",), download=False),
        model=ModelConfig(name="cnn", params={"channels": [16, 32], "fc": [128]}),
        optim=OptimConfig(name="adam", lr=0.004, schedule="onecycle"),
        train=TrainConfig(epochs=epochs, batch_size=128, device="cpu"),
    )


def cli_ips(cfg: RunConfig, runs: Path) -> float:
    f = runs.parent / "cfg.json"
    f.write_text(cfg.to_json())
    out = subprocess.run(
        [sys.executable, "-m", "playground", "train", "--config", str(f), "--runs", str(runs), "--json", "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["images_per_second"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ui_run(page, url: str, cfg: RunConfig, runs: Path, server_pid: int, sample_memory: bool) -> dict:
    page.goto(f"{url}/train?cfg={cfg.to_url()}")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url("**run=*", timeout=60_000)
    run_id = re.search(r"run=([^&]+)", page.url).group(1)
    metrics = runs / run_id / "metrics.jsonl"
    lags, memory, t0 = [], [], time.time()
    while True:
        text = (
            page.locator("[data-testid='stProgress']").first.inner_text()
            if page.locator("[data-testid='stProgress']").count()
            else ""
        )
        m = re.search(r"step (\d+) / (\d+)", text)
        events = [json.loads(x) for x in metrics.read_text().splitlines() if x.strip()] if metrics.exists() else []
        steps = [e for e in events if e["kind"] == "step"]
        if m and steps:
            shown = int(m.group(1))
            t_of = {e["step"]: e["t"] for e in steps}
            if shown in t_of:
                lags.append(steps[-1]["t"] - t_of[shown])  # how far the page is behind the run
        if sample_memory:
            memory.append((time.time() - t0, rss_mb(server_pid)))
        if events and events[-1]["kind"] in ("done", "stopped", "error", "diverged"):
            return {
                "ips": events[-1].get("images_per_second"),
                "lags": lags,
                "memory": memory,
                "final": events[-1]["kind"],
            }
        time.sleep(0.5)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--memory-minutes", type=float, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    data_root = str(Path(args.data_root).resolve())
    tmp = Path(tempfile.mkdtemp(prefix="ui-bench-"))
    runs = tmp / "runs"
    port = free_port()
    env = {**os.environ, "PLAYGROUND_RUNS": str(runs), "PLAYGROUND_DATA": data_root}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "streamlit_app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    result: dict = {"machine": f"{os.cpu_count()} cores"}
    try:
        time.sleep(5)
        cfg = config(data_root, args.epochs)
        cli, ui, lags = [], [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for r in range(args.rounds):
                cli.append(cli_ips(cfg, runs))
                out = ui_run(page, url, cfg, runs, server.pid, False)
                ui.append(out["ips"])
                lags += out["lags"]
                print(f"round {r + 1}: CLI {cli[-1]:,.0f} img/s, Train page open {ui[-1]:,.0f} img/s", flush=True)
            if cli:
                result.update(
                    cli_ips=max(cli),
                    ui_ips=max(ui),
                    ui_vs_cli=round(max(ui) / max(cli), 3),
                    cli_rounds=cli,
                    ui_rounds=ui,
                    page_lag_s_median=round(statistics.median(lags), 2) if lags else None,
                    page_lag_s_p95=round(sorted(lags)[int(0.95 * (len(lags) - 1))], 2) if lags else None,
                )
            if args.memory_minutes:
                # About that many minutes of training: ~7k img/s on this machine's CPU.
                steps = args.memory_minutes * 60 * 6500 / 128
                long_cfg = config(data_root, steps / 468)
                out = ui_run(page, url, long_cfg, runs, server.pid, True)
                mem = out["memory"]
                first = [m for t, m in mem if 30 <= t <= 90] or [mem[0][1]]
                last = [m for t, m in mem if t >= mem[-1][0] - 60]
                result.update(
                    memory_minutes=round(mem[-1][0] / 60, 1),
                    rss_mb_first_minute=round(max(first), 1),
                    rss_mb_last_minute=round(max(last), 1),
                    rss_mb_peak=round(max(m for _, m in mem), 1),
                    rss_growth=round(max(last) / max(first) - 1, 3),
                )
            page.screenshot(path=str(tmp / "train-page.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(20)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
