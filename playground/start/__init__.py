"""The Start page's lessons, in the order of the course notes the playground teaches from (MLP vs CNN,
local connectivity and weight sharing, the structure of CNNs, autoencoders and denoising, transfer
learning, style transfer, weight initialisation, augmentation).

A lesson is an experiment: a registry entry (``LESSONS``) whose builder returns a ``Lesson`` holding the
page it opens and the query parameters that set the page up (read from the same settings the experiment
trains with: one source of truth), the point it makes as one sentence, the figure that shows the point
and its threshold, the one button its landing shows, and ``run``: the experiment itself, which submits
its jobs through the job manager and measures the figure. ``playground lessons`` (``harness``) runs
every lesson headlessly and says whether each point showed and how many seconds it took; the Start
page's times are those measurements (``measured``). A lesson on digits uses MNIST when the data folder
has it and says so when it falls back to the built-in shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..registry import Registry
from . import experiments as ex
from . import experiments_more as ex2
from .measured import MEASURED
from .runner import Ctx, Outcome, Runner

__all__ = ["Lesson", "LESSONS", "lessons", "lesson", "mnist_here", "PAGES", "Ctx", "Outcome", "Runner"]

mnist_here = ex.mnist_here

# The pages in learning order, with one line each (the start page lists them).
PAGES = {
    "data": "look at the images a network will learn from, and what augmentation does to them",
    "conv": "the convolution itself: a kernel sliding over an image, padding, stride, pooling",
    "train": "train a network and watch its loss and accuracy live",
    "inside": "what a trained network learned: filters, activations, saliency, initialisation",
    "autoencode": "networks that compress and rebuild images, and remove noise",
    "transfer": "reuse a trained network's features for a new data set",
    "style": "paint one image in the style of another with a CNN's features",
}


@dataclass(frozen=True)
class Lesson:
    name: str
    title: str
    page: str  # an app page's name: app_pages/<page>.py
    point: str  # the point, one sentence: what the student will see
    figure: str  # what the measured figure is
    threshold: float  # the point shows when the figure is >= this (<= with higher=False)
    run: Callable[[Runner], Outcome]  # the experiment: its jobs through the job manager, then the figure
    button: str  # the one button the landing shows
    concept: str  # the course notes' concept it shows
    query: dict[str, str] = field(default_factory=dict)  # the page's URL parameters that set it up
    higher: bool = True
    unit: str = "%"  # how the figure reads: "acc" (a fraction), "%" (a difference in points), "dB", "x", ""
    note: str = ""  # a fallback this machine needs (e.g. MNIST missing), said as such
    quick_threshold: float | None = None  # the quick form's (fewer images and steps); None: the same

    def needs(self, quick: bool = False) -> float:
        return self.quick_threshold if quick and self.quick_threshold is not None else self.threshold

    @property
    def seconds(self) -> float | None:
        """Click to point, as the harness measured it (``measured.MEASURED``); None: not measured yet."""
        return MEASURED.get(self.name)

    def shown(self, figure: float, quick: bool = False) -> bool:
        need = self.needs(quick)
        return figure >= need if self.higher else figure <= need

    def fmt(self, value: float) -> str:
        return {
            "acc": f"{value:.1%}",
            "%": f"{value * 100:+.1f} points",
            "dB": f"{value:+.1f} dB",
            "x": f"{value:.2f}",
        }.get(self.unit, f"{value:.3g}")

    def links(self) -> dict[str, str]:
        """The Start page link's query: the page's own settings plus the lesson's name for its landing."""
        return {**self.query, "lesson": self.name}


LESSONS: Registry[Callable[..., Lesson]] = Registry("lesson")
mnist_note = ex.mnist_note


def _digits_note(ctx: Ctx) -> str:
    return "" if mnist_here(ctx.root) else mnist_note(ctx.root)


@LESSONS.register("first_cnn", order=1)
def _first_cnn(ctx: Ctx = Ctx()) -> Lesson:
    return Lesson(
        "first_cnn",
        "A CNN learns shapes",
        "train",
        "A small CNN trained for three epochs recognises shapes it has never seen far above chance (10%).",
        "test accuracy",
        0.5,
        ex.run_first_cnn,
        "Start training",
        "the structure of CNNs: convolution, pooling, a classifier on top",
        {"cfg": ex.first_cnn_config(ctx).to_url()},
        unit="acc",
        quick_threshold=0.25,
    )


@LESSONS.register("convolution", order=2)
def _convolution(ctx: Ctx = Ctx()) -> Lesson:
    return Lesson(
        "convolution",
        "Convolution by hand",
        "conv",
        "Each output pixel is the sum of the kernel times the pixels under it: the page works one out "
        "by hand, and it equals the network's convolution.",
        "largest difference between the by-hand sums and the library's convolution",
        1e-4,
        ex.run_convolution,
        "Check the sum by hand",
        "local connectivity and weight sharing; padding, stride, output size, pooling",
        {},
        higher=False,
        unit="",
    )


@LESSONS.register("mlp_vs_cnn", order=3)
def _mlp_vs_cnn(ctx: Ctx = Ctx()) -> Lesson:
    return Lesson(
        "mlp_vs_cnn",
        "MLP vs CNN: shift the test images",
        "inside",
        f"Both learn centred digits; moved {ex.SHIFT} pixels, the MLP falls far more than the CNN, whose "
        "shared filters slide with the digit (and it has fewer parameters).",
        f"CNN minus MLP test accuracy on images shifted {ex.SHIFT} px (both above 50% centred)",
        0.2,
        ex.run_mlp_vs_cnn,
        "Train both and shift",
        "MLPs vs CNNs: fully connected vs locally connected, weight sharing",
        {"tab": "MLP vs CNN"},
        note=_digits_note(ctx),
    )


@LESSONS.register("filters", order=4)
def _filters(ctx: Ctx = Ctx()) -> Lesson:
    return Lesson(
        "filters",
        "What filters learn",
        "train",
        "The first layer's 7x7 filters start as random noise; what training adds to them is smooth edge, "
        "blob and colour detectors: epoch 0 and the last epoch on one colour scale, and the change.",
        "correlation of neighbouring weights in what training added to the filters (random: about 0)",
        0.5,
        ex.run_filters,
        "Train and show the filters",
        "what a CNN's layers learn (visualisation)",
        {"cfg": ex.filters_config(ctx).to_url()},
        unit="",
    )


@LESSONS.register("initialisation", order=5)
def _initialisation(ctx: Ctx = Ctx()) -> Lesson:
    return Lesson(
        "initialisation",
        "Why initialisation matters",
        "inside",
        "A plain CNN started from zeros or a constant never learns (every unit stays the same); Xavier and "
        "Kaiming start it learning.",
        "worst of Xavier/Kaiming minus best of zeros/constant, test accuracy (zeros and constant <= 15%)",
        0.1,
        ex.run_initialisation,
        "Race the initialisations",
        "weight initialisation: constant weights, uniform and normal initialisation",
        {"tab": "Initialisation lab"},
        quick_threshold=0.03,
    )


@LESSONS.register("augmentation", order=6)
def _augmentation(ctx: Ctx = Ctx()) -> Lesson:
    return Lesson(
        "augmentation",
        "Augmentation: teach the network invariance",
        "train",
        f"Trained on 500 digits, a plain CNN fits them but loses test digits moved {ex2.AUG_SHIFT} pixels; "
        "the same CNN shown shifted copies while it trains keeps far more of them.",
        f"augmented minus plain test accuracy on digits moved {ex2.AUG_SHIFT} px",
        0.05,
        ex2.run_augmentation,
        "Train plain and augmented",
        "data augmentation: scale, rotation and translation invariance",
        {"cfg": ex2.augment_configs(ctx)[1].to_url()},
        note=_digits_note(ctx),
    )


@LESSONS.register("denoise", order=7)
def _denoise(ctx: Ctx = Ctx()) -> Lesson:
    return Lesson(
        "denoise",
        "Denoise digits",
        "autoencode",
        "A denoising autoencoder gets noisy images and returns clean ones: the digits come back, and "
        "the PSNR rises by several decibels.",
        "PSNR of the cleaned images minus PSNR of the noisy input",
        4.0,
        ex2.run_denoise,
        "Train the denoiser",
        "autoencoders and denoising; transposed convolution vs upsampling",
        {"cfg": ex2.denoise_config(ctx).to_url()},
        unit="dB",
        note=_digits_note(ctx),
        quick_threshold=3.0,
    )


@LESSONS.register("transfer", order=8)
def _transfer(ctx: Ctx = Ctx()) -> Lesson:
    base = ex2.transfer_base(ctx)
    source, target, thing = ex2.transfer_words(base)
    per = ex2.SHOTS[base]
    return Lesson(
        "transfer",
        "Borrow a network: transfer learning",
        "transfer",
        f"A CNN trained on {source}, its features frozen and only a new head trained on {per} labelled "
        f"images of each of {target}, beats the same network trained from scratch on those "
        f"{per * 5} images.",
        f"transferred minus from-scratch test accuracy on {target} ({per} training images of each)",
        0.03,
        ex2.run_transfer,
        "Transfer vs scratch",
        "transfer learning: freeze the features, replace the classifier",
        {},
        note=_digits_note(ctx),
        quick_threshold=0.02,
    )


@LESSONS.register("style", order=9)
def _style(ctx: Ctx = Ctx()) -> Lesson:
    return Lesson(
        "style",
        "Paint like a texture: style transfer",
        "style",
        "Optimising a photo's pixels so a CNN's Gram matrices match a texture paints the texture on while "
        "the photo stays recognisable (with a CNN trained here: no download).",
        "style loss at the end over at the start (the result correlates >= 0.5 with the photo)",
        0.5,
        ex2.run_style,
        "Train a CNN and paint",
        "style transfer: content and style representations, Gram matrices",
        {},
        higher=False,
        unit="x",
    )


def lesson(name: str, ctx: Ctx = Ctx()) -> Lesson:
    return LESSONS.get(name)(ctx)


def lessons(ctx: Ctx = Ctx()) -> list[Lesson]:
    """Every lesson, in the course notes' order."""
    names = sorted(LESSONS.names(), key=lambda n: LESSONS.facts(n)["order"])
    return [LESSONS.get(n)(ctx) for n in names]
