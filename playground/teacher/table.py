"""The class at a glance: every run of every session, from the job manager (what this server runs or holds
in memory, with its session) and the run store on disk (every kind, finished runs and those from before a
restart), one row each; the leaderboard, the queue and the class's results as CSV.

A run's figures are read from its folder (``metrics.jsonl``, ``config.json``) and kept per run until one of
the two files changes, so a page that redraws the table every few seconds re-reads only the runs that train.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..csvtext import csv_text
from ..jobs.kinds import JOB_KINDS
from ..jobs.manager import JobManager
from ..runs import FINAL_KINDS, Run
from .names import Namer

__all__ = ["RunRow", "class_table", "leaderboard", "queue", "results_csv", "forget_figures", "LIVE", "CSV_COLUMNS"]

LIVE = ("queued", "running", "paused")
CSV_COLUMNS = (
    "session",
    "run",
    "name",
    "kind",
    "status",
    "dataset",
    "model",
    "test_acc",
    "best_test_acc",
    "epochs",
    "time_s",
    "created",
    "device",
)


@dataclass(frozen=True)
class RunRow:
    session: str  # the session's anonymous name (names.Namer), or NO_SESSION
    run: str  # run id
    kind: str  # train, style, initrace, featvis
    status: str  # queued, running, paused, done, stopped, diverged, error, interrupted, damaged
    dataset: str
    model: str
    test_acc: float | None  # the latest epoch's test accuracy, in % (None: no epoch yet, or no accuracy)
    best_test_acc: float | None  # the best epoch's, in %
    epochs: int  # epochs with test figures
    time_s: float | None  # training time so far (the newest event's clock)
    created: str  # "YYYY-MM-DD HH:MM:SS", from the run id
    device: str  # where it trains or trained ("" before it starts)
    queue_position: int | None = None
    name: str = ""  # the name its student gave the run

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Figures:
    started: bool
    final: str | None
    test_acc: float | None
    best_test_acc: float | None
    epochs: int
    time_s: float | None
    device: str


def describe(spec: Any) -> tuple[str, str]:
    """(data set, model) of any kind's settings, read by shape (the teacher imports no other page's package):
    a RunConfig, an initialisation race (``base``), a style transfer (content + style, backbone), a feature
    visualisation (layer of a run), a photo's ImageNet top-5 (backbone)."""
    if hasattr(spec, "data") and hasattr(spec, "model"):
        return spec.data.dataset, spec.model.name
    if hasattr(spec, "base"):
        return describe(spec.base)[0], f"{describe(spec.base)[1]} (init race)"
    if hasattr(spec, "photo") and hasattr(spec, "backbone"):  # the Transfer page's ImageNet top-5 of a photo
        return "a photo", f"{spec.backbone} (ImageNet top-5)"
    settings = getattr(spec, "settings", spec)  # a StyleJob holds its StyleSettings
    if hasattr(settings, "backbone"):
        return f"{settings.content} + {settings.style}", settings.backbone
    if hasattr(spec, "layer") and hasattr(spec, "run_id"):
        return f"run {spec.run_id}", f"{spec.layer} (features)"
    return "", ""


def _read_figures(metrics: Path) -> _Figures:
    """The figures of one metrics.jsonl: only the last step event is decoded (a long run has thousands)."""
    started, final, device, accs, last_t = False, None, "", [], None
    last_step: bytes | None = None
    try:
        data = metrics.read_bytes()
    except OSError:
        data = b""
    lines = data.split(b"\n")[:-1]  # a last line without its newline was cut by a kill: left out
    for line in lines:
        if b'"kind":"step"' in line:
            last_step = line
            continue
        try:
            e = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(e, dict):
            continue
        kind = e.get("kind")
        if kind in ("start", "resumed"):
            started, final = True, None
            device = str(e.get("device") or device)
        elif kind in FINAL_KINDS:
            final = kind
        elif kind == "epoch" and isinstance(e.get("test_acc"), (int, float)):
            accs.append(100.0 * e["test_acc"])
        if isinstance(e.get("t"), (int, float)):
            last_t = e["t"]
    if last_step is not None:
        try:
            t = json.loads(last_step).get("t")
            last_t = t if isinstance(t, (int, float)) and (last_t is None or t > last_t) else last_t
        except (ValueError, AttributeError):
            pass
    return _Figures(started, final, accs[-1] if accs else None, max(accs) if accs else None, len(accs), last_t, device)


class _FigureCache:
    """run folder -> (its files' sizes and times, figures, data set and model): re-read when a file changes."""

    def __init__(self, limit: int = 20_000) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[tuple, _Figures, tuple[str, str] | None]] = {}
        self.limit = limit

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def get(self, run: Run) -> tuple[_Figures, tuple[str, str] | None]:
        stamp = tuple(_stat(p) for p in (run.metrics_path, run.config_path))
        key = str(run.dir)
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1], hit[2]
        figures = _read_figures(run.metrics_path)
        try:
            what = describe(run.config())
        except Exception:  # a damaged config.json (CheckpointError), or a kind's reader refusing it
            what = None
        with self._lock:
            if len(self._entries) >= self.limit:
                self._entries.clear()
            self._entries[key] = (stamp, figures, what)
        return figures, what


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = os.stat(path)
        return st.st_mtime_ns, st.st_size
    except OSError:
        return 0, -1


_cache = _FigureCache()


def forget_figures() -> None:
    """Drop the figures read so far (the benchmark's cold start; nothing else needs it)."""
    _cache.clear()


def _created(run_id: str) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.strptime(run_id[:15], "%Y%m%d-%H%M%S"))
    except ValueError:
        return ""


def _disk_runs(manager: JobManager) -> list[tuple[str, Run]]:
    """(kind, run) of every run folder of every kind, newest first. A kind's subfolder of the run store
    (style/, initrace/, ...) is never one of the training store's runs."""
    kinds = JOB_KINDS.names()
    stores = {k: manager.store_for(k) for k in kinds}
    roots = {s.root.resolve() for s in stores.values()}
    out = []
    for kind, store in stores.items():
        out += [(kind, r) for r in store.list() if r.dir.resolve() not in roots]
    return sorted(out, key=lambda kr: kr[1].run_id, reverse=True)


def class_table(manager: JobManager, namer: Namer) -> list[RunRow]:
    """Every run the manager holds or the run store lists, newest first, one row each."""
    jobs = {j.run_id: j for j in manager.jobs()}
    rows, seen = [], set()
    for kind, run in _disk_runs(manager):
        seen.add(run.run_id)
        rows.append(_row(manager, namer, kind, run, jobs.get(run.run_id)))
    for run_id, job in jobs.items():  # held in memory, its folder gone meanwhile
        if run_id not in seen:
            rows.append(_row(manager, namer, job.kind.name, job.run, job))
    return sorted(rows, key=lambda r: r.run, reverse=True)


def _row(manager: JobManager, namer: Namer, kind: str, run: Run, job: Any) -> RunRow:
    figures, what = _cache.get(run)
    if job is not None:
        status = manager.status(run.run_id, kind)
        what = what or describe(job.config)
        device = job.device or figures.device
    elif what is None:
        status, device = "damaged", figures.device
    else:  # not this server's: finished, or interrupted (no final event and no trainer)
        status = figures.final or "interrupted"
        device = figures.device
    dataset, model = what or ("?", "?")
    session = namer.name(job.owner) if job is not None else namer.name_digest(run.owner_digest())
    return RunRow(
        session=session,
        run=run.run_id,
        kind=kind,
        status=status,
        dataset=dataset,
        model=model,
        test_acc=_round(figures.test_acc),
        best_test_acc=_round(figures.best_test_acc),
        epochs=figures.epochs,
        time_s=None if status == "queued" else _round(figures.time_s),
        created=_created(run.run_id),
        device=device,
        queue_position=manager.queue_position(run.run_id) if status == "queued" else None,
        name=run.name,
    )


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 2)


def leaderboard(rows: list[RunRow]) -> list[dict[str, Any]]:
    """The best test accuracy per data set (the run's latest epoch), best data set first; ties: the earlier run."""
    best: dict[str, RunRow] = {}
    for r in sorted(rows, key=lambda r: r.run):
        if r.test_acc is not None and (r.dataset not in best or r.test_acc > (best[r.dataset].test_acc or 0.0)):
            best[r.dataset] = r
    return [
        {"dataset": d, "test_acc": r.test_acc, "session": r.session, "model": r.model, "run": r.run, "status": r.status}
        for d, r in sorted(best.items(), key=lambda dr: -(dr[1].test_acc or 0.0))
    ]


def queue(rows: list[RunRow], now: float | None = None) -> list[dict[str, Any]]:
    """The runs waiting for a slot, next first, with how long each has waited (since it was created)."""
    now = time.time() if now is None else now
    out = []
    for r in rows:
        if r.status != "queued":
            continue
        try:
            waited = max(0.0, now - time.mktime(time.strptime(r.created, "%Y-%m-%d %H:%M:%S")))
        except ValueError:
            waited = None
        out.append(
            {
                "position": r.queue_position,
                "session": r.session,
                "run": r.run,
                "kind": r.kind,
                "dataset": r.dataset,
                "model": r.model,
                "waited_s": None if waited is None else round(waited),
            }
        )
    return sorted(out, key=lambda q: (q["position"] is None, q["position"] or 0))


def results_csv(rows: list[RunRow]) -> str:
    """Every run of the class as CSV (one row per run; test accuracies in %; a student's run name that starts
    like a formula is quoted, ``csv_text``)."""
    return csv_text((r.as_dict() for r in rows), CSV_COLUMNS)
