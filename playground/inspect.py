"""Inside the network: activations, filters, saliency, Grad-CAM, initialisation, invariance.

Everything here works on a trained model loaded from the run store (``load_trained``) or
built in memory (``Trained.from_model``), on the CPU, and returns numpy arrays and dicts
for ``plots_inside`` and the app; nothing here imports Streamlit.

- ``activations``: every layer's output for one image, via
  ``torchvision.models.feature_extraction`` (FX), with forward hooks as the fallback for a
  model FX cannot trace. Layers without spatial maps (flatten, linear) come back as vectors.
- ``saliency`` (|d score / d input|, Simonyan et al. 2013) and ``grad_cam`` (Selvaraju et al.
  2017: ReLU of the gradient-weighted sum of a conv layer's maps, upsampled to the input).
- ``init_stats`` and ``init_race``: per-layer statistics of a freshly initialised model on one
  batch, and a short same-seed training race between initialisations.
- ``param_table`` and ``invariance``: what weight sharing saves, and how accuracy falls when
  test images are shifted or rotated (``playground.data.augment``'s ``affine_matrix``/``warp``).
"""

from __future__ import annotations

import io
import json
import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import RunConfig
from .data import Dataset, load_dataset
from .data.augment import affine_matrix, warp
from .errors import CheckpointError, ConfigError, PlaygroundError
from .init import init_weights
from .models import build_model, build_saved_model
from .models.autoencoder import RECONSTRUCTION_MODELS
from .runs import Run, RunStore
from .snapshots import list_snapshots, load_snapshot, snapshot_weights, weight_layers

__all__ = ["Trained", "load_trained", "inspectable_runs", "layer_nodes", "activations", "predict", "saliency",
           "grad_cam", "top_activating", "image_from_bytes", "display_image", "filter_grid", "filter_layers",
           "filters_at", "snapshot_epochs", "test_predictions", "misclassified", "highest_loss", "init_lab_models",
           "init_stats", "init_race", "unit_spread", "param_table", "invariance", "config_fields", "with_change",
           "config_diff"]

DROPOUT = (nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.AlphaDropout)


# -- a trained model, ready to inspect -------------------------------------------------

@dataclass
class Trained:
    """A model in eval mode on the CPU, its data set and the normalisation it was trained with."""

    model: nn.Module
    data: Dataset
    config: RunConfig | None = None
    run_id: str | None = None
    source: str = "memory"  # model.pt (final), checkpoint.pt (last finished epoch), memory
    epoch: int | None = None  # epochs trained (the last may be partial for a stopped run)
    # The input normalisation the model was trained with, per channel; None: the data set's statistics
    # (a model with ``normalises_input`` takes [0, 1] images: mean 0, std 1, whatever is given here).
    norm: tuple[Sequence[float], Sequence[float]] | None = None
    _extractors: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.model.eval()
        c = self.data.shape[0]
        if getattr(self.model, "normalises_input", False):
            mean, std = [0.0] * c, [1.0] * c
        elif self.norm is not None and len(self.norm[0]) == len(self.norm[1]) == c:
            mean, std = self.norm
        else:
            mean, std = self.data.mean, self.data.std
        self.mean = torch.tensor(list(mean), dtype=torch.float32).view(1, c, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32).view(1, c, 1, 1)

    @classmethod
    def from_model(cls, model: nn.Module, data: Dataset, **kw: Any) -> "Trained":
        return cls(model=model.cpu().to(memory_format=torch.contiguous_format), data=data, **kw)

    @property
    def classes(self) -> list[str]:
        return self.data.classes

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return self.data.shape

    @property
    def label(self) -> str:
        name = self.config.model.name if self.config else type(self.model).__name__
        return f"{name} ({self.run_id})" if self.run_id else name

    def to_input(self, x_uint8: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) or (C, H, W) -> normalised float (B, C, H, W)."""
        x = x_uint8 if x_uint8.ndim == 4 else x_uint8.unsqueeze(0)
        return (x.float() / 255 - self.mean) / self.std

    def extractor(self, nodes: tuple[str, ...]) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
        """A callable x -> {node: output}; built once per node set (FX tracing costs ~50 ms)."""
        with self._lock:
            ex = self._extractors.get(nodes)
            if ex is None:
                ex = self._extractors[nodes] = _make_extractor(self.model, nodes)
            return ex


def _make_extractor(model: nn.Module, nodes: tuple[str, ...]):
    from torchvision.models.feature_extraction import create_feature_extractor

    try:
        fx = create_feature_extractor(model, return_nodes=list(nodes))
        fx.eval()
        return fx
    except Exception:  # a model FX cannot trace: forward hooks on the named modules
        return _HookExtractor(model, nodes)
    finally:
        model.eval()  # tracing switches train/eval and leaves train mode on when it fails


class _HookExtractor:
    def __init__(self, model: nn.Module, nodes: tuple[str, ...]):
        self.model, self.nodes = model, nodes
        mods = dict(model.named_modules())
        missing = [n for n in nodes if n not in mods]
        if missing:
            raise ConfigError(f"No layer named {', '.join(missing)} in this model.")
        self.mods = {n: mods[n] for n in nodes}

    def __call__(self, x):
        out: dict[str, torch.Tensor] = {}
        handles = [m.register_forward_hook(lambda _m, _i, o, n=n: out.__setitem__(n, o))
                   for n, m in self.mods.items()]
        try:
            self.model(x)
        finally:
            for h in handles:
                h.remove()
        return out


def load_trained(run: Run | str, store: RunStore | None = None) -> Trained:
    """The run's final model (model.pt) or, while it trains, its last finished epoch (checkpoint.pt)."""
    if isinstance(run, str):
        run = (store or RunStore()).open(run)
    if run.model_path.exists():
        ckpt, source = run.load_checkpoint(final=True), "model.pt"
    elif run.checkpoint_path.exists():
        ckpt, source = run.load_checkpoint(final=False), "checkpoint.pt"
    else:
        raise CheckpointError(f"Run {run.run_id} has no saved model yet: a model is saved at the end of each "
                              "epoch (and when the run ends). Wait for its first epoch, or pick another run.")
    try:
        config = RunConfig.from_dict(ckpt["config"]) if "config" in ckpt else run.config()
    except PlaygroundError:
        config = run.config()
    if config.train.task != "classify" or config.model.name in RECONSTRUCTION_MODELS:
        raise ConfigError(f"Run {run.run_id} trained the {config.train.task!r} task ({config.model.name}); this page "
                          "inspects classifiers. Look at autoencoder runs on the Autoencoders page.")
    d, m = config.data, config.model
    data = load_dataset(d.dataset, root=d.data_root, download=False, **dict(d.params))
    model = build_saved_model(m.name, in_shape=data.shape, num_classes=data.num_classes, params=dict(m.params))
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise CheckpointError(f"The saved weights of run {run.run_id} do not fit its model "
                              f"({str(e).splitlines()[0]}).") from None
    # model.pt records the last epoch's index, checkpoint.pt the number of epochs done: store the count.
    done = ckpt.get("epoch")
    if done is not None and source == "model.pt":
        done += 1
    meta = ckpt.get("data") if isinstance(ckpt.get("data"), dict) else {}
    norm = (meta["mean"], meta["std"]) if meta.get("mean") and meta.get("std") else None
    return Trained(model=model, data=data, config=config, run_id=run.run_id, source=source, epoch=done, norm=norm)


def inspectable_runs(store: RunStore, limit: int = 60,
                     keep: Callable[[str], bool] | None = None) -> list[dict[str, Any]]:
    """Classifier runs with saved weights, newest first: id, data set, model, source, snapshot count.
    Reconstruction (autoencoder) runs are left out; ``keep(run_id)`` filters further (visibility)."""
    out: list[dict[str, Any]] = []
    for run in store.list():
        if len(out) >= limit:
            break
        if keep is not None and not keep(run.run_id):
            continue
        if not (run.model_path.exists() or run.checkpoint_path.exists()):
            continue
        try:
            cfg = run.config()
        except PlaygroundError:
            continue
        if cfg.train.task != "classify" or cfg.model.name in RECONSTRUCTION_MODELS:
            continue
        out.append({"run_id": run.run_id, "dataset": cfg.data.dataset, "model": cfg.model.name,
                    "init": cfg.model.init, "final": run.model_path.exists(),
                    "snapshots": len(list_snapshots(run)),
                    "label": f"{run.run_id} · {cfg.data.dataset} · {cfg.model.name}"
                             + ("" if run.model_path.exists() else " (training: last epoch)")})
    return out


# -- activations ---------------------------------------------------------------------

def layer_nodes(tr: Trained) -> list[str]:
    """Every layer output worth showing, in execution order (FX node names; dropout left out)."""
    from torchvision.models.feature_extraction import get_graph_node_names

    with tr._lock:
        cached = tr._extractors.get("__nodes__")
    if cached is not None:
        return list(cached)
    mods = dict(tr.model.named_modules())
    try:
        _, nodes = get_graph_node_names(tr.model)  # traces the model twice: ~100 ms, so done once
    except Exception:  # untraceable: the leaf modules, in definition order
        nodes = [n for n, m in mods.items() if n and not any(True for _ in m.children())]
    finally:
        tr.model.eval()  # tracing switches train/eval and leaves train mode on when it fails
    nodes = [n for n in nodes if n != "x" and not isinstance(mods.get(n), DROPOUT)]
    with tr._lock:
        tr._extractors["__nodes__"] = tuple(nodes)
    return nodes


def _kind(mods: dict[str, nn.Module], node: str) -> str:
    m = mods.get(node)
    return type(m).__name__ if m is not None else node.rsplit(".", 1)[-1]


@torch.no_grad()
def activations(tr: Trained, image: torch.Tensor, nodes: Sequence[str] | None = None) -> dict[str, Any]:
    """Feature maps of every layer for one uint8 image (C, H, W).

    Returns ``layers``: [{name, kind, shape, spatial, maps (C, H, W) | None, vector (N,) | None}],
    ``probs`` (K,) and ``range`` (the largest |value| over all layers, for a global colour scale).
    """
    nodes = tuple(nodes or layer_nodes(tr))
    out = tr.extractor(nodes)(tr.to_input(image))
    layers, top = [], 0.0
    mods = dict(tr.model.named_modules())
    for n in nodes:
        a = out[n][0].float()  # drop the batch dim
        spatial = a.ndim == 3 and a.shape[1] * a.shape[2] > 1
        arr = a.numpy()
        top = max(top, float(np.abs(arr).max()) if arr.size else 0.0)
        layers.append({"name": n, "kind": _kind(mods, n), "shape": tuple(a.shape), "spatial": spatial,
                       "maps": arr if spatial else None, "vector": None if spatial else arr.reshape(-1)})
    logits = out[nodes[-1]] if out[nodes[-1]].ndim == 2 else tr.model(tr.to_input(image))
    return {"layers": layers, "probs": logits[0].float().softmax(0).numpy(), "range": top}


@torch.no_grad()
def predict(tr: Trained, image: torch.Tensor, k: int = 3) -> list[tuple[str, float]]:
    """Top-k classes and probabilities for one uint8 image (C, H, W)."""
    probs = tr.model(tr.to_input(image))[0].float().softmax(0)
    p, i = probs.topk(min(k, len(probs)))
    return [(tr.classes[c], float(q)) for c, q in zip(i.tolist(), p.tolist())]


def _target(logits: torch.Tensor, target: int | None, n: int) -> int:
    if target is None:
        return int(logits.argmax())
    if not 0 <= target < n:
        raise ConfigError(f"class index must be between 0 and {n - 1} (got {target}).")
    return int(target)


def saliency(tr: Trained, image: torch.Tensor, target: int | None = None) -> dict[str, Any]:
    """Vanilla gradient saliency: max over channels of |d logit[target] / d input|, scaled to [0, 1]."""
    x = tr.to_input(image).requires_grad_(True)  # (1, C, H, W)
    logits = tr.model(x)
    t = _target(logits[0], target, logits.shape[1])
    (grad,) = torch.autograd.grad(logits[0, t], x)
    sal = grad[0].abs().amax(0)  # (H, W)
    sal = sal / sal.max().clamp_min(1e-12)
    return {"map": sal.numpy(), "target": t, "class": tr.classes[t]}


def last_conv(model: nn.Module) -> str:
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ConfigError("Grad-CAM needs a convolutional layer; this model has none (an MLP has no spatial "
                          "maps). Use the saliency map instead, or pick a CNN run.")
    return convs[-1]


def grad_cam(tr: Trained, image: torch.Tensor, target: int | None = None, layer: str | None = None) -> dict[str, Any]:
    """Grad-CAM: ReLU(sum_k alpha_k A_k), alpha_k the spatial mean of d logit[target] / d A_k,
    at ``layer`` (default: the last conv layer), bilinearly upsampled to the input size, in [0, 1]."""
    layer = layer or last_conv(tr.model)
    mods = dict(tr.model.named_modules())
    if layer not in mods:
        raise ConfigError(f"No layer named {layer!r} in this model.")
    store: dict[str, torch.Tensor] = {}
    h = mods[layer].register_forward_hook(lambda _m, _i, o: store.__setitem__("a", o))
    try:  # the input asks for gradients so the maps have them even behind frozen layers
        logits = tr.model(tr.to_input(image).requires_grad_(True))
    finally:
        h.remove()
    a = store["a"]  # (1, K, h, w)
    if a.ndim != 4:
        raise ConfigError(f"Layer {layer!r} has no spatial maps; Grad-CAM needs a conv layer's output.")
    t = _target(logits[0], target, logits.shape[1])
    (g,) = torch.autograd.grad(logits[0, t], a)
    weights = g.mean(dim=(2, 3), keepdim=True)  # (1, K, 1, 1)
    cam = F.relu((weights * a).sum(1, keepdim=True))  # (1, 1, h, w)
    cam = F.interpolate(cam, size=image.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    cam = (cam / cam.max().clamp_min(1e-12)).detach()
    return {"map": cam.numpy(), "target": t, "class": tr.classes[t], "layer": layer,
            "layer_size": tuple(a.shape[-2:])}


@torch.no_grad()
def top_activating(tr: Trained, node: str, channel: int, n: int = 12, limit: int = 2000,
                   batch_size: int = 500) -> dict[str, Any]:
    """The test images that drive one channel (spatial mean) or unit hardest: indices, values, images."""
    ex = tr.extractor((node,))
    scores = []
    x = tr.data.test_x[:limit]
    for i in range(0, len(x), batch_size):
        a = ex(tr.to_input(x[i:i + batch_size]))[node].float()  # (B, C, H, W) or (B, N)
        if not 0 <= channel < a.shape[1]:
            raise ConfigError(f"Layer {node} has {a.shape[1]} channels/units; pick 0..{a.shape[1] - 1}.")
        v = a[:, channel]
        scores.append(v.flatten(1).mean(1) if v.ndim > 1 else v)
    s = torch.cat(scores)
    vals, idx = s.topk(min(n, len(s)))
    return {"index": idx.tolist(), "value": [round(v, 4) for v in vals.tolist()],
            "images": [_hwc(tr.data.test_x[i]) for i in idx.tolist()],
            "labels": [tr.classes[int(tr.data.test_y[i])] for i in idx.tolist()], "searched": len(s)}


def _hwc(x: torch.Tensor) -> np.ndarray:
    a = x.permute(1, 2, 0).cpu().numpy()
    return a[:, :, 0] if a.shape[2] == 1 else a


def display_image(x: torch.Tensor) -> np.ndarray:
    """A uint8 image (C, H, W) as numpy for ``st.image``: (H, W) grey or (H, W, 3) RGB."""
    return _hwc(x)


def image_from_bytes(data: bytes, shape: tuple[int, int, int], invert: bool = False) -> torch.Tensor:
    """An uploaded image of any mode and size -> uint8 (C, H, W) for the model: EXIF-rotated, converted
    to grey or RGB, the shorter side resized to fit (antialiased), centre-cropped, optionally inverted
    (MNIST digits are white on black; a photo of a digit on paper is the other way round)."""
    from PIL import Image, ImageOps, UnidentifiedImageError
    from torchvision.transforms.v2 import functional as TF

    c, h, w = shape
    try:
        with Image.open(io.BytesIO(data)) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")  # transparent pixels onto white, not black
                bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, im)
            im = im.convert("L" if c == 1 else "RGB")
            t = TF.pil_to_tensor(im)  # (C, H', W') uint8
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as e:
        raise PlaygroundError(f"That file is not an image that can be read ({type(e).__name__}); upload a PNG, "
                              "JPEG, GIF, BMP or WebP picture.") from None
    if c not in (1, 3):
        raise ConfigError(f"The model takes {c}-channel images; uploads work for grey or RGB models.")
    t = TF.resize(t, [min(h, w)], antialias=True) if t.shape[1] != t.shape[2] or t.shape[1] != h else t
    t = TF.center_crop(t, [h, w])
    return (255 - t) if invert else t.contiguous()


# -- filters ---------------------------------------------------------------------------

def filter_layers(weights: dict[str, torch.Tensor]) -> list[str]:
    return list(weights)


def snapshot_epochs(run: Run) -> list[int]:
    return list_snapshots(run)


def filters_at(tr: Trained, run: Run | None, epoch: int | None) -> dict[str, torch.Tensor]:
    """The filter weights after ``epoch`` epochs (a snapshot), or the loaded model's (None).

    Snapshots hold only the layers that train; frozen layers (a transfer model's pretrained
    backbone) are the same at every epoch, so they come from the model. A trainable layer too
    big for the snapshot is left out of the epoch view."""
    if epoch is None or run is None:
        return snapshot_weights(tr.model)
    snap = load_snapshot(run, epoch)
    mods = dict(tr.model.named_modules())
    out = {}
    for n, w in snapshot_weights(tr.model).items():
        if n in snap:
            out[n] = snap[n]
        elif not mods[n].weight.requires_grad:
            out[n] = w.float()
    return out | {n: w for n, w in snap.items() if n not in out}


def filter_grid(w: torch.Tensor, in_shape: tuple[int, int, int] | None = None, in_channel: int | None = None,
                max_filters: int = 64, max_inputs: int = 16) -> dict[str, Any]:
    """Kernels as one image with gaps between tiles (NaN for a heatmap, white for RGB).

    - conv weights (O, I, k, k) with I == 3 and ``in_channel`` None: one RGB tile per filter,
      each scaled to [0, 1] on its own (how first-layer filters are usually shown);
    - otherwise: rows are output filters, columns input channels (or only ``in_channel``),
      values kept signed and shared in one colour scale (0 = white);
    - linear weights (O, N) with ``in_shape``: each unit's weights as an image (MLP first layer).
    """
    w = w.detach().float().cpu()
    if w.ndim == 2:
        if in_shape is None or w.shape[1] != math.prod(in_shape):
            raise ConfigError("These are fully connected weights; they show as images only for the first layer.")
        c = in_shape[0]
        w = w.view(w.shape[0], *in_shape)  # (O, C, H, W): each unit's weights laid out like the input
        if c != 3:
            in_channel = in_channel or 0
    if w.ndim != 4:
        raise ConfigError(f"Expected conv kernels (O, I, k, k), got shape {tuple(w.shape)}.")
    o, i, kh, kw = w.shape
    o_shown = min(o, max_filters)
    if i == 3 and in_channel is None:
        t = w[:o_shown]
        lo = t.amin(dim=(1, 2, 3), keepdim=True)
        hi = t.amax(dim=(1, 2, 3), keepdim=True)
        t = (t - lo) / (hi - lo).clamp_min(1e-12)  # (O, 3, k, k) in [0, 1]
        cols = min(o_shown, 16)
        rows = math.ceil(o_shown / cols)
        img = np.ones((rows * (kh + 1) - 1, cols * (kw + 1) - 1, 3), dtype=np.float32)
        for j in range(o_shown):
            r, q = divmod(j, cols)
            img[r * (kh + 1): r * (kh + 1) + kh, q * (kw + 1): q * (kw + 1) + kw] = t[j].permute(1, 2, 0).numpy()
        return {"rgb": (img * 255).round().astype(np.uint8), "z": None, "filters": o, "shown": o_shown,
                "inputs": i, "kernel": (kh, kw)}
    chans = [in_channel] if in_channel is not None else list(range(min(i, max_inputs)))
    if any(not 0 <= ch < i for ch in chans):
        raise ConfigError(f"This layer has {i} input channels; pick 0..{i - 1}.")
    if len(chans) == 1:  # one input channel: a square-ish grid of the filters
        cols = min(o_shown, 16 if kh <= 7 else 8)
        rows = math.ceil(o_shown / cols)
        tiles = [(divmod(j, cols), w[j, chans[0]]) for j in range(o_shown)]
    else:
        rows, cols = o_shown, len(chans)
        tiles = [((j, q), w[j, ch]) for j in range(o_shown) for q, ch in enumerate(chans)]
    z = np.full((rows * (kh + 1) - 1, cols * (kw + 1) - 1), np.nan, dtype=np.float32)
    for (r, q), k in tiles:
        z[r * (kh + 1): r * (kh + 1) + kh, q * (kw + 1): q * (kw + 1) + kw] = k.numpy()
    return {"rgb": None, "z": z, "range": float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0,
            "filters": o, "shown": o_shown, "inputs": i, "channels": chans, "kernel": (kh, kw)}


# -- predictions on the test split (confusion drill-down) ----------------------------

@torch.no_grad()
def test_predictions(tr: Trained, batch_size: int = 1000) -> dict[str, np.ndarray]:
    """Softmax probabilities (N, K), labels (N,), predictions and per-image loss on the test split."""
    probs = []
    for i in range(0, len(tr.data.test_y), batch_size):
        probs.append(tr.model(tr.to_input(tr.data.test_x[i:i + batch_size])).float().softmax(1))
    p = torch.cat(probs)
    y = tr.data.test_y
    loss = -p[torch.arange(len(y)), y].clamp_min(1e-12).log()
    return {"probs": p.numpy(), "y": y.numpy(), "pred": p.argmax(1).numpy(), "loss": loss.numpy()}


def _tiles(tr: Trained, preds: dict[str, np.ndarray], idx: Iterable[int], k: int = 3) -> list[dict[str, Any]]:
    out = []
    for i in idx:
        p = preds["probs"][i]
        top = np.argsort(-p)[:k]
        out.append({"index": int(i), "image": _hwc(tr.data.test_x[int(i)]),
                    "true": tr.classes[int(preds["y"][i])], "pred": tr.classes[int(preds["pred"][i])],
                    "loss": float(preds["loss"][i]),
                    "top": [(tr.classes[int(c)], float(p[c])) for c in top]})
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
    order = np.argsort(-preds["loss"])[:n]
    return _tiles(tr, preds, order)


# -- initialisation lab ---------------------------------------------------------------

def init_lab_models() -> list[str]:
    """Models the initialisation lab can build and race: classifiers trained from scratch (no autoencoders,
    which reconstruct images, and no models that start from pretrained weights, e.g. transfer)."""
    from .models import list_models, model_params

    return [n for n in list_models() if n not in RECONSTRUCTION_MODELS and "weights" not in model_params(n)]


def _check_lab_model(name: str) -> None:
    if name not in init_lab_models():
        raise ConfigError(f"The initialisation lab races classifiers trained from scratch; {name!r} is not one. "
                          f"Choose one of: {', '.join(init_lab_models())}.")


def init_stats(model_name: str, model_params: dict[str, Any], data: Dataset,
               inits: dict[str, tuple[str, dict[str, Any]]], batch_size: int = 256, seed: int = 0) -> dict[str, Any]:
    """Per weight layer of a freshly initialised model, on one training batch (train mode, as the
    first step sees it): output mean and std, std of the loss gradient w.r.t. that output, and std
    of the weight gradient. ``inits``: label -> (init name, params). Same seed, same batch for all."""
    _check_lab_model(model_name)
    x = data.train_x[:batch_size]
    y = data.train_y[:batch_size]
    c = data.shape[0]
    mean = torch.tensor(data.mean).view(1, c, 1, 1)
    std = torch.tensor(data.std).view(1, c, 1, 1)
    x = (x.float() / 255 - mean) / std
    out: dict[str, Any] = {}
    for label, (name, params) in inits.items():
        torch.manual_seed(seed)
        model = build_model(model_name, in_shape=data.shape, num_classes=data.num_classes, **dict(model_params))
        init_weights(model, name, **dict(params))
        model.train()
        layers = weight_layers(model)
        acts: dict[str, torch.Tensor] = {}
        hooks = []
        for n, m in layers:
            def hook(_m, _i, o, n=n):
                o.retain_grad()
                acts[n] = o
            hooks.append(m.register_forward_hook(hook))
        try:
            loss = F.cross_entropy(model(x), y)
            loss.backward()
        finally:
            for h in hooks:
                h.remove()
        out[label] = {
            "layers": [n for n, _ in layers],
            "act_mean": [float(acts[n].detach().mean()) for n, _ in layers],
            "act_std": [float(acts[n].detach().std()) for n, _ in layers],
            "grad_std": [float(acts[n].grad.std()) if acts[n].grad is not None else 0.0 for n, _ in layers],
            "w_grad_std": [float(m.weight.grad.std()) for _, m in layers],
            "loss": float(loss.detach()),
            "spread": unit_spread(model),
        }
    return out


@torch.no_grad()
def unit_spread(model: nn.Module) -> dict[str, float]:
    """Per weight layer: the largest difference between any unit's weights and the mean unit's.
    0 means every unit (filter, neuron) of the layer is the same: the symmetry was never broken."""
    out = {}
    for n, m in weight_layers(model):
        w = m.weight.detach().float().flatten(1)  # (units, fan_in)
        out[n] = float((w - w.mean(0, keepdim=True)).abs().max())
    return out


def init_race(base: RunConfig, inits: dict[str, tuple[str, dict[str, Any]]],
              progress: Callable[[float, str], None] | None = None) -> dict[str, Any]:
    """Train ``base`` once per initialisation, same seed and data (nothing is saved to the run store).

    Returns label -> {step, loss, acc, test_acc, spread (per layer, at the end), final}."""
    from .engine import fit

    _check_lab_model(base.model.name)
    if base.train.task != "classify":
        raise ConfigError("The initialisation lab races the classify task; autoencoders have their own page.")

    results: dict[str, Any] = {}
    for j, (label, (name, params)) in enumerate(inits.items()):
        cfg = base.replace(model={"init": name, "init_params": dict(params)},
                           train={"probes": ("unit_spread",), "checkpoint": False})
        r: dict[str, Any] = {"step": [], "loss": [], "acc": [], "spread": {}, "test_acc": None, "final": None}
        total = None
        for e in fit(cfg):
            kind = e["kind"]
            if kind == "start":
                total = e["total_steps"]
            elif kind == "step":
                r["step"].append(e["step"])
                r["loss"].append(e["loss"])
                r["acc"].append(e["acc"])
                r["spread"] = e.get("unit_spread", r["spread"])
                if progress and total:
                    progress((j + e["step"] / total) / len(inits), f"{label}: step {e['step']} / {total}")
            elif kind == "epoch":
                r["test_acc"] = e.get("test_acc")
            elif kind in ("done", "stopped", "diverged", "error"):
                r["final"] = {"kind": kind, "message": e.get("message")}
                if kind == "error":
                    raise PlaygroundError(f"{label}: {e.get('message')}")
        results[label] = r
    if progress:
        progress(1.0, "done")
    return results


# -- MLP vs CNN ------------------------------------------------------------------------

def param_table(model_name: str, model_params: dict[str, Any], in_shape: tuple[int, int, int],
                num_classes: int) -> dict[str, Any]:
    """Per weight layer: its parameters, and what the same input -> output shapes would cost
    locally connected (a kernel per position, no sharing) and fully connected."""
    model = build_model(model_name, in_shape=in_shape, num_classes=num_classes, **dict(model_params))
    shapes: dict[str, tuple] = {}
    hooks = [m.register_forward_hook(lambda m_, i, o, n=n: shapes.__setitem__(n, (tuple(i[0].shape[1:]),
                                                                                    tuple(o.shape[1:]))))
             for n, m in weight_layers(model)]
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
        rows.append({"layer": n, "kind": kind, "in": list(i_shape), "out": list(o_shape), "params": actual,
                     "locally_connected": local, "fully_connected": dense})
    total = sum(p.numel() for p in model.parameters())
    return {"rows": rows, "total": total, "model": model_name}


@torch.no_grad()
def invariance(models: Sequence[Trained], shifts: Sequence[int] = (0, 1, 2, 3, 4, 6, 8),
               angles: Sequence[float] = (0, 10, 20, 30, 45, 60, 90), n_images: int = 1000,
               batch_size: int = 500) -> dict[str, Any]:
    """Test accuracy of each model on the first ``n_images`` test images shifted by s pixels (mean of
    right, left, down, up) and rotated by a degrees (mean of +a and -a); empty areas are black."""
    if not models:
        raise ConfigError("Pick at least one trained run.")
    ref = models[0].data
    for tr in models[1:]:
        if tr.data.shape != ref.shape or tr.data.classes != ref.classes:
            raise ConfigError(f"{tr.label} was trained on other data ({tr.data.name}) than {models[0].label} "
                              f"({ref.name}); compare runs on the same data set.")
    x = ref.test_x[:n_images].float() / 255  # (N, C, H, W) in [0, 1]
    y = ref.test_y[:n_images]
    n = len(y)

    def acc_under(moves: list[tuple[float, float, float]]) -> list[float]:
        accs = []
        for tr in models:
            correct = 0
            for angle, tx, ty in moves:
                for i in range(0, n, batch_size):
                    xb = x[i:i + batch_size]
                    b = len(xb)
                    m = affine_matrix(torch.full((b,), float(angle)), torch.full((b,), float(tx)),
                                      torch.full((b,), float(ty)), torch.ones(b))
                    moved = warp(xb, m) if (angle or tx or ty) else xb
                    pred = tr.model((moved - tr.mean) / tr.std).argmax(1)
                    correct += int((pred == y[i:i + batch_size]).sum())
            accs.append(correct / (n * len(moves)))
        return accs

    shift_acc = [acc_under([(0, s, 0), (0, -s, 0), (0, 0, s), (0, 0, -s)] if s else [(0, 0, 0)]) for s in shifts]
    rot_acc = [acc_under([(a, 0, 0), (-a, 0, 0)] if a else [(0, 0, 0)]) for a in angles]
    labels = [tr.label for tr in models]
    return {"labels": labels, "shifts": list(shifts), "angles": list(angles), "images": n,
            "shift_acc": {lab: [row[j] for row in shift_acc] for j, lab in enumerate(labels)},
            "rotation_acc": {lab: [row[j] for row in rot_acc] for j, lab in enumerate(labels)}}


# -- run again with one change; compare configs ----------------------------------------

def config_fields(cfg: RunConfig) -> dict[str, Any]:
    """``section.field`` -> value, for every field of the config."""
    return {f"{s}.{k}": v for s, sec in cfg.to_dict().items() for k, v in sec.items()}


def with_change(cfg: RunConfig, path: str, text: str) -> RunConfig:
    """A copy of ``cfg`` (seed included) with one field set from text (JSON, or a bare word)."""
    section, _, name = path.partition(".")
    d = cfg.to_dict()
    if section not in d or name not in d[section]:
        raise ConfigError(f"No setting {path!r}; choose one of: {', '.join(config_fields(cfg))}.")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text.strip()
    d[section][name] = value
    new = RunConfig.from_dict(d).validate()
    if config_fields(new)[path] == config_fields(cfg)[path]:
        raise ConfigError(f"{path} is already {text.strip()}; give a different value.")
    return new


def config_diff(configs: Sequence[RunConfig]) -> list[dict[str, Any]]:
    """Settings whose values differ between the configs: [{setting, values: [...]}]."""
    flat = [config_fields(c) for c in configs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    return [{"setting": k, "values": [f.get(k) for f in flat]} for k in keys
            if any(f.get(k) != flat[0].get(k) for f in flat[1:])]
