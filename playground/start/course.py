"""The course's own experiments as one-click presets: each sets the playground up exactly as the course
notes' code (its data, normalisation, network, initialisation, optimiser, batch size, order, validation
protocol and budget), named after what it teaches.

A preset is a registry entry (``COURSE_PRESETS``) whose builder returns a ``CoursePreset``: the page it
opens and the run config (in its URL form, ``query``). ``benchmarks/course_parity.py`` trains each
beside a plain-PyTorch transcription of the course code and the preset's exported script.

The course trains MNIST from torchvision and CIFAR-10 from torchvision as well; here CIFAR-10 is the
``cifar10`` data set, or an image folder with the same classes (``on_folder``: the shared cifar10-jpg).
Budgets are the course's where it states them, shortened where a lesson only needs the trend (said in
``note``); the course runs 20 to 50 epochs, which ``epochs`` changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from ..registry import Registry

__all__ = ["COURSE_PRESETS", "CoursePreset", "INIT_RACE", "course_presets", "on_folder"]


@dataclass(frozen=True)
class CoursePreset:
    name: str
    title: str  # what it teaches
    page: str  # the app page it opens (app_pages/<page>.py)
    config: RunConfig
    look: str  # what to look at
    course: str  # the course code it mirrors, in a few words
    note: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # more URL parameters

    @property
    def query(self) -> dict[str, str]:
        return {"cfg": self.config.to_url(), **self.extra}


COURSE_PRESETS: Registry[Callable[[], CoursePreset]] = Registry("course preset")

# The course's loops: plain SGD or Adam at a fixed rate, batches of 20, no schedule, fp32, every epoch tested.
_LOOP: dict[str, Any] = dict(batch_size=20, eval_batch_size=1000, quick_test=0, precision="fp32")
_MNIST = DataConfig(dataset="mnist", normalize="none")  # transforms.ToTensor() alone


def on_folder(cfg: RunConfig, folder: str, image_size: int = 32) -> RunConfig:
    """The preset on an image folder with train/ and test/ (the shared cifar10-jpg) instead of ``cifar10``."""
    return cfg.replace(
        data={"dataset": "image_folder", "data_root": folder, "params": {"image_size": image_size, "mode": "RGB"}}
    )


@COURSE_PRESETS.register("mlp_raw_pixels", order=1)
def mlp_raw_pixels() -> CoursePreset:
    cfg = RunConfig(
        data=_MNIST,
        model=ModelConfig("mlp", {"hidden": [512, 512], "dropout": 0.2}),
        optim=OptimConfig("sgd", lr=0.01, schedule="constant"),
        train=TrainConfig(epochs=1.0, shuffle=False, **_LOOP),
    )
    return CoursePreset(
        "mlp_raw_pixels",
        "An MLP reads digits from raw pixels",
        "train",
        cfg,
        "One epoch of plain SGD on unnormalised pixels, in the stored order: about 90% test "
        "accuracy. Switch normalisation to the training split's statistics and run again.",
        "MNIST MLP 784-512-512-10, dropout 0.2, ToTensor, SGD lr 0.01, batches of 20, no shuffle",
    )


@COURSE_PRESETS.register("cnn_augmented", order=2)
def cnn_augmented() -> CoursePreset:
    cfg = RunConfig(
        data=DataConfig(
            dataset="cifar10",
            normalize="fixed:mean=0.5,std=0.5",
            augment=("hflip", "rotation:10,interpolation=nearest"),
        ),
        model=ModelConfig(
            "cnn",
            {
                "channels": [16, 32, 64],
                "batch_norm": False,
                "pool": "max",
                "fc": [500],
                "dropout": 0.25,
                "flat_dropout": 0.25,
            },
        ),
        optim=OptimConfig("sgd", lr=0.01, schedule="constant"),
        train=TrainConfig(epochs=3.0, val_fraction=0.2, **_LOOP),
    )
    return CoursePreset(
        "cnn_augmented",
        "A CNN with flips and rotations, tested at its best validation epoch",
        "train",
        cfg,
        "20% of the training images validate; the epoch with the lowest validation loss is kept "
        "and tested (marked on the curves). Train accuracy stays below test: augmentation.",
        "CIFAR-10 CNN 16-32-64 + max pools, dropout on the flattened features and after fc 500, "
        "RandomHorizontalFlip + RandomRotation(10), Normalize(0.5, 0.5), SGD lr 0.01",
        note="The course trains 30 epochs; 3 show the trend.",
    )


# The initialisation lesson: one MLP, five starting points (the course's helpers: 256-128, dropout 0.2,
# batches of 100, 2 epochs, Adam lr 0.001, 20% validation).
INIT_RACE = {
    "zeros": "all weights zero",
    "uniform_01": "uniform [0, 1)",
    "uniform_centered": "uniform [-0.5, 0.5)",
    "uniform_rule": "uniform rule 1/sqrt(n)",
    "normal_rule": "normal rule 1/sqrt(n)",
}


def _init_preset(init: str) -> Callable[[], CoursePreset]:
    def build() -> CoursePreset:
        cfg = RunConfig(
            data=_MNIST,
            model=ModelConfig("mlp", {"hidden": [256, 128], "dropout": 0.2}, init=init),
            optim=OptimConfig("adam", lr=0.001, schedule="constant"),
            train=TrainConfig(epochs=2.0, val_fraction=0.2, **{**_LOOP, "batch_size": 100}),
        )
        return CoursePreset(
            f"init_{init}",
            f"Initialisation: {INIT_RACE[init]}",
            "train",
            cfg,
            "Run the five starting points and compare them on Inside -> Compare runs: zeros never "
            "learns, [0, 1) crawls, centring helps, the 1/sqrt(n) rules learn fastest. Then set "
            "normalisation to the data's statistics and see [0, 1) stop learning altogether.",
            f"the course's weight-initialisation helpers, init {INIT_RACE[init]}, biases zero",
        )

    build.__doc__ = f"The initialisation lesson: {INIT_RACE[init]}."
    return build


for _i, _init in enumerate(INIT_RACE):
    COURSE_PRESETS.register(f"init_{_init}", order=3 + _i / 10)(_init_preset(_init))


@COURSE_PRESETS.register("denoiser", order=4)
def denoiser() -> CoursePreset:
    cfg = RunConfig(
        data=DataConfig(dataset="mnist", normalize="none", noise=("gaussian:0.5",)),
        model=ModelConfig("course_denoiser"),
        optim=OptimConfig("adam", lr=0.001, schedule="constant"),
        train=TrainConfig(epochs=1.0, shuffle=False, task="reconstruct", recon_loss="mse", **_LOOP),
    )
    return CoursePreset(
        "denoiser",
        "A convolutional autoencoder removes noise",
        "autoencode",
        cfg,
        "The course's denoiser (9,585 parameters) sees digits under Gaussian noise (0.5) and learns "
        "to return the clean ones; switch the decoder to upsample + conv and compare.",
        "ConvDenoiser 32-16-8 + transposed convs, noise 0.5 clipped, MSE, Adam lr 0.001",
        note="The course trains 20 epochs; 1 shows the denoising.",
    )


@COURSE_PRESETS.register("conv_autoencoder", order=5)
def conv_autoencoder() -> CoursePreset:
    cfg = RunConfig(
        data=DataConfig(dataset="mnist", normalize="none"),
        model=ModelConfig("course_conv_autoencoder", {"decoder": "transposed"}),
        optim=OptimConfig("adam", lr=0.001, schedule="constant"),
        train=TrainConfig(epochs=1.0, shuffle=False, task="reconstruct", recon_loss="mse", **_LOOP),
    )
    return CoursePreset(
        "conv_autoencoder",
        "Compress digits to a 4-channel map and back",
        "autoencode",
        cfg,
        "The course's convolutional autoencoder: 28x28 digits through a 4x7x7 code. Switch the "
        "decoder to upsample + conv: no checkerboard.",
        "ConvAutoencoder 16-4 + transposed convs (kernel 2, stride 2), MSE, Adam lr 0.001",
    )


@COURSE_PRESETS.register("vgg16_transfer", order=6)
def vgg16_transfer() -> CoursePreset:
    cfg = RunConfig(
        data=DataConfig(dataset="cifar10", normalize="none", augment=()),
        model=ModelConfig(
            "transfer",
            {
                "backbone": "vgg16",
                "weights": "imagenet",
                "freeze": "last_k",
                "k": 2,
                "backbone_lr_scale": 1.0,
                "feature_cache": False,
            },
        ),
        optim=OptimConfig("sgd", lr=0.001, schedule="constant"),
        train=TrainConfig(epochs=2.0, **_LOOP),
    )
    return CoursePreset(
        "vgg16_transfer",
        "Transfer learning: VGG16's features frozen, its classifier retrained",
        "train",
        cfg,
        "The features stay fixed; fc6, fc7 and the new last layer train (119,586,826 parameters "
        "for ten classes). Needs VGG16's ImageNet weights (528 MB) and, in practice, a GPU.",
        "torchvision vgg16(pretrained=True), features frozen, classifier[6] replaced, "
        "SGD(classifier.parameters(), lr=0.001)",
    )


def course_presets() -> list[CoursePreset]:
    """Every course preset, in the course's order."""
    names = sorted(COURSE_PRESETS.names(), key=lambda n: COURSE_PRESETS.facts(n).get("order", 99))
    return [COURSE_PRESETS.call(n) for n in names]
