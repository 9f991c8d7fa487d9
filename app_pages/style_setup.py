"""The Style transfer page's setup form: the content and style images (built in or uploaded), the feature
network (VGG, or a CNN trained in the playground), the run's size, steps and optimiser, and the layers and
the losses' weights. No torch here."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from app_pages.common import guarded, listed_runs
from playground import style
from playground.runs import RunStore

UPLOAD = "upload your own..."
WEIGHT_OPTIONS = {  # log scale; 0 switches a term off
    "content": [0.0] + [10.0**e for e in range(-3, 7)],
    "style": [0.0] + [10.0**e for e in range(0, 13)] + [1e20, 1e40],  # the last two overflow float32: diverged
    "tv": [0.0] + [10.0**e for e in range(-3, 5)],
}


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
    name = st.selectbox(
        label,
        options,
        index=options.index(default),
        key=f"{key}_name",
        format_func=lambda n: n if n == UPLOAD else f"{n} — {style.IMAGES.doc(n)}",
    )
    data = None
    if name == UPLOAD:
        up = st.file_uploader(
            f"{label} file",
            key=f"{key}_file",
            help="Any image file: PNG, JPEG, WebP, GIF, TIFF, "
            "BMP; any mode (RGBA, palette, grayscale, 16-bit) and size.",
        )
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
    """The setup form: (the transfer's settings, the content and style uploads or None), or None with the
    reason shown (an image missing, the feature network unavailable, a setting out of range)."""
    a, b, c = st.columns([1, 1, 1.4])
    with a:
        content, c_bytes = image_picker("content image", "s_content", "astronaut")
    with b:
        style_name, s_bytes = image_picker("style image", "s_style", "mosaic")
    with c:
        chosen = feature_network()
        if chosen is None:
            return None
        backbone, info = chosen
        run = run_settings()
    with st.expander("Layers and weights", icon=":material/tune:"):
        layers = layers_and_weights(backbone, info)
    if not content or not style_name:
        return None
    settings = style.StyleSettings(content=content, style=style_name, backbone=backbone, **run, **layers)
    return (settings, c_bytes, s_bytes) if guarded(settings.validate) else None


def feature_network() -> tuple[str, dict[str, Any]] | None:
    """The feature network chosen (VGG, or one of the session's playground CNNs) and what it offers
    (``style.backbone_info``), its notes shown; None (with the reason) when it cannot be used."""
    store = RunStore()
    # the newest of this session's runs (and the run its link names, ?run=); listing is cheap
    seen = tuple(listed_runs([r.run_id for r in store.list()])[: style.FEATURE_RUN_SCAN])
    names, labels = backbones(str(store.root.resolve()), seen)
    backbone = st.selectbox(
        "feature network",
        names,
        key="s_backbone",
        format_func=labels.get,
        help="VGG19 with ImageNet weights is the method's network. A CNN you trained on "
        "the Train page works offline but knows far fewer textures.",
    )
    info = guarded(lambda: style.backbone_info(backbone))
    if info is None:
        return None
    if info["message"]:
        st.warning(info["message"], icon=":material/cloud_off:")
        if not any(n.startswith("run:") for n in names):
            st.info(
                "No playground CNN of yours yet: train a **cnn** on the Train page (a minute on shapes) "
                "and it is offered here.",
                icon=":material/model_training:",
            )
    for note in info["notes"]:
        st.caption(f":material/info: {note}")
    return backbone, info


def run_settings() -> dict[str, Any]:
    """Size, steps, optimiser, the starting image and the colours: StyleSettings fields."""
    size = st.select_slider(
        "size (long side, px)", [64, 96, 128, 192, 256, 384, 512, 768, 1024], value=256, key="s_size"
    )
    steps = st.number_input(
        "steps", 1, 5000, 200, step=50, key="s_steps", help="Loss evaluations; L-BFGS makes good progress in 100-300."
    )
    opt = st.radio(
        "optimiser",
        style.STYLE_OPTIMIZERS.names()[::-1],
        horizontal=True,
        key="s_opt",
        format_func=lambda n: {"lbfgs": "L-BFGS", "adam": "Adam"}[n],
    )
    lr = None
    if opt == "adam":
        lr = st.number_input("Adam learning rate", 0.0001, 1.0, 0.02, format="%g", key="s_lr")
    init = st.radio("start from", style.STARTS, horizontal=True, key="s_init")
    keep = st.checkbox(
        "preserve the content's colours",
        key="s_colour",
        help="Keep the result's luminance, take the colours from the content image.",
    )
    return {"size": int(size), "optimizer": opt, "lr": lr, "steps": int(steps), "init": init, "preserve_colour": keep}


def layers_and_weights(backbone: str, info: dict[str, Any]) -> dict[str, Any]:
    """The content and style layers, each style layer's weight, the three losses' weights and the seed:
    StyleSettings fields."""
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
            weights[n] = cols[i % len(cols)].number_input(
                n, 0.0, 1e6, float(info["style"].get(n, 1.0)), format="%g", key=f"s_w_{backbone}_{n}"
            )
    x, y, z = st.columns(3)
    cw = x.select_slider("content weight", WEIGHT_OPTIONS["content"], value=1.0, key="s_cw", format_func=fmt_weight)
    sw = y.select_slider("style weight", WEIGHT_OPTIONS["style"], value=1e6, key="s_sw", format_func=fmt_weight)
    tw = z.select_slider(
        "total-variation weight",
        WEIGHT_OPTIONS["tv"],
        value=0.0,
        key="s_tw",
        format_func=fmt_weight,
        help="Smooths the result (penalises differences of neighbours).",
    )
    seed = x.number_input("seed (noise start)", 0, 2**31 - 1, 0, key="s_seed")
    return {
        "content_layers": tuple(c_layers),
        "style_layers": weights,
        "content_weight": float(cw),
        "style_weight": float(sw),
        "tv_weight": float(tw),
        "seed": int(seed),
    }
