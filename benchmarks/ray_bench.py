"""A run through a local Ray head vs the same run in a local worker process, both through the job manager.

    .venv/bin/python benchmarks/ray_bench.py [--rounds 3] [--epochs 2] [--n-train 2000] [--json]

Starts a Ray head in this process (``ray.init``: 2 CPUs, 200 MB object store, no dashboard), then, for
each round and interleaved, submits the same run (built-in ``shapes``, a small CNN, CPU) to a
``JobManager`` with local worker processes and to one with ``PLAYGROUND_RAY_ADDRESS`` set. Prints per
backend (median over rounds):

- start: seconds from ``submit`` to the run's first step event in the server's buffer (the worker's
  start, the import of torch on a fresh Ray worker, loading the data set, the first steps);
- wall: seconds from ``submit`` to the final event; images/s: the trainer's own throughput (its done event);
- event delay: how late events reach the buffer. ``relative``: per event, (arrival - its ``t``) minus the
  smallest such value of the run (the same estimate for both backends; 0 = as prompt as the promptest);
  for Ray also ``sent->buffer``, the actor's put to the server's buffer (one clock: the same machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import playground.plugins  # noqa: E402, F401  (every capability registers its job kind)
from playground.config import RunConfig  # noqa: E402
from playground.jobs.manager import JobManager  # noqa: E402
from playground.runs import RunStore  # noqa: E402


def config(epochs: float, n_train: int) -> RunConfig:
    return RunConfig().replace(
        data={"params": {"n_train": n_train, "n_test": 500}},
        model={"params": {"channels": [16, 32], "fc": [64]}},
        train={"epochs": epochs, "batch_size": 64, "log_every": 5, "log_seconds": 0, "device": "cpu"},
    )


def one(m: JobManager, cfg: RunConfig) -> dict[str, float]:
    arrivals: list[tuple[float, dict]] = []
    t0 = time.perf_counter()
    job = m.submit(cfg, "bench")
    add = job.buffer.add

    def timed(e):  # when each event reaches the buffer
        arrivals.append((time.perf_counter(), e))
        add(e)

    job.buffer.add = timed
    while job.live:
        time.sleep(0.01)
    if job.state != "done":
        raise SystemExit(f"the run ended {job.state}: {job.buffer.snapshot()['final']}")
    steps = [(a, e) for a, e in arrivals if e["kind"] == "step"]
    lag = [a - e["t"] for a, e in steps]
    out = {
        "start_s": steps[0][0] - t0,
        "wall_s": arrivals[-1][0] - t0,
        "images_per_s": job.buffer.snapshot()["final"]["images_per_second"],
        "delay_relative_ms": 1000 * statistics.median(x - min(lag) for x in lag),
        "delay_relative_max_ms": 1000 * (max(lag) - min(lag)),
        "events": len(arrivals),
    }
    delays = getattr(job.worker, "delays", None)
    if delays:
        out["delay_sent_ms"] = 1000 * statistics.median(delays)
        out["delay_sent_max_ms"] = 1000 * max(delays)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--n-train", type=int, default=2000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import ray

    t = time.perf_counter()
    ctx = ray.init(
        address="local",
        num_cpus=2,
        num_gpus=0,
        include_dashboard=False,
        object_store_memory=200 * 2**20,
        log_to_driver=False,
    )
    head_s = time.perf_counter() - t
    cfg = config(args.epochs, args.n_train)
    results: dict[str, list[dict]] = {"local": [], "ray": []}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PLAYGROUND_RUNS"] = tmp
        try:
            for _ in range(args.rounds):
                os.environ.pop("PLAYGROUND_RAY_ADDRESS", None)
                m = JobManager(RunStore(Path(tmp) / "local"), max_running=1, workers="process")
                time.sleep(3)  # the fork server's warm-up (it imports torch once), as in a running server
                results["local"].append(one(m, cfg))
                m.shutdown()
                os.environ["PLAYGROUND_RAY_ADDRESS"] = ctx.address_info["address"]
                m = JobManager(RunStore(Path(tmp) / "ray"), max_running=1)
                results["ray"].append(one(m, cfg))
                m.shutdown()
        finally:
            ctx.disconnect()
    summary = {k: {f: round(statistics.median(r[f] for r in rs), 3) for f in rs[0]} for k, rs in results.items()}
    load = os.getloadavg()
    if args.json:
        print(
            json.dumps(
                {"ray_head_start_s": round(head_s, 2), "loadavg": load, "median": summary, "rounds": results}, indent=2
            )
        )
        return 0
    print(
        f"Ray head start: {head_s:.1f} s; load average now {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"{args.rounds} rounds, medians; {summary['local']['events']:.0f} events a run"
    )
    print(
        f"{'backend':8} {'start s':>8} {'wall s':>7} {'img/s':>7} {'delay rel ms':>13} {'rel max':>8} "
        f"{'sent->buffer ms':>16} {'max':>6}"
    )
    for k, s in summary.items():
        sent = f"{s['delay_sent_ms']:16.1f} {s['delay_sent_max_ms']:6.1f}" if "delay_sent_ms" in s else ""
        print(
            f"{k:8} {s['start_s']:8.2f} {s['wall_s']:7.2f} {s['images_per_s']:7.0f} "
            f"{s['delay_relative_ms']:13.1f} {s['delay_relative_max_ms']:8.1f} {sent}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
