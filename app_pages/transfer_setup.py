"""The Transfer learning page's setup: the four cases (each a button that sets its settings), where the
backbone and its weights come from (ImageNet, one of my runs: a classifier from the Train page or an earlier
transfer run, or none), what trains (the freeze depth, kept when the backbone changes and defaulting to every
layer without pretrained weights), the surgery that makes, and the time per epoch estimated the way the run
will train.

Settings are never reset silently: a widget that is hidden for a while (the source run) keeps its value
in a shadow key, and a value that no longer fits is replaced by the nearest one with a note naming it."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_pages.common import guarded, listed_runs, md
from app_pages.course_controls import normalisation_input
from playground.models.recipes import RECIPES, default_recipe
from playground.models.transfer import BACKBONES
from playground.runs import RunStore
from playground.transfer import (
    FOUR_CASES,
    estimate_epoch,
    freeze_options,
    input_notes,
    keep_freeze,
    source_params,
    source_runs,
)
from playground.weights import fetch_weights, resolve_weights, weights_cached, weights_file

SOURCE_LABELS = {
    "imagenet": "ImageNet (torch hub cache)",
    "run": "one of my playground runs",
    "none": "none: from scratch",
}
NO_SOURCES = (
    "No finished runs of yours to start from yet. Train a classifier on the Train page (cnn, lenet5, "
    "resnet or mlp, any data set) and come back: its layers up to the last one become the feature "
    "extractor, with a new head for this data. An earlier transfer run works too."
)


def _keep(key: str) -> None:
    """A widget rendered only sometimes: restore its last value before it is drawn again."""
    if key not in st.session_state and f"{key}_keep" in st.session_state:
        st.session_state[key] = st.session_state[f"{key}_keep"]


def _download_button(w) -> None:
    if st.button("Download the weights", key="tl_download", icon=":material/download:"):
        bar = st.progress(0.0, text="downloading...")

        def progress(done: int, total: int) -> None:
            bar.progress(
                min(1.0, done / total) if total else 0.0,
                text=f"downloading... {done / 2**20:.1f} MB" + (f" of {total / 2**20:.1f}" if total else ""),
            )

        if guarded(lambda: fetch_weights(w, progress=progress)) is not None:  # not read here: by the job
            st.rerun()


def choose_source(store: RunStore) -> dict[str, Any] | None:
    """Weights, backbone and source run -> {"source", "backbone", "params" (the transfer model's), "arch"}
    or None (nothing to start from: the page stops)."""
    ss = st.session_state
    c1, c2 = st.columns([1, 2])
    source = c1.radio("weights", list(SOURCE_LABELS), format_func=SOURCE_LABELS.get, key="tl_source")
    chosen = c1.selectbox(
        "backbone", list(BACKBONES), key="tl_backbone", format_func=lambda b: f"{b} — {BACKBONES[b].note}"
    )
    out = {"source": source, "backbone": chosen, "params": {"backbone": chosen, "weights": source}, "arch": None}
    with c2:
        if source == "imagenet":
            w = resolve_weights(chosen)
            if weights_cached(w):
                st.success(f"{w} found in the cache: `{weights_file(w)}`", icon=":material/check_circle:")
            else:
                st.warning(
                    f"The {w} weights are not in the torch hub cache. Put **{weights_file(w).name}** (from "
                    f"{w.url}) into `{weights_file(w).parent}` (or set TORCH_HOME), download them below when "
                    "this machine is online, or use one of your own runs as the source model instead: a "
                    "classifier trained on the Train page, or a run pretrained here.",
                    icon=":material/cloud_off:",
                )
                _download_button(w)
            return out
        if source == "none":
            st.caption(
                "Random weights: the baseline that transfer learning has to beat. Every layer trains by "
                "default: a new head on random features learns next to nothing."
            )
            return out
        rows = source_runs(listed_runs(store.list(), key=lambda r: r.run_id))  # mine, and the one the link names
        if not rows:
            st.info(NO_SOURCES, icon=":material/info:")
            return None
        labels = {r["run_id"]: r["label"] for r in rows}
        _keep("tl_source_run")
        if ss.get("tl_source_run") not in labels:
            if ss.get("tl_source_run"):
                st.caption(f"Run {md(ss.tl_source_run)} is not listed any more; the newest source is selected.")
            ss.tl_source_run = rows[-1]["run_id"]
        run_id = st.selectbox("source run", list(labels), format_func=labels.get, key="tl_source_run")
        ss.tl_source_run_keep = run_id
        params = guarded(lambda: source_params(store.open(run_id)))
        if params is None:
            return None
        out.update(backbone=params["backbone"], params=params, arch=params.get("source_arch"))
        if out["arch"]:
            a = out["arch"]
            st.caption(
                f"Backbone: the run's own **{a['model']}**, every layer up to its last one (which scored "
                f"{a['classes']} classes) as the feature extractor; a new head replaces that last layer."
            )
        elif params["backbone"] != chosen:
            st.caption(
                f"Backbone: **{params['backbone']}**, the one run {md(run_id)} trained (the backbone "
                f"chosen above, {chosen}, is kept for ImageNet and from-scratch runs)."
            )
    return out


def choose_freeze(spec, source: str, backbone: str = "") -> dict[str, Any]:
    """The freeze-depth slider for this backbone: the depth chosen before where it exists (else the nearest,
    with a note); until one is chosen, the run's own default (``default_recipe``): every layer without
    pretrained weights, the backbone's recipe with them (vgg16: the course's, features frozen and the whole
    classifier training at one rate), else the head alone."""
    ss = st.session_state
    stops = freeze_options(spec)
    labels = [o["label"] for o in stops]
    if "tl_want_freeze" in ss:  # a case's button asked for a depth
        ss.tl_freeze_mode = ss.pop("tl_want_freeze")
        ss.tl_freeze_chosen = True
    freeze, k, scale = default_recipe(backbone, source, None, None, None)
    default = (freeze, k)
    recipe = source != "none" and backbone in RECIPES
    if recipe and not ss.get("tl_freeze_chosen") and ss.get("tl_recipe_scale") != backbone:
        ss.tl_scale, ss.tl_recipe_scale = float(scale), backbone  # once per backbone: the recipe's one rate
    mode = tuple(ss.get("tl_freeze_mode", default)) if ss.get("tl_freeze_chosen") else default
    stop, note = keep_freeze(mode[0], mode[1], stops)
    if ss.get("tl_freeze") != stop["label"]:
        ss.tl_freeze = stop["label"]

    def chosen() -> None:
        o = next(o for o in stops if o["label"] == ss.tl_freeze)
        ss.tl_freeze_mode, ss.tl_freeze_chosen = (o["freeze"], o["k"]), True

    c1, c2 = st.columns([3, 1])
    label = c1.select_slider(
        "what trains (freeze depth)",
        labels,
        key="tl_freeze",
        on_change=chosen,
        help="From the new head alone, through the last k blocks, to every layer.",
    )
    stop = next(o for o in stops if o["label"] == label)
    if note:
        st.caption(f":material/info: {note}")
    if source == "none" and stop["freeze"] == "head_only":
        st.warning(
            "With random weights, training only the new head teaches next to nothing: the features it "
            "reads are random. Fine-tune everything (the default without pretrained weights).",
            icon=":material/warning:",
        )
    elif not ss.get("tl_freeze_chosen"):
        c2.caption(
            "the default: "
            + (
                "every layer trains (no pretrained weights)"
                if source == "none"
                else f"the course's {backbone} recipe: features frozen, the whole classifier trains"
                if recipe
                else "the new head on the pretrained features"
            )
        )
    return stop


def choose_normalisation(source: str) -> str:
    """The run's normalisation (``data.normalize``). With pretrained weights the default keeps the mean and std
    they were trained with; an explicit choice replaces them (the course's transfer code: none, raw pixels)."""
    spec = normalisation_input(st.session_state.get("tl_norm_spec", "data"), "tl_norm")
    st.session_state.tl_norm_spec = spec
    if source != "none" and spec == "data":
        st.caption(
            ":material/info: Pretrained weights: the default normalises with the statistics the weights were "
            "trained with (their own transforms, or the source run's), not this data's."
        )
    return spec


def show_surgery(rows: list[dict], counts: dict[str, Any], arch: dict[str, Any] | None, n_classes: int) -> None:
    """The surgery in one sentence (the layer replaced, the parameters that train), then the module tree."""
    rep = counts["replaced"]
    was = f"the source run's {arch['classes']} classes" if arch else "ImageNet"
    st.markdown(
        f"**The surgery:** `{rep['name']}` was `Linear({rep['in_features']} → {rep['old_out_features']})` for "
        f"{was}; it is replaced by a new `Linear({rep['in_features']} → {n_classes})` for your "
        f"classes. **{counts['trainable']:,} of {counts['total']:,}** parameters train"
        + (f" (head + {', '.join(counts['blocks'])})." if counts["blocks"] else " (the new head only).")
    )
    title = "The module tree: name, type, output shape, parameters, trainable"
    with st.expander(title, icon=":material/account_tree:"):
        depth = st.slider("depth", 1, max(r["depth"] for r in rows), 2, key="tl_depth")
        st.dataframe(
            [r for r in rows if r["depth"] <= depth],
            hide_index=True,
            key="tl_table",
            column_order=["name", "type", "output shape", "parameters", "trainable", "block", "note"],
        )


def source_notes(arch: dict[str, Any] | None, target_shape) -> None:
    if arch:
        for note in input_notes(arch["shape"], target_shape):
            st.caption(f":material/transform: {note.capitalize()}.")


@st.cache_data(max_entries=32, show_spinner=False)
def _estimate(config_json: str, shape: tuple, n_classes: int, n_train: int, n_test: int) -> dict:
    from playground.config import RunConfig

    return estimate_epoch(
        RunConfig.from_json(config_json),
        in_shape=shape,
        num_classes=n_classes,
        n_train=n_train,
        n_test=n_test,
        budget_s=0.5,
    )


def show_cost(config, shape: tuple, n_classes: int, n_train: int, n_test: int) -> dict | None:
    """Seconds per epoch, estimated from the run's FLOPs (counted on the meta device: no backbone is built here)
    at this machine's measured pace (same batch, size, freezing and cache)."""
    st.subheader("Time per epoch", divider="gray")
    timed = config.replace(train={"epochs": 1.0}, optim={"lr": 1e-3})  # neither changes an epoch's cost
    with st.spinner("Counting this run's operations..."):
        est = guarded(lambda: _estimate(timed.to_json(), tuple(shape), n_classes, n_train, n_test))
    if est is None:
        return None
    m = st.columns(4)
    fmt = lambda s: f"{s:,.1f} s" if s < 120 else f"{s / 60:,.1f} min"
    m[0].metric("one epoch (estimate)", fmt(est["epoch_s"]))
    m[1].metric("steps per epoch", f"{est['steps_per_epoch']:,}", help=f"batch {est['batch_size']}")
    m[2].metric("training speed", f"{est['images_per_s']:,.0f} img/s")
    m[3].metric(
        "feature cache: once",
        fmt(est["cache_once_s"]) if est["uses_cache"] else "—",
        help="Computing the frozen backbone's features once, before the first epoch.",
    )
    st.caption(
        f"Estimated from this run's operations at batch {est['batch_size']} "
        f"({est['flops_per_step'] / 1e9:,.1f} GFLOP a step"
        + (", on cached features" if est["uses_cache"] else ", forward and backward passes")
        + f"; {est['trainable_parameters']:,} parameters train) at the pace measured on this machine "
        f"({est['device']}, {est['threads']} threads), plus the evaluation of {n_test:,} test images. "
        "A rough guide: a busy machine trains slower."
    )
    if est["epoch_s"] > 600:
        st.warning(
            "Over ten minutes per epoch: use fewer training images, a smaller input size, a smaller "
            "backbone, or train the head only with the feature cache.",
            icon=":material/schedule:",
        )
    return est


def four_cases() -> None:
    """The four cases (how much data, how similar to ImageNet), each with a button that sets its settings."""
    ss = st.session_state
    title = "The four cases: how much data, how similar to ImageNet"
    with st.expander(title, expanded=True, icon=":material/grid_view:"):
        cols = st.columns(4)
        for i, case in enumerate(FOUR_CASES):
            with cols[i]:
                st.markdown(f"**{case['case'].capitalize()}**")
                st.caption(case["why"])
                s = case["settings"]
                what = {
                    "head_only": "train the head only",
                    "last_k": f"unfreeze the last {s['k']} blocks",
                    "finetune_all": "fine-tune everything",
                }[s["freeze"]]
                st.markdown(
                    f"- {what}\n- backbone rate x{s['backbone_lr_scale']:g}\n- learning rate {s['lr']:g}"
                    + ("\n- feature cache" if s["feature_cache"] else "")
                )
                if st.button("Use these settings", key=f"tl_case_{i}"):
                    ss.tl_case = i
                    ss.tl_lr = s["lr"]
                    ss.tl_scale = float(s["backbone_lr_scale"])
                    ss.tl_cache = s["feature_cache"]
                    ss.tl_want_freeze = (s["freeze"], s["k"] if s["freeze"] == "last_k" else 1)
