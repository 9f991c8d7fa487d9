"""Style transfer: paint a content image in the style of another (Gatys et al.), watching the image
and the three losses change live. The transfer is a job of the server's job manager (the same queue,
slots and worker processes as training; its run folder keeps the result); a fragment redraws from its
buffer about once a second. Stop keeps the current result; the page's URL finds the transfer again."""

from __future__ import annotations

import json
import math

import streamlit as st

from app_pages.common import guarded, job_manager, listed_runs, my_runs, owner
from app_pages.lesson_parts import landing
from app_pages.run_panel import control_row, ended_box, live_view, open_run, view_only_link
from playground import style
from playground.errors import PlaygroundError
from playground.runs import RunStore
from playground.style.plots import loss_figure

UPLOAD = "upload your own..."
WEIGHT_OPTIONS = {  # log scale; 0 switches a term off
    "content": [0.0] + [10.0 ** e for e in range(-3, 7)],
    "style": [0.0] + [10.0 ** e for e in range(0, 13)] + [1e20, 1e40],  # the last two overflow float32: diverged
    "tv": [0.0] + [10.0 ** e for e in range(-3, 5)],
}

st.title("Style transfer")
landing()  # a Start-page lesson's sentence and its one button (app_pages/lesson_parts.py)
st.caption("Gatys et al.: optimise the pixels of an image so that a CNN's features match the content image at a "
           "deep layer and the Gram matrices (which features fire together) of the style image at several layers. "
           "As in PyTorch's neural-style tutorial: VGG19, content at conv_4, style at conv_1..conv_5, L-BFGS.")


@st.cache_data(max_entries=64, show_spinner=False)
def thumbnail(source: str | bytes, size: int = 200):
    return style.to_uint8(style.load_image(source, size))


@st.cache_data(ttl=5, show_spinner=False)
def backbones(runs_root: str, run_ids: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    runs = style.feature_runs(RunStore(runs_root), run_ids=run_ids)
    names = style.FEATURE_NETS.names()[::-1] + [r["backbone"] for r in runs]  # vgg19 first
    labels = {n: f"{n}: {style.FEATURE_NETS.doc(n)}" for n in style.FEATURE_NETS.names()}
    labels.update({r["backbone"]: f"{r['label']} (playground-trained, lower quality)" for r in runs})
    return names, labels


def fmt_weight(v: float) -> str:
    return "0 (off)" if v == 0 else f"1e{round(math.log10(v))}"


def image_picker(label: str, key: str, default: str) -> tuple[str, bytes | None]:
    """A built-in image or an upload -> (settings name, upload bytes or None); a preview underneath."""
    options = style.list_images() + [UPLOAD]
    name = st.selectbox(label, options, index=options.index(default), key=f"{key}_name",
                        format_func=lambda n: n if n == UPLOAD else f"{n} — {style.IMAGES.doc(n)}")
    data = None
    if name == UPLOAD:
        up = st.file_uploader(f"{label} file", key=f"{key}_file", help="Any image file: PNG, JPEG, WebP, GIF, TIFF, "
                              "BMP; any mode (RGBA, palette, grayscale, 16-bit) and size.")
        if up is None:
            st.info(f"Upload the {label}.", icon=":material/upload:")
            return "", None
        name, data = f"upload:{up.name}", up.getvalue()
    preview = guarded(lambda: thumbnail(data if data is not None else name))
    if preview is None:
        return "", None
    st.image(preview, width=200)
    return name, data


def setup() -> tuple[style.StyleSettings, bytes | None, bytes | None] | None:
    a, b, c = st.columns([1, 1, 1.4])
    with a:
        content, c_bytes = image_picker("content image", "s_content", "astronaut")
    with b:
        style_name, s_bytes = image_picker("style image", "s_style", "mosaic")
    with c:
        store = RunStore()
        # the newest of this session's runs (and the run its link names, ?run=); listing is cheap
        seen = tuple(listed_runs([r.run_id for r in store.list()])[:style.FEATURE_RUN_SCAN])
        names, labels = backbones(str(store.root.resolve()), seen)
        backbone = st.selectbox("feature network", names, key="s_backbone", format_func=labels.get,
                                help="VGG19 with ImageNet weights is the method's network. A CNN you trained on "
                                     "the Train page works offline but knows far fewer textures.")
        info = guarded(lambda: style.backbone_info(backbone))
        if info is None:
            return None
        if info["message"]:
            st.warning(info["message"], icon=":material/cloud_off:")
            if not any(n.startswith("run:") for n in names):
                st.info("No playground CNN of yours yet: train a **cnn** on the Train page (a minute on shapes) "
                        "and it is offered here.", icon=":material/model_training:")
        for note in info["notes"]:
            st.caption(f":material/info: {note}")
        size = st.select_slider("size (long side, px)", [64, 96, 128, 192, 256, 384, 512, 768, 1024], value=256,
                                key="s_size")
        steps = st.number_input("steps", 1, 5000, 200, step=50, key="s_steps",
                                help="Loss evaluations; L-BFGS makes good progress in 100-300.")
        opt = st.radio("optimiser", style.STYLE_OPTIMIZERS.names()[::-1], horizontal=True, key="s_opt",
                       format_func=lambda n: {"lbfgs": "L-BFGS", "adam": "Adam"}[n])
        lr = None
        if opt == "adam":
            lr = st.number_input("Adam learning rate", 0.0001, 1.0, 0.02, format="%g", key="s_lr")
        init = st.radio("start from", style.STARTS, horizontal=True, key="s_init")
        keep = st.checkbox("preserve the content's colours", key="s_colour",
                           help="Keep the result's luminance, take the colours from the content image.")
    with st.expander("Layers and weights", icon=":material/tune:"):
        layers = info["layers"]
        picks = [n for n in layers if n.startswith(("conv_", "relu_", "bn_"))] or layers
        x, y = st.columns(2)
        c_layers = x.multiselect("content layers", picks, default=info["content"], key=f"s_cl_{backbone}")
        s_layers = y.multiselect("style layers", picks, default=list(info["style"]), key=f"s_sl_{backbone}")
        weights = {}
        if s_layers:
            st.caption("per-layer style weights")
            cols = st.columns(min(6, len(s_layers)))
            for i, n in enumerate(s_layers):
                weights[n] = cols[i % len(cols)].number_input(n, 0.0, 1e6, float(info["style"].get(n, 1.0)),
                                                             format="%g", key=f"s_w_{backbone}_{n}")
        x, y, z = st.columns(3)
        cw = x.select_slider("content weight", WEIGHT_OPTIONS["content"], value=1.0, key="s_cw", format_func=fmt_weight)
        sw = y.select_slider("style weight", WEIGHT_OPTIONS["style"], value=1e6, key="s_sw", format_func=fmt_weight)
        tw = z.select_slider("total-variation weight", WEIGHT_OPTIONS["tv"], value=0.0, key="s_tw",
                             format_func=fmt_weight, help="Smooths the result (penalises differences of neighbours).")
        seed = x.number_input("seed (noise start)", 0, 2**31 - 1, 0, key="s_seed")
    if not content or not style_name:
        return None
    settings = style.StyleSettings(content=content, style=style_name, size=int(size), backbone=backbone,
                                   content_layers=tuple(c_layers), style_layers=weights, content_weight=float(cw),
                                   style_weight=float(sw), tv_weight=float(tw), optimizer=opt, lr=lr,
                                   steps=int(steps), init=init, preserve_colour=keep, seed=int(seed))
    return (settings, c_bytes, s_bytes) if guarded(settings.validate) else None


# -- the transfer: a job of the server's job manager (queue, slots, worker process, run store) -----

manager = job_manager()
qp = st.query_params  # ?style=<run id> (and ?ctl=, this tab's control key): the transfer below, after a reload


def url_style_run() -> str | None:
    """The style run in the URL; with its control key, it becomes one of this session's runs."""
    run_id = qp.get("style") or None
    if run_id and run_id not in my_runs() and manager.may_control(run_id, owner(), qp.get("ctl"), "style"):
        my_runs().append(run_id)
    return run_id


def style_status(run_id: str) -> str | None:
    try:
        return manager.status(run_id, "style")
    except PlaygroundError:
        return None


run_id = url_style_run()
live = run_id is not None and style_status(run_id) in ("queued", "running", "paused")

# Open only while there is no result to look at: a transfer that ends keeps its image on top, the setup folded
with st.expander("Set up", expanded=run_id is None, icon=":material/palette:"):
    chosen = setup()
    start = st.button("Start style transfer", type="primary", key="s_start", icon=":material/brush:",
                      disabled=chosen is None or live)
if start and chosen is not None:
    settings, c_bytes, s_bytes = chosen
    # Roughly one preview a second on a CPU (a step at 256 px takes ~0.2 s here).
    every = max(1, min(10, round(5 * (256 / settings.size) ** 2)))
    job = guarded(lambda: manager.submit(style.StyleJob(settings, c_bytes, s_bytes, preview_every=every), owner()))
    if job is not None:
        my_runs().append(job.run_id)
        qp["style"] = job.run_id
        qp["ctl"] = job.control_key  # this tab keeps control after a reload
        st.rerun()


def progress(snap: dict, status: str) -> None:
    start, final = snap["start"], snap["final"]
    if snap["download"] and not start:
        done, total = snap["download"]
        st.progress(done / total if total else 0.0,
                    text=f"downloading the weights: {done / 1e6:.0f} of {total / 1e6:.0f} MB")
    ended_box(final)
    if status == "interrupted":
        st.warning("This transfer was cut off (the server stopped) before it finished. Start it again above.",
                   icon=":material/restart_alt:")
    if not start:
        if status == "queued":
            pos = manager.queue_position(run_id)
            st.info(f"Waiting for a free slot on this server (place {pos} in the queue): training runs and style "
                    "transfers take turns.", icon=":material/hourglass_top:")
        elif not final:
            st.caption("Loading the images and the feature network...")
        return
    bar = style.job.style_progress(snap, status == "running")
    st.progress(bar["fraction"], text=bar["label"])
    h, w = start["size"]
    st.caption(f"{start['backbone']} on {start['device']} · {w}x{h} px · content {', '.join(start['content_layers'])}"
               f" · style {', '.join(start['style_layers'])}")
    for note in start["notes"]:
        st.caption(f":material/info: {note}")


def draw(snap: dict, live: bool) -> None:
    curves = snap["curves"]
    a, b = st.columns([1, 1.6])
    if snap["image"] is not None:
        a.image(snap["image"], caption=f"step {curves['step'][-1] if curves['step'] else 0}",
                width="stretch")
    if curves["step"]:
        m = b.columns(4)
        for col, k in zip(m, ("content", "style", "tv", "total")):
            col.metric(f"{k} loss" if k != "tv" else "TV loss", f"{curves[k][-1]:.4g}")
        b.plotly_chart(loss_figure(curves), key="s_losses", config={"staticPlot": live})


def snapshot(run) -> dict:
    return manager.snapshot(run.run_id, "style")


def result_panel(run_id: str) -> None:
    opened = open_run(run_id, "style", qp.get("ctl"), noun="transfer")
    if opened is None:
        return
    run = opened.run
    view_only_link("transfer", style=run_id)

    def view(now: dict) -> None:
        status, snap = now[run_id]
        control_row(run_id, status, opened.mine, "s", pause=False,
                    note="Stop keeps the result so far. You may close this page: the transfer goes on, and this "
                         "page's link shows it again.")
        progress(snap, status)
        draw(snap, live=status == "running")

    live_view([opened], view)  # started, or finished: the page redraws once (with the downloads at the end)
    if not opened.live:
        snap = snapshot(run)
        if snap["image"] is not None and snap["final"]:
            settings = guarded(lambda: style.StyleSettings.from_dict(json.loads(run.config_path.read_text("utf-8"))))
            result = {"settings": settings.to_dict() if settings else None, "result": snap["final"],
                      "backbone": (snap["start"] or {}).get("backbone")}
            a, b = st.columns(2)
            a.download_button("Result (.png)", style.to_png(snap["image"]), file_name="style-transfer.png",
                              mime="image/png", key="s_dl_png", icon=":material/download:")
            b.download_button("Settings (.json)", json.dumps(result, indent=2),
                              file_name="style-transfer-settings.json", mime="application/json", key="s_dl_json",
                              icon=":material/download:")
            st.caption("`python -m playground style --settings style-transfer-settings.json --out result.png` "
                       "repeats this run from a terminal (uploads: pass the files with --content/--style).")


def earlier_runs() -> None:
    """This session's transfers, newest first: open one to see it again."""
    ids = listed_runs([r.run_id for r in manager.store_for("style").list()])
    if len(ids) < 2 and (not ids or ids[0] == run_id):
        return
    with st.expander(f"Your style transfers ({len(ids)})", icon=":material/history:"):
        pick = st.selectbox("open", ids, index=ids.index(run_id) if run_id in ids else 0, key="s_open",
                            format_func=lambda i: f"{i} · {style_status(i)}")
        if pick != run_id and st.button("Open", key="s_open_btn"):
            qp["style"] = pick
            st.rerun()


if run_id is not None:
    result_panel(run_id)
else:
    st.info("Pick the images and press **Start style transfer**: the image updates here as it is optimised.",
            icon=":material/info:")
earlier_runs()
