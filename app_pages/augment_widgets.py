"""An augmentation's parameters as controls (Data and Train pages): a slider over the registry's range for
each number, a range slider for a (low, high) pair, a select for a fixed set of values (the entry's own
facts, ``AUGMENTATIONS.ranges`` and ``.choices``), never typed text; the spec string the core reads."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_pages.param_widgets import param_widgets
from playground.data.augment import AUGMENTATIONS, parse_spec


def spec_of(name: str, params: dict[str, Any]) -> str:
    """``name:k=v,...`` (a pair as ``low/high``): what ``parse_spec`` reads back to ``params``."""
    text = (
        lambda v: "/".join(f"{x:g}" for x in v)
        if isinstance(v, (list, tuple))
        else f"{v:g}"
        if isinstance(v, float)
        else str(v)
    )
    return name + (":" + ",".join(f"{k}={text(v)}" for k, v in params.items()) if params else "")


def augment_controls(names: list[str], key: str, given: tuple[str, ...] = ()) -> list[str]:
    """The chosen augmentations' parameters, each set with its controls; ``given``: specs to start from (a
    link's, a run's). Returns the specs, in order."""
    start = {}
    for s in given:
        try:
            n, p = parse_spec(s)
        except Exception:  # a bad spec from a link: its defaults (the setup check says what was wrong)
            continue
        start[n] = p
    out = []
    for name in names:
        with st.container(border=True):
            st.caption(f"**{name}**: {AUGMENTATIONS.doc(name)}")
            params = param_widgets(
                AUGMENTATIONS.params(name),
                f"{key}_{name}",
                start.get(name),
                columns=3,
                ranges=AUGMENTATIONS.ranges(name),
                choices=AUGMENTATIONS.choices(name),
            )
        out.append(spec_of(name, params))
    return out
