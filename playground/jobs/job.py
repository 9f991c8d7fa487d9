"""One job of the job manager: what was submitted, who may control it, its buffer and where it runs."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from ..runs import Run
from .controls import Controls
from .kinds import JobKind

__all__ = ["Job"]


@dataclass
class Job:
    run: Run
    config: Any  # what was submitted: a RunConfig (training), a StyleJob (style transfer)
    owner: str
    kind: JobKind
    buffer: Any  # the kind's buffer (a RunBuffer for training)
    resume: bool = False
    controls: Controls = field(default_factory=Controls)
    # Who may stop/pause/resume it: the session that started it, and whoever has this key
    # (the app keeps it in that session's URL so a reload keeps control; run links without it view).
    control_key: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    state: str = "queued"  # queued, running, done, stopped, diverged, error, interrupted
    thread: threading.Thread | None = None  # this process's thread that runs or follows the job
    worker: Any = None  # its WorkerProcess, when runs train in worker processes
    released: bool = False  # paused so long that its slot went to the next run; re-queued on resume
    device: str | None = None  # the GPU the manager placed it on (None: its own setting, e.g. the CPU)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def live(self) -> bool:
        return self.state in ("queued", "running")
