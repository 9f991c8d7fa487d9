"""Training devices: ``auto`` / ``cpu`` / ``cuda[:k]`` to a ``torch.device``, and what the sidebar shows."""

from __future__ import annotations

import os
from typing import Any

import torch

from .config import PRECISIONS
from .errors import ConfigError

__all__ = [
    "autocast_dtype",
    "amx_bf16",
    "cpu_threads",
    "resolve_device",
    "device_summary",
    "device_label",
    "gpus",
    "place",
    "pinned_gpu",
]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("No CUDA GPU is visible to PyTorch here; use device 'cpu' or 'auto'.")
        try:
            dev = torch.device(name)
        except RuntimeError:
            raise ConfigError(f"{name!r} is not a device; use cuda or cuda:N.") from None
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"There is no {name}: {torch.cuda.device_count()} GPU(s) are visible.")
        return dev
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"device must be auto, cpu or cuda (got {name!r}).")


_DTYPES = {"fp32": None, "bf16": torch.bfloat16}  # precision -> autocast dtype (None: plain fp32)


def amx_bf16() -> bool:
    """Whether this CPU has AMX bf16 tile units (Intel Xeon since Sapphire Rapids), where oneDNN's bf16
    convolutions and matmuls are faster than fp32 ones; without them bf16 on a CPU is slower."""
    try:
        return bool(torch.cpu._is_amx_tile_supported() and torch.cpu._is_avx512_bf16_supported())
    except AttributeError:  # a torch without these probes
        return False


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The dtype training autocasts to (weights and optimiser state stay fp32), None for plain fp32.
    ``auto``: bf16 on CUDA and on an AMX CPU, else fp32."""
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" or (device.type == "cpu" and amx_bf16()) else "fp32"
    if precision not in _DTYPES:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)} (got {precision!r}).")
    return _DTYPES[precision]


def cpu_threads(jobs_at_once: int) -> int:
    """Torch threads for one CPU job when ``jobs_at_once`` may train side by side: the CPUs this process may
    use, shared out (at least one each). Two jobs of 2 threads on 2 cores each trained at 130-310 img/s, of
    1 thread at 2,100-2,600 (docs/BENCHMARKS.md): OpenMP threads that wait for a descheduled sibling."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus // max(1, jobs_at_once))


def device_summary() -> dict[str, Any]:
    """What "auto" trains on here: for the app's sidebar."""
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return {
            "type": "cuda",
            "name": props.name,
            "count": torch.cuda.device_count(),
            "memory_gb": round(props.total_memory / 2**30, 1),
        }
    return {"type": "cpu", "name": "CPU", "count": 0, "threads": torch.get_num_threads()}


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


def gpus() -> list[dict[str, Any]]:
    """The box's GPUs as placement sees them: index, name, free and total memory (MB). Empty on a CPU."""
    if not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        try:
            free, total = torch.cuda.mem_get_info(i)
        except RuntimeError:  # a GPU in a bad state: never place on it
            continue
        out.append(
            {"index": i, "name": torch.cuda.get_device_name(i), "free_mb": free // 2**20, "total_mb": total // 2**20}
        )
    return out


def pinned_gpu(device: str) -> int | None:
    """The GPU a config pins (``cuda:k`` -> k; plain ``cuda`` -> 0), else None (``auto``, ``cpu``)."""
    if isinstance(device, str) and device.startswith("cuda"):
        _, _, k = device.partition(":")
        return int(k) if k.isdigit() else 0
    return None


def place(devices: list[dict[str, Any]], placed: dict[int, int], per_gpu: int = 1) -> int | None:
    """The GPU for the next ``auto`` job: among those with fewer than ``per_gpu`` jobs placed, the one with
    the fewest jobs, then the most free memory (then the lowest index). None: no GPU has room (or none)."""
    room = [d for d in devices if placed.get(d["index"], 0) < per_gpu]
    if not room:
        return None
    best = min(room, key=lambda d: (placed.get(d["index"], 0), -d.get("free_mb", 0), d["index"]))
    return best["index"]
