"""The Train page's "Run again with one change": the setting picked by its label, then the widget its type
needs (a slider with the registry's range, a select for choices, a multiselect for augmentations, the layer
table for the conv blocks), prefilled with the run's value; the copy differs in exactly that setting."""

from __future__ import annotations

import json
from typing import Any, Callable

import streamlit as st

from app_pages.common import guarded
from app_pages.param_widgets import log_steps
from app_pages.train_layers import TABLED, block_editor, units_editor
from playground.config import RunConfig, with_change
from playground.data.augment import list_augmentations, parse_spec
from playground.errors import PlaygroundError
from playground.models import MODELS, model_params
from playground.train.init import list_inits
from playground.train.optim import list_optimizers, list_schedules

# label -> the config path it changes, for the settings every run has (the model's own follow).
SETTINGS = {
    "Learning rate": "optim.lr",
    "Optimiser": "optim.name",
    "Learning-rate schedule": "optim.schedule",
    "Weight decay": "optim.weight_decay",
    "Label smoothing": "optim.label_smoothing",
    "Gradient clipping": "optim.grad_clip",
    "Epochs": "train.epochs",
    "Batch size": "train.batch_size",
    "Seed": "train.seed",
    "Augmentations": "data.augment",
    "Training images used": "data.train_limit",
    "Weight initialisation": "model.init",
}
SELECTS: dict[str, Callable[[], list[str]]] = {
    "optim.name": list_optimizers,
    "optim.schedule": list_schedules,
    "model.init": list_inits,
}
TABLE_LABELS = {"blocks": "Conv blocks", "fc": "Fully connected layers", "hidden": "Hidden layers"}
BAD = object()  # a widget whose value cannot be used (its message is shown)


def settings_of(config: RunConfig) -> dict[str, str]:
    """Label -> path of every setting of ``config`` that can be changed here, its model's parameters included
    (the layer lists by their table: ``model.params`` as a whole for the conv blocks)."""
    out = dict(SETTINGS)
    name = config.model.name
    tabled = TABLED.get(name, ())
    if name == "cnn":
        out["Conv blocks"] = "model.params"
    for p in tabled:
        if p in ("fc", "hidden"):
            out[TABLE_LABELS[p]] = f"model.params.{p}"
    for p in model_params(name) if name in MODELS else ():
        if p not in tabled:
            out[p.replace("_", " ").capitalize()] = f"model.params.{p}"
    return out


def current_value(config: RunConfig, path: str) -> Any:
    """The run's value of ``path``; a model parameter it left unset has the builder's default."""
    section, _, rest = path.partition(".")
    name, _, key = rest.partition(".")
    value = config.to_dict()[section][name]
    if key:
        value = value.get(key, model_params(config.model.name).get(key))
    return list(value) if isinstance(value, tuple) else value


def _number(label: str, value: Any, spec: tuple | None, key: str) -> Any:
    """A slider over the registry range ``spec`` (decades for a "log" one), else a number box."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if spec and spec[0] <= value <= spec[1]:
        lo, hi, step = spec
        if step == "log":
            return st.select_slider(
                label, log_steps(lo, hi, float(value)), value=float(value), key=key, format_func=lambda v: f"{v:g}"
            )
        cast = int if is_int else float
        return cast(st.slider(label, cast(lo), cast(hi), cast(value), cast(step), key=key))
    if is_int:
        return int(st.number_input(label, value=value, step=1, key=key))
    return float(st.number_input(label, value=float(value), format="%g", key=key))


def value_widget(config: RunConfig, label: str, path: str, key: str) -> Any:
    """The widget for the setting ``path``, prefilled with the run's value; returns the new value."""
    value, field = current_value(config, path), path.rpartition(".")[2]
    wkey, text = f"{key}_v_{path}", f"new {label.lower()}"
    if path == "model.params":  # the conv blocks: the layer table; the rest of the parameters stay
        blocks = block_editor(value, wkey)
        keep = {k: v for k, v in value.items() if k not in TABLED["cnn"] or k == "fc"}
        return BAD if blocks is None else {**keep, **blocks}
    if field in TABLE_LABELS:
        units = units_editor(text, value, wkey)
        return BAD if units is None else units
    if path == "optim.lr":
        return _number(text, value, (1e-5, 1.0, "log"), wkey)
    choices = MODELS.choices(config.model.name) if path.startswith("model.params.") else {}
    if path in SELECTS or field in choices:  # a model parameter's choices: its own entry's (Registry.choices)
        opts = SELECTS[path]() if path in SELECTS else choices[field]
        return st.selectbox(text, opts, index=opts.index(value) if value in opts else 0, key=wkey)
    if path == "data.augment":
        given = {parse_spec(s)[0]: s for s in value}
        chosen = st.multiselect(
            text,
            list_augmentations(),
            default=[n for n in given],
            key=wkey,
            help="a kept one keeps its parameters; a new one starts from its defaults",
        )
        return [given.get(n, n) for n in chosen]
    if path == "train.batch_size":
        bs = st.number_input(text, value=value, min_value=1, step=16, key=wkey, placeholder="auto")
        return int(bs) if bs else None
    if path in ("data.train_limit", "optim.weight_decay"):
        v = st.number_input(
            f"{text} (0: {'all' if field == 'train_limit' else 'the default'})",
            min_value=0,
            value=value or 0,
            key=wkey,
            **({} if field == "train_limit" else {"format": "%g"}),
        )
        return v or None
    if isinstance(value, bool):
        return st.checkbox(text, value=value, key=wkey)
    if path == "optim.label_smoothing":
        return _number(text, value, (0.0, 0.95, 0.05), wkey)
    if isinstance(value, (int, float)):
        ranges = MODELS.ranges(config.model.name) if path.startswith("model.params.") else {}
        return _number(text, value, ranges.get(field), wkey)
    return st.text_input(text, value=str(value), key=wkey)


def run_again(config: RunConfig, start: Callable[[RunConfig], None], key: str = "ra") -> None:
    """Duplicate a run's setup, seed included; exactly one setting, picked by its label, differs."""
    options = settings_of(config)
    labels = list(options)
    label = st.selectbox("setting to change", labels, key=f"{key}_field", index=labels.index("Learning rate"))
    path = options[label]
    try:
        value = value_widget(config, label, path, key)
    except PlaygroundError as e:
        st.error(str(e), icon=":material/error:")
        value = BAD
    new = None
    if value is not BAD and value != current_value(config, path):
        new = guarded(lambda: with_change(config, path, value))
    elif value is not BAD:
        st.caption(f"Now **{label}** is the run's own value: change it to run again.")
    if new is not None:
        st.caption(
            f"Same data, model, seed ({config.train.seed}) and settings; only **{label}** changes "
            f"(`{json.dumps(current_value(config, path))}` → `{json.dumps(current_value(new, path))}`)."
        )
    if st.button("Run again with this change", key=f"{key}_go", disabled=new is None, icon=":material/replay:"):
        start(new)
