"""The Train page's live-run parts: the batch "Step once" trained on, the learning rate changed while the
run trains (confirmed where it was applied, and on the metric until a step trains with it), the progress bar,
the curves and the latest epoch's views (confusion matrix, per-class accuracy, test predictions)."""

from __future__ import annotations

import streamlit as st

from app_pages.common import guarded, job_manager, md
from app_pages.inside_shared import confusion_drilldown
from app_pages.param_widgets import log_steps
from app_pages.run_panel import ended_box
from playground import plots
from playground.data import explore, load_dataset
from playground.images import hwc
from playground.jobs.buffer import latest_test_acc, run_progress
from playground.train.stepview import read_batch


def stepped_batch(run, snap: dict) -> None:
    """The batch the last "Step once" trained on: the images as the network saw them (augmented), each with
    its true class, the prediction and its probability, and the batch's loss."""
    b = snap["batch"]
    classes = (snap["start"] or {}).get("dataset", {}).get("classes") or []
    name = lambda i: md(classes[i]) if 0 <= i < len(classes) else str(i)
    acc = f", {b['batch_acc']:.0%} right" if "batch_acc" in b else ""
    st.markdown(
        f"**Step {b['step']}** trained on {b['batch_size']} images: loss {b['loss']:.4f}{acc}. The first "
        f"{b['shown']}, as the network saw them (augmented), with what it predicted before it learnt from "
        "them (true → predicted):"
    )
    images = read_batch(run, b["step"]) if b.get("images") else None
    if images is None:
        st.caption("(the images of this step are not available)")
        return
    caps = [
        f"{name(t)} → {name(p)} ({c:.0%})" + (" ✓" if t == p else " ✗")
        for t, p, c in zip(b.get("labels", []), b.get("preds", []), b.get("confidence", []))
    ] or None
    st.image([hwc(x) for x in images], caption=caps, width=96)


LR_STEPS = log_steps(1e-5, 1.0)


def live_change(run_id: str, where, snap: dict) -> None:
    """Change the learning rate while the run trains (from its next step; a dotted line on the curves)."""
    with where.popover("Learning rate", icon=":material/tune:"):
        now = snap["steps"]["lr"][-1] if snap["steps"]["lr"] else None
        near = min(LR_STEPS, key=lambda v: abs(v - now)) if now else 1e-3
        lr = st.select_slider(
            "new learning rate",
            LR_STEPS,
            value=near,
            key="c_lr",
            format_func=lambda v: f"{v:g}",
            help="Applies from the next step; the schedule goes on from it with the same shape.",
        )
        if st.button("Apply", key="c_lr_apply"):
            done = guarded(lambda: job_manager().change(run_id, lr=lr))  # the process's manager now
            if done:  # said here and on the metric until a step trains with it (a paused run: on Resume)
                st.session_state.c_lr_pending = (run_id, lr, snap["steps"]["step"][-1] if snap["steps"]["step"] else 0)
                st.toast(f"learning rate {lr:g} from the next step")
        pending = st.session_state.get("c_lr_pending")
        if pending and pending[0] == run_id:
            st.success(f"Applied: {pending[1]:g} from the next step.", icon=":material/check:")


def progress(snap: dict, status: str) -> None:
    start = snap["start"]
    ended_box(snap["final"])
    if not start:
        return
    bar = run_progress(snap, status in ("running", "paused"))
    st.progress(bar["fraction"], text=bar["label"])
    d = start["dataset"]
    used = start.get("train_images", d["train"])
    threads = f", {start['threads']} thread{'s' if start['threads'] != 1 else ''}" if "threads" in start else ""
    st.caption(
        f"{start['device']} ({start.get('precision', 'fp32')}{threads}) · {md(d['name'])} {d['shape']} "
        f"({used:,} of {d['train']:,} training images, {d['test']:,} test) · "
        f"{start['parameters']:,} parameters"
    )
    for note in d.get("notes", []):
        st.caption(f"note: {md(note)}")


def draw_curves(snap: dict, live: bool, extra: bool, run_id: str | None = None) -> None:
    steps, epochs = snap["steps"], snap["epochs"]
    if not steps["step"]:
        st.caption("Waiting for the first steps...")
        return
    m = st.columns(4)
    m[0].metric("train loss", f"{steps['loss'][-1]:.4f}")
    acc = latest_test_acc(snap)  # the last epoch's (whole test split), or a newer quick estimate (n images)
    est = acc is not None and acc["n"] is not None
    m[1].metric(
        "test accuracy",
        "—" if acc is None else f"≈ {acc['acc']:.1%}" if est else f"{acc['acc']:.2%}",
        help=f"Estimated at step {acc['step']} on {acc['n']:,} fixed test images." if est else None,
    )
    m[2].metric("images / s", f"{steps['images_per_s'][-1]:,.0f}")
    pending = st.session_state.get("c_lr_pending")  # applied while paused: no step has trained with it yet
    if pending and pending[0] == run_id and steps["step"][-1] <= pending[2]:
        m[3].metric("learning rate", f"{pending[1]:.2e}", delta="from the next step", delta_color="off")
    else:
        m[3].metric("learning rate", f"{steps['lr'][-1]:.2e}")
    # While training, a static plot: no hover layers to rebuild every second (zoom and
    # hover come back when the run ends).
    static = {"staticPlot": live}
    st.plotly_chart(
        plots.training_curves(steps, epochs, snap.get("sets", ()), snap.get("quick")), key="p_curves", config=static
    )
    if extra:
        a, b = st.columns(2)
        a.plotly_chart(plots.lr_curve(steps), key="p_lr", config=static)
        b.plotly_chart(plots.throughput(steps), key="p_ips", config=static)


def draw_epoch(run, snap: dict) -> None:
    """Confusion matrix, per-class accuracy and predictions of the latest epoch (built once per epoch)."""
    last = snap["epochs"][-1]
    cache = st.session_state.setdefault("t_epoch_figs", {})
    key = (run.run_id, last["epoch"], last["step"])
    if key not in cache:
        classes = snap["start"]["dataset"]["classes"]
        cache.clear()
        title = f"confusion matrix, epoch {last['epoch'] + 1}" + (" (stopped inside it)" if last.get("partial") else "")
        cache[key] = (
            plots.confusion_matrix(last["confusion"], classes, title),
            plots.per_class_accuracy(last["per_class_acc"], classes),
            prediction_tiles(run, last),
        )
    conf, per_class, tiles = cache[key]
    a, b = st.columns(2)
    with a:
        if run.weights_path() is not None:  # drill-down needs saved weights
            confusion_drilldown(
                run.run_id,
                last["confusion"],
                snap["start"]["dataset"]["classes"],
                f"confusion matrix, epoch {last['epoch'] + 1}"
                + (" (stopped inside it)" if last.get("partial") else ""),
                key="t_dd",
            )
        else:
            st.plotly_chart(conf, key="p_conf")
    b.plotly_chart(per_class, key="p_pc")
    if tiles:
        st.markdown(f"**Test predictions after epoch {last['epoch'] + 1}** (✓ right, ✗ wrong)")
        st.image([t[0] for t in tiles], caption=[t[1] for t in tiles], width=84)


def prediction_tiles(run, last: dict) -> list | None:
    if "samples" not in last:
        return None
    cfg = guarded(run.config)  # a damaged config.json: the box says what to do, the page goes on
    if cfg is None:
        return None
    d = cfg.data
    ds = guarded(lambda: load_dataset(d.dataset, root=d.data_root, **dict(d.params)))
    return explore.prediction_tiles(ds, last["samples"]) if ds is not None else None
