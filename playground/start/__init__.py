"""The start page's lessons: one-click links that open a page already set up, in the order of the
course notes the playground teaches from (MLP vs CNN, local connectivity and weight sharing, the
structure of CNNs, autoencoders and denoising, transfer learning, style transfer, weight
initialisation, augmentation).

A lesson is a registry entry (``LESSONS``) whose builder returns a ``Lesson``: the page it opens,
the query parameters that set the page up (a run config in its URL form, a tab), what to look at,
and, when the data it wants is missing on this machine, the fallback it uses and says so. Every
lesson runs offline on the built-in data sets; a lesson on digits uses MNIST when the data folder
has it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from ..data import load_dataset
from ..errors import PlaygroundError
from ..registry import Registry

__all__ = ["Lesson", "LESSONS", "lessons", "mnist_here", "PAGES"]

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
    title: str
    page: str  # an app page's name: app_pages/<page>.py
    look: str  # one sentence: what to look at
    concept: str  # the course notes' concept it shows
    query: dict[str, str] = field(default_factory=dict)  # the page's URL parameters that set it up
    minutes: float = 1.0  # about how long it takes on a 2-core CPU
    note: str = ""  # a fallback this machine needs (e.g. MNIST missing), said as such


LESSONS: Registry[Callable[[], Lesson]] = Registry("lesson")


def mnist_here() -> bool:
    """Whether the data folder has MNIST (nothing is downloaded to find out)."""
    try:
        load_dataset("mnist", download=False)
        return True
    except PlaygroundError:
        return False


@LESSONS.register("first_cnn", order=1)
def _first_cnn() -> Lesson:
    """A CNN learns shapes in 30 seconds"""
    return Lesson("A CNN learns shapes in 30 seconds", "train",
                  "Press Start: the loss falls within seconds and test accuracy passes 85% in about 8 epochs. "
                  "The confusion matrix shows which shapes it still mixes up.",
                  "the structure of CNNs: convolution, pooling, a classifier on top",
                  {"cfg": RunConfig().to_url()}, 0.5)


@LESSONS.register("convolution", order=2)
def _convolution() -> Lesson:
    """Convolution by hand"""
    return Lesson("Convolution by hand", "conv",
                  "Pick a kernel (Sobel, blur, sharpen), slide the output position: the page shows the pixels "
                  "under the kernel, the products and their sum. Change padding, stride and dilation and watch the "
                  "output size formula.", "local connectivity and weight sharing; padding, stride, output size, "
                  "pooling", {}, 0.5)


@LESSONS.register("mlp_vs_cnn", order=3)
def _mlp_vs_cnn() -> Lesson:
    """MLP vs CNN: shift the test images"""
    return Lesson("MLP vs CNN: shift the test images", "inside",
                  "Train both with one click (same data, same budget), then test them on shifted and rotated "
                  "images: the CNN shares its weights across positions and holds up longer, with far fewer "
                  "parameters.", "MLPs vs CNNs: fully connected vs locally connected, weight sharing",
                  {"tab": "MLP vs CNN"}, 1.5)


@LESSONS.register("filters", order=4)
def _filters() -> Lesson:
    """What filters learn"""
    cfg = RunConfig(train=TrainConfig(epochs=4.0, probes=("snapshots", "layer_stats")))
    return Lesson("What filters learn", "train",
                  "Train for 4 epochs, then open Inside the network -> Filters and slide the epoch: the first "
                  "layer's filters turn from noise into edge and colour detectors, on one colour scale.",
                  "what a CNN's layers learn (visualisation)", {"cfg": cfg.to_url()}, 0.5)


@LESSONS.register("initialisation", order=5)
def _initialisation() -> Lesson:
    """Why initialisation matters"""
    return Lesson("Why initialisation matters", "inside",
                  "Press Race: a plain CNN (no batch norm) starting from zeros or a constant never learns (every unit "
                  "stays identical), a tiny normal barely moves, Xavier and Kaiming learn.",
                  "weight initialisation: constant weights, uniform and normal initialisation",
                  {"tab": "Initialisation lab"}, 1.5)


@LESSONS.register("augmentation", order=6)
def _augmentation() -> Lesson:
    """Augmentation: teach the network invariance"""
    cfg = RunConfig(data=DataConfig(augment=("translate:fraction=0.15", "rotation:20", "hflip")))
    return Lesson("Augmentation: teach the network invariance", "train",
                  "The same CNN, shown shifted, rotated and flipped training images: training accuracy is lower, "
                  "the gap to test accuracy smaller. Compare it with the first lesson's run on Inside -> "
                  "Compare runs.", "data augmentation: scale, rotation and translation invariance",
                  {"cfg": cfg.to_url()}, 0.5)


@LESSONS.register("denoise", order=7)
def _denoise() -> Lesson:
    """Denoise digits"""
    digits = mnist_here()
    cfg = RunConfig(data=DataConfig(dataset="mnist" if digits else "shapes", noise=("gaussian:0.5",),
                                    train_limit=10_000 if digits else None),  # about a minute on 2 cores
                    model=ModelConfig(name="conv_autoencoder"), optim=OptimConfig(name="adam", lr=1e-3),
                    train=TrainConfig(task="reconstruct", epochs=1.0, probes=("live_recon",)))
    note = "" if digits else ("MNIST is not in this machine's data folder (and nothing is downloaded for a lesson): "
                              "this lesson uses the built-in shapes instead.")
    return Lesson("Denoise digits", "autoencode",
                  "A denoising autoencoder gets noisy images and must return clean ones: watch the reconstructions "
                  "sharpen while it trains, then walk its latent space.",
                  "autoencoders and denoising; transposed convolution vs upsampling",
                  {"cfg": cfg.to_url()}, 1.0, note)


@LESSONS.register("transfer", order=8)
def _transfer() -> Lesson:
    """Borrow a network: transfer learning"""
    return Lesson("Borrow a network: transfer learning", "transfer",
                  "Take a trained network's feature extractor, put a new head on it and train only the head: "
                  "compare it with the same model trained from scratch.",
                  "transfer learning: freeze the features, replace the classifier", {}, 1.5)


@LESSONS.register("style", order=9)
def _style() -> Lesson:
    """Paint like a texture: style transfer"""
    return Lesson("Paint like a texture: style transfer", "style",
                  "Optimise the pixels of a photo so a CNN's deep features match the photo and its Gram matrices "
                  "match a texture: watch the three losses and the picture change.",
                  "style transfer: content and style representations, Gram matrices", {}, 1.0)


def lessons() -> list[Lesson]:
    """Every lesson, in the course notes' order."""
    names = sorted(LESSONS.names(), key=lambda n: LESSONS.facts(n)["order"])
    return [LESSONS.get(n)() for n in names]
