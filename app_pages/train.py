"""Train: set up a run, start it in the background, watch it live, stop/pause it,
download what it made. The run id and the whole setup live in the URL."""

from __future__ import annotations

import streamlit as st

from app_pages.augment_widgets import augment_controls
from app_pages.common import guarded, job_manager, md, my_runs, owner, url_run, view_link
from app_pages.course_controls import normalisation_input
from app_pages.folder_boxes import real_folder, shown_config, shown_folder
from app_pages.lesson_landing import landing
from app_pages.run_panel import control_row, downloads, live_view, open_run, view_only_link
from app_pages.train_again import run_again
from app_pages.train_form import model_section, optim_section, pick, training_settings
from app_pages.train_layers import dataset_options, folded_setup, step_plan, url_config
from app_pages.train_live import draw_curves, draw_epoch, live_change, progress, stepped_batch
from playground.config import DataConfig, RunConfig, TrainConfig
from playground.data import list_datasets
from playground.data.augment import AUGMENTATIONS, list_augmentations, parse_spec
from playground.data.uploads import check_folder_allowed
from playground.train import check_names

st.title("Train")
landing()  # a Start-page lesson's sentence and its one button (app_pages/lesson_landing.py)
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
        st.session_state.t_base = st.session_state.t_base.replace(
            data={"dataset": chosen[0], "data_root": chosen[1], **({} if same else {"params": {}})}
        )
        for k in ("t_dataset", "t_root_True", "t_root_False"):
            st.session_state.pop(k, None)
base: RunConfig = st.session_state.t_base


def setup_form() -> RunConfig | None:
    """Widgets -> RunConfig (None, with the reason shown, when something is off)."""
    errors: list[str] = []
    c1, c2 = st.columns(2)
    with c1:
        st.subheader("Data", divider="gray")
        dataset = pick(
            "data set", list_datasets(), base.data.dataset, "t_dataset", help="shapes is built in and needs no download"
        )
        upload = st.session_state.get("upload_folder")
        root_default = base.data.data_root or (upload if dataset == "image_folder" and upload else "")
        root = real_folder(
            st.text_input(  # an upload shows as upload:<folder>, resolved here on the server
                "image folder" if dataset == "image_folder" else "data folder (empty: default)",
                value=shown_folder(root_default),
                key=f"t_root_{dataset == 'image_folder'}",
                help="For image_folder: a folder with one sub-folder per class, or upload a .zip "
                "on the Data page. Otherwise where MNIST/CIFAR files are (or get downloaded).",
            )
        )
        if dataset == "image_folder" and not root:
            errors.append("Give the image folder (or upload a .zip on the Data page).")
        if root and guarded(lambda: check_folder_allowed(root, owner())) is None:
            errors.append("Choose a folder this server lets you read.")
        dparams = dataset_options(dataset, dict(base.data.params) if dataset == base.data.dataset else None)
        limit = st.number_input(
            "use only the first N training images (0: all)",
            min_value=0,
            value=base.data.train_limit or 0,
            step=500,
            key="t_limit",
        )
        names = [parse_spec(s)[0] for s in base.data.augment if parse_spec(s)[0] in AUGMENTATIONS]
        chosen = st.multiselect(
            "augmentations (in order)",
            list_augmentations(),
            default=names,
            key="t_aug",
            help="Applied on the training device, with a new random draw per image.",
        )
        augment = augment_controls(chosen, "t_augp", base.data.augment)  # sliders over the registry's ranges
        normalize = normalisation_input(base.data.normalize, "t_norm")

        mcfg = model_section(base, dataset, errors)
    with c2:
        ocfg = optim_section(base)
        train = training_settings(base)
    if errors:
        for e in errors:
            st.error(e)
        return None
    assert mcfg is not None  # a model that cannot build added its error above
    cfg = RunConfig(
        data=DataConfig(
            dataset=dataset,
            data_root=root or None,
            params=dparams,
            augment=tuple(augment),
            train_limit=int(limit) or None,
            download=base.data.download,
            normalize=normalize,
        ),
        model=mcfg,
        optim=ocfg,
        train=TrainConfig(**train),
    )
    return cfg if guarded(lambda: check_names(cfg) or True) else None


def start(cfg: RunConfig) -> None:
    job = guarded(lambda: manager.submit(cfg, owner()))
    if job is not None:
        my_runs().append(job.run_id)
        qp["run"] = job.run_id
        qp["ctl"] = job.control_key  # this tab keeps control after a reload
        qp["cfg"] = shown_config(cfg).to_url()  # an upload as upload:<folder>, never its server path
        st.session_state.t_base = cfg  # the setup reopens as it was started
        st.session_state.t_fold = True  # and is folded away under the run
        st.rerun()


run_id = url_run()  # with its control key (?ctl=) in the URL, the run is this session's
if st.session_state.pop("t_fold", False):
    st.session_state.t_setup = False
# Lazy: while folded (under a run), the setup form is not drawn; every redraw of a run's page (a new epoch,
# the start, the end) costs the server the run's views only (docs/BENCHMARKS.md).
setup = st.expander("Set up a run", expanded=run_id is None, icon=":material/tune:", key="t_setup", on_change="rerun")
if not setup.open:  # its widgets are forgotten while folded: it reopens as the form last made it (?cfg=)
    st.session_state.t_base = folded_setup(qp.get("cfg"), base)
with setup:
    cfg = setup_form() if setup.open else None
    if cfg is not None:
        link = shown_config(cfg).to_url()  # an upload as upload:<folder>, never its server path
        if qp.get("cfg") != link:
            qp["cfg"] = link  # the link now opens this setup
        step_plan(cfg)  # steps per epoch and in all; too few: a warning and a fix
        if st.button("Start training", type="primary", key="t_start", icon=":material/play_arrow:"):
            start(cfg)
        st.caption(f"Link to this setup (no run attached): `{view_link(cfg=link)}`")


# -- the run: live or from the run store ---------------------------------------------


def run_panel(run_id: str) -> None:
    opened = open_run(run_id, "train", qp.get("ctl"))
    if opened is None:
        return
    run = opened.run
    if guarded(lambda: run.config().train.task) == "reconstruct":  # its views live on their own page
        st.info(
            f"Run {run_id} trains an autoencoder: its reconstructions are on the Autoencoders page.",
            icon=":material/compress:",
        )
        st.page_link(
            "app_pages/autoencode.py",
            label="Open it on the Autoencoders page",
            query_params={"run": run_id},
            icon=":material/arrow_forward:",
        )
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
        st.page_link(
            "app_pages/inside.py",
            label="Look inside this run (filters, activations, saliency, weights and gradients)",
            query_params={"run": run_id},
            icon=":material/visibility:",
        )  # this tab
        cfg = guarded(run.config)  # a damaged config.json: said in a box, nothing to run again from
        if cfg is not None:
            with st.expander("Run again with one change", icon=":material/replay:"):
                run_again(cfg, start)


def name_input(run) -> None:
    """Name the run: the name shows wherever runs are listed (the sidebar, run pickers, the teacher's table)."""
    key = f"t_name_{run.run_id}"
    if key not in st.session_state:
        st.session_state[key] = run.name
    st.text_input(
        "name this run",
        key=key,
        max_chars=40,
        placeholder="e.g. no augmentation, lr 0.01",
        on_change=lambda: run.set_name(st.session_state[key]),
        width=360,
    )


def controls(run_id: str, status: str, snap: dict) -> None:
    mine = manager.may_control(run_id, owner(), qp.get("ctl"))
    cols = control_row(run_id, status, mine, "c")
    if not mine:
        return
    if status in ("running", "paused"):
        live_change(run_id, cols[3], snap)
    if status == "paused" and cols[4].button(
        "Step once", key="c_step", icon=":material/skip_next:", help="Train one batch, see it, stay paused."
    ):
        guarded(lambda: manager.step_once(run_id), cols[4])
    if status == "interrupted":
        cols[4].warning("This run was interrupted (the server stopped while it trained).")
    # An interrupted run resumes (from the start if it has no checkpoint); one that ended early, from its checkpoint.
    if status == "interrupted" or (
        status in ("stopped", "diverged", "error", "damaged")
        and guarded(lambda: manager.store.open(run_id).resumable(), cols[4])
    ):
        if cols[3].button("Resume from checkpoint", key="c_continue", icon=":material/restart_alt:"):
            if guarded(lambda: manager.resume(run_id, owner())):
                st.rerun(scope="app")


if run_id:
    run_panel(run_id)
else:
    st.info(
        "Set up a run above and press **Start training**. The curves appear here while it trains.",
        icon=":material/info:",
    )
