"""The Train page's form for the ``transfer`` architecture: pickers, not typed text. Where the weights come
from (the model entry's own ``weights`` choices), the torchvision backbone (its ``backbone`` choices), the
source run (one of this student's own finished runs, as the Transfer page lists them), what trains (the
backbone's freeze stops), the backbone's learning rate and the input size (the entry's ranges), and the
ImageNet weights' download, off unless asked for (they are read from the torch hub cache)."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from app_pages.common import guarded, job_manager, listed_runs, md
from playground.data import DATASETS
from playground.device import device_summary
from playground.models import MODELS
from playground.models.recipes import default_recipe
from playground.models.transfer import BACKBONES, Backbone, build_transfer
from playground.registry import PARAM_RANGES
from playground.transfer import freeze_options, source_params, source_runs
from playground.weights import resolve_weights, weights_cached, weights_file

KEY = "t_m_transfer"
WEIGHT_LABELS = {"imagenet": "ImageNet (torch hub cache)", "run": "one of my runs", "none": "none: from scratch"}
NO_SOURCES = (
    "No finished runs of yours to start from yet: train a classifier here first (cnn, lenet5, resnet or "
    "mlp, any data set), then pick it as the source run; its layers up to the last one become the "
    "feature extractor, with a new head for this data."
)


def _index(options: list, value: Any) -> int:
    return options.index(value) if value in options else 0


def _range(name: str) -> tuple:
    """The entry's range for ``name`` (its own ``ranges`` fact, else the shared one by name: a parameter whose
    default is None, "the recipe's", has no number for ``Registry.ranges`` to see)."""
    return (
        MODELS.ranges("transfer").get(name)
        or MODELS.facts("transfer").get("ranges", {}).get(name)
        or PARAM_RANGES[name]
    )


def _valid(key: str, options: list) -> None:
    """A select whose options changed (another backbone, a run gone): forget a value it no longer offers."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


@st.cache_data(max_entries=64, show_spinner=False)
def _run_blocks(params_json: str, shape: tuple, n_classes: int) -> list[list]:
    """The blocks of a source run's own network (built with no weights read): what the freeze stops count."""
    m = build_transfer(
        in_shape=shape,
        num_classes=n_classes,
        runs_root=str(job_manager().store.root),
        **{**json.loads(params_json), "weights": "none", "download": False},
    )
    return [[label, list(names)] for label, names in m.spec.blocks]


def _source(current: dict) -> dict | None:
    """weights "run": the source run picked from this student's own finished runs -> its transfer parameters."""
    store = job_manager().store
    rows = source_runs(listed_runs(store.list(), key=lambda r: r.run_id))
    if not rows:
        st.info(NO_SOURCES, icon=":material/info:")
        return None
    labels = {r["run_id"]: r["label"] for r in rows}
    ids = list(labels)
    want = current.get("source_run")
    if want and want not in labels:
        st.caption(f"Run {md(want)} is not one of your runs; pick a source run below.")
    _valid(f"{KEY}__source_run", ids)
    run_id = st.selectbox(
        "source run",
        ids,
        index=_index(ids, want) if want in labels else len(ids) - 1,
        format_func=labels.get,
        key=f"{KEY}__source_run",
        help="A finished classifier of yours (its layers up to the last one become the feature "
        "extractor) or an earlier transfer run (its backbone and weights).",
    )
    return guarded(lambda: source_params(store.open(run_id)))


def _imagenet(backbone: str, current: dict) -> bool | None:
    """The ImageNet weights: found in the cache (download not needed), else a warning that says what to do and
    a box to download them when the run starts (None: not found and not to be downloaded)."""
    w = resolve_weights(backbone)
    if weights_cached(w):
        st.caption(f":material/check_circle: {w} found in the torch hub cache.")
        return False
    st.warning(
        f"The {w} weights are not in the torch hub cache. Put **{weights_file(w).name}** (from {w.url}) "
        f"into `{weights_file(w).parent}`, tick the box below when this server is online, or choose "
        "weights from one of your runs.",
        icon=":material/cloud_off:",
    )
    if st.checkbox(
        "download them when the run starts (this server must be online)",
        key=f"{KEY}__download",
        value=bool(current.get("download", False)),
    ):
        return True
    return None


def _blocks(params: dict, dataset: str) -> Backbone | None:
    """The backbone's blocks, for the freeze stops: a torchvision backbone's own, a source run's network built."""
    if params["backbone"] in BACKBONES:
        return BACKBONES[params["backbone"]]
    facts = DATASETS.facts(dataset)
    blocks = guarded(
        lambda: _run_blocks(
            json.dumps(params, sort_keys=True), tuple(facts["input_shape"]()), facts["num_classes"] or 10
        )
    )
    return None if blocks is None else Backbone("run", "", tuple((b[0], tuple(b[1])) for b in blocks), "")


def _what_trains(spec: Backbone, params: dict, current: dict) -> dict[str, Any]:
    """Freeze depth (the backbone's stops), the backbone's learning rate (the entry's range), the feature cache."""
    freeze, k, scale = default_recipe(
        params["backbone"], params["weights"], current.get("freeze"), current.get("k"), current.get("backbone_lr_scale")
    )
    stops = freeze_options(spec)
    labels = [o["label"] for o in stops]
    now = next((o["label"] for o in stops if o["freeze"] == freeze and (freeze != "last_k" or o["k"] == k)), labels[0])
    key = f"{KEY}__freeze_{params['backbone']}"
    _valid(key, labels)
    if key not in st.session_state:
        st.session_state[key] = now
    label = st.select_slider(
        "what trains (freeze depth)",
        labels,
        key=key,
        help="From the new head alone, through the last k blocks, to every layer.",
    )
    stop = next(o for o in stops if o["label"] == label)
    lo, hi, step = _range("backbone_lr_scale")
    c1, c2 = st.columns(2)
    scale = c1.slider(
        "backbone learning rate (x the head's)",
        float(lo),
        float(hi),
        float(min(max(scale, lo), hi)),
        float(step),
        key=f"{KEY}__backbone_lr_scale",
        disabled=stop["freeze"] == "head_only",
    )
    cache = c2.checkbox(
        "feature cache",
        value=bool(current.get("feature_cache", True)),
        key=f"{KEY}__feature_cache",
        help="With the whole backbone frozen and no augmentation, compute its features once and "
        "train the head on them.",
    )
    return {"freeze": stop["freeze"], "k": stop["k"], "backbone_lr_scale": float(scale), "feature_cache": cache}


def _image_size(backbone: str, current: dict | None) -> int:
    """The backbone's input size (px) over the entry's range; 0 (the weights' own size) shows as that size."""
    lo, hi, step = _range("image_size")
    own = int(resolve_weights(backbone).transforms().crop_size[0])
    sizes = sorted({s for s in range(int(lo), int(hi) + 1, int(step)) if s >= 32} | {own})
    if current is not None:  # a link's setup: its size (0 = the weights' own)
        value = int(current.get("image_size") or own)
    else:  # a fresh form: the weights' own size on a GPU, 64 px (much faster) on a CPU
        value = own if device_summary()["type"] == "cuda" else 64
    value = min(sizes, key=lambda s: abs(s - value))
    return int(
        st.select_slider(
            "backbone input size (px)",
            sizes,
            value=value,
            key=f"{KEY}__image_size",
            format_func=lambda s: f"{s} (the weights' own)" if s == own else str(s),
            help=f"Images are resized inside the model; the ImageNet weights were trained at "
            f"{own} px; smaller is much faster on a CPU.",
        )
    )


def transfer_form(current: dict | None, dataset: str) -> dict | None:
    """The transfer model's parameters, from pickers; None (the reason shown) when there is nothing to start from.
    ``current``: a link's (or the last started run's) parameters, None for a fresh form."""
    fresh, current = current is None, dict(current or {})
    choices = MODELS.choices("transfer")
    weights_opts = list(choices["weights"])
    c1, c2 = st.columns([1, 2])
    weights = c1.radio(
        "weights",
        weights_opts,
        index=_index(weights_opts, current.get("weights", "imagenet")),
        format_func=lambda w: WEIGHT_LABELS.get(w, w),
        key=f"{KEY}__weights",
    )
    backbones = [b for b in choices["backbone"] if b in BACKBONES]  # "run": the source run's own network
    with c2:
        if weights == "run":
            params = _source(current)
            if params is None:
                return None
        else:
            backbone = st.selectbox(
                "backbone",
                backbones,
                index=_index(backbones, current.get("backbone")),
                key=f"{KEY}__backbone",
                format_func=lambda b: f"{b}: {BACKBONES[b].note}",
            )
            params = {"backbone": backbone, "weights": weights}
            if weights == "imagenet":
                download = _imagenet(backbone, current)
                if download is None:
                    return None
                params["download"] = download
            else:
                params["download"] = False
    spec = _blocks(params, dataset)
    if spec is None:
        return None
    params.update(_what_trains(spec, params, current))
    if params["backbone"] in BACKBONES:
        params["image_size"] = _image_size(params["backbone"], None if fresh else current)
    params.setdefault("download", False)
    defaults = MODELS.params("transfer")
    return {k: v for k, v in params.items() if k not in defaults or v != defaults[k] or k == "download"}
