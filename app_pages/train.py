"""Train: set up a run, start it in the background, watch it live, stop/pause it,
download what it made. The run id and the whole setup live in the URL."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_pages.augment_parts import augment_controls
from app_pages.common import (
    guarded,
    job_manager,
    log_steps,
    md,
    my_runs,
    owner,
    param_widgets,
    url_run,
    view_link,
)
from app_pages.course_parts import normalisation_input, protocol_inputs
from app_pages.folder_parts import real_folder, shown_folder
from app_pages.inside_parts import confusion_drilldown
from app_pages.lesson_parts import landing
from app_pages.run_panel import control_row, downloads, ended_box, live_view, open_run, view_only_link
from app_pages.train_again_parts import run_again
from app_pages.train_run_parts import live_change, stepped_batch
from app_pages.train_setup_parts import (
    batch_size_input,
    dataset_options,
    folded_setup,
    model_form,
    step_plan,
    url_config,
)
from playground import plots
from playground.config import PRECISIONS, DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from playground.data import explore, list_datasets, load_dataset
from playground.data.augment import AUGMENTATIONS, list_augmentations, parse_spec
from playground.data.uploads import check_folder_allowed
from playground.jobs.buffer import latest_test_acc, run_progress
from playground.models import list_models
from playground.train import check_names
from playground.train.init import INITS, list_inits
from playground.train.optim import SCHEDULES, list_optimizers, list_schedules
from playground.train.snapshots import DEFAULT_PROBES

st.title("Train")
landing()  # a Start-page lesson's sentence and its one button (app_pages/lesson_parts.py)
manager = job_manager()
qp = st.query_params


# -- the setup, seeded once per session from the URL ---------------------------------

if "t_base" not in st.session_state:
    st.session_state.t_base = url_config(qp.get("cfg"))
chosen = st.session_state.get("chosen_data")  # the data set (and folder) last looked at on the Data page
if chosen and chosen != st.session_state.get("t_seen_data"):
    st.session_state.t_seen_data = chosen
    if not qp.get("cfg") and not qp.get("run"):  # a link's setup wins; a fresh form starts from it
        same = chosen[0] == base_data.dataset if (base_data := st.session_state.t_base.data) else False
        st.session_state.t_base = st.session_state.t_base.replace(data={
            "dataset": chosen[0], "data_root": chosen[1], **({} if same else {"params": {}})})
        for k in ("t_dataset", "t_root_True", "t_root_False"):
            st.session_state.pop(k, None)
base: RunConfig = st.session_state.t_base


def pick(label: str, options: list[str], value: str, key: str, **kw) -> str:
    return st.selectbox(label, options, index=options.index(value) if value in options else 0, key=key, **kw)


def training_settings() -> dict[str, Any]:
    """The Training section's widgets -> TrainConfig's fields."""
    st.subheader("Training", divider="gray")
    a, b = st.columns(2)
    bs = batch_size_input(a, base.train.batch_size)  # None: auto
    epochs = b.number_input("epochs", value=float(base.train.epochs), min_value=0.01, step=1.0, format="%g",
                            key="t_epochs")
    seed = a.number_input("seed", value=base.train.seed, step=1, key="t_seed")
    device = pick("device", ["auto", "cpu", "cuda"], base.train.device, "t_device")
    precision = pick("precision", list(PRECISIONS), base.train.precision, "t_precision",
                     help="bf16 mixed precision: the convolutions and matrix products in 16-bit brain floats, "
                          "the weights kept in 32 bits. auto uses it on a GPU and on a CPU with AMX units, "
                          "where it trains 1.4-1.7x faster; fp32 elsewhere.")
    record = b.toggle("record snapshots and layer statistics", key="t_record",
                      value=bool(set(DEFAULT_PROBES) & set(base.train.probes)) if qp.get("cfg") else True,
                      help="Per-epoch filter snapshots and per-layer weight histograms and gradient norms, "
                           "for the Inside the network page (costs well under 5% of training time).")
    probes = tuple(p for p in base.train.probes if p not in DEFAULT_PROBES) + (DEFAULT_PROBES if record else ())
    return {"epochs": float(epochs), "batch_size": bs, "seed": int(seed), "device": device, "precision": precision,
            "probes": probes, **protocol_inputs(base.train, "t_protocol")}


def setup_form() -> RunConfig | None:
    """Widgets -> RunConfig (None, with the reason shown, when something is off)."""
    errors: list[str] = []
    c1, c2 = st.columns(2)
    with c1:
        st.subheader("Data", divider="gray")
        dataset = pick("data set", list_datasets(), base.data.dataset, "t_dataset",
                       help="shapes is built in and needs no download")
        upload = st.session_state.get("upload_folder")
        root_default = base.data.data_root or (upload if dataset == "image_folder" and upload else "")
        root = real_folder(st.text_input(  # an upload shows as upload:<folder>, resolved here on the server
            "image folder" if dataset == "image_folder" else "data folder (empty: default)",
            value=shown_folder(root_default), key=f"t_root_{dataset == 'image_folder'}",
            help="For image_folder: a folder with one sub-folder per class, or upload a .zip "
                 "on the Data page. Otherwise where MNIST/CIFAR files are (or get downloaded)."))
        if dataset == "image_folder" and not root:
            errors.append("Give the image folder (or upload a .zip on the Data page).")
        if root and guarded(lambda: check_folder_allowed(root, owner())) is None:
            errors.append("Choose a folder this server lets you read.")
        dparams = dataset_options(dataset, dict(base.data.params) if dataset == base.data.dataset else None)
        limit = st.number_input("use only the first N training images (0: all)", min_value=0,
                                value=base.data.train_limit or 0, step=500, key="t_limit")
        names = [parse_spec(s)[0] for s in base.data.augment if parse_spec(s)[0] in AUGMENTATIONS]
        chosen = st.multiselect("augmentations (in order)", list_augmentations(), default=names, key="t_aug",
                                help="Applied on the training device, with a new random draw per image.")
        augment = augment_controls(chosen, "t_augp", base.data.augment)  # sliders over the registry's ranges
        normalize = normalisation_input(base.data.normalize, "t_norm")

        st.subheader("Model", divider="gray")
        # Autoencoders reconstruct images: they train on the Autoencoders page (task reconstruct).
        model = pick("architecture", list_models(task="classify"), base.model.name, "t_model")
        mparams = model_form(model, dict(base.model.params) if model == base.model.name else None, dataset)
        if mparams is None:
            errors.append("Fix the model's layers (see the message above) to start a run.")
        init = pick("weight initialisation", list_inits(), base.model.init, "t_init", help=INITS.doc(base.model.init))
        iparams = param_widgets(INITS.params(init), f"t_i_{init}",
                                dict(base.model.init_params) if init == base.model.init else None,
                                ranges=INITS.ranges(init), choices=INITS.choices(init))
    with c2:
        st.subheader("Optimiser", divider="gray")
        opt = pick("optimiser", list_optimizers(), base.optim.name, "t_opt")
        lr = st.select_slider("learning rate", log_steps(1e-5, 1.0, base.optim.lr), value=base.optim.lr, key="t_lr",
                              format_func=lambda v: f"{v:g}", help="On a log scale: each step is about x2.")
        wd = st.number_input("weight decay (empty: the optimiser's default)", value=base.optim.weight_decay,
                             format="%g", key="t_wd", min_value=0.0)
        sched = pick("learning-rate schedule", list_schedules(), base.optim.schedule, "t_sched",
                     help=SCHEDULES.doc(base.optim.schedule))
        sparams = param_widgets({k: v for k, v in SCHEDULES.params(sched).items()}, f"t_s_{sched}",
                                dict(base.optim.schedule_params) if sched == base.optim.schedule else None,
                                ranges=SCHEDULES.ranges(sched))
        ls = st.slider("label smoothing", 0.0, 0.95, base.optim.label_smoothing, 0.05, key="t_ls")
        clip = st.number_input("gradient clipping (max norm, 0: off)", value=base.optim.grad_clip, min_value=0.0,
                               key="t_clip")
        train = training_settings()
    if errors:
        for e in errors:
            st.error(e)
        return None
    cfg = RunConfig(
        data=DataConfig(dataset=dataset, data_root=root or None, params=dparams, augment=tuple(augment),
                        train_limit=int(limit) or None, download=base.data.download, normalize=normalize),
        model=ModelConfig(name=model, params=mparams, init=init, init_params=iparams),
        optim=OptimConfig(name=opt, lr=float(lr), weight_decay=wd, schedule=sched, schedule_params=sparams,
                          label_smoothing=float(ls), grad_clip=float(clip)),
        train=TrainConfig(**train),
    )
    return cfg if guarded(lambda: check_names(cfg) or True) else None


def start(cfg: RunConfig) -> None:
    job = guarded(lambda: manager.submit(cfg, owner()))
    if job is not None:
        my_runs().append(job.run_id)
        qp["run"] = job.run_id
        qp["ctl"] = job.control_key  # this tab keeps control after a reload
        qp["cfg"] = cfg.to_url()
        st.session_state.t_base = cfg  # the setup reopens as it was started
        st.session_state.t_fold = True  # and is folded away under the run
        st.rerun()


run_id = url_run()  # with its control key (?ctl=) in the URL, the run is this session's
if st.session_state.pop("t_fold", False):
    st.session_state.t_setup = False
# Lazy: while folded (under a run), the setup form is not drawn; every redraw of a run's page (a new epoch,
# the start, the end) costs the server the run's views only (docs/BENCHMARKS.md).
setup = st.expander("Set up a run", expanded=run_id is None, icon=":material/tune:", key="t_setup",
                    on_change="rerun")
if not setup.open:  # its widgets are forgotten while folded: it reopens as the form last made it (?cfg=)
    st.session_state.t_base = folded_setup(qp.get("cfg"), base)
with setup:
    cfg = setup_form() if setup.open else None
    if cfg is not None:
        if qp.get("cfg") != cfg.to_url():
            qp["cfg"] = cfg.to_url()  # the link now opens this setup
        step_plan(cfg)  # steps per epoch and in all; too few: a warning and a fix
        if st.button("Start training", type="primary", key="t_start", icon=":material/play_arrow:"):
            start(cfg)
        st.caption(f"Link to this setup (no run attached): `{view_link(cfg=cfg.to_url())}`")


# -- the run: live or from the run store ---------------------------------------------

def run_panel(run_id: str) -> None:
    opened = open_run(run_id, "train", qp.get("ctl"))
    if opened is None:
        return
    run = opened.run
    if guarded(lambda: run.config().train.task) == "reconstruct":  # its views live on their own page
        st.info(f"Run {run_id} trains an autoencoder: its reconstructions are on the Autoencoders page.",
                icon=":material/compress:")
        st.page_link("app_pages/autoencode.py", label="Open it on the Autoencoders page",
                     query_params={"run": run_id}, icon=":material/arrow_forward:")
        return
    live = opened.live
    st.subheader(f"Run {run_id}" + (f": {md(run.name)}" if run.name else ""))
    view_only_link(run=run_id)
    if opened.mine:
        name_input(run)

    # Only the curves redraw every second. On a 2-core laptop every redraw (the server's and
    # the browser's) takes CPU from the training beside it (docs/BENCHMARKS.md), so the
    # per-epoch views are drawn by a whole-page rerun once per new epoch, not on a timer.
    def curves(now: dict) -> None:
        status, snap = now[run_id]
        controls(run_id, status, snap)
        if status == "paused" and snap.get("batch"):
            stepped_batch(run, snap)
        progress(snap, status)
        draw_curves(snap, live=live, extra=not live or st.session_state.get("t_more", False), run_id=run_id)

    live_view([opened], curves, per_epoch=True)
    if live:
        st.toggle("learning-rate and speed charts while training", key="t_more")
    snap = manager.snapshot(run_id, "train")
    if snap["epochs"]:
        draw_epoch(run, snap)
    if not live:
        downloads(run, opened.mine)
        st.page_link("app_pages/inside.py", label="Look inside this run (filters, activations, saliency, weights "
                     "and gradients)", query_params={"run": run_id}, icon=":material/visibility:")  # this tab
        cfg = guarded(run.config)  # a damaged config.json: said in a box, nothing to run again from
        if cfg is not None:
            with st.expander("Run again with one change", icon=":material/replay:"):
                run_again(cfg, start)


def name_input(run) -> None:
    """Name the run: the name shows wherever runs are listed (the sidebar, run pickers, the teacher's table)."""
    key = f"t_name_{run.run_id}"
    if key not in st.session_state:
        st.session_state[key] = run.name
    st.text_input("name this run", key=key, max_chars=40, placeholder="e.g. no augmentation, lr 0.01",
                  on_change=lambda: run.set_name(st.session_state[key]), width=360)


def controls(run_id: str, status: str, snap: dict) -> None:
    mine = manager.may_control(run_id, owner(), qp.get("ctl"))
    cols = control_row(run_id, status, mine, "c")
    if not mine:
        return
    if status in ("running", "paused"):
        live_change(run_id, cols[3], snap)
    if status == "paused" and cols[4].button("Step once", key="c_step", icon=":material/skip_next:",
                                             help="Train one batch, see it, stay paused."):
        guarded(lambda: manager.step_once(run_id), cols[4])
    if status == "interrupted":
        cols[4].warning("This run was interrupted (the server stopped while it trained).")
    # An interrupted run resumes (from the start if it has no checkpoint); one that ended early, from its checkpoint.
    if status == "interrupted" or (status in ("stopped", "diverged", "error", "damaged")
                                   and guarded(lambda: manager.store.open(run_id).resumable(), cols[4])):
        if cols[3].button("Resume from checkpoint", key="c_continue", icon=":material/restart_alt:"):
            if guarded(lambda: manager.resume(run_id, owner())):
                st.rerun(scope="app")


def progress(snap: dict, status: str) -> None:
    start = snap["start"]
    ended_box(snap["final"])
    if not start:
        return
    bar = run_progress(snap, status in ("running", "paused"))
    st.progress(bar["fraction"], text=bar["label"])
    d = start["dataset"]
    used = start.get("train_images", d["train"])
    threads = f", {start['threads']} thread{'s' if start['threads'] != 1 else ''}" if "threads" in start else ""
    st.caption(f"{start['device']} ({start.get('precision', 'fp32')}{threads}) · {md(d['name'])} {d['shape']} "
               f"({used:,} of {d['train']:,} training images, {d['test']:,} test) · "
               f"{start['parameters']:,} parameters")
    for note in d.get("notes", []):
        st.caption(f"note: {md(note)}")


def draw_curves(snap: dict, live: bool, extra: bool, run_id: str | None = None) -> None:
    steps, epochs = snap["steps"], snap["epochs"]
    if not steps["step"]:
        st.caption("Waiting for the first steps...")
        return
    m = st.columns(4)
    m[0].metric("train loss", f"{steps['loss'][-1]:.4f}")
    acc = latest_test_acc(snap)  # the last epoch's (whole test split), or a newer quick estimate (n images)
    est = acc is not None and acc["n"] is not None
    m[1].metric("test accuracy", "—" if acc is None else f"≈ {acc['acc']:.1%}" if est else f"{acc['acc']:.2%}",
                help=f"Estimated at step {acc['step']} on {acc['n']:,} fixed test images." if est else None)
    m[2].metric("images / s", f"{steps['images_per_s'][-1]:,.0f}")
    pending = st.session_state.get("c_lr_pending")  # applied while paused: no step has trained with it yet
    if pending and pending[0] == run_id and steps["step"][-1] <= pending[2]:
        m[3].metric("learning rate", f"{pending[1]:.2e}", delta="from the next step", delta_color="off")
    else:
        m[3].metric("learning rate", f"{steps['lr'][-1]:.2e}")
    # While training, a static plot: no hover layers to rebuild every second (zoom and
    # hover come back when the run ends).
    static = {"staticPlot": live}
    st.plotly_chart(plots.training_curves(steps, epochs, snap.get("sets", ()), snap.get("quick")), key="p_curves",
                    config=static)
    if extra:
        a, b = st.columns(2)
        a.plotly_chart(plots.lr_curve(steps), key="p_lr", config=static)
        b.plotly_chart(plots.throughput(steps), key="p_ips", config=static)


def draw_epoch(run, snap: dict) -> None:
    """Confusion matrix, per-class accuracy and predictions of the latest epoch (built once per epoch)."""
    last = snap["epochs"][-1]
    cache = st.session_state.setdefault("t_epoch_figs", {})
    key = (run.run_id, last["epoch"], last["step"])
    if key not in cache:
        classes = snap["start"]["dataset"]["classes"]
        cache.clear()
        title = f"confusion matrix, epoch {last['epoch'] + 1}" + (" (stopped inside it)" if last.get("partial") else "")
        cache[key] = (plots.confusion_matrix(last["confusion"], classes, title),
                      plots.per_class_accuracy(last["per_class_acc"], classes), prediction_tiles(run, last))
    conf, per_class, tiles = cache[key]
    a, b = st.columns(2)
    with a:
        if run.weights_path() is not None:  # drill-down needs saved weights
            confusion_drilldown(run.run_id, last["confusion"], snap["start"]["dataset"]["classes"],
                                f"confusion matrix, epoch {last['epoch'] + 1}"
                                + (" (stopped inside it)" if last.get("partial") else ""), key="t_dd")
        else:
            st.plotly_chart(conf, key="p_conf")
    b.plotly_chart(per_class, key="p_pc")
    if tiles:
        st.markdown(f"**Test predictions after epoch {last['epoch'] + 1}** (✓ right, ✗ wrong)")
        st.image([t[0] for t in tiles], caption=[t[1] for t in tiles], width=84)


def prediction_tiles(run, last: dict) -> list | None:
    if "samples" not in last:
        return None
    cfg = guarded(run.config)  # a damaged config.json: the box says what to do, the page goes on
    if cfg is None:
        return None
    d = cfg.data
    ds = guarded(lambda: load_dataset(d.dataset, root=d.data_root, **dict(d.params)))
    return explore.prediction_tiles(ds, last["samples"]) if ds is not None else None


if run_id:
    run_panel(run_id)
else:
    st.info("Set up a run above and press **Start training**. The curves appear here while it trains.",
            icon=":material/info:")
