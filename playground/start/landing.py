"""A lesson's landing: the one button on the page a lesson opens runs the lesson's experiment (the same
``Lesson.run`` the harness runs) for that session, through the process's job manager, in a thread that
only submits jobs and waits for them (the training itself runs in the manager's workers), then measures
the figure. The page's fragment reads ``snapshot()``; nothing here touches Streamlit.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ..errors import PlaygroundError
from . import lesson
from .runner import Ctx, Outcome, Runner, job_manager_api

__all__ = ["LessonRun", "start_lesson", "lesson_run", "live_view"]

_runs: dict[tuple[str, str], "LessonRun"] = {}
_lock = threading.Lock()
MAX_KEPT = 500  # finished lesson runs kept in memory (the oldest go first)


class LessonRun:
    """One click on a lesson's button: its progress, its jobs (kind, run id), then its outcome or error."""

    def __init__(self, name: str, owner: str, ctx: Ctx | None = None, mgr: Any = None):
        self.lesson = lesson(name, ctx or Ctx())
        self.runner = Runner(mgr or job_manager_api().manager(), owner, ctx or Ctx(), progress=self._say)
        self.text = "starting..."
        self.outcome: Outcome | None = None
        self.error: str | None = None
        self.t0 = time.perf_counter()
        self.seconds: float | None = None
        self.thread = threading.Thread(target=self._work, name=f"lesson-{name}", daemon=True)

    def _say(self, text: str) -> None:
        self.text = text

    def _work(self) -> None:
        try:
            self.outcome = self.lesson.run(self.runner)
        except PlaygroundError as e:
            self.error = str(e)
        except Exception as e:
            self.error = f"The lesson stopped unexpectedly ({type(e).__name__}: {e}). Press the button again."
        self.seconds = time.perf_counter() - self.t0

    @property
    def live(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> None:
        self.runner.cancelled.set()

    def snapshot(self) -> dict[str, Any]:
        out = self.outcome
        return {
            "live": self.live,
            "text": self.text,
            "error": self.error,
            "jobs": list(self.runner.started),
            "elapsed": (self.seconds if self.seconds is not None else time.perf_counter() - self.t0),
            "outcome": out,
            "shown": bool(out and out.ok and self.lesson.shown(out.figure)),
            "figure": self.lesson.fmt(out.figure) if out else None,
            "live_jobs": [(job.kind.name, job.run_id) for job in self.runner.live],
        }


def start_lesson(name: str, owner: str, ctx: Ctx | None = None, mgr: Any = None) -> LessonRun:
    """Start the lesson for this session, unless its previous click still runs (that one is returned)."""
    with _lock:
        old = _runs.get((owner, name))
        if old is not None and old.live:
            return old
        run = LessonRun(name, owner, ctx, mgr)
        _runs[(owner, name)] = run
        while len(_runs) > MAX_KEPT:
            key = next((k for k, v in _runs.items() if not v.live), None)
            if key is None:
                break
            del _runs[key]
    run.thread.start()
    return run


def lesson_run(name: str, owner: str) -> LessonRun | None:
    """This session's latest click on the lesson, if any."""
    with _lock:
        return _runs.get((owner, name))


def live_view(run: LessonRun) -> list[dict[str, Any]]:
    """What the landing draws while the lesson's jobs run: per live job its label and progress (0..1), and
    for a race its curves so far (``chart``)."""
    from ..jobs.buffer import run_progress

    out = []
    for job in list(run.runner.live):
        snap = job.buffer.snapshot()
        row: dict[str, Any] = {"kind": job.kind.name, "run_id": job.run_id, "fraction": 0.0, "label": job.state}
        if job.kind.name == "train":
            prog = run_progress(snap, job.live)
            if prog:
                row.update(fraction=prog["fraction"], label=f"{job.config.model.name}: {prog['label']}")
        elif job.kind.name == "initrace":
            frac, text = snap.get("progress") or (0.0, "")
            row.update(fraction=float(frac or 0.0), label=str(text))
            if snap.get("race"):
                from .experiments import race_chart

                row["chart"] = race_chart(snap["race"])
        else:
            row["label"] = f"{job.kind.name}: {job.state}"
        out.append(row)
    return out
