"""Transfer learning: a backbone, its final layer replaced by a new head.

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

from typing import Any, Callable, cast

import torch
import torch.nn as nn
from torchvision.models import get_model
from torchvision.transforms.v2 import functional as TF

from ..data.normalise import parse_normalisation
from ..errors import CheckpointError, ConfigError
from ..runs import RunStore, saved_state
from ..weights import load_weights, resolve_weights, weights_file
from ._registry import register_model
from .backbones import BACKBONES, LUMA, Backbone, Preprocess, backbone_spec, convert_stats  # noqa: F401 (re-exported)
from .recipes import default_freeze, default_recipe  # noqa: F401  (default_freeze: re-exported)
from .run_backbone import RUN_BACKBONE, build_source_net, check_arch, read_source, run_spec_parts, same_arch

__all__ = ["BACKBONES", "FREEZE", "WEIGHTS", "Backbone", "TransferNet", "transfer", "build_transfer"]

FREEZE = ("head_only", "last_k", "finetune_all")
WEIGHTS = ("imagenet", "run", "none")


class TransferNet(nn.Module):
    """preprocess -> torchvision backbone whose final layer is the new head.

    ``normalises_input``: it takes images in [0, 1] (inspection and exports must not normalise).

    ``forward`` takes images (B, C, H, W) in [0, 1], or backbone features (B, in_features)
    from the feature cache, which go to the head alone."""

    normalises_input = True

    def __init__(
        self,
        spec: Backbone,
        net: nn.Module,
        preprocess: Preprocess,
        num_classes: int,
        *,
        weights: str,
        freeze: str,
        k: int,
        backbone_lr_scale: float,
        feature_cache: bool,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.preprocess = preprocess
        self.backbone = net
        old = net.get_submodule(spec.head)
        if not isinstance(old, nn.Linear):
            raise RuntimeError(f"{spec.arch}.{spec.head} is {type(old).__name__}, not Linear")  # torchvision changed
        self.replaced = {
            "name": spec.head,
            "old": repr(old),
            "in_features": old.in_features,
            "old_out_features": old.out_features,
        }
        self.backbone.set_submodule(spec.head, nn.Linear(old.in_features, num_classes))
        self.weights_source = weights
        self.freeze_mode, self.k = freeze, k
        self.backbone_lr_scale = backbone_lr_scale
        self.feature_cache = feature_cache
        self.stats_from_data = weights == "none"  # from scratch: normalise with the data's own statistics
        self.set_freeze(freeze, k)

    @property
    def head(self) -> nn.Linear:
        return cast(nn.Linear, self.backbone.get_submodule(self.spec.head))  # __init__ put a Linear there

    @property
    def in_features(self) -> int:
        return self.head.in_features

    # -- freezing --------------------------------------------------------------
    def trainable_blocks(self) -> list[str]:
        """Labels of the blocks that train (the head always does)."""
        labels = [label for label, _ in self.spec.blocks]
        n = {"head_only": 0, "last_k": self.k, "finetune_all": len(labels)}[self.freeze_mode]
        return labels[len(labels) - n :] if n else []

    def set_freeze(self, freeze: str, k: int = 1) -> None:
        if freeze not in FREEZE:
            raise ConfigError(f"freeze must be one of {', '.join(FREEZE)} (got {freeze!r}).")
        n_blocks = len(self.spec.blocks)
        if freeze == "last_k" and not (isinstance(k, int) and 1 <= k <= n_blocks):
            raise ConfigError(
                f"k must be a whole number from 1 to {n_blocks} for {self.spec.arch} "
                f"(got {k}); use finetune_all to train every block."
            )
        self.freeze_mode, self.k = freeze, k
        live = set(self.trainable_blocks())
        self.backbone.requires_grad_(freeze == "finetune_all")
        self._frozen: list[nn.Module] = []
        for label, names in self.spec.blocks:
            for name in names:
                mod = self.backbone.get_submodule(name)
                mod.requires_grad_(label in live)
                if label not in live:
                    self._frozen.append(mod)
        self.head.requires_grad_(True)
        self.train(self.training)

    def train(self, mode: bool = True) -> "TransferNet":
        super().train(mode)
        for mod in self._frozen if hasattr(self, "_frozen") else ():
            mod.eval()  # frozen blocks are a fixed function: no BatchNorm updates, no dropout
        return self

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """The head at ``lr``, the trainable part of the backbone at ``lr * backbone_lr_scale``."""
        head = list(self.head.parameters())
        ids = {id(q) for q in head}
        body = [q for q in self.backbone.parameters() if q.requires_grad and id(q) not in ids]
        groups = [{"params": head, "lr": lr, "name": "head"}]
        if body:
            groups.append({"params": body, "lr": lr * self.backbone_lr_scale, "name": "backbone"})
        return groups

    # -- forward ---------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:  # (B, in_features): cached backbone features
            return self.head(x)
        return self.backbone(self.preprocess(x))  # (B, C, H, W) -> (B, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What the head sees: (B, C, H, W) in [0, 1] -> (B, in_features)."""
        seen: list[torch.Tensor] = []
        hook = self.head.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
        try:
            self.backbone(self.preprocess(x))
        finally:
            hook.remove()
        return seen[0]

    def uses_feature_cache(self, augment: tuple[str, ...] = ()) -> bool:
        """The cache holds one feature vector per image: only for a fully frozen backbone and no augmentation."""
        return self.feature_cache and self.freeze_mode == "head_only" and not augment

    # -- facts the engine applies (plan.prepare) ----------------------------------
    def check_init(self, init: str) -> None:
        """An initialisation other than the default would overwrite pretrained weights."""
        if init != "default" and self.weights_source != "none":
            raise ConfigError(
                f"The initialisation {init!r} would overwrite the pretrained backbone. "
                "Use init 'default' (the new head starts as nn.Linear's default), or weights none "
                "to train from scratch."
            )

    def adopts_normalisation(self, normalize: str = "data") -> bool:
        """Whether the run's normalisation (``data.normalize``) replaces the one built in: always from
        scratch; with pretrained weights for every explicit choice (none, fixed values, ImageNet's), while
        the default ("data") keeps the statistics the weights were trained with (their own transforms, or the
        source run's), which is what those weights expect."""
        return self.weights_source == "none" or parse_normalisation(normalize)[0] != "data"

    def adopt_data_stats(self, mean: torch.Tensor, std: torch.Tensor, normalize: str = "data") -> None:
        """Normalise with the run's (mean, std) where ``adopts_normalisation`` says so; else keep the weights'."""
        if self.adopts_normalisation(normalize):
            c = self.preprocess.channels
            self.preprocess.mean.copy_(convert_stats(mean, c).view(1, c, 1, 1))
            self.preprocess.std.copy_(convert_stats(std, c).view(1, c, 1, 1))


def _check_in_shape(in_shape: tuple[int, int, int]) -> None:
    if in_shape[0] not in (1, 3):
        raise ConfigError(f"Transfer backbones take grey or RGB images; this data has {in_shape[0]} channels.")


def _source_state(source_run: str, arch: str, runs_root: str | None) -> dict[str, torch.Tensor]:
    """The backbone weights of a playground run that trained a ``transfer`` model with ``arch``."""
    if not source_run:
        raise ConfigError(
            "weights 'run' needs source_run: the id of a finished run that trained a transfer "
            "model (see `python -m playground runs`)."
        )
    run = RunStore(runs_root).open(source_run)
    ckpt, _ = saved_state(run)  # model.pt, else its last checkpoint; weights_only=True inside
    model_cfg = (ckpt.get("config") or {}).get("model", {})
    if model_cfg.get("name") != "transfer":
        raise CheckpointError(
            f"Run {source_run} trained a {model_cfg.get('name')!r} model, not a transfer backbone, "
            f"so its weights do not fit {arch}. Use backbone 'run' to transfer that network's "
            f"own layers, or pretrain a 'transfer' model with backbone {arch} first."
        )
    src_arch = (model_cfg.get("params") or {}).get("backbone", "mobilenet_v3_small")
    if src_arch != arch:
        raise CheckpointError(
            f"Run {source_run} trained backbone {src_arch}, not {arch}: the architectures do "
            f"not match. Choose backbone {src_arch}, or a source run with {arch}."
        )
    return ckpt["model"]


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


def _pretrained_state(
    spec: Backbone,
    weights: str,
    source_run: str,
    runs_root: str | None,
    download: bool,
    progress: Callable[[int, int], None] | None,
) -> tuple[dict[str, torch.Tensor] | None, str]:
    """The state dict the backbone starts from (None: from scratch) and where it came from, for the messages."""
    if weights == "imagenet":
        w = resolve_weights(spec.arch)
        return load_weights(w, download=download, progress=progress), str(weights_file(w))
    if weights == "run":
        return _source_state(source_run, spec.arch, runs_root), f"run {source_run}"
    return None, ""


def _load_body(net: nn.Module, spec: Backbone, state: dict[str, torch.Tensor], where: str) -> None:
    """Every weight of ``state`` but the old head's into ``net``; a file for another architecture is refused."""
    head_keys = {f"{spec.head}.weight", f"{spec.head}.bias"}
    body = {k: v for k, v in state.items() if k not in head_keys}
    try:
        missing, unexpected = net.load_state_dict(body, strict=False)
    except RuntimeError as e:  # shape mismatches: a file for another architecture
        raise CheckpointError(f"The weights from {where} do not match {spec.arch}: {str(e)[:300]}") from None
    missing = [m for m in missing if m not in head_keys]
    if missing or unexpected:
        raise CheckpointError(
            f"The weights from {where} do not match {spec.arch}: "
            + (f"missing {len(missing)} tensor(s) (e.g. {', '.join(missing[:3])})" if missing else "")
            + ("; " if missing and unexpected else "")
            + (f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})" if unexpected else "")
            + "."
        )


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
    state, where = _pretrained_state(spec, weights, source_run, runs_root, download, progress)
    pre = Preprocess(image_size or int(t.crop_size[0]), t.mean, t.std, t.interpolation)
    if weights == "run":  # a source TransferNet's state dict: its own preprocessing, backbone and (old) head
        assert state is not None  # _source_state raises when the run has none
        pre.load_state_dict({k[len("preprocess.") :]: v for k, v in state.items() if k.startswith("preprocess.")})
        head_prefix = f"backbone.{spec.head}."
        state = {
            k[len("backbone.") :]: v
            for k, v in state.items()
            if k.startswith("backbone.") and not k.startswith(head_prefix)
        }
    if state is not None:
        _load_body(net, spec, state, where)
    return TransferNet(spec, net, pre, num_classes, weights=weights, **kw)
