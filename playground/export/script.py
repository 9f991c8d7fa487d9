"""The standalone training script: a readable Python file that needs only torch and
torchvision and rebuilds a classification or reconstruction run from scratch: the same data set, model
(source generated from the module tree, so its state dict loads strictly),
initialisation, optimiser, schedule and training loop.

The fixed text is ``template.SCRIPT``; each function below fills a few of its
placeholders from the run's settings.
"""

from __future__ import annotations

import inspect
import pprint
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn as nn
import torchvision

from ..config import RunConfig, without_server_paths
from ..data import channel_stats
from ..data.normalise import NORMALISATIONS, normalisation_stats, parse_normalisation
from ..errors import ExportError
from ..models import build_model
from ..models.layers import SeededDropout, SeededDropout2d, use_generator
from ..train.plan import AUTO_BATCH_MAX, AUTO_MIN_STEPS
from .augment_source import augment_source
from .emitters import (
    DATA_EMITTERS,
    INIT_EMITTERS,
    MODEL_EMITTERS,
    SCHEDULE_EMITTERS,
    emit,
    optimizer_expr,
)
from .saved import final_state
from .source import NO_RUN_BACKBONE, model_source
from .tasks import task_source
from .template import SCRIPT

__all__ = ["run_training_script", "training_script"]


def _version(module) -> str:
    return module.__version__.split("+")[0]


def _header(config: RunConfig, in_shape, run_id: str | None) -> dict[str, Any]:
    """The docstring's summary and the constants at the top of the script."""
    d, m, o, t = config.data, config.model, config.optim, config.train
    return {
        "title": f"CNN Playground run {run_id}" if run_id else "a CNN Playground run",
        "dataset": d.dataset,
        "model_name": m.name,
        "optim_name": o.name,
        "lr_short": f"{o.lr:g}",
        "epochs_short": f"{t.epochs:g}",
        "torch_version": _version(torch),
        "torchvision_version": _version(torchvision),
        "script_name": run_id or "train",
        "settings": pprint.pformat(config.to_dict(), width=100, sort_dicts=False),
        "lr": repr(o.lr),
        "image_size": repr(list(in_shape[1:])),
    }


def _init_weights(config: RunConfig) -> dict[str, str]:
    """The body of init_weights(): the initialisation on every conv/linear weight, biases zeroed."""
    m = config.model
    call = emit(INIT_EMITTERS, m.init, dict(m.init_params), "initialisation")
    if call is None:
        body = "        pass  # 'default': PyTorch's own per-layer initialisation"
    else:
        body = "\n".join(
            [
                "        for mod in model.modules():",
                "            if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):",
                "                w = mod.weight",
                f"                {call}",
                "                if mod.bias is not None:",
                "                    nn.init.zeros_(mod.bias)",
            ]
        )
    return {"init_name": m.init, "init_body": body}


def _input_normalisation(model: nn.Module, normalize: str = "data") -> dict[str, str]:
    """For a model that normalises its own input (a ``preprocess`` module): the loop feeds it
    [0, 1] images, and it takes the run's normalisation where it adopts it (``adopts_normalisation``)."""
    adopts = getattr(model, "adopts_normalisation", None)
    from_data = adopts(normalize) if callable(adopts) else getattr(model, "stats_from_data", False)
    lines = []
    if hasattr(model, "preprocess"):
        lines.append("    # The model normalises its own input (the weights' statistics): it gets images in [0, 1].")
        if from_data:
            lines.append("    data_mean, data_std = mean.expand(1, 3, 1, 1).clone(), std.expand(1, 3, 1, 1).clone()")
        lines.append("    mean, std = torch.zeros_like(mean), torch.ones_like(mean)")
    return {
        "input_stats": "".join(line + "\n" for line in lines),  # "" or lines, a blank line follows
        "preprocess_init": (
            "model.preprocess.mean.copy_(data_mean); model.preprocess.std.copy_(data_std)  # the run's normalisation"
        )
        if from_data
        else "# (initial weights as built)",
    }


# The engine's auto batch size (``auto_batch_size``), for a run that set none: the same rule, written out.
_AUTO_BATCH = (
    f"2 ** int(math.log2(max(2, min({AUTO_BATCH_MAX}, len(train_y) // {AUTO_MIN_STEPS}))))"
    f"  # auto: the largest power of two up to {AUTO_BATCH_MAX} giving {AUTO_MIN_STEPS}+ steps an epoch"
)


def _loop(config: RunConfig) -> dict[str, str]:
    """The command-line defaults, optimiser, schedule and the settings of the training loop."""
    d, o, t = config.data, config.optim, config.train
    return {
        "data_root": repr(d.data_root) if d.data_root else '"./data"',
        "epochs": repr(t.epochs),
        "train_limit": repr(d.train_limit),
        "seed": str(t.seed),
        "batch_size": str(t.batch_size) if t.batch_size is not None else _AUTO_BATCH,
        "eval_batch_size": str(t.eval_batch_size),
        "val_fraction": repr(t.val_fraction),
        "shuffle": repr(t.shuffle),
        "optimizer": optimizer_expr(config),
        "schedule": emit(SCHEDULE_EMITTERS, o.schedule, dict(o.schedule_params), "schedule"),
        "grad_clip": (
            f"nn.utils.clip_grad_norm_(model.parameters(), {o.grad_clip!r})"
            if o.grad_clip > 0
            else "# (no gradient clipping)"
        ),
    }


def _normalisation(config: RunConfig, in_shape) -> dict[str, str]:
    """The script's mean and std: the training split's, computed as the playground does, or the run's fixed
    values; plus the code both need (the statistics and the seeded dropout, read from the playground)."""
    spec = config.data.normalize
    name, _ = parse_normalisation(spec)
    if name == "data":
        code = "    mean, std = channel_stats(train_x)  # every training image, before any limit"
    else:
        mean, std = normalisation_stats(spec, SimpleNamespace(shape=tuple(in_shape)))
        code = f"    mean, std = {list(mean)!r}, {list(std)!r}"
    dropout = "\n\n\n".join(inspect.getsource(f).rstrip() for f in (SeededDropout, SeededDropout2d, use_generator))
    return {
        "normalisation": code,
        "normalize_name": NORMALISATIONS.facts(name).get("label", name) + f" ({spec})",
        "stats_source": inspect.getsource(channel_stats).rstrip(),
        "dropout_source": dropout,
    }


def _model(name: str, model: nn.Module) -> str:
    """build_model(): from the model's registry emitter, else from its module tree."""
    return MODEL_EMITTERS[name](model) if name in MODEL_EMITTERS else model_source(model)


def training_script(
    config: RunConfig,
    *,
    in_shape,
    num_classes: int,
    run_id: str | None = None,
    lr_changes: dict[int, float] | None = None,
) -> str:
    """A standalone, readable training script (torch + torchvision only) for ``config``; ``lr_changes``:
    step -> learning rate set while the run trained (the script changes it at the same steps)."""
    d, m = config.data, config.model
    if m.name == "transfer" and dict(m.params).get("backbone") == "run":
        raise ExportError(NO_RUN_BACKBONE)
    model = build_model(m.name, in_shape=tuple(in_shape), num_classes=num_classes, **dict(m.params))
    return SCRIPT.substitute(
        _header(config, in_shape, run_id),
        data_source=emit(DATA_EMITTERS, d.dataset, dict(d.params), "data set").rstrip(),
        **augment_source(config.data.augment),
        model_source=_model(m.name, model).rstrip(),
        **_init_weights(config),
        **_input_normalisation(model, config.data.normalize),
        **_loop(config),
        **_normalisation(config, in_shape),
        lr_changes=repr({int(k): float(v) for k, v in sorted((lr_changes or {}).items())}),
        task_source=task_source(config),
    )


def run_training_script(run, *, server_paths: bool = True) -> str:
    """The standalone script of a finished (or stopped) run; without ``server_paths`` it names no folder
    of the server (``without_server_paths``: the data folder is the script's --data argument)."""
    if not run.model_path.exists():
        raise ExportError("The script is written from the run's final model file; stop the run or let it finish.")
    _, meta, config = final_state(run)
    if not server_paths:
        config = without_server_paths(config)
    changes = {e["step"]: e["lr"] for e in run.events() if e["kind"] == "set" and "lr" in e}
    return training_script(
        config, in_shape=tuple(meta["shape"]), num_classes=len(meta["classes"]), run_id=run.run_id, lr_changes=changes
    )
