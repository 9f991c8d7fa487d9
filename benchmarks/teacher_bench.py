"""The Teacher page's load time with a class's worth of runs in the run store.

    python benchmarks/teacher_bench.py [--runs 100] [--rounds 5] [--json]

Writes ``--runs`` finished training runs (8 epochs of 30 logged steps each, with their confusion matrices:
the size of a default ``shapes`` run's metrics.jsonl) into a temporary run store, then times, in interleaved
rounds: the class table cold (every run's files read: the first teacher to open the page after a start) and
warm (the figures cached, what each redraw of the table costs), the CSV, and the whole page rendered by
AppTest with the key (sidebar, table, leaderboard, queue), beside the Start page rendered the same way
(what any page's session costs in AppTest). Prints medians and spread, and the load average at
start and end (docs/BENCHMARKS.md, "The teacher view").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KEY = "bench-key"


def fill(store, n: int, epochs: int = 8, steps_per_epoch: int = 30) -> None:
    from playground.config import RunConfig

    rng = random.Random(0)
    classes = 10
    for i in range(n):
        cfg = RunConfig().replace(
            data={"dataset": ("shapes", "mnist", "cifar10")[i % 3]},
            model={"name": ("cnn", "mlp", "lenet5", "resnet")[i % 4]},
        )
        run = store.create(cfg)
        run.append({"kind": "start", "run_id": run.run_id, "device": "cpu", "t": 0.0, "total_steps": epochs * 30})
        step, t = 0, 0.0
        for ep in range(epochs):
            for _ in range(steps_per_epoch):
                step += 1
                t += 0.1
                run.append(
                    {
                        "kind": "step",
                        "step": step,
                        "epoch": ep,
                        "loss": rng.random(),
                        "acc": rng.random(),
                        "lr": 0.004,
                        "images_per_s": 5000.0 + rng.random(),
                        "t": round(t, 3),
                    }
                )
            acc = min(0.99, 0.5 + 0.05 * ep + 0.1 * rng.random())
            run.append(
                {
                    "kind": "epoch",
                    "epoch": ep,
                    "step": step,
                    "test_loss": 1 - acc,
                    "test_acc": acc,
                    "t": t,
                    "per_class_acc": [acc] * classes,
                    "confusion": [[rng.randrange(100) for _ in range(classes)] for _ in range(classes)],
                }
            )
        run.append({"kind": "done", "step": step, "t": t})


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    load_start = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="teacher-bench-"))
    os.environ.update(
        PLAYGROUND_RUNS=str(tmp / "runs"),
        PLAYGROUND_TEACHER_KEY=KEY,
        PLAYGROUND_WORKERS="thread",
        PLAYGROUND_UPLOADS=str(tmp / "up"),
    )
    from streamlit.testing.v1 import AppTest

    from playground import plugins as _plugins  # noqa: F401  (every capability registers its job kind)
    from playground import teacher
    from playground.jobs.manager import manager
    from playground.runs import RunStore
    from playground.teacher.table import forget_figures

    store = RunStore(tmp / "runs")
    fill(store, args.runs)
    size = sum(f.stat().st_size for f in store.root.rglob("metrics.jsonl"))
    m, namer = manager(), teacher.Namer()

    def page(name: str = "teacher") -> None:
        """One session's first view of a page: a new AppTest session, one script run (sidebar included)."""
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
        at.switch_page(f"app_pages/{name}.py")
        at.query_params["key"] = KEY
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        if name == "teacher":
            assert len(at.dataframe[0].value) == args.runs, "the page did not show the class"

    page()  # imports and AppTest's own first-run costs stay out of the figures
    page("start")
    figures: dict[str, list[float]] = {
        "table_cold_s": [],
        "table_warm_s": [],
        "csv_s": [],
        "page_cold_s": [],
        "page_warm_s": [],
        "start_page_s": [],
    }
    for _ in range(args.rounds):
        forget_figures()
        figures["table_cold_s"].append(timed(lambda: teacher.class_table(m, namer)))
        figures["table_warm_s"].append(timed(lambda: teacher.class_table(m, namer)))
        rows = teacher.class_table(m, namer)
        figures["csv_s"].append(timed(lambda rows=rows: teacher.results_csv(rows)))
        forget_figures()
        figures["page_cold_s"].append(timed(page))
        figures["page_warm_s"].append(timed(page))
        figures["start_page_s"].append(timed(lambda: page("start")))  # the same session cost, no class table
    out = {
        "runs": args.runs,
        "metrics_mb": round(size / 1e6, 1),
        "rounds": args.rounds,
        **{
            k: {"median": round(statistics.median(v), 4), "min": round(min(v), 4), "max": round(max(v), 4)}
            for k, v in figures.items()
        },
        "load_start": [round(x, 2) for x in load_start],
        "load_end": [round(x, 2) for x in os.getloadavg()],
        "cores": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(out))
        return
    print(f"{args.runs} runs, {out['metrics_mb']} MB of metrics, {args.rounds} rounds, {out['cores']} cores")
    for k in figures:
        f = out[k]
        print(f"  {k:13s} median {f['median'] * 1000:8.1f} ms   (min {f['min'] * 1000:.1f}, max {f['max'] * 1000:.1f})")
    print(f"  load average at start {out['load_start']}, at end {out['load_end']}")


if __name__ == "__main__":
    main()
