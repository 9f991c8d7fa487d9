"""Predictions on the test split and the confusion-matrix drill-down: the test images of one
(true, predicted) cell, and the images with the highest loss."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import torch

from ..errors import ConfigError
from .forward import hwc
from .trained import Trained

__all__ = ["test_predictions", "misclassified", "highest_loss"]


@torch.no_grad()
def test_predictions(tr: Trained, batch_size: int = 1000) -> dict[str, np.ndarray]:
    """Softmax probabilities (N, K), labels (N,), predictions and per-image loss on the test split: its first
    N images, all of them unless the model is too large to pass them all in the server (``Trained.plan``)."""
    probs = []
    n, batch_size = tr.plan(len(tr.data.test_y), batch_size)
    for i in range(0, n, batch_size):
        probs.append(tr.model(tr.to_input(tr.data.test_x[i : min(n, i + batch_size)])).float().softmax(1))
    p = torch.cat(probs)
    y = tr.data.test_y[:n]
    loss = -p[torch.arange(len(y)), y].clamp_min(1e-12).log()
    return {"probs": p.numpy(), "y": y.numpy(), "pred": p.argmax(1).numpy(), "loss": loss.numpy()}


def _tiles(tr: Trained, preds: dict[str, np.ndarray], idx: Iterable[int], k: int = 3) -> list[dict[str, Any]]:
    out = []
    for i in idx:
        p = preds["probs"][i]
        top = np.argsort(-p)[:k]
        out.append(
            {
                "index": int(i),
                "image": hwc(tr.data.test_x[int(i)]),
                "true": tr.classes[int(preds["y"][i])],
                "pred": tr.classes[int(preds["pred"][i])],
                "loss": float(preds["loss"][i]),
                "top": [(tr.classes[int(c)], float(p[c])) for c in top],
            }
        )
    return out


def misclassified(tr: Trained, preds: dict[str, np.ndarray], true: int, pred: int, n: int = 24) -> dict[str, Any]:
    """Test images of class ``true`` predicted as ``pred`` (most confident first), with top-3 probabilities."""
    k = len(tr.classes)
    if not (0 <= true < k and 0 <= pred < k):
        raise ConfigError(f"class indices must be in 0..{k - 1}.")
    hit = np.nonzero((preds["y"] == true) & (preds["pred"] == pred))[0]
    order = hit[np.argsort(-preds["probs"][hit, pred])]
    return {"count": len(hit), "tiles": _tiles(tr, preds, order[:n])}


def highest_loss(tr: Trained, preds: dict[str, np.ndarray], n: int = 16) -> list[dict[str, Any]]:
    """The ``n`` test images with the highest loss, highest first, with top-3 probabilities."""
    order = np.argsort(-preds["loss"])[:n]
    return _tiles(tr, preds, order)
