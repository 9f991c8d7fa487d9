"""A style transfer on a background thread, for the Style page: ``StyleWorker`` runs ``run_stylize``
and keeps what the page draws (losses, the latest image, the final event) behind a lock.

Every session of the server shares the style slots (``slots()``, sized by
``PLAYGROUND_MAX_STYLE_JOBS``); a worker nobody polls stops itself and gives its slot back, and on a
CPU the work one worker may do is capped."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import numpy as np

from playground.device import resolve_device
from playground.errors import ConfigError
from playground.settings import settings as server_settings

from .loop import run_stylize
from .settings import StyleSettings

__all__ = ["StyleWorker", "slots", "ABANDON_AFTER_S", "CPU_PIXEL_STEPS"]

_slots: threading.BoundedSemaphore | None = None
_slots_lock = threading.Lock()


def slots() -> threading.BoundedSemaphore:
    """The semaphore that style transfers of every session share (the device is shared); created on
    first use with ``settings().max_style_jobs`` places."""
    global _slots
    with _slots_lock:
        if _slots is None:
            _slots = threading.BoundedSemaphore(server_settings().max_style_jobs)
        return _slots


# A worker whose page stopped asking for snapshots (browser closed, session gone) stops itself after this
# long and keeps its result, so an abandoned 2048 px run does not hold the shared slot for hours. Two
# minutes, not one: a browser throttles the timers of a hidden tab to about one per minute.
ABANDON_AFTER_S = 120.0
# On a CPU server one worker may hold the shared slot for at most about size^2 x steps of this: 5000
# steps at 256 px (the page's maximum; ~0.2 s a step on a 2-core VM), 1250 at 512, 312 at 1024.
CPU_PIXEL_STEPS = 256 * 256 * 5000


class _Stop:
    def __init__(self, expired: Callable[[], bool] = lambda: False) -> None:
        self._ev = threading.Event()
        self._expired = expired

    def stop(self) -> None:
        self._ev.set()

    @property
    def stopped(self) -> bool:
        if not self._ev.is_set() and self._expired():
            self._ev.set()
        return self._ev.is_set()


class StyleWorker:
    """One style transfer on a thread; the page reads ``snapshot()`` from its fragment (never st.* here).

    Stop keeps the current result: the worker ends with a ``stopped`` event carrying the image. So does a
    worker nobody polls: ``snapshot()`` not called for ``abandon_after`` seconds. On a CPU the work is
    capped (``CPU_PIXEL_STEPS``): the slot is shared by every session of the server."""

    def __init__(self, settings: StyleSettings, content: Any = None, style: Any = None, *,
                 preview_every: int = 5, store_root: str | None = None, abandon_after: float = ABANDON_AFTER_S):
        settings.validate()
        if resolve_device(settings.device).type == "cpu" and settings.size ** 2 * settings.steps > CPU_PIXEL_STEPS:
            most = CPU_PIXEL_STEPS // settings.size ** 2
            raise ConfigError(f"{settings.steps} steps at {settings.size} px would hold this server's shared "
                              f"style-transfer slot (a CPU) too long: at {settings.size} px use at most {most} steps, "
                              "or a smaller size. `python -m playground style` on your own machine has no limit.")
        self.settings = settings
        self.abandon_after = float(abandon_after)
        self._polled = time.monotonic()
        self.abandoned = False
        self.controls = _Stop(self._expired)
        self._lock = threading.Lock()
        self.state = "queued"
        self.start_event: dict[str, Any] | None = None
        self.final: dict[str, Any] | None = None
        self.curves: dict[str, list[float]] = {k: [] for k in ("step", "content", "style", "tv", "total", "t")}
        self.image: np.ndarray | None = None
        self.download: tuple[int, int] | None = None
        self.version = 0
        self._args = (content, style, preview_every, store_root)
        self._slots = slots()
        self.thread = threading.Thread(target=self._work, name="stylize", daemon=True)
        self.thread.start()

    def _progress(self, done: int, total: int) -> None:
        with self._lock:
            self.download = (done, total)
            self.version += 1

    def _expired(self) -> bool:
        if time.monotonic() - self._polled > self.abandon_after:
            self.abandoned = True
        return self.abandoned

    def _work(self) -> None:
        content, style, preview_every, store_root = self._args
        with self._slots:
            if self.controls.stopped:
                self._add({"kind": "stopped", "message": "Stopped before it started.", "step": 0})
                return
            self.state = "running"
            try:
                for e in run_stylize(self.settings, controls=self.controls, preview_every=preview_every,
                                     store_root=store_root, progress=self._progress,
                                     **({"content": content} if content is not None else {}),
                                     **({"style": style} if style is not None else {})):
                    self._add(e)
            finally:
                if self.state in ("queued", "running"):
                    self._add({"kind": "error", "message": "The transfer ended without a result."})

    def _add(self, e: dict[str, Any]) -> None:
        with self._lock:
            kind = e["kind"]
            if kind == "start":
                self.start_event = e
                self.image = None
            elif kind == "step":
                for k in self.curves:
                    self.curves[k].append(e[k])
            if "image" in e:
                self.image = e["image"]
            if kind in ("done", "stopped", "diverged", "error"):
                self.final = {k: v for k, v in e.items() if k != "image"}
                if kind == "stopped" and self.abandoned:
                    self.final["message"] = (f"Stopped at step {e.get('step', 0)}: nobody had looked at this transfer "
                                             f"for {self.abandon_after:.0f} s (the page was closed or left), so it "
                                             "gave the shared slot back. The result so far is kept.")
                self.state = kind
            self.version += 1

    def stop(self) -> None:
        self.controls.stop()

    @property
    def live(self) -> bool:
        return self.state in ("queued", "running")

    def snapshot(self) -> dict[str, Any]:
        """The page's view of the run; each call also tells the worker someone is still watching."""
        self._polled = time.monotonic()
        with self._lock:
            return {"state": self.state, "start": self.start_event, "final": self.final, "image": self.image,
                    "curves": {k: list(v) for k, v in self.curves.items()}, "download": self.download,
                    "version": self.version}

    def result(self) -> dict[str, Any]:
        """Settings and final figures (the settings JSON download)."""
        snap = self.snapshot()
        return {"settings": self.settings.to_dict(), "result": snap["final"],
                "backbone": (snap["start"] or {}).get("backbone")}

