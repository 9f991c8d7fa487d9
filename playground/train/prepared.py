"""``Prepared``: everything built from a config, ready to train (the engine, tasks, probes and
inspection tools all take one). ``plan.prepare(config)`` builds it."""

from __future__ import annotations

import dataclasses
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn as nn

from ..config import RunConfig
from ..data import Dataset
from ..data.augment import Pipeline

__all__ = ["Prepared"]


@dataclass
class Prepared:
    config: RunConfig
    data: Dataset
    device: torch.device
    model: nn.Module
    train_x: torch.Tensor  # (N, C, H, W) uint8 on device; (N, D) float features when ``precomputed``
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: torch.Tensor  # (1, C, 1, 1) float on device
    std: torch.Tensor
    augment: Pipeline
    channels_last: bool
    autocast_dtype: torch.dtype | None
    # train_x/test_x already hold the model's input (a frozen backbone's features, computed once):
    # ``to_input`` hands them over as they are. ``cache_seconds``: what computing them took.
    precomputed: bool = False
    cache_seconds: float = 0.0
    # The validation split (``train.val_fraction``), held out of the training images as train_x holds them.
    val_x: torch.Tensor | None = None
    val_y: torch.Tensor | None = None

    def validation_view(self) -> "Prepared":
        """This Prepared with the validation split in the test split's place: any task's ``evaluate``
        then scores the validation images."""
        if self.val_x is None or self.val_y is None:
            raise ValueError("this run holds no validation split (train.val_fraction is 0)")
        return dataclasses.replace(self, test_x=self.val_x, test_y=self.val_y)

    def to_input(self, x_uint8: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """uint8 (B, C, H, W) on device -> augmented (if a generator is given), normalised float."""
        if self.precomputed:
            return x_uint8  # (B, D): already the head's input; never modified in place
        x = x_uint8.float().mul_(1 / 255)
        if generator is not None and self.augment:
            x = self.augment(x, generator)
        x = x.sub_(self.mean).div_(self.std)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def autocast(self):
        """The training step's mixed precision (``train.precision``). Evaluation runs in fp32: the test figures a
        run reports are those of the model the Inside page, predict and the exports run."""
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)
