"""Plain convolutional networks: a configurable stack of conv blocks, and LeNet-5.

Follows torchvision's vgg.py: blocks -> class -> builders.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn

from ..errors import ConfigError
from ._registry import register_model
from .layers import MAX_LAYERS, check_dropout, check_sizes, fc_layers
from .layers import activation as make_act

__all__ = ["CNN", "cnn", "lenet5"]

POOLS = {"max": lambda: nn.MaxPool2d(2), "avg": lambda: nn.AvgPool2d(2), "none": None}


def conv_block(c_in: int, channels: int, kernel: int, batch_norm: bool, pool: str, dropout: float,
               act: str) -> nn.Sequential:
    """conv -> [batch norm] -> activation -> [pool] -> [dropout], 'same' padding."""
    if pool not in POOLS:
        raise ConfigError(f"pool must be one of {', '.join(POOLS)} (got {pool!r}).")
    if not (isinstance(kernel, int) and 1 <= kernel <= 11 and kernel % 2 == 1):
        raise ConfigError(f"kernel size must be an odd number from 1 to 11 (got {kernel}).")
    layers: list[nn.Module] = [nn.Conv2d(c_in, channels, kernel, padding=kernel // 2, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(channels))
    layers.append(make_act(act))
    if POOLS[pool] is not None:
        layers.append(POOLS[pool]())
    if dropout:
        layers.append(nn.Dropout2d(check_dropout(dropout)))
    return nn.Sequential(*layers)


def _flat_size(features: nn.Module, in_shape: tuple[int, int, int]) -> int:
    with torch.no_grad():
        out = features(torch.zeros(1, *in_shape))  # (1, C', H', W')
    return out[0].numel()


class CNN(nn.Module):
    def __init__(self, features: nn.Sequential, flat: int, num_classes: int, fc: Sequence[int], act: str,
                 dropout: float):
        super().__init__()
        self.features = features
        self.classifier = nn.Sequential(nn.Flatten(), *fc_layers(flat, fc, num_classes, act, dropout))

    def forward(self, x):  # (B, C, H, W) -> (B, classes)
        return self.classifier(self.features(x))


@register_model("cnn", conv_features=True)
def cnn(*, in_shape: tuple[int, int, int], num_classes: int, channels: Sequence[int] = (16, 32, 64),
        kernel: int = 3, batch_norm: bool = True, pool: str = "max", conv_dropout: float = 0.0,
        fc: Sequence[int] = (128,), dropout: float = 0.0, activation: str = "relu",
        blocks: Sequence[Mapping[str, Any]] | None = None) -> CNN:
    """Conv blocks (conv, batch norm, activation, pool) then fully connected layers.

    ``blocks`` gives per-block settings, e.g. ``[{"channels": 32, "kernel": 5}, {"channels": 64}]``;
    keys missing from a block take the shared values (kernel, batch_norm, pool, conv_dropout).
    """
    shared = {"kernel": kernel, "batch_norm": batch_norm, "pool": pool, "dropout": conv_dropout}
    if blocks is None:
        specs = [{"channels": c} for c in check_sizes(channels, "channels")]
    else:
        if len(blocks) > MAX_LAYERS:
            raise ConfigError(f"{len(blocks):,} conv blocks asked for; at most {MAX_LAYERS} are built.")
        specs = [dict(b) for b in blocks]
    if not specs:
        raise ConfigError("A CNN needs at least one conv block.")
    layers, c_in, size = [], in_shape[0], min(in_shape[1:])
    for i, spec in enumerate(specs):
        spec = {**shared, **{("dropout" if k == "conv_dropout" else k): v for k, v in spec.items()}}
        unknown = set(spec) - {"channels", "kernel", "batch_norm", "pool", "dropout"}
        if unknown or "channels" not in spec:
            raise ConfigError(f"conv block {i + 1}: give 'channels' and optionally kernel, batch_norm, "
                              f"pool, dropout (got {sorted(spec)}).")
        c = check_sizes(spec["channels"], f"block {i + 1} channels")[0]
        if spec["pool"] != "none":
            size //= 2
            if size < 1:
                raise ConfigError(f"Too many pooling blocks for {in_shape[1]}x{in_shape[2]} images: block "
                                  f"{i + 1} would shrink the maps below 1 pixel. Use fewer blocks or pool='none'.")
        layers.append(conv_block(c_in, c, spec["kernel"], bool(spec["batch_norm"]), spec["pool"],
                                 spec["dropout"], activation))
        c_in = c
    features = nn.Sequential(*layers)
    return CNN(features, _flat_size(features, in_shape), num_classes, check_sizes(fc, "fc sizes") if fc else (),
               activation, check_dropout(dropout))


@register_model("lenet5", conv_features=True)
def lenet5(*, in_shape: tuple[int, int, int], num_classes: int, activation: str = "tanh") -> CNN:
    """LeNet-5 (LeCun et al. 1998): two 5x5 conv + average-pool stages, then 120-84 units."""
    if min(in_shape[1:]) < 16:
        raise ConfigError(f"LeNet-5 needs images of at least 16x16 (got {in_shape[1]}x{in_shape[2]}).")
    pad = 2 if min(in_shape[1:]) < 32 else 0  # 28x28 MNIST is padded to the original 32x32
    features = nn.Sequential(
        nn.Conv2d(in_shape[0], 6, 5, padding=pad), make_act(activation), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), make_act(activation), nn.AvgPool2d(2),
    )
    return CNN(features, _flat_size(features, in_shape), num_classes, (120, 84), activation, 0.0)
