"""Controls of a running ``fit``, safe to call from another thread: stop, pause, resume, step once (one
batch while paused, then paused again), interrupt
(the server is going away: save the step reached and end without a final event, so the run is
listed as interrupted and resumes from there), and a limit on the training time (a shared server's
cap on how long one run may hold a slot)."""

from __future__ import annotations

import math
import queue
import threading
import time

from ..errors import ConfigError

__all__ = ["Controls", "CHANGE_RANGES"]

CHANGE_RANGES = {"lr": (0.0, 10.0), "momentum": (0.0, 0.999), "weight_decay": (0.0, 1.0)}
_STEP = "__step_once__"  # a message on the changes queue: train one batch, then stay paused


class Controls:
    def __init__(self, time_limit_s: float | None = None, events: tuple | None = None) -> None:
        # (stop, running, interrupt, changes) events and a queue of setting changes: threading ones by
        # default, multiprocessing ones to control a worker process (``workers.process_controls``); the
        # process that trains and the one that controls each hold a Controls over the same objects.
        if events is None:
            events = (threading.Event(), threading.Event(), threading.Event(), queue.SimpleQueue())
            events[1].set()  # running
        self.events = events
        self._stop, self._running, self._interrupt, self._changes = events
        self.time_limit_s = time_limit_s  # training time, pauses left out; None: no limit
        self._t0: float | None = None  # the first check: training begins
        self._paused_s = 0.0
        self._paused_at: float | None = None
        self._timed_out = False
        self._held: dict[str, float] = {}  # changes read while paused (waiting for a step), not yet applied
        self._single = False  # the trainer woke for one step

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # wake a paused run so it can stop

    def pause(self) -> None:
        if not self._stop.is_set():  # a stop already asked for wins
            if self._running.is_set():
                self._paused_at = time.monotonic()
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def step_once(self) -> None:
        """While paused: train one batch (the trainer then reports it and stays paused)."""
        if self.stopped:
            raise ConfigError("The run is stopping: there is no step to take.")
        if not self.paused:
            raise ConfigError("Step once works while the run is paused: press Pause first.")
        self._paused_at = time.monotonic()  # stepping through by hand is not idling: the slot stays
        self._changes.put({_STEP: 1.0})

    def _read(self, item: dict[str, float]) -> bool:
        if _STEP in item:
            return True
        self._held.update(item)
        return False

    def change(self, **settings: float) -> dict[str, float]:
        """Change settings of the optimiser while it trains (``lr``, ``momentum``, ``weight_decay``): they
        apply from the next step. A value that is not a finite number in range is refused here."""
        clean = {}
        for name, v in settings.items():
            if name not in CHANGE_RANGES:
                raise ConfigError(f"{name!r} cannot be changed while training; {', '.join(CHANGE_RANGES)} can.")
            lo, hi = CHANGE_RANGES[name]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise ConfigError(
                    f"{name.replace('_', ' ')} must be a number from {lo:g} to {hi:g} (got {v!r})"
                    + ("; the learning rate must be above 0" if name == "lr" else "")
                    + "."
                )
            if name == "lr" and v == 0:
                raise ConfigError("The learning rate must be above 0 (0 would stop learning; Pause does that).")
            clean[name] = float(v)
        self._changes.put(clean)
        return clean

    def changes(self) -> dict[str, float]:
        """The changes asked for since the last call, merged (the newest value of each wins)."""
        while True:
            try:
                self._read(self._changes.get_nowait())  # a step asked for while running: already going
            except queue.Empty:
                out, self._held = self._held, {}
                return out

    def take_single(self) -> bool:
        """True once after the trainer woke from a pause for one step (it then stays paused)."""
        single, self._single = self._single, False
        return single

    def interrupt(self) -> None:
        """The server is stopping: save a checkpoint at the current step and end, resumable."""
        self._interrupt.set()
        self._running.set()  # a paused run saves too

    @property
    def interrupted(self) -> bool:
        return self._interrupt.is_set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def paused_for(self) -> float:
        """Seconds since the run was paused (0 when it is not)."""
        at = self._paused_at
        return time.monotonic() - at if self.paused and at is not None else 0.0

    def wait_while_paused(self) -> float:
        """Block while paused, or until one step is asked for (``take_single``); return the seconds waited."""
        if self._running.is_set():
            return 0.0
        t0 = time.perf_counter()
        while not self._running.wait(0.05):
            try:
                if self._read(self._changes.get_nowait()):
                    self._single = True
                    break
            except queue.Empty:
                pass
        waited = time.perf_counter() - t0
        self._paused_s += waited
        if not self._single:  # resumed (one step keeps the pause, and when it began)
            self._paused_at = None
        return waited

    def out_of_time(self) -> bool:
        """True once the run has trained for longer than its limit (checked by the engine every step)."""
        if self.time_limit_s is None:
            return False
        now = time.perf_counter()
        if self._t0 is None:
            self._t0 = now
        self._timed_out = now - self._t0 - self._paused_s > self.time_limit_s
        return self._timed_out

    def stop_message(self, step: int, total_steps: int) -> str:
        if self._timed_out and not self.stopped:
            return (
                f"Stopped at step {step} of {total_steps}: this server lets a run train for at most "
                f"{(self.time_limit_s or 0) / 60:g} minutes. The model so far is saved. After a finished epoch, "
                "Resume continues from it; stopped inside its first epoch, a run has nothing to resume "
                "from: start it again with fewer epochs or training images, or a smaller model."
            )
        return f"Stopped at step {step} of {total_steps}; the model so far is saved."
