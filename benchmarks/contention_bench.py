"""Training speed when the cores are shared: a compute-bound training step (the bench's CNN, 16/32 channels and
a 128-unit head, on 28 px built-in shapes, batch 128, the run's precision) in fresh processes, while a
competitor keeps part of a core busy (a browser, the Streamlit server, a second job), for each OpenMP
setting, in interleaved rounds.

    python benchmarks/contention_bench.py [--duty 0 0.25 1] [--rounds 3] [--json]

Settings compared: torch's default (as many threads as cores, OpenMP's spinning wait),
``OMP_WAIT_POLICY=PASSIVE`` (waiting threads sleep) and one thread. ``--duty 1`` is a whole core busy;
``--jobs 2`` runs two trainers side by side instead of one trainer and a competitor.
Prints images/s per setting and competitor (median and spread over the rounds) and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {"default": {}, "passive": {"OMP_WAIT_POLICY": "PASSIVE"}, "1 thread": {"OMP_NUM_THREADS": "1"}}

STEP = """
import json, sys, time, torch, torch.nn.functional as F
from playground.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from playground.train import prepare
cfg = RunConfig(data=DataConfig(dataset="shapes", params={"n_train": 256, "n_test": 64, "size": 28}),
                model=ModelConfig(name="cnn", params={"channels": [16, 32], "fc": [128]}),
                train=TrainConfig(batch_size=128, device="cpu"))
p = prepare(cfg)
x, y = p.to_input(p.train_x[:128]), p.train_y[:128]
opt = torch.optim.Adam(p.model.parameters(), lr=1e-3)
def step():
    with p.autocast():
        loss = F.cross_entropy(p.model(x), y)
    opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
for _ in range(5):
    step()
best, t_end = 0.0, time.perf_counter() + float(sys.argv[1])
while time.perf_counter() < t_end:
    t0 = time.perf_counter()
    for _ in range(10):
        step()
    best = max(best, 10 * 128 / (time.perf_counter() - t0))
print(json.dumps({"images_per_s": best, "threads": torch.get_num_threads(),
                  "precision": "bf16" if p.autocast_dtype is not None else "fp32"}))
"""

BUSY = """
import sys, time
duty = float(sys.argv[1])
while True:
    t = time.perf_counter()
    while time.perf_counter() - t < 0.01 * duty:
        pass
    time.sleep(max(0.0, 0.01 * (1 - duty)))
"""


def trainer(env: dict[str, str], seconds: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", STEP, str(seconds)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )


def measure(setting: str, duty: float, jobs: int, seconds: float) -> float:
    """Images/s of one trainer (the mean over ``jobs`` side by side) with a competitor at ``duty``."""
    busy = subprocess.Popen([sys.executable, "-c", BUSY, str(duty)]) if duty > 0 else None
    try:
        procs = [trainer(SETTINGS[setting], seconds) for _ in range(jobs)]
        rates = [json.loads(p.communicate(timeout=600)[0].strip().splitlines()[-1])["images_per_s"] for p in procs]
    finally:
        if busy:
            busy.kill()
            busy.wait()
    return statistics.mean(rates)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duty", type=float, nargs="+", default=[0.0, 0.25, 1.0], help="competitor's share of a core")
    ap.add_argument("--jobs", type=int, default=1, help="trainers side by side")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0, help="timed seconds per measurement")
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    load_start = [round(v, 2) for v in os.getloadavg()]
    got: dict[str, dict[str, list[float]]] = {}
    for r in range(a.rounds):
        for duty in a.duty:
            for setting in a.settings:
                ips = measure(setting, duty, a.jobs, a.seconds)
                got.setdefault(f"competitor {duty:g} core", {}).setdefault(setting, []).append(round(ips))
                if not a.json:
                    print(f"round {r + 1}: competitor {duty:g} core, {setting:<8} {ips:8,.0f} img/s", flush=True)
    summary = {
        c: {s: {"median": statistics.median(v), "min": min(v), "max": max(v)} for s, v in by.items()}
        for c, by in got.items()
    }
    res = {
        "jobs": a.jobs,
        "rounds": a.rounds,
        "cpus": os.cpu_count(),
        "images_per_s": summary,
        "load_average": {"start": load_start, "end": [round(v, 2) for v in os.getloadavg()]},
        "when": time.strftime("%Y-%m-%d %H:%M"),
    }
    print(json.dumps(res) if a.json else json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
