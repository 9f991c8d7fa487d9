"""The Inside page's tabs that follow one image through the network (``image_picker.chosen_image``: a test
image, a drawing, a webcam photo or an upload): Activations (every layer at a glance, one layer's maps, the
test images that excite a channel most) and Saliency & Grad-CAM. No torch here."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_pages.common import guarded, md
from app_pages.image_picker import chosen_image
from playground import inside as ins
from playground.inside import plots as pin
from playground.inside.forward import overview_map


def activations_tab(tr: ins.Trained, run_id: str) -> None:
    """The Activations tab: the chosen image's prediction, every layer's output, and the search for the test
    images that excite one channel most."""
    img = chosen_image(tr, "i")
    if img is not None:
        x, shown, cap = img
        acts = guarded(lambda: ins.activations(tr, x))
        if acts is not None:
            a, b = st.columns([1, 3])
            a.image(shown, caption=cap, width=140)
            top = acts["probs"].argmax()
            a.markdown(f"prediction: **{md(tr.classes[top])}** ({acts['probs'][top]:.0%})")
            b.plotly_chart(pin.probabilities(acts["probs"], tr.classes, int(top)), key="i_a_probs")
            activation_views(acts, tr.classes)
            st.subheader("Which test images excite a channel most?", divider="gray")
            names = [l["name"] for l in acts["layers"]]
            labels = {l["name"]: l["label"] for l in acts["layers"]}
            c1, c2, c3 = st.columns(3)
            node = c1.selectbox("layer", names, key="i_t_layer", format_func=labels.get)
            width = next(l["shape"][0] for l in acts["layers"] if l["name"] == node)
            ch = c2.number_input(f"channel / unit (0..{width - 1})", 0, width - 1, 0, key="i_t_ch")
            n_test = len(tr.data.test_y)
            limit = c3.number_input(
                "test images to search",
                min(100, n_test),
                n_test,
                min(2000, len(tr.data.test_y)),
                step=500,
                key="i_t_limit",
            )
            if st.button("Find top-activating images", key="i_t_go", icon=":material/search:"):
                with st.spinner("Running the test images through the network..."):
                    st.session_state.i_top = (
                        run_id,
                        node,
                        ch,
                        guarded(lambda: ins.top_activating(tr, node, int(ch), limit=int(limit))),
                    )
            res = st.session_state.get("i_top")
            if res and res[:3] == (run_id, node, ch) and res[3]:
                t = res[3]
                st.image(t["images"], caption=[f"{lab} · {v:.2f}" for lab, v in zip(t["labels"], t["value"])], width=84)
                st.caption(
                    f"Mean activation of {labels[node]} ({node}) channel {ch}, highest first, of "
                    f"{t['searched']} test images."
                )


def activation_views(acts: dict[str, Any], classes: list[str], per_row: int = 6) -> None:
    """An overview (one small picture per layer, grouped by block, in the order the image flows), then
    every map of one chosen layer."""
    by_name = {layer["name"]: layer for layer in acts["layers"]}
    st.subheader("Every layer at a glance", divider="gray")
    st.caption(
        "One picture per layer, block by block, in the order the image flows through the network: the "
        "layer's strongest channel (largest mean |activation|) with the layer's output shape (channels x "
        "height x width). Choose a layer below to see all its maps."
    )
    for block in acts["blocks"]:
        layers = [by_name[n] for n in block["nodes"]]
        st.markdown(f"**{block['title']}**")
        if not any(layer["spatial"] for layer in layers):
            st.caption("These layers have no spatial map: one number per unit (bars).")
        for start in range(0, len(layers), per_row):
            for col, layer in zip(st.columns(per_row), layers[start : start + per_row]):
                if layer["spatial"]:
                    img, _ = overview_map(layer["maps"])
                    title = f"{layer['label']} · {'x'.join(map(str, layer['shape']))}"
                    col.plotly_chart(pin.thumbnail(img, title), key=f"i_a_t_{layer['name']}")
                else:
                    title = f"{layer['label']} · {layer['shape'][0]} values"
                    col.plotly_chart(pin.thumbnail(layer["vector"], title), key=f"i_a_t_{layer['name']}")
    st.subheader("One layer, all its maps", divider="gray")
    c1, c2 = st.columns([1, 2])
    node = c1.selectbox(
        "layer", list(by_name), key="i_a_layer", format_func=lambda n: f"{by_name[n]['block']} · {by_name[n]['label']}"
    )
    scale = c2.radio(
        "colour scale",
        ["per map", "per layer", "global"],
        horizontal=True,
        key="i_scale",
        help="per map: each map to its own range (shape); per layer: maps of a layer compared; "
        "global: one range for the whole network.",
    )
    mode = {"per map": "map", "per layer": "layer", "global": "global"}[scale]
    layer = by_name[node]
    title = f"{layer['label']} ({layer['name']} · {layer['kind']}) · {list(layer['shape'])}"
    if layer["spatial"]:
        c, h, w = layer["shape"]
        st.plotly_chart(
            pin.feature_maps(
                layer["maps"], title, mode, acts["range"] if mode == "global" else None, height=560 if c > 8 else 420
            ),
            key="i_a_detail",
        )
        st.caption(
            f"{c} maps of {h}x{w}, one per channel. Red: positive, blue: negative (Viridis: all positive, "
            "after a relu or pool)."
        )
    else:
        last = node == acts["layers"][-1]["name"]
        st.plotly_chart(
            pin.vector_figure(layer["vector"], title + " · no spatial map", classes if last else None), key="i_a_detail"
        )


def saliency_tab(tr: ins.Trained) -> None:
    """The Saliency & Grad-CAM tab: which pixels, and which places of the last conv layer, raise a class's score."""
    img = chosen_image(tr, "i_s")
    target = st.selectbox("explain the class", ["the predicted class"] + tr.classes, key="i_s_cls")
    t_idx = None if target == "the predicted class" else tr.classes.index(target)
    x, shown, cap = img if img is not None else (None, None, None)
    sal = guarded(lambda: ins.saliency(tr, x, t_idx)) if x is not None else None
    cam = guarded(lambda: ins.grad_cam(tr, x, t_idx)) if sal is not None else None
    if x is not None:
        st.caption(f"{md(cap)} · predicted " + ", ".join(f"{md(c)} {p:.0%}" for c, p in ins.predict(tr, x, 3)))
    a, b, c = st.columns(3)
    if x is not None:
        a.image(shown, caption="input", width="stretch")
    if sal is not None:
        b.plotly_chart(pin.overlay(shown, sal["map"], f"saliency for {sal['class']}"), key="i_s_sal")
    if cam is not None:
        c.plotly_chart(
            pin.overlay(
                shown,
                cam["map"],
                f"Grad-CAM for {cam['class']} ({cam['layer']}, {cam['layer_size'][0]}x{cam['layer_size'][1]})",
            ),
            key="i_s_cam",
        )
    st.caption(
        "Saliency: how much each pixel changes the class score. Grad-CAM: where the last conv layer's "
        "maps that raise the class score are active (coarse: that layer's resolution, upsampled)."
    )
