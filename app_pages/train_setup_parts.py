"""The Train page's setup helpers: the batch-size box (empty: auto) and, before Start, how many steps the
run will train, with a warning and a one-click fix when they are too few to learn from."""

from __future__ import annotations

import math

import streamlit as st

from app_pages.common import md
from playground.config import RunConfig
from playground.data import load_dataset
from playground.errors import PlaygroundError
from playground.train.plan import AUTO_BATCH_MAX, AUTO_MIN_STEPS, auto_batch_size, step_counts

MIN_STEPS = 100  # fewer optimisation steps than this and a run from scratch learns little


def batch_size_input(where, value: int | None) -> int | None:
    """The batch-size box; empty means auto (the engine picks it from the training set's size)."""
    bs = where.number_input("batch size", value=value, min_value=1, step=16, key="t_bs", placeholder="auto",
                            help=f"empty: auto, the largest power of two up to {AUTO_BATCH_MAX} that gives an "
                                 f"epoch at least {AUTO_MIN_STEPS} steps")
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
    except PlaygroundError as e:
        st.caption(f"Steps per epoch: known once the data set loads ({md(e)})")
        return
    auto, epochs = cfg.train.batch_size is None, cfg.train.epochs
    bs, per_epoch, total = step_counts(cfg, n)
    total = total if per_epoch else 0  # the batch does not fit: nothing trains
    st.caption(f"{n:,} training images, batch {bs}{' (auto)' if auto else ''}: **{per_epoch:,}** steps an epoch, "
               f"**{total:,}** in all.")
    if per_epoch >= 1 and total >= MIN_STEPS:
        return
    why = (f"the batch ({bs}) is larger than the training set ({n:,} images)" if per_epoch < 1 else
           f"{per_epoch} step{'s' if per_epoch != 1 else ''} an epoch for {epochs:g} epoch{'s' if epochs != 1 else ''}")
    st.warning(f"This run would train only {total} steps ({why}): too few for the "
               f"network to learn much; aim for at least {MIN_STEPS}.", icon=":material/warning:")
    new_bs, new_epochs = step_fix(cfg, n)
    changes = ([f"batch size auto ({auto_batch_size(n)})"] if new_bs != cfg.train.batch_size else []) + \
        ([f"{new_epochs:g} epochs"] if new_epochs != epochs else [])
    if changes and auto_batch_size(n) <= n:
        st.button(f"Use {' and '.join(changes)}", key="t_fix_steps", icon=":material/build:",
                  on_click=_apply_fix, args=(new_bs, new_epochs),
                  help=f"so the run trains at least {MIN_STEPS} steps")
