"""Training as a kind of job of the job manager (``playground.jobs``): importing this module registers it."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping

from ..config import RunConfig
from ..data import load_dataset
from ..errors import DatasetUnavailable
from ..jobs.buffer import RunBuffer
from ..jobs.kinds import JOB_KINDS, JobKind
from .engine import fit, resume
from .gate import admit

__all__ = ["TrainKind"]


class TrainKind(JobKind):
    """Training a model on a data set (every task: classify, reconstruct; transfer runs too)."""

    name = "train"
    spec_type = RunConfig
    resumable = True
    tunable = True
    page = "train"

    def admit(self, spec: RunConfig, owner: str, runs_root=None) -> None:
        admit(spec, owner)

    def create(self, store, spec: RunConfig):
        return store.create(spec)

    def spec(self, run) -> RunConfig:
        return run.config()

    def device_of(self, spec: RunConfig) -> str:
        return spec.train.device

    def load_data(self, run) -> None:
        d = run.config().data
        try:
            load_dataset(d.dataset, root=d.data_root, download=d.download, **dict(d.params))
        except DatasetUnavailable as e:
            raise DatasetUnavailable(f"{d.dataset} data: {e}") from e

    def events(
        self, run, store, controls, resuming: bool, emit: Callable[[dict[str, Any]], None], device: str | None = None
    ) -> Iterator[Mapping[str, Any]]:
        if resuming:
            return resume(run.run_id, store, controls, device=device)
        config = run.config()
        return fit(config.replace(train={"device": device}) if device else config, run=run, controls=controls)

    def buffer(self):
        return RunBuffer()

    def buffer_from_run(self, run):
        return RunBuffer.from_events(run.events())


JOB_KINDS.register("train")(TrainKind())
