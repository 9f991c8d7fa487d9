"""The run store on disk: one folder per run (``run_folder.Run``: its files and events), made, opened and
listed here.

    runs/<run_id>/     one run (see ``run_folder.py`` for its files)

Run ids sort by time and are unguessable (their random part). A damaged run (unreadable config.json
or metrics lines) is listed as "damaged" beside the good ones; temp files a killed writer left are
swept when a run is opened or listed; a full disk when a run is created is a PlaygroundError that
leaves no folder behind.
"""

from __future__ import annotations

import builtins
import re
import secrets
import time
from pathlib import Path
from typing import Callable, Generic

from .checkpoints import CHECKPOINT_FORMAT, load_checkpoint, saved_state
from .errors import CheckpointError, PlaygroundError
from .events import FINAL_KINDS
from .files import atomic_write_bytes, entries, is_disk_full, sweep_temp_files
from .identity import owner_digest, session_id
from .run_folder import DISK_FULL, C, Run
from .settings import settings

__all__ = [
    "RunStore",
    "Run",
    "owner_digest",
    "session_id",
    "CHECKPOINT_FORMAT",
    "DISK_FULL",
    "FINAL_KINDS",
    "load_checkpoint",
    "saved_state",
    "default_runs_root",
    "atomic_write_bytes",
    "is_disk_full",
    "sweep_temp_files",
]

_ID = re.compile(r"[A-Za-z0-9_-]{6,80}")  # whole names only (fullmatch: no trailing newline)


def default_runs_root() -> Path:
    return settings().runs_root


def new_run_id() -> str:
    # Sortable by time, unguessable by the random part.
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_urlsafe(9).replace("_", "x").replace("-", "y")


class RunStore(Generic[C]):
    def __init__(self, root: Path | str | None = None, parse: Callable[[str], C] | None = None) -> None:
        self.root = Path(root) if root is not None else default_runs_root()
        self.parse = parse  # how its runs' config.json is read (None: a RunConfig)

    def create(self, config: C) -> Run[C]:
        """A new run folder holding ``config``; a full disk is a PlaygroundError (and leaves no folder)."""
        data = config.to_json(indent=2).encode()
        self.root.mkdir(parents=True, exist_ok=True)
        run = Run(self.root / new_run_id(), self.parse)
        run.dir.mkdir()
        try:
            atomic_write_bytes(run.config_path, lambda f: f.write(data))
        except BaseException as e:
            run.dir.rmdir()  # an empty folder would be listed as a damaged run
            if is_disk_full(e):
                raise PlaygroundError(
                    f"The disk is full: no new run could be created in {self.root}. Free some "
                    "space (old runs live in the runs folder) and start it again."
                ) from None
            raise
        return run

    def open(self, run_id: str) -> Run[C]:
        """The run ``run_id``; sweeps the temp files a killed writer left in its folder."""
        if not isinstance(run_id, str) or not _ID.fullmatch(run_id):
            raise CheckpointError(f"{run_id!r} is not a run id.")
        run = Run(self.root / run_id, self.parse)
        if not run.config_path.is_file():
            if run.dir.is_dir():
                raise CheckpointError(
                    f"Run {run_id} is damaged: its folder {run.dir} has no config.json. Delete "
                    "the folder; the other runs are not affected."
                )
            raise CheckpointError(f"No run {run_id!r} in {self.root}.")
        sweep_temp_files(run.dir)
        return run

    def list(self) -> list[Run[C]]:
        """Every run folder, newest first, damaged ones too (``status()`` is "damaged", ``damage()``
        says why): one bad run never hides the others. Sweeps the temp files killed writers left."""
        runs = [Run(Path(e.path), self.parse) for e in entries(self.root) if _ID.fullmatch(e.name) and e.is_dir()]
        for run in runs:
            sweep_temp_files(run.dir)
        return sorted(runs, key=lambda r: r.run_id, reverse=True)

    def owned_by(self, owner: str) -> builtins.list[str]:  # builtins: ``list`` here is the method above
        """The ids of the runs the session with this token started, oldest first."""
        return sorted(r.run_id for r in self.list() if r.owned_by(owner))
