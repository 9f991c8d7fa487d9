"""A run folder that travels with a Ray job (``remote``): ``Mirror`` reports what changed in the actor's copy
since the last event (the new metrics lines, new or changed files, removed ones) and ``apply_changes`` writes
that into the server's run store (atomic files, appended lines). The trainer's lock and the run's control
key never travel, nor the temp files of atomic writers."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator

from ..errors import PlaygroundError
from ..files import atomic_write_bytes
from ..runs import Run

__all__ = ["Mirror", "apply_changes", "folder_files", "within"]

_SKIP = ("train.lock", "control.key")  # the trainer's lock and the run's key stay where they are


def _skipped(name: str) -> bool:
    return name in _SKIP or (name.startswith(".") and name.endswith(".tmp"))  # atomic writers' temp files


def folder_files(folder: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(path relative to ``folder``, stat) of every file of a run folder, its subfolders too."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not _skipped(path.name):
            yield path.relative_to(folder).as_posix(), path.stat()


def within(folder: Path, rel: str) -> Path:
    """``folder / rel``, refused (PlaygroundError) when it resolves outside ``folder``."""
    path = (folder / rel).resolve()
    if folder.resolve() not in path.parents:
        raise PlaygroundError(f"A Ray job sent back a file outside its run folder ({rel!r}); it was refused.")
    return path


class Mirror:
    """What changed in a run folder since the last call: the new lines of metrics.jsonl (or the whole
    file once it was rewritten, as a resume does) and every other file that is new or changed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen = {rel: (st.st_mtime_ns, st.st_size, st.st_ino) for rel, st in folder_files(folder)}
        st = self._metrics_stat()
        self.ino: int | None = st.st_ino if st else None  # the metrics file's, and how far it was read
        self.offset: int = st.st_size if st else 0

    def _metrics_stat(self):
        with contextlib.suppress(FileNotFoundError):
            return (self.folder / "metrics.jsonl").stat()
        return None

    def changes(self) -> dict[str, Any]:
        out: dict[str, Any] = {"metrics": None, "files": {}, "gone": []}
        st = self._metrics_stat()
        if st is not None:
            whole = st.st_ino != self.ino or st.st_size < self.offset
            with open(self.folder / "metrics.jsonl", "rb") as f:
                f.seek(0 if whole else self.offset)
                data = f.read()
            data = data[: data.rfind(b"\n") + 1]  # whole lines only: a line being written comes next time
            self.ino, self.offset = st.st_ino, (0 if whole else self.offset) + len(data)
            if whole or data:
                out["metrics"] = (whole, data)
        now = {}
        for rel, fst in folder_files(self.folder):
            if rel == "metrics.jsonl":
                continue
            now[rel] = key = (fst.st_mtime_ns, fst.st_size, fst.st_ino)
            if self.seen.get(rel) != key:
                with contextlib.suppress(FileNotFoundError):
                    out["files"][rel] = (self.folder / rel).read_bytes()
        out["gone"] = [rel for rel in self.seen if rel not in now and rel != "metrics.jsonl"]
        self.seen = now
        return out


def apply_changes(run: Run, changes: dict[str, Any] | None) -> None:
    """Write what a ``Mirror`` reported into the server's copy of the run (atomic files, appended lines)."""
    if not changes:
        return
    if changes["metrics"] is not None:
        whole, data = changes["metrics"]
        if whole:
            atomic_write_bytes(run.metrics_path, lambda f: f.write(data))
        else:
            with open(run.metrics_path, "ab") as f:
                f.write(data)
    for rel, data in changes["files"].items():
        path = within(run.dir, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, lambda f, data=data: f.write(data))
    for rel in changes["gone"]:
        within(run.dir, rel).unlink(missing_ok=True)
