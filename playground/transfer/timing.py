"""What a transfer run will cost per epoch, known before Start without building its network's weights.

The Transfer page asks for this on every change, in the web server's own process, so nothing here may grow
with the backbone: VGG16 at 224 px and batch 64 took gigabytes when the estimate trained a few real steps.

- The run's own model (backbone, freezing, input size, the preprocessing inside it, the feature cache) is built
  on the meta device: shapes only, no weights read and no memory. Its training step (forward and backward as
  autograd runs them with this freezing), its evaluation and its feature pass are counted in FLOPs
  (``torch.utils.flop_counter``), at the batch the run will use (``plan.step_counts``).
- FLOPs become seconds with this device's measured rate (``calibrate``): a small fixed convolutional network's
  training step, a step of a tiny one (the fixed cost of any step) and the run's optimiser over one million
  parameters, timed once per (device, threads, precision, optimiser) and kept (a few MB, a fraction of a second;
  one calibration at a time in the process). Each backbone's layers run at their own pace per FLOP relative to
  that network (``Backbone.speed``, measured once with ``benchmarks/transfer_bench.py --speeds``).

An epoch = steps per epoch x (the fixed cost + the step's FLOPs at the rate + the optimiser over the trainable
parameters) + the test split's evaluation. The comparison with real runs is
``benchmarks/transfer_bench.py --estimate`` (docs/BENCHMARKS.md), not a timed test.
"""

from __future__ import annotations

import json
import math
import statistics
import threading
import time
from contextlib import nullcontext
from functools import lru_cache
from typing import Any, Callable

import torch
import torch.nn as nn

from ..config import RunConfig
from ..device import autocast_dtype, resolve_device
from ..models import build_model
from ..models.backbones import BACKBONES
from ..models.recipes import default_recipe
from ..train.optim import build_optimizer
from ..train.plan import step_counts

__all__ = ["calibrate", "estimate_epoch", "layer_flops", "meta_model"]

META = torch.device("meta")
_calibrating = threading.Lock()  # one calibration at a time in the process: its cost stays a few MB
OPT_PARAMS = 1 << 20  # the optimiser's cost per parameter, timed over this many
# The calibration network's batch per device type: ~0.5 GFLOP a step on a CPU (a fraction of a second on two busy
# cores), enough on a GPU for its launch overhead not to dominate.
CALIBRATION_BATCH = {"cpu": 8, "cuda": 256}


def _train_step(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, opt=None, autocast=nullcontext
) -> Callable[[], None]:
    def run() -> None:
        model.train()
        with autocast():
            loss = nn.functional.cross_entropy(model(x), y)
        if opt is not None:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        if opt is not None:
            opt.step()

    return run


def _median_s(fn: Callable[[], None], device: torch.device, budget_s: float, max_steps: int) -> float:
    """The median of timed calls after a warm-up (one call slowed by another process does not move it)."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    times: list[float] = []
    t0 = time.perf_counter()
    while len(times) < 3 or (len(times) < max_steps and time.perf_counter() - t0 < budget_s):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _calibration_net() -> nn.Module:
    """A small plain CNN (3 convolutions, BatchNorm, a linear head): the reference the backbones' speeds are
    relative to. (B, 3, 32, 32) -> (B, 10); at batch 8, 0.48 GFLOP a training step."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.Conv2d(64, 128, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(128, 10),
    )


@lru_cache(maxsize=16)
def _calibrated(device_name: str, threads: int, precision: str, optimizer: str, budget_s: float) -> dict[str, float]:
    device = torch.device(device_name)
    dtype = autocast_dtype(device, precision)
    autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype is not None else nullcontext
    o = json.loads(optimizer)
    gen = torch.Generator().manual_seed(0)
    b = CALIBRATION_BATCH.get(device.type, 64)
    x = torch.rand(b, 3, 32, 32, generator=gen).to(device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (b,), generator=gen).to(device)
    with torch.device(META):
        ref_flops = b * _step_flops(layer_flops(_calibration_net(), (3, 32, 32)))
    net = _calibration_net().to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    tiny = nn.Linear(8, 10).to(device)
    big = nn.Parameter(torch.zeros(OPT_PARAMS, device=device))
    big.grad = torch.zeros_like(big)

    def opt(params) -> torch.optim.Optimizer:
        return build_optimizer(o["name"], params, lr=1e-3, weight_decay=o["weight_decay"], **o["params"])

    fixed_s = _median_s(
        _train_step(tiny, torch.rand(b, 8, device=device), y, opt(tiny.parameters()), autocast),
        device,
        budget_s / 4,
        20,
    )
    big_opt = opt([big])
    per_param_s = _median_s(big_opt.step, device, budget_s / 4, 20) / OPT_PARAMS
    ref_s = _median_s(_train_step(net, x, y, opt(net.parameters()), autocast), device, budget_s / 2, 20)
    n_ref = sum(q.numel() for q in net.parameters())
    compute_s = max(ref_s - fixed_s - per_param_s * n_ref, ref_s * 0.1)
    return {"flops_per_s": ref_flops / compute_s, "fixed_s": fixed_s, "per_param_s": per_param_s}


def calibrate(config: RunConfig, budget_s: float = 0.5) -> dict[str, float]:
    """This device's pace for ``config``'s device, precision and optimiser, at this process's thread count:
    {"flops_per_s", "fixed_s" (any step's fixed cost), "per_param_s" (the optimiser, per trainable parameter)}.
    Timed once per setting and kept (16 settings at most)."""
    t, o = config.train, config.optim
    device = resolve_device(t.device)
    key = json.dumps({"name": o.name, "weight_decay": o.weight_decay, "params": dict(o.params)}, sort_keys=True)
    with _calibrating:
        return _calibrated(str(device), torch.get_num_threads(), t.precision, key, budget_s)


def meta_model(
    name: str, params: dict[str, Any], in_shape: tuple[int, int, int], num_classes: int, runs_root: str | None
) -> Any:
    """The run's model on the meta device (shapes, no memory, no weights read), freezing as the run will (its
    backbone's recipe for its weights included)."""
    params = {**params, "download": False}
    weights = params.get("weights", "imagenet")
    freeze, k, scale = default_recipe(
        params.get("backbone", "mobilenet_v3_small"),
        weights,
        params.get("freeze"),
        params.get("k"),
        params.get("backbone_lr_scale"),
    )
    params.update(freeze=freeze, k=k, backbone_lr_scale=scale)
    params["weights"] = "none"  # the cost does not depend on the weights: nothing is read or fetched
    with torch.device(META):
        return build_model(name, in_shape=in_shape, num_classes=num_classes, runs_root=runs_root, **params)


def layer_flops(model: nn.Module, in_shape: tuple[int, int, int]) -> list[tuple[str, int, bool]]:
    """(module name, forward FLOPs for one image, whether its weight trains) of every convolution and linear
    layer, in the order they run: one forward pass of one image on the meta device, read by forward hooks.
    The other layers (normalisation, activations, pooling) cost little beside them."""
    rows: list[tuple[str, int, bool]] = []

    def hook(name: str) -> Callable[..., None]:
        def record(mod: Any, inp: tuple, out: torch.Tensor) -> None:  # a Linear or a convolution
            if isinstance(mod, nn.Linear):
                macs = out.numel() * mod.in_features
            elif isinstance(mod, nn.modules.conv._ConvTransposeNd):
                macs = inp[0].numel() * mod.out_channels // mod.groups * math.prod(mod.kernel_size)
            else:
                macs = out.numel() * mod.in_channels // mod.groups * math.prod(mod.kernel_size)
            rows.append((name, 2 * macs, bool(mod.weight.requires_grad)))

        return record

    handles = [
        m.register_forward_hook(hook(n))
        for n, m in model.named_modules()
        if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))
    ]
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *in_shape, device=META))
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return rows


def _step_flops(rows) -> int:
    """One image's training FLOPs, as autograd runs them: the forward pass; backward, each trained weight's
    gradient (as costly as its forward) and the gradient of every layer's input from the first trained layer
    on (the layers before it need none)."""
    first = next((i for i, (_, _, trains) in enumerate(rows) if trains), len(rows))
    forward = sum(f for _, f, _ in rows)
    return forward + sum(f for _, f, trains in rows if trains) + sum(f for _, f, _ in rows[first + 1 :])


@lru_cache(maxsize=64)
def _model_facts(
    name: str,
    params_json: str,
    in_shape: tuple[int, int, int],
    num_classes: int,
    augment: tuple[str, ...],
    runs_root: str | None,
) -> dict[str, Any]:
    """What the estimate needs of a model, per image: FLOPs of its training step, its evaluation and (with the
    feature cache) its feature pass; its trainable parameters; its backbone's speed. Kept per setting (64 at
    most, a few kB each): a change of batch size, epochs or images counts nothing again."""
    model = meta_model(name, json.loads(params_json), in_shape, num_classes, runs_root)
    rows = layer_flops(model, in_shape)
    spec = getattr(model, "spec", None)
    out: dict[str, Any] = {
        "cache": bool(model.uses_feature_cache(augment)),
        "trainable": sum(q.numel() for q in model.parameters() if q.requires_grad),
        "speed": BACKBONES[spec.arch].speed if spec is not None and spec.arch in BACKBONES else 1.0,
        "eval": sum(f for _, f, _ in rows),
        "step": _step_flops(rows),
        "features": 0,
    }
    if out["cache"] and spec is not None:  # features once; then the head alone: its forward and its gradient
        head = sum(f for n, f, _ in rows if n.endswith(spec.head))
        out.update(features=out["eval"] - head, eval=head, step=2 * head)
    return out


def estimate_epoch(
    config: RunConfig,
    *,
    in_shape: tuple[int, int, int],
    num_classes: int,
    n_train: int,
    n_test: int,
    runs_root: str | None = None,
    budget_s: float = 0.5,
) -> dict[str, Any]:
    """Seconds per epoch (and for the feature cache, once) of the transfer run ``config`` on ``n_train``
    training and ``n_test`` test images of ``in_shape``, from its FLOPs at this device's calibrated pace."""
    bs, steps_per_epoch, _ = step_counts(config, n_train)
    m = _model_facts(
        config.model.name,
        json.dumps(dict(config.model.params), sort_keys=True),
        tuple(in_shape),
        num_classes,
        tuple(config.data.augment),
        runs_root,
    )
    pace = calibrate(config, budget_s)
    rate = pace["flops_per_s"] * m["speed"]
    head_rate = pace["flops_per_s"] if m["cache"] else rate  # the head on cached features: a plain Linear
    step_s = pace["fixed_s"] + bs * m["step"] / head_rate + pace["per_param_s"] * m["trainable"]
    eval_s = n_test * m["eval"] / head_rate
    out: dict[str, Any] = {
        "batch_size": bs,
        "steps_per_epoch": steps_per_epoch,
        "uses_cache": m["cache"],
        "threads": torch.get_num_threads(),
        "device": str(resolve_device(config.train.device)),
        "flops_per_step": bs * m["step"],
        "trainable_parameters": m["trainable"],
        "speed": m["speed"],
        "cache_once_s": (n_train + n_test) * m["features"] / rate,
        "step_s": step_s,
        "eval_s": eval_s,
    }
    out["epoch_s"] = steps_per_epoch * step_s + eval_s
    out["images_per_s"] = bs / max(step_s, 1e-9)
    return out
