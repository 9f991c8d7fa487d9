"""Data: look at a data set before training on it: samples, classes, pixel
statistics, augmentations, normalisation, and what an MLP vs a CNN sees."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages.augment_widgets import augment_controls
from app_pages.common import guarded, md, owner, shown_text
from app_pages.course_controls import normalisation_input
from app_pages.folder_boxes import image_folder_input, real_folder
from app_pages.widgets import lazy_tabs
from playground import plots
from playground.data import explore, list_datasets, load_dataset
from playground.data import plots as dplots
from playground.data.augment import list_augmentations
from playground.data.uploads import check_folder_allowed, delete_session_uploads, session_folder
from playground.images import png_data_url

st.title("Data")


SAMPLE_PX = 80  # a sample's tile


@st.cache_data(max_entries=64, show_spinner=False)
def sample_images(_ds, ds_id: int, n: int, class_index: int | None, seed: int) -> tuple[list, list[str]]:
    """The Samples tab's images (PNG data URLs) and captions, encoded once per data set (``ds_id``: the
    loaded object) and choice, not once per view: a class opening the page together shares one encoding,
    and the images travel in the page's message rather than one by one through Streamlit's media store
    (one lock for every image of every session: a queue when 30 pages draw at once)."""
    imgs, caps, _ = explore.samples(_ds, n, class_index, seed=seed)
    # A large image (a folder's, up to 256 px) stays an array: Streamlit scales it down to the tile for
    # the browser, where a data URL would carry it whole in the message.
    return [png_data_url(a) if max(a.shape[:2]) <= 2 * SAMPLE_PX else a for a in imgs], caps


c1, c2 = st.columns([1, 2])
names = list_datasets()
dataset = c1.selectbox(
    "data set",
    names,
    index=names.index("shapes"),
    key="d_dataset",
    help="shapes is built in; MNIST, Fashion-MNIST and CIFAR-10 download when online",
)
root = None
if dataset == "image_folder":
    with c2:
        root = image_folder_input("d")
        if session_folder(owner()).is_dir() and st.button(
            "Delete my uploads", key="d_delete_uploads", icon=":material/delete:"
        ):
            delete_session_uploads(owner())
            for k in ("upload_folder", "zip_notes"):
                st.session_state.pop(k, None)
            st.rerun()
    if not root:
        st.info(
            "Upload a .zip or give a folder: one sub-folder per class (cats/1.jpg, dogs/2.jpg), "
            "optionally under train/ and test/.",
            icon=":material/folder_open:",
        )
        st.stop()
else:
    root = real_folder(  # upload:<folder> names one of your uploads
        c2.text_input(
            "data folder (empty: default)",
            key="d_root",
            help="where the files are, or get downloaded; default $PLAYGROUND_DATA or ./data",
        )
    )

if root and guarded(lambda: check_folder_allowed(root, owner())) is None:
    st.stop()
st.session_state.chosen_data = (dataset, root)  # the Train page starts from the data set looked at here
with st.spinner(f"Loading {dataset}..."):
    ds = guarded(lambda: load_dataset(dataset, root=root))  # a folder's message names it: as upload:
if ds is None:
    st.stop()

info = ds.summary()
m = st.columns(4)
m[0].metric("classes", len(info["classes"]))
m[1].metric("image shape (C, H, W)", " x ".join(map(str, info["shape"])))
m[2].metric("training images", f"{info['train']:,}")
m[3].metric("test images", f"{info['test']:,}")
for note in info["notes"]:
    st.caption(f"note: {md(shown_text(note))}")
st.caption(
    f"Mean per channel {', '.join(f'{v:.4f}' for v in info['mean'])}, std "
    f"{', '.join(f'{v:.4f}' for v in info['std'])}: computed from the training split; training "
    "normalises with them unless its normalisation says otherwise (none, fixed values, ImageNet's)."
)

# Only the open tab runs (the first open of the page draws its samples, not all five tabs' figures); each
# tab's settings are kept while another is open.
tabs = lazy_tabs(
    ["Samples", "Classes and pixels", "Augmentation", "Normalisation", "MLP vs CNN input"],
    keep=[
        ("d_class", "d_n", "d_seed"),
        (),
        ("d_aug", "d_aug_idx", "d_draws", "d_augp_"),
        ("d_norm_idx",),
        ("d_flat_idx", "d_k", "d_stride", "d_pad_"),
    ],
)
seed = int(st.session_state.get("d_seed", 0))  # the Samples tab's shuffle seeds the augmentation draws too

with tabs[0]:
    if tabs[0].open:  # lazy: only the open tab runs
        a, b, c = st.columns(3)
        cls = a.selectbox("class", ["all"] + ds.classes, key="d_class")
        n = b.slider("how many", 8, 64, 32, 8, key="d_n")
        seed = c.number_input("shuffle", value=0, step=1, key="d_seed")
        imgs, caps = sample_images(ds, id(ds), int(n), None if cls == "all" else ds.classes.index(cls), int(seed))
        st.image(imgs, caption=caps, width=SAMPLE_PX)

with tabs[1]:
    if tabs[1].open:  # lazy: only the open tab runs
        a, b = st.columns(2)
        a.plotly_chart(plots.class_distribution(explore.class_distribution(ds), ds.classes), key="d_dist")
        b.plotly_chart(
            plots.pixel_histogram(explore.pixel_histograms(ds), "pixel values (0..1), training images"), key="d_hist"
        )

with tabs[2]:
    if tabs[2].open:  # lazy: only the open tab runs
        a, b, c = st.columns([2, 1, 1])
        specs_names = a.multiselect(
            "augmentations", list_augmentations(), default=["rotation", "translate"], key="d_aug"
        )
        idx = b.number_input("training image #", 0, len(ds.train_y) - 1, 0, key="d_aug_idx")
        draws = c.slider("draws", 4, 32, 16, 4, key="d_draws")
        specs = augment_controls(specs_names, "d_augp")  # sliders over the registry's ranges, never typed text
        prev = guarded(lambda: explore.augment_preview(ds, int(idx), specs, n=draws, seed=int(seed)))
        if prev:
            st.image([explore.image(ds, int(idx), "train")], caption=["original"], width=96)
            st.caption("The same image under independent random draws, as a training batch gets them:")
            st.image(prev, width=84)

with tabs[3]:
    if tabs[3].open:  # lazy: only the open tab runs
        idx = st.number_input("training image #", 0, len(ds.train_y) - 1, 0, key="d_norm_idx")
        norm = normalisation_input("data", "d_norm")  # the Train page's setting of the same name
        pv = guarded(lambda: explore.normalise_preview(ds, int(idx), norm)) or explore.normalise_preview(ds, int(idx))
        st.caption(
            "mean " + ", ".join(f"{v:.4f}" for v in pv["mean"]) + " · std " + ", ".join(f"{v:.4f}" for v in pv["std"])
        )
        a, b = st.columns(2)
        a.plotly_chart(plots.channel_heatmaps(pv["before"], "before: pixels in [0, 1]"), key="d_before")
        b.plotly_chart(plots.channel_heatmaps(pv["after"], "after: (x - mean) / std", zmid=0.0), key="d_after")
        a.plotly_chart(plots.pixel_histogram(explore.pixel_histograms(ds), "before"), key="d_hb")
        b.plotly_chart(
            plots.pixel_histogram(explore.pixel_histograms(ds, normalised=True), "after (mean 0, std 1)"), key="d_ha"
        )

with tabs[4]:
    if tabs[4].open:  # lazy: only the open tab runs
        idx = st.number_input("training image #", 0, len(ds.train_y) - 1, 0, key="d_flat_idx")
        c_, h, w = info["shape"]
        vec = explore.flatten_view(ds, int(idx))
        st.plotly_chart(plots.flatten_strip(vec, w), key="d_flat")
        a, b, c = st.columns(3)
        k = a.select_slider("convolution kernel", [3, 5, 7], 3, key="d_k")
        stride = b.select_slider(
            "stride",
            [1, 2, 3],
            1,
            key="d_stride",
            help="How far the window moves each time: 1 is what a conv layer usually does.",
        )
        pad = c.select_slider(
            "padding (zeros around the image)",
            list(range(k // 2 + 1)),
            0,
            key=f"d_pad_{k}",
            help=f"{k // 2} keeps the output the size of the input at stride 1 ('same' padding).",
        )
        view = guarded(lambda: explore.conv_windows(ds, int(idx), kernel=k, stride=stride, padding=pad))
        if view is not None:
            oh, ow = view["grid"]

            def side(n: int, out: int) -> str:
                return f"({n} - {k} + 2·{pad}) / {stride} + 1 = {out}"

            sides = (
                f"{side(h, oh)} positions down and across"
                if h == w
                else f"{side(h, oh)} positions down and {side(w, ow)} across"
            )
            st.markdown(
                f"An MLP unit is connected to all **{view['mlp_inputs_per_unit']:,}** inputs ({c_} x {h} x {w} "
                f"flattened: where a pixel was is forgotten). A {k}x{k} convolution unit sees only **"
                f"{view['inputs_per_unit']}** neighbouring inputs ({c_} x {k} x {k}), and the same weights slide over "
                f"the image {stride} pixel{'s' if stride > 1 else ''} at a time: (n - k + 2p) / s + 1 = "
                f"{sides}, so the window visits **{oh} x {ow} = {view['positions']:,} positions** (weight sharing: "
                f"{view['positions']:,} outputs from one set of {view['inputs_per_unit'] + 1} weights)."
            )
            if (h - k + 2 * pad) % stride or (w - k + 2 * pad) % stride:
                st.caption(
                    "The division is rounded down: the window never hangs over the edge, so the last "
                    "pixels of a side can be left out."
                )
            left, right = st.columns([3, 2])
            title = f"{k}x{k} windows, stride {stride}, padding {pad}" + (" (zeros, dashed: the image)" if pad else "")
            left.plotly_chart(dplots.conv_windows_figure(view, title, height=540), key="d_windows")
            with right:
                st.markdown("**Some of the windows** (each one output of the layer):")
                for i, e in enumerate(view["examples"]):
                    colour = dplots.COLOUR_NAMES[i % len(dplots.COLOUR_NAMES)]
                    rows = (
                        f"rows {e['top'] - pad}..{e['top'] - pad + k - 1}, columns {e['left'] - pad}.."
                        f"{e['left'] - pad + k - 1}"
                    )
                    t, q = st.columns([1, 3])
                    t.image(np.repeat(np.repeat(e["tile"], 12, 0), 12, 1), width=72)  # crisp pixels
                    q.markdown(f":{colour}[**output ({e['row']}, {e['col']})**] sees image {rows}")
                notes = []
                if stride == 1:
                    notes.append(
                        f"Neighbouring windows overlap by {k - 1} pixel{'s' if k > 2 else ''}: every pixel "
                        f"away from the border is seen by {k} x {k} = {k * k} windows."
                    )
                elif stride < k:
                    notes.append(
                        f"Neighbouring windows overlap by {k - stride} pixel{'s' if k - stride > 1 else ''}: "
                        "the pixels in the overlap are seen by more than one window."
                    )
                else:
                    notes.append("The windows do not overlap: each pixel is seen by at most one window.")
                if pad:
                    notes.append(f"Rows and columns below 0 or above {h - 1} are the padding (zeros).")
                if notes:
                    st.caption(" ".join(notes))
