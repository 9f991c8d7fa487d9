"""Feature networks for style transfer: ``FeatureNet`` (a conv stack with the layer names of PyTorch's
neural-style tutorial), the registry of pretrained ones (VGG19, VGG16 via the torch hub cache), CNNs trained in the
playground (a run in the run store) as feature networks, and the per-process cache of loaded networks.
What the losses read from them (``Extractor``, ``gram_matrix``, ``tv_loss``) is in ``extract``."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn as nn
from torchvision.models import get_model
from torchvision.models.vgg import cfgs, make_layers

from playground.errors import CheckpointError, ConfigError, WeightsUnavailable
from playground.models import list_models
from playground.models.saved import load_saved
from playground.registry import Registry
from playground.runs import RunStore
from playground.seeding import seeded
from playground.weights import load_weights, resolve_weights, weights_cached, weights_file

__all__ = [
    "FeatureNet",
    "name_layers",
    "FEATURE_NETS",
    "VGG_CFG",
    "backbone_info",
    "FEATURE_RUN_SCAN",
    "last_test_acc",
    "feature_runs",
    "run_features",
    "feature_net",
    "save_random_weights",
]


@dataclass
class FeatureNet:
    """A convolutional feature stack with named layers, ready for ``Extractor``."""

    label: str
    layers: list[tuple[str, nn.Module]]  # (conv_1 | relu_1 | pool_1 | bn_1 ..., module), in order
    mean: tuple[float, ...]
    std: tuple[float, ...]
    in_channels: int
    default_content: tuple[str, ...]
    default_style: dict[str, float]
    lower_quality: bool = False
    notes: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        return [n for n, _ in self.layers]

    def check(self, content_layers: Sequence[str], style_layers: Mapping[str, float]) -> None:
        names = self.names()
        bad = [n for n in (*content_layers, *style_layers) if n not in names]
        if bad:
            raise ConfigError(f"{self.label} has no layer {', '.join(map(repr, bad))}. Its layers: {', '.join(names)}.")
        if not content_layers and not style_layers:
            raise ConfigError("Choose at least one content or style layer.")


def name_layers(modules: Sequence[nn.Module]) -> list[tuple[str, nn.Module]]:
    """The tutorial's naming: conv_i counts convolutions; relu_i/bn_i/pool_i take the number of the conv before."""
    out, i = [], 0
    for m in modules:
        if isinstance(m, nn.Conv2d):
            i += 1
            name = f"conv_{i}"
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            name = f"pool_{i}"
        elif isinstance(m, nn.BatchNorm2d):
            name = f"bn_{i}"
        elif isinstance(m, (nn.Dropout, nn.Dropout2d)):
            continue  # identity when not training
        elif isinstance(m, nn.ReLU):
            name = f"relu_{i}"
        else:
            name = f"{type(m).__name__.lower()}_{i}"
        out.append((name, m))
    return out


FEATURE_NETS: Registry[Callable[..., FeatureNet]] = Registry("feature network")
VGG_CFG = {"vgg19": "E", "vgg16": "D"}  # torchvision's layer configurations


def _vgg(arch: str, cfg: str, download: bool, progress: Callable[[int, int], None] | None) -> FeatureNet:
    w = resolve_weights(arch)
    state = load_weights(w, download=download, progress=progress)
    feats = make_layers(cfgs[cfg], batch_norm=False)
    try:  # only the convolutional part is needed: the classifier's 120M parameters are never built
        feats.load_state_dict({k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")})
    except RuntimeError as e:
        raise CheckpointError(
            f"{weights_file(w)} does not match {arch}: {str(e)[:300]}. Delete it and download it again."
        ) from None
    del state
    tf = w.transforms()
    return FeatureNet(
        label=f"{arch} ({w.name})",
        layers=name_layers(list(feats)),
        mean=tuple(tf.mean),
        std=tuple(tf.std),
        in_channels=3,
        default_content=("conv_4",),
        default_style={f"conv_{i}": 1.0 for i in range(1, 6)},
    )


@FEATURE_NETS.register("vgg19")
def vgg19_features(*, download: bool = True, progress=None) -> FeatureNet:
    """VGG19 trained on ImageNet (torchvision weights; the tutorial's network, best quality)"""
    return _vgg("vgg19", VGG_CFG["vgg19"], download, progress)


@FEATURE_NETS.register("vgg16")
def vgg16_features(*, download: bool = True, progress=None) -> FeatureNet:
    """VGG16 trained on ImageNet (torchvision weights)"""
    return _vgg("vgg16", VGG_CFG["vgg16"], download, progress)


def save_random_weights(arch: str = "vgg19", seed: int = 0) -> Path:
    """For benchmarks and tests where the real weights are absent (no network): write a state dict with
    ``arch``'s real keys and shapes where torch hub looks for the weights (``weights_file``). Conv layers get
    torchvision's VGG initialisation (Kaiming normal, fan_out), the unused classifier zeros. Timings are
    the same as with the trained weights; results look like noise, not like art."""
    cfg = VGG_CFG[arch]
    with seeded(seed):
        feats = make_layers(cfgs[cfg], batch_norm=False)
        for m in feats.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:  # make_layers' convs have one
                    nn.init.zeros_(m.bias)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in get_model(arch, weights=None).state_dict().items()}
    state = {f"features.{k}": v for k, v in feats.state_dict().items()}
    state.update({k: torch.zeros(s) for k, s in shapes.items() if k not in state})
    path = weights_file(resolve_weights(arch))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def backbone_info(backbone: str, store_root: str | None = None) -> dict[str, Any]:
    """Layer names and defaults of a backbone, and whether its weights are at hand, without loading
    VGG weights (the page asks this on every rerun): {"layers", "content", "style", "label",
    "lower_quality", "notes", "available", "message"}."""
    if backbone.startswith("run:"):
        net = feature_net(backbone, store_root=store_root)  # a small checkpoint: loading it checks it too
        return {
            "layers": net.names(),
            "content": list(net.default_content),
            "style": dict(net.default_style),
            "label": net.label,
            "lower_quality": True,
            "notes": net.notes,
            "available": True,
            "message": None,
        }
    FEATURE_NETS.check(backbone)
    with torch.device("meta"):  # names only: no memory, no initialisation
        names = [n for n, _ in name_layers(list(make_layers(cfgs[VGG_CFG[backbone]])))]
    w = resolve_weights(backbone)
    cached = weights_cached(w)
    path = weights_file(w)
    mb = w.meta.get("_file_size") or 0
    message = (
        None
        if cached
        else (
            f"The {backbone} ImageNet weights are not in the torch hub cache ({path}). Start tries to download "
            f"them{f' ({mb:.0f} MB)' if mb else ''}; offline, put {path.name} (from {w.url}) into {path.parent}, "
            "or use a CNN trained in the playground as the feature network (lower quality)."
        )
    )
    return {
        "layers": names,
        "content": ["conv_4"],
        "style": {f"conv_{i}": 1.0 for i in range(1, 6)},
        "label": f"{backbone} ({w.name})",
        "lower_quality": False,
        "notes": [],
        "available": cached,
        "message": message,
    }


def last_test_acc(run, first_chunk: int = 1 << 14, most: int = 1 << 22) -> float | None:
    """The test accuracy of a run's last ``epoch`` (or ``done``) event, read from the end of metrics.jsonl:
    a long run's file is megabytes and the answer is in its last lines. Looks at most ``most`` bytes."""
    try:
        with open(run.metrics_path, "rb") as f:
            end = f.seek(0, os.SEEK_END)
            size = first_chunk
            while True:
                pos = max(0, end - size)
                f.seek(pos)
                lines = f.read(end - pos).split(b"\n")
                for line in reversed(lines[1:] if pos else lines):  # the first line of a chunk may be cut
                    if b'"test_acc"' not in line:
                        continue
                    try:
                        e = json.loads(line)
                    except ValueError:
                        continue
                    if e.get("kind") in ("epoch", "done") and isinstance(e.get("test_acc"), (int, float)):
                        return float(e["test_acc"])
                if pos == 0 or size >= most:
                    return None
                size *= 4
    except OSError:
        return None


FEATURE_RUN_SCAN = 100  # feature_runs looks at this many of the newest runs (a classroom store has hundreds)


def feature_runs(
    store=None, run_ids: Sequence[str] | None = None, limit: int = FEATURE_RUN_SCAN
) -> list[dict[str, Any]]:
    """Playground runs usable as a feature network: a conv model (cnn, lenet5) with saved weights.

    Looks at the newest ``limit`` runs of ``store`` (only those in ``run_ids`` when given: the ones a
    session may see), reading each run's config and the end of its metrics file.
    Each: {"backbone": "run:<id>", "label": ..., "run_id", "model", "dataset", "test_acc"}; newest first."""
    store = store or RunStore()
    runs = store.list()
    if run_ids is not None:
        wanted = set(run_ids)
        runs = [r for r in runs if r.run_id in wanted]
    out = []
    for run in runs[: max(0, limit)]:
        try:
            cfg = run.config()
        except Exception:  # an unreadable config.json: not offered
            continue
        if cfg.model.name not in list_models(conv_features=True) or run.weights_path() is None:
            continue
        acc = last_test_acc(run)
        label = f"run {run.run_id}: {cfg.model.name} on {cfg.data.dataset}" + (
            f", test accuracy {acc:.1%}" if acc is not None else ""
        )
        out.append(
            {
                "backbone": f"run:{run.run_id}",
                "label": label,
                "run_id": run.run_id,
                "model": cfg.model.name,
                "dataset": cfg.data.dataset,
                "test_acc": acc,
            }
        )
    return out


def run_features(run_id: str, store=None) -> FeatureNet:
    """The conv stack of a playground-trained CNN (a run in the run store) as a feature network."""
    store = store or RunStore()
    run = store.open(run_id)
    cfg = run.config()
    if cfg.model.name not in list_models(conv_features=True):
        raise ConfigError(
            f"Run {run_id} trained a {cfg.model.name}; style transfer needs a convolutional "
            "network (cnn or lenet5). Pick another run or train a cnn on the Train page."
        )
    saved = load_saved(run)  # CheckpointError when it never finished an epoch
    model = saved.model
    c, h, w = saved.shape
    d: dict[str, Any] = {
        "name": saved.config.data.dataset,
        "classes": saved.classes,
        "mean": saved.mean,
        "std": saved.std,
    }
    leaves = [m for m in model.get_submodule("features").modules() if not list(m.children())]
    layers = name_layers(leaves)
    acts = [n for n, m in layers if not n.startswith(("conv_", "bn_", "pool_"))]
    convs = [n for n, _ in layers if n.startswith("conv_")]
    style = {n: 1.0 for n in (acts or convs)}
    content = ((acts or convs)[-2] if len(acts or convs) > 1 else (acts or convs)[-1],)
    notes = [
        f"Lower quality than VGG19: this network was trained on {d['name']} ({h}x{w} images, "
        f"{len(d['classes'])} classes), so its filters know far fewer textures; expect coarse results "
        "and tune the style weight (its features have another scale)."
    ]
    if c == 1:
        notes.append(
            "It was trained on grayscale images: it sees the luminance only, so colours come from the starting image."
        )
    return FeatureNet(
        label=f"playground {cfg.model.name} (run {run_id}, {d['name']})",
        layers=layers,
        mean=tuple(d["mean"]),
        std=tuple(d["std"]),
        in_channels=c,
        default_content=content,
        default_style=style,
        lower_quality=True,
        notes=notes,
    )


_NET_LOCK = threading.Lock()


def _on(net: FeatureNet, device: torch.device) -> FeatureNet:
    for _, m in net.layers:
        m.to(device).eval().requires_grad_(False)
    return net


@lru_cache(maxsize=4)
def _cached_net(backbone: str, key: tuple, download: bool, device: torch.device) -> FeatureNet:
    if backbone.startswith("run:"):
        return _on(run_features(backbone[4:], RunStore(key[0])), device)
    return _on(FEATURE_NETS.get(backbone)(download=download), device)


def _cache_key(backbone: str, store_root: str | None) -> tuple:
    """What identifies the files behind a backbone (so a new TORCH_HOME or a replaced file reloads)."""
    if backbone.startswith("run:"):
        root = str(Path(store_root) if store_root else RunStore().root)
        return (root, backbone)
    FEATURE_NETS.check(backbone)  # unknown: a ConfigError with the list of choices
    p = weights_file(resolve_weights(backbone))
    return (str(p), p.stat().st_mtime if p.is_file() else None)


def feature_net(
    backbone: str,
    *,
    device: torch.device | str = "cpu",
    download: bool = True,
    store_root: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FeatureNet:
    """Load (once per process; shared read-only by every caller) the named feature network.

    Offline and uncached VGG weights raise WeightsUnavailable saying where the file goes; the
    message also offers a playground-trained CNN."""
    key, device = _cache_key(backbone, store_root), torch.device(device)
    with _NET_LOCK:
        try:
            if progress is not None and not backbone.startswith("run:") and key[1] is None:
                FEATURE_NETS.get(backbone)(download=download, progress=progress)  # a download: report its progress
                key = _cache_key(backbone, store_root)
            return _cached_net(backbone, key, download, device)
        except WeightsUnavailable as e:
            raise WeightsUnavailable(
                f"{e} Or use a CNN trained in the playground as the feature network "
                "(lower quality; choose backbone run:<run id>, or train a cnn on the "
                "Train page first)."
            ) from None
