"""Data: look at a data set before training on it: samples, classes, pixel
statistics, augmentations, normalisation, and what an MLP vs a CNN sees."""

from __future__ import annotations

import streamlit as st

from app_pages.common import guarded, image_folder_input, md, owner
from playground import plots
from playground.data import explore, list_datasets, load_dataset
from playground.data.augment import AUGMENTATIONS, list_augmentations
from playground.data.uploads import check_folder_allowed, delete_session_uploads, session_folder

st.title("Data")

c1, c2 = st.columns([1, 2])
names = list_datasets()
dataset = c1.selectbox("data set", names, index=names.index("shapes"), key="d_dataset",
                       help="shapes is built in; MNIST, Fashion-MNIST and CIFAR-10 download when online")
root = None
if dataset == "image_folder":
    with c2:
        root = image_folder_input("d")
        if session_folder(owner()).is_dir() and st.button("Delete my uploads", key="d_delete_uploads",
                                                          icon=":material/delete:"):
            delete_session_uploads(owner())
            for k in ("upload_folder", "zip_notes"):
                st.session_state.pop(k, None)
            st.rerun()
    if not root:
        st.info("Upload a .zip or give a folder: one sub-folder per class (cats/1.jpg, dogs/2.jpg), "
                "optionally under train/ and test/.", icon=":material/folder_open:")
        st.stop()
else:
    root = c2.text_input("data folder (empty: default)", key="d_root",
                         help="where the files are, or get downloaded; default $PLAYGROUND_DATA or ./data") or None

if root and guarded(lambda: check_folder_allowed(root, owner())) is None:
    st.stop()
with st.spinner(f"Loading {dataset}..."):
    ds = guarded(lambda: load_dataset(dataset, root=root))
if ds is None:
    st.stop()

info = ds.summary()
m = st.columns(4)
m[0].metric("classes", len(info["classes"]))
m[1].metric("image shape (C, H, W)", " x ".join(map(str, info["shape"])))
m[2].metric("training images", f"{info['train']:,}")
m[3].metric("test images", f"{info['test']:,}")
for note in info["notes"]:
    st.caption(f"note: {md(note)}")
st.caption(f"Mean per channel {', '.join(f'{v:.4f}' for v in info['mean'])}, std "
           f"{', '.join(f'{v:.4f}' for v in info['std'])}: computed from the training split; training "
           "normalises with them.")

tabs = st.tabs(["Samples", "Classes and pixels", "Augmentation", "Normalisation", "MLP vs CNN input"])

with tabs[0]:
    a, b, c = st.columns(3)
    cls = a.selectbox("class", ["all"] + ds.classes, key="d_class")
    n = b.slider("how many", 8, 64, 32, 8, key="d_n")
    seed = c.number_input("shuffle", value=0, step=1, key="d_seed")
    imgs, caps, _ = explore.samples(ds, n, None if cls == "all" else ds.classes.index(cls), seed=int(seed))
    st.image(imgs, caption=caps, width=80)

with tabs[1]:
    a, b = st.columns(2)
    a.plotly_chart(plots.class_distribution(explore.class_distribution(ds), ds.classes), key="d_dist")
    b.plotly_chart(plots.pixel_histogram(explore.pixel_histograms(ds), "pixel values (0..1), training images"),
                   key="d_hist")

with tabs[2]:
    a, b, c = st.columns([2, 1, 1])
    specs_names = a.multiselect("augmentations", list_augmentations(), default=["rotation", "translate"],
                                key="d_aug")
    idx = b.number_input("training image #", 0, len(ds.train_y) - 1, 0, key="d_aug_idx")
    draws = c.slider("draws", 4, 32, 16, 4, key="d_draws")
    specs = []
    for name in specs_names:
        args = st.text_input(f"{name} parameters", key=f"d_augp_{name}",
                             placeholder=", ".join(f"{k}={v}" for k, v in AUGMENTATIONS.params(name).items()))
        specs.append(f"{name}:{args}" if args.strip() else name)
    prev = guarded(lambda: explore.augment_preview(ds, int(idx), specs, n=draws, seed=int(seed)))
    if prev:
        st.image([explore.image(ds, int(idx), "train")], caption=["original"], width=96)
        st.caption("The same image under independent random draws, as a training batch gets them:")
        st.image(prev, width=84)

with tabs[3]:
    idx = st.number_input("training image #", 0, len(ds.train_y) - 1, 0, key="d_norm_idx")
    pv = explore.normalise_preview(ds, int(idx))
    a, b = st.columns(2)
    a.plotly_chart(plots.channel_heatmaps(pv["before"], "before: pixels in [0, 1]"), key="d_before")
    b.plotly_chart(plots.channel_heatmaps(pv["after"], "after: (x - mean) / std", zmid=0.0), key="d_after")
    a.plotly_chart(plots.pixel_histogram(explore.pixel_histograms(ds), "before"), key="d_hb")
    b.plotly_chart(plots.pixel_histogram(explore.pixel_histograms(ds, normalised=True), "after (mean 0, std 1)"),
                   key="d_ha")

with tabs[4]:
    idx = st.number_input("training image #", 0, len(ds.train_y) - 1, 0, key="d_flat_idx")
    k = st.select_slider("convolution kernel", [3, 5, 7], 3, key="d_k")
    c_, h, w = info["shape"]
    vec = explore.flatten_view(ds, int(idx))
    st.plotly_chart(plots.flatten_strip(vec, w), key="d_flat")
    patches = explore.conv_patches(ds, int(idx), kernel=k)
    st.markdown(
        f"An MLP unit is connected to all **{patches['mlp_inputs_per_unit']:,}** inputs ({c_} x {h} x {w} "
        f"flattened: where a pixel was is forgotten). A {k}x{k} convolution unit sees **"
        f"{patches['inputs_per_unit']}** neighbouring inputs, and the same weights slide over all "
        f"{patches['grid'][0] * patches['grid'][1]} positions below (weight sharing).")
    st.image(patches["tiles"], caption=[f"({r},{q})" for r, q in patches["corners"]], width=40)
