"""What a person does to a job: who may control it, and stop, pause, step once, change a setting, unpause;
and stopping everything. The job manager's half that acts on jobs already submitted (``manager.JobManager``
holds the queue, the slots and the workers)."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from ..errors import PlaygroundError
from .reading import JobReading

if TYPE_CHECKING:
    pass

__all__ = ["JobActions"]


class JobActions(JobReading):
    """The control methods of ``JobManager`` (a base class over its reading half: they use its lock, queue and
    jobs)."""

    def close(self, timeout: float = ...) -> None:
        raise NotImplementedError

    def may_control(self, run_id: str, owner: str, key: str | None, kind: str | None = None) -> bool:
        """The session that started the run (live, or from its folder's ``owner.sha256`` after a restart), or
        one holding its control key."""
        job = self.get(run_id)
        if job is not None:
            if job.owner == owner:
                return True
            if not key:
                return False
        try:
            run = self._open(run_id, kind or self.kind_of(run_id))
        except PlaygroundError:
            return False
        if job is None and run.owned_by(owner):
            return True
        stored = run.control_key() if key else None
        return stored is not None and key is not None and secrets.compare_digest(stored, key)

    def stop_owner(self, owner: str) -> int:
        """Stop every live run of one session (the teacher): queued ones leave the queue. How many."""
        mine = [j.run_id for j in self.jobs(owner) if j.live]
        for run_id in mine:
            self.stop(run_id)
        return len(mine)

    def clear_queue(self) -> int:
        """Take every queued run that has not started off the queue (the teacher). How many."""
        with self._lock:
            waiting = [r for r in self._queue if (j := self.get_locked(r)) is not None and j.thread is None]
        for run_id in waiting:
            self.stop(run_id)
        return len(waiting)

    def stop(self, run_id: str) -> None:
        job = self.get(run_id)
        if job is None:
            return
        with self._lock:
            if run_id in self._queue and job.thread is not None:  # a released pause waiting for a slot
                self._queue.remove(run_id)
            elif run_id in self._queue:  # never started: take it off the queue
                self._queue.remove(run_id)
                event = {"kind": "stopped", "step": 0, "t": 0.0, "message": "Removed from the queue before it started."}
                job.run.append(event)
                (job.run.dir / "queued").unlink(missing_ok=True)  # manager.QUEUED: it waits no longer
                job.buffer.add(event)
                job.state = "stopped"
                return
        job.controls.stop()

    def change(self, run_id: str, **settings: float) -> dict[str, float]:
        """Change the learning rate (momentum, weight decay) of a run while it trains or is paused: applied
        by its worker from the next step, as a ``set`` event. PlaygroundError when it is not training or a
        value is out of range. The page lets only whoever controls the run call this."""
        job = self.get(run_id)
        if job is None or not job.live or not job.kind.tunable:
            raise PlaygroundError("Settings change while a run trains; this one is not training now.")
        return job.controls.change(**settings)

    def pause(self, run_id: str) -> None:
        job = self.get(run_id)
        if job is not None:
            job.controls.pause()

    def step_once(self, run_id: str) -> None:  # a paused run trains one batch, reports it, stays paused
        job = self.get(run_id)
        if job is None or job.state != "running" or job.released:
            raise PlaygroundError("Step once works while a run is paused (and holds its slot): press Pause first.")
        job.controls.step_once()

    def unpause(self, run_id: str) -> None:
        job = self.get(run_id)
        if job is None:
            return
        if job.released:  # its slot went to another run: wait in the queue for one
            with self._lock:
                if run_id not in self._queue:
                    self._queue.append(run_id)
            self._pump()
            return
        job.controls.resume()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop everything (tests, server exit)."""
        self.close()  # a stopped run frees its slot: nothing queued may take it now, no start goes on
        with self._lock:
            queued = list(self._queue)
        for run_id in queued:
            self.stop(run_id)
        for job in self.jobs():
            job.controls.stop()
        for job in self.jobs():
            thread = job.thread
            if thread is not None:
                thread.join(timeout)
            if job.worker is not None and thread is not None and thread.is_alive():
                job.worker.kill()  # it did not stop in time: its run is listed as interrupted
        with self._lock:  # a start the closing turned back went back to the queue meanwhile
            queued = list(self._queue)
        for run_id in queued:
            self.stop(run_id)
