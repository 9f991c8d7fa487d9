"""The Inside page's Filters tab: a layer's kernels after any epoch (on one colour scale for the whole run,
as what training changed, or stretched), and what each channel looks for (images optimised to excite it,
a job). No torch here: the work is done by ``playground.inside``."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_pages.common import guarded, job_manager, my_runs, owner
from playground import inside as ins
from playground.inside import plots as pin
from playground.inside.featvis import SIZES as FEATVIS_SIZES
from playground.inside.featvis import STEPS as FEATVIS_STEPS
from playground.inside.filters import filter_scales, filters_change, kernels_of
from playground.inside.forward import layer_names
from playground.runs import Run
from playground.train.snapshots import list_snapshots


def filters_tab(tr: ins.Trained, run: Run | None) -> None:
    """The Filters tab: the kernels (``filters_view``), then the images that excite each channel (``featvis_panel``)."""
    filters_view(tr, run)
    featvis_panel(tr)


SHARED = "one scale for every epoch (see how much they change)"
CHANGE = "change since the initialisation (what training added)"
OWN = "stretched to this picture (see their shape)"


def _height(z_shape: tuple[int, ...], width: int = 860, cell: int = 36) -> int:
    """A figure height at which a (rows, cols) image has cells of up to ``cell`` pixels."""
    rows, cols = z_shape[:2]
    return int(min(720, max(200, rows * min(cell, width / max(cols, 1)) + 80)))


def filters_view(tr: ins.Trained, run: Run | None) -> None:
    """The Filters tab: the kernels of a layer after any epoch, on one colour scale per layer for the
    whole run (or what training changed, or stretched); a deeper layer one filter (output channel)
    at a time, its kernel for each input channel."""
    epochs = list_snapshots(run) if run is not None else []
    if epochs:
        epoch = st.select_slider("after epoch (0: the initialisation)", epochs, value=epochs[-1], key="i_f_epoch")
    else:
        st.info(
            "This run was trained without snapshots, so only its final filters are shown. To scrub "
            "through epochs, train with **record snapshots and layer statistics** on (Train page) or "
            "`--probes snapshots layer_stats` on the command line.",
            icon=":material/info:",
        )
        epoch = None
    c1, c2 = st.columns([1, 2])
    how = c2.radio(
        "colour scale",
        [SHARED, CHANGE, OWN] if epochs else [SHARED, OWN],
        key="i_f_scale",
        help="One scale: the largest |weight| of this layer over every epoch of the run, the same at "
        "every position of the slider, so learning shows as stronger colours. Change: this "
        "epoch's weights minus the initial ones, on one scale for the run. Stretched: each "
        "picture to its own range, which shows shapes but hides how much they changed.",
    )
    if how == CHANGE:
        weights = guarded(lambda: filters_change(tr, run, epoch))
    else:
        weights = guarded(lambda: ins.filters_at(tr, run, epoch)) if epochs else ins.filters_at(tr, None, None)
    if not weights:
        return
    names, labels = list(weights), layer_names(tr)
    layer = c1.selectbox("layer", names, key="i_f_layer", format_func=lambda n: f"{labels.get(n, n)} ({n})")
    scale = None if how == OWN else (guarded(lambda: filter_scales(tr, run, change=how == CHANGE)) or {}).get(layer)
    grid = _filter_picture(
        tr,
        weights[layer],
        layer,
        labels.get(layer, layer),
        names.index(layer) == 0,
        scale,
        ("" if epoch is None else f", after epoch {epoch}") + (" minus epoch 0" if how == CHANGE else ""),
    )
    if grid is None:
        return
    label = labels.get(layer, layer)
    if how == CHANGE:
        st.caption(
            f"What training changed in {label} by epoch {epoch}: the weights now minus the initial ones, "
            f"on one scale for the run (full colour: a change of {scale or 0:.3f}). At epoch 0 nothing has "
            f"changed yet; here the largest change is {grid['peak']:.3f}."
        )
    elif how == SHARED:
        st.caption(
            f"One scale for {label} over the whole run: full colour is |weight| {scale or 0:.3f}, the largest "
            f"in any epoch. In this picture the largest is {grid['peak']:.3f}: move the slider to see the "
            "filters change from their random start."
        )
    else:
        st.caption("Each picture stretched to its own range: compare shapes, not strengths, between epochs.")


def _filter_picture(
    tr: ins.Trained, w: Any, layer: str, label: str, first: bool, scale: float | None, when: str
) -> dict[str, Any] | None:
    """Draws one layer's filters: the first layer all at once; a deeper one a filter at a time."""
    if w.ndim == 4 and (not first or w.shape[1] not in (1, 3)):
        o, i, kh, kw = w.shape
        out = st.slider(f"filter (output channel) of {label}, 0..{o - 1}", 0, o - 1, 0, key=f"i_f_out_{layer}")
        grid = guarded(lambda: kernels_of(w, out, scale))
        if grid is None:
            return None
        title = f"{label}: filter {out} of {o}, its {kh}x{kw} kernel for each of its {i} input channels{when}"
        st.plotly_chart(pin.filter_figure(grid, title, _height(grid["z"].shape)), key="i_f_fig")
        st.caption(
            f"Filter {out} of {label} looks at all {i} maps of the layer below at once: one {kh}x{kw} "
            "kernel per input channel (hover for its number), and sums what they see into one output map. "
            "Red: positive weights, blue: negative, white: zero."
        )
        return grid
    grid = guarded(
        lambda: ins.filter_grid(w, tr.in_shape, 0 if w.ndim == 4 and w.shape[1] == 1 else None, scale=scale, cols=8)
    )
    if grid is None:
        return None
    title = f"{label}: {grid['filters']} filters of {grid['kernel'][0]}x{grid['kernel'][1]}{when}"
    shape = grid["rgb"].shape if grid["rgb"] is not None else grid["z"].shape
    st.plotly_chart(pin.filter_figure(grid, title, _height(shape, cell=44)), key="i_f_fig")
    if grid["rgb"] is not None:
        st.caption(
            "RGB filters: grey is 0, bright or saturated colours large values (the colour a filter responds "
            "to, or, for the change, the colour it has learned to respond to)."
        )
    else:
        st.caption("Red: positive values, blue: negative, white: zero.")
    return grid


def featvis_panel(tr) -> None:
    """What each channel looks for: images optimised to excite it (a job: it takes seconds)."""
    st.subheader("What each channel looks for", divider="gray")
    st.caption(
        "Each image starts as faint noise and is optimised so one channel of the layer fires as strongly as "
        "possible (jittered, scaled and rotated at every step, and blurred, so it shows a pattern, not "
        "noise). The filters above answer the same question from the weights; the top-activating images "
        "(Activations) from the data."
    )
    layers = ins.conv_layers(tr.model)
    a, b, c = st.columns([2, 1, 1])
    layer = a.selectbox(
        "conv layer", list(layers), key="i_v_layer", format_func=lambda n: f"{n} ({layers[n]} channels)"
    )
    size = b.select_slider("size (px)", list(FEATVIS_SIZES), value=32, key="i_v_size")
    steps = c.select_slider("steps", list(FEATVIS_STEPS), value=128, key="i_v_steps")
    key = f"i_v_job_{tr.run_id}"
    if st.button("Visualise the channels", key="i_v_go", icon=":material/auto_awesome:"):
        job = guarded(lambda: job_manager().submit(ins.FeatureVis(tr.run_id, layer, size=size, steps=steps), owner()))
        if job is not None:
            my_runs().append(job.run_id)
            st.session_state[key] = job.run_id
    vis_id = st.session_state.get(key)
    if vis_id is None:
        return
    m = job_manager()

    @st.fragment(run_every=1.0 if m.status(vis_id, "featvis") in ("queued", "running", "paused") else None)
    def view() -> None:
        status = m.status(vis_id, "featvis")
        snap = m.snapshot(vis_id, "featvis")
        done, total = snap["progress"]
        if status in ("queued", "running", "paused"):
            st.progress(done / total if total else 0.0, text=f"step {done} / {total}" if total else "waiting...")
            return
        final = snap["final"] or {}
        if snap["grid"] is not None:
            gains = [f"{after:.2f}" for after in final.get("after", [])]
            st.image(
                snap["grid"],
                caption=f"{final.get('layer', '')} channels {final.get('channels', [])[:1]}.. "
                f"(mean activation reached: {', '.join(gains[:8])}{' ...' if len(gains) > 8 else ''})",
                width=min(640, 80 * min(8, len(gains) or 1)),
            )
        elif final.get("message"):
            st.error(final["message"])

    view()
