"""The last four lessons as experiments (augmentation, denoising, transfer, style), as ``experiments``."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from ..config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from ..runs import Run
from .experiments import mnist_here, shapes_data, train_settings
from .runner import Ctx, Outcome, Runner, final_event

__all__ = [
    "augment_configs",
    "run_augmentation",
    "denoise_config",
    "run_denoise",
    "transfer_source_config",
    "transfer_configs",
    "run_transfer",
    "transfer_base",
    "transfer_words",
    "SHOTS",
    "SCRATCH_LR",
    "style_source_config",
    "style_settings",
    "run_style",
    "AUGMENT",
    "AUG_SHIFT",
]

AUGMENT = ("translate:fraction=0.12",)  # a shift of up to 3 of 28 pixels; no flips (a flipped 2 is no digit)
AUG_SHIFT = 3  # pixels the test digits move


# -- 6. augmentation -------------------------------------------------------------------------------------
def augment_configs(ctx: Ctx) -> list[RunConfig]:
    """A small training set (500 digits) trained long enough to fit it, once plain and once shown shifted
    copies; the same network, seed and budget. The built-in shapes when the data folder has no MNIST."""
    n = 300 if ctx.quick else 500
    if mnist_here(ctx.root):
        data = DataConfig(dataset="mnist", data_root=ctx.root, train_limit=n)
    else:
        data = DataConfig(dataset="shapes", train_limit=n, params={"n_train": 2000, "n_test": 1000})
    # Few epochs of small batches: each epoch also tests on all 10,000 test digits, which would cost more than
    # the training on 500 images itself.
    base = RunConfig(data=data, train=train_settings(ctx, 3.0, batch_size=8))
    return [base, base.replace(data={"augment": AUGMENT})]


def _last_epoch(run: Run) -> dict[str, Any]:
    return [e for e in run.events() if e.get("kind") == "epoch"][-1]


def run_augmentation(runner: Runner) -> Outcome:
    from ..inside.sharing import invariance
    from ..inside.trained import load_trained

    runs = runner.runs(augment_configs(runner.ctx), "training the same CNN on few images, plain and augmented...")
    runner.progress(f"testing both on test images moved {AUG_SHIFT} pixels...")
    inv = invariance(
        [load_trained(r) for r in runs], shifts=(0, AUG_SHIFT), angles=(0,), n_images=300 if runner.ctx.quick else 500
    )
    train = [float(_last_epoch(r)["train_acc"]) for r in runs]
    test, moved = ([inv["shift_acc"][label][k] for label in inv["labels"]] for k in (0, 1))
    names = ["plain", "augmented (shifted copies)"]
    import plotly.graph_objects as go  # the app's: the core imports (and a GPU box trains) without it

    fig = go.Figure(
        [
            go.Bar(name=what, x=names, y=vals, text=[f"{v:.0%}" for v in vals])
            for what, vals in (
                ("train accuracy", train),
                ("test accuracy", test),
                (f"test, moved {AUG_SHIFT} px", moved),
            )
        ]
    )
    n = runs[0].config().data.train_limit
    fig.update_layout(
        title=f"{n} training images: train vs test accuracy", barmode="group", yaxis_range=[0, 1], height=320
    )
    text = (
        f"plain: train {train[0]:.0%}, test {test[0]:.0%}, moved test {moved[0]:.0%}; augmented: train "
        f"{train[1]:.0%}, test {test[1]:.0%}, moved test {moved[1]:.0%}"
    )
    return Outcome(
        moved[1] - moved[0],
        text,
        ok=test[1] >= test[0] - 0.1,
        charts=[fig],
        details={"train": train, "test": test, "moved": moved},
    )


# -- 7. denoising ----------------------------------------------------------------------------------------
def denoise_config(ctx: Ctx) -> RunConfig:
    """A convolutional denoising autoencoder: digits when the data folder has MNIST, else the built-in shapes."""
    if mnist_here(ctx.root):
        data = DataConfig(
            dataset="mnist", data_root=ctx.root, noise=("gaussian:0.5",), train_limit=5000 if ctx.quick else 10_000
        )
        epochs = 1.0
    else:
        data = DataConfig(dataset="shapes", noise=("gaussian:0.3",), params={"n_train": 3000, "n_test": 500})
        epochs = 2.0 if ctx.quick else 4.0
    return RunConfig(
        data=data,
        model=ModelConfig(name="conv_autoencoder"),
        optim=OptimConfig(name="adam", lr=3e-3),
        train=TrainConfig(task="reconstruct", epochs=epochs, device=ctx.device, probes=("live_recon",)),
    )


def png_array(text: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))).convert("RGB"))


def cleaned_grid(run: Run, n: int = 8) -> np.ndarray:
    """Clean, noisy and cleaned test images from the run's final model (rows), as one image."""
    import torch

    from ..data import load_dataset
    from ..data.noise import build_noise
    from ..models.saved import load_saved
    from ..train.reconstruct import grid_png

    saved = load_saved(run)
    d = saved.config.data
    data = load_dataset(d.dataset, root=d.data_root, download=False, **dict(d.params))
    clean = data.test_x[torch.linspace(0, len(data.test_x) - 1, n).long()].float() / 255
    noisy = build_noise(d.test_noise or d.noise)(clean, torch.Generator().manual_seed(1))
    c = clean.shape[1]
    mean, std = (torch.tensor(v or [0.0] * c).view(1, c, 1, 1) for v in (saved.mean, saved.std))
    with torch.no_grad():
        out = saved.model((noisy - mean) / std.clamp_min(1e-6) if saved.std else noisy).float().clamp(0, 1)
    return png_array(grid_png([clean, noisy.clamp(0, 1), out]))


def run_denoise(runner: Runner) -> Outcome:
    (run,) = runner.runs([denoise_config(runner.ctx)], "training the denoising autoencoder...")
    done = final_event(run)
    gain = float(done["test_psnr"]) - float(done["test_psnr_input"])
    images = [("rows: clean, noisy (the input), cleaned by the trained network", cleaned_grid(run))]
    return Outcome(
        gain,
        f"PSNR of the noisy input {done['test_psnr_input']:.1f} dB, of the cleaned images "
        f"{done['test_psnr']:.1f} dB: {gain:+.1f} dB",
        images=images,
        details={"run_id": run.run_id},
    )


# -- 8. transfer -----------------------------------------------------------------------------------------
SOURCE_CLASSES, TARGET_CLASSES = "0-4", "5-9"  # two tasks of one data set: the source's classes, the target's
SHOTS = {"mnist": 5, "shapes": 20}  # labelled target images per class (shapes are harder: more of them)
TRANSFER_ARCH: dict[str, list[int]] = {
    "fc": []
}  # conv blocks, then the classifier: the features are the conv blocks' output
# The from-scratch baseline's learning rate: the best of 1e-3 (60 epochs), 3e-3 and 1e-2 (30 epochs) for it on
# both data sets, measured on three draws of the digits (docs/BENCHMARKS.md, "Transfer lesson").
SCRATCH_LR = 1e-2


def transfer_base(ctx: Ctx) -> str:
    """MNIST when the data folder has it, else the built-in shapes: either way two tasks, other classes."""
    return "mnist" if mnist_here(ctx.root) else "shapes"


def transfer_source_config(ctx: Ctx) -> RunConfig:
    """The source task: the CNN trained on plenty of images of classes 0-4 (digits 0-4, or the first five
    shapes); the target's classes are never in it."""
    base = transfer_base(ctx)
    limit = {"mnist": 3000 if ctx.quick else 6000, "shapes": 2000 if ctx.quick else None}[base]
    epochs = {"mnist": 1.0 if ctx.quick else 2.0, "shapes": 2.0 if ctx.quick else 3.0}[base]
    data = DataConfig(
        dataset="subset", data_root=ctx.root, params={"of": base, "classes": SOURCE_CLASSES}, train_limit=limit
    )
    return RunConfig(
        data=data, model=ModelConfig(params=dict(TRANSFER_ARCH)), train=train_settings(ctx, epochs, quick_test=0)
    )


def _target_data(ctx: Ctx) -> DataConfig:
    """A few labelled images of each target class (5-9), none of which the source saw; every test image is
    of those classes (200 of each, 100 in the quick form)."""
    base = transfer_base(ctx)
    return DataConfig(
        dataset="subset",
        data_root=ctx.root,
        params={
            "of": base,
            "classes": TARGET_CLASSES,
            "per_class": SHOTS[base],
            "test_per_class": 100 if ctx.quick else 200,
        },
    )


def transfer_configs(ctx: Ctx, source: Run) -> list[RunConfig]:
    """On the few target images: the source's features frozen with a new head (the feature cache: the
    features are computed once), against the same network from scratch with its own settings (SCRATCH_LR,
    30 epochs), on the same images and batches."""
    from ..transfer.sources import source_params

    data = _target_data(ctx)
    bs = min(SHOTS[transfer_base(ctx)] * 5 // 2, 32)
    moved = RunConfig(
        data=data,
        model=ModelConfig(name="transfer", params={**source_params(source), "freeze": "head_only"}),
        optim=OptimConfig(lr=1e-2),
        train=train_settings(ctx, 60.0, batch_size=bs, quick_test=0),
    )
    scratch = RunConfig(
        data=data,
        model=ModelConfig(params=dict(TRANSFER_ARCH)),
        optim=OptimConfig(lr=SCRATCH_LR),
        train=train_settings(ctx, 30.0, batch_size=bs, quick_test=0),
    )
    return [moved, scratch]


def transfer_words(base: str) -> tuple[str, str, str]:
    """(source task, target classes, what an image is) in words."""
    return {
        "mnist": ("digits 0-4", "digits 5-9", "digit"),
        "shapes": (
            "the shapes circle, square, triangle, plus and ring",
            "star, hexagon, crescent, arrow and heart",
            "shape",
        ),
    }[base]


def transfer_chart(acc: list[float], n: int, per: int, words: tuple[str, str, str]) -> Any:
    import plotly.graph_objects as go  # the app's: the core imports (and a GPU box trains) without it

    names = [f"transferred: features from {words[0]}, new head", "from scratch: the same network"]
    fig = go.Figure(
        go.Bar(
            x=names, y=acc, text=[f"{a:.1%}" for a in acc], textposition="outside", marker_color=["#2ca02c", "#7f7f7f"]
        )
    )
    fig.add_hline(y=0.2, line_dash="dot", annotation_text="chance (5 classes): 20%", annotation_position="top left")
    fig.update_layout(
        title=f"Test accuracy on {words[1]}, trained on {n} labelled images ({per} of each)",
        yaxis_title="test accuracy",
        yaxis_range=[0, 1.08],
        height=340,
    )
    return fig


def few_images(data: DataConfig) -> np.ndarray:
    """The few labelled target images the two networks learn from, as one image (one row per class)."""
    import torch
    from torchvision.utils import make_grid

    from ..data import load_dataset

    d = load_dataset(data.dataset, root=data.data_root, download=False, **dict(data.params))
    order = torch.argsort(d.train_y, stable=True)
    per = int(dict(data.params)["per_class"])
    zoom = 3 if per <= 10 else 1  # a few small digits: enlarged, so the page shows them at a readable size
    x = d.train_x[order].float().repeat_interleave(zoom, 2).repeat_interleave(zoom, 3) / 255
    grid = make_grid(x, nrow=per, padding=2, pad_value=1.0)
    return (grid.permute(1, 2, 0).numpy() * 255).astype(np.uint8)


def run_transfer(runner: Runner) -> Outcome:
    ctx = runner.ctx
    words = transfer_words(transfer_base(ctx))
    (source,) = runner.runs([transfer_source_config(ctx)], f"training the source network on {words[0]}...")
    configs = transfer_configs(ctx, source)
    per = int(dict(configs[0].data.params)["per_class"])
    moved, scratch = runner.runs(configs, f"transferred vs from scratch, {per} images of each of {words[1]}...")
    acc = [float(final_event(r)["test_acc"]) for r in (moved, scratch)]
    src_acc = float(final_event(source)["test_acc"])
    n = per * 5
    text = (
        f"on {words[1]} from {n} labelled images: transferred from the network trained on {words[0]} "
        f"(its own test accuracy {src_acc:.0%}) {acc[0]:.1%}, the same network from scratch {acc[1]:.1%}"
    )
    return Outcome(
        acc[0] - acc[1],
        text,
        charts=[transfer_chart(acc, n, per, words)],
        images=[(f"all {n} labelled images the two networks learn from", few_images(configs[0].data))],
        details={
            "acc": acc,
            "source_acc": src_acc,
            "per_class": per,
            "base": transfer_base(ctx),
            "runs": [source.run_id, moved.run_id, scratch.run_id],
        },
    )


# -- 9. style ----------------------------------------------------------------------------------------------
def style_source_config(ctx: Ctx) -> RunConfig:
    """The feature network the offline default paints with: a CNN trained here, on shapes (VGG19 is a 548 MB
    download, asked for only by the student)."""
    return RunConfig(
        data=shapes_data(ctx, 2000, 500) if ctx.quick else shapes_data(ctx, 3000, 500),
        model=ModelConfig(params={"channels": [32, 64, 64]}),
        train=train_settings(ctx, 1.0 if ctx.quick else 2.0),
    )


def style_settings(ctx: Ctx, run_id: str):
    from ..style.settings import StyleSettings

    # Adam on the pixels: steady steps (L-BFGS's line search jumped once in 30 steps with this small network).
    return StyleSettings(
        content="chelsea",
        style="mosaic",
        size=128 if ctx.quick else 192,
        backbone=f"run:{run_id}",
        optimizer="adam",
        steps=80 if ctx.quick else 150,
        style_weight=1e5,
        device=ctx.device,
    )


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(float).ravel(), b.astype(float).ravel()
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def run_style(runner: Runner) -> Outcome:
    from PIL import Image

    from ..style.job import StyleJob

    (source,) = runner.runs([style_source_config(runner.ctx)], "training a CNN to paint with...")
    settings = style_settings(runner.ctx, source.run_id)
    (job,) = runner.jobs([StyleJob(settings)], "painting...")
    steps = [e for e in job.run.events() if e.get("kind") == "step"]
    style0, style1 = float(steps[0]["style"]), float(steps[-1]["style"])
    result = np.asarray(Image.open(job.run.dir / "result.png").convert("L").resize((64, 64)))
    from ..style.images import builtin_image

    content = np.asarray(Image.fromarray(builtin_image(settings.content)).convert("L").resize((64, 64)))
    kept = _corr(result, content)
    images = [("the result", np.asarray(Image.open(job.run.dir / "result.png").convert("RGB")))]
    return Outcome(
        style1 / max(style0, 1e-12),
        f"the style loss fell to {style1 / max(style0, 1e-12):.1%} of its "
        f"start; the result still correlates {kept:.2f} with the photo",
        ok=kept >= 0.5,
        images=images,
        details={"kept": kept, "style": [style0, style1]},
    )
