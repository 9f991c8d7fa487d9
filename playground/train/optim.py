"""Optimiser and learning-rate schedule registries over ``torch.optim``.

Schedules are stepped once per optimisation step (not per epoch), so the
one-cycle and cosine curves are smooth and an epoch count can be fractional.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import torch
from torch.optim import lr_scheduler

from ..errors import ConfigError
from ..registry import Registry

__all__ = ["OPTIMIZERS", "SCHEDULES", "build_optimizer", "fused", "build_schedule", "list_optimizers", "list_schedules"]

Params = Iterable[torch.nn.Parameter] | Iterable[dict[str, Any]]
FUSED_DEVICES = ("cpu", "cuda")


def fused(params: object, devices: tuple[str, ...] = FUSED_DEVICES) -> bool | None:
    """True where torch's fused kernel can step every parameter (floating point, all on the CPU or all on CUDA):
    one kernel per parameter instead of a dozen small ops (Adam's step is about 2.7x faster on this project's
    2-core CPU for the MNIST CNN). None keeps torch's default (a meta device, mixed devices). ``params``: a
    list of parameters or of param groups, as ``build_optimizer`` hands them on (anything else, such as a
    generator, which reading would use up: None). ``devices``: those the optimiser's kernel runs on."""
    if not isinstance(params, (list, tuple)):
        return None
    tensors = [q for g in params for q in (g["params"] if isinstance(g, dict) else [g])]
    types = {q.device.type for q in tensors}
    if len(types) == 1 and types <= set(devices) and all(q.is_floating_point() for q in tensors):
        return True
    return None


OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
SCHEDULES: Registry[Callable[..., lr_scheduler.LRScheduler]] = Registry("schedule")


@OPTIMIZERS.register("sgd")
def sgd(params: Params, *, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Plain stochastic gradient descent."""
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, fused=fused(params))


@OPTIMIZERS.register("momentum")
def momentum(params: Params, *, lr: float, weight_decay: float = 0.0, momentum: float = 0.9) -> torch.optim.Optimizer:
    """SGD with (heavy-ball) momentum."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, fused=fused(params))


@OPTIMIZERS.register("nesterov")
def nesterov(params: Params, *, lr: float, weight_decay: float = 0.0, momentum: float = 0.9) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum."""
    return torch.optim.SGD(
        params, lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay, fused=fused(params)
    )


@OPTIMIZERS.register("adam")
def adam(
    params: Params, *, lr: float, weight_decay: float = 0.0, beta1: float = 0.9, beta2: float = 0.999
) -> torch.optim.Optimizer:
    """Adam (weight decay added to the gradient, L2 style)."""
    return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2), weight_decay=weight_decay, fused=fused(params))


@OPTIMIZERS.register("adamw")
def adamw(
    params: Params, *, lr: float, weight_decay: float = 0.01, beta1: float = 0.9, beta2: float = 0.999
) -> torch.optim.Optimizer:
    """AdamW (decoupled weight decay)."""
    return torch.optim.AdamW(params, lr=lr, betas=(beta1, beta2), weight_decay=weight_decay, fused=fused(params))


@OPTIMIZERS.register("rmsprop")
def rmsprop(
    params: Params, *, lr: float, weight_decay: float = 0.0, alpha: float = 0.99, momentum: float = 0.0
) -> torch.optim.Optimizer:
    """RMSprop."""
    return torch.optim.RMSprop(params, lr=lr, alpha=alpha, momentum=momentum, weight_decay=weight_decay)


@OPTIMIZERS.register("adagrad")
def adagrad(params: Params, *, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adagrad."""
    return torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay, fused=fused(params, ("cpu",)))  # CPU only


@OPTIMIZERS.register("adadelta")
def adadelta(params: Params, *, lr: float, weight_decay: float = 0.0, rho: float = 0.9) -> torch.optim.Optimizer:
    """Adadelta (lr scales its step; 1.0 is the paper's setting)."""
    return torch.optim.Adadelta(params, lr=lr, rho=rho, weight_decay=weight_decay)


def build_optimizer(
    name: str, params: Params, *, lr: float, weight_decay: float | None = None, **extra: Any
) -> torch.optim.Optimizer:
    """``OPTIMIZERS[name]`` over ``params`` (parameters or param groups; generators are read once here), with
    torch's fused kernels where the optimiser has one and every parameter allows it (``fused``)."""
    groups = [
        dict(g, params=[g["params"]] if isinstance(g["params"], torch.Tensor) else list(g["params"]))
        if isinstance(g, dict)
        else g
        for g in params
    ]
    try:
        return OPTIMIZERS.call(name, groups, lr=lr, weight_decay=weight_decay, **extra)
    except ValueError as e:  # torch.optim's own range checks ("Invalid momentum value: ...")
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{name}: {e}.") from None


# -- schedules: total_steps and steps_per_epoch come from the engine --------


@SCHEDULES.register("constant")
def constant(opt, *, total_steps: int, steps_per_epoch: int) -> lr_scheduler.LRScheduler:
    """The learning rate stays fixed."""
    return lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)


@SCHEDULES.register("step")
def step(
    opt, *, total_steps: int, steps_per_epoch: int, every_epochs: float = 1.0, gamma: float = 0.1
) -> lr_scheduler.LRScheduler:
    """Multiply the learning rate by gamma every few epochs."""
    if every_epochs <= 0 or not 0 < gamma <= 1:
        raise ConfigError("step schedule: every_epochs must be > 0 and gamma in (0, 1].")
    return lr_scheduler.StepLR(opt, step_size=max(1, round(every_epochs * steps_per_epoch)), gamma=gamma)


@SCHEDULES.register("cosine")
def cosine(opt, *, total_steps: int, steps_per_epoch: int, min_lr_ratio: float = 0.0) -> lr_scheduler.LRScheduler:
    """Cosine decay from lr to min_lr_ratio * lr over the run."""
    base = opt.param_groups[0]["lr"]
    if min_lr_ratio > 0 and len({g["lr"] for g in opt.param_groups}) > 1:
        # Per-group rates (a backbone below its head): CosineAnnealingLR's one eta_min would lift the
        # lower group; scaling each group's own rate keeps every floor at min_lr_ratio of it.
        t_max = max(1, total_steps)
        return lr_scheduler.LambdaLR(
            opt, lambda s: min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(s, t_max) / t_max))
        )
    return lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total_steps), eta_min=base * min_lr_ratio)


@SCHEDULES.register("onecycle")
def onecycle(
    opt,
    *,
    total_steps: int,
    steps_per_epoch: int,
    pct_start: float = 0.25,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> lr_scheduler.LRScheduler:
    """One-cycle (Smith): warm up to lr, then anneal (cosine) far below it."""
    if not 0 < pct_start < 1:
        raise ConfigError(f"onecycle: pct_start must be in (0, 1) (got {pct_start}).")
    max_lr = [g["lr"] for g in opt.param_groups]
    n = max(2, total_steps)
    if float(pct_start * n) - 1 == 0:  # torch's warm-up would end at step 0 and divide by zero (4 steps, 0.25)
        n += 1
    return lr_scheduler.OneCycleLR(
        opt, max_lr=max_lr, total_steps=n, pct_start=pct_start, div_factor=div_factor, final_div_factor=final_div_factor
    )


def build_schedule(
    name: str, opt: torch.optim.Optimizer, *, total_steps: int, steps_per_epoch: int, **params: Any
) -> lr_scheduler.LRScheduler:
    return SCHEDULES.call(name, opt, total_steps=total_steps, steps_per_epoch=steps_per_epoch, **params)


def list_optimizers() -> list[str]:
    return OPTIMIZERS.names()


def list_schedules() -> list[str]:
    return SCHEDULES.names()
