"""What one run trains with, known before it trains: the batch size and step counts, the checks of
its names, ``prepare`` (data and model on the device: a ``Prepared``) and ``Setup`` (with the task,
optimiser, schedule, generator and probes), and each epoch's order of the training images."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from ..config import RunConfig
from ..data import DATASETS, load_dataset
from ..data.augment import build_pipeline
from ..data.normalise import normalisation_stats, parse_normalisation
from ..device import autocast_dtype, device_label, resolve_device
from ..errors import ConfigError
from ..models import ENGINE_PARAMS, MODELS, build_model
from ..models.layers import use_generator
from ..registry import Registry
from ..runs import Run
from ..seeding import seeded
from .feature_cache import cache_features
from .init import INITS, init_weights
from .optim import OPTIMIZERS, SCHEDULES, build_optimizer, build_schedule
from .prepared import Prepared
from .probes import PROBES, build_probes
from .tasks import TASKS, build_task

__all__ = [
    "AUTO_BATCH_MAX",
    "Setup",
    "auto_batch_size",
    "batch_size_for",
    "check_names",
    "epoch_order",
    "prepare",
    "setup",
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


@dataclass
class Setup:
    """What one run trains with, built from its config: the prepared data and model, the task, the
    optimiser and schedule, the generator of every random draw, the probes, and the step counts."""

    config: RunConfig
    p: Prepared
    task: Any
    opt: torch.optim.Optimizer
    sched: Any
    gen: torch.Generator
    probes: list
    steps_per_epoch: int
    total_steps: int
    n_epochs: int
    batch_size: int  # the one it trains with: the config's, or the auto rule's (``batch_size_for``)
    # With a validation split: the epoch with the lowest validation loss so far (epoch, val_loss, model state).
    best: dict[str, Any] | None = None

    def validate(self) -> dict[str, Any]:
        """The validation split's figures (``val_loss``, ``val_acc`` ...), or {} without one."""
        if self.p.val_x is None:
            return {}
        ev = self.task.evaluate(self.p.validation_view())
        return {
            "val_" + k[5:]: round(v, 5) for k, v in ev.items() if k.startswith("test_") and isinstance(v, (int, float))
        }

    def keep_if_best(self, ev: dict[str, Any]) -> None:
        """Keep the model of an epoch whose validation loss is the lowest so far (the course saves model.pt
        whenever it does not increase) and mark its event ``val_best``."""
        if "val_loss" not in ev or ev.get("partial"):
            return
        if self.best is None or ev["val_loss"] <= self.best["val_loss"]:
            state = {k: v.detach().clone() for k, v in self.p.model.state_dict().items()}
            self.best = {"epoch": ev["epoch"] + 1, "val_loss": ev["val_loss"], "model": state}
            ev["val_best"] = True

    def use_best(self) -> dict[str, Any]:
        """Load the kept best-validation weights into the model -> the final event's fields about them."""
        if self.best is None:
            return {}
        self.p.model.load_state_dict(self.best["model"])
        return {"best_epoch": self.best["epoch"], "best_val_loss": self.best["val_loss"]}

    def probe_fields(self, hook: str, *args: int) -> dict[str, Any]:
        """What the probes add to an event (``hook``: on_start, on_log or on_epoch)."""
        out: dict[str, Any] = {}
        for probe in self.probes:
            out.update(getattr(probe, hook)(*args) or {})
        return out

    def start_event(self, run: Run | None) -> dict[str, Any]:
        p, model = self.p, self.p.model
        return {
            "kind": "start",
            "run_id": run.run_id if run else None,
            "device": device_label(p.device),
            "precision": "bf16" if p.autocast_dtype == torch.bfloat16 else "fp32",
            **({"threads": torch.get_num_threads()} if p.device.type == "cpu" else {}),
            "dataset": p.data.summary(),
            "task": self.config.train.task,
            "train_images": len(p.train_y),
            **({"val_images": len(p.val_y)} if p.val_y is not None else {}),
            "parameters": sum(q.numel() for q in model.parameters()),
            "trainable_parameters": sum(q.numel() for q in model.parameters() if q.requires_grad),
            # which parts train (a transfer model's unfrozen blocks, then its new head)
            **(
                {"trains": [*blocks(), "new head"]}
                if callable(blocks := getattr(model, "trainable_blocks", None))
                else {}
            ),
            "batch_size": self.batch_size,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "epochs": self.config.train.epochs,
            **self.probe_fields("on_start"),
            "started_at": round(time.time(), 3),
        }

    def resumable_state(
        self, epochs_done: int, step: int, t: float, within: tuple[int, torch.Tensor] | None = None
    ) -> dict[str, Any]:
        """The checkpoint at the end of ``epochs_done`` epochs, or ``within`` one: (steps of the epoch
        done, the generator's state when the epoch drew its order), so a resume replays the same order."""
        state = {
            "model": self.p.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "generator": self.gen.get_state(),
            "epoch": epochs_done,
            "epochs_done": epochs_done,
            "step": step,
            "t": t,
            "config": self.config.to_dict(),
        }
        if self.best is not None:
            state["best"] = self.best
        if within is not None:
            state["in_epoch"], state["epoch_generator"] = within
        return state

    def final_state(self, epoch: int, step: int, epochs_done: int) -> dict[str, Any]:
        """What a model file needs to be used without the data set (exports, the inspection page).
        mean/std: the normalisation the model's input really had (identity for a model that normalises itself)."""
        p = self.p
        data = {
            "shape": list(p.data.shape),
            "classes": list(p.data.classes),
            "mean": p.mean.flatten().tolist(),
            "std": p.std.flatten().tolist(),
        }
        return {
            "model": p.model.state_dict(),
            "config": self.config.to_dict(),
            "step": step,
            "epoch": epoch,
            "epochs_done": epochs_done,
            "data": data,
        }

    def apply_change(self, change: dict[str, float]) -> dict[str, float]:
        """Apply settings changed while training -> what was applied. A new learning rate rescales the
        schedule (its peak, start and end too), so it goes on from the new value with the same shape."""
        out: dict[str, float] = {}
        if "lr" in change:
            current = self.sched.get_last_lr()[0] or self.opt.param_groups[0]["lr"]
            scale = change["lr"] / current if current > 0 else 1.0
            for g in self.opt.param_groups:
                for key in ("lr", "initial_lr", "max_lr", "min_lr"):
                    if key in g:
                        g[key] *= scale
            self.sched.base_lrs = [b * scale for b in self.sched.base_lrs]
            self.sched._last_lr = [g["lr"] for g in self.opt.param_groups]
            out["lr"] = self.opt.param_groups[0]["lr"]
        for g in self.opt.param_groups:
            if "momentum" in change and "momentum" in g:
                g["momentum"] = out["momentum"] = change["momentum"]
            elif "momentum" in change and "betas" in g:  # Adam's momentum is its first beta
                g["betas"] = (change["momentum"], g["betas"][1])
                out["momentum"] = change["momentum"]
            if "weight_decay" in change and "weight_decay" in g:
                g["weight_decay"] = out["weight_decay"] = change["weight_decay"]
        return out

    def restore(self, state: dict[str, Any]) -> tuple[int, int, str | None]:
        """Load a checkpoint's training state; -> (epoch, step, note for the resumed event). A checkpoint
        saved within an epoch (``in_epoch``) continues that epoch (``epoch_order``)."""
        self.p.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        epoch, step = int(state["epoch"]), int(state["step"])
        self.best = state.get("best")
        try:
            self.gen.set_state(state["generator"].cpu())
            return epoch, step, None
        except RuntimeError:  # written on another device type (a GPU run resumed on a CPU)
            self.gen.manual_seed(self.config.train.seed + epoch)
            return epoch, step, "checkpoint from another device type: shuffling and augmentation draws were re-seeded"


def setup(config: RunConfig, run: Run | None = None) -> Setup:
    p = prepare(config, run.dir.parent if run is not None else None)
    task = build_task(config)
    task.check(p)
    t, o, model = config.train, config.optim, p.model
    bs, steps_per_epoch, total_steps = step_counts(config, len(p.train_y))
    # A model may split its parameters into groups (a pretrained backbone at a lower rate than
    # its new head); frozen parameters (requires_grad False) never reach the optimiser.
    groups = (
        param_groups(o.lr)
        if callable(param_groups := getattr(model, "param_groups", None))
        else [q for q in model.parameters() if q.requires_grad]
    )
    opt = build_optimizer(o.name, groups, lr=o.lr, weight_decay=o.weight_decay, **dict(o.params))
    sched = build_schedule(
        o.schedule, opt, total_steps=total_steps, steps_per_epoch=steps_per_epoch, **dict(o.schedule_params)
    )
    gen = torch.Generator(device=p.device).manual_seed(t.seed)
    use_generator(model, gen)  # dropout draws from the run's generator too: a seed repeats the whole run
    return Setup(
        config=config,
        p=p,
        task=task,
        opt=opt,
        sched=sched,
        gen=gen,
        probes=build_probes(t.probes, p, run),
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        n_epochs=math.ceil(total_steps / steps_per_epoch),
        batch_size=bs,
    )


def epoch_order(s: Setup, within: dict[str, Any] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """An epoch's order of the training images, drawn from the run's generator, and the generator's
    state it was drawn from. ``within``: a checkpoint saved inside the epoch, whose order is drawn again
    from the state it saved (the generator then goes on from where it was)."""
    p, gen = s.p, s.gen
    if not s.config.train.shuffle:  # the stored order every epoch (the course's loaders without shuffle)
        return torch.arange(len(p.train_y), device=p.device), gen.get_state()
    saved = within.get("epoch_generator") if within else None
    if saved is None:
        state = gen.get_state()
        return torch.randperm(len(p.train_y), generator=gen, device=p.device), state
    now = gen.get_state()
    gen.set_state(saved.cpu())
    perm = torch.randperm(len(p.train_y), generator=gen, device=p.device)
    gen.set_state(now)
    return perm, saved
