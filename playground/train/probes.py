"""Probes: optional observers of a training run (snapshots, layer statistics, ...).

The engine calls every probe a config names (``train.probes``) at fixed points
of the loop; a probe may add fields to step and epoch events and may write
files into the run folder. Probes must not change training: no RNG draws,
no gradient changes, and nothing that syncs the device on every step.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import torch

from ..registry import Registry

if TYPE_CHECKING:
    from ..runs import Run
    from .prepared import Prepared

__all__ = ["PROBES", "Probe", "QuickTest", "build_probes", "quick_test", "quick_test_subset"]

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


def quick_test_subset(n_test: int, n: int, seed: int) -> torch.Tensor:
    """The test images of the quick estimate: ``n`` of ``n_test`` (all when fewer), drawn from the run's seed
    with a generator of their own (the training generator draws nothing), sorted; the same for a whole run,
    and after a resume."""
    g = torch.Generator().manual_seed(seed + QuickTest.SEED_OFFSET)
    return torch.randperm(n_test, generator=g)[:n].sort().values


class QuickTest(Probe):
    """A quick test estimate while an epoch trains, so the test curve moves before the epoch ends: the
    task's test figures on a fixed subset of the test split (``train.quick_test`` images), merged into a step
    event as ``quick_test_loss``, ``quick_test_<metric>``, ``quick_test_n`` and ``quick_test_seconds`` (its
    cost). The first step event gets one (the untrained model's), then one at most every ``INTERVAL_S``
    seconds and never more often than keeps its cost under ``MAX_SHARE`` of the wall time: a big model or a
    busy machine spaces the estimates out. Not a registered probe: the engine adds it unless
    ``train.quick_test`` is 0. It runs after the engine's log sync and before the next rate window opens,
    so the step events' images/s leave it out; docs/BENCHMARKS.md has its cost on the wall clock."""

    INTERVAL_S = 2.0
    MAX_SHARE = 0.03
    SEED_OFFSET = 20_011

    def __init__(self, p: "Prepared", run: "Run | None", task: Any) -> None:
        super().__init__(p, run)
        self.task = task
        self.idx = quick_test_subset(len(p.test_y), p.config.train.quick_test, p.config.train.seed).to(p.device)
        self.last, self.interval, self.warm = -math.inf, self.INTERVAL_S, False

    def on_log(self, step, epoch):
        if not len(self.idx) or time.perf_counter() - self.last < self.interval:
            return None
        t0 = time.perf_counter()
        figures = self.task.quick_evaluate(self.p, self.idx)
        if figures is None:  # the task has no quick estimate: never ask again
            self.idx = self.idx[:0]
            return None
        self.last = time.perf_counter()
        cost = self.last - t0
        if self.warm:  # the first call pays one-off costs (allocations, kernel choice): not the rate's measure
            self.interval = max(self.INTERVAL_S, cost / self.MAX_SHARE)
        self.warm = True
        return {
            **{f"quick_test_{k}": round(v, 5) for k, v in figures.items()},
            "quick_test_n": len(self.idx),
            "quick_test_seconds": round(cost, 4),
        }


def quick_test(p: "Prepared", run: "Run | None", task: Any) -> list[Probe]:
    """The quick test estimate's probe for the engine to add, or none (``train.quick_test`` 0)."""
    return [QuickTest(p, run, task)] if p.config.train.quick_test else []
