"""What an exception that ended a run means to its student: the message for the failures a run meets
through no fault of its code (the disk full, the device's or the host's memory spent), wherever it was
raised: in the trainer (``train.engine``) or around it (a Ray actor's data check, ``jobs.remote``)."""

from __future__ import annotations

import torch

from .files import is_disk_full
from .runs import DISK_FULL

__all__ = ["failure_message", "host_out_of_memory"]

DEVICE_OOM = "Out of memory on the device. Lower the batch size, use a smaller model, or train on the CPU."
HOST_OOM = (
    "Out of memory: the run needed more than this server lets one run use. Lower the batch size or use a smaller model."
)


def _under_memory_limit() -> bool:
    try:
        import resource  # not on Windows, where no worker runs under a limit
    except ImportError:
        return False
    return resource.getrlimit(resource.RLIMIT_DATA)[0] != resource.RLIM_INFINITY


def host_out_of_memory(e: BaseException) -> bool:
    """MemoryError, or torch's words for an allocation that failed; oneDNN's "could not create a primitive"
    counts only in a process under a memory limit (a worker's), where it is its scratch space that failed."""
    text = str(e)
    if isinstance(e, MemoryError) or "can't allocate memory" in text:
        return True
    return "could not create a primitive" in text and _under_memory_limit()


def failure_message(e: BaseException) -> str | None:
    """The student's message for a full disk or spent memory; None for any other exception."""
    if is_disk_full(e):  # OSError(ENOSPC/EDQUOT), or torch.save's RuntimeError for it
        return DISK_FULL
    if isinstance(e, torch.OutOfMemoryError):  # a GPU's (CUDA, MPS)
        return DEVICE_OOM
    if host_out_of_memory(e):  # the host, or a worker's limit
        return HOST_OOM
    return None
