"""Transfer learning: a backbone, its final layer replaced by a new head. This module is the registered builder
(``transfer``, ``build_transfer``) and its settings; the model is ``transfer_net.TransferNet``, its starting
weights come through ``transfer_weights``, the backbones' facts from ``backbones``.

The seed of this project does it by hand: load ``vgg16`` pretrained, freeze ``features``, replace
``classifier[6]`` with ``Linear(4096, n_classes)`` and optimise the classifier. Here each step is a parameter:

- ``backbone``: vgg16, resnet18, mobilenet_v3_small, efficientnet_b0 (torchvision's ``get_model``);
  ``BACKBONES`` says which final layer is replaced and how the network splits into blocks for freezing.
  Or "run": a classifier the playground trained (cnn, lenet5, resnet, mlp; ``source_run``), whose own
  layers up to its final Linear are the feature extractor (``playground.models.run_backbone``).
- ``weights``: "imagenet" (the torch hub cache, downloaded when the network allows, see
  ``playground.weights``), "run" (the weights of ``source_run``: a ``transfer`` run with the same
  backbone, or with backbone "run" the classifier itself) or "none" (from scratch). A source run is
  looked up in the run store the new run is saved in (the engine passes ``runs_root``, as the entry's
  ``reads_runs`` fact asks): in the app the server's store; on the CLI, ``--runs``.
- ``freeze``: "head_only", "last_k" (the last ``k`` blocks train too) or "finetune_all" (the default
  with weights none: a new head on random features learns next to nothing); frozen blocks also stay
  in eval mode (BatchNorm statistics and dropout frozen with them), so the frozen part is one fixed function.
- ``backbone_lr_scale``: the backbone's learning rate relative to the head's (``param_groups``).
- ``feature_cache``: with the whole backbone frozen and no augmentation, the engine's data is swapped
  for backbone features computed once, and the epochs train the head on them (``uses_feature_cache``).

Preprocessing comes from the weights (``weights.transforms()``: interpolation, the default input size,
mean and std) or, for backbone "run", from the source run's data (its channels, size and statistics).
The run's normalisation (``data.normalize``) replaces that mean and std when it is an explicit choice (none,
fixed values, ImageNet's: the course's transfer code feeds ``ToTensor()`` pixels) or the run starts from
scratch; its default ("data") keeps, for pretrained weights, the statistics they were trained with.
The model takes images scaled to [0, 1] (``normalises_input``: the engine's normalisation is the identity)
and converts, resizes and normalises them itself, so a saved model carries its own preprocessing. These are
facts the engine applies (``playground.train.plan.prepare``); the model never sees the engine's state.
"""

from __future__ import annotations

from typing import Any, Callable

from torchvision.models import get_model
from torchvision.transforms.v2 import functional as TF

from ..errors import CheckpointError, ConfigError
from ..weights import resolve_weights
from ._registry import register_model
from .backbones import BACKBONES, LUMA, Backbone, Preprocess, backbone_spec, convert_stats  # noqa: F401 (re-exported)
from .recipes import default_freeze, default_recipe  # noqa: F401  (default_freeze: re-exported)
from .run_backbone import RUN_BACKBONE, build_source_net, check_arch, read_source, run_spec_parts, same_arch
from .transfer_net import FREEZE, TransferNet
from .transfer_weights import load_body, pretrained_state

__all__ = ["BACKBONES", "FREEZE", "WEIGHTS", "Backbone", "TransferNet", "transfer", "build_transfer"]

WEIGHTS = ("imagenet", "run", "none")


def _check_in_shape(in_shape: tuple[int, int, int]) -> None:
    if in_shape[0] not in (1, 3):
        raise ConfigError(f"Transfer backbones take grey or RGB images; this data has {in_shape[0]} channels.")


# A saved transfer model's checkpoint holds every weight (preprocessing buffers included). A rebuild keeps
# source_run and source_arch: a playground source network's layers are described by them.
@register_model(
    "transfer",
    pretrained=True,
    reload={"weights": "none", "download": False, "feature_cache": False},
    reads_runs=True,
    choices={"backbone": (*BACKBONES, RUN_BACKBONE), "weights": WEIGHTS},
)
def transfer(
    *,
    in_shape: tuple[int, int, int],
    num_classes: int,
    backbone: str = "mobilenet_v3_small",
    weights: str = "imagenet",
    source_run: str = "",
    source_arch: dict | None = None,
    freeze: str | None = None,
    k: int | None = None,
    backbone_lr_scale: float | None = None,
    image_size: int = 0,
    feature_cache: bool = True,
    download: bool = True,
    runs_root: str | None = None,
) -> TransferNet:
    """A pretrained torchvision backbone (vgg16, resnet18, mobilenet_v3_small, efficientnet_b0), or with
    backbone "run" a classifier the playground trained (source_run), with a new head."""
    return build_transfer(
        in_shape=in_shape,
        num_classes=num_classes,
        backbone=backbone,
        weights=weights,
        source_run=source_run,
        source_arch=source_arch,
        freeze=freeze,
        k=k,
        backbone_lr_scale=backbone_lr_scale,
        image_size=image_size,
        feature_cache=feature_cache,
        download=download,
        runs_root=runs_root,
    )


def _check_settings(weights: str, freeze: str, backbone_lr_scale: float, image_size: int) -> None:
    if weights not in WEIGHTS:
        raise ConfigError(f"weights must be one of {', '.join(WEIGHTS)} (got {weights!r}).")
    if freeze not in FREEZE:
        raise ConfigError(f"freeze must be one of {', '.join(FREEZE)} (got {freeze!r}).")
    if not (isinstance(backbone_lr_scale, (int, float)) and 0 <= backbone_lr_scale <= 10):
        raise ConfigError(f"backbone_lr_scale must be a number from 0 to 10 (got {backbone_lr_scale}).")
    if not (isinstance(image_size, int) and (image_size == 0 or 32 <= image_size <= 512)):
        raise ConfigError(f"image_size must be 0 (the weights' own size) or from 32 to 512 pixels (got {image_size}).")


def _build_from_run(
    in_shape, num_classes: int, weights: str, source_run: str, source_arch: dict | None, runs_root: str | None, **kw
) -> TransferNet:
    """backbone "run": the source classifier's layers up to its final Linear, and a new head."""
    if weights == "imagenet":
        raise ConfigError(
            "backbone 'run' is a network the playground trained: use weights run (its weights) "
            "or none (the same layers from scratch), or pick a torchvision backbone for imagenet."
        )
    arch, state = None, None
    if weights == "run" or not source_arch:
        arch, state = read_source(source_run, runs_root, with_weights=weights == "run")
    if source_arch:
        given = check_arch(source_arch)
        if arch is not None and not same_arch(arch, given):
            raise CheckpointError(
                f"source_arch does not describe run {source_run} (a {arch['model']} on "
                f"{arch['shape']} images): drop source_arch, or name the run it describes."
            )
        arch = {**given, **({} if arch is None else {"mean": arch["mean"], "std": arch["std"]})}
    assert arch is not None  # read from the run above, or given as source_arch
    net = build_source_net(arch, state, f"run {source_run}")
    c, h, w = (int(v) for v in arch["shape"])
    mean, std = arch.get("mean") or [0.0] * c, arch.get("std") or [1.0] * c
    head, blocks = run_spec_parts(net)
    spec = Backbone(
        f"run:{arch['model']}",
        head,
        blocks,
        f"the playground's own {arch['model']} (run {source_run or '?'}), {c} x {h} x {w} input",
    )
    pre = Preprocess((h, w), mean, std, TF.InterpolationMode.BILINEAR, channels=c)
    return TransferNet(spec, net, pre, num_classes, weights=weights, **kw)


def build_transfer(
    *,
    in_shape: tuple[int, int, int],
    num_classes: int,
    backbone: str = "mobilenet_v3_small",
    weights: str = "imagenet",
    source_run: str = "",
    source_arch: dict | None = None,
    freeze: str | None = None,
    k: int | None = None,
    backbone_lr_scale: float | None = None,
    image_size: int = 0,
    feature_cache: bool = True,
    download: bool = True,
    progress: Callable[[int, int], None] | None = None,
    runs_root: str | None = None,
) -> TransferNet:
    """``transfer`` with the extras the app needs (download progress, another run store)."""
    freeze, k, backbone_lr_scale = default_recipe(backbone, weights, freeze, k, backbone_lr_scale)
    _check_in_shape(in_shape)
    _check_settings(weights, freeze, backbone_lr_scale, image_size)
    kw: dict[str, Any] = {
        "freeze": freeze,
        "k": k,
        "backbone_lr_scale": float(backbone_lr_scale),
        "feature_cache": bool(feature_cache),
    }
    if backbone == RUN_BACKBONE:
        return _build_from_run(in_shape, num_classes, weights, source_run, source_arch, runs_root, **kw)
    spec = backbone_spec(backbone)
    t = resolve_weights(spec.arch).transforms()  # preprocessing travels with the weights
    net = get_model(spec.arch, weights=None)
    state, where = pretrained_state(spec, weights, source_run, runs_root, download, progress)
    pre = Preprocess(image_size or int(t.crop_size[0]), t.mean, t.std, t.interpolation)
    if weights == "run":  # a source TransferNet's state dict: its own preprocessing, backbone and (old) head
        assert state is not None  # source_state raises when the run has none
        pre.load_state_dict({k[len("preprocess.") :]: v for k, v in state.items() if k.startswith("preprocess.")})
        head_prefix = f"backbone.{spec.head}."
        state = {
            k[len("backbone.") :]: v
            for k, v in state.items()
            if k.startswith("backbone.") and not k.startswith(head_prefix)
        }
    if state is not None:
        load_body(net, spec, state, where)
    return TransferNet(spec, net, pre, num_classes, weights=weights, **kw)
