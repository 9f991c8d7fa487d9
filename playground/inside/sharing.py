"""MLP vs CNN: what weight sharing saves in parameters, and how test accuracy falls when the test
images are shifted or rotated (``playground.data.augment``'s ``affine_matrix``/``warp``)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn as nn

from ..config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ..data.augment_functional import affine_matrix, warp
from ..errors import ConfigError
from ..models import build_model
from ..train.snapshots import weight_layers
from .trained import Trained

__all__ = ["param_table", "invariance", "mlp_and_cnn"]

PAIR_EPOCHS = 4.0  # the one-click pair: about 20 s each on shapes on a 2-core CPU


def mlp_and_cnn(
    dataset: str = "shapes",
    data_root: str | None = None,
    params: dict[str, Any] | None = None,
    epochs: float | None = None,
) -> list[RunConfig]:
    """An MLP and a CNN with the same budget (data, optimiser, schedule, epochs, batch size rule, seed),
    each with its family's default layers: the pair the MLP-vs-CNN lesson trains in one click."""
    data = DataConfig(dataset=dataset, data_root=data_root, params=dict(params or {}))
    train = TrainConfig(epochs=epochs or PAIR_EPOCHS, probes=("snapshots",))
    return [RunConfig(data=data, model=ModelConfig(name=name), train=train) for name in ("mlp", "cnn")]


def param_table(
    model_name: str, model_params: dict[str, Any], in_shape: tuple[int, int, int], num_classes: int
) -> dict[str, Any]:
    """Per weight layer: its parameters, and what the same input -> output shapes would cost
    locally connected (a kernel per position, no sharing) and fully connected."""
    model = build_model(model_name, in_shape=in_shape, num_classes=num_classes, **dict(model_params))
    shapes: dict[str, tuple] = {}
    hooks = [
        m.register_forward_hook(
            lambda m_, i, o, n=n: shapes.__setitem__(n, (tuple(i[0].shape[1:]), tuple(o.shape[1:])))
        )
        for n, m in weight_layers(model)
    ]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *in_shape))
    for h in hooks:
        h.remove()
    rows = []
    for n, m in weight_layers(model):
        i_shape, o_shape = shapes[n]
        actual = sum(p.numel() for p in m.parameters(recurse=False))
        n_in, n_out = math.prod(i_shape), math.prod(o_shape)
        dense = n_in * n_out + n_out
        if isinstance(m, nn.Conv2d):
            co, ci, kh, kw = m.weight.shape
            positions = math.prod(o_shape[1:])
            local = positions * co * (ci // m.groups * kh * kw) + (n_out if m.bias is not None else 0)
            kind = f"conv {kh}x{kw}"
        else:
            local, kind = dense, "linear"
        rows.append(
            {
                "layer": n,
                "kind": kind,
                "in": list(i_shape),
                "out": list(o_shape),
                "params": actual,
                "locally_connected": local,
                "fully_connected": dense,
            }
        )
    total = sum(p.numel() for p in model.parameters())
    return {"rows": rows, "total": total, "model": model_name}


@torch.no_grad()
def invariance(
    models: Sequence[Trained],
    shifts: Sequence[int] = (0, 1, 2, 3, 4, 6, 8),
    angles: Sequence[float] = (0, 10, 20, 30, 45, 60, 90),
    n_images: int = 1000,
    batch_size: int = 500,
) -> dict[str, Any]:
    """Test accuracy of each model on the first ``n_images`` test images shifted by s pixels (mean of
    right, left, down, up) and rotated by a degrees (mean of +a and -a); empty areas are black."""
    if not models:
        raise ConfigError("Pick at least one trained run.")
    ref = models[0].data
    for tr in models[1:]:
        if tr.data.shape != ref.shape or tr.data.classes != ref.classes:
            raise ConfigError(
                f"{tr.label} was trained on other data ({tr.data.name}) than {models[0].label} "
                f"({ref.name}); compare runs on the same data set."
            )
    # Every model sees the same images under every move: as many as the largest model may pass in the server
    # (``Trained.plan``, all the moves together), in batches that fit the smallest budget.
    passes = sum(4 if s else 1 for s in shifts) + sum(2 if a else 1 for a in angles)
    n_images = min(n_images, len(ref.test_y))
    for tr in models:
        cap, b = tr.plan(n_images * passes, batch_size)
        n_images, batch_size = min(n_images, max(1, cap // passes)), min(batch_size, b)
    x = ref.test_x[:n_images].float() / 255  # (N, C, H, W) in [0, 1]
    y = ref.test_y[:n_images]
    n = len(y)

    def acc_under(moves: list[tuple[float, float, float]]) -> list[float]:
        accs = []
        for tr in models:
            correct = 0
            for angle, tx, ty in moves:
                for i in range(0, n, batch_size):
                    xb = x[i : i + batch_size]
                    b = len(xb)
                    m = affine_matrix(
                        torch.full((b,), float(angle)),
                        torch.full((b,), float(tx)),
                        torch.full((b,), float(ty)),
                        torch.ones(b),
                    )
                    moved = warp(xb, m) if (angle or tx or ty) else xb
                    pred = tr.model((moved - tr.mean) / tr.std).argmax(1)
                    correct += int((pred == y[i : i + batch_size]).sum())
            accs.append(correct / (n * len(moves)))
        return accs

    shift_acc = [acc_under([(0, s, 0), (0, -s, 0), (0, 0, s), (0, 0, -s)] if s else [(0, 0, 0)]) for s in shifts]
    rot_acc = [acc_under([(a, 0, 0), (-a, 0, 0)] if a else [(0, 0, 0)]) for a in angles]
    labels = [tr.label for tr in models]
    return {
        "labels": labels,
        "shifts": list(shifts),
        "angles": list(angles),
        "images": n,
        "shift_acc": {lab: [row[j] for row in shift_acc] for j, lab in enumerate(labels)},
        "rotation_acc": {lab: [row[j] for row in rot_acc] for j, lab in enumerate(labels)},
    }
