"""The Train page's live-run parts: the batch "Step once" trained on, and the learning rate changed while the
run trains (confirmed where it was applied, and on the metric until a step trains with it)."""

from __future__ import annotations

import streamlit as st

from app_pages.common import guarded, job_manager, log_steps, md
from playground.images import hwc
from playground.train.stepview import read_batch


def stepped_batch(run, snap: dict) -> None:
    """The batch the last "Step once" trained on: the images as the network saw them (augmented), each with
    its true class, the prediction and its probability, and the batch's loss."""
    b = snap["batch"]
    classes = (snap["start"] or {}).get("dataset", {}).get("classes") or []
    name = lambda i: md(classes[i]) if 0 <= i < len(classes) else str(i)
    acc = f", {b['batch_acc']:.0%} right" if "batch_acc" in b else ""
    st.markdown(f"**Step {b['step']}** trained on {b['batch_size']} images: loss {b['loss']:.4f}{acc}. The first "
                f"{b['shown']}, as the network saw them (augmented), with what it predicted before it learnt from "
                "them (true → predicted):")
    images = read_batch(run, b["step"]) if b.get("images") else None
    if images is None:
        st.caption("(the images of this step are not available)")
        return
    caps = [f"{name(t)} → {name(p)} ({c:.0%})" + (" ✓" if t == p else " ✗") for t, p, c in
            zip(b.get("labels", []), b.get("preds", []), b.get("confidence", []))] or None
    st.image([hwc(x) for x in images], caption=caps, width=96)


LR_STEPS = log_steps(1e-5, 1.0)


def live_change(run_id: str, where, snap: dict) -> None:
    """Change the learning rate while the run trains (from its next step; a dotted line on the curves)."""
    with where.popover("Learning rate", icon=":material/tune:"):
        now = snap["steps"]["lr"][-1] if snap["steps"]["lr"] else None
        near = min(LR_STEPS, key=lambda v: abs(v - now)) if now else 1e-3
        lr = st.select_slider("new learning rate", LR_STEPS, value=near, key="c_lr", format_func=lambda v: f"{v:g}",
                              help="Applies from the next step; the schedule goes on from it with the same shape.")
        if st.button("Apply", key="c_lr_apply"):
            done = guarded(lambda: job_manager().change(run_id, lr=lr))  # the process's manager now
            if done:  # said here and on the metric until a step trains with it (a paused run: on Resume)
                st.session_state.c_lr_pending = (run_id, lr, snap["steps"]["step"][-1] if snap["steps"]["step"] else 0)
                st.toast(f"learning rate {lr:g} from the next step")
        pending = st.session_state.get("c_lr_pending")
        if pending and pending[0] == run_id:
            st.success(f"Applied: {pending[1]:g} from the next step.", icon=":material/check:")
