"""Training devices: ``auto`` / ``cpu`` / ``cuda[:k]`` to a ``torch.device``, and what the sidebar shows."""

from __future__ import annotations

from typing import Any

import torch

from .errors import ConfigError

__all__ = ["resolve_device", "device_summary", "device_label"]


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


def device_summary() -> dict[str, Any]:
    """What "auto" trains on here: for the app's sidebar."""
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return {"type": "cuda", "name": props.name, "count": torch.cuda.device_count(),
                "memory_gb": round(props.total_memory / 2**30, 1)}
    return {"type": "cpu", "name": "CPU", "count": 0, "threads": torch.get_num_threads()}


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"
