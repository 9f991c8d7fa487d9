"""Transfer learning: a pretrained backbone, its surgery made visible, the four cases,
training on any data set (an uploaded image folder especially), the cost before starting,
live curves, and the same data trained from scratch beside it.

This file is the page from top to bottom; its sections live in modules named for them: the data
(``transfer_data``), the setup choices and the surgery (``transfer_setup``), the runs, live
(``transfer_runs``, on the live-run kit), and the backbone's own ImageNet task (``transfer_source_task``,
a job)."""

from __future__ import annotations

import json

import streamlit as st

from app_pages.common import guarded, job_manager, my_runs, owner
from app_pages.lesson_landing import landing
from app_pages.transfer_data import choose_data
from app_pages.transfer_runs import transfer_runs
from app_pages.transfer_setup import (
    choose_freeze,
    choose_normalisation,
    choose_source,
    four_cases,
    show_cost,
    show_surgery,
    source_notes,
)
from app_pages.transfer_source_task import source_task
from playground.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from playground.device import device_summary
from playground.models.transfer import Backbone
from playground.runs import RunStore
from playground.transfer import describe_transfer
from playground.weights import resolve_weights, weights_cached

SIZES = [32, 64, 96, 112, 160, 224]

st.title("Transfer learning")
landing()  # a Start-page lesson's sentence and its one button (app_pages/lesson_landing.py)
st.caption(
    "Take a network trained on ImageNet's 1,000 classes, cut off its last layer, put a new one for your "
    "classes in its place, and decide how much of the rest may change. Every step of that surgery is "
    "shown below."
)
manager = job_manager()
qp = st.query_params  # ?run= (and ?cmp=, the from-scratch run beside it): the runs below, after a reload too
on_gpu = device_summary()["type"] == "cuda"
ss = st.session_state
# The settings below the data section keep their values while the page waits for a folder (it stops before
# drawing them, and Streamlit forgets a widget that was not drawn; assigned back, its value stays): choosing
# image_folder once reset the head's learning rate to 0, so Start failed.
for _k in ("tl_limit", "tl_scale", "tl_lr", "tl_cache", "tl_size", "tl_epochs", "tl_bs", "tl_aug", "tl_compare"):
    if _k in ss:
        ss[_k] = ss[_k]


# -- the four cases ----------------------------------------------------------------------

four_cases()


# -- data ---------------------------------------------------------------------------------

data = choose_data(on_gpu)
info = data.info


# -- backbone, weights, surgery -----------------------------------------------------------

st.subheader("Backbone and weights", divider="gray")
src = choose_source(RunStore())
if src is None:
    st.stop()
source, backbone, arch = src["source"], src["backbone"], src["arch"]
source_run = src["params"].get("source_run", "")
# the lesson's rule: a source trained on these very images proves little
if source_run and guarded(lambda: RunStore().open(source_run).config().data.dataset) == data.dataset:
    st.warning(
        f"The source run was trained on {data.dataset} itself: its features have already seen these images and "
        "classes, so beating from scratch proves little about transfer. Pick a source trained on another task "
        "(another data set, or other classes).",
        icon=":material/warning:",
    )
tv_backbone = backbone if backbone != "run" else ss.tl_backbone  # the torchvision one (its ImageNet task below)
w = resolve_weights(tv_backbone)
source_notes(arch, info["shape"])


@st.cache_data(max_entries=32, show_spinner=False)
def table(params_json: str, shape: tuple, n_classes: int) -> tuple[list[dict], dict, list]:
    """The surgery of these settings: built on the meta device (no weights, no memory), in playground.transfer."""
    return describe_transfer(json.loads(params_json), shape, n_classes, str(RunStore().root))


def model_params(freeze: str = "head_only", k: int = 1) -> dict:
    size = 0 if backbone == "run" else int(ss.get("tl_size", 224 if on_gpu else 64))
    return {**src["params"], "freeze": freeze, "k": k, "image_size": size}


spec_rc = guarded(lambda: table(json.dumps(model_params(), sort_keys=True), tuple(info["shape"]), len(info["classes"])))
if spec_rc is None:
    st.stop()
spec = Backbone(backbone, "", tuple((label, tuple(names)) for label, names in spec_rc[2]), "")
c1, c2 = st.columns([2, 1])
with c1:
    stop = choose_freeze(spec, source, backbone)
for key, value in (("tl_scale", 0.1), ("tl_lr", 3e-3), ("tl_cache", True)):  # once; the case buttons set them too
    ss.setdefault(key, value)
scale = c2.slider(
    "backbone learning rate (x the head's)", 0.0, 1.0, step=0.01, key="tl_scale", disabled=stop["freeze"] == "head_only"
)
c1, c2, c3, c4, c5 = st.columns(5)
size = c1.select_slider(
    "backbone input size (px)",
    SIZES,
    value=224 if on_gpu else 64,
    key="tl_size",
    disabled=backbone == "run",
    help="The source network's own input size for one of your runs (images are resized inside "
    f"the model); ImageNet weights were trained at {w.transforms().crop_size[0]} px; "
    "smaller is much faster on a CPU.",
)
lr = c2.number_input("learning rate (head)", min_value=1e-6, max_value=1.0, format="%g", key="tl_lr")
epochs = c3.number_input("epochs", value=3.0, min_value=0.1, step=1.0, format="%g", key="tl_epochs")
bs = c4.number_input(
    "batch size",
    value=64,
    min_value=2,
    max_value=1024,
    step=16,
    key="tl_bs",
    help="The cost below is measured at this batch: larger batches need more memory.",
)
augment = c5.multiselect(
    "augmentations",
    ["hflip", "rotation:10", "translate:0.1", "random_resized_crop", "color_jitter"],
    key="tl_aug",
    help="Each draw needs a new forward pass, so they turn the feature cache off.",
)
cache_ok = stop["freeze"] == "head_only" and not augment
cache = st.checkbox(
    "feature cache: compute the frozen backbone's features once, then train the head on them",
    key="tl_cache",
    disabled=not cache_ok,
    help="Only with the whole backbone frozen and no augmentation.",
)
use_cache = cache and cache_ok
compare = st.checkbox(
    "also train the same backbone from scratch on the same data, for comparison",
    value=True,
    key="tl_compare",
    disabled=source == "none",
)
normalize = choose_normalisation(source)
rows, counts, _ = (
    guarded(
        lambda: table(
            json.dumps(model_params(stop["freeze"], stop["k"]), sort_keys=True),
            tuple(info["shape"]),
            len(info["classes"]),
        )
    )
    or st.stop()
)
show_surgery(rows, counts, arch, len(info["classes"]))


# -- start ---------------------------------------------------------------------------------


def config(params: dict, scale_: float, feature_cache: bool) -> RunConfig:
    return RunConfig(
        data=DataConfig(
            dataset=data.dataset,
            data_root=data.root,
            params=data.params,
            augment=tuple(augment),
            train_limit=data.limit or None,
            normalize=normalize,
        ),
        model=ModelConfig(
            name="transfer",
            params={**params, "backbone_lr_scale": scale_, "feature_cache": feature_cache, "download": False},
        ),
        optim=OptimConfig(name="adam", lr=float(lr), schedule="cosine"),
        train=TrainConfig(epochs=float(epochs), batch_size=int(bs)),
    )


main_cfg = config(model_params(stop["freeze"], stop["k"]), float(scale), use_cache)
show_cost(main_cfg, tuple(info["shape"]), len(info["classes"]), data.n_train, info["test"])
can_start = not (source == "imagenet" and not weights_cached(w))
if st.button(
    "Start transfer run", type="primary", key="tl_start", icon=":material/play_arrow:", disabled=not can_start
):
    job = guarded(lambda: manager.submit(main_cfg, owner()))
    if job is not None:
        ss.tl_runs = {"transferred" if source != "none" else "from scratch": job.run_id}
        my_runs().append(job.run_id)
        url = {"run": job.run_id, "ctl": job.control_key}  # this tab keeps control after a reload
        if compare and source != "none":
            scratch = config({**model_params("finetune_all"), "weights": "none"}, 1.0, False)
            sj = guarded(lambda: manager.submit(scratch, owner()))
            if sj is not None:
                ss.tl_runs["from scratch"] = sj.run_id
                my_runs().append(sj.run_id)
                url.update(cmp=sj.run_id, cmp_ctl=sj.control_key)
        qp.from_dict(url)
        st.rerun()
if not can_start:
    st.caption("Starting needs the ImageNet weights in the cache (see above), or another weights source.")


# -- the runs, live (app_pages/transfer_runs.py), then the backbone's own task (app_pages/transfer_source_task.py)

transfer_runs(manager, qp, use_cache)
source_task(tv_backbone, w)
