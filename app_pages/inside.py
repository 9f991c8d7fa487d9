"""Inside the network: filters over epochs, activations, saliency and Grad-CAM, weights and
gradients over time, an initialisation lab, MLP vs CNN, and run comparison.

The page picks a run from the run store (``?run=<id>`` preselects one) and draws the open tab; each tab
is in an ``inside_*`` module (filters, one image's way through the network, weights and the
initialisation lab, comparisons). Everything heavy is done by ``playground.inside`` and cached per run."""

from __future__ import annotations

from typing import Callable

import streamlit as st

from app_pages.common import job_manager, listed_runs
from app_pages.inside_compare import compare_runs, mlp_vs_cnn
from app_pages.inside_filters import filters_tab
from app_pages.inside_image import activations_tab, saliency_tab
from app_pages.inside_lab import init_lab, weights_tab
from app_pages.inside_shared import data_source, trained
from app_pages.lesson_landing import landing
from playground import inside as ins
from playground.data import list_datasets

st.title("Inside the network")
landing()  # a Start-page lesson's sentence and its one button (app_pages/lesson_landing.py)
manager = job_manager()
store = manager.store
qp = st.query_params

listed = set(listed_runs([r.run_id for r in store.list()]))  # this session's runs and the one in the link
runs = ins.inspectable_runs(store, keep=listed.__contains__)
by_id = {r["run_id"]: r for r in runs}
ids = list(by_id)
wanted = qp.get("run")
run_id = st.selectbox(
    "trained run",
    ids,
    index=ids.index(wanted) if wanted in ids else (0 if ids else None),
    format_func=lambda i: by_id[i]["label"],
    key="i_run",
    placeholder="no trained runs yet",
    help="Your classifier runs with saved weights (and the run a shared link opens), newest "
    "first. Autoencoder runs are inspected on the Autoencoders page.",
)
if run_id and qp.get("run") != run_id:
    qp["run"] = run_id
tr = trained(run_id) if run_id else None
run = store.open(run_id) if run_id else None
if tr is not None:
    st.caption(
        f"{tr.data.name} {list(tr.in_shape)} · {tr.config.model.name} · init {tr.config.model.init} · "
        f"weights from {tr.source}" + ("" if tr.epoch is None else f" (epochs trained: {tr.epoch})")
    )

home = tr.config.data.dataset if tr is not None and tr.config.data.dataset in list_datasets() else "shapes"
NO_RUN = (
    "Pick a trained run above (or train one on the Train page: a few epochs of the default CNN on shapes "
    "take under a minute). Autoencoder runs are inspected on the Autoencoders page."
)


def source(name: str) -> tuple:
    """(name, root, params) of a data set a tab loads: the chosen run's own settings for its data set."""
    return data_source(tr, name)


# Lazy tabs bound to the URL (?tab=...): only the open one runs, and a link opens the same tab.
tabs = st.tabs(
    [
        "Filters",
        "Activations",
        "Saliency & Grad-CAM",
        "Weights & gradients",
        "Initialisation lab",
        "MLP vs CNN",
        "Compare runs",
    ],
    key="tab",
    on_change="rerun",
    bind="query-params",
)


def run_tab(tab, draw: Callable[[], None]) -> None:
    """A tab about the chosen run: drawn only when it is open (lazy), and only once a run is chosen."""
    with tab:
        if tab.open:
            if tr is None:
                st.info(NO_RUN, icon=":material/info:")
            else:
                draw()


run_tab(tabs[0], lambda: filters_tab(tr, run))
run_tab(tabs[1], lambda: activations_tab(tr, run_id))
run_tab(tabs[2], lambda: saliency_tab(tr))
run_tab(tabs[3], lambda: weights_tab(tr, run))
with tabs[4]:
    if tabs[4].open:  # lazy: only the open tab runs
        init_lab(home, source)
with tabs[5]:
    if tabs[5].open:
        mlp_vs_cnn(home, source, runs)
with tabs[6]:
    if tabs[6].open:
        compare_runs(run_id)
