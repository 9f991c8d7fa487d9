"""Files that survive kills and full disks: atomic writes (temp file, fsync, rename) whose temp files
are locked while written, the sweep of the temp files killed writers left, exclusive locks, and the
one test of "the disk is full" however it was raised (the run store and every writer use these); the check
of a path a command was told to write (``output_file``), made before any work is done."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import sys
import time
from pathlib import Path

from .errors import PlaygroundError

if sys.platform == "win32":  # not a POSIX system: runs are not locked, temp files are swept by age alone
    fcntl = None
else:
    import fcntl

__all__ = [
    "atomic_write_bytes",
    "entries",
    "is_disk_full",
    "output_file",
    "sweep_temp_files",
    "try_lock",
    "STALE_TMP_S",
]

_TMP = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")  # atomic_write_bytes' temp files
STALE_TMP_S = 60.0  # a temp file older than this, and not locked by its writer, was left by a killed one
_FULL_TEXT = (
    "No space left",
    "Disk quota",
    "PytorchStreamWriter failed writing",
    "file write failed",
    "unexpected pos",
)  # how torch's zip writer reports a write the disk refused


def is_disk_full(e: BaseException | None) -> bool:
    """A full disk or quota, however it was raised: OSError(ENOSPC/EDQUOT) anywhere in the chain, or
    torch's RuntimeError from its file writer."""
    while e is not None:
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(e, RuntimeError) and any(s in str(e) for s in _FULL_TEXT):
            return True
        e = e.__cause__ or e.__context__
    return False


def try_lock(fd: int, blocking: bool) -> bool:
    """An exclusive flock on ``fd``; False when another open file holds it (non-blocking)."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError as e:  # a file system without locks (ENOLCK, EOPNOTSUPP): work unlocked rather than not at all
        return e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES)
    return True


def atomic_write_bytes(path: Path, write) -> None:
    """``write(f)`` into a temp file beside ``path``, then rename it over ``path``. The temp file is
    flocked until it is renamed, so the sweep never deletes one a live writer holds. A full disk is
    raised as OSError(ENOSPC) whatever the writer raised."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            try_lock(f.fileno(), blocking=True)
            try:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            except RuntimeError as e:
                if not is_disk_full(e):
                    raise
                code = errno.EDQUOT if "quota" in str(e).lower() else errno.ENOSPC
                raise OSError(code, f"{os.strerror(code)}: writing {path.name} failed ({e})") from e
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def output_file(path: Path | str, flag: str) -> Path:
    """``path`` checked as a file the caller may create or replace, before the work that fills it: not a
    folder, in a folder that exists and may be written (a rename into it replaces the file). Raises
    PlaygroundError saying what to do; ``flag`` names where the path came from (``--onnx``)."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise PlaygroundError(f"{flag} {p} is a folder; give the path of a file in it, e.g. {p / 'name'}.")
    folder = p.parent
    if not folder.is_dir():
        raise PlaygroundError(f"The folder of {flag} {p} ({folder}) does not exist; create it or give another path.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PlaygroundError(f"Cannot write {flag} {p}: the folder {folder} is not writable; give another path.")
    return p


def entries(folder: Path) -> list[os.DirEntry]:
    with contextlib.suppress(OSError), os.scandir(folder) as it:
        return list(it)
    return []


def sweep_temp_files(folder: Path, older_than: float = STALE_TMP_S) -> int:
    """Delete the temp files killed writers left in ``folder`` and its subfolders (snapshots/): older
    than ``older_than`` seconds and not locked by a live writer. -> how many were deleted."""
    n, now = 0, time.time()
    found = entries(folder)
    found += [e for d in found if d.is_dir(follow_symlinks=False) for e in entries(Path(d.path))]
    for e in found:
        if not _TMP.match(e.name):
            continue
        with contextlib.suppress(OSError), open(e.path, "rb") as f:  # renamed meanwhile, or not ours to delete
            if now - os.fstat(f.fileno()).st_mtime >= older_than and try_lock(f.fileno(), blocking=False):
                os.unlink(e.path)  # its writer is gone (a kill drops the lock)
                n += 1
    return n
