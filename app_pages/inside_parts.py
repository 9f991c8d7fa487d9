"""UI parts shared by "Inside the network" and the Train page: cached trained models and test
predictions, the confusion drill-down; and the Inside page's filter view, layer-by-layer activations,
the race and MLP-vs-CNN panels ("run again with one change" is in train_again_parts). No torch here: the
work is done by ``playground.inside``."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_pages.common import guarded, job_manager, my_runs, owner
from playground import inside as ins
from playground.inside import plots as pin
from playground.inside.featvis import SIZES as FEATVIS_SIZES
from playground.inside.featvis import STEPS as FEATVIS_STEPS
from playground.inside.filters import filter_scales, filters_change, kernels_of
from playground.inside.forward import layer_names, overview_map
from playground.runs import Run
from playground.train.snapshots import list_snapshots


def _stamp(run_id: str) -> float:
    """Changes whenever the run's saved weights change (so caches follow a training run)."""
    path = job_manager().store.open(run_id).weights_path()
    return path.stat().st_mtime if path is not None else 0.0


@st.cache_resource(max_entries=6, show_spinner="Loading the trained model...")
def _trained(run_id: str, stamp: float) -> ins.Trained:
    return ins.load_trained(job_manager().store.open(run_id))


def trained(run_id: str) -> ins.Trained | None:
    """The run's model (shared, read-only, by every session), or None with the reason shown."""
    return guarded(lambda: _trained(run_id, _stamp(run_id)))


@st.cache_data(max_entries=6, show_spinner="Predicting every test image...")
def _predictions(run_id: str, stamp: float) -> dict[str, Any]:
    return ins.test_predictions(_trained(run_id, stamp))


def predictions(run_id: str) -> dict[str, Any] | None:
    return guarded(lambda: _predictions(run_id, _stamp(run_id)))


def gallery(tiles: list[dict[str, Any]], width: int = 96) -> None:
    """Images with true class, prediction and top-3 probabilities as captions."""
    if not tiles:
        return
    caps = []
    for t in tiles:
        top = ", ".join(f"{c} {p:.0%}" for c, p in t["top"])
        caps.append(f"#{t['index']} is {t['true']} · {top}")
    st.image([t["image"] for t in tiles], caption=caps, width=width)


def confusion_drilldown(run_id: str, matrix: list[list[int]], classes: list[str], title: str,
                        key: str = "dd") -> None:
    """A clickable confusion matrix; the chosen cell's test images with their top-3 probabilities,
    and a gallery of the highest-loss test images."""
    event = st.plotly_chart(pin.clickable_confusion(matrix, classes, title), key=f"{key}_chart",
                            on_select="rerun", selection_mode="points")
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    if points and points[0].get("customdata"):
        t, p = points[0]["customdata"][:2]
        if (t, p) != st.session_state.get(f"{key}_clicked"):
            st.session_state[f"{key}_clicked"] = (t, p)
            st.session_state[f"{key}_true"], st.session_state[f"{key}_pred"] = classes[t], classes[p]
    st.caption("Click a cell off the diagonal (or pick the classes below) to see those test images.")
    c1, c2 = st.columns(2)
    true = c1.selectbox("true class", classes, key=f"{key}_true", index=None, placeholder="choose a class")
    pred = c2.selectbox("predicted as", classes, key=f"{key}_pred", index=None, placeholder="choose a class")
    if true is not None and pred is not None:
        preds = predictions(run_id)
        tr = trained(run_id)
        if preds is not None and tr is not None:
            res = ins.misclassified(tr, preds, classes.index(true), classes.index(pred))
            what = "right" if true == pred else f"{true} taken for {pred}"
            st.markdown(f"**{res['count']} test images: {what}** (most confident first; weights from "
                        f"{tr.source}{'' if tr.epoch is None else f', {tr.epoch} epoch(s)'})")
            gallery(res["tiles"])
    if st.toggle("show the highest-loss test images", key=f"{key}_hl"):
        preds = predictions(run_id)
        tr = trained(run_id)
        if preds is not None and tr is not None:
            gallery(ins.highest_loss(tr, preds, 16))


# -- the Inside page: filters ------------------------------------------------------------------

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
        st.info("This run was trained without snapshots, so only its final filters are shown. To scrub "
                "through epochs, train with **record snapshots and layer statistics** on (Train page) or "
                "`--probes snapshots layer_stats` on the command line.", icon=":material/info:")
        epoch = None
    c1, c2 = st.columns([1, 2])
    how = c2.radio("colour scale", [SHARED, CHANGE, OWN] if epochs else [SHARED, OWN], key="i_f_scale",
                   help="One scale: the largest |weight| of this layer over every epoch of the run, the same at "
                        "every position of the slider, so learning shows as stronger colours. Change: this "
                        "epoch's weights minus the initial ones, on one scale for the run. Stretched: each "
                        "picture to its own range, which shows shapes but hides how much they changed.")
    if how == CHANGE:
        weights = guarded(lambda: filters_change(tr, run, epoch))
    else:
        weights = guarded(lambda: ins.filters_at(tr, run, epoch)) if epochs else ins.filters_at(tr, None, None)
    if not weights:
        return
    names, labels = list(weights), layer_names(tr)
    layer = c1.selectbox("layer", names, key="i_f_layer", format_func=lambda n: f"{labels.get(n, n)} ({n})")
    scale = None if how == OWN else (guarded(lambda: filter_scales(tr, run, change=how == CHANGE)) or {}).get(layer)
    grid = _filter_picture(tr, weights[layer], layer, labels.get(layer, layer), names.index(layer) == 0, scale,
                           ("" if epoch is None else f", after epoch {epoch}") + (" minus epoch 0" if how == CHANGE
                                                                                    else ""))
    if grid is None:
        return
    label = labels.get(layer, layer)
    if how == CHANGE:
        st.caption(f"What training changed in {label} by epoch {epoch}: the weights now minus the initial ones, "
                   f"on one scale for the run (full colour: a change of {scale or 0:.3f}). At epoch 0 nothing has "
                   f"changed yet; here the largest change is {grid['peak']:.3f}.")
    elif how == SHARED:
        st.caption(f"One scale for {label} over the whole run: full colour is |weight| {scale or 0:.3f}, the largest "
                   f"in any epoch. In this picture the largest is {grid['peak']:.3f}: move the slider to see the "
                   "filters change from their random start.")
    else:
        st.caption("Each picture stretched to its own range: compare shapes, not strengths, between epochs.")


def _filter_picture(tr: ins.Trained, w: Any, layer: str, label: str, first: bool, scale: float | None,
                    when: str) -> dict[str, Any] | None:
    """Draws one layer's filters: the first layer all at once; a deeper one a filter at a time."""
    if w.ndim == 4 and (not first or w.shape[1] not in (1, 3)):
        o, i, kh, kw = w.shape
        out = st.slider(f"filter (output channel) of {label}, 0..{o - 1}", 0, o - 1, 0, key=f"i_f_out_{layer}")
        grid = guarded(lambda: kernels_of(w, out, scale))
        if grid is None:
            return None
        title = f"{label}: filter {out} of {o}, its {kh}x{kw} kernel for each of its {i} input channels{when}"
        st.plotly_chart(pin.filter_figure(grid, title, _height(grid["z"].shape)), key="i_f_fig")
        st.caption(f"Filter {out} of {label} looks at all {i} maps of the layer below at once: one {kh}x{kw} "
                   "kernel per input channel (hover for its number), and sums what they see into one output map. "
                   "Red: positive weights, blue: negative, white: zero.")
        return grid
    grid = guarded(lambda: ins.filter_grid(w, tr.in_shape, 0 if w.ndim == 4 and w.shape[1] == 1 else None,
                                           scale=scale, cols=8))
    if grid is None:
        return None
    title = f"{label}: {grid['filters']} filters of {grid['kernel'][0]}x{grid['kernel'][1]}{when}"
    shape = grid["rgb"].shape if grid["rgb"] is not None else grid["z"].shape
    st.plotly_chart(pin.filter_figure(grid, title, _height(shape, cell=44)), key="i_f_fig")
    if grid["rgb"] is not None:
        st.caption("RGB filters: grey is 0, bright or saturated colours large values (the colour a filter responds "
                   "to, or, for the change, the colour it has learned to respond to).")
    else:
        st.caption("Red: positive values, blue: negative, white: zero.")
    return grid


# -- the Inside page: activations, block by block ------------------------------------------------

def activation_views(acts: dict[str, Any], classes: list[str], per_row: int = 6) -> None:
    """An overview (one small picture per layer, grouped by block, in the order the image flows), then
    every map of one chosen layer."""
    by_name = {layer["name"]: layer for layer in acts["layers"]}
    st.subheader("Every layer at a glance", divider="gray")
    st.caption("One picture per layer, block by block, in the order the image flows through the network: the "
               "layer's strongest channel (largest mean |activation|) with the layer's output shape (channels x "
               "height x width). Choose a layer below to see all its maps.")
    for block in acts["blocks"]:
        layers = [by_name[n] for n in block["nodes"]]
        st.markdown(f"**{block['title']}**")
        if not any(layer["spatial"] for layer in layers):
            st.caption("These layers have no spatial map: one number per unit (bars).")
        for start in range(0, len(layers), per_row):
            for col, layer in zip(st.columns(per_row), layers[start:start + per_row]):
                if layer["spatial"]:
                    img, _ = overview_map(layer["maps"])
                    title = f"{layer['label']} · {'x'.join(map(str, layer['shape']))}"
                    col.plotly_chart(pin.thumbnail(img, title), key=f"i_a_t_{layer['name']}")
                else:
                    title = f"{layer['label']} · {layer['shape'][0]} values"
                    col.plotly_chart(pin.thumbnail(layer["vector"], title), key=f"i_a_t_{layer['name']}")
    st.subheader("One layer, all its maps", divider="gray")
    c1, c2 = st.columns([1, 2])
    node = c1.selectbox("layer", list(by_name), key="i_a_layer",
                        format_func=lambda n: f"{by_name[n]['block']} · {by_name[n]['label']}")
    scale = c2.radio("colour scale", ["per map", "per layer", "global"], horizontal=True, key="i_scale",
                     help="per map: each map to its own range (shape); per layer: maps of a layer compared; "
                          "global: one range for the whole network.")
    mode = {"per map": "map", "per layer": "layer", "global": "global"}[scale]
    layer = by_name[node]
    title = f"{layer['label']} ({layer['name']} · {layer['kind']}) · {list(layer['shape'])}"
    if layer["spatial"]:
        c, h, w = layer["shape"]
        st.plotly_chart(pin.feature_maps(layer["maps"], title, mode, acts["range"] if mode == "global" else None,
                                         height=560 if c > 8 else 420), key="i_a_detail")
        st.caption(f"{c} maps of {h}x{w}, one per channel. Red: positive, blue: negative (Viridis: all positive, "
                   "after a relu or pool).")
    else:
        last = node == acts["layers"][-1]["name"]
        st.plotly_chart(pin.vector_figure(layer["vector"], title + " · no spatial map", classes if last else None),
                        key="i_a_detail")


def race_panel(race_id: str | None) -> dict | None:
    """The race's progress while the job manager runs it (a worker process), then its result."""
    if race_id is None:
        return None
    status = job_manager().status(race_id, "initrace")
    if status in ("queued", "running", "paused"):
        @st.fragment(run_every=1.0)
        def progress() -> None:
            snap = job_manager().snapshot(race_id, "initrace")
            now = job_manager().status(race_id, "initrace")
            if now == "queued":
                st.info(f"Waiting for a free slot (place {job_manager().queue_position(race_id)} in the queue).",
                        icon=":material/hourglass_top:")
            st.progress(min(1.0, snap["progress"][0]), text=snap["progress"][1])
            c1, c2 = st.columns([1, 5])
            if c1.button("Stop", key="i_i_stop", icon=":material/stop:"):
                job_manager().stop(race_id)
            if now not in ("queued", "running", "paused"):
                st.rerun()
        progress()
        return None
    snap = job_manager().snapshot(race_id, "initrace")
    if snap["final"] and snap["final"]["kind"] != "done":
        (st.info if snap["final"]["kind"] == "stopped" else st.error)(snap["final"].get("message", ""))
    return snap["race"]


def pair_panel(ds: str, src: tuple) -> None:
    """One click: an MLP and a CNN with the same budget on ``ds``, trained by the job manager; the page
    lists them below when both have finished."""
    pair = st.session_state.get("i_m_pair")
    busy = bool(pair) and any(job_manager().status(i) in ("queued", "running", "paused") for i in pair)
    if st.button(f"Train an MLP and a CNN on {ds} (same budget)", key="i_m_both", icon=":material/compare:",
                 disabled=busy, help="The same data, optimiser, schedule and epochs; each family's default layers."):
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


def featvis_panel(tr) -> None:
    """What each channel looks for: images optimised to excite it (a job: it takes seconds)."""
    st.subheader("What each channel looks for", divider="gray")
    st.caption("Each image starts as faint noise and is optimised so one channel of the layer fires as strongly as "
               "possible (jittered, scaled and rotated at every step, and blurred, so it shows a pattern, not "
               "noise). The filters above answer the same question from the weights; the top-activating images "
               "(Activations) from the data.")
    layers = ins.conv_layers(tr.model)
    a, b, c = st.columns([2, 1, 1])
    layer = a.selectbox("conv layer", list(layers), key="i_v_layer",
                        format_func=lambda n: f"{n} ({layers[n]} channels)")
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
            st.image(snap["grid"], caption=f"{final.get('layer', '')} channels {final.get('channels', [])[:1]}.. "
                     f"(mean activation reached: {', '.join(gains[:8])}{' ...' if len(gains) > 8 else ''})",
                     width=min(640, 80 * min(8, len(gains) or 1)))
        elif final.get("message"):
            st.error(final["message"])

    view()

