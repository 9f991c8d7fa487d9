"""Probes: optional observers of a training run (snapshots, layer statistics, ...).

The engine calls every probe a config names (``train.probes``) at fixed points
of the loop; a probe may add fields to step and epoch events and may write
files into the run folder. Probes must not change training: no RNG draws,
no gradient changes, and nothing that syncs the device on every step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..registry import Registry

if TYPE_CHECKING:
    from ..runs import Run
    from .prepared import Prepared

__all__ = ["PROBES", "Probe", "build_probes"]

PROBES: Registry[type["Probe"]] = Registry("probe")


class Probe:
    def __init__(self, p: "Prepared", run: "Run | None") -> None:
        self.p, self.run = p, run

    def on_start(self) -> dict[str, Any] | None:
        """Once, before the first step of a new run (not on resume); fields go into the start event."""
        return None

    def on_log(self, step: int, epoch: int) -> dict[str, Any] | None:
        """At each step event, after the optimiser step (gradients of that step are still in ``.grad``)."""
        return None

    def on_epoch(self, epoch: int, step: int) -> dict[str, Any] | None:
        """After each epoch's evaluation; ``epoch`` counts from 0."""
        return None


def build_probes(names, p: "Prepared", run: "Run | None") -> list[Probe]:
    return [PROBES.get(n)(p, run) for n in names]

