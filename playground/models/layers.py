"""Building blocks the model families share: activations by name, checked sizes, fully connected stacks."""

from __future__ import annotations

from typing import Callable

import torch.nn as nn

from ..errors import ConfigError

__all__ = ["ACTIVATIONS", "activation", "check_dropout", "check_sizes", "fc_layers"]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
    "leaky_relu": lambda: nn.LeakyReLU(0.1), "elu": nn.ELU, "silu": nn.SiLU,
}


def activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(f"Unknown activation {name!r}. Choose one of: {', '.join(ACTIVATIONS)}.") from None


def check_dropout(p: float) -> float:
    if not 0 <= p < 1:
        raise ConfigError(f"dropout must be in [0, 1) (got {p}).")
    return float(p)


MAX_LAYERS = 64  # layers one list may ask for: deeper than any lesson needs, and cheap to check first
MAX_WIDTH = 1 << 16  # channels or units of one layer


def check_sizes(sizes, what: str) -> tuple[int, ...]:
    """A list of layer sizes, bounded before anything is built (the gate then sizes the whole model)."""
    if isinstance(sizes, int):
        sizes = (sizes,)
    sizes = tuple(sizes)
    if len(sizes) > MAX_LAYERS:
        raise ConfigError(f"{what}: {len(sizes):,} layers asked for; at most {MAX_LAYERS} are built.")
    if not all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= MAX_WIDTH for s in sizes):
        shown = list(sizes[:8]) + (["..."] if len(sizes) > 8 else [])
        raise ConfigError(f"{what} must be positive whole numbers, at most {MAX_WIDTH:,} (got {shown}).")
    return sizes


def fc_layers(in_features: int, hidden, num_classes: int, act: str, dropout: float) -> list[nn.Module]:
    """Linear -> activation [-> dropout] per hidden size, then the output layer (MLPs and CNN heads)."""
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), activation(act)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, num_classes))
    return layers
