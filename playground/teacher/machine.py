"""What the server's machine is doing: per-GPU occupancy (the job manager's placement and memory in use), the
CPU (cores, load average, memory) and the job slots; and the projector's figure of one run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from .. import plots
from ..jobs.manager import JobManager

__all__ = ["machine", "projector_figure"]


def _memory_mb() -> tuple[float, float] | None:
    """(available, total) MB from /proc/meminfo; None where there is none (not Linux)."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        return int(fields["MemAvailable"].split()[0]) / 1024, int(fields["MemTotal"].split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        return None


def machine(manager: JobManager) -> dict[str, Any]:
    """``gpus``: one dict per GPU (index, name, jobs, used_mb, total_mb, free_mb; empty on a CPU machine);
    ``cpu``: cores, load (1, 5, 15 min), memory; ``slots``: running, queued, paused, max_running."""
    live = manager.live_jobs()
    running = [j for j in live if j.state == "running"]
    paused = sum(1 for j in running if j.controls.paused)
    try:
        load = tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        load = None
    mem = _memory_mb()
    return {
        "gpus": manager.occupancy(),
        "cpu": {
            "cores": os.cpu_count() or 1,
            "load": load,
            "memory_available_mb": None if mem is None else round(mem[0]),
            "memory_total_mb": None if mem is None else round(mem[1]),
        },
        "slots": {
            "running": len(running) - paused,
            "paused": paused,
            "queued": len(live) - len(running),
            "max_running": manager.max_running,
        },
    }


def projector_figure(snap: dict[str, Any], height: int = 560, figures: dict[str, Any] | None = None) -> go.Figure:
    """One training run's loss and metric curves (``plots.training_curves``), tall and in large type for
    a classroom's projector. ``figures``: what the run's task reports (``train.tasks.task_figures``)."""
    fig = plots.training_curves(snap["steps"], snap["epochs"], snap.get("sets", ()), figures=figures)
    fig.update_layout(height=height, font=dict(size=18), legend=dict(font=dict(size=18)))
    return fig
