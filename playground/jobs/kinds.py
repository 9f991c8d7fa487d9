"""What the job manager runs: a registry of job kinds.

The job manager (``playground.jobs.manager``) has one queue, one set of slots, one gate, one control
scheme and one run store for every kind of long work. A kind says how its work is admitted, stored
and run; the manager does the rest the same way for all of them:

- ``train`` (``playground.train.job``): a ``RunConfig``; ``engine.fit`` / ``engine.resume``.
- ``style`` (``playground.style.job``): a ``StyleJob``; the style-transfer loop.
- ``initrace`` (``playground.inside.race``): an ``InitRace``; the initialisation lab's race.
- ``featvis`` (``playground.inside.featvis``): a ``FeatureVis``; a feature visualisation.

Each package registers its own kind when it is imported (``playground.plugins`` imports them all); a
worker receives the kind object itself, and unpickling it imports the module that defines it.

A kind's ``events`` runs in the worker process (or thread) and yields the events the pages read; it
writes what must survive a reload into the run's folder itself.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from ..errors import ConfigError
from ..registry import Registry
from ..runs import FINAL_KINDS

__all__ = ["JobKind", "JOB_KINDS", "kind_of", "progress_line", "ResultBuffer"]


class JobKind:
    """The interface the job manager drives. ``spec`` is what a page submits (the kind's ``spec_type``)."""

    name = ""
    spec_type: type = object
    folder = ""  # the run store's subfolder for this kind's runs ("" = the run store's own folder)
    resumable = False  # whether an interrupted run can continue from a checkpoint
    tunable = False  # whether its settings (learning rate, ...) change while it runs (``controls.change``)
    page = ""  # the app page that shows this kind's runs (app_pages/<page>.py)
    listed = True  # listed among the session's runs in the sidebar (False: a passing answer, not a run)

    def page_query(self, run_id: str) -> dict[str, str]:
        """The URL parameters that open ``run_id`` on ``page``."""
        return {"run": run_id}

    def admit(self, spec: Any, owner: str, runs_root=None) -> None:
        """Refuse (PlaygroundError, saying what to change) a spec this owner may not run. ``runs_root``: the
        job manager's run store (where a job that reads a trained run finds it)."""

    def load_data(self, run: Any) -> None:
        """Load (and cache) the data the job reads, before it runs on a Ray node: DatasetUnavailable, starting
        with what is missing ("shapes data: ..."), when that node lacks it. By default a job reads none."""

    def time_limit_s(self, minutes: float) -> float | None:
        """The longest a run of this kind may hold a slot, from the server's setting (None: no limit)."""
        return minutes * 60 or None

    def create(self, store: Any, spec: Any) -> Any:
        """A new run folder in ``store`` (a RunStore) holding what the worker needs to run ``spec``."""
        raise NotImplementedError

    def spec(self, run: Any) -> Any:
        """The spec, read back from the run's folder (what the job manager keeps for a run it reopens)."""
        raise NotImplementedError

    def device_of(self, spec: Any) -> str:
        """The device the spec asks for: ``auto`` (the job manager places it), ``cpu`` or ``cuda[:k]``."""
        return "auto"

    def events(
        self,
        run: Any,
        store: Any,
        controls: Any,
        resuming: bool,
        emit: Callable[[dict[str, Any]], None],
        device: str | None = None,
    ) -> Iterator[Mapping[str, Any]]:
        """Run the job (in its worker): yield events, the last one final (``runs.FINAL_KINDS``). ``emit``
        sends a passing event (e.g. download progress) while the job cannot yield. ``device``: the GPU the
        job manager placed it on (None: the spec's own device)."""
        raise NotImplementedError

    def buffer(self) -> Any:
        """A fresh in-memory buffer for the pages (``add(event)``, ``snapshot()``)."""
        raise NotImplementedError

    def buffer_from_run(self, run: Any) -> Any:
        """The buffer of a run read back from its folder (a finished run, or after a reload)."""
        raise NotImplementedError

    def parse_config(self, text: str) -> Any:
        """Read a run folder's config.json (the run store checks it with this: unreadable is damaged); by
        default the kind's ``spec_type.from_json``."""
        from_json = getattr(self.spec_type, "from_json", None)
        if from_json is None:
            raise NotImplementedError(
                f"The {self.name} job kind's {self.spec_type.__name__} has no from_json: give "
                "the kind a parse_config of its own."
            )
        return from_json(text)

    def store_root(self, root: Path) -> Path:
        return root / self.folder if self.folder else root


class ResultBuffer:
    """What a page draws of a job that reports progress, then one result: its ``progress`` events (the
    two fields ``fields`` names), its final event, and the result the final event carries (``result``)."""

    def __init__(self, result: str, fields: tuple[str, str], waiting: tuple[Any, Any]) -> None:
        self._lock = threading.Lock()
        self.result_key, self.fields = result, fields
        self.progress: tuple[Any, Any] = waiting
        self.final: dict[str, Any] | None = None
        self.result: Any = None
        self.version = 0

    def add(self, e: dict[str, Any]) -> None:
        with self._lock:
            if e.get("kind") == "progress":
                self.progress = (e[self.fields[0]], e[self.fields[1]])
            if e.get(self.result_key) is not None:
                self.result = e[self.result_key]
            if e.get("kind") in FINAL_KINDS:
                self.final = {k: v for k, v in e.items() if k != self.result_key}
            self.version += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "progress": self.progress,
                "final": self.final,
                self.result_key: self.result,
                "version": self.version,
            }


JOB_KINDS: Registry[JobKind] = Registry("job kind")


def progress_line(done: int, total: int, elapsed_s: float, live: bool) -> dict[str, Any]:
    """A job's progress as every page shows it: the fraction, the ETA (from the time per step so far, while
    it runs) and the label "step 40 / 125 — about 12 s left"."""
    eta = elapsed_s / done * (total - done) if live and done and elapsed_s > 0 else None
    return {
        "done": done,
        "total": total,
        "fraction": min(1.0, done / max(total, 1)),
        "eta_s": eta,
        "label": f"step {done} / {total}" + (f" — about {eta:.0f} s left" if eta is not None else ""),
    }


def kind_of(spec: Any) -> JobKind:
    """The registered kind whose ``spec_type`` ``spec`` is."""
    for name in JOB_KINDS.names():
        kind = JOB_KINDS.get(name)
        if isinstance(spec, kind.spec_type):
            return kind
    raise ConfigError(
        f"Nothing runs a {type(spec).__name__}: submit a RunConfig (training) or a StyleJob (style transfer)."
    )
