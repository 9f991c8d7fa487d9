"""Safe extraction of an uploaded .zip in ImageFolder layout.

Only image files are written, each under the destination folder: entries
with absolute paths or ``..`` are refused, symlinks and special files
skipped, and the total size, file count and compression ratio are capped
before and while writing (a decompression bomb stops at the cap). The
session's uploads together stay under its quota (PLAYGROUND_UPLOAD_QUOTA_MB)
and one extraction under a time budget (PLAYGROUND_MAX_UNPACK_SECONDS).

A session's folder is named by its public id (``playground.runs.session_id``),
never by its secret token; a folder from before ids (named by the token) is
moved to the id's name when its session comes back (``adopt_legacy_uploads``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import shutil
import stat
import time
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from ..errors import ConfigError, DatasetUnavailable
from ..settings import settings
from .datasets import default_data_root
from .folder import IMG_EXTENSIONS

__all__ = [
    "extract_zip",
    "default_uploads_root",
    "session_folder",
    "sweep_uploads",
    "delete_session_uploads",
    "check_folder_allowed",
    "adopt_legacy_uploads",
    "note_upload_address",
    "upload_room",
    "folder_bytes",
    "MAX_FILES",
]

MAX_FILES = 100_000
MAX_RATIO = 200  # uncompressed / compressed, per file; images barely compress
_SAFE = re.compile(r"[^A-Za-z0-9._ -]")


def default_uploads_root() -> Path:
    return settings().uploads_root


def session_folder(session: str, root: Path | None = None) -> Path:
    """A per-session upload folder, named by the session's public id (sanitised into a name)."""
    name = _SAFE.sub("_", session)[:64] or "anonymous"
    return (root or default_uploads_root()) / name


def adopt_legacy_uploads(token: str, session: str, root: Path | None = None) -> None:
    """Uploads from before session ids lived in a folder named by the session's token: move them to the
    folder of its id (``session``), so the token leaves every path. Nothing happens when there is none."""
    old, new = session_folder(token, root), session_folder(session, root)
    if old != new and old.is_dir() and not old.is_symlink() and not new.exists():
        with contextlib.suppress(OSError):  # another tab of the same browser moved it first
            old.rename(new)


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (links not followed; 0 when it does not exist)."""
    total = 0
    for p in folder.rglob("*") if folder.is_dir() else ():
        with contextlib.suppress(OSError):
            st = p.lstat()
            total += st.st_size if stat.S_ISREG(st.st_mode) else 0
    return total


ADDRESS_FILE = ".address"  # in a session's upload folder: the SHA-256 of the client address it uploaded from


def _address_digest(address: str) -> str:
    return hashlib.sha256(address.encode()).hexdigest()  # the address itself is kept nowhere on disk


def note_upload_address(session: str, address: str | None, root: Path | None = None) -> None:
    """Record (as a digest) the client address a session uploads from: every session's uploads from one address
    count together against PLAYGROUND_UPLOAD_QUOTA_PER_ADDRESS_MB, so new sessions bring no new room."""
    if not address:
        return
    folder = session_folder(session, root)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ADDRESS_FILE).write_text(_address_digest(address))


def _address_bytes(address: str, but: Path, root: Path | None) -> int:
    """Bytes the uploads of the other sessions from ``address`` hold."""
    digest, total = _address_digest(address), 0
    base = root or default_uploads_root()
    for folder in base.iterdir() if base.is_dir() else ():
        marker = folder / ADDRESS_FILE
        try:
            if folder != but and not folder.is_symlink() and marker.is_file() and marker.read_text() == digest:
                total += folder_bytes(folder)
        except OSError:
            continue
    return total


def upload_room(
    session: str, replacing: Path | None = None, root: Path | None = None, address: str | None = None
) -> int:
    """Bytes this session may still unpack: its quota (PLAYGROUND_UPLOAD_QUOTA_MB) less what its uploads hold
    now (``replacing``: a folder about to be emptied, not counted); with ``address`` (the client's), also no more
    than what PLAYGROUND_UPLOAD_QUOTA_PER_ADDRESS_MB leaves after every other session from that address."""
    folder = session_folder(session, root)
    used = folder_bytes(folder) - (folder_bytes(replacing) if replacing is not None else 0)
    room = settings().upload_quota_mb * 2**20 - used
    per_address = settings().upload_quota_per_address_mb
    if address and per_address:
        room = min(room, per_address * 2**20 - used - _address_bytes(address, folder, root))
    return max(0, room)


def sweep_uploads(root: Path | None = None, max_age_hours: float | None = None, now: float | None = None) -> int:
    """Delete uploads untouched for longer than the TTL (PLAYGROUND_UPLOAD_TTL_HOURS) and the
    session folders left empty; returns how many uploads went. Streamlit does not say when a
    session ends, so age is the rule."""
    root = root or default_uploads_root()
    ttl = (settings().upload_ttl_hours if max_age_hours is None else max_age_hours) * 3600
    now = time.time() if now is None else now
    gone = 0
    if not root.is_dir():
        return 0
    for session in [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]:
        for upload in list(session.iterdir()):
            try:
                newest = max(
                    [upload.lstat().st_mtime] + [p.lstat().st_mtime for p in upload.rglob("*")]
                    if upload.is_dir() and not upload.is_symlink()
                    else [upload.lstat().st_mtime]
                )
                if now - newest > ttl:
                    if upload.is_dir() and not upload.is_symlink():
                        shutil.rmtree(upload)
                    else:
                        upload.unlink()
                    gone += 1
            except OSError:
                continue  # removed meanwhile
        try:
            session.rmdir()  # only when empty
        except OSError:
            pass
    return gone


def delete_session_uploads(session: str, root: Path | None = None) -> None:
    folder = session_folder(session, root)
    if folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)


def check_folder_allowed(path: str | Path, session: str, root: Path | None = None) -> Path:
    """On a shared server (PLAYGROUND_SERVER_FOLDERS=0) a session may read only its own uploads and
    the data folder; on a laptop, any folder. Returns the resolved path or raises ConfigError."""
    p = Path(path).expanduser().resolve()
    if settings().server_folders:
        return p
    allowed = [session_folder(session, root).resolve(), default_data_root().resolve()]
    if any(p == a or a in p.parents for a in allowed):
        return p
    raise ConfigError(
        "This server reads only your own uploads and its data folder: upload your images as a "
        ".zip on the Data page instead of giving a folder path."
    )


def _clean_parts(name: str) -> list[str] | None:
    """Path parts of a zip entry, or None if it tries to leave the folder."""
    name = name.replace("\\", "/")
    p = PurePosixPath(name)
    if p.is_absolute() or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [x for x in p.parts if x not in ("", ".")]
    if any(x == ".." for x in parts):
        return None
    return parts


def extract_zip(data: bytes | Path, dest: Path, room: int | None = None) -> tuple[Path, list[str]]:
    """Extract the images of a zip into ``dest`` (emptied first).

    Returns the folder to load (the single top folder when the zip wraps
    everything in one) and notes on what was skipped. Raises
    DatasetUnavailable with the reason when the archive is unusable, unpacks
    to more than ``room`` bytes (what the session's quota leaves: ``upload_room``)
    or takes longer than PLAYGROUND_MAX_UNPACK_SECONDS.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise DatasetUnavailable(
            "That file is not a readable .zip archive. Zip a folder with one "
            "sub-folder per class (cats/1.jpg, dogs/2.jpg) and upload it again."
        ) from None
    try:
        return _extract(zf, dest, room)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)  # nothing half-written stays behind
        raise


def _limit(room: int | None) -> tuple[int, str]:
    cap = settings().max_unzipped_mb * 2**20
    if room is not None and room < cap:
        s = settings()
        shared = (
            (
                f"; {s.upload_quota_per_address_mb:,} MB for every session from your network address together, "
                "PLAYGROUND_UPLOAD_QUOTA_PER_ADDRESS_MB"
            )
            if s.upload_quota_per_address_mb
            else ""
        )
        return room, (
            f"the room left in your uploads ({room / 2**20:,.0f} MB: {s.upload_quota_mb:,} MB each, "
            f"PLAYGROUND_UPLOAD_QUOTA_MB{shared}): delete your older uploads on the Data page first"
        )
    return cap, f"the limit of {cap / 2**20:,.0f} MB per archive: upload fewer or smaller images"


def _extract(zf: zipfile.ZipFile, dest: Path, room: int | None) -> tuple[Path, list[str]]:
    notes: list[str] = []
    skipped = {"unsafe path": 0, "link or special file": 0, "not an image": 0}
    max_total, why = _limit(room)
    budget = settings().max_unpack_seconds
    deadline = time.monotonic() + budget
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_FILES:
            raise DatasetUnavailable(f"The archive holds {len(infos):,} entries; the limit is {MAX_FILES:,}.")
        declared = sum(i.file_size for i in infos)
        if declared > max_total:
            raise DatasetUnavailable(f"The archive unpacks to {declared / 2**20:,.0f} MB, over {why}.")
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        dest_resolved = dest.resolve()
        written = 0
        for info in infos:
            if time.monotonic() > deadline:
                raise DatasetUnavailable(
                    f"Unpacking the archive took longer than {budget:g} s "
                    "(PLAYGROUND_MAX_UNPACK_SECONDS): upload fewer, larger files in it."
                )
            if info.is_dir():
                continue
            target = _target(info, dest, dest_resolved)
            if isinstance(target, str):
                skipped[target] += 1
                continue
            written = _copy_entry(zf, info, target, written, max_total, why)
    for what, n in skipped.items():
        if n:
            notes.append(f"skipped {n} {what} entr{'y' if n == 1 else 'ies'}")
    root = dest
    children = [c for c in dest.iterdir()]
    if len(children) == 1 and children[0].is_dir():
        inner = [c for c in children[0].iterdir() if c.is_dir()]
        if inner:  # zip of the folder itself: dataset/cats/..., dataset/dogs/...
            root = children[0]
    if not any(root.rglob("*")):
        raise DatasetUnavailable(
            "The archive holds no images. Put each class's images in a folder named after "
            "the class, zip the folders together and upload again."
        )
    return root, notes


def _target(info: zipfile.ZipInfo, dest: Path, dest_resolved: Path) -> Path | str:
    """Where an entry is unpacked, or why it is skipped ("unsafe path", "link or special file", "not an
    image"); a likely decompression bomb is refused."""
    parts = _clean_parts(info.filename)
    if parts is None:
        return "unsafe path"
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver recorded no type
    if kind and kind != stat.S_IFREG:  # symlinks, devices, fifos
        return "link or special file"
    if (
        parts[0] == "__MACOSX"
        or parts[-1].startswith(".")
        or PurePosixPath(parts[-1]).suffix.lower() not in IMG_EXTENSIONS
    ):
        return "not an image"
    if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
        raise DatasetUnavailable(
            f"{info.filename} expands {info.file_size // info.compress_size}x: refused as a likely decompression bomb."
        )
    target = dest.joinpath(*parts)
    if not target.resolve().is_relative_to(dest_resolved):  # belt and braces
        return "unsafe path"
    return target


def _copy_entry(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, written: int, max_total: int, why: str
) -> int:
    """Unpack one entry to ``target`` -> the bytes written so far, this entry's included."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, open(target, "wb") as out:
            while chunk := src.read(1 << 20):  # actual bytes, not the declared size, count
                written += len(chunk)
                if written > max_total:
                    raise DatasetUnavailable(
                        f"The archive unpacks to more than its declared size, over {why}; refused."
                    )
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, EOFError, OSError) as e:
        # encrypted entries, unsupported compression, bad CRCs, a file where a folder must go
        raise DatasetUnavailable(
            f"Could not unpack {info.filename!r} ({type(e).__name__}: {e}). "
            "Zip the folders again without a password and upload that."
        ) from None
    return written
