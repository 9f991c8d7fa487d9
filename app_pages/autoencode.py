"""Autoencoders: train a (denoising) autoencoder and watch its reconstructions live; then look at
its latent space, interpolate between two images, compare with PCA of the same code size, and see
the checkerboard artefacts of transposed convolutions next to resize + convolution."""

from __future__ import annotations

import base64

import streamlit as st

from app_pages.autoencode_setup import base_config, setup_form
from app_pages.autoencode_views import decoders_tab, interpolation_tab, latent_tab, pca_tab, view_for
from app_pages.common import guarded, job_manager, my_runs, owner, url_run
from app_pages.lesson_landing import landing
from app_pages.run_panel import control_row, downloads, ended_box, live_view, open_run, view_only_link
from playground.autoencode import plots
from playground.config import RunConfig
from playground.jobs.buffer import run_progress

st.title("Autoencoders")
landing()  # a Start-page lesson's sentence and its one button (app_pages/lesson_landing.py)
st.caption(
    "The encoder squeezes each image into a few numbers (the code); the decoder has to undo the "
    "compression. A denoising autoencoder gets a corrupted image and must return the clean one."
)
manager = job_manager()
qp = st.query_params

if "ae_base" not in st.session_state:
    st.session_state.ae_base = base_config(qp.get("cfg"))
base: RunConfig = st.session_state.ae_base


def start(cfg: RunConfig) -> str | None:
    job = guarded(lambda: manager.submit(cfg, owner()))
    if job is None:
        return None
    my_runs().append(job.run_id)
    st.session_state.setdefault("ae_keys", {})[job.run_id] = job.control_key
    return job.run_id


run_id = url_run()  # with its control key (?ctl=) in the URL, the run is this session's
with st.expander("Set up an autoencoder", expanded=run_id is None, icon=":material/tune:"):
    cfg = setup_form(base)
    if cfg is not None:
        if qp.get("cfg") != cfg.to_url():
            qp["cfg"] = cfg.to_url()
        if st.button("Start training", type="primary", key="ae_start", icon=":material/play_arrow:"):
            new = start(cfg)
            if new:
                qp["run"] = new
                qp["ctl"] = st.session_state.ae_keys[new]
                st.rerun()


# -- the run -------------------------------------------------------------------------


def png(b64: str) -> bytes:
    return base64.b64decode(b64)


def reconstructions(run_id: str, snap: dict, status: str, live: bool) -> None:
    start_ev = snap["start"]
    ended_box(snap["final"])
    if not start_ev:
        st.caption("Waiting for the run to start...")
        return
    bar = run_progress(snap, live)
    st.progress(bar["fraction"], text=bar["label"])
    last = snap["epochs"][-1] if snap["epochs"] else None
    m = st.columns(4)
    m[0].metric("train loss", f"{snap['steps']['loss'][-1]:.4f}" if snap["steps"]["loss"] else "—")
    m[1].metric("train PSNR", f"{snap['steps']['psnr'][-1]:.2f} dB" if snap["steps"]["psnr"] else "—")
    m[2].metric("test MSE", f"{last['test_mse']:.4f}" if last else "—")
    m[3].metric(
        "test PSNR",
        f"{last['test_psnr']:.2f} dB" if last else "—",
        delta=f"{last['test_psnr'] - last['test_psnr_input']:+.2f} dB vs corrupted input" if last else None,
    )
    grid = snap["latest"].get("recon_grid") if live or not last else None
    grid = grid or (last["samples"]["grid"] if last else start_ev.get("recon_grid"))
    if grid:
        when = "live, while training" if live else f"after epoch {last['epoch'] + 1}" if last else "untrained"
        st.markdown(f"**Fixed test images** ({when}): input · corrupted · reconstruction, one row each")
        st.image(png(grid))
    if snap["steps"]["step"]:
        st.plotly_chart(
            plots.reconstruction_curves(snap["steps"], snap["epochs"], snap.get("quick")),
            key="ae_curves",
            config={"staticPlot": live},
        )


def run_panel(run_id: str) -> None:
    opened = open_run(run_id, "train", qp.get("ctl"))
    if opened is None:
        return
    run = opened.run
    cfg = guarded(run.config)
    if cfg is None:
        return
    if cfg.train.task != "reconstruct":
        st.warning(f"Run {run_id} is a {cfg.train.task} run; open it on the Train page.")
        st.page_link("app_pages/train.py", label="Train page", icon=":material/model_training:")
        return
    live = opened.live
    st.subheader(f"Run {run_id}")
    view_only_link(run=run_id)

    def live_part(now: dict) -> None:
        status, snap = now[run_id]
        control_row(run_id, status, opened.mine, "ae")
        reconstructions(run_id, snap, status, live)

    live_view([opened], live_part, per_epoch=True)  # a new epoch: the latent views redraw once
    snap = manager.snapshot(run_id, "train")
    if not snap["epochs"]:
        return
    view = view_for(run)
    if view is None:
        return
    tabs = st.tabs(["Latent space", "Interpolation", "PCA baseline", "Decoders"])
    with tabs[0]:
        guarded(lambda: latent_tab(view))
    with tabs[1]:
        interpolation_tab(view)
    with tabs[2]:
        pca_tab(run, view, snap["epochs"][-1])
    with tabs[3]:
        decoders_tab(run, view, start)
    if not live:
        downloads(run, opened.mine, script=False)


if run_id:
    run_panel(run_id)
else:
    st.info(
        "Set up an autoencoder above and press **Start training**: the reconstructions redraw while it trains.",
        icon=":material/info:",
    )
