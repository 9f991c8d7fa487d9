"""Run store on disk: one folder per run, append-only metrics, atomic checkpoints.

    runs/<run_id>/config.json      the RunConfig
                  metrics.jsonl    one event per line, flushed as it happens
                  checkpoint.pt    resumable state at the last finished epoch
                  model.pt         final weights + config (done or stopped)

A killed process loses at most the epoch in progress: ``engine.resume``
continues from checkpoint.pt. Checkpoints are read with ``weights_only=True``,
so a file carrying pickled code is refused, not run.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from .config import RunConfig
from .errors import CheckpointError
from .settings import settings

__all__ = ["RunStore", "Run", "CHECKPOINT_FORMAT", "load_checkpoint", "default_runs_root"]

CHECKPOINT_FORMAT = "cnn-playground/1"
_ID = re.compile(r"^[A-Za-z0-9_-]{6,80}$")
FINAL_KINDS = ("done", "stopped", "diverged", "error")


def default_runs_root() -> Path:
    return settings().runs_root


def new_run_id() -> str:
    # Sortable by time, unguessable by the random part.
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_urlsafe(9).replace("_", "x").replace("-", "y")


def atomic_write_bytes(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: Path | str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read one of our checkpoints; anything else gets a CheckpointError saying why."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}.")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle with code (UnpicklingError), truncated zip, not a torch file
        raise CheckpointError(
            f"{path.name} is not a readable CNN Playground checkpoint ({type(e).__name__}). "
            "It may be corrupt, truncated, or hold code, which is refused; use a .pt saved by the playground."
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT or "model" not in ckpt:
        raise CheckpointError(
            f"{path.name} is a PyTorch file but not a CNN Playground checkpoint "
            f"(expected format {CHECKPOINT_FORMAT!r} with a model state dict)."
        )
    return ckpt


@dataclass
class Run:
    """One run's folder. Appends are serialised by a lock (one writer thread per run)."""

    dir: Path

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @property
    def run_id(self) -> str:
        return self.dir.name

    @property
    def config_path(self) -> Path:
        return self.dir / "config.json"

    @property
    def metrics_path(self) -> Path:
        return self.dir / "metrics.jsonl"

    @property
    def checkpoint_path(self) -> Path:
        return self.dir / "checkpoint.pt"

    @property
    def model_path(self) -> Path:
        return self.dir / "model.pt"

    def config(self) -> RunConfig:
        return RunConfig.from_json(self.config_path.read_text())

    def append(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, separators=(",", ":")) + "\n"
        with self._lock, open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()

    def events(self) -> list[dict[str, Any]]:
        return list(self.iter_events())

    def iter_events(self) -> Iterator[dict[str, Any]]:
        if not self.metrics_path.exists():
            return
        with open(self.metrics_path, encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):
                    break  # a line cut by a kill: ignore the partial tail
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue

    def status(self) -> str:
        """created, running (no final event yet: live, or interrupted if no worker has it),
        or the final kind: done, stopped, diverged, error."""
        last = None
        for e in self.iter_events():
            if e.get("kind") in FINAL_KINDS or e.get("kind") in ("start", "resumed"):
                last = e["kind"]
        if last in FINAL_KINDS:
            return last
        return "running" if last else "created"

    def truncate_after_epoch(self, epochs_done: int) -> None:
        """Keep events up to the end of ``epochs_done`` epochs (for resume); atomic."""
        keep: list[dict[str, Any]] = []
        for e in self.iter_events():
            if e.get("kind") in ("step", "epoch") and e.get("epoch", 0) >= epochs_done:
                continue
            if e.get("kind") in FINAL_KINDS:
                continue
            keep.append(e)
        data = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in keep).encode()
        with self._lock:
            atomic_write_bytes(self.metrics_path, lambda f: f.write(data))

    def metrics_csv(self) -> str:
        """Step and epoch metrics as CSV, one row per event. The columns are the events' own scalar
        fields (so each task's metrics appear: acc, psnr, ...); lists and tables (confusion
        matrices, histograms, images) are left out."""
        import csv
        import io

        rows = [e for e in self.iter_events() if e.get("kind") in ("step", "epoch")]
        cols: dict[str, None] = {"kind": None}
        for e in rows:
            cols.update((k, None) for k, v in e.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool))
        out = io.StringIO()
        w = csv.DictWriter(out, fieldnames=list(cols), extrasaction="ignore")
        w.writeheader()
        for e in rows:
            w.writerow({k: e.get(k) for k in cols})
        return out.getvalue()

    def write_control_key(self, key: str) -> None:
        path = self.dir / "control.key"
        atomic_write_bytes(path, lambda f: f.write(key.encode()))
        path.chmod(0o600)

    def control_key(self) -> str | None:
        path = self.dir / "control.key"
        return path.read_text().strip() if path.exists() else None

    def save_checkpoint(self, state: dict[str, Any], final: bool = False) -> Path:
        path = self.model_path if final else self.checkpoint_path
        state = {"format": CHECKPOINT_FORMAT, **state}
        atomic_write_bytes(path, lambda f: torch.save(state, f))
        return path

    def load_checkpoint(self, final: bool = False, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        return load_checkpoint(self.model_path if final else self.checkpoint_path, map_location)


class RunStore:
    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_runs_root()

    def create(self, config: RunConfig) -> Run:
        self.root.mkdir(parents=True, exist_ok=True)
        run = Run(self.root / new_run_id())
        run.dir.mkdir()
        data = config.to_json(indent=2).encode()
        atomic_write_bytes(run.config_path, lambda f: f.write(data))
        return run

    def open(self, run_id: str) -> Run:
        if not _ID.match(run_id or ""):
            raise CheckpointError(f"{run_id!r} is not a run id.")
        run = Run(self.root / run_id)
        if not run.config_path.is_file():
            raise CheckpointError(f"No run {run_id!r} in {self.root}.")
        return run

    def list(self) -> list[Run]:
        if not self.root.is_dir():
            return []
        runs = [Run(p) for p in self.root.iterdir() if _ID.match(p.name) and (p / "config.json").is_file()]
        return sorted(runs, key=lambda r: r.run_id, reverse=True)
