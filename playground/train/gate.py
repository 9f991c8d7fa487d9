"""The one gate: every policy a shared server applies to a run, checked before anything is allocated.

``admit(config, owner)`` is called by ``JobManager.submit`` (every page and button that starts a run
goes through it) and, for the parts that apply to them, by the tools that build a model without
training it for long (the initialisation lab):

- names and values (``check_names``), bounded links and seeds (``RunConfig.from_json``/``validate``);
- the folder rule: on a classroom server a run reads only the session's uploads and the data folder,
  whichever page or button built its settings (``data.data_root``);
- the model budget: parameters and the activation memory of one training batch, estimated on
  PyTorch's meta device (no memory is allocated, so a 38 GiB MLP is refused in milliseconds), against
  ``PLAYGROUND_MAX_PARAMS_M`` and ``PLAYGROUND_MAX_ACTIVATION_MB``.

The job manager adds what needs the queue: the per-session quota, the run-time cap and paused slots.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn as nn

from ..config import RunConfig
from ..data import DATASETS
from ..data.uploads import check_folder_allowed
from ..errors import ConfigError, PlaygroundError
from ..models import MODELS, build_model
from ..settings import settings
from .plan import AUTO_BATCH_MAX, check_names

__all__ = [
    "Budget",
    "estimate",
    "estimate_batch_size",
    "estimate_model",
    "check_budget",
    "check_model",
    "check_folders",
    "admit",
]

ESTIMATE_CLASSES = 10  # classes assumed for a folder whose classes are not counted yet (the head is small)


@dataclass(frozen=True)
class Budget:
    """What one training step of a model will hold: its parameters and one batch's activations."""

    parameters: int
    activation_bytes: int  # outputs of every layer for one training batch (float32), kept for backward
    trainable: int = -1  # parameters that train (-1: all); a frozen backbone's only take memory

    @property
    def parameter_bytes(self) -> int:
        return self.parameters * 4


def input_shape(config: RunConfig) -> tuple[int, int, int]:
    d = config.data
    return tuple(DATASETS.facts(d.dataset)["input_shape"](**dict(d.params)))


def estimate_batch_size(config: RunConfig) -> int:
    """The batch the budget is estimated for: the config's, or for auto (None) the largest the auto rule
    picks (the training set is not loaded here)."""
    return config.train.batch_size or AUTO_BATCH_MAX


def estimate(config: RunConfig, batch_size: int | None = None) -> Budget:
    """Parameters and one batch's activation memory of ``config``'s model, built on the meta device.
    Raises the builder's ConfigError for bad settings."""
    m = config.model
    classes = DATASETS.facts(config.data.dataset)["num_classes"] or ESTIMATE_CLASSES
    return estimate_model(
        m.name, dict(m.params), input_shape(config), classes, batch_size or estimate_batch_size(config)
    )


def _shape(in_shape: Sequence[int]) -> tuple[int, int, int]:
    """(C, H, W) as a tuple: a shape from a JSON file or a link arrives as a list."""
    c, h, w = in_shape
    return c, h, w


def estimate_model(
    name: str, params: dict[str, Any], in_shape: tuple[int, int, int], num_classes: int, batch_size: int
) -> Budget:
    """Kept per setting (a class pressing Start on the same link builds the model on the meta device once,
    not 30 times: ~40 ms of the server's one Python process each)."""
    try:
        key = json.dumps(dict(params), sort_keys=True)
    except (TypeError, ValueError):  # a value JSON cannot hold (only from code, never from a link): not kept
        return _build_estimate(name, dict(params), _shape(in_shape), num_classes, batch_size)
    return _estimate(name, key, tuple(in_shape), int(num_classes), int(batch_size))


@functools.lru_cache(maxsize=512)
def _estimate(name: str, params_json: str, in_shape: tuple[int, int, int], num_classes: int, batch_size: int) -> Budget:
    return _build_estimate(name, json.loads(params_json), in_shape, num_classes, batch_size)


def _build_estimate(
    name: str, params: dict[str, Any], in_shape: tuple[int, int, int], num_classes: int, batch_size: int
) -> Budget:
    params = {**params, **MODELS.facts(name)["reload"]}  # never fetch weights for an estimate
    with torch.device("meta"):
        model = build_model(name, in_shape=_shape(in_shape), num_classes=num_classes, **params)
        n_params = sum(q.numel() for q in model.parameters())
        n_train = sum(q.numel() for q in model.parameters() if q.requires_grad)
        acts = _activation_elements(model, (batch_size, *in_shape))
    return Budget(parameters=n_params, activation_bytes=acts * 4, trainable=n_train)


def _activation_elements(model: nn.Module, batch_shape: tuple[int, ...]) -> int:
    """Sum of every leaf module's output sizes for one forward pass of a meta batch."""
    total = 0

    def count(_m, _i, out) -> None:
        nonlocal total
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if torch.is_tensor(t):
                total += t.numel()

    leaves = [mod for mod in model.modules() if not list(mod.children())]
    hooks = [mod.register_forward_hook(count) for mod in leaves]
    try:
        model(torch.zeros(batch_shape, device="meta"))
    except PlaygroundError:
        raise
    except Exception as e:  # a builder the meta device cannot run: say so rather than guess
        raise ConfigError(
            f"The size of model {type(model).__name__} could not be estimated ({type(e).__name__}: "
            f"{str(e)[:200]}); check its settings."
        ) from None
    finally:
        for h in hooks:
            h.remove()
    return total


def check_budget(config: RunConfig, batch_size: int | None = None) -> Budget:
    """Refuse a model over the server's caps, saying by how much and what to change."""
    return _within_caps(estimate(config, batch_size), batch_size or estimate_batch_size(config))


def check_model(
    name: str, params: dict[str, Any], in_shape: tuple[int, int, int], num_classes: int, batch_size: int
) -> Budget:
    """``check_budget`` for a model built outside a run (the initialisation lab)."""
    return _within_caps(estimate_model(name, params, in_shape, num_classes, batch_size), batch_size)


def _within_caps(b: Budget, batch_size: int) -> Budget:
    s = settings()
    # The cap is on what trains (weights, gradients and optimiser state grow with it): a frozen
    # pretrained backbone (vgg16's 138 M) only adds its weights to the memory below.
    trainable = b.parameters if b.trainable < 0 else b.trainable
    if trainable > s.max_params_m * 1e6:
        raise ConfigError(
            f"This model trains {trainable / 1e6:,.1f} M parameters "
            f"({trainable * 4 / 2**30:,.1f} GiB); this server trains at most "
            f"{s.max_params_m:g} M. Use fewer or narrower layers (channels, hidden sizes), or "
            "freeze more of a pretrained backbone."
        )
    if b.activation_bytes > s.max_activation_mb * 2**20:
        fits = max(1, int(batch_size * s.max_activation_mb * 2**20 / max(b.activation_bytes, 1)))
        raise ConfigError(
            f"One training batch of this model needs about {b.activation_bytes / 2**20:,.0f} MB of "
            f"activations; this server allows {s.max_activation_mb:,} MB. Lower the batch size "
            f"(about {fits} would fit), use fewer or narrower layers, or smaller images."
        )
    return b


def check_folders(config: RunConfig, owner: str) -> None:
    """The classroom folder rule for every folder a run reads."""
    if config.data.data_root:
        check_folder_allowed(config.data.data_root, owner)


def admit(config: RunConfig, owner: str) -> dict[str, Any]:
    """Every per-run policy, in the order that fails fastest; -> the model's budget as numbers."""
    check_names(config)
    check_folders(config, owner)
    b = check_budget(config)
    return {"parameters": b.parameters, "activation_mb": round(b.activation_bytes / 2**20, 1)}
