"""Style transfer as a job of the job manager: the same queue, slots, gate, controls, worker
processes and run store as training (``playground.jobs.kinds``).

A style run is a folder in the run store's ``style/`` subfolder:

    style/<run_id>/config.json    the StyleSettings
                   content.img    the uploaded content image, as uploaded (absent for a built-in one)
                   style.img      the uploaded style image
                   job.json       how often a preview is sent
                   metrics.jsonl  start, step (losses), final events, as the loop yields them (no pixels)
                   preview.png    the newest preview while it runs
                   result.png     the final image (done, stopped or diverged)

so a reloaded page, another tab or a restarted server shows the run and its result from disk.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from playground.data.uploads import check_folder_allowed
from playground.device import resolve_device
from playground.errors import ConfigError
from playground.images import decode, probe
from playground.runs import FINAL_KINDS, Run, RunStore, atomic_write_bytes

from ..jobs.kinds import JOB_KINDS, JobKind, progress_line
from .features import FEATURE_NETS
from .images import IMAGES, to_png
from .loop import run_stylize
from .settings import StyleSettings

__all__ = ["StyleJob", "StyleKind", "StyleBuffer", "CPU_PIXEL_STEPS", "CURVES", "style_progress"]

# On a CPU server one transfer may hold a slot for at most about size^2 x steps of this: 5000 steps at
# 256 px (the page's maximum; ~0.2 s a step on a 2-core VM), 1250 at 512, 312 at 1024.
CPU_PIXEL_STEPS = 256 * 256 * 5000
CURVES = ("step", "content", "style", "tv", "total", "t")
_IMAGE_FILES = {"content": "content.img", "style": "style.img"}


@dataclass(frozen=True)
class StyleJob:
    """What the Style page submits: the settings and the uploaded images' bytes (None: a built-in or a file)."""

    settings: StyleSettings
    content: bytes | None = None
    style: bytes | None = None
    preview_every: int = 5


class StyleBuffer:
    """What the Style page draws (losses, the newest image, the final event), behind a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.start: dict[str, Any] | None = None
        self.final: dict[str, Any] | None = None
        self.curves: dict[str, list[float | None]] = {k: [] for k in CURVES}
        self.image: np.ndarray | None = None
        self.download: tuple[int, int] | None = None
        self.version = 0

    def add(self, e: dict[str, Any]) -> None:
        with self._lock:
            kind = e.get("kind")
            if kind == "start":
                self.start, self.image = e, None
            elif kind == "step":
                for k in CURVES:
                    self.curves[k].append(e.get(k))
            elif kind == "download":
                self.download = (e["done"], e["total"])
            if e.get("image") is not None:
                self.image = e["image"]
            if kind in FINAL_KINDS:
                self.final = {k: v for k, v in e.items() if k != "image"}
            self.version += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "start": self.start,
                "final": self.final,
                "image": self.image,
                "download": self.download,
                "curves": {k: list(v) for k, v in self.curves.items()},
                "version": self.version,
            }

    @classmethod
    def from_events(cls, events: Iterable[dict[str, Any]], image: np.ndarray | None = None) -> "StyleBuffer":
        buf = cls()
        for e in events:
            buf.add(e)
        if image is not None:
            buf.image = image
        return buf


def style_progress(snap: dict[str, Any], live: bool) -> dict[str, Any] | None:
    """A transfer's progress from its buffer's snapshot (``progress_line``); None before it starts."""
    start, curves = snap["start"], snap["curves"]
    if not start:
        return None
    done = curves["step"][-1] if curves["step"] else 0
    elapsed = curves["t"][-1] - start["t"] if curves["t"] else 0.0
    return progress_line(done, start["steps"], elapsed, live)


def _is_path(name: str) -> bool:
    return not (name in IMAGES or name.startswith("upload:"))


class StyleKind(JobKind):
    """Style transfer (Gatys et al.): optimise an image's pixels against a CNN's features."""

    name = "style"
    spec_type = StyleJob
    folder = "style"  # run ids are 6+ characters, so the training store never lists this folder
    page = "style"

    def page_query(self, run_id: str) -> dict[str, str]:
        return {"style": run_id}

    def admit(self, spec: StyleJob, owner: str, runs_root=None) -> None:
        s = spec.settings.validate()
        if not s.backbone.startswith("run:"):
            FEATURE_NETS.check(s.backbone)
        if not isinstance(spec.preview_every, int) or not 0 <= spec.preview_every <= 10_000:
            raise ConfigError(f"preview_every must be a whole number from 0 to 10000 (got {spec.preview_every!r}).")
        for role in ("content", "style"):
            data, name = getattr(spec, role), getattr(s, role)
            if data is not None:
                probe(data, label=f"The uploaded {role} image")  # not an image, or too large: from its header
            elif name.startswith("upload:"):
                raise ConfigError(f"The {role} image {name[7:]!r} was an upload: upload it again.")
            elif _is_path(name):  # a file on the server: the classroom folder rule applies
                check_folder_allowed(Path(name).expanduser().parent, owner)
        if resolve_device(s.device).type == "cpu" and s.size**2 * s.steps > CPU_PIXEL_STEPS:
            most = CPU_PIXEL_STEPS // s.size**2
            raise ConfigError(
                f"{s.steps} steps at {s.size} px would hold this server's shared slot (a CPU) too "
                f"long: at {s.size} px use at most {most} steps, or a smaller size. `python -m "
                "playground style` on your own machine has no limit."
            )

    def create(self, store: RunStore[StyleSettings], spec: StyleJob) -> Run[StyleSettings]:
        run = store.create(spec.settings)
        for role, file in _IMAGE_FILES.items():
            data = getattr(spec, role)
            if data is not None:
                atomic_write_bytes(run.dir / file, lambda f, d=data: f.write(d))
        atomic_write_bytes(
            run.dir / "job.json", lambda f: f.write(json.dumps({"preview_every": spec.preview_every}).encode())
        )
        return run

    def parse_config(self, text: str) -> StyleSettings:
        return StyleSettings.from_dict(json.loads(text)).validate()

    def spec(self, run: Run[StyleSettings]) -> StyleJob:
        settings = run.config()  # the StyleSettings (the store reads them with parse_config)
        images = {
            role: (run.dir / f).read_bytes() if (run.dir / f).is_file() else None for role, f in _IMAGE_FILES.items()
        }
        every = json.loads((run.dir / "job.json").read_text("utf-8")).get("preview_every", 5)
        return StyleJob(settings, images["content"], images["style"], int(every))

    def device_of(self, spec: StyleJob) -> str:
        return spec.settings.device

    def events(
        self, run, store, controls, resuming: bool, emit: Callable[[dict[str, Any]], None], device: str | None = None
    ) -> Iterator[dict[str, Any]]:
        spec = self.spec(run)
        if device:
            spec = StyleJob(spec.settings.replace(device=device), spec.content, spec.style, spec.preview_every)

        def progress(done: int, total: int) -> None:
            emit({"kind": "download", "done": done, "total": total})

        stream = run_stylize(
            spec.settings,
            content=spec.content,
            style=spec.style,
            controls=_Watch(controls),
            preview_every=spec.preview_every,
            progress=progress,
            store_root=str(Path(store.root).parent),
        )
        for e in stream:
            image = e.get("image")
            if e["kind"] in FINAL_KINDS and image is not None:
                atomic_write_bytes(run.dir / "result.png", lambda f, im=image: f.write(to_png(im)))
            elif image is not None:
                atomic_write_bytes(run.dir / "preview.png", lambda f, im=image: f.write(to_png(im)))
            if e["kind"] == "stopped" and controls.out_of_time() and not controls.stopped:
                e["message"] = (
                    f"Stopped at step {e.get('step', 0)}: this server lets a job run for at most "
                    f"{controls.time_limit_s / 60:g} minutes. The result so far is kept."
                )
            run.append({k: v for k, v in e.items() if k != "image"})
            yield e

    def buffer(self) -> StyleBuffer:
        return StyleBuffer()

    def buffer_from_run(self, run) -> StyleBuffer:
        picture = next((run.dir / f for f in ("result.png", "preview.png") if (run.dir / f).is_file()), None)
        image = np.asarray(decode(picture, mode="RGB")) if picture is not None else None
        return StyleBuffer.from_events(run.events(), image)


class _Watch:
    """The job's controls as the style loop reads them: stopped by Stop, the time cap or the server going
    away (a transfer is short: it keeps its result rather than resuming); a pause waits."""

    def __init__(self, controls) -> None:
        self.controls = controls

    @property
    def stopped(self) -> bool:
        self.controls.wait_while_paused()
        return self.controls.stopped or self.controls.interrupted or self.controls.out_of_time()


JOB_KINDS.register("style")(StyleKind())
