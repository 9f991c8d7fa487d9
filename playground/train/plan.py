"""What one run trains with, known before it trains: the batch size and step counts, the checks of
its names, the validation split and ``prepare`` (data and model on the device: a ``Prepared``, with
the facts its model states applied). ``run_setup.py`` builds the rest of a run on it (``Setup``: the
task, optimiser, schedule, generator and probes) and draws each epoch's order."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
import torch.nn as nn

from ..config import RunConfig
from ..data import DATASETS, load_dataset
from ..data.augment import build_pipeline
from ..data.normalise import normalisation_stats, parse_normalisation
from ..device import autocast_dtype, resolve_device
from ..errors import ConfigError
from ..models import ENGINE_PARAMS, MODELS, build_model
from ..registry import Registry
from ..seeding import seeded
from .feature_cache import cache_features
from .init import INITS, init_weights
from .optim import OPTIMIZERS, SCHEDULES
from .prepared import Prepared
from .probes import PROBES
from .tasks import TASKS

__all__ = [
    "AUTO_BATCH_MAX",
    "apply_model_facts",
    "auto_batch_size",
    "batch_size_for",
    "check_names",
    "prepare",
    "step_counts",
    "val_split",
]

AUTO_BATCH_MAX = 64  # the largest batch the auto rule picks (the gate estimates memory with it)
AUTO_MIN_STEPS = 20  # the auto rule gives an epoch at least this many steps (from 40 training images on)


def auto_batch_size(n_train: int) -> int:
    """The batch size a run gets when it sets none: the largest power of two that gives an epoch at least
    ``AUTO_MIN_STEPS`` steps, from 2 to ``AUTO_BATCH_MAX`` (8,000 images: 64; 150 images: 4). On ``shapes``
    on a CPU, 64 costs about what 128 does per epoch and learns more per epoch (docs/BENCHMARKS.md,
    "Defaults that learn")."""
    room = max(2, min(AUTO_BATCH_MAX, n_train // AUTO_MIN_STEPS))
    return 1 << (room.bit_length() - 1)


def batch_size_for(config: RunConfig, n_train: int) -> int:
    """The batch size ``config`` trains with on ``n_train`` images: its own, or the auto rule's (None)."""
    bs = config.train.batch_size
    return auto_batch_size(n_train) if bs is None else bs


def step_counts(config: RunConfig, n_train: int) -> tuple[int, int, int]:
    """(batch size, steps per epoch, total steps) of ``config`` on ``n_train`` training images: what the
    run will do, known before it starts (the Train page shows it)."""
    bs = batch_size_for(config, n_train)
    steps_per_epoch = n_train // bs  # drop_last: every batch full (BatchNorm needs > 1 sample)
    return bs, steps_per_epoch, max(1, round(config.train.epochs * steps_per_epoch))


def prepare(config: RunConfig, runs_root=None) -> Prepared:
    """Validate the config, load data (cached) and build the model on the device. ``runs_root``: the
    run store the run is saved in (where a transfer model finds its source run; default: settings)."""
    check_names(config)
    d, m, t = config.data, config.model, config.train
    device = resolve_device(t.device)
    augment = build_pipeline(d.augment)  # bad specs fail before the (slow) data load
    data = load_dataset(d.dataset, root=d.data_root, download=d.download, **dict(d.params))
    n_all = len(data.train_y) if d.train_limit is None else min(d.train_limit, len(data.train_y))
    keep, held = val_split(n_all, t.val_fraction, t.seed)
    n_train = len(keep)
    bs = batch_size_for(config, n_train)
    if bs > n_train:
        raise ConfigError(
            f"Batch size {bs} is larger than the training set ({n_train} images); "
            f"use a batch size of at most {n_train}."
        )
    if bs < 2:
        raise ConfigError(
            "Batch size must be at least 2: batch normalisation and the loss need more than one image per step."
        )
    with seeded(t.seed):  # model initialisation
        model = build_model(
            m.name, in_shape=data.shape, num_classes=data.num_classes, runs_root=runs_root, **dict(m.params)
        )
        init_weights(model, m.init, **dict(m.init_params))
    # channels_last pays on CUDA and, measured here, on the CPU too (6.1k vs 3.9k img/s, small CNN).
    channels_last = any(isinstance(mod, nn.Conv2d) for mod in model.modules())
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device, memory_format=fmt)  # type: ignore[call-overload]  # stubs lack to(device, memory_format=)
    c = data.shape[0]
    mean, std = normalisation_stats(d.normalize, data)  # data.normalize: the training split's, none, fixed, ...
    p = Prepared(
        config=config,
        data=data,
        device=device,
        model=model,
        train_x=data.train_x[:n_all].to(device),
        train_y=data.train_y[:n_all].to(device),
        test_x=data.test_x.to(device),
        test_y=data.test_y.to(device),
        mean=torch.tensor(mean, device=device, dtype=torch.float32).view(1, c, 1, 1),
        std=torch.tensor(std, device=device, dtype=torch.float32).view(1, c, 1, 1),
        augment=augment,
        channels_last=channels_last,
        autocast_dtype=autocast_dtype(device, t.precision),
    )
    # A model may adapt what it is fed (its own normalisation; the transfer model's feature cache).
    p = apply_model_facts(model, p)
    if len(held):  # the validation split: held out of the (possibly cached) training rows
        keep, held = keep.to(device), held.to(device)
        p = dataclasses.replace(
            p, train_x=p.train_x[keep], train_y=p.train_y[keep], val_x=p.train_x[held], val_y=p.train_y[held]
        )
    return p


def val_split(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (kept for training, held out for validation) of ``n`` training images: a seeded draw of
    ``round(n * fraction)`` held out (the course's ``valid_size``), both in stored order."""
    n_val = int(round(n * fraction))
    if fraction > 0 and not 1 <= n_val <= n - 2:
        raise ConfigError(
            f"A validation fraction of {fraction:g} of {n:,} training images holds out {n_val}; "
            "use a larger fraction or more images (at least one to validate, two to train)."
        )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def apply_model_facts(model: nn.Module, p: Prepared) -> Prepared:
    """What a model states about what it is fed (the transfer model's): an initialisation it refuses
    (``check_init``), its own normalisation (``normalises_input``: the engine hands over [0, 1] images,
    ``adopt_data_stats`` takes the data's statistics) and a feature cache (``uses_feature_cache``)."""
    if callable(check_init := getattr(model, "check_init", None)):
        check_init(p.config.model.init)
    if getattr(model, "normalises_input", False):
        if callable(adopt := getattr(model, "adopt_data_stats", None)):
            adopt(p.mean, p.std, p.config.data.normalize)  # the run's choice, where the model takes it
        p.mean = torch.zeros_like(p.mean)
        p.std = torch.ones_like(p.std)
    if callable(uses := getattr(model, "uses_feature_cache", None)) and uses(p.config.data.augment):
        return cache_features(p)
    return p


def check_names(config: RunConfig) -> None:
    """Fail fast, before any data is loaded, on unknown registry names or bad values."""
    config.validate()
    d, m, o, t = config.data, config.model, config.optim, config.train
    names: tuple[tuple[Registry[Any], str], ...] = (
        (DATASETS, d.dataset),
        (MODELS, m.name),
        (INITS, m.init),
        (OPTIMIZERS, o.name),
        (SCHEDULES, o.schedule),
        (TASKS, t.task),
        *((PROBES, n) for n in t.probes),
    )
    for reg, name in names:
        reg.check(name)
    # Parameters the engine passes itself cannot come from the config too.
    DATASETS.check_reserved(d.params, ("root", "download"), "use the data folder and download settings")
    MODELS.check_reserved(m.params, ENGINE_PARAMS, "the engine sets them (data shape, run store)")
    OPTIMIZERS.check_reserved(o.params, ("lr", "weight_decay"), "they have settings of their own")
    SCHEDULES.check_reserved(o.schedule_params, ("total_steps", "steps_per_epoch"), "the engine sets them")
    TASKS.get(t.task).check_config(config)
    build_pipeline(config.data.augment)
    parse_normalisation(config.data.normalize)
    resolve_device(config.train.device)
