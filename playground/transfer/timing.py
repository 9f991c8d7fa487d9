"""What a transfer run will cost per epoch, measured the way the engine will train it.

``estimate_epoch(config, ...)`` builds the run's own model (its backbone, freezing, input size and
the preprocessing inside it; random weights, which cost the same), at the batch size the run will
use (``plan.step_counts``: its own or the auto rule's), with its optimiser, augmentations and
memory format, on its device and with this process's threads (a worker process starts with the
same count). A warm-up step is run and left out of every figure (allocations, oneDNN and cuDNN
choices); then training steps are timed (the median of at least two, more until ``budget_s`` has
passed), and evaluation batches (of the
run's ``eval_batch_size``, at most 64: the cost per image is alike from there on). With the feature
cache the figures are what the engine does then: one pass of forward-only feature batches
(``cache_once_s``), and epochs of head steps on features.

An epoch = steps per epoch x the step time + the test split's evaluation batches. The comparison with
real runs is ``benchmarks/transfer_bench.py --estimate`` (docs/BENCHMARKS.md), not a timed test.
"""

from __future__ import annotations

import math
import statistics
import time
from contextlib import nullcontext
from typing import Any, Callable

import torch
import torch.nn as nn

from ..config import RunConfig
from ..data.augment import build_pipeline
from ..device import autocast_dtype, resolve_device
from ..models import build_model
from ..seeding import seeded
from ..train.optim import build_optimizer
from ..train.plan import step_counts

__all__ = ["estimate_epoch"]


def _timer(device: torch.device, budget_s: float, max_steps: int) -> Callable[[Callable[[], Any]], float]:
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def seconds_per_call(fn: Callable[[], Any]) -> float:
        """The median of the timed calls: one call slowed by another process does not move it."""
        fn()  # warm-up, left out
        sync()
        times: list[float] = []
        t0 = time.perf_counter()
        while len(times) < 2 or (len(times) < max_steps and time.perf_counter() - t0 < budget_s):
            t = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    return seconds_per_call


def estimate_epoch(config: RunConfig, *, in_shape: tuple[int, int, int], num_classes: int, n_train: int,
                   n_test: int, runs_root: str | None = None, budget_s: float = 1.0,
                   max_steps: int = 20) -> dict[str, Any]:
    """Seconds per epoch (and for the feature cache, once) of the transfer run ``config`` on ``n_train``
    training and ``n_test`` test images of ``in_shape``."""
    t, o = config.train, config.optim
    device = resolve_device(t.device)
    bs, steps_per_epoch, _ = step_counts(config, n_train)
    params = {**dict(config.model.params), "download": False}
    weights = params.get("weights", "imagenet")
    params["weights"] = "none"  # the cost does not depend on the weights: nothing is read or fetched
    params.setdefault("freeze", "finetune_all" if weights == "none" else "head_only")  # the run's default
    with seeded(0):
        model = build_model(config.model.name, in_shape=in_shape, num_classes=num_classes, runs_root=runs_root,
                            **params)
    channels_last = any(isinstance(m, nn.Conv2d) for m in model.modules())  # as plan.prepare does
    model = model.to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    cache = model.uses_feature_cache(config.data.augment)
    augment = build_pipeline(config.data.augment)
    opt = build_optimizer(o.name, model.param_groups(o.lr), lr=o.lr, weight_decay=o.weight_decay, **dict(o.params))
    dtype = autocast_dtype(device, t.precision)  # as plan.prepare decides it
    autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype is not None else nullcontext
    gen = torch.Generator(device=device).manual_seed(0)
    images = torch.randint(0, 256, (max(bs, 2), *in_shape), dtype=torch.uint8, device=device)  # (B, C, H, W)
    y = torch.randint(0, num_classes, (len(images),), device=device)
    eval_bs = max(1, min(t.eval_batch_size, n_test))
    timed_eval_bs = min(eval_bs, 64)  # per image alike from here on; the engine's full batch would take long
    cache_bs = max(1, min(t.eval_batch_size, 256))  # the feature cache's batch (train/feature_cache.py)
    time_it = _timer(device, budget_s, max_steps)

    def to_input(x: torch.Tensor, train: bool) -> torch.Tensor:
        x = x.float().mul_(1 / 255)  # the model normalises its own input
        if train and augment:
            x = augment(x, gen)
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x

    def step(x_fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            model.train()
            with autocast():
                loss = nn.functional.cross_entropy(model(x_fn()), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return run

    def forward(x_fn: Callable[[], torch.Tensor], fn: Callable[[torch.Tensor], torch.Tensor],
                cast: bool = False) -> Callable[[], None]:
        @torch.no_grad()  # as the engine's evaluation (fp32) and the feature cache (``cast``: autocast) run
        def run() -> None:
            model.eval()
            with autocast() if cast else nullcontext():
                fn(x_fn())
        return run

    out: dict[str, Any] = {"batch_size": bs, "steps_per_epoch": steps_per_epoch, "uses_cache": cache,
                           "threads": torch.get_num_threads(), "device": str(device), "cache_once_s": 0.0}
    if cache:
        big = images[:1].expand(cache_bs, *in_shape)  # the cache's own batch (at 64 it was 1.6x slower per image)
        per_batch = time_it(forward(lambda: to_input(big, False), model.features, cast=True))
        out["cache_once_s"] = per_batch * (math.ceil(n_train / cache_bs) + math.ceil(n_test / cache_bs))
        feats = torch.randn(max(len(y), timed_eval_bs), model.in_features, device=device)
        out["step_s"] = time_it(step(lambda: feats[: len(y)]))
        out["eval_s"] = time_it(forward(lambda: feats[:timed_eval_bs], model)) * n_test / timed_eval_bs
    else:
        out["step_s"] = time_it(step(lambda: to_input(images, True)))
        test = images[:1].expand(timed_eval_bs, *in_shape)
        out["eval_s"] = time_it(forward(lambda: to_input(test, False), model)) * n_test / timed_eval_bs
    out["epoch_s"] = steps_per_epoch * out["step_s"] + out["eval_s"]
    out["images_per_s"] = bs / max(out["step_s"], 1e-9)
    return out
