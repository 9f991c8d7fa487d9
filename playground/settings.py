"""Settings: every environment variable the playground reads, read here and nowhere else.

Every setting has a laptop-friendly default; ``PLAYGROUND_CLASSROOM=1`` switches the
defaults of the sharing settings to the safe ones for a server many people open at once
(each can still be set on its own). Read on every call, so a test or a restart with
other values takes effect without code changes. (``TORCH_HOME``, where pretrained weights
are cached, is torch's own variable: ``torch.hub.get_dir()`` reads it.)

=============================  ========  ==========  =================================================
variable                       laptop    classroom   meaning
=============================  ========  ==========  =================================================
PLAYGROUND_DATA                ./data    same        where torchvision data sets are found or downloaded
PLAYGROUND_RUNS                ./runs    same        the run store (one folder per run)
PLAYGROUND_UPLOADS             ./uploads same        per-session upload folders
PLAYGROUND_MAX_JOBS            (auto)    same        runs training at once (default: 1 per GPU, 1 on a CPU)
PLAYGROUND_MAX_STYLE_JOBS      (auto)    same        style transfers running at once (all sessions)
PLAYGROUND_MAX_QUEUED          100       same        runs waiting; more are refused with a message
PLAYGROUND_MAX_FINISHED        200       same        finished runs kept in memory (the rest: from disk)
PLAYGROUND_MAX_DATASET_MB      4096      same        largest data set held in memory (decoded, uint8)
PLAYGROUND_DATA_CACHE_MB       6144      same        all cached data sets together (least recently used go)
PLAYGROUND_MAX_UNZIPPED_MB     1024      same        an uploaded .zip, unpacked
PLAYGROUND_UPLOAD_TTL_HOURS    24        same        uploads older than this are deleted
PLAYGROUND_SHARE_RUNS          view      view        another session's run link: "view" (read-only) or "none"
PLAYGROUND_SERVER_FOLDERS      1         0           may a page read any folder on the server (1) or only
                                                     the session's uploads and the data folder (0)
=============================  ========  ==========  =================================================
The upload size itself is Streamlit's ``server.maxUploadSize`` (.streamlit/config.toml, 200 MB).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

__all__ = ["Settings", "settings"]


@dataclass(frozen=True)
class Settings:
    classroom: bool
    data_root: Path
    runs_root: Path
    uploads_root: Path
    max_jobs: int  # default: one per GPU, one on a CPU
    max_style_jobs: int  # default: the same
    max_unzipped_mb: int
    max_queued: int
    max_finished: int
    max_dataset_mb: int
    data_cache_mb: int
    upload_ttl_hours: float
    share_runs: str
    server_folders: bool


def _int(name: str, default: int, lo: int = 1) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number (got {raw!r}).") from None
    if value < lo:
        raise ConfigError(f"{name} must be at least {lo} (got {value}).")
    return value


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0 (got {raw!r}).")


def _per_device() -> int:
    """One job per GPU, one on a CPU."""
    import torch  # only when the setting is not given: settings() itself stays cheap to import

    return max(1, torch.cuda.device_count()) if torch.cuda.is_available() else 1


def settings() -> Settings:
    classroom = _flag("PLAYGROUND_CLASSROOM", False)
    share = os.environ.get("PLAYGROUND_SHARE_RUNS") or "view"
    if share not in ("view", "none"):
        raise ConfigError(f"PLAYGROUND_SHARE_RUNS must be 'view' or 'none' (got {share!r}).")
    return Settings(
        classroom=classroom,
        data_root=Path(os.environ.get("PLAYGROUND_DATA") or "./data"),
        runs_root=Path(os.environ.get("PLAYGROUND_RUNS") or "./runs"),
        uploads_root=Path(os.environ.get("PLAYGROUND_UPLOADS") or "./uploads"),
        max_jobs=_int("PLAYGROUND_MAX_JOBS", 0) or _per_device(),
        max_style_jobs=_int("PLAYGROUND_MAX_STYLE_JOBS", 0) or _per_device(),
        max_unzipped_mb=_int("PLAYGROUND_MAX_UNZIPPED_MB", 1024),
        max_queued=_int("PLAYGROUND_MAX_QUEUED", 100),
        max_finished=_int("PLAYGROUND_MAX_FINISHED", 200, lo=0),
        max_dataset_mb=_int("PLAYGROUND_MAX_DATASET_MB", 4096),
        data_cache_mb=_int("PLAYGROUND_DATA_CACHE_MB", 6144),
        upload_ttl_hours=float(_int("PLAYGROUND_UPLOAD_TTL_HOURS", 24)),
        share_runs=share,
        server_folders=_flag("PLAYGROUND_SERVER_FOLDERS", not classroom),
    )
