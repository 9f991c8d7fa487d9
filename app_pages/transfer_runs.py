"""The Transfer page's runs, live: the transferred run and the from-scratch one beside it, each with the kit's
control row (status, Stop, Pause / Resume), progress, curves, test accuracy and model download, and their
accuracies on one chart. Drawn by the live-run kit's fragment (``app_pages/run_panel.py``), which redraws
them while they train."""

from __future__ import annotations

import streamlit as st

from app_pages.common import guarded, may_see, my_runs, owner, view_link
from app_pages.run_panel import LIVE, control_row, ended_box, live_view, open_run
from playground import export, plots
from playground.jobs.buffer import run_progress
from playground.transfer.plots import comparison_figure


def url_runs(manager, qp) -> dict[str, str]:
    """The transfer runs the URL names (?run=, ?cmp=); with its control key (?ctl=, ?cmp_ctl=) a run is mine."""
    out: dict[str, str] = {}
    for run_id, key in ((qp.get("run"), qp.get("ctl")), (qp.get("cmp"), qp.get("cmp_ctl"))):
        cfg = guarded(lambda r=run_id: manager.store.open(r).config()) if run_id else None
        if cfg is None or cfg.model.name != "transfer":
            continue
        if run_id not in my_runs() and manager.may_control(run_id, owner(), key):
            my_runs().append(run_id)
        if not may_see(run_id):
            st.warning(f"Run {run_id} is another session's; this server shows only your own.", icon=":material/lock:")
            continue
        out.setdefault("from scratch" if dict(cfg.model.params).get("weights") == "none" else "transferred", run_id)
    return out


def transfer_runs(manager, qp, use_cache: bool) -> None:
    """The runs the URL names (?run=, ?cmp=), else the ones this session started here (``tl_runs``)."""
    runs: dict[str, str] = url_runs(manager, qp) if qp.get("run") else st.session_state.get("tl_runs", {})
    keys = {qp.get("run"): qp.get("ctl"), qp.get("cmp"): qp.get("cmp_ctl")}  # control keys from the URL
    if not runs:
        return
    st.subheader("Runs", divider="gray")
    shared = {"cmp": runs.get("from scratch", "")} if "transferred" in runs else {}
    st.caption(f"View-only link to these runs: `{view_link(next(iter(runs.values())), **shared)}`")
    opened = [o for o in (open_run(r, "train", keys.get(r)) for r in runs.values()) if o is not None]
    names = {run_id: name for name, run_id in runs.items()}
    mine_of = {o.run_id: o.mine for o in opened}

    def live_runs(now: dict[str, tuple[str, dict]]) -> None:
        epochs_by_run = {}
        for col, (run_id, (status, snap)) in zip(st.columns(len(now)), now.items()):
            with col:
                run_column(manager, run_id, names[run_id], mine_of[run_id], status, snap, use_cache)
            if snap["start"] and snap["epochs"]:
                epochs_by_run[names[run_id]] = snap["epochs"]
        if epochs_by_run:
            st.plotly_chart(comparison_figure(epochs_by_run), key="tl_compare_fig")

    live_view(opened, live_runs)  # one started, or all finished: the page redraws once


def run_column(manager, run_id: str, name: str, mine: bool, status: str, snap: dict, use_cache: bool) -> None:
    """One run: its name, the kit's control row (status; Stop, Pause / Resume for the session that controls
    it), how it ended, then its
    progress, curves and test accuracy, and once it has ended its model's download."""
    st.markdown(f"**{name}** · `{run_id}`")
    control_row(run_id, status, mine, key=f"tl_{name}")  # the kit's row: status, Stop, Pause / Resume, queue
    ended_box(snap["final"])
    start = snap["start"]
    if status == "queued" and not mine:
        st.caption(f"waiting for a free slot (number {manager.queue_position(run_id)} in the queue)")
    elif start is None:
        st.caption(
            "preparing: loading the data and the backbone"
            + (", computing the features once" if name == "transferred" and use_cache else "")
            + "..."
        )
    if start:
        bar = run_progress(snap, not snap["final"])
        st.progress(
            bar["fraction"],
            text=f"{bar['label']} · {start['trainable_parameters']:,} of {start['parameters']:,} parameters train",
        )
        if snap["steps"]["step"]:
            st.plotly_chart(
                plots.training_curves(snap["steps"], snap["epochs"]),
                key=f"tl_curves_{name}",
                config={"staticPlot": status == "running"},
            )
        if snap["epochs"]:
            last = snap["epochs"][-1]
            st.metric("test accuracy", f"{last['test_acc']:.2%}", help=f"after epoch {last['epoch'] + 1}")
    if status not in LIVE:
        path = manager.store.open(run_id).weights_path()
        if path is not None:
            # read when pressed (vgg16: ~530 MB); a viewer's copy names no server folder
            data = path.read_bytes if mine else (lambda p=path: export.checkpoint_without_server_paths(p))
            st.download_button(
                "Model (.pt)", data, file_name=f"{run_id}.pt", key=f"tl_dl_{name}", icon=":material/download:"
            )
