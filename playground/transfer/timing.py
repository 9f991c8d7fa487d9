"""What a transfer run will cost: a quick timing of the chosen backbone and size, turned into
seconds per epoch for full forward passes and for the feature cache."""

from __future__ import annotations

import time

import torch
import torch.nn as nn

from ..models.transfer import build_transfer
from ..seeding import seeded

__all__ = ["time_backbone", "epoch_estimate"]


def time_backbone(backbone: str, image_size: int, *, freeze: str = "head_only", k: int = 1, in_channels: int = 3,
                  batch_size: int = 16, steps: int = 2, device: str | torch.device = "cpu",
                  num_classes: int = 10) -> dict[str, float]:
    """Images per second of the chosen backbone and size (random weights: the cost does not depend on them):
    forward passes (what the feature cache costs once), training steps with the chosen freezing (a full
    forward pass per step), and head-only steps on features (an epoch on the cache)."""
    device = torch.device(device)
    with seeded(0):
        model = build_transfer(in_shape=(in_channels, image_size, image_size), num_classes=num_classes,
                               backbone=backbone, weights="none", freeze=freeze, k=k,
                               image_size=image_size).to(device)
    x = torch.rand(batch_size, in_channels, image_size, image_size, device=device)
    y = torch.randint(0, num_classes, (batch_size,), device=device)
    opt = torch.optim.SGD([q for q in model.parameters() if q.requires_grad], lr=1e-3)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def rate(fn, n_steps: int, n_images: int) -> float:
        fn()  # warm-up (allocations, cudnn choices)
        sync()
        t0 = time.perf_counter()
        for _ in range(n_steps):
            fn()
        sync()
        return n_steps * n_images / max(time.perf_counter() - t0, 1e-9)

    def forward():
        with torch.no_grad():
            model.eval()
            model.features(x)

    def train_step():
        model.train()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    feats = torch.randn(256, model.in_features, device=device)
    yf = torch.randint(0, num_classes, (256,), device=device)

    def head_step():
        loss = nn.functional.cross_entropy(model(feats), yf)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return {"forward_images_per_s": rate(forward, steps, batch_size),
            "train_images_per_s": rate(train_step, steps, batch_size),
            "head_images_per_s": rate(head_step, 20, 256)}


def epoch_estimate(timing: dict[str, float], n_train: int, n_test: int) -> dict[str, float]:
    """Seconds per epoch: full forward passes (train steps + a test pass) vs the feature cache
    (one forward pass over train + test, then epochs of the head alone)."""
    full = n_train / timing["train_images_per_s"] + n_test / timing["forward_images_per_s"]
    once = (n_train + n_test) / timing["forward_images_per_s"]
    head = (n_train + n_test) / timing["head_images_per_s"]
    return {"full_epoch_s": full, "cache_once_s": once, "cache_epoch_s": head,
            "speedup_per_epoch": full / max(head, 1e-9)}
