"""Convolution: the operation itself. A kernel slides over an image; padding, stride, dilation, bias,
ReLU and pooling change the output, whose size formula is shown with the numbers filled in; one output
value's arithmetic is spelled out; and local connectivity and weight sharing are counted in parameters.
Everything recomputes at once (``playground.conv``: F.conv2d on one small image)."""

from __future__ import annotations

import streamlit as st

from app_pages.common import guarded, job_manager, listed_runs
from app_pages.lesson_landing import landing
from app_pages.widgets import camera_photo, drawing_canvas
from playground import conv
from playground.conv.plots import map_figure, numbers_figure
from playground.data import list_datasets
from playground.style.images import list_images

st.title("Convolution")
landing()  # a Start-page lesson's sentence and its one button (app_pages/lesson_landing.py)
st.caption(
    "A convolution slides one small kernel over the image and, at each position, sums the products of the "
    "kernel with the pixels under it: every output value looks at a small neighbourhood (local "
    "connectivity) with the same weights everywhere (weight sharing)."
)
ss = st.session_state
# The kernel's settings stay while the input waits (an upload, a drawing, a photo not there yet: the kernel
# picker is not drawn, and Streamlit forgets a widget that was not drawn; assigned back, its value stays).
for _k in ("c_ksrc", "c_krun", "c_kname", "c_k"):
    if _k in ss:
        ss[_k] = ss[_k]


@st.cache_data(max_entries=16, show_spinner=False)
def _input(kind: str, source, side: int, grey: bool, index: int):
    return conv.load_input(kind, source, side=side, grey=grey, index=index)


@st.cache_data(max_entries=8, show_spinner="Loading the run's first layer...")
def _run_kernels(run_id: str):
    return conv.run_kernels(job_manager().store.open(run_id))


def input_picker():
    kinds = {
        "dataset": "a data set's image",
        "photo": "a built-in photograph",
        "upload": "your own image",
        "drawing": "draw it",
        "camera": "webcam photo",
    }
    kind = st.radio("input", list(kinds), format_func=kinds.get, index=1, key="c_kind")
    grey = st.toggle(
        "grey (one channel)",
        value=True,
        key="c_grey",
        help="Off: RGB, three channels; the kernel then has one slice per channel, summed.",
    )
    index, source = 0, None
    if kind == "dataset":
        names = list_datasets()
        source = st.selectbox("data set", names, index=names.index("shapes"), key="c_ds")
        index = st.number_input("image number", 0, 59_999, 0, key="c_idx")
    elif kind == "photo":
        photos = list_images()
        source = st.selectbox(
            "photograph", photos, index=photos.index("chelsea") if "chelsea" in photos else 0, key="c_photo"
        )
    elif kind == "upload":
        up = st.file_uploader("an image file", key="c_up")
        if up is None:
            st.info("Upload a photo or drawing (any format).", icon=":material/upload:")
            return None
        source = up.getvalue()
    elif kind == "camera":
        source = camera_photo("c")
        if source is None:
            return None
    else:
        source = drawing_canvas("c", size=240)
        if source is None:
            st.info("Draw something: the convolution runs when the stroke ends.", icon=":material/draw:")
            return None
    side = st.select_slider(
        "size (long side, px)",
        [16, 28, 32, 48, 64, 96, 128],
        value=32 if kind == "dataset" else 28 if kind == "drawing" else 64,
        key="c_side",
    )
    if kind == "drawing":  # a drawing changes with every stroke: not worth a cache entry
        return guarded(lambda: conv.load_input(kind, source, side=side, grey=grey))
    return guarded(lambda: _input(kind, source, side, grey, int(index)))


def kernel_picker(channels: int):
    source = st.radio("kernel", ["preset", "from a trained run"], horizontal=True, key="c_ksrc")
    if source == "from a trained run":
        store = job_manager().store
        ids = listed_runs([r.run_id for r in store.list()])
        run_id = st.selectbox(
            "run",
            ids,
            key="c_krun",
            placeholder="train a cnn first (Train page)",
            format_func=lambda i: guarded(lambda: store.open(i).label()) or i,
        )
        w = guarded(lambda: _run_kernels(run_id)) if run_id else None
        if w is None:
            return None
        f = st.slider("filter", 0, w.shape[0] - 1, 0, key="c_kf")
        if w.shape[1] != channels:
            st.error(
                f"This run's kernels take {w.shape[1]} channel(s), the input has {channels}: switch the grey toggle.",
                icon=":material/error:",
            )
            return None
        return w[f]
    names = conv.KERNELS.names()
    name = st.selectbox("preset", names, index=names.index("sobel_x"), key="c_kname", format_func=conv.KERNELS.doc)
    sizes = conv.kernel_sizes(name)  # only the sizes this preset is defined at (Sobel: 3)
    if ss.get("c_k") not in sizes:
        ss["c_k"] = 3 if 3 in sizes else sizes[0]
    if len(sizes) > 1:
        k = st.select_slider("size k", sizes, key="c_k")
    else:
        k = sizes[0]
        st.caption(f"size {k} x {k} (this preset's only size; edit the numbers for another)")
    start = guarded(lambda: conv.kernel(name, k))
    if start is None:
        return None
    rows = st.data_editor(
        [[round(v, 4) for v in row] for row in start.tolist()],
        key=f"c_grid_{name}_{k}",
        num_rows="fixed",
        hide_index=True,
        width="stretch",
    )
    return guarded(lambda: conv.kernel_from_rows([list(r.values()) if isinstance(r, dict) else r for r in rows]))


def settings_picker() -> conv.ConvSettings:
    a, b = st.columns(2)
    mode = a.selectbox("padding", conv.PADDINGS, key="c_pmode")
    pad = b.slider("padding size p", 0, 6, 1, key="c_p")
    stride = a.slider("stride s", 1, 6, 1, key="c_s")
    dil = b.slider("dilation d", 1, 4, 1, key="c_d")
    bias = a.slider("bias", -2.0, 2.0, 0.0, step=0.1, key="c_b")
    relu = b.toggle("ReLU after", key="c_relu")
    pool = a.selectbox("pooling", conv.POOLS, key="c_pool")
    size = b.slider("pool size", 1, 4, 2, key="c_ps", disabled=pool == "none")
    pstride = a.slider("pool stride", 1, 4, 2, key="c_pst", disabled=pool == "none")
    return conv.ConvSettings(
        padding_mode=mode,
        padding=pad,
        stride=stride,
        dilation=dil,
        bias=bias,
        relu=relu,
        pool=pool,
        pool_size=size,
        pool_stride=pstride,
    )


left, mid, right = st.columns([1.1, 1, 1.1])
with left:
    x = input_picker()
with right:
    s = settings_picker()
with mid:
    w = kernel_picker(x.shape[0]) if x is not None else None

res = guarded(lambda: conv.convolve(x, w, s)) if x is not None and w is not None else None
if res is not None:
    c, h, wd = x.shape
    oh, ow = res["size"]
    st.markdown(
        f"**Output size** (height, then width; n = input size, p = padding, d = dilation, k = kernel "
        f"size, s = stride): `{res['formulas']['height']}` and `{res['formulas']['width']}`, so "
        f"{h} x {wd} becomes **{oh} x {ow}**."
    )
    if res["pooled"] is not None:
        ph, pw = res["pooled"].shape
        st.markdown(
            f"**After {s.pool} pooling** ({s.pool_size} x {s.pool_size}, stride {s.pool_stride}): "
            f"`{res['formulas']['pool height']}` and `{res['formulas']['pool width']}`: **{ph} x {pw}**."
        )
    a, b = st.columns(2)
    i0, j0 = oh // 2, ow // 2
    if float(res["activated"][i0, j0]) == 0.0:  # the centre says nothing (a drawing's black): the strongest output
        i0, j0 = divmod(int(res["activated"].abs().argmax()), ow)
    i = a.slider("output row", 0, oh - 1, i0, key="c_i")
    j = b.slider("output column", 0, ow - 1, j0, key="c_j")
    pos = conv.position(res, i, j, s)
    rows, cols = pos["rows"], pos["cols"]
    figs = st.columns(3 if res["pooled"] is not None else 2)
    figs[0].plotly_chart(
        map_figure(
            res["input"],
            f"input {c} x {h} x {wd}",
            box=(rows, cols),
            height=420,
            dots=(rows, cols) if s.dilation > 1 else None,
        ),
        key="c_fin",
    )
    figs[1].plotly_chart(
        map_figure(
            res["activated"][None],
            f"output {oh} x {ow}" + (" after ReLU" if s.relu else ""),
            signed=True,
            box=([i], [j]),
            height=420,
        ),
        key="c_fout",
    )
    if res["pooled"] is not None:
        figs[2].plotly_chart(
            map_figure(res["pooled"][None], f"after {s.pool} pooling", signed=True, height=420), key="c_fpool"
        )
    st.caption(
        f"The outlined window on the input is what output ({i}, {j}) sees: a {res['k']} x {res['k']} "
        "neighbourhood"
        + (f", sampled every {s.dilation} pixels (dilation)" if s.dilation > 1 else "")
        + ". Red is positive, blue negative."
    )
    outside = [r for r in rows if not 0 <= r < h] + [q for q in cols if not 0 <= q < wd]
    if outside:
        st.caption(
            f":material/info: Part of this window lies outside the image: those pixels are the {s.padding_mode} "
            "padding."
        )

    st.subheader(f"Output ({i}, {j}) by hand", divider="gray")
    ch = (
        st.radio("channel", list(range(c)), horizontal=True, key="c_ch", format_func=lambda q: "RGB"[q]) if c > 1 else 0
    )
    n1, n2, n3 = st.columns(3)
    n1.plotly_chart(numbers_figure(pos["patch"][ch], "the pixels under the kernel", signed=False), key="c_np")
    n2.plotly_chart(numbers_figure(res["kernel"][ch], "the kernel"), key="c_nk")
    n3.plotly_chart(numbers_figure(pos["products"][ch], "pixel x weight"), key="c_nx")
    sums = " + ".join(f"{v:.3f}" for v in pos["per_channel"])
    line = (
        f"sum of the products = {sums} = **{pos['sum']:.4f}**"
        if c > 1
        else f"sum of the products = **{pos['sum']:.4f}**"
    )
    line += f"; plus the bias {pos['bias']:g} = **{pos['value']:.4f}**"
    if s.relu:
        line += f"; after ReLU max(0, ·) = **{pos['after_relu']:.4f}**"
    st.markdown(line + f" — the output map holds {pos['map_value']:.4f} there.")

    st.subheader("Local connectivity and weight sharing, in parameters", divider="gray")
    counts = conv.param_counts(c, h, wd, res["k"], oh, ow)
    for col, name in zip(st.columns(3), ("convolution", "locally connected", "fully connected")):
        col.metric(name, f"{counts[name]:,}")
        col.caption(counts["sentences"][name])
