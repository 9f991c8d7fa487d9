"""The Autoencoders page's views of a trained autoencoder: latent space, interpolation, the PCA
baseline, the decoders' artefacts, and the downloads (the page itself sets up and trains)."""

from __future__ import annotations

import streamlit as st

from app_pages.common import guarded, job_manager
from playground.autoencode import decoders, latent, pca, plots
from playground.config import RunConfig
from playground.models import model_params


@st.cache_resource(max_entries=4, show_spinner="Loading the trained autoencoder ...")
def ae_view(run_id: str, stamp: float) -> latent.AEView:
    del stamp  # part of the cache key: a newer checkpoint loads again
    return latent.AEView.load(job_manager().store.open(run_id))


@st.cache_resource(max_entries=8, show_spinner="Fitting PCA of the same code size ...")
def pca_result(cfg_json: str, k: int) -> dict:
    return pca.pca_for_config(RunConfig.from_json(cfg_json), k)


def view_for(run) -> latent.AEView | None:
    path = run.weights_path()
    if path is None:
        return None
    return guarded(lambda: ae_view(run.run_id, path.stat().st_mtime))


def latent_tab(view: latent.AEView) -> None:
    proj = view.codes(n=2000)
    title = f"codes of 2,000 test images: {proj.method}" + (
        f" ({proj.explained:.0%} of the codes' variance)" if proj.method.startswith("PCA") else ""
    )
    event = st.plotly_chart(
        plots.latent_scatter(proj.xy, proj.labels, proj.index, view.data.classes, title),
        key="ae_latent",
        on_select="rerun",
        selection_mode=("points", "box", "lasso"),
    )
    points = (event.selection.points if event and event.selection else []) or []
    picked = [int(p["customdata"]) for p in points if p.get("customdata") is not None][:8]
    if picked:
        r = view.reconstruct(picked)
        st.markdown("**Selected images** (top) and their reconstructions (bottom)")
        st.image(r["clean"], caption=[f"#{i} {view.data.classes[int(view.data.test_y[i])]}" for i in picked], width=84)
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
        st.caption(
            "Decoded from points on the straight line between the two images' codes: a smooth morph "
            "means the decoder fills the space between the codes with plausible images."
        )


def pca_tab(run, view: latent.AEView, last: dict) -> None:
    k = int(getattr(view.model, "code", 0))
    res = guarded(lambda: pca_result(run.config().to_json(), k))
    if not res:
        return
    rows = [
        (f"{run.config().model.name} (code {k})", last["test_mse"]),
        (f"PCA, {k} components, same corrupted input", res["test_mse"]),
        (f"PCA, {k} components, clean input", res["clean_mse"]),
    ]
    if last.get("test_psnr_input") is not None:
        rows.append(("corrupted input itself", 10 ** (-last["test_psnr_input"] / 10)))
    st.plotly_chart(plots.reconstruction_errors(rows), key="ae_pca")
    better = last["test_mse"] < res["test_mse"]
    st.markdown(
        f"The autoencoder's test MSE is **{last['test_mse']:.4f}** (PSNR {last['test_psnr']:.2f} dB); PCA "
        f"with the same {k} numbers per image gets **{res['test_mse']:.4f}** (PSNR {res['test_psnr']:.2f} dB) "
        f"on the same corrupted test images — the autoencoder is "
        f"**{'better' if better else 'not better yet'}**. PCA keeps {res['variance_kept']:.0%} of the "
        f"training images' variance: it is the best *linear* autoencoder of that size."
    )
    st.caption("The corrupted input's bar is exp10(-PSNR/10), the MSE its mean per-image PSNR corresponds to.")


def decoders_tab(run, view: latent.AEView, start) -> None:
    """``start(config)``: the page's way to start a run (it returns the new run's id, or None)."""
    demo = decoders.decoder_demo()
    st.markdown(
        "**A flat map through two upsampling layers of each decoder** (every weight 1): resize + "
        "convolution stays flat; the stride-2 transposed convolution's kernels overlap unevenly and "
        "paint a checkerboard."
    )
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
        if st.button(f"Train the same autoencoder with the {other} decoder", key="ae_pair", icon=":material/compare:"):
            new_cfg = cfg.replace(model={"params": {**cfg.model.params, "decoder": other}})
            new = start(new_cfg)
            if new:
                pairs[run.run_id] = new
                st.rerun()
        return
    status = job_manager().status(other_id)
    other_run = guarded(lambda: job_manager().store.open(other_id))
    other_view = view_for(other_run) if other_run is not None and status == "done" else None
    if other_view is None:
        st.info(
            f"The {other} run ({other_id}) is {status}; the comparison appears when it is done.",
            icon=":material/hourglass_top:",
        )
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
    st.caption(
        "The checkerboard response is the mean |2x2 checker filter| over the reconstruction error: "
        "higher means more of the alternating-pixel pattern."
    )
