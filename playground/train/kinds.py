"""The kinds of job the job manager runs: training (here) and, registered by their own packages, style
transfer and the initialisation race. Importing this module registers all three (``playground.jobkinds``)."""

from __future__ import annotations

from typing import Any, Callable, Iterator

from ..config import RunConfig
from ..inside import featvis as _featvis  # noqa: F401  (registers the "featvis" kind)
from ..inside import race as _race  # noqa: F401  (registers the "initrace" kind)
from ..jobkinds import JOB_KINDS, JobKind
from ..style import job as _style_job  # noqa: F401  (registers the "style" kind)
from .buffer import RunBuffer
from .engine import fit, resume
from .gate import admit

__all__ = ["TrainKind", "JOB_KINDS"]


class TrainKind(JobKind):
    """Training a model on a data set (every task: classify, reconstruct; transfer runs too)."""

    name = "train"
    spec_type = RunConfig
    resumable = True
    page = "train"

    def admit(self, spec: RunConfig, owner: str, runs_root=None) -> None:
        admit(spec, owner)

    def create(self, store, spec: RunConfig):
        return store.create(spec)

    def spec(self, run) -> RunConfig:
        return run.config()

    def device_of(self, spec: RunConfig) -> str:
        return spec.train.device

    def events(self, run, store, controls, resuming: bool, emit: Callable[[dict[str, Any]], None],
               device: str | None = None) -> Iterator[dict[str, Any]]:
        if resuming:
            return resume(run.run_id, store, controls, device=device)
        config = run.config()
        return fit(config.replace(train={"device": device}) if device else config, run=run, controls=controls)

    def buffer(self):
        return RunBuffer()

    def buffer_from_run(self, run):
        return RunBuffer.from_events(run.events())


JOB_KINDS.register("train")(TrainKind())
