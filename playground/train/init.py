"""Weight-initialisation registry, applied to every conv and linear layer with ``model.apply``.

The course's rules are here by their names (``uniform_01``, ``uniform_centered``, ``uniform_rule``,
``normal_rule``). Biases are set to zero by every scheme except ``default`` (PyTorch's own
per-layer initialisation, left untouched). Normalisation layers keep their
weight 1 / bias 0. ``constant`` is here on purpose: it shows the symmetry
problem (every unit of a layer computes, and learns, the same thing).
"""

from __future__ import annotations

from typing import Any, Callable, Literal, cast

import torch
import torch.nn as nn

from ..errors import ConfigError
from ..registry import Registry

__all__ = ["INITS", "register_init", "list_inits", "init_weights", "NONLINEARITIES", "FAN_MODES"]

WeightFn = Callable[[torch.Tensor], Any]
INITS: Registry[Callable[..., WeightFn | None]] = Registry("initialisation")
register_init = INITS.register

LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)
NONLINEARITIES = ("relu", "leaky_relu", "tanh", "sigmoid", "linear", "selu")
FAN_MODES = ("fan_in", "fan_out")
FanMode = Literal["fan_in", "fan_out"]  # what torch.nn.init's kaiming_* take, as checked by _mode and _nonlinearity
Nonlinearity = Literal["relu", "leaky_relu", "tanh", "sigmoid", "linear", "selu"]


def _nonlinearity(name: str) -> Nonlinearity:
    if name not in NONLINEARITIES:
        raise ConfigError(f"nonlinearity must be one of {', '.join(NONLINEARITIES)} (got {name!r}).")
    return cast(Nonlinearity, name)  # one of NONLINEARITIES, checked above


@register_init("default")
def default() -> None:
    """PyTorch's per-layer default (kaiming-uniform with a=sqrt(5) for conv/linear)."""
    return None


@register_init("zeros")
def zeros() -> WeightFn:
    """All weights 0: no signal flows forward, no gradient reaches earlier layers."""
    return nn.init.zeros_


@register_init("constant")
def constant(value: float = 0.05) -> WeightFn:
    """All weights the same value: units stay identical (symmetry never breaks)."""
    return lambda w: nn.init.constant_(w, value)


@register_init("uniform")
def uniform(a: float = -0.05, b: float = 0.05) -> WeightFn:
    """U(a, b)."""
    if not a < b:
        raise ConfigError(f"uniform init needs a < b (got a={a}, b={b}).")
    return lambda w: nn.init.uniform_(w, a, b)


@register_init("normal", ranges={"std": (1e-4, 1.0, "log")})
def normal(mean: float = 0.0, std: float = 0.01) -> WeightFn:
    """N(mean, std^2)."""
    if not std > 0:
        raise ConfigError(f"normal init needs std > 0 (got {std}).")
    return lambda w: nn.init.normal_(w, mean, std)


# -- the course's rules by their names (its weight-initialisation lesson, on every layer's weights) --


def _fan_in(w: torch.Tensor) -> int:
    """Inputs of one unit: in_features of a Linear layer, in_channels x kernel of a conv layer."""
    return w[0].numel()


@register_init("uniform_01", course=True)
def uniform_01() -> WeightFn:
    """U[0, 1): every weight positive (the course's 'uniform'); learns slowly, if at all."""
    return lambda w: nn.init.uniform_(w, 0.0, 1.0)


@register_init("uniform_centered", course=True)
def uniform_centered() -> WeightFn:
    """U[-0.5, 0.5): the same range centred on zero (the course's 'centred uniform')."""
    return lambda w: nn.init.uniform_(w, -0.5, 0.5)


@register_init("uniform_rule", course=True)
def uniform_rule() -> WeightFn:
    """The general rule: U(-y, y), y = 1/sqrt(n), n a unit's inputs (the course's uniform rule)."""
    return lambda w: nn.init.uniform_(w, -1 / _fan_in(w) ** 0.5, 1 / _fan_in(w) ** 0.5)


@register_init("normal_rule", course=True)
def normal_rule() -> WeightFn:
    """N(0, y^2), y = 1/sqrt(n), n a unit's inputs (the course's normal rule)."""
    return lambda w: nn.init.normal_(w, 0.0, 1 / _fan_in(w) ** 0.5)


@register_init("xavier_uniform")
def xavier_uniform(gain: float = 1.0) -> WeightFn:
    """Glorot: U(-a, a), a = gain*sqrt(6/(fan_in+fan_out)); for tanh/sigmoid."""
    return lambda w: nn.init.xavier_uniform_(w, gain)


@register_init("xavier_normal")
def xavier_normal(gain: float = 1.0) -> WeightFn:
    """Glorot: N(0, gain^2 * 2/(fan_in+fan_out))."""
    return lambda w: nn.init.xavier_normal_(w, gain)


@register_init("kaiming_uniform", choices={"nonlinearity": NONLINEARITIES, "mode": FAN_MODES})
def kaiming_uniform(nonlinearity: str = "relu", mode: str = "fan_in") -> WeightFn:
    """He: U(-b, b), b = gain*sqrt(3/fan); for ReLU networks."""
    nl = _nonlinearity(nonlinearity)
    return lambda w: nn.init.kaiming_uniform_(w, mode=_mode(mode), nonlinearity=nl)


@register_init("kaiming_normal", choices={"nonlinearity": NONLINEARITIES, "mode": FAN_MODES})
def kaiming_normal(nonlinearity: str = "relu", mode: str = "fan_in") -> WeightFn:
    """He: N(0, gain^2/fan), gain = sqrt(2) for ReLU."""
    nl = _nonlinearity(nonlinearity)
    return lambda w: nn.init.kaiming_normal_(w, mode=_mode(mode), nonlinearity=nl)


@register_init("orthogonal")
def orthogonal(gain: float = 1.0) -> WeightFn:
    """(Semi-)orthogonal weight matrices (Saxe et al.), scaled by gain."""
    return lambda w: nn.init.orthogonal_(w, gain)


def _mode(mode: str) -> FanMode:
    if mode not in FAN_MODES:
        raise ConfigError(f"mode must be fan_in or fan_out (got {mode!r}).")
    return cast(FanMode, mode)  # one of FAN_MODES, checked above


def list_inits() -> list[str]:
    return INITS.names()


def init_weights(model: nn.Module, name: str = "default", **params: Any) -> nn.Module:
    """Re-initialise ``model`` in place with a registered scheme; returns it."""
    fn = INITS.call(name, **params)
    if fn is None:
        return model

    def apply(m: nn.Module) -> None:
        if isinstance(m, LAYERS):
            fn(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    with torch.no_grad():
        model.apply(apply)
    return model
