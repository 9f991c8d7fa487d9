"""Multi-layer perceptron: the image is flattened (28x28 -> 784) by the model itself."""

from __future__ import annotations

import math
from typing import Sequence

import torch.nn as nn

from ._registry import register_model
from .layers import ACTIVATIONS, check_dropout, check_sizes, fc_layers

__all__ = ["MLP", "mlp"]


class MLP(nn.Module):
    def __init__(self, in_features: int, num_classes: int, hidden: Sequence[int], act: str, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), *fc_layers(in_features, hidden, num_classes, act, dropout))

    def forward(self, x):  # (B, C, H, W) -> (B, classes)
        return self.net(x)


@register_model("mlp", choices={"activation": ACTIVATIONS})
def mlp(
    *,
    in_shape: tuple[int, int, int],
    num_classes: int,
    hidden: Sequence[int] = (256, 128),
    activation: str = "relu",
    dropout: float = 0.0,
) -> MLP:
    """Fully connected layers on the flattened image."""
    return MLP(
        math.prod(in_shape), num_classes, check_sizes(hidden, "hidden sizes"), activation, check_dropout(dropout)
    )
