"""Feature-extraction mode: a frozen backbone's features, computed once, and a head trained on them.

With every backbone block frozen (and in eval mode) the backbone is a fixed
function, so each image's feature vector is the same in every epoch. Computing
it once turns an epoch of full forward passes into an epoch of one Linear
layer: the engine then trains on a ``Prepared`` marked ``precomputed``, whose
"images" are the (N, in_features) feature rows and whose ``to_input`` hands
them over as they are. The model's ``forward`` sends 2-D input to the head alone, so the same
model (and its state dict, backbone included) is trained, evaluated and saved.
Augmentations cannot apply to a cache (each draw would need a new forward
pass): the model uses the cache only when there are none.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .prepared import Prepared

__all__ = ["cache_features", "compute_features"]


@torch.no_grad()
def compute_features(model, x_uint8: torch.Tensor, batch_size: int, autocast) -> torch.Tensor:
    """(N, C, H, W) uint8 on the device -> (N, in_features) float32 features, in batches."""
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(x_uint8), batch_size):
        x = x_uint8[i : i + batch_size].float().mul_(1 / 255)  # (B, C, H, W) in [0, 1]
        with autocast():
            out.append(model.features(x).float())
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, model.in_features, device=x_uint8.device)


def cache_features(p: "Prepared") -> "Prepared":
    """Compute the train and test features once; return a Prepared that trains the head on them."""
    t0 = time.perf_counter()
    bs = max(1, min(p.config.train.eval_batch_size, 256))  # bounded: backbones keep big activations
    train_f = compute_features(p.model, p.train_x, bs, p.autocast)
    test_f = compute_features(p.model, p.test_x, bs, p.autocast)
    if p.device.type == "cuda":
        torch.cuda.synchronize(p.device)
    return dataclasses.replace(
        p,
        train_x=train_f,
        test_x=test_f,
        channels_last=False,
        precomputed=True,
        cache_seconds=round(time.perf_counter() - t0, 3),
    )
