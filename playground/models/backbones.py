"""The torchvision backbones a transfer model can start from, and the preprocessing in front of them.

- ``BACKBONES``: per architecture, the final Linear that the new head replaces, its blocks (input to output) for
  freezing, and ``speed``: how fast its layers run per FLOP relative to the calibration network of
  ``playground.transfer.timing`` (measured with ``benchmarks/transfer_bench.py --speeds``), so the Transfer
  page's estimate needs no built backbone.
- ``Preprocess``: [0, 1] images -> the network's channels, size and normalisation (a saved model carries it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torchvision.transforms.v2 import functional as TF

from ..errors import ConfigError
from .run_backbone import RUN_BACKBONE

__all__ = ["BACKBONES", "Backbone", "LUMA", "Preprocess", "backbone_spec", "convert_stats"]


def _span(prefix: str, start: int, stop: int) -> list[str]:
    """Module names prefix.start .. prefix.stop-1 (one block made of consecutive layers)."""
    return [f"{prefix}.{i}" for i in range(start, stop)]


@dataclass(frozen=True)
class Backbone:
    """How one torchvision architecture is cut: its final layer and its blocks (input to output)."""

    arch: str
    head: str  # the module name of the final Linear, replaced by the new head
    blocks: tuple[tuple[str, tuple[str, ...]], ...]  # (label, module names) from the input on
    note: str
    # FLOPs per second relative to the estimate's calibration network (playground.transfer.timing): measured once
    # with benchmarks/transfer_bench.py --speeds (docs/BENCHMARKS.md); a backbone of the playground's own: 1.
    speed: float = 1.0


def _blocks(*pairs: tuple[str, list[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((label, tuple(names)) for label, names in pairs)


BACKBONES: dict[str, Backbone] = {
    "mobilenet_v3_small": Backbone(
        "mobilenet_v3_small",
        "classifier.3",
        _blocks(
            *((f"features.{i}", [f"features.{i}"]) for i in range(13)),
            ("classifier.0-2 (fc)", _span("classifier", 0, 3)),
        ),
        "2.5 M parameters: the fastest on a CPU",
        speed=0.17,
    ),
    "resnet18": Backbone(
        "resnet18",
        "fc",
        _blocks(("stem (conv1, bn1)", ["conv1", "bn1"]), *((f"layer{i}", [f"layer{i}"]) for i in range(1, 5))),
        "11.7 M parameters, residual blocks",
        speed=3.4,
    ),
    "efficientnet_b0": Backbone(
        "efficientnet_b0",
        "classifier.1",
        _blocks(
            *((f"features.{i}", [f"features.{i}"]) for i in range(8)),
            ("features.8 + classifier.0", ["features.8", "classifier.0"]),
        ),
        "5.3 M parameters, the most accurate of the four on ImageNet",
        speed=0.76,
    ),
    "vgg16": Backbone(
        "vgg16",
        "classifier.6",
        _blocks(
            ("conv1 (features.0-4)", _span("features", 0, 5)),
            ("conv2 (features.5-9)", _span("features", 5, 10)),
            ("conv3 (features.10-16)", _span("features", 10, 17)),
            ("conv4 (features.17-23)", _span("features", 17, 24)),
            ("conv5 (features.24-30)", _span("features", 24, 31)),
            ("fc6 (classifier.0-2)", _span("classifier", 0, 3)),
            ("fc7 (classifier.3-5)", _span("classifier", 3, 6)),
        ),
        "138 M parameters (the classic VGG16 transfer-learning recipe): slow on a CPU, best with a GPU",
        speed=4.6,
    ),
}


def backbone_spec(name: str) -> Backbone:
    try:
        return BACKBONES[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"Unknown backbone {name!r}. Choose one of: {', '.join(BACKBONES)}, or {RUN_BACKBONE!r} "
            "(a classifier the playground trained, named by source_run)."
        ) from None


LUMA = (0.299, 0.587, 0.114)  # RGB -> grey as Pillow's "L" (ITU-R 601)


def convert_stats(values: torch.Tensor, channels: int) -> torch.Tensor:
    """Per-channel statistics (C,) of the data -> (channels,) of the data as the network sees it."""
    values = values.flatten()
    if len(values) == channels:
        return values
    if channels == 3:
        return values.expand(3)  # grey repeated to RGB
    return (values * values.new_tensor(LUMA)).sum().view(1)  # RGB -> grey (the std: an upper bound)


class Preprocess(nn.Module):
    """[0, 1] images (B, 1 or 3, H, W) -> (B, channels, H', W'): grey as RGB (or RGB as grey), resized to
    ``size`` (S or (H', W')), normalised, as the weights' transforms (or the source run's data) do.

    mean and std are buffers: they travel with the state dict (a source run's model keeps its own)."""

    mean: torch.Tensor  # (1, channels, 1, 1) buffers
    std: torch.Tensor

    def __init__(self, size: int | tuple[int, int], mean, std, interpolation, channels: int = 3) -> None:
        super().__init__()
        self.size = size
        self.hw = [size, size] if isinstance(size, int) else [int(v) for v in size]
        self.channels = channels
        self.interpolation = interpolation
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, channels, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1 and self.channels == 3:
            x = x.expand(-1, 3, -1, -1)  # (B, 3, H, W): grey as RGB
        elif x.shape[1] == 3 and self.channels == 1:
            x = (x * x.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)  # (B, 1, H, W): RGB as grey
        if list(x.shape[-2:]) != self.hw:
            x = TF.resize(x, self.hw, interpolation=self.interpolation, antialias=True)
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"size={self.size}, interpolation={self.interpolation.value}"
