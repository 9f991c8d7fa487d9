"""The queue's fairness, for the job manager: whether a session may queue one more job (the full queue,
the quota per session and per client address: ``check_room``), the order the queue is served in (round
robin by session: ``serving_order``) and a long pause's slot given to the next run (``release_idle_pauses``).
All read the manager's jobs; the caller holds its lock."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from ..errors import PlaygroundError
from ..settings import settings
from .job import Job

__all__ = ["check_room", "serving_order", "release_idle_pauses"]


def check_room(jobs: Iterable[Job], queued: int, max_queued: int, owner: str, addresses: Mapping[str, str]) -> None:
    """Raises PlaygroundError (saying what to do) when the queue is full, or ``owner``'s session or client
    address (``addresses``: session -> its client's address) has as many live jobs as it may."""
    jobs = list(jobs)
    if queued >= max_queued:
        raise PlaygroundError(
            f"The queue is full ({max_queued} runs waiting). Try again when some "
            "have finished, or ask the teacher to raise the limit."
        )
    cfg = settings()
    quota = cfg.max_runs_per_session
    mine = sum(1 for j in jobs if j.owner == owner and j.live)
    if quota and mine >= quota:
        raise PlaygroundError(
            f"You have {mine} runs queued or training; this server allows {quota} per "
            "person at once. Stop one, or wait until one has finished."
        )
    address = addresses.get(owner)
    if cfg.max_runs_per_address and address is not None:
        near = sum(1 for j in jobs if j.live and addresses.get(j.owner) == address)
        if near >= cfg.max_runs_per_address:
            raise PlaygroundError(
                f"{near} runs from your network address are queued or training; this server "
                f"allows {cfg.max_runs_per_address} at once (PLAYGROUND_MAX_RUNS_PER_ADDRESS). "
                "Wait until one has finished, or ask the teacher."
            )


def serving_order(jobs: Mapping[str, Job], queue: Sequence[str], served: Mapping[str, int]) -> list[str]:
    """The queue in the order it is served: round robin by session (the session with the fewest runs
    training, then the one served longest ago, goes first; its oldest queued run), so one session's many
    runs never hold the others back. A released pause waiting for its slot keeps its place. ``served``:
    session -> when its last queued job started."""
    running: dict[str, int] = {}
    for j in jobs.values():
        if j.state == "running" and not j.released:
            running[j.owner] = running.get(j.owner, 0) + 1
    seen: dict[str, int] = {}
    keyed = []
    for i, r in enumerate(queue):
        o = jobs[r].owner
        nth, seen[o] = seen.get(o, 0), seen.get(o, 0) + 1  # this session's nth waiting run
        keyed.append(((nth + running.get(o, 0), served.get(o, -1), i), r))
    return [r for _, r in sorted(keyed)]


def release_idle_pauses(jobs: Iterable[Job]) -> None:
    """A run paused for longer than PLAYGROUND_PAUSE_RELEASE_MIN gives its slot to the next one (marked
    ``released``; the caller holds the manager's lock)."""
    limit = settings().pause_release_minutes * 60
    if not limit:
        return
    for j in jobs:
        if j.state == "running" and not j.released and j.controls.paused_for() > limit:
            j.released = True
