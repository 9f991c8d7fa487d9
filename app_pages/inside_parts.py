"""UI parts shared by "Inside the network" and the Train page: cached trained models and test
predictions, the confusion drill-down, and "run again with one change". No torch here: the
work is done by ``playground.inside`` (and ``playground.config`` for the config change)."""

from __future__ import annotations

import json
from typing import Any, Callable

import streamlit as st

from app_pages.common import guarded, job_manager
from playground import inside as ins
from playground.config import RunConfig, config_fields, with_change
from playground.inside import plots as pin


def _stamp(run_id: str) -> float:
    """Changes whenever the run's saved weights change (so caches follow a training run)."""
    run = job_manager().store.open(run_id)
    for p in (run.model_path, run.checkpoint_path):
        if p.exists():
            return p.stat().st_mtime
    return 0.0


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


def run_again(config: RunConfig, start: Callable[[RunConfig], None], key: str = "ra") -> None:
    """Duplicate a run's setup, seed included; exactly one setting differs."""
    fields = config_fields(config)
    names = [k for k in fields if k not in ("train.device",)]
    path = st.selectbox("setting to change", names, key=f"{key}_field",
                        index=names.index("optim.lr") if "optim.lr" in names else 0)
    current = fields[path]
    text = st.text_input(f"new value (now `{json.dumps(current)}`)", value=json.dumps(current),
                         key=f"{key}_value_{path}", help="JSON: 0.01, true, \"adam\", [32, 64], {\"std\": 0.1}")
    new = None
    if text.strip() != json.dumps(current):
        new = guarded(lambda: with_change(config, path, text))
    if new is not None:
        st.caption(f"Same data, model, seed ({config.train.seed}) and settings; only **{path}** becomes "
                   f"`{json.dumps(config_fields(new)[path])}`.")
    if st.button("Run again with this change", key=f"{key}_go", disabled=new is None, icon=":material/replay:"):
        start(new)
