"""The Transfer page's data: any data set of the registry, an uploaded image folder especially, the number of
training images used (a subset keeps a CPU run short) and what that makes of the data set."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from app_pages.common import guarded, md, owner
from app_pages.folder_boxes import image_folder_input  # an upload shown as upload:<folder>
from playground.data import list_datasets, load_dataset
from playground.data.uploads import check_folder_allowed


@dataclass(frozen=True)
class Chosen:
    """The data a transfer run reads: ``info`` is the data set's summary (classes, shape, split sizes)."""

    dataset: str
    root: str | None
    params: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    limit: int = 0
    n_train: int = 0


def choose_data(on_gpu: bool) -> Chosen:
    """The data section; stops the page (after saying what to do) until a data set is loaded."""
    ss = st.session_state
    st.subheader("Data", divider="gray")
    c1, c2, c3 = st.columns([1, 2, 1])
    names = list_datasets()
    dataset = c1.selectbox(
        "data set",
        names,
        index=names.index("image_folder" if ss.get("upload_folder") else "shapes"),
        key="tl_dataset",
        help="Any data set; your own images through image_folder (upload a .zip).",
    )
    root: str | None = None
    data_params: dict[str, Any] = {}
    if dataset == "image_folder":
        with c2:
            root = image_folder_input("tl")
        data_params["image_size"] = int(
            c3.select_slider(
                "stored image size (px)",
                [32, 48, 64, 96, 128],
                value=64,
                key="tl_folder_size",
                help="Images are decoded once at this size; the backbone input size is set below.",
            )
        )
        if not root:
            st.info(
                "Upload a .zip (one sub-folder per class: cats/1.jpg, dogs/2.jpg; optionally under train/ and "
                "test/), or pick another data set.",
                icon=":material/folder_open:",
            )
            st.stop()
    else:
        root = (
            c2.text_input(
                "data folder (empty: default)",
                key="tl_root",
                help="where MNIST/CIFAR files are; default $PLAYGROUND_DATA or ./data",
            )
            or None
        )
    if root and guarded(lambda: check_folder_allowed(root, owner())) is None:
        st.stop()
    with st.spinner(f"Loading {dataset}..."):
        ds = guarded(lambda: load_dataset(dataset, root=root, **(data_params or {})))
    if ds is None:
        st.stop()
    info = ds.summary()
    ss.setdefault("tl_limit", 0 if on_gpu else 2000)  # set once: another data set keeps it (capped below, said so)
    limit = int(
        c3.number_input(
            "training images (0: all)", min_value=0, step=250, key="tl_limit", help="A subset keeps a CPU run short."
        )
    )
    n_train = min(limit or info["train"], info["train"])
    st.caption(
        f"{md(info['name'])}: {len(info['classes'])} classes, images {' x '.join(map(str, info['shape']))}, "
        f"{n_train:,} of {info['train']:,} training images used, {info['test']:,} test images"
        + (f" (this data set has fewer than the {limit:,} asked for)." if limit > info["train"] else ".")
    )
    return Chosen(dataset, root, data_params, info, limit, n_train)
