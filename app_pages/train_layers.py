"""The Train page's setup helpers: the model's layers edited as tables (one row per conv block or fully
connected layer) beside a picture of the architecture they build; the batch-size box (empty: auto) and,
before Start, how many steps the run will train, with a warning and a one-click fix when they are too few."""

from __future__ import annotations

import math

import streamlit as st

from app_pages.common import guarded, md
from app_pages.param_widgets import param_widgets
from app_pages.train_transfer_form import transfer_form
from playground.config import RunConfig
from playground.data import DATASETS, load_dataset
from playground.errors import ConfigError, PlaygroundError
from playground.models import MODELS, model_params
from playground.models.cnn import POOLS, architecture, block_rows, blocks_params, check_units
from playground.registry import PARAM_RANGES
from playground.train.plan import AUTO_BATCH_MAX, AUTO_MIN_STEPS, auto_batch_size, check_names, step_counts

MIN_STEPS = 100  # fewer optimisation steps than this and a run from scratch learns little
TABLED = {"cnn": ("channels", "kernel", "pool", "batch_norm", "blocks", "fc"), "mlp": ("hidden",)}  # in tables
OWN_FORMS = {"transfer": transfer_form}  # a model whose parameters need pickers of their own (runs, weights)


def block_editor(current: dict, key: str) -> dict | None:
    """The conv blocks as a table, one row per block; the CNN parameters it sets, or None (message shown)."""
    lo, hi, _ = PARAM_RANGES["channels"]
    klo, khi, kstep = MODELS.ranges("cnn")["kernel"]
    cols, small = st.column_config, {"width": "small", "required": True}
    rows = st.data_editor(
        block_rows(current),
        num_rows="dynamic",
        key=key,
        width="stretch",
        column_config={
            "channels": cols.NumberColumn(
                "channels",
                min_value=lo,
                max_value=hi,
                step=1,
                default=32,
                **small,
                help="feature maps this block makes",
            ),
            "kernel": cols.NumberColumn(
                "kernel",
                min_value=klo,
                max_value=khi,
                step=kstep,
                default=3,
                **small,
                help="odd: a k x k window, padded so the size stays",
            ),
            "pool": cols.SelectboxColumn(
                "pooling",
                options=list(POOLS),
                default="max",
                **small,
                help="max or avg halve the height and width; none keeps them",
            ),
            "batch_norm": cols.CheckboxColumn(
                "BN", default=True, width="small", help="batch norm: normalise each channel per batch"
            ),
        },
    )
    return guarded(lambda: blocks_params(rows))


def units_editor(label: str, values, key: str) -> list[int] | None:
    """A list of layer sizes as a one-column table (rows may be added and deleted; none is allowed)."""
    lo, hi, _ = PARAM_RANGES["units"]
    values = [values] if isinstance(values, int) else list(values or [])
    rows = st.data_editor(
        [{"units": v} for v in values],
        num_rows="dynamic",
        key=key,
        width="stretch",
        column_config={
            "units": st.column_config.NumberColumn(label, min_value=lo, max_value=hi, step=1, default=64, required=True)
        },
    )
    return guarded(lambda: check_units([r.get("units") for r in rows], label))


def layer_tables(model: str, current: dict, key: str) -> dict | None:
    """The tabled parameters of ``model`` (``TABLED``), edited; only those that differ from the defaults."""
    defaults = model_params(model)
    if model == "mlp":
        hidden = units_editor("hidden units", current.get("hidden", defaults["hidden"]), f"{key}_hidden")
        return None if hidden is None else ({} if hidden == list(defaults["hidden"]) else {"hidden": hidden})
    left, right = st.columns([5, 2])
    with left:
        blocks = block_editor(current, f"{key}_blocks")
    with right:
        fc = units_editor("fc units", current.get("fc", defaults["fc"]), f"{key}_fc")
    if blocks is None or fc is None:
        return None
    return {**blocks, **({} if fc == list(defaults["fc"]) else {"fc": fc})}


def dataset_options(dataset: str, current: dict | None) -> dict:
    """The data set's own parameters (shapes: how many images, their size, the seed; a folder: image size,
    colour mode, test split), folded away unless set: only values that differ from the defaults, so a link's
    settings come back as they were. ``download`` is the data section's own switch, not one of these."""
    defaults = {k: v for k, v in DATASETS.params(dataset).items() if k != "download"}
    if not defaults:
        return {}
    with st.expander(f"{dataset} options", expanded=bool(current)):
        return param_widgets(
            defaults, f"t_d_{dataset}", current, ranges=DATASETS.ranges(dataset), choices=DATASETS.choices(dataset)
        )


@st.cache_data(max_entries=256, show_spinner=False)
def _architecture_rows(model: str, params: dict, in_shape: tuple, num_classes: int) -> list[dict]:
    """``architecture``, once per setup (a page rerun, every new epoch of every viewer, draws the same)."""
    return architecture(model, params, in_shape, num_classes)


def architecture_picture(model: str, params: dict, dataset: str) -> bool:
    """Per stage of the network: what it is, its output shape and its parameters (a bar per row), built
    by the core on the meta device; False (with the reason shown) when the settings cannot build."""
    facts = DATASETS.facts(dataset)
    rows = guarded(lambda: _architecture_rows(model, params, tuple(facts["input_shape"]()), facts["num_classes"] or 10))
    if rows is None:
        return False
    total = sum(r["params"] for r in rows)
    short = lambda r: r["layer"] + (
        f" · {r['what'].replace(' conv', '').replace('batch norm', 'BN')}" if r["layer"].startswith("conv") else ""
    )
    st.dataframe(
        [{"layer": short(r), "output": " × ".join(map(str, r["output"])), "parameters": r["params"]} for r in rows],
        hide_index=True,
        key="t_arch",
        width="stretch",
        column_config={
            "parameters": st.column_config.ProgressColumn(
                "parameters", format="compact", min_value=0, max_value=max(r["params"] for r in rows) or 1
            )
        },
    )
    st.caption(
        f"**{total:,}** parameters for {facts['input_shape']()} images"
        + ("" if facts["num_classes"] else " (10 classes assumed until the folder is read)")
    )
    return True


def model_form(model: str, current: dict | None, dataset: str) -> dict | None:
    """The model's parameters: layer lists as tables beside the architecture they build (cnn, mlp), the rest
    as widgets typed by their defaults. Only values that differ from the defaults; None when a cell is bad."""
    if model in OWN_FORMS:
        return OWN_FORMS[model](current, dataset)
    current = dict(current or {})
    tabled = TABLED.get(model, ())
    rest = {k: v for k, v in model_params(model).items() if k not in tabled}
    if not tabled:
        return param_widgets(rest, f"t_m_{model}", current, ranges=MODELS.ranges(model), choices=MODELS.choices(model))
    # the conv-block table needs the column's width (the picture goes below it); the MLP's list is narrow
    left, right = st.columns([1, 2]) if model == "mlp" else (st.container(), st.container())
    with left:
        tables = layer_tables(model, current, f"t_m_{model}")
    params = param_widgets(
        rest,
        f"t_m_{model}",
        {k: v for k, v in current.items() if k not in tabled},
        ranges=MODELS.ranges(model),
        choices=MODELS.choices(model),
    )
    if tables is None:
        return None
    params = {**tables, **params}
    with right:
        built = architecture_picture(model, params, dataset)
    return params if built else None


def batch_size_input(where, value: int | None) -> int | None:
    """The batch-size box; empty means auto (the engine picks it from the training set's size). A link's
    larger batch shows as the largest the box takes (a batch that size would not fit a worker's memory)."""
    value = None if value is None else min(int(value), 4096)
    bs = where.number_input(
        "batch size",
        value=value,
        min_value=1,
        max_value=4096,
        step=16,
        key="t_bs",
        placeholder="auto",
        help=f"empty: auto, the largest power of two up to {AUTO_BATCH_MAX} that gives an "
        f"epoch at least {AUTO_MIN_STEPS} steps",
    )
    return int(bs) if bs else None


def train_size(cfg: RunConfig) -> int:
    """Training images the run will use: the data set (loaded as the run and the previews load it, from
    the process's cache after the first time) cut to ``train_limit``."""
    d = cfg.data
    n = len(load_dataset(d.dataset, root=d.data_root, download=d.download, **dict(d.params)).train_y)
    return n if d.train_limit is None else min(n, d.train_limit)


def step_fix(cfg: RunConfig, n_train: int) -> tuple[int | None, float]:
    """(batch size, epochs) that give the run at least ``MIN_STEPS`` steps: a batch size that leaves
    an epoch fewer than ``AUTO_MIN_STEPS`` steps goes to auto (None); then the epochs go up as needed."""
    bs, per_epoch, _ = step_counts(cfg, n_train)
    new_bs = cfg.train.batch_size
    if per_epoch < AUTO_MIN_STEPS and new_bs is not None and auto_batch_size(n_train) < bs:
        new_bs, per_epoch = None, n_train // auto_batch_size(n_train)
    epochs = cfg.train.epochs
    if round(epochs * per_epoch) < MIN_STEPS:
        epochs = float(math.ceil(MIN_STEPS / max(per_epoch, 1)))
    return new_bs, epochs


def _apply_fix(bs: int | None, epochs: float) -> None:  # a button callback: runs before the widgets exist
    st.session_state.t_bs = bs
    st.session_state.t_epochs = epochs


def step_plan(cfg: RunConfig) -> None:
    """Steps per epoch and in all, before Start; below ``MIN_STEPS``, a warning and a button that fixes it."""
    try:
        with st.spinner("Counting the training images ..."):
            n = train_size(cfg)
    except ConfigError as e:  # a setting to change (shapes with 5 images, a folder's bad image): say so now
        st.error(f"{e}")
        return
    except PlaygroundError as e:  # not there yet (a download): the run fetches it
        st.caption(f"Steps per epoch: known once the data set loads ({md(e)})")
        return
    auto, epochs = cfg.train.batch_size is None, cfg.train.epochs
    bs, per_epoch, total = step_counts(cfg, n)
    total = total if per_epoch else 0  # the batch does not fit: nothing trains
    st.caption(
        f"{n:,} training images, batch {bs}{' (auto)' if auto else ''}: **{per_epoch:,}** steps an epoch, "
        f"**{total:,}** in all."
    )
    if per_epoch >= 1 and total >= MIN_STEPS:
        return
    why = (
        f"the batch ({bs}) is larger than the training set ({n:,} images)"
        if per_epoch < 1
        else f"{per_epoch} step{'s' if per_epoch != 1 else ''} an epoch "
        f"for {epochs:g} epoch{'s' if epochs != 1 else ''}"
    )
    st.warning(
        f"This run would train only {total} steps ({why}): too few for the "
        f"network to learn much; aim for at least {MIN_STEPS}.",
        icon=":material/warning:",
    )
    new_bs, new_epochs = step_fix(cfg, n)
    changes = ([f"batch size auto ({auto_batch_size(n)})"] if new_bs != cfg.train.batch_size else []) + (
        [f"{new_epochs:g} epochs"] if new_epochs != epochs else []
    )
    if changes and auto_batch_size(n) <= n:
        st.button(
            f"Use {' and '.join(changes)}",
            key="t_fix_steps",
            icon=":material/build:",
            on_click=_apply_fix,
            args=(new_bs, new_epochs),
            help=f"so the run trains at least {MIN_STEPS} steps",
        )


# -- the setup a link holds ----------------------------------------------------------


def url_config(text: str | None) -> RunConfig:
    """The setup in the link (``?cfg=``), checked like any input; a bad one falls back to the defaults."""
    if not text:
        return RunConfig()

    def checked() -> RunConfig:
        cfg = RunConfig.from_url(text)
        check_names(cfg)
        return cfg

    cfg = guarded(checked)
    if cfg is None:
        st.warning("The setup in this link could not be used (see above); the defaults are shown instead.")
    return cfg or RunConfig()


def folded_setup(text: str | None, base: RunConfig) -> RunConfig:
    """The setup a folded form reopens with: the last one it made (the page keeps it in ``?cfg=`` on every
    run), else ``base``. Quiet: the form's own link always parses, and a hand-edited one that does not keeps
    the setup as it was."""
    try:
        return RunConfig.from_url(text) if text else base
    except PlaygroundError:
        return base
