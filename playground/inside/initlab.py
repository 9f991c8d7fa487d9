"""The initialisation lab: per-layer statistics of a freshly initialised model on one batch, how
different a layer's units are, and a short same-seed training race between initialisations.

The statistics run in the server's process (they take well under a second for the lab's models), so
they have their own small budget, checked on the meta device before anything is allocated: one batch's
forward and backward may take ``settings().initlab_mb`` (PLAYGROUND_INITLAB_MB); a model too large for
256 images is measured on fewer (down to ``LAB_MIN_BATCH``), and refused beyond that. Measurements run
one at a time on one thread of their own (``_LAB``; at most ``LAB_WAITING`` wait, more are refused), which
gives its freed memory back afterwards (``memory.trim_heap``): many sessions asking at once wait their turn
instead of adding up (each Streamlit session's thread would otherwise keep a heap of its own). The race
trains, so it is a job (``InitRace``, through the job system's gate and queue)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import RunConfig
from ..data import Dataset
from ..errors import ConfigError, PlaygroundError
from ..memory import trim_heap
from ..models import build_model, list_models
from ..seeding import seeded
from ..settings import settings
from ..train import check_names, fit
from ..train.gate import Budget, check_budget, check_folders, check_model, estimate_model
from ..train.init import init_weights
from ..train.snapshots import weight_layers

__all__ = ["init_lab_models", "init_stats", "lab_batch", "unit_spread", "init_race", "check_race", "LAB_DEFAULTS"]

LAB_BATCH, LAB_MIN_BATCH = 256, 16
LAB_WAIT_S = 120.0  # longest a session waits for its measurement
LAB_WAITING = 8  # measurements queued or running at once; more are refused ("busy")
_LAB = ThreadPoolExecutor(max_workers=1, thread_name_prefix="initlab")
_WAITING = threading.BoundedSemaphore(LAB_WAITING)

# The lab's default race: a plain CNN (no batch normalisation, which would hide what initialisation
# does) on 3,000 shapes for 4 epochs, Adam at 3e-3. Measured on the 2-core CPU (docs/BENCHMARKS.md,
# "The initialisation race"): zeros, constant and normal(std 0.01) stay at chance (loss 2.30, 10%),
# Xavier reaches 39% and Kaiming 27% test accuracy; the five-way race takes about 25 s.
LAB_DEFAULTS = {"model": "cnn", "params": {"cnn": {"batch_norm": False}}, "images": 3000, "epochs": 4.0, "lr": 3e-3}


def init_lab_models() -> list[str]:
    """Models the initialisation lab can build and race: classifiers trained from scratch (no autoencoders,
    which reconstruct images, and no models that start from pretrained weights, e.g. transfer)."""
    return list_models(task="classify", pretrained=False)


def _check_lab_model(name: str) -> None:
    if name not in init_lab_models():
        raise ConfigError(
            f"The initialisation lab races classifiers trained from scratch; {name!r} is not one. "
            f"Choose one of: {', '.join(init_lab_models())}."
        )


def _lab_bytes(b: Budget) -> int:
    """What one forward and backward of the lab takes, from the meta-device estimate: every layer's output and
    its kept gradient, the weights and their gradients (measured: 1.4-2.1x the activations, docs/BENCHMARKS.md)."""
    return 2 * b.activation_bytes + 4 * b.parameter_bytes


def lab_batch(model_name: str, model_params: dict[str, Any], data: Dataset, batch_size: int = LAB_BATCH) -> int:
    """The most images (``batch_size``, halved until it fits, at least LAB_MIN_BATCH) whose statistics fit the
    lab's budget (PLAYGROUND_INITLAB_MB), estimated on the meta device; ConfigError when none does."""
    _check_lab_model(model_name)
    check_model(model_name, model_params, data.shape, data.num_classes, batch_size)  # the training caps first
    cap, n = settings().initlab_mb * 2**20, batch_size
    while True:
        need = _lab_bytes(estimate_model(model_name, dict(model_params), data.shape, data.num_classes, n))
        if need <= cap:
            return n
        if n // 2 < LAB_MIN_BATCH:
            raise ConfigError(
                f"Measuring this model on {n} images would take about {need / 2**20:,.0f} MB; this "
                f"server's initialisation lab measures within {cap // 2**20:,} MB "
                "(PLAYGROUND_INITLAB_MB). Use fewer or narrower layers (channels, hidden sizes), or "
                "train it on the Train page and look at it there."
            )
        n //= 2


def init_stats(
    model_name: str,
    model_params: dict[str, Any],
    data: Dataset,
    inits: dict[str, tuple[str, dict[str, Any]]],
    batch_size: int = LAB_BATCH,
    seed: int = 0,
) -> dict[str, Any]:
    """Per weight layer of a freshly initialised model, on one training batch (train mode, as the
    first step sees it): output mean and std, std of the loss gradient w.r.t. that output, and std
    of the weight gradient. ``inits``: label -> (init name, params). Same seed, same batch for all;
    the batch is ``batch_size`` images or fewer (``lab_batch``: the budget), each result's ``images``."""
    batch_size = lab_batch(model_name, model_params, data, batch_size)  # before building anything
    busy = PlaygroundError("The initialisation lab is busy measuring for others; try again in a minute.")
    if not _WAITING.acquire(blocking=False):
        raise busy
    try:
        job = _LAB.submit(_stats, model_name, model_params, data, inits, batch_size, seed)
    except BaseException:
        _WAITING.release()
        raise
    job.add_done_callback(lambda _: _WAITING.release())
    try:
        return job.result(timeout=LAB_WAIT_S)
    except FutureTimeout:
        raise busy from None


def _stats(
    model_name: str,
    model_params: dict[str, Any],
    data: Dataset,
    inits: dict[str, tuple[str, dict[str, Any]]],
    batch_size: int,
    seed: int,
) -> dict[str, Any]:
    x = data.train_x[:batch_size]
    y = data.train_y[:batch_size]
    c = data.shape[0]
    mean = torch.tensor(data.mean).view(1, c, 1, 1)
    std = torch.tensor(data.std).view(1, c, 1, 1)
    x = (x.float() / 255 - mean) / std
    out: dict[str, Any] = {}
    for label, (name, params) in inits.items():
        with seeded(seed):
            model = build_model(model_name, in_shape=data.shape, num_classes=data.num_classes, **dict(model_params))
            init_weights(model, name, **dict(params))
        out[label] = {**_first_step_stats(model, x, y), "images": len(y)}
        del model
    trim_heap()
    return out


def _first_step_stats(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """One forward and backward pass in train mode, recording every weight layer's output and its gradient."""
    model.train()
    layers = weight_layers(model)
    acts: dict[str, torch.Tensor] = {}

    def hook(o: torch.Tensor, n: str) -> None:
        o.retain_grad()
        acts[n] = o

    hooks = [m.register_forward_hook(lambda _m, _i, o, n=n: hook(o, n)) for n, m in layers]
    try:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
    finally:
        for h in hooks:
            h.remove()
    return {
        "layers": [n for n, _ in layers],
        "act_mean": [float(acts[n].detach().mean()) for n, _ in layers],
        "act_std": [float(acts[n].detach().std()) for n, _ in layers],
        "grad_std": [float(g.std()) if (g := acts[n].grad) is not None else 0.0 for n, _ in layers],
        "w_grad_std": [float(g.std()) if (g := m.weight.grad) is not None else 0.0 for _, m in layers],
        "loss": float(loss.detach()),
        "spread": unit_spread(model),
    }


@torch.no_grad()
def unit_spread(model: nn.Module) -> dict[str, float]:
    """Per weight layer: the largest difference between any unit's weights and the mean unit's.
    0 means every unit (filter, neuron) of the layer is the same: the symmetry was never broken."""
    out = {}
    for n, m in weight_layers(model):
        w = m.weight.detach().float().flatten(1)  # (units, fan_in)
        out[n] = float((w - w.mean(0, keepdim=True)).abs().max())
    return out


def check_race(base: RunConfig, owner: str | None = None) -> None:
    """What the gate checks before a race: a lab model, known names, the session's folders, the budget."""
    _check_lab_model(base.model.name)
    check_names(base)
    if owner is not None:
        check_folders(base, owner)
    check_budget(base)
    if base.train.task != "classify":
        raise ConfigError("The initialisation lab races the classify task; autoencoders have their own page.")


def init_race(
    base: RunConfig,
    inits: dict[str, tuple[str, dict[str, Any]]],
    progress: Callable[[float, str], None] | None = None,
    owner: str | None = None,
    controls: Any = None,
    partial: Callable[[dict[str, Any]], None] | None = None,
    partial_every_s: float = 1.0,
) -> dict[str, Any]:
    """Train ``base`` once per initialisation, same seed and data (nothing is saved to the run store).
    ``owner``: the session asking, for the gate's folder rule (the model budget applies always);
    ``controls``: a Stop ends the race after the initialisation in progress (the app runs races as jobs);
    ``partial``: called with the curves so far (the one in progress included) at most every ``partial_every_s``,
    so a page draws the race while it runs.

    Returns label -> {step, loss, acc, test_acc, spread (per layer, at the end), final}."""
    check_race(base, owner)
    results: dict[str, Any] = {}
    last = [0.0]
    for j, (label, (name, params)) in enumerate(inits.items()):
        if controls is not None and (controls.stopped or controls.out_of_time()):
            break
        cfg = base.replace(
            model={"init": name, "init_params": dict(params)}, train={"probes": ("unit_spread",), "checkpoint": False}
        )
        r: dict[str, Any] = {"step": [], "loss": [], "acc": [], "spread": {}, "test_acc": None, "final": None}
        total = None
        for e in fit(cfg, **({"controls": controls} if controls is not None else {})):
            kind = e["kind"]
            if kind == "start":
                total = e["total_steps"]
            elif kind == "step":
                r["step"].append(e["step"])
                r["loss"].append(e["loss"])
                r["acc"].append(e["acc"])
                r["spread"] = e.get("unit_spread", r["spread"])
                if progress and total:
                    progress((j + e["step"] / total) / len(inits), f"{label}: step {e['step']} / {total}")
                if partial and time.monotonic() - last[0] >= partial_every_s:
                    last[0] = time.monotonic()
                    partial({**{k: _curves(v) for k, v in results.items()}, label: _curves(r)})
            elif kind == "epoch":
                r["test_acc"] = e.get("test_acc")
            elif kind in ("done", "stopped", "diverged", "error"):
                r["final"] = {"kind": kind, "message": e.get("message")}
                if kind == "error":
                    raise PlaygroundError(f"{label}: {e.get('message')}")
        results[label] = r
    if progress:
        progress(1.0, "done")
    return results


def _curves(r: dict[str, Any]) -> dict[str, Any]:
    """A copy of one initialisation's curves so far (the race keeps appending to its own lists)."""
    return {**r, "step": list(r["step"]), "loss": list(r["loss"]), "acc": list(r["acc"])}
