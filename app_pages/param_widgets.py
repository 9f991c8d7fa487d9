"""Widgets generated from a registry entry's keyword parameters (``param_widgets``), typed by their
defaults, with the entry's own ranges and choices, and the 1-2-5 steps of a slider over decades
(``log_steps``)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_pages.common import guarded, md
from playground.errors import PlaygroundError

__all__ = ["log_steps", "param_widgets"]


def _list_text(v: Any) -> str:
    return ", ".join(str(x) for x in v) if isinstance(v, (list, tuple)) else str(v)


def _parse_list(text: str, name: str) -> list[int]:
    try:
        return [int(t) for t in text.replace(";", ",").split(",") if t.strip()]
    except ValueError:
        raise PlaygroundError(f"{name}: give whole numbers separated by commas, e.g. 16, 32.") from None


def log_steps(lo: float, hi: float, keep: float | None = None) -> list[float]:
    """1-2-5 values per decade from ``lo`` to ``hi`` (a slider over decades), with ``keep`` among them."""
    import math

    values = [m * 10.0**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1) for m in (1, 2, 5)]
    values = [float(f"{v:.6g}") for v in values if lo <= v <= hi]
    if keep is not None and keep not in values:
        values = sorted(values + [keep])
    return values


def _ranged(label: str, value: float, default: Any, spec: tuple, key: str) -> Any:
    """A slider for a value with a known range (a select slider over decades for a "log" one); a value
    outside the range (from a link) keeps a number box, so it is never silently changed."""
    lo, hi, step = spec
    if not lo <= value <= hi:
        return None
    if step == "log":
        return st.select_slider(
            label, log_steps(lo, hi, float(value)), value=float(value), key=key, format_func=lambda v: f"{v:g}"
        )
    if isinstance(default, int):
        return int(st.slider(label, int(lo), int(hi), int(value), int(step), key=key))
    return float(st.slider(label, float(lo), float(hi), float(value), float(step), key=key))


def param_widgets(
    defaults: dict[str, Any],
    key: str,
    current: dict[str, Any] | None = None,
    columns: int = 3,
    ranges: dict[str, tuple] | None = None,
    choices: dict[str, list] | None = None,
) -> dict[str, Any]:
    """Widgets for a registry entry's keyword parameters, typed by their defaults; a numeric one with
    a known range (``Registry.ranges``) gets a slider, a text one with the entry's own allowed values
    (``Registry.choices``: never a list found by the parameter's name) a select box.

    Returns only the values that differ from the defaults (so configs stay short
    and unset values fall back to the builder's own defaults)."""
    ranges, choices = ranges or {}, choices or {}
    current = current or {}
    out: dict[str, Any] = {}
    shown = [(k, v) for k, v in defaults.items() if v is not None or k in current]
    if not shown:
        return out
    cols = st.columns(min(columns, len(shown)))
    for i, (name, default) in enumerate(shown):
        value = current.get(name, default)
        label = name.replace("_", " ")
        wkey = f"{key}__{name}"
        with cols[i % len(cols)]:
            if isinstance(default, bool):
                v = st.checkbox(label, value=bool(value), key=wkey)
            elif isinstance(default, tuple) and name in ranges and (v := _pair(label, value, ranges[name], wkey)):
                pass
            elif isinstance(default, (list, tuple)) and all(isinstance(x, int) for x in default):
                text = st.text_input(label, value=_list_text(value), key=wkey, help="comma-separated")
                v = guarded(lambda text=text, label=label: _parse_list(text, label))
                v = list(default) if v is None else v
            elif isinstance(default, (list, tuple)):
                text = st.text_input(label, value=_list_text(value), key=wkey, help="comma-separated numbers")
                try:
                    v = [float(t) for t in text.split(",") if t.strip()]
                except ValueError:
                    st.error(f"{label}: numbers separated by commas.")
                    v = list(default)
            elif (
                isinstance(default, (int, float))
                and name in ranges
                and (v := _ranged(label, value, default, ranges[name], wkey)) is not None
            ):
                pass
            elif isinstance(default, int):
                v = int(st.number_input(label, value=int(value), step=1, key=wkey))
            elif isinstance(default, float):
                v = float(st.number_input(label, value=float(value), format="%g", key=wkey))
            elif name in choices:
                v = _choice(label, choices[name], value, wkey)
            else:
                v = st.text_input(label, value=str(value), key=wkey)
        norm_default = list(default) if isinstance(default, tuple) else default
        if v != norm_default:
            out[name] = v
    return out


def _pair(label: str, value: Any, spec: tuple, key: str) -> list | None:
    """A range slider for a (low, high) pair with a known range; None (a text box instead) for a value outside."""
    lo, hi, step = spec
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and lo <= value[0] <= value[1] <= hi):
        return None
    a, b = st.slider(label, float(lo), float(hi), (float(value[0]), float(value[1])), float(step), key=key)
    return [a, b]


def _choice(label: str, opts: list, value: Any, key: str) -> Any:
    """A select box over ``opts``; a value from a link that is not one of them is said, not silently swapped."""
    if value not in opts:
        st.warning(f"{label}: {md(value)!s} is not one of {', '.join(map(str, opts))}; {opts[0]} is used instead.")
    return st.selectbox(label, opts, index=opts.index(value) if value in opts else 0, key=key)
