"""The first five lessons as experiments: the settings each sets up (``*_configs``, read by the Start page's
link and by the experiment itself: one source of truth) and the experiment that measures its point.

Each ``run_*`` takes a ``Runner`` (jobs through the job manager) and returns an ``Outcome``: the figure the
lesson's point is stated in, the numbers in words, and the charts and images its landing page shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from ..data import default_data_root, load_dataset
from ..errors import PlaygroundError
from .runner import Ctx, Outcome, Runner, final_event

if TYPE_CHECKING:  # plotly is the app's: the core imports (and a GPU box trains) without it
    import plotly.graph_objects as go

__all__ = [
    "mnist_here",
    "mnist_note",
    "MNIST_FILES",
    "first_cnn_config",
    "run_first_cnn",
    "run_convolution",
    "pair_configs",
    "run_mlp_vs_cnn",
    "filters_config",
    "run_filters",
    "race_spec",
    "run_initialisation",
    "filter_grid",
]

SHIFT = 4  # pixels the MLP-vs-CNN lesson moves the test digits


def mnist_here(root: str | None = None) -> bool:
    """Whether the data folder has MNIST (nothing is downloaded to find out)."""
    try:
        load_dataset("mnist", root=root, download=False)
        return True
    except PlaygroundError:
        return False


MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def mnist_note(root: str | None = None) -> str:
    """Where MNIST's files go, exactly, for a lesson that falls back to shapes without them."""
    where = (Path(root) if root else default_data_root()).resolve() / "MNIST" / "raw"
    return (
        f"MNIST is not in this machine's data folder (nothing is downloaded for a lesson), so this lesson "
        f"uses the built-in shapes, where the point shows less clearly. For digits, put the four MNIST files "
        f"({', '.join(MNIST_FILES)}, or the same names ending .gz) in {where} (the data folder is "
        f"PLAYGROUND_DATA, default ./data) and reload."
    )


def train_settings(ctx: Ctx, epochs: float, **kw: Any) -> TrainConfig:
    return TrainConfig(epochs=epochs, device=ctx.device, **kw)


def shapes_data(ctx: Ctx, n_train: int | None = None, n_test: int | None = None) -> DataConfig:
    params = {"n_train": n_train, "n_test": n_test} if n_train else {}
    return DataConfig(dataset="shapes", params=params)


# -- 1. a CNN learns shapes ------------------------------------------------------------------------
def first_cnn_config(ctx: Ctx) -> RunConfig:
    """The default CNN on the built-in shapes, for as long as the point needs (the default run is 8 epochs)."""
    data = shapes_data(ctx, 3000, 1000) if ctx.quick else shapes_data(ctx)
    return RunConfig(data=data, train=train_settings(ctx, 3.0))


def run_first_cnn(runner: Runner) -> Outcome:
    (run,) = runner.runs([first_cnn_config(runner.ctx)], "training the CNN on shapes...")
    acc = float(final_event(run)["test_acc"])
    return Outcome(acc, f"test accuracy {acc:.1%} on shapes it never saw (chance: 10%)", details={"run_id": run.run_id})


# -- 2. convolution by hand --------------------------------------------------------------------------
def run_convolution(runner: Runner) -> Outcome:
    """A Sobel kernel on a shapes image: one output value worked out by hand (products, their sum) against
    the library's convolution at every position. The figure: the largest difference."""
    from ..conv.kernels import kernel
    from ..conv.ops import convolve, position

    data = load_dataset("shapes", n_train=10, n_test=10)
    image = data.test_x[0].float().mean(0, keepdim=True) / 255
    result = convolve(image, kernel("sobel_x"))
    oh, ow = result["size"]
    worst = max(
        abs(position(result, i, j)["value"] - float(result["conv"][i, j]))
        for i in range(0, oh, 3)
        for j in range(0, ow, 3)
    )
    one = position(result, oh // 2, ow // 2)
    return Outcome(
        worst,
        f"by hand at ({oh // 2}, {ow // 2}): sum of 9 products = {one['value']:.4f}; the "
        f"library gives {float(result['conv'][oh // 2, ow // 2]):.4f} (largest difference over "
        f"the map {worst:.1e})",
    )


# -- 3. MLP vs CNN -------------------------------------------------------------------------------------
def pair_configs(ctx: Ctx) -> list[RunConfig]:
    """An MLP and a CNN, each with its family's default layers, the same budget: centred digits (MNIST) when
    the data folder has them, else the built-in shapes (which are not centred: the point shows less)."""
    if mnist_here(ctx.root):
        data = DataConfig(dataset="mnist", data_root=ctx.root, train_limit=2000 if ctx.quick else 6000)
    else:
        data = shapes_data(ctx, 2000, 500) if ctx.quick else shapes_data(ctx)
    train = train_settings(ctx, 1.0 if ctx.quick else 2.0)
    return [RunConfig(data=data, model=ModelConfig(name=name), train=train) for name in ("mlp", "cnn")]


def run_mlp_vs_cnn(runner: Runner) -> Outcome:
    from ..inside.sharing import invariance
    from ..inside.trained import load_trained

    runs = runner.runs(pair_configs(runner.ctx), "training the MLP and the CNN...")
    runner.progress(f"testing both on images shifted by up to {SHIFT} pixels...")
    models = [load_trained(run) for run in runs]
    res = invariance(models, shifts=(0, 2, SHIFT), angles=(0,), n_images=250 if runner.ctx.quick else 500)
    (mlp, cnn) = [res["shift_acc"][label] for label in res["labels"]]
    params = [sum(p.numel() for p in m.model.parameters()) for m in models]
    import plotly.graph_objects as go

    fig = go.Figure(
        [
            go.Scatter(x=res["shifts"], y=acc, mode="lines+markers", name=f"{name} ({n:,} parameters)")
            for name, acc, n in (("MLP", mlp, params[0]), ("CNN", cnn, params[1]))
        ]
    )
    fig.update_layout(
        title="Test accuracy when the test images move",
        xaxis_title="shift (pixels, mean of 4 directions)",
        yaxis_title="test accuracy",
        yaxis_range=[0, 1],
        height=320,
    )
    gap = cnn[-1] - mlp[-1]
    text = (
        f"centred: MLP {mlp[0]:.0%}, CNN {cnn[0]:.0%}; shifted {SHIFT} px: MLP {mlp[-1]:.0%}, CNN {cnn[-1]:.0%} "
        f"(MLP {params[0]:,} parameters, CNN {params[1]:,})"
    )
    return Outcome(
        gap,
        text,
        ok=min(mlp[0], cnn[0]) >= 0.5,
        charts=[fig],
        details={"mlp": mlp, "cnn": cnn, "params": params, "data": models[0].data.name},
    )


# -- 4. what filters learn ------------------------------------------------------------------------------
def filters_config(ctx: Ctx) -> RunConfig:
    """7x7 first-layer filters (large enough to show an edge or a blob), no batch norm in the first block so
    the filters' own scale means something, snapshots every epoch."""
    blocks = [
        {"channels": 16, "kernel": 7, "pool": "max", "batch_norm": False},  # every key: as the Train page has it
        {"channels": 32, "kernel": 3, "pool": "max", "batch_norm": True},
        {"channels": 64, "kernel": 3, "pool": "max", "batch_norm": True},
    ]
    data = shapes_data(ctx, 2000, 500) if ctx.quick else shapes_data(ctx)
    return RunConfig(
        data=data,
        model=ModelConfig(params={"blocks": blocks}),
        optim=OptimConfig(weight_decay=1e-3, name="adamw"),
        train=train_settings(ctx, 1.0 if ctx.quick else 2.0, probes=("snapshots", "layer_stats")),
    )


def smoothness(w: torch.Tensor) -> float:
    """Mean correlation of neighbouring weights inside each filter (right and down neighbours): about 0 for
    random initial filters, high for edge, blob and colour detectors, which vary smoothly."""
    w = w.float()
    pairs = [(w[..., :, :-1], w[..., :, 1:]), (w[..., :-1, :], w[..., 1:, :])]
    a = torch.cat([p.flatten(1) for p, _ in pairs], 1)
    b = torch.cat([q.flatten(1) for _, q in pairs], 1)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return float(((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-12)).mean())


def filter_grid(w: torch.Tensor, scale: float, zoom: int = 6, cols: int = 8) -> np.ndarray:
    """Filters (N, C, k, k) as one RGB image on a given scale (0 is mid grey), each enlarged ``zoom`` times."""
    n, c, k, _ = w.shape
    img = (0.5 + w.float() / (2 * scale)).clamp(0, 1)
    img = img.expand(n, 3, k, k) if c == 1 else img[:, :3]
    img = img.repeat_interleave(zoom, 2).repeat_interleave(zoom, 3)
    rows = (n + cols - 1) // cols
    s = k * zoom + 2
    out = torch.ones(3, rows * s, cols * s)
    for i in range(n):
        r, q = divmod(i, cols)
        out[:, r * s + 1 : r * s + 1 + k * zoom, q * s + 1 : q * s + 1 + k * zoom] = img[i]
    return (out.permute(1, 2, 0).numpy() * 255).astype(np.uint8)


def run_filters(runner: Runner) -> Outcome:
    """Epoch 0 and the last epoch's first-layer filters on one colour scale, and what training added to them
    (last minus epoch 0, on its own scale): the random start stays visible underneath (nothing removes it),
    the part training added is smooth edges, blobs and colour detectors. The figure: that part's smoothness."""
    from ..train.snapshots import list_snapshots, load_snapshot

    (run,) = runner.runs([filters_config(runner.ctx)], "training, and keeping the filters at every epoch...")
    epochs = list_snapshots(run)
    first, last = (next(iter(load_snapshot(run, e).values())) for e in (epochs[0], epochs[-1]))
    added = last - first
    moved = float(added.norm() / first.norm())
    s0, s1, sa = smoothness(first), smoothness(last), smoothness(added)
    scale = float(torch.maximum(first.abs().max(), last.abs().max()))
    return Outcome(
        sa,
        f"neighbouring weights correlate {s0:.2f} in the random start, {sa:.2f} in what {epochs[-1]} "
        f"epochs of training added (smooth edges, blobs, colours), {s1:.2f} in the sum; the filters "
        f"moved {moved:.0%} of their initial size",
        ok=moved > 0.2,
        images=[
            (f"epoch {epochs[0]}: random", filter_grid(first, scale)),
            (f"epoch {epochs[-1]}, the same colour scale", filter_grid(last, scale)),
            ("what training added (its own scale)", filter_grid(added, float(added.abs().max()))),
        ],
        details={"moved": moved, "smooth_start": s0, "smooth_end": s1, "run_id": run.run_id},
    )


# -- 5. initialisation --------------------------------------------------------------------------------
RACE_INITS = {
    "zeros": ("zeros", {}),
    "constant 0.1": ("constant", {"value": 0.1}),
    "Xavier (uniform)": ("xavier_uniform", {}),
    "Kaiming (normal)": ("kaiming_normal", {}),
}


def race_spec(ctx: Ctx):
    """The lab's race: a plain CNN (no batch norm, which would hide what initialisation does), same seed."""
    from ..inside.race import InitRace

    base = RunConfig(
        data=shapes_data(ctx, 1500 if ctx.quick else 3000, 500),
        model=ModelConfig(params={"batch_norm": False}),
        optim=OptimConfig(lr=3e-3),
        train=train_settings(ctx, 4.0),
    )  # the lab's default race (docs/BENCHMARKS.md)
    return InitRace(base, dict(RACE_INITS))


LOSS_CLIP = 3.0


def race_chart(race: dict[str, Any]) -> go.Figure:
    """Training loss per initialisation, clipped at LOSS_CLIP (a constant init's loss can reach hundreds,
    which would flatten every other line), said in the title."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for label, r in race.items():
        fig.add_scatter(x=r["step"], y=[min(v, LOSS_CLIP) for v in r["loss"]], mode="lines", name=label)
    fig.update_layout(
        title=f"Training loss (clipped at {LOSS_CLIP:g}; chance is ln 10 = 2.30)",
        height=320,
        xaxis_title="step",
        yaxis_title="loss",
        yaxis_range=[0, LOSS_CLIP * 1.02],
    )
    return fig


def run_initialisation(runner: Runner) -> Outcome:
    (job,) = runner.jobs([race_spec(runner.ctx)], "racing four initialisations...")
    race = job.buffer.snapshot().get("race") or {}
    acc = {label: float(r["test_acc"] or 0.0) for label, r in race.items()}
    stuck = max(acc["zeros"], acc["constant 0.1"])
    learn = min(acc["Xavier (uniform)"], acc["Kaiming (normal)"])
    text = ", ".join(f"{k} {v:.0%}" for k, v in acc.items()) + " test accuracy (chance 10%)"
    return Outcome(learn - stuck, text, ok=stuck <= 0.15, charts=[race_chart(race)], details={"test_acc": acc})
