"""Autoencoders: train a (denoising) autoencoder and watch its reconstructions live; then look at
its latent space, interpolate between two images, compare with PCA of the same code size, and see
the checkerboard artefacts of transposed convolutions next to resize + convolution."""

from __future__ import annotations

import base64

import streamlit as st

import math

from app_pages.common import CHOICES, guarded, job_manager, my_runs, owner, param_widgets, status_badge
from playground import latent, plots
from playground.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from playground.data import list_datasets
from playground.engine import check_names
from playground.errors import ConfigError, PlaygroundError
from playground.jobs import RunBuffer
from playground.models import model_params
from playground.models.autoencoder import DECODERS, OUTPUTS, RECONSTRUCTION_MODELS
from playground.noise import NOISES, list_noises, parse_noise
from playground.optim import list_optimizers
from playground.settings import settings

REFRESH_S = 1.0
st.title("Autoencoders")
st.caption("The encoder squeezes each image into a few numbers (the code); the decoder has to undo the "
           "compression. A denoising autoencoder gets a corrupted image and must return the clean one.")
manager = job_manager()
qp = st.query_params


def base_config() -> RunConfig:
    default = RunConfig(model=ModelConfig(name="conv_autoencoder"),
                        train=TrainConfig(task="reconstruct", epochs=1.0, probes=("live_recon",)),
                        data=DataConfig(noise=("gaussian:0.5",)))
    text = qp.get("cfg")
    if not text:
        return default

    def checked() -> RunConfig:
        cfg = RunConfig.from_url(text)
        if cfg.train.task != "reconstruct" or cfg.model.name not in RECONSTRUCTION_MODELS:
            raise ConfigError(f"This link sets up a {cfg.model.name} for the {cfg.train.task} task; this page trains "
                              f"autoencoders ({', '.join(RECONSTRUCTION_MODELS)}). Open it on the Train page.")
        try:
            check_names(cfg)
            check_params(cfg.model.name, dict(cfg.model.params))
        except PlaygroundError:
            raise
        except (TypeError, ValueError) as e:  # a value of the wrong type where a number belongs
            raise ConfigError(f"A setting in this link has the wrong type ({e}).") from None
        return cfg

    cfg = guarded(checked)
    if cfg is None:
        st.warning("The setup in this link could not be used (see above); the defaults are shown instead.")
    return cfg or default


def check_params(name: str, params: dict) -> None:
    """The model settings in a link, checked against the widgets that will show them."""
    defaults = model_params(name)
    for k, v in params.items():
        if k not in defaults:
            raise ConfigError(f"{name} has no setting {k!r}; its settings are {', '.join(defaults)}.")
        d, number = defaults[k], isinstance(v, (int, float)) and not isinstance(v, bool)
        if k == "code":
            ok = isinstance(v, int) and not isinstance(v, bool) and v >= 1
        elif k == "output":
            ok = v in OUTPUTS
        elif k == "decoder":
            ok = v in DECODERS
        elif isinstance(d, bool):
            ok = isinstance(v, bool)
        elif isinstance(d, int):
            ok = isinstance(v, int) and not isinstance(v, bool)
        elif isinstance(d, float):
            ok = number and math.isfinite(v)
        elif isinstance(d, (list, tuple)):
            ok = isinstance(v, (list, tuple)) and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
        elif k in CHOICES:
            ok = v in CHOICES[k]
        else:
            ok = isinstance(v, str)
        if not ok:
            raise ConfigError(f"{name}: {k} = {v!r} is not a valid value (the default is {d!r}).")


if "ae_base" not in st.session_state:
    st.session_state.ae_base = base_config()
base: RunConfig = st.session_state.ae_base


def pick(label: str, options: list[str], value: str, key: str, where=st, **kw) -> str:
    return where.selectbox(label, options, index=options.index(value) if value in options else 0, key=key, **kw)


def noise_widget(label: str, specs: tuple[str, ...], key: str, extra: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """One corruption: a kind and its level (None for 'same as training')."""
    kinds = list(extra) + list_noises()
    name, params = parse_noise(specs[0]) if specs else ("none", {})
    kind = pick(label, kinds, name if specs else (extra[0] if extra else "none"), key,
                help="; ".join(f"{n}: {NOISES.doc(n)}" for n in list_noises()))
    if kind in extra:
        return None
    if kind == "none":
        return ("none",)
    first, default = next(iter(NOISES.params(kind).items()))
    level = st.number_input(f"{kind} {first}", value=float(params.get(first, default)) if kind == name else
                            float(default), format="%g", step=0.05, key=f"{key}_{kind}")
    return (f"{kind}:{level:g}",)


def setup_form() -> RunConfig | None:
    c1, c2 = st.columns(2)
    with c1:
        st.subheader("Data and model", divider="gray")
        dataset = pick("data set", list_datasets(), base.data.dataset, "ae_dataset",
                       help="shapes is built in; MNIST shows the ideas best")
        root = st.text_input("data folder (empty: default)", value=base.data.data_root or "", key="ae_root")
        limit = st.number_input("use only the first N training images (0: all)", min_value=0,
                                value=base.data.train_limit or 0, step=1000, key="ae_limit")
        name = pick("autoencoder", list(RECONSTRUCTION_MODELS), base.model.name, "ae_model",
                    help="autoencoder: fully connected (MLP); conv_autoencoder: strided convolutions")
        current = dict(base.model.params) if name == base.model.name else {}
        defaults = model_params(name)
        a, b = st.columns(2)
        code = current.get("code", defaults["code"])
        code = a.number_input("bottleneck (code size)", min_value=1,
                              value=code if isinstance(code, int) and code >= 1 else defaults["code"],
                              key=f"ae_code_{name}", help="how many numbers the image is squeezed into")
        output = pick("output activation", list(OUTPUTS), current.get("output", "sigmoid"), f"ae_out_{name}",
                      where=b, help="sigmoid: outputs in [0, 1] like the pixels (MSE or BCE); linear: unbounded (MSE only)")
        params = {"code": int(code), "output": output}
        if "decoder" in defaults:
            dec = current.get("decoder", defaults["decoder"])
            params["decoder"] = st.radio("decoder", DECODERS, index=DECODERS.index(dec) if dec in DECODERS else
                                         DECODERS.index(defaults["decoder"]), key="ae_decoder", horizontal=True,
                help="transposed: ConvTranspose2d (stride 2); upsample_*: resize, then a 3x3 convolution")
        rest = {k: v for k, v in defaults.items() if k not in ("code", "output", "decoder")}
        params.update(param_widgets(rest, f"ae_m_{name}", {k: v for k, v in current.items() if k in rest}))
        params = {k: v for k, v in params.items() if k in ("code", "decoder") or v != defaults.get(k)}
    with c2:
        st.subheader("Corruption and training", divider="gray")
        noise = noise_widget("training noise", base.data.noise, "ae_noise") or ("none",)
        test_noise = noise_widget("test noise", base.data.test_noise, "ae_test_noise", extra=("same as training",))
        losses = ["mse", "bce"]
        loss = st.radio("loss", losses, index=losses.index(base.train.recon_loss) if base.train.recon_loss in losses
                        else 0, key="ae_loss",
                        horizontal=True, help="BCE treats each pixel as a probability: needs the sigmoid output")
        a, b = st.columns(2)
        opt = a.selectbox("optimiser", list_optimizers(), index=list_optimizers().index(base.optim.name)
                          if base.optim.name in list_optimizers() else 0, key="ae_opt")
        lr = b.number_input("learning rate", value=base.optim.lr, format="%g", min_value=0.0, key="ae_lr")
        bs = a.number_input("batch size", value=base.train.batch_size, min_value=1, step=16, key="ae_bs")
        epochs = b.number_input("epochs", value=max(0.01, float(base.train.epochs)), min_value=0.01, step=1.0, format="%g",
                                key="ae_epochs")
        seed = a.number_input("seed", value=base.train.seed, step=1, key="ae_seed")
        device = b.selectbox("device", ["auto", "cpu", "cuda"], key="ae_device")
    noise = () if noise == ("none",) else noise
    cfg = RunConfig(
        data=DataConfig(dataset=dataset, data_root=root or None, train_limit=int(limit) or None,
                        noise=noise, test_noise=test_noise or ()),
        model=ModelConfig(name=name, params=params),
        optim=OptimConfig(name=opt, lr=float(lr)),
        train=TrainConfig(task="reconstruct", recon_loss=loss, epochs=float(epochs), batch_size=int(bs),
                          seed=int(seed), device=device, probes=("live_recon",)),
    )
    return cfg if guarded(lambda: check_names(cfg) or True) else None


def start(cfg: RunConfig) -> str | None:
    job = guarded(lambda: manager.submit(cfg, owner()))
    if job is None:
        return None
    my_runs().append(job.run_id)
    st.session_state.setdefault("ae_keys", {})[job.run_id] = job.control_key
    return job.run_id


run_id = qp.get("run")
with st.expander("Set up an autoencoder", expanded=run_id is None, icon=":material/tune:"):
    cfg = setup_form()
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

def snapshot(run_id: str, run) -> dict:
    job = manager.get(run_id)
    return (job.buffer if job is not None else RunBuffer.from_events(run.events())).snapshot()


def png(b64: str) -> bytes:
    return base64.b64decode(b64)


def controls(run_id: str, status: str) -> None:
    cols = st.columns([2, 1, 1, 4])
    cols[0].markdown(f"**{status_badge(status)}**")
    if status in ("queued", "running", "paused") and manager.may_control(run_id, owner(), qp.get("ctl")):
        if cols[1].button("Stop", key="ae_stop", icon=":material/stop:"):
            manager.stop(run_id)
        if status == "paused":
            if cols[2].button("Resume", key="ae_resume", icon=":material/play_arrow:"):
                manager.unpause(run_id)
        elif status == "running" and cols[2].button("Pause", key="ae_pause", icon=":material/pause:"):
            manager.pause(run_id)
    if status == "queued":
        cols[3].info(f"Waiting for a free slot: number {manager.queue_position(run_id)} in the queue.",
                     icon=":material/hourglass_top:")


def live_view(run_id: str, snap: dict, status: str, live: bool) -> None:
    final, start_ev = snap["final"], snap["start"]
    if final and final["kind"] in ("error", "diverged", "stopped"):
        (st.error if final["kind"] != "stopped" else st.info)(final.get("message", final["kind"]))
    if not start_ev:
        st.caption("Waiting for the run to start...")
        return
    total = start_ev["total_steps"]
    done = total if final and final["kind"] == "done" else (snap["steps"]["step"][-1] if snap["steps"]["step"] else 0)
    st.progress(min(1.0, done / max(total, 1)), text=f"step {done} / {total}")
    last = snap["epochs"][-1] if snap["epochs"] else None
    m = st.columns(4)
    m[0].metric("train loss", f"{snap['steps']['loss'][-1]:.4f}" if snap["steps"]["loss"] else "—")
    m[1].metric("train PSNR", f"{snap['steps']['psnr'][-1]:.2f} dB" if snap["steps"]["psnr"] else "—")
    m[2].metric("test MSE", f"{last['test_mse']:.4f}" if last else "—")
    m[3].metric("test PSNR", f"{last['test_psnr']:.2f} dB" if last else "—",
                delta=f"{last['test_psnr'] - last['test_psnr_input']:+.2f} dB vs corrupted input" if last else None)
    grid = snap["latest"].get("recon_grid") if live or not last else None
    grid = grid or (last["samples"]["grid"] if last else start_ev.get("recon_grid"))
    if grid:
        when = "live, while training" if live else f"after epoch {last['epoch'] + 1}" if last else "untrained"
        st.markdown(f"**Fixed test images** ({when}): input · corrupted · reconstruction, one row each")
        st.image(png(grid))
    if snap["steps"]["step"]:
        st.plotly_chart(plots.reconstruction_curves(snap["steps"], snap["epochs"]), key="ae_curves",
                        config={"staticPlot": live})


@st.cache_resource(max_entries=4, show_spinner="Loading the trained autoencoder ...")
def ae_view(run_id: str, stamp: float) -> latent.AEView:
    del stamp  # part of the cache key: a newer checkpoint loads again
    return latent.AEView.load(manager.store.open(run_id))


@st.cache_resource(max_entries=8, show_spinner="Fitting PCA of the same code size ...")
def pca_result(cfg_json: str, k: int) -> dict:
    return latent.pca_for_config(RunConfig.from_json(cfg_json), k)


def view_for(run) -> latent.AEView | None:
    path = run.model_path if run.model_path.exists() else run.checkpoint_path
    if not path.exists():
        return None
    return guarded(lambda: ae_view(run.run_id, path.stat().st_mtime))


def latent_tab(view: latent.AEView) -> None:
    proj = view.codes(n=2000)
    title = (f"codes of 2,000 test images: {proj.method}" +
             (f" ({proj.explained:.0%} of the codes' variance)" if proj.method.startswith("PCA") else ""))
    event = st.plotly_chart(plots.latent_scatter(proj.xy, proj.labels, proj.index, view.data.classes, title),
                            key="ae_latent", on_select="rerun", selection_mode=("points", "box", "lasso"))
    points = (event.selection.points if event and event.selection else []) or []
    picked = [int(p["customdata"]) for p in points if p.get("customdata") is not None][:8]
    if picked:
        r = view.reconstruct(picked)
        st.markdown("**Selected images** (top) and their reconstructions (bottom)")
        st.image(r["clean"], caption=[f"#{i} {view.data.classes[int(view.data.test_y[i])]}" for i in picked],
                 width=84)
        st.image(r["recon"], width=84)
    else:
        st.caption("Hover a point for its class and index; click or draw a box around points to see the images.")


def interpolation_tab(view: latent.AEView) -> None:
    n = len(view.data.test_y)
    a, b, c = st.columns(3)
    i = a.number_input("from test image", 0, n - 1, 0, key="ae_ia")
    j = b.number_input("to test image", 0, n - 1, min(1, n - 1), key="ae_ib")
    steps = c.slider("steps", 2, 16, 8, key="ae_isteps")
    imgs = guarded(lambda: view.interpolate(int(i), int(j), int(steps)))
    if imgs:
        st.image(imgs, caption=["start"] + [""] * (len(imgs) - 2) + ["end"], width=84)
        st.caption("Decoded from points on the straight line between the two images' codes: a smooth morph "
                   "means the decoder fills the space between the codes with plausible images.")


def pca_tab(run, view: latent.AEView, last: dict) -> None:
    k = int(getattr(view.model, "code", 0))
    res = guarded(lambda: pca_result(run.config().to_json(), k))
    if not res:
        return
    rows = [(f"{run.config().model.name} (code {k})", last["test_mse"]),
            (f"PCA, {k} components, same corrupted input", res["test_mse"]),
            (f"PCA, {k} components, clean input", res["clean_mse"])]
    if last.get("test_psnr_input") is not None:
        rows.append(("corrupted input itself", 10 ** (-last["test_psnr_input"] / 10)))
    st.plotly_chart(plots.reconstruction_errors(rows), key="ae_pca")
    better = last["test_mse"] < res["test_mse"]
    st.markdown(f"The autoencoder's test MSE is **{last['test_mse']:.4f}** (PSNR {last['test_psnr']:.2f} dB); PCA "
                f"with the same {k} numbers per image gets **{res['test_mse']:.4f}** (PSNR {res['test_psnr']:.2f} dB) "
                f"on the same corrupted test images — the autoencoder is "
                f"**{'better' if better else 'not better yet'}**. PCA keeps {res['variance_kept']:.0%} of the "
                f"training images' variance: it is the best *linear* autoencoder of that size.")
    st.caption("The corrupted input's bar is exp10(-PSNR/10), the MSE its mean per-image PSNR corresponds to.")


def decoders_tab(run, view: latent.AEView) -> None:
    demo = latent.decoder_demo()
    st.markdown("**A flat map through two upsampling layers of each decoder** (every weight 1): resize + "
                "convolution stays flat; the stride-2 transposed convolution's kernels overlap unevenly and "
                "paint a checkerboard.")
    st.image(list(demo.values()), caption=list(demo), width=160)
    cfg = run.config()
    if cfg.model.name != "conv_autoencoder":
        st.caption("Train a conv_autoencoder to compare its two decoders on real images.")
        return
    mine = cfg.model.params.get("decoder", model_params("conv_autoencoder")["decoder"])
    other = "upsample_nearest" if mine == "transposed" else "transposed"
    pairs = st.session_state.setdefault("ae_pairs", {})
    other_id = pairs.get(run.run_id)
    if other_id is None:
        if st.button(f"Train the same autoencoder with the {other} decoder", key="ae_pair",
                     icon=":material/compare:"):
            new_cfg = cfg.replace(model={"params": {**cfg.model.params, "decoder": other}})
            new = start(new_cfg)
            if new:
                pairs[run.run_id] = new
                st.rerun()
        return
    status = manager.status(other_id)
    other_run = guarded(lambda: manager.store.open(other_id))
    other_view = view_for(other_run) if other_run is not None and status == "done" else None
    if other_view is None:
        st.info(f"The {other} run ({other_id}) is {status}; the comparison appears when it is done.",
                icon=":material/hourglass_top:")
        if status in ("queued", "running"):
            st.button("Refresh", key="ae_pair_refresh")
        return
    idx = list(range(0, len(view.data.test_y), max(1, len(view.data.test_y) // 6)))[:6]
    cols = st.columns(2)
    for col, v, name in ((cols[0], view, mine), (cols[1], other_view, other)):
        with col:
            r = v.reconstruct(idx)
            st.markdown(f"**{name}** — checkerboard response of the error: {v.checkerboard(idx):.4f}")
            st.image(r["recon"], width=112)
    st.caption("The checkerboard response is the mean |2x2 checker filter| over the reconstruction error: "
               "higher means more of the alternating-pixel pattern.")


def downloads(run) -> None:
    a, b, c = st.columns(3)
    path = run.model_path if run.model_path.exists() else run.checkpoint_path
    if path.exists():
        a.download_button("Model (.pt)", path.read_bytes(), file_name=f"{run.run_id}.pt", key="ae_d_model",
                          mime="application/octet-stream", icon=":material/download:")
    b.download_button("Metrics (.csv)", run.metrics_csv(), file_name=f"{run.run_id}-metrics.csv",
                      mime="text/csv", key="ae_d_csv", icon=":material/download:")
    c.download_button("Settings (.json)", run.config_path.read_text(), file_name=f"{run.run_id}-config.json",
                      mime="application/json", key="ae_d_cfg", icon=":material/download:")


def run_panel(run_id: str) -> None:
    try:
        run = manager.store.open(run_id)
        cfg = run.config()
    except PlaygroundError as e:
        st.error(f"{e} Start a new run above.")
        return
    if (settings().share_runs == "none" and run_id not in my_runs()
            and not manager.may_control(run_id, owner(), qp.get("ctl"))):
        st.warning("This run belongs to another session, and this server does not show other sessions' runs "
                   "(PLAYGROUND_SHARE_RUNS=none). Start your own run above.", icon=":material/lock:")
        return
    if cfg.train.task != "reconstruct":
        st.warning(f"Run {run_id} is a {cfg.train.task} run; open it on the Train page.")
        st.page_link("app_pages/train.py", label="Train page", icon=":material/model_training:")
        return
    live = manager.status(run_id) in ("queued", "running", "paused")
    st.subheader(f"Run {run_id}")
    snap = snapshot(run_id, run)
    st.session_state.ae_epochs_drawn = (run_id, len(snap["epochs"]))

    @st.fragment(run_every=REFRESH_S if live else None)
    def live_part() -> None:
        status = manager.status(run_id)
        s = snapshot(run_id, run)
        controls(run_id, status)
        live_view(run_id, s, status, live)
        finished = status not in ("queued", "running", "paused")
        if live and (finished or st.session_state.ae_epochs_drawn != (run_id, len(s["epochs"]))):
            st.rerun()  # a new epoch, or the end: the latent views redraw once

    live_part()
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
        decoders_tab(run, view)
    if not live:
        downloads(run)


if run_id:
    run_panel(run_id)
else:
    st.info("Set up an autoencoder above and press **Start training**: the reconstructions redraw while it trains.",
            icon=":material/info:")
