"""The Train page's setup form, by section: the model (architecture, its parameters, the initialisation), the
optimiser and the training settings; each returns its part of the RunConfig (the Data section is the page's)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_pages.course_controls import protocol_inputs
from app_pages.param_widgets import log_steps, param_widgets
from app_pages.train_layers import batch_size_input, model_form
from playground.config import PRECISIONS, ModelConfig, OptimConfig, RunConfig
from playground.models import list_models
from playground.train.init import INITS, list_inits
from playground.train.optim import SCHEDULES, list_optimizers, list_schedules
from playground.train.snapshots import DEFAULT_PROBES


def pick(label: str, options: list[str], value: str, key: str, **kw) -> str:
    return st.selectbox(label, options, index=options.index(value) if value in options else 0, key=key, **kw)


def model_section(base: RunConfig, dataset: str, errors: list[str]) -> ModelConfig | None:
    """Architecture, its parameters (tables, pickers or widgets) and the initialisation; None when a setting
    is off (the reason shown, and added to ``errors``)."""
    st.subheader("Model", divider="gray")
    # Autoencoders reconstruct images: they train on the Autoencoders page (task reconstruct).
    model = pick("architecture", list_models(task="classify"), base.model.name, "t_model")
    mparams = model_form(model, dict(base.model.params) if model == base.model.name else None, dataset)
    if mparams is None:
        errors.append("Fix the model's settings (see the message above) to start a run.")
    init = pick("weight initialisation", list_inits(), base.model.init, "t_init", help=INITS.doc(base.model.init))
    iparams = param_widgets(
        INITS.params(init),
        f"t_i_{init}",
        dict(base.model.init_params) if init == base.model.init else None,
        ranges=INITS.ranges(init),
        choices=INITS.choices(init),
    )
    return None if mparams is None else ModelConfig(name=model, params=mparams, init=init, init_params=iparams)


def optim_section(base: RunConfig) -> OptimConfig:
    """Optimiser, learning rate (a log slider), weight decay, schedule, label smoothing, gradient clipping."""
    st.subheader("Optimiser", divider="gray")
    opt = pick("optimiser", list_optimizers(), base.optim.name, "t_opt")
    lr = st.select_slider(
        "learning rate",
        log_steps(1e-5, 1.0, base.optim.lr),
        value=base.optim.lr,
        key="t_lr",
        format_func=lambda v: f"{v:g}",
        help="On a log scale: each step is about x2.",
    )
    wd = st.number_input(
        "weight decay (empty: the optimiser's default)",
        value=base.optim.weight_decay,
        format="%g",
        key="t_wd",
        min_value=0.0,
    )
    sched = pick(
        "learning-rate schedule",
        list_schedules(),
        base.optim.schedule,
        "t_sched",
        help=SCHEDULES.doc(base.optim.schedule),
    )
    sparams = param_widgets(
        dict(SCHEDULES.params(sched)),
        f"t_s_{sched}",
        dict(base.optim.schedule_params) if sched == base.optim.schedule else None,
        ranges=SCHEDULES.ranges(sched),
    )
    ls = st.slider("label smoothing", 0.0, 0.95, base.optim.label_smoothing, 0.05, key="t_ls")
    clip = st.number_input(
        "gradient clipping (max norm, 0: off)", value=base.optim.grad_clip, min_value=0.0, key="t_clip"
    )
    return OptimConfig(
        name=opt,
        lr=float(lr),
        weight_decay=wd,
        schedule=sched,
        schedule_params=sparams,
        label_smoothing=float(ls),
        grad_clip=float(clip),
    )


def training_settings(base: RunConfig) -> dict[str, Any]:
    """The Training section's widgets -> TrainConfig's fields."""
    st.subheader("Training", divider="gray")
    a, b = st.columns(2)
    bs = batch_size_input(a, base.train.batch_size)  # None: auto
    epochs = b.number_input(
        "epochs", value=float(base.train.epochs), min_value=0.01, step=1.0, format="%g", key="t_epochs"
    )
    seed = a.number_input("seed", value=base.train.seed, step=1, key="t_seed")
    device = pick("device", ["auto", "cpu", "cuda"], base.train.device, "t_device")
    precision = pick(
        "precision",
        list(PRECISIONS),
        base.train.precision,
        "t_precision",
        help="bf16 mixed precision: the convolutions and matrix products in 16-bit brain floats, "
        "the weights kept in 32 bits. auto uses it on a GPU and on a CPU with AMX units, "
        "where it trains 1.4-1.7x faster; fp32 elsewhere.",
    )
    record = b.toggle(
        "record snapshots and layer statistics",
        key="t_record",
        value=bool(set(DEFAULT_PROBES) & set(base.train.probes)) if st.query_params.get("cfg") else True,
        help="Per-epoch filter snapshots and per-layer weight histograms and gradient norms, "
        "for the Inside the network page (costs well under 5% of training time).",
    )
    probes = tuple(p for p in base.train.probes if p not in DEFAULT_PROBES) + (DEFAULT_PROBES if record else ())
    return {
        "epochs": float(epochs),
        "batch_size": bs,
        "seed": int(seed),
        "device": device,
        "precision": precision,
        "probes": probes,
        **protocol_inputs(base.train, "t_protocol"),
    }
