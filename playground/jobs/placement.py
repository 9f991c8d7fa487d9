"""Which GPU a starting job runs on: the one its spec pins, else the least-loaded one with room."""

from __future__ import annotations

from typing import Iterable

from ..device import gpus, pinned_gpu, place
from .job import Job

__all__ = ["place_job", "placed_jobs"]


def place_job(want: str, placed: dict[int, int], jobs_per_gpu: int) -> str | None:
    """The GPU a job that asks for ``want`` (auto, cpu, cuda[:k]) starts on: the one it pins, else the
    least-loaded one with room (``place``: jobs placed, then free memory); None on a CPU or for a job
    that asks for the CPU. ``placed``: jobs running per GPU index."""
    pinned = pinned_gpu(want)
    if want == "cpu" or (pinned is None and want != "auto"):
        return None
    if pinned is not None:
        return f"cuda:{pinned}"
    devices = gpus()
    if not devices:
        return None
    k = place(devices, placed, jobs_per_gpu)
    if k is None:  # every GPU is full (pinned jobs crowd one): the least loaded
        k = place(devices, placed, 1 << 30)
    return f"cuda:{k}"


def placed_jobs(jobs: Iterable[Job]) -> dict[int, int]:
    """GPU index -> how many of ``jobs`` run on it now (a released pause holds none)."""
    placed: dict[int, int] = {}
    for j in jobs:
        if j.state == "running" and not j.released and j.device:
            k = pinned_gpu(j.device)
            placed[k] = placed.get(k, 0) + 1
    return placed
