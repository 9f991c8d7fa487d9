"""Building blocks the model families share: activations by name, checked sizes, fully connected stacks."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from ..errors import ConfigError

__all__ = [
    "ACTIVATIONS",
    "SeededDropout",
    "SeededDropout2d",
    "activation",
    "check_dropout",
    "check_sizes",
    "fc_layers",
    "use_generator",
]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": lambda: nn.LeakyReLU(0.1),
    "elu": nn.ELU,
    "silu": nn.SiLU,
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


# -- dropout drawing from the run's generator ------------------------------------------------
# torch's dropout draws from the global generator, which a server shares between runs (and which
# ``seeding.seeded`` forks): two runs with one seed would drop different units. The engine swaps each
# dropout for one of these, bound to the run's generator, so every draw of a run repeats; the exported
# script does the same with the same code.


class SeededDropout(nn.Dropout):
    """nn.Dropout whose masks come from ``generator`` (when set): zero each element with probability p."""

    generator: torch.Generator | None = None

    def mask_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        return tuple(x.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or self.generator is None:
            return super().forward(x)
        if self.p >= 1:
            return x * 0
        keep = torch.empty(self.mask_shape(x), device=x.device, dtype=x.dtype)
        keep.bernoulli_(1 - self.p, generator=self.generator)
        return x * keep * (1 / (1 - self.p))


class SeededDropout2d(SeededDropout):
    """nn.Dropout2d from ``generator``: whole channels dropped (one draw per sample and channel)."""

    def mask_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        return (*x.shape[:-2], 1, 1)


def use_generator(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Swap every nn.Dropout / nn.Dropout2d of ``model`` (in place) for a seeded one drawing from
    ``generator``; returns the model. Dropout holds no weights, so state dicts are unchanged."""
    seeded: dict[type[nn.Module], type[SeededDropout]] = {nn.Dropout: SeededDropout, nn.Dropout2d: SeededDropout2d}
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            kind = seeded.get(type(child))
            if kind is not None and isinstance(child, nn.modules.dropout._DropoutNd):
                child = kind(child.p, child.inplace).train(child.training)
                parent._modules[name] = child
            if isinstance(child, SeededDropout):
                child.generator = generator
    return model
