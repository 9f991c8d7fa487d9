"""The initialisation race as a job of the job manager (``playground.jobs.kinds``): the same queue, slots,
gate, time cap and worker processes as training, so a race never runs in the web server's process.

    initrace/<run_id>/config.json    the race: the base run config and the initialisations
                      metrics.jsonl  start and the final event (done, stopped or error)
                      result.json    the race's curves and figures (``init_race``'s result)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..config import RunConfig
from ..errors import ConfigError, PlaygroundError
from ..files import atomic_write_bytes
from ..jobs.kinds import JOB_KINDS, JobKind, ResultBuffer
from ..train.init import INITS
from .initlab import check_race, init_race

__all__ = ["InitRace", "RaceKind", "RaceBuffer", "MAX_INITS"]

MAX_INITS = 8


@dataclass(frozen=True)
class InitRace:
    """A race: ``base`` trained once per initialisation (label -> (init name, its parameters))."""

    base: RunConfig
    inits: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)

    def to_json(self, **kw: Any) -> str:
        return json.dumps(
            {"base": self.base.to_dict(), "inits": {k: [n, dict(p)] for k, (n, p) in self.inits.items()}}, **kw
        )

    @classmethod
    def from_json(cls, text: str) -> "InitRace":
        d = json.loads(text)
        return cls(RunConfig.from_dict(d["base"]), {k: (n, dict(p)) for k, (n, p) in d["inits"].items()})


def RaceBuffer() -> ResultBuffer:
    """What the page draws: the race's progress (fraction, text), then its result (``race``)."""
    return ResultBuffer("race", ("fraction", "text"), (0.0, "waiting for a slot..."))


class RaceKind(JobKind):
    """The initialisation lab's race: the same model trained once per initialisation, same seed and data."""

    name = "initrace"
    spec_type = InitRace
    folder = "initrace"
    page = "inside"

    def page_query(self, run_id: str) -> dict[str, str]:
        return {"tab": "Initialisation lab"}

    def admit(self, spec: InitRace, owner: str, runs_root=None) -> None:
        if not spec.inits or len(spec.inits) > MAX_INITS:
            raise ConfigError(f"Race 1 to {MAX_INITS} initialisations (got {len(spec.inits)}).")
        for name, _ in spec.inits.values():
            INITS.check(name)
        check_race(spec.base, owner)

    def create(self, store, spec: InitRace):
        return store.create(spec)

    def spec(self, run) -> InitRace:
        return run.config()  # the InitRace (the store reads it with parse_config)

    def device_of(self, spec: InitRace) -> str:
        return spec.base.train.device

    def events(
        self, run, store, controls, resuming: bool, emit: Callable[[dict[str, Any]], None], device: str | None = None
    ) -> Iterator[dict[str, Any]]:
        spec = self.spec(run)
        if device:
            spec = InitRace(spec.base.replace(train={"device": device}), spec.inits)
        start = {"kind": "start", "inits": list(spec.inits)}
        run.append(start)
        yield start
        emit({"kind": "progress", "fraction": 0.0, "text": "starting..."})
        now = {"fraction": 0.0, "text": "starting..."}

        def progress(f: float, t: str) -> None:
            now.update(fraction=round(f, 4), text=t)
            emit({"kind": "progress", **now})

        try:  # the curves so far go with a progress event about once a second: the page draws the race live
            race = init_race(
                spec.base,
                spec.inits,
                controls=controls,
                progress=progress,
                partial=lambda curves: emit({"kind": "progress", **now, "race": curves}),
            )
        except PlaygroundError as e:
            final = {"kind": "error", "message": str(e)}
            run.append(final)
            yield final
            return
        atomic_write_bytes(run.dir / "result.json", lambda f: f.write(json.dumps(race).encode()))
        stopped = controls.stopped or controls.out_of_time()
        final = {
            "kind": "stopped" if stopped else "done",
            **({"message": "Stopped: the initialisations that finished are shown."} if stopped else {}),
        }
        run.append(final)
        yield {**final, "race": race}

    def buffer(self) -> ResultBuffer:
        return RaceBuffer()

    def buffer_from_run(self, run) -> ResultBuffer:
        buf = RaceBuffer()
        for e in run.events():
            buf.add(e)
        path = run.dir / "result.json"
        if path.is_file():
            buf.result = json.loads(path.read_text("utf-8"))
        return buf


JOB_KINDS.register("initrace")(RaceKind())
