"""The Inside page's tabs that compare networks: MLP vs CNN (parameters with and without weight sharing,
one click to train both on the same budget, accuracy on shifted and rotated test images) and Compare runs
(curves overlaid, the settings that differ). No torch here."""

from __future__ import annotations

import json
from typing import Any, Callable

import streamlit as st

from app_pages.common import guarded, job_manager, listed_runs, my_runs, owner, run_name
from app_pages.inside_shared import load_source, trained
from playground import inside as ins
from playground.config import config_diff
from playground.data import list_datasets
from playground.errors import PlaygroundError
from playground.inside import plots as pin


def mlp_vs_cnn(home: str, data_source: Callable[[str], tuple], runs: list[dict[str, Any]]) -> None:
    """``runs``: the trained runs the page offers (``inspectable_runs``), newest first."""
    by_id = {r["run_id"]: r for r in runs}
    ids = list(by_id)
    ds2 = st.selectbox("input shape from data set", list_datasets(), index=list_datasets().index(home), key="i_m_ds")
    d2 = guarded(lambda: load_source(data_source(ds2)))
    if d2 is not None:
        tables = {name: ins.param_table(name, {}, d2.shape, d2.num_classes) for name in ("mlp", "cnn")}
        st.plotly_chart(pin.param_counts(tables), key="i_m_params")
        a, b = st.columns(2)
        for col, (name, t) in zip((a, b), tables.items()):
            col.markdown(f"**{name}** (defaults): {t['total']:,} parameters")
            col.dataframe(t["rows"], hide_index=True)
        st.caption(
            "A conv layer reuses one small kernel at every position (weight sharing). The same layer "
            "without sharing (a kernel per position) or fully connected would need the other columns."
        )
    st.subheader("Invariance: accuracy on shifted and rotated test images", divider="gray")
    pair_panel(ds2, data_source(ds2))
    if not runs:
        st.info(
            "Train an MLP and a CNN on the same data set (the button above, or the Train page), then "
            "compare them here.",
            icon=":material/info:",
        )
    else:
        picked = st.multiselect(
            "trained runs (same data set)",
            ids,
            format_func=lambda i: by_id[i]["label"],
            default=ids[:1],
            key="i_m_runs",
        )
        c1, c2, c3 = st.columns(3)
        k = c1.slider("largest shift (pixels)", 1, 12, 6, key="i_m_k")
        n_deg = c2.slider("largest rotation (degrees)", 10, 180, 90, step=10, key="i_m_deg")
        n_img = c3.number_input("test images", 100, 10000, 1000, step=500, key="i_m_n")
        if st.button("Test invariance", key="i_m_go", disabled=not picked, icon=":material/open_with:"):
            models = [m for m in (trained(i) for i in picked) if m is not None]
            if len(models) == len(picked):
                with st.spinner("Shifting and rotating test images..."):
                    st.session_state.i_inv = guarded(
                        lambda: ins.invariance(
                            models,
                            list(range(0, k + 1)),
                            [float(a) for a in range(0, n_deg + 1, max(5, n_deg // 9))],
                            n_images=int(n_img),
                        )
                    )
        inv = st.session_state.get("i_inv")
        if inv:
            st.plotly_chart(pin.invariance_figure(inv), key="i_m_inv")
            if inv["images"] < int(n_img):
                st.caption(
                    f"On the first {inv['images']:,} test images: a larger model is passed fewer images so "
                    "the server stays quick (PLAYGROUND_INSIDE_MB). Train it with the same settings on a "
                    "smaller image size, or run the playground on your own machine, to test more."
                )
            st.download_button(
                "Invariance results (.json)",
                json.dumps(inv),
                file_name="invariance.json",
                mime="application/json",
                key="i_m_dl",
                icon=":material/download:",
            )


def pair_panel(ds: str, src: tuple) -> None:
    """One click: an MLP and a CNN with the same budget on ``ds``, trained by the job manager; the page
    lists them below when both have finished."""
    pair = st.session_state.get("i_m_pair")
    busy = bool(pair) and any(job_manager().status(i) in ("queued", "running", "paused") for i in pair)
    if st.button(
        f"Train an MLP and a CNN on {ds} (same budget)",
        key="i_m_both",
        icon=":material/compare:",
        disabled=busy,
        help="The same data, optimiser, schedule and epochs; each family's default layers.",
    ):
        jobs = [guarded(lambda c=c: job_manager().submit(c, owner())) for c in ins.mlp_and_cnn(*src)]
        for job in (j for j in jobs if j is not None):
            my_runs().append(job.run_id)
        st.session_state.i_m_pair = [j.run_id for j in jobs if j is not None]
        st.rerun()
    if busy:

        @st.fragment(run_every=1.0)
        def progress() -> None:
            states = {i: job_manager().status(i) for i in pair}
            st.caption(" · ".join(f"{i}: {s}" for i, s in states.items()) + " — they appear below when done.")
            if not any(s in ("queued", "running", "paused") for s in states.values()):
                st.rerun()

        progress()


def compare_runs(run_id: str | None) -> None:
    """Several of the session's runs overlaid (``run_id``, the page's run, chosen first), their settings that differ."""
    manager = job_manager()
    store = manager.store
    all_runs = listed_runs(store.list(), key=lambda r: r.run_id)[:100]
    if not all_runs:
        st.info("No runs of yours yet: train a few on the Train page.", icon=":material/info:")
    else:
        labels = {}
        for r in all_runs:
            try:
                c = r.config()
                labels[r.run_id] = f"{r.label()} · {c.data.dataset} · {c.model.name} · lr {c.optim.lr:g}"
            except PlaygroundError:
                continue
        pick = st.multiselect(
            "runs to overlay",
            list(labels),
            format_func=labels.get,
            key="i_c_runs",
            default=[run_id] if run_id in labels else list(labels)[:1],
        )
        if pick:
            named = {i: (f"{n[:24]} · {i[-6:]}" if (n := run_name("train", i)) else i[-12:]) for i in pick}
            snaps = {i: manager.snapshot(i) for i in pick}
            st.plotly_chart(pin.compare_curves({named[i]: s for i, s in snaps.items()}), key="i_c_fig")  # names
            diff = config_diff([store.open(i).config() for i in pick]) if len(pick) > 1 else []
            if len(pick) > 1:
                if diff:
                    st.markdown("**Settings that differ**")
                    st.dataframe(
                        [
                            {"setting": d["setting"], **{named[i]: json.dumps(v) for i, v in zip(pick, d["values"])}}
                            for d in diff
                        ],
                        hide_index=True,
                    )
                else:
                    st.caption("These runs have the same settings.")
            rows = []
            for i, s in snaps.items():
                last = s["epochs"][-1] if s["epochs"] else {}
                rows.append(
                    {
                        "run": named[i],
                        "run id": i,
                        "steps": s["steps"]["step"][-1] if s["steps"]["step"] else 0,
                        "test accuracy": last.get("test_acc"),
                        "test loss": last.get("test_loss"),
                    }
                )
            st.dataframe(rows, hide_index=True)
            st.download_button(
                "Comparison (.json)",
                json.dumps({"runs": rows, "differences": diff}),
                file_name="compare-runs.json",
                mime="application/json",
                key="i_c_dl",
                icon=":material/download:",
            )
