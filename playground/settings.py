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
PLAYGROUND_CACHE               (XDG)     same        files the playground can redraw, kept to start faster (the
                                                     default `shapes`, 31 MB): $XDG_CACHE_HOME/cnn-playground,
                                                     else ~/.cache/cnn-playground; "off": none
PLAYGROUND_RUNS                ./runs    same        the run store (one folder per run)
PLAYGROUND_UPLOADS             ./uploads same        per-session upload folders
PLAYGROUND_MAX_JOBS            (auto)    same        jobs running at once, every kind (JOBS_PER_GPU per GPU, 1 on a CPU)
PLAYGROUND_JOBS_PER_GPU        1         same        jobs placed on one GPU at once (small CNNs leave an H100 idle)
PLAYGROUND_MAX_QUEUED          100       same        runs waiting; more are refused with a message
PLAYGROUND_MAX_FINISHED        200       same        finished runs kept in memory (the rest: from disk)
PLAYGROUND_MAX_DATASET_MB      4096      same        largest data set held in memory (decoded, uint8)
PLAYGROUND_DATA_CACHE_MB       6144      same        all cached data sets together (least recently used go)
PLAYGROUND_MAX_UNZIPPED_MB     1024      same        an uploaded .zip, unpacked
PLAYGROUND_UPLOAD_TTL_HOURS    24        same        uploads older than this are deleted
PLAYGROUND_UPLOAD_QUOTA_MB     4096      1024        one session's uploads together, unpacked
PLAYGROUND_UPLOAD_QUOTA_PER_ADDRESS_MB 0 8192      the uploads of every session from one client address together
                                                     (0: no limit): a client that drops its cookie gets no new room
PLAYGROUND_MAX_UNPACK_SECONDS  60        same        unpacking one archive, or reading one image folder's images
PLAYGROUND_INITLAB_MB          256       same        memory the Initialisation lab's statistics may take, estimated
                                                     on the meta device before anything is allocated
PLAYGROUND_INSIDE_MB           256       same        memory one batch of the Inside page's test-set passes may take (top
                                                     predictions, top-activating images, invariance): estimated on the
                                                     meta device; the images passed are capped at 32 batches' worth
PLAYGROUND_MAX_IMAGE_MP        40        same        largest image decoded, in megapixels (read from its header)
PLAYGROUND_MAX_FOLDER_MP       2000      same        all images of one folder or archive together, in megapixels
PLAYGROUND_MAX_PARAMS_M        50 / 20   same        largest model, millions of parameters (GPU / CPU)
PLAYGROUND_MAX_ACTIVATION_MB 16384/4096 same        activation memory of one training batch, estimated (GPU / CPU)
PLAYGROUND_WORKERS             process   same        where a run trains: "process" (a worker process each) or
                                                     "thread" (in the server's process; tests that patch it)
PLAYGROUND_WORKER_MEMORY_MB    0         8192        memory one worker process may allocate (0: no limit)
PLAYGROUND_WORKER_NICE         10        same        a worker process's CPU priority below the server's (0-19):
                                                     pages stay quick while runs train; alone, a run is as fast
PLAYGROUND_MAX_RUN_MINUTES     120       30          a run's longest training time; it stops, saved, after it
PLAYGROUND_MAX_RUNS_PER_SESSION 0        3           queued + running runs of one session (0: no limit)
PLAYGROUND_MAX_RUNS_PER_ADDRESS 0        30          queued + running runs of one client address (0: no limit)
PLAYGROUND_MAX_SESSIONS_PER_ADDRESS 0    100         live sessions (browser tabs) of one client address (0: no
                                                     limit); a school's network may put a whole class behind one
PLAYGROUND_CLIENT_ADDRESS_HEADER (none)  same        behind a proxy: the request header that holds the client's
                                                     address (e.g. X-Forwarded-For; its last entry counts).
                                                     Unset: the connection's own address
PLAYGROUND_PAUSE_RELEASE_MIN   0         10          a run paused longer gives its slot back (0: never)
PLAYGROUND_SHARE_RUNS          view      view        another session's run link: "view" (read-only) or "none"
PLAYGROUND_SERVER_FOLDERS      1         0           may a page read any folder on the server (1) or only
                                                     the session's uploads and the data folder (0)
PLAYGROUND_TEACHER_KEY         (none)    same        the key that opens the Teacher page (unset: the page stays closed)
PLAYGROUND_RAY_ADDRESS         (none)    same        send jobs to a Ray cluster ("auto", "ray://head:10001");
                                                     unset: local worker processes
PLAYGROUND_RAY_RUNS            (none)    same        a run folder every Ray node can write (shared storage);
                                                     unset: files travel back to the server's run store
=============================  ========  ==========  =================================================
The upload size itself is Streamlit's ``server.maxUploadSize`` (.streamlit/config.toml, 200 MB).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

__all__ = ["Settings", "settings", "environment", "apply_environment"]


@dataclass(frozen=True)
class Settings:
    classroom: bool
    data_root: Path
    cache_root: Path | None  # None: no disk cache
    runs_root: Path
    uploads_root: Path
    max_jobs: int  # default: jobs_per_gpu per GPU, one on a CPU
    jobs_per_gpu: int  # jobs placed on one GPU at once
    max_unzipped_mb: int
    workers: str  # "process" or "thread"
    worker_memory_mb: int  # 0: no limit
    worker_nice: int  # added to a worker process's niceness (pages before training when the CPU is short)
    max_image_mp: float
    max_folder_mp: float
    max_params_m: float
    max_activation_mb: int
    max_run_minutes: float
    max_runs_per_session: int  # 0: no limit
    pause_release_minutes: float  # 0: never
    max_queued: int
    max_finished: int
    max_dataset_mb: int
    data_cache_mb: int
    upload_ttl_hours: float
    share_runs: str
    server_folders: bool
    teacher_key: str | None = None  # None: the Teacher page stays closed
    upload_quota_mb: int = 4096
    upload_quota_per_address_mb: int = 0  # 0: no limit
    max_unpack_seconds: float = 60.0
    initlab_mb: int = 256
    inside_mb: int = 256
    max_runs_per_address: int = 0  # 0: no limit
    client_address_header: str | None = None  # None: the connection's own address
    max_sessions_per_address: int = 0  # 0: no limit
    ray_address: str | None = None  # None: local worker processes
    ray_runs: Path | None = None  # None: files travel back to the server's run store


def _int(name: str, default: int, lo: int = 1, hi: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number (got {raw!r}).") from None
    if value < lo:
        raise ConfigError(f"{name} must be at least {lo} (got {value}).")
    if hi is not None and value > hi:
        raise ConfigError(f"{name} must be at most {hi} (got {value}).")
    return value


def _float(name: str, default: float, lo: float = 1e-9) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number (got {raw!r}).") from None
    if not value >= lo or value == float("inf"):
        raise ConfigError(f"{name} must be a finite number of at least {lo:g} (got {raw!r}).")
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


def _gpus() -> int:
    import torch  # settings() itself stays cheap to import; torch is loaded by then anyway

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _per_device(per_gpu: int = 1) -> int:
    """``per_gpu`` jobs per GPU, one on a CPU."""
    return max(1, _gpus() * per_gpu)


def _cache_root() -> Path | None:
    raw = os.environ.get("PLAYGROUND_CACHE") or ""
    if raw.strip().lower() == "off":
        return None
    return Path(raw) if raw else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cnn-playground"


def settings() -> Settings:
    classroom = _flag("PLAYGROUND_CLASSROOM", False)
    gpu = _gpus() > 0
    workers = os.environ.get("PLAYGROUND_WORKERS") or "process"
    if workers not in ("process", "thread"):
        raise ConfigError(f"PLAYGROUND_WORKERS must be 'process' or 'thread' (got {workers!r}).")
    share = os.environ.get("PLAYGROUND_SHARE_RUNS") or "view"
    if share not in ("view", "none"):
        raise ConfigError(f"PLAYGROUND_SHARE_RUNS must be 'view' or 'none' (got {share!r}).")
    return Settings(
        classroom=classroom,
        data_root=Path(os.environ.get("PLAYGROUND_DATA") or "./data"),
        cache_root=_cache_root(),
        runs_root=Path(os.environ.get("PLAYGROUND_RUNS") or "./runs"),
        uploads_root=Path(os.environ.get("PLAYGROUND_UPLOADS") or "./uploads"),
        jobs_per_gpu=_int("PLAYGROUND_JOBS_PER_GPU", 1),
        max_jobs=_int("PLAYGROUND_MAX_JOBS", 0) or _per_device(_int("PLAYGROUND_JOBS_PER_GPU", 1)),
        max_unzipped_mb=_int("PLAYGROUND_MAX_UNZIPPED_MB", 1024),
        workers=workers,
        worker_memory_mb=_int("PLAYGROUND_WORKER_MEMORY_MB", 8192 if classroom else 0, lo=0),
        worker_nice=_int("PLAYGROUND_WORKER_NICE", 10, lo=0, hi=19),  # 19: the lowest priority
        max_image_mp=_float("PLAYGROUND_MAX_IMAGE_MP", 40.0),
        max_folder_mp=_float("PLAYGROUND_MAX_FOLDER_MP", 2000.0),
        max_params_m=_float("PLAYGROUND_MAX_PARAMS_M", 50.0 if gpu else 20.0),
        max_activation_mb=_int("PLAYGROUND_MAX_ACTIVATION_MB", 16384 if gpu else 4096),
        max_run_minutes=_float("PLAYGROUND_MAX_RUN_MINUTES", 30.0 if classroom else 120.0),
        max_runs_per_session=_int("PLAYGROUND_MAX_RUNS_PER_SESSION", 3 if classroom else 0, lo=0),
        pause_release_minutes=_float("PLAYGROUND_PAUSE_RELEASE_MIN", 10.0 if classroom else 0.0, lo=0.0),
        max_queued=_int("PLAYGROUND_MAX_QUEUED", 100),
        max_finished=_int("PLAYGROUND_MAX_FINISHED", 200, lo=0),
        max_dataset_mb=_int("PLAYGROUND_MAX_DATASET_MB", 4096),
        data_cache_mb=_int("PLAYGROUND_DATA_CACHE_MB", 6144),
        upload_ttl_hours=float(_int("PLAYGROUND_UPLOAD_TTL_HOURS", 24)),
        share_runs=share,
        server_folders=_flag("PLAYGROUND_SERVER_FOLDERS", not classroom),
        teacher_key=os.environ.get("PLAYGROUND_TEACHER_KEY") or None,
        upload_quota_mb=_int("PLAYGROUND_UPLOAD_QUOTA_MB", 1024 if classroom else 4096),
        upload_quota_per_address_mb=_int("PLAYGROUND_UPLOAD_QUOTA_PER_ADDRESS_MB", 8192 if classroom else 0, lo=0),
        max_unpack_seconds=_float("PLAYGROUND_MAX_UNPACK_SECONDS", 60.0),
        initlab_mb=_int("PLAYGROUND_INITLAB_MB", 256),
        inside_mb=_int("PLAYGROUND_INSIDE_MB", 256),
        max_runs_per_address=_int("PLAYGROUND_MAX_RUNS_PER_ADDRESS", 30 if classroom else 0, lo=0),
        client_address_header=(os.environ.get("PLAYGROUND_CLIENT_ADDRESS_HEADER") or "").strip() or None,
        max_sessions_per_address=_int("PLAYGROUND_MAX_SESSIONS_PER_ADDRESS", 100 if classroom else 0, lo=0),
        ray_address=os.environ.get("PLAYGROUND_RAY_ADDRESS") or None,
        ray_runs=Path(os.environ["PLAYGROUND_RAY_RUNS"]) if os.environ.get("PLAYGROUND_RAY_RUNS") else None,
    )


def environment() -> dict[str, str]:
    """The variables settings() reads (and torch's TORCH_HOME), as now: what a worker process must see."""
    return {k: v for k, v in os.environ.items() if k.startswith("PLAYGROUND_") or k == "TORCH_HOME"}


def apply_environment(env: dict[str, str]) -> None:
    """In a worker process: the server's settings as they were when the job started."""
    for k in [k for k in os.environ if k.startswith("PLAYGROUND_") and k not in env]:
        del os.environ[k]
    os.environ.update(env)
