"""``playground lessons``: every lesson's experiment run headlessly, with exactly the settings its Start-page
link sets up, through the job manager; per lesson whether its point showed (the figure against the
threshold) and the seconds from the click to the point.

``--concurrent N`` starts N lessons at once, each as its own session (owner) of one job manager with the
server's settings (its slots and queue), as N students clicking at the same moment would.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import Any, Callable, Sequence

from ..errors import PlaygroundError
from ..runs import RunStore
from . import LESSONS, Lesson, lesson, lessons
from .runner import Ctx, Runner, job_manager_api

__all__ = ["add_lessons_args", "cmd_lessons", "run_one", "run_lessons"]


def _device(ctx: Ctx) -> str:
    from ..device import resolve_device

    return str(resolve_device(ctx.device))


def run_one(les: Lesson, runner: Runner) -> dict[str, Any]:
    """One lesson's experiment: its figure, whether the point showed, the seconds from the click to it."""
    t0 = time.perf_counter()
    row: dict[str, Any] = {
        "lesson": les.name,
        "point": les.point,
        "figure": None,
        "threshold": les.needs(runner.ctx.quick),
        "higher": les.higher,
        "shown": False,
        "seconds": None,
        "device": _device(runner.ctx),
        "quick": runner.ctx.quick,
        "measures": les.figure,
    }
    try:
        out = les.run(runner)
        shown = bool(out.ok and les.shown(out.figure, runner.ctx.quick))
        row.update(figure=round(float(out.figure), 6), shown=shown, text=out.text)
        if not out.ok:
            row["why"] = "a condition beside the figure failed: " + out.text
    except PlaygroundError as e:
        row.update(text="", why=f"the experiment failed: {e}")
    row["seconds"] = round(time.perf_counter() - t0, 1)
    row["runs"] = [run_id for _, run_id in runner.started]
    return row


def run_lessons(
    names: Sequence[str],
    ctx: Ctx,
    concurrent: int = 1,
    runs_root: str | None = None,
    report: Callable[[dict[str, Any]], None] = lambda _row: None,
) -> list[dict[str, Any]]:
    """Run the named lessons, ``concurrent`` at once, each as its own session of one job manager."""
    api = job_manager_api()
    mgr = api.JobManager(store=RunStore(runs_root))
    chosen = [lesson(n, ctx) for n in names]
    rows: list[dict[str, Any] | None] = [None] * len(chosen)
    lock = threading.Lock()
    todo = list(range(len(chosen)))

    def worker(k: int) -> None:
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop(0)
            row = run_one(chosen[i], Runner(mgr, f"lessons-{os.getpid()}-{k}", ctx))
            with lock:
                rows[i] = row
                report(row)

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(max(1, concurrent))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        mgr.shutdown()
    return [r for r in rows if r is not None]


def add_lessons_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only this lesson (repeatable): {', '.join(l.name for l in lessons())}",
    )
    p.add_argument("--quick", action="store_true", help="the shrunk form the test suite asserts (fewer images, steps)")
    p.add_argument("--data-root", default=None, help="folder with MNIST/raw (default $PLAYGROUND_DATA or ./data)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--runs", default=None, help="run store folder (default $PLAYGROUND_RUNS or ./runs)")
    p.add_argument(
        "--concurrent",
        type=int,
        default=1,
        metavar="N",
        help="start N lessons at once through the job manager, as N students would",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per lesson, then a summary object")


def _line(row: dict[str, Any]) -> str:
    les = lesson(row["lesson"])
    fig = les.fmt(row["figure"]) if row["figure"] is not None else "-"
    need = f"{'>=' if les.higher else '<='} {les.fmt(row['threshold'])}"
    mark = "shown" if row["shown"] else "NOT SHOWN"
    return (
        f"{mark:<9} {row['lesson']:<15} {fig:>13} (needs {need}) {row['seconds']:>6.1f} s  {row['device']}\n"
        f"          {row.get('text') or row.get('why', '')}"
    )


def cmd_lessons(args: argparse.Namespace) -> int:
    names = args.only or [les.name for les in lessons()]
    for n in names:
        LESSONS.check(n)  # an unknown name: the error lists the lessons
    if args.concurrent < 1:
        raise PlaygroundError("--concurrent takes a number of lessons, 1 or more.")
    ctx = Ctx(root=args.data_root, device=args.device, quick=args.quick)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()

    def report(row: dict[str, Any]) -> None:
        print(json.dumps(row) if args.json else _line(row), flush=True)

    rows = run_lessons(names, ctx, concurrent=args.concurrent, runs_root=args.runs, report=report)
    shown = sum(1 for r in rows if r["shown"])
    summary = {
        "summary": True,
        "lessons": len(rows),
        "shown": shown,
        "not_shown": [r["lesson"] for r in rows if not r["shown"]],
        "concurrent": args.concurrent,
        "quick": args.quick,
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "max_seconds": max((r["seconds"] for r in rows), default=0.0),
        "load_before": round(load0, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        print(
            f"{shown} of {len(rows)} points shown; slowest {summary['max_seconds']:.1f} s; "
            f"{summary['wall_seconds']:.1f} s in all; load average {load0:.2f} before, "
            f"{summary['load_after']:.2f} after",
            file=sys.stdout,
            flush=True,
        )
    return 0 if shown == len(rows) else 1
