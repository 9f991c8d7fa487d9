"""One run's folder (``Run``): its settings, append-only metrics, atomic checkpoints, lock, key and name.

    runs/<run_id>/config.json      the RunConfig
                  metrics.jsonl    one event per line, flushed as it happens
                  checkpoint.pt    resumable state at the last finished epoch
                  model.pt         final weights + config (done or stopped)
                  train.lock       flocked by the one process that trains the run (``Run.lock``)
                  control.key      the key whose holder controls the run (a link's ``?ctl=``)
                  owner.sha256     the starting session's id (``identity.session_id``: its runs come back after
                                   a reload or a server restart; the token itself is never stored)
                  name.txt         the name its student gave it (optional)

The store that makes, opens and lists these folders is ``runs.py``. A killed process loses at most
the epoch in progress: ``engine.resume`` continues from checkpoint.pt. Checkpoints are read with
``weights_only=True``, so pickled code is refused, not run. A run whose config.json or metrics lines
cannot be read says why (``Run.damage``); a full disk is always an OSError(ENOSPC) (torch.save raises
RuntimeError for it), which the engine reports as ``DISK_FULL``.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Generic, Iterator, Mapping, Protocol, cast

import torch
from typing_extensions import TypeVar  # a TypeVar's default (PEP 696) on Python 3.11; comes with torch

from .checkpoints import CHECKPOINT_FORMAT, load_checkpoint
from .config import RunConfig
from .csvtext import csv_text
from .errors import CheckpointError, PlaygroundError
from .events import FINAL_KINDS
from .files import atomic_write_bytes, try_lock
from .identity import owner_digest

__all__ = ["Run", "Settings", "DISK_FULL", "RESUMABLE", "MAX_NAME"]

RESUMABLE = ("running", "created", "stopped", "diverged", "error")  # running/created, with no trainer: interrupted
LOCK_GRACE_S = 0.1  # a trainer retries this long (busy() and the sweep hold a lock for microseconds)
MAX_NAME = 40  # characters of a run's name
C = TypeVar("C", bound="Settings", default=RunConfig)  # what a store's config.json parses to (RunStore[C], Run[C])


class Settings(Protocol):  # what a run store keeps in config.json: a RunConfig, or a job kind's own settings
    def to_json(self, **kw: Any) -> str: ...


DISK_FULL = (
    "The disk is full: the run could not write its metrics or checkpoint. "
    "Free some space (old runs live in the runs folder) and resume it."
)


@dataclass
class Run(Generic[C]):
    """One run's folder. Appends are serialised by a lock (one writer thread); one trainer at a time (``lock``)."""

    dir: Path
    parse: Callable[[str], C] | None = None  # the settings' reader: RunConfig.from_json (training; None), or the kind's

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.skipped_lines = 0  # lines of metrics.jsonl the last read skipped (not JSON event objects)
        self.unreadable: str | None = None  # why metrics.jsonl could not be opened at the last read

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

    def weights_path(self) -> Path | None:
        """The run's saved weights: model.pt (done or stopped), else checkpoint.pt (the last finished
        epoch, or the step an interrupted run reached), else None."""
        return next((p for p in (self.model_path, self.checkpoint_path) if p.is_file()), None)

    @property
    def lock_path(self) -> Path:
        return self.dir / "train.lock"

    def config(self) -> C:
        """The run's RunConfig (or its kind's: ``parse``); a missing or damaged config.json is a CheckpointError."""
        where = f"Run {self.run_id} is damaged: {self.config_path}"
        fix = "Delete the run's folder (the other runs are not affected), or repair the file."
        try:
            parse = self.parse or cast(Callable[[str], C], RunConfig.from_json)  # no parse: a training run's store
            return parse(self.config_path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            raise CheckpointError(f"{where} is missing. Delete the run's folder (the others are fine).") from None
        except UnicodeDecodeError:
            raise CheckpointError(f"{where} is not UTF-8 text. {fix}") from None
        except OSError as e:
            raise CheckpointError(f"{where} cannot be read ({e.strerror}). {fix}") from None
        except (ValueError, TypeError, KeyError, RecursionError) as e:  # bad JSON, not its settings (ConfigError)
            raise CheckpointError(f"{where} is not a valid run configuration ({e}). {fix}") from None

    def append(self, event: Mapping[str, Any]) -> None:
        """One event as one line; a write the disk refuses is cut off again (a partial line would join the next)."""
        line = memoryview((json.dumps(event, separators=(",", ":")) + "\n").encode())
        with self._lock:
            fd = os.open(self.metrics_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                end = os.lseek(fd, 0, os.SEEK_END)
                try:
                    while line:
                        line = line[os.write(fd, line) :]
                except OSError:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, end)
                    raise
            finally:
                os.close(fd)

    def events(self) -> list[dict[str, Any]]:
        return list(self.iter_events())  # skipped lines: see skipped_lines

    def iter_events(self) -> Iterator[dict[str, Any]]:
        """The events in order. A last line without its newline (cut by a kill) is left out; lines
        that are not JSON objects with a "kind" are skipped and counted in ``skipped_lines``."""
        self.skipped_lines, self.unreadable = 0, None
        try:
            f = open(self.metrics_path, "rb")
        except FileNotFoundError:
            return
        except OSError as e:  # a folder in its place, no permission: the run is damaged, never the page
            self.unreadable = e.strerror or type(e).__name__
            return
        with f:
            for line in f:
                if not line.endswith(b"\n"):
                    break  # a line cut by a kill: ignore the partial tail
                if not line.strip():
                    continue
                try:
                    ev = json.loads(line)
                except (ValueError, RecursionError):  # not JSON, not UTF-8
                    ev = None
                if isinstance(ev, dict) and isinstance(ev.get("kind"), str):
                    yield ev
                else:
                    self.skipped_lines += 1

    def _progress(self) -> str:
        last = None
        for e in self.iter_events():
            if e["kind"] in FINAL_KINDS or e["kind"] in ("start", "resumed"):
                last = e["kind"]
        if last in FINAL_KINDS:
            return last
        return "running" if last else "created"

    def damage(self) -> str | None:
        """Why the run is damaged (its config.json unreadable, lines of metrics.jsonl that are not
        events), or None."""
        try:
            self.config()
        except CheckpointError as e:
            return str(e)
        self._progress()
        if self.unreadable:
            return (
                f"Run {self.run_id} is damaged: its metrics file cannot be read ({self.unreadable}). Delete the "
                "run's folder; the other runs are not affected."
            )
        if self.skipped_lines:
            return (
                f"Run {self.run_id} is damaged: {self.skipped_lines} line(s) of {self.metrics_path} are not "
                "events and were skipped. Resuming the run rewrites the file without them."
            )
        return None

    def status(self) -> str:
        """created, running (no final event yet: live, or interrupted if no worker has it), the final
        kind (done, stopped, diverged, error), or damaged (see ``damage``)."""
        return "damaged" if self.damage() is not None else self._progress()

    def resumable(self) -> bool:
        """Whether ``engine.resume`` can continue the run from a checkpoint: one exists, the config is
        readable, no trainer holds the run, and it ended early: interrupted, stopped, diverged or error."""
        if not self.checkpoint_path.is_file() or self.busy():
            return False
        try:
            self.config()
        except CheckpointError:
            return False
        return self._progress() in RESUMABLE

    def lock(self) -> BinaryIO:
        """Take the right to train this run: the open, flocked lock file; closing it (or leaving its
        ``with``) releases it, and so does the death of the process. Raises PlaygroundError at once
        when another trainer (a process, or another thread of this one) holds it."""
        f = open(self.lock_path, "a+b", buffering=0)  # unbuffered: nothing left to fail at close
        deadline = time.monotonic() + LOCK_GRACE_S
        while not try_lock(f.fileno(), blocking=False):
            if time.monotonic() >= deadline:
                with f:
                    f.seek(0)
                    pid = f.read(16).decode(errors="replace").strip()
                who = f" (pid {pid})" if pid.isdigit() and int(pid) != os.getpid() else ""
                raise PlaygroundError(
                    f"Run {self.run_id} is being trained by another process{who}. Wait until it has finished, or "
                    "stop it there, before resuming it; a second trainer would write every epoch twice."
                )
            time.sleep(0.01)
        with contextlib.suppress(OSError):  # who holds it, for the message above; a full disk must not stop it
            f.truncate(0)
            f.write(f"{os.getpid()}\n".encode())
        return f

    def busy(self) -> bool:
        """Whether a trainer holds the run now (``lock``)."""
        with contextlib.suppress(OSError), open(self.lock_path, "rb") as f:
            return not try_lock(f.fileno(), blocking=False)  # closing drops the probe's own lock at once
        return False

    def truncate_after_epoch(self, epochs_done: int, step: int | None = None, upto: int | None = None) -> None:
        """Keep events up to the end of ``epochs_done`` epochs (for resume) and, with ``step`` (saved within
        the next epoch), the step events up to it; atomic; drops non-events."""
        keep: list[dict[str, Any]] = []
        for e in self.iter_events():
            ep = e.get("epoch")
            done = isinstance(ep, (int, float)) and ep < epochs_done
            within = step is not None and e["kind"] == "step" and isinstance(e.get("step"), int) and e["step"] <= step
            if (e["kind"] in ("step", "epoch") and not (done or within)) or e["kind"] in FINAL_KINDS:
                continue
            if e["kind"] == "set" and upto is not None and e.get("step", 0) > upto:  # after the checkpoint
                continue
            keep.append(e)
        data = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in keep).encode()
        with self._lock:
            atomic_write_bytes(self.metrics_path, lambda f: f.write(data))

    def metrics_csv(self) -> str:
        """Step and epoch metrics as CSV, one row per event. The columns are the events' own scalar
        fields (so each task's metrics appear: acc, psnr, ...); lists and tables (confusion
        matrices, histograms, images) are left out; text that starts like a formula is quoted (``csv_text``)."""
        rows = [e for e in self.iter_events() if e["kind"] in ("step", "epoch", "set")]
        cols: dict[str, None] = {"kind": None}
        for e in rows:
            cols.update((k, None) for k, v in e.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool))
        return csv_text(rows, list(cols))

    def write_control_key(self, key: str, owner: str | None = None) -> None:
        """The control key, and (``owner``) the digest of the session token that started the run."""
        path = self.dir / "control.key"
        atomic_write_bytes(path, lambda f: f.write(key.encode()))
        path.chmod(0o600)
        if owner:
            atomic_write_bytes(self.dir / "owner.sha256", lambda f: f.write(owner_digest(owner).encode()))

    def owned_by(self, owner: str) -> bool:
        return hmac.compare_digest(self.owner_digest() or "", owner_digest(owner))

    def owner_digest(self) -> str | None:
        """The digest of the token of the session that started the run (None: the CLI, or an older run)."""
        try:
            return (self.dir / "owner.sha256").read_text().strip() or None
        except (OSError, UnicodeDecodeError):
            return None

    @property
    def name(self) -> str:
        """The run's name ("" when it has none)."""
        try:
            return (self.dir / "name.txt").read_text(encoding="utf-8").strip()[:MAX_NAME]
        except (OSError, UnicodeDecodeError):
            return ""

    def set_name(self, name: str) -> str:
        """Name the run (at most MAX_NAME characters of one line; "" removes the name). Returns the name kept."""
        clean = " ".join("".join(ch if ch.isprintable() else " " for ch in str(name)).split())[:MAX_NAME]
        path = self.dir / "name.txt"
        if clean:
            atomic_write_bytes(path, lambda f: f.write(clean.encode("utf-8")))
        else:
            path.unlink(missing_ok=True)
        return clean

    def label(self) -> str:
        """How lists show the run: its name with the end of its id, or the id."""
        name = self.name
        return f"{name} · {self.run_id[-6:]}" if name else self.run_id

    def control_key(self) -> str | None:
        """The run's control key (None: none, or unreadable: then nobody holds it by key)."""
        try:
            return (self.dir / "control.key").read_text().strip() or None
        except (OSError, UnicodeDecodeError):
            return None

    def save_checkpoint(self, state: dict[str, Any], final: bool = False) -> Path:
        path = self.model_path if final else self.checkpoint_path
        state = {"format": CHECKPOINT_FORMAT, **state}
        atomic_write_bytes(path, lambda f: torch.save(state, f))
        return path

    def load_checkpoint(self, final: bool = False, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        return load_checkpoint(self.model_path if final else self.checkpoint_path, map_location)
