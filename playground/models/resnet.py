"""A small residual network for speed (in the spirit of airbench's and ResNet-8)."""

from __future__ import annotations

import torch.nn as nn

from ..errors import ConfigError
from ._registry import register_model

__all__ = ["SmallResNet", "resnet"]


def conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class Residual(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn(c, c), conv_bn(c, c))

    def forward(self, x):  # (B, C, H, W) -> same
        return x + self.body(x)


class SmallResNet(nn.Module):
    def __init__(self, in_ch: int, num_classes: int, width: int, stages: int, blocks: int):
        super().__init__()
        layers: list[nn.Module] = [conv_bn(in_ch, width)]
        c = width
        for s in range(stages):
            c_out = width * 2**s
            layers += [conv_bn(c, c_out), nn.MaxPool2d(2)]  # (B, c_out, H/2, W/2)
            layers += [Residual(c_out) for _ in range(blocks)]
            c = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):  # (B, C, H, W) -> (B, classes)
        return self.fc(self.pool(self.features(x)).flatten(1))


@register_model("resnet")
def resnet(
    *, in_shape: tuple[int, int, int], num_classes: int, width: int = 16, stages: int = 3, blocks: int = 1
) -> SmallResNet:
    """Small residual net: stem, then stages of conv + pool + residual blocks, global max pool."""
    if not (isinstance(width, int) and 1 <= width <= 512):
        raise ConfigError(f"width must be a whole number from 1 to 512 (got {width}).")
    if not (isinstance(blocks, int) and 0 <= blocks <= 8):
        raise ConfigError(f"blocks must be a whole number from 0 to 8 (got {blocks}).")
    if not (isinstance(stages, int) and 1 <= stages) or min(in_shape[1:]) >> stages < 1:
        raise ConfigError(
            f"stages must be at least 1 and leave maps of at least 1 pixel on "
            f"{in_shape[1]}x{in_shape[2]} images (got {stages})."
        )
    return SmallResNet(in_shape[0], num_classes, width, stages, blocks)
