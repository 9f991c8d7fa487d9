"""The live-run kit every page with a run uses (Train, Autoencoders, Transfer, Style): opening the run named in
the URL (or saying why not), the fragment that redraws it while it is live, the box for how it ended, the status
and Stop / Pause / Resume row, and the downloads of a run (Train, Autoencoders, Transfer).
The session that controls the run gets its files as they are and may write model.onnx into the run
folder; a session that only views it (a shared link) gets copies that name no folder of the server,
and an ONNX export that leaves the run folder as it was."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import streamlit as st

from app_pages.common import guarded, job_manager, may_see, owner, status_badge, view_link
from playground import export
from playground.config import without_server_paths
from playground.errors import PlaygroundError

LIVE = ("queued", "running", "paused")
LIVE_S = 1.0  # a run that trains: its view's newest events are at most about a second old
QUEUED_S = 3.0  # a run that waits for a slot: its place in the queue


def refresh_every(*statuses: str) -> float | None:
    """How often a live view of runs in ``statuses`` redraws (its fragment's ``run_every``): every second
    while one trains, every 3 s while they all wait in the queue, never once they have ended. At the start of
    a lesson most of a class's views are queued ones: polled every 3 s they cost the server's one Python
    process a third (docs/BENCHMARKS.md). A view redraws its page when a run leaves the queue
    (``left_queue``), which sets the one-second timer."""
    live = [s for s in statuses if s in LIVE]
    return None if not live else QUEUED_S if all(s == "queued" for s in live) else LIVE_S


def left_queue(drawn: str, now: str) -> bool:
    """A run drawn as queued that no longer is (it started, or was stopped): the page redraws."""
    return drawn == "queued" and now != "queued"


@dataclass(frozen=True)
class Opened:
    """A run a page shows: ``drawn`` is its status when the page was drawn, ``mine`` whether this session
    controls it (it started it, or the URL holds its control key)."""

    run_id: str
    kind: str
    run: Any
    mine: bool
    drawn: str

    @property
    def live(self) -> bool:
        return self.drawn in LIVE


def status_of(run_id: str, kind: str) -> str:
    try:
        return job_manager().status(run_id, kind)
    except PlaygroundError:  # its folder went away or is damaged
        return "damaged"


def open_run(run_id: str, kind: str = "train", ctl: str | None = None, noun: str = "run") -> Opened | None:
    """The run ``run_id`` of ``kind``, or None after saying why it cannot be shown (gone or damaged; another
    session's on a server that shares none)."""
    manager = job_manager()
    try:
        run = manager.store_for(kind).open(run_id)
    except PlaygroundError as e:
        st.error(f"{e} Start a new {noun} above.")
        return None
    mine = manager.may_control(run_id, owner(), ctl, kind)
    if not mine and not may_see(run_id):
        st.warning(
            f"This {noun} belongs to another session, and this server does not show other sessions' runs "
            f"(PLAYGROUND_SHARE_RUNS=none). Start your own above.",
            icon=":material/lock:",
        )
        return None
    return Opened(run_id, kind, run, mine, status_of(run_id, kind))


def view_only_link(noun: str = "run", **query: str) -> None:
    """The link that opens a run for watching (the address bar also holds the control key)."""
    st.caption(f"View-only link to this {noun}: `{view_link(**query)}`")


def ended_box(final: dict | None) -> None:
    """How a run ended, when it did not simply finish: an error or a divergence in red with its message (which
    says what to do), a stop as information."""
    if final and final["kind"] not in ("done",):
        (st.info if final["kind"] == "stopped" else st.error)(final.get("message", final["kind"]))


def live_view(runs: list[Opened], draw: Callable[[dict[str, tuple[str, dict]]], None], per_epoch: bool = False) -> None:
    """The refreshing part of a run page, one fragment for ``runs``: ``draw`` gets each run's status and
    snapshot ({run_id: (status, snapshot)}) once per redraw and returns (streamlit/streamlit#6510: no loop, no
    growing traces). It redraws every second while one trains, every 3 s while they all wait, never once they
    have ended (``refresh_every``). When a run leaves the queue, ends or (``per_epoch``) finishes an epoch,
    the whole page redraws once, so the parts drawn outside the fragment (per-epoch views, downloads) follow."""
    manager = job_manager()
    drawn = {o.run_id: o.drawn for o in runs}
    kinds = {o.run_id: o.kind for o in runs}
    live = any(o.live for o in runs)

    def read() -> dict[str, tuple[str, dict]]:
        out = {}
        for run_id, kind in kinds.items():
            status = status_of(run_id, kind)
            out[run_id] = (status, manager.snapshot(run_id, kind))
        return out

    epochs = lambda now: tuple(len(snap.get("epochs", ())) for _, snap in now.values())
    key = "_live_epochs_" + "_".join(kinds)
    st.session_state[key] = epochs(read()) if per_epoch else ()

    @st.fragment(run_every=refresh_every(*drawn.values()))
    def part() -> None:
        now = read()
        draw(now)
        ended = not any(status in LIVE for status, _ in now.values())
        if live and (
            ended
            or any(left_queue(drawn[r], now[r][0]) for r in now)
            or (per_epoch and st.session_state[key] != epochs(now))
        ):
            st.rerun()  # started, a new epoch, or the end: the whole page redraws once

    part()


def control_row(run_id: str, status: str, mine: bool, key: str, pause: bool = True, note: str = "") -> list:
    """One row, the same on every page: the run's status, then for the session that controls it Stop and
    Pause / Resume (``pause``), its place in the queue while it waits, else a "view only" note; ``note`` is
    shown while it is live. Widget keys ``<key>_stop``, ``<key>_pause``, ``<key>_resume``. Returns the row's
    columns: a page puts its own controls in columns 3 and 4."""
    manager = job_manager()
    cols = st.columns([2, 1, 1, 1.6, 2.4])  # the fourth holds "Learning rate" (Train), not cut short
    cols[0].markdown(f"**{status_badge(status)}**")
    if not mine:
        if status in LIVE + ("interrupted",):
            cols[4].caption(":material/visibility: View only: the session that started this run controls it.")
        return cols
    if status == "queued":
        cols[4].info(
            f"Waiting for a free slot: number {manager.queue_position(run_id)} in the queue "
            f"({manager.max_running} run(s) at once).",
            icon=":material/hourglass_top:",
        )
    elif status in LIVE and note:
        cols[4].caption(note)
    if status in LIVE and cols[1].button("Stop", key=f"{key}_stop", icon=":material/stop:"):
        manager.stop(run_id)
    if pause and status == "paused" and cols[2].button("Resume", key=f"{key}_resume", icon=":material/play_arrow:"):
        manager.unpause(run_id)
    elif pause and status == "running" and cols[2].button("Pause", key=f"{key}_pause", icon=":material/pause:"):
        manager.pause(run_id)
    return cols


def downloads(run, mine: bool, script: bool = True) -> None:
    """Model, metrics, settings, script (when ``script``) and ONNX of ``run``; ``mine``: this session
    controls the run."""
    from playground.settings import settings as server_settings

    a, b, c, d, e = st.columns(5)
    # The files as they are (the server's folders in them) only for the session that controls the run on a
    # server whose folders it may type (a laptop: its own machine); a viewer, and on a shared server everyone,
    # gets copies whose settings name no server folder.
    own = mine and server_settings().server_folders
    path = run.weights_path()
    if path is not None:  # a copy's settings rewritten in memory, made when the button is pressed
        model = path.read_bytes() if own else lambda: export.checkpoint_without_server_paths(path)
        a.download_button(
            "Model (.pt)",
            model,
            file_name=f"{run.run_id}.pt",
            mime="application/octet-stream",
            key="d_model",
            icon=":material/download:",
            help="state dict + settings; torch.load(path, weights_only=True)",
        )
    b.download_button(
        "Metrics (.csv)",
        run.metrics_csv(),
        file_name=f"{run.run_id}-metrics.csv",
        mime="text/csv",
        key="d_csv",
        icon=":material/download:",
    )
    settings = (
        run.config_path.read_text() if own else guarded(lambda: without_server_paths(run.config()).to_json(indent=2), c)
    )
    c.download_button(
        "Settings (.json)",
        settings or "",
        file_name=f"{run.run_id}-config.json",
        mime="application/json",
        key="d_cfg",
        icon=":material/download:",
        disabled=settings is None,
    )
    finished = run.model_path.exists()
    if script:
        training_script(run, own, finished, d)
    onnx_path = run.dir / "model.onnx"
    held = st.session_state.get(f"onnx_bytes_{run.run_id}")  # a viewer's export, kept in its session only
    if onnx_path.exists() or held is not None:
        e.download_button(
            "Model (.onnx)",
            onnx_path.read_bytes() if onnx_path.exists() else held,
            file_name=f"{run.run_id}.onnx",
            mime="application/octet-stream",
            key="d_onnx",
            icon=":material/download:",
            help="input: float images (B, C, H, W) in [0, 1]; normalisation is inside",
        )
    elif e.button(
        "Export ONNX",
        key="x_onnx",
        icon=":material/output:",
        disabled=not finished,
        help="exports the final model and checks it with onnxruntime"
        if finished
        else "available once the run has stopped or finished",
    ):
        with e, st.spinner("Exporting and checking with onnxruntime ..."):
            report = guarded(lambda: onnx_export(run, mine))
        if report:
            st.session_state[f"onnx_report_{run.run_id}"] = report
            st.rerun()
    report = st.session_state.get(f"onnx_report_{run.run_id}")
    if report:
        st.caption(
            f":material/check_circle: ONNX file checked with onnxruntime: largest difference from "
            f"PyTorch {report['max_abs_diff']:.1e} on random images ({report['bytes'] / 1e6:.1f} MB)."
        )
    st.caption("Every chart downloads as PNG from the camera icon in its top-right corner.")


def training_script(run, mine: bool, finished: bool, where) -> None:
    """The script's download (``mine``: with the server's folders in it); a run that has none (a transfer
    from another playground run) gets the button greyed out with the reason beside it, not an error box:
    nothing went wrong."""
    text, why = None, "available once the run has stopped or finished"
    if finished:
        try:
            text = export.run_training_script(run, server_paths=mine)
        except PlaygroundError as e:
            why = str(e)
    where.download_button(
        "Script (.py)",
        text or "",
        file_name=f"{run.run_id}.py",
        mime="text/x-python",
        key="d_script",
        icon=":material/code:",
        disabled=text is None,
        help="a standalone training script (torch + torchvision only) that reproduces this run"
        if text is not None
        else why,
    )
    if finished and text is None:
        where.caption(why)


def onnx_export(run, mine: bool) -> dict:
    """The controlling session writes runs/<id>/model.onnx; a viewer's file goes to a temporary folder
    (deleted) and its bytes stay in the viewer's session, so the run folder is left as it was."""
    if mine:
        return export.export_run_onnx(run)
    data, report = export.run_onnx_bytes(run)
    st.session_state[f"onnx_bytes_{run.run_id}"] = data
    return report
