"""Transfer learning: a pretrained backbone, its surgery made visible, the four cases,
training on any data set (an uploaded image folder especially), the cost before starting,
live curves, and the same data trained from scratch beside it."""

from __future__ import annotations

import json

import streamlit as st

from app_pages.common import guarded, job_manager, md, my_runs, owner, status_badge, view_link
from app_pages.lesson_landing import landing
from app_pages.run_panel import ended_box, live_view, open_run
from app_pages.transfer_setup import (
    choose_freeze,
    choose_normalisation,
    choose_source,
    show_cost,
    source_notes,
    source_task,
    url_runs,
)
from app_pages.widgets import image_folder_input
from playground import export, plots
from playground.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from playground.data import list_datasets, load_dataset
from playground.data.uploads import check_folder_allowed
from playground.device import device_summary
from playground.jobs.buffer import run_progress
from playground.models.transfer import Backbone
from playground.runs import RunStore
from playground.transfer import FOUR_CASES, describe_transfer
from playground.transfer.plots import comparison_figure
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

with st.expander("The four cases: how much data, how similar to ImageNet", expanded=True, icon=":material/grid_view:"):
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


# -- data ---------------------------------------------------------------------------------

st.subheader("Data", divider="gray")
c1, c2, c3 = st.columns([1, 2, 1])
names = list_datasets()
dataset = c1.selectbox(
    "data set",
    names,
    index=names.index("image_folder" if ss.get("upload_folder") else "shapes"),
    key="tl_dataset",
    help="Any data set; your own images through image_folder (upload a .zip).",
)
root: str | None = None
data_params: dict = {}
if dataset == "image_folder":
    with c2:
        root = image_folder_input("tl")
    data_params["image_size"] = int(
        c3.select_slider(
            "stored image size (px)",
            [32, 48, 64, 96, 128],
            value=64,
            key="tl_folder_size",
            help="Images are decoded once at this size; the backbone input size is set below.",
        )
    )
    if not root:
        st.info(
            "Upload a .zip (one sub-folder per class: cats/1.jpg, dogs/2.jpg; optionally under train/ and "
            "test/), or pick another data set.",
            icon=":material/folder_open:",
        )
        st.stop()
else:
    root = (
        c2.text_input(
            "data folder (empty: default)",
            key="tl_root",
            help="where MNIST/CIFAR files are; default $PLAYGROUND_DATA or ./data",
        )
        or None
    )
if root and guarded(lambda: check_folder_allowed(root, owner())) is None:
    st.stop()
with st.spinner(f"Loading {dataset}..."):
    ds = guarded(lambda: load_dataset(dataset, root=root, **(data_params or {})))
if ds is None:
    st.stop()
info = ds.summary()
ss.setdefault("tl_limit", 0 if on_gpu else 2000)  # set once: another data set keeps it (capped below, said so)
limit = int(
    c3.number_input(
        "training images (0: all)", min_value=0, step=250, key="tl_limit", help="A subset keeps a CPU run short."
    )
)
n_train = min(limit or info["train"], info["train"])
st.caption(
    f"{md(info['name'])}: {len(info['classes'])} classes, images {' x '.join(map(str, info['shape']))}, "
    f"{n_train:,} of {info['train']:,} training images used, {info['test']:,} test images"
    + (f" (this data set has fewer than the {limit:,} asked for)." if limit > info["train"] else ".")
)


# -- backbone, weights, surgery -----------------------------------------------------------

st.subheader("Backbone and weights", divider="gray")
src = choose_source(RunStore())
if src is None:
    st.stop()
source, backbone, arch = src["source"], src["backbone"], src["arch"]
source_run = src["params"].get("source_run", "")
if source_run and guarded(lambda: RunStore().open(source_run).config().data.dataset) == dataset:  # the lesson's rule
    st.warning(
        f"The source run was trained on {dataset} itself: its features have already seen these images and "
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
rep = counts["replaced"]
was = f"the source run's {arch['classes']} classes" if arch else "ImageNet"
st.markdown(
    f"**The surgery:** `{rep['name']}` was `Linear({rep['in_features']} → {rep['old_out_features']})` for "
    f"{was}; it is replaced by a new `Linear({rep['in_features']} → {len(info['classes'])})` for your "
    f"classes. **{counts['trainable']:,} of {counts['total']:,}** parameters train"
    + (f" (head + {', '.join(counts['blocks'])})." if counts["blocks"] else " (the new head only).")
)
with st.expander("The module tree: name, type, output shape, parameters, trainable", icon=":material/account_tree:"):
    depth = st.slider("depth", 1, max(r["depth"] for r in rows), 2, key="tl_depth")
    shown = [r for r in rows if r["depth"] <= depth]
    st.dataframe(
        shown,
        hide_index=True,
        key="tl_table",
        column_order=["name", "type", "output shape", "parameters", "trainable", "block", "note"],
    )


# -- start ---------------------------------------------------------------------------------


def config(params: dict, scale_: float, feature_cache: bool) -> RunConfig:
    return RunConfig(
        data=DataConfig(
            dataset=dataset,
            data_root=root,
            params=data_params,
            augment=tuple(augment),
            train_limit=limit or None,
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
show_cost(main_cfg, tuple(info["shape"]), len(info["classes"]), n_train, info["test"])
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


# -- the runs, live ----------------------------------------------------------------------------

runs: dict[str, str] = url_runs(manager, qp) if qp.get("run") else ss.get("tl_runs", {})
keys = {qp.get("run"): qp.get("ctl"), qp.get("cmp"): qp.get("cmp_ctl")}  # control keys from the URL
if runs:
    st.subheader("Runs", divider="gray")
    shared = {"cmp": runs.get("from scratch", "")} if "transferred" in runs else {}
    st.caption(f"View-only link to these runs: `{view_link(next(iter(runs.values())), **shared)}`")
    opened = [o for o in (open_run(r, "train", keys.get(r)) for r in runs.values()) if o is not None]
    names = {run_id: name for name, run_id in runs.items()}
    mine_of = {o.run_id: o.mine for o in opened}

    def live_runs(now: dict) -> None:
        epochs_by_run = {}
        cols = st.columns(len(now))
        for col, (run_id, (status, snap)) in zip(cols, now.items()):
            name, mine = names[run_id], mine_of[run_id]
            with col:
                st.markdown(f"**{name}** · `{run_id}` · {status_badge(status)}")
                if status in ("queued", "running", "paused") and mine:
                    if st.button("Stop", key=f"tl_stop_{name}", icon=":material/stop:"):
                        manager.stop(run_id)
                elif status in ("queued", "running", "paused"):
                    st.caption(":material/visibility: View only: the session that started this run controls it.")
                ended_box(snap["final"])
                start = snap["start"]
                if status == "queued":
                    st.caption(f"waiting for a free slot (number {manager.queue_position(run_id)} in the queue)")
                elif start is None:
                    st.caption(
                        "preparing: loading the data and the backbone"
                        + (", computing the features once" if name == "transferred" and use_cache else "")
                        + "..."
                    )
                if start:
                    bar = run_progress(snap, not snap["final"])
                    st.progress(
                        bar["fraction"],
                        text=f"{bar['label']} · {start['trainable_parameters']:,} of "
                        f"{start['parameters']:,} parameters train",
                    )
                    if snap["steps"]["step"]:
                        st.plotly_chart(
                            plots.training_curves(snap["steps"], snap["epochs"]),
                            key=f"tl_curves_{name}",
                            config={"staticPlot": status == "running"},
                        )
                    if snap["epochs"]:
                        last = snap["epochs"][-1]
                        st.metric("test accuracy", f"{last['test_acc']:.2%}", help=f"after epoch {last['epoch'] + 1}")
                        epochs_by_run[name] = snap["epochs"]
                if status not in ("queued", "running", "paused"):
                    run = manager.store.open(run_id)
                    path = run.weights_path()
                    if path is not None:
                        # read when pressed (vgg16: ~530 MB); a viewer's copy names no server folder
                        data = path.read_bytes if mine else (lambda p=path: export.checkpoint_without_server_paths(p))
                        st.download_button(
                            "Model (.pt)",
                            data,
                            file_name=f"{run_id}.pt",
                            key=f"tl_dl_{name}",
                            icon=":material/download:",
                        )
        if epochs_by_run:
            st.plotly_chart(comparison_figure(epochs_by_run), key="tl_compare_fig")

    live_view(opened, live_runs)  # one started, or all finished: the page redraws once


# -- where the backbone comes from ----------------------------------------------------------

source_task(tv_backbone, w)
