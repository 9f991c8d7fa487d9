"""UI parts shared by "Inside the network" and the Train page: cached trained models and test
predictions, the confusion drill-down, and the data set a tab of the Inside page loads (the chosen run's own
settings when it is the same data set). Each of the Inside page's tabs is in an ``inside_*`` module
("run again with one change" is in train_again). No torch here: the work is done by
``playground.inside``."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_pages.common import guarded, job_manager
from playground import inside as ins
from playground.data import load_dataset
from playground.inside import plots as pin


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


def confusion_drilldown(run_id: str, matrix: list[list[int]], classes: list[str], title: str, key: str = "dd") -> None:
    """A clickable confusion matrix; the chosen cell's test images with their top-3 probabilities,
    and a gallery of the highest-loss test images."""
    event = st.plotly_chart(
        pin.clickable_confusion(matrix, classes, title), key=f"{key}_chart", on_select="rerun", selection_mode="points"
    )
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
            of = len(preds["y"])
            part = "" if of == len(tr.data.test_y) else f" of the first {of:,} (a large model: PLAYGROUND_INSIDE_MB)"
            st.markdown(
                f"**{res['count']} test images{part}: {what}** (most confident first; weights from "
                f"{tr.source}{'' if tr.epoch is None else f', {tr.epoch} epoch(s)'})"
            )
            gallery(res["tiles"])
    if st.toggle("show the highest-loss test images", key=f"{key}_hl"):
        preds = predictions(run_id)
        tr = trained(run_id)
        if preds is not None and tr is not None:
            gallery(ins.highest_loss(tr, preds, 16))


def data_source(tr: ins.Trained | None, name: str) -> tuple:
    """(name, root, params) to load: the chosen run's own data settings when it is the same data set."""
    if tr is not None and tr.config.data.dataset == name:
        return name, tr.config.data.data_root, dict(tr.config.data.params)
    return name, None, {}


def load_source(src: tuple):
    name, root, params = src
    return load_dataset(name, root=root, **params)
