"""The speed cost of the quick test estimate (``train.quick_test``, ``playground.train.probes.QuickTest``).

    .venv/bin/python benchmarks/quick_test_bench.py [--rounds 5] [--epochs 2] [--json]

The Train page's default run (``shapes``, the default CNN, the auto batch size) trained with the estimate
(512 images) and without it (``quick_test`` 0), in interleaved rounds whose order alternates (on, off, off,
on, ...) so a shared machine's drift falls on both alike. Per run: training images/s on the wall clock from
the start event to the last step event (the estimates included, the first epochs' full evaluations in both
alike), and the estimates' own time (their ``quick_test_seconds``) as a share of that wall time: the
second figure does not depend on the machine's noise. Printed with the load average at the start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

import torch

from playground.config import RunConfig
from playground.train import fit


def one_run(config: RunConfig) -> dict[str, float]:
    events = list(fit(config))
    if events[-1]["kind"] != "done":
        raise SystemExit(f"run failed: {events[-1]}")
    start, steps = events[0], [e for e in events if e["kind"] == "step"]
    wall = steps[-1]["t"] - start["t"]
    quick = [e["quick_test_seconds"] for e in steps if "quick_test_seconds" in e]
    return {
        "images_per_s": steps[-1]["step"] * start["batch_size"] / wall,
        "wall_s": wall,
        "estimates": len(quick),
        "estimate_s": sum(quick),
        "share": sum(quick) / wall,
    }


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--images", type=int, default=512, help="the estimate's test images")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.json else print
    base = RunConfig().replace(train={"epochs": args.epochs, "checkpoint": False, "device": "cpu"})
    on, off = base.replace(train={"quick_test": args.images}), base.replace(train={"quick_test": 0})
    load_start = _load()
    log(
        f"default run on shapes, {args.epochs:g} epochs, {torch.get_num_threads()} threads; "
        f"load average at start {load_start}"
    )
    list(fit(base.replace(train={"epochs": 0.1})))  # data generated and cached, kernels warm
    rounds = []
    for r in range(args.rounds):
        order = (("on", on), ("off", off)) if r % 2 == 0 else (("off", off), ("on", on))
        res = {name: one_run(cfg) for name, cfg in order}
        slowdown = 1 - res["on"]["images_per_s"] / res["off"]["images_per_s"]
        rounds.append({"on": res["on"], "off": res["off"], "slowdown": slowdown})
        log(
            f"round {r + 1}/{args.rounds}: with {res['on']['images_per_s']:,.0f} img/s "
            f"({res['on']['estimates']} estimates, {res['on']['estimate_s']:.2f} s of {res['on']['wall_s']:.1f} s: "
            f"{res['on']['share']:.2%}), without {res['off']['images_per_s']:,.0f} img/s; slowdown {slowdown:+.2%}"
        )
    slow = [r["slowdown"] for r in rounds]
    share = [r["on"]["share"] for r in rounds]
    per_estimate = [r["on"]["estimate_s"] / max(r["on"]["estimates"], 1) for r in rounds]
    result = {
        "slowdown_median": round(statistics.median(slow), 4),
        "slowdown_min": round(min(slow), 4),
        "slowdown_max": round(max(slow), 4),
        "share_median": round(statistics.median(share), 4),
        "share_max": round(max(share), 4),
        "seconds_per_estimate": round(statistics.median(per_estimate), 4),
        "images_per_s_on": round(statistics.median(r["on"]["images_per_s"] for r in rounds), 1),
        "images_per_s_off": round(statistics.median(r["off"]["images_per_s"] for r in rounds), 1),
        "rounds": rounds,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_average": {"start": load_start, "end": _load()},
    }
    log(
        f"median slowdown {result['slowdown_median']:+.2%} (rounds {result['slowdown_min']:+.2%} to "
        f"{result['slowdown_max']:+.2%}); the estimates' own share of the wall time {result['share_median']:.2%} "
        f"(at most {result['share_max']:.2%}), {result['seconds_per_estimate'] * 1000:.0f} ms each; "
        f"load average at end {result['load_average']['end']} (1, 5, 15 minutes)"
    )
    if args.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
