"""Widgets for the course's settings (normalisation, the validation protocol, the shuffle switch) and the
start page's course presets (``playground.start.course``); the pages call one function each."""

from __future__ import annotations

from typing import Any

import streamlit as st

from playground.config import TrainConfig
from playground.data.normalise import NORMALISATIONS, parse_normalisation
from playground.start.course import course_presets


def normalisation_input(current: str, key: str, where=None) -> str:
    """A choice of normalisation -> its spec (``data.normalize``); fixed values get a mean and std field."""
    where = where or st
    names = NORMALISATIONS.names()
    name, params = parse_normalisation(current) if current else ("data", {})
    name = where.selectbox(
        "normalisation",
        names,
        index=names.index(name) if name in names else 0,
        key=key,
        format_func=lambda n: NORMALISATIONS.facts(n).get("label", n),
        help="What the inputs are shifted and scaled by before the network sees them. The "
        "course feeds MNIST's raw pixels (none) and CIFAR with 0.5/0.5 (fixed).",
    )
    if name != "fixed":
        return name
    a, b = where.columns(2)
    show = lambda v: "/".join(f"{x:g}" for x in v) if isinstance(v, (list, tuple)) else f"{v:g}"
    mean = a.text_input("mean (one, or one per channel: 0.5/0.5/0.5)", show(params.get("mean", 0.5)), key=f"{key}_mean")
    std = b.text_input("std", show(params.get("std", 0.5)), key=f"{key}_std")
    return f"fixed:mean={mean.strip()},std={std.strip()}"


def protocol_inputs(train: TrainConfig, key: str, where=None) -> dict[str, Any]:
    """The validation split and the shuffle switch -> TrainConfig fields (the settings a link carries that
    have no widget here come back as they were)."""
    where = where or st
    a, b = where.columns(2)
    val = a.number_input(
        "validation fraction (0: none)",
        0.0,
        0.9,
        float(train.val_fraction),
        0.05,
        format="%g",
        key=f"{key}_val",
        help="Held out of the training images (seeded). Each epoch reports its loss; the epoch "
        "with the lowest validation loss is kept, tested and saved, as the course does.",
    )
    shuffle = b.toggle(
        "shuffle every epoch",
        value=train.shuffle,
        key=f"{key}_shuffle",
        help="Off: the images in their stored order every epoch (the course's loaders)",
    )
    return {
        "val_fraction": float(val),
        "shuffle": bool(shuffle),
        "quick_test": train.quick_test,
        "eval_batch_size": train.eval_batch_size,
    }


def course_section() -> None:
    """The start page's course presets: each of the course's experiments, set up as its code does it."""
    st.subheader("The course's own experiments", divider="gray")
    st.caption(
        "Each sets the playground up exactly as the course notes' code: data, normalisation, network, "
        "initialisation, optimiser, batch size, order and validation. Its exported script replays the run."
    )
    cols = st.columns(2)
    for i, preset in enumerate(course_presets()):
        with cols[i % 2].container(border=True):
            st.page_link(
                f"app_pages/{preset.page}.py",
                label=f"**{preset.title}**",
                query_params=preset.query,
                icon=":material/menu_book:",
            )
            st.markdown(preset.look)
            st.caption(f"The course's code: {preset.course}" + (f" · {preset.note}" if preset.note else ""))
