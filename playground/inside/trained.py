"""A trained classifier ready to inspect: the model in eval mode on the CPU, its data set and the
input normalisation it was trained with, plus cached feature extractors.

``load_trained`` reads a run from the run store (final model or last finished epoch);
``Trained.from_model`` wraps a model built in memory. ``inspectable_runs`` lists the classifier
runs that have saved weights."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn

from ..config import RunConfig
from ..data import Dataset, load_dataset
from ..errors import ConfigError, PlaygroundError
from ..models import list_models
from ..models.saved import load_saved
from ..runs import Run, RunStore
from ..settings import settings
from ..train.gate import estimate_model
from ..train.snapshots import list_snapshots

__all__ = ["Trained", "load_trained", "inspectable_runs", "make_extractor", "HookExtractor"]


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
    _cache: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.model.eval()
        c = self.data.shape[0]
        mean: Sequence[float]
        std: Sequence[float]
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

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        """``make()`` once per key, kept with the model (tracing the model costs 50-100 ms)."""
        with self._lock:
            value = self._cache.get(key)
            if value is None:
                value = self._cache[key] = make()
            return value

    def image_bytes(self) -> int:
        """Activation memory of one image's forward pass (every leaf module's output): estimated on the meta
        device from the run's settings (nothing allocated), or measured on one image for a model made in
        memory. A transfer run resizes inside the model (up to 512 px), so this is what a test image costs."""

        def measure() -> int:
            cfg = self.config
            if cfg is not None:
                try:
                    m = cfg.model
                    return estimate_model(
                        m.name, dict(m.params), self.in_shape, self.data.num_classes, 1
                    ).activation_bytes
                except Exception:  # settings the estimate cannot build (an old run): measured on one image below
                    pass
            total = [0]

            def add(_m: nn.Module, _i: Any, o: Any) -> None:
                total[0] += o.numel() * o.element_size() if isinstance(o, torch.Tensor) else 0

            leaves = [m for m in self.model.modules() if not list(m.children())]
            handles = [m.register_forward_hook(add) for m in leaves]
            try:
                with torch.no_grad():
                    self.model(self.to_input(self.data.test_x[:1]))
            finally:
                for h in handles:
                    h.remove()
            return total[0]

        return self.cached("image_bytes", measure)

    def check_image(self, what: str, factor: int = 1) -> None:
        """Refuse before allocating when one image's activations (times ``factor``: 2 with a backward pass)
        exceed PLAYGROUND_INSIDE_MB: a 512-pixel backbone's maps of every layer, in the server."""
        need, cap = factor * self.image_bytes(), settings().inside_mb * 2**20
        if need > cap:
            raise ConfigError(
                f"{what} of this model on one image would take about {need / 2**20:,.0f} MB; this server "
                f"allows {cap // 2**20:,} MB (PLAYGROUND_INSIDE_MB). Train the same run at a smaller image "
                "size to look inside it here, or run the playground on your own machine."
            )

    def plan(self, n: int, batch_size: int) -> tuple[int, int]:
        """(images, batch) for a pass over the first ``n`` test images: one batch's activations within
        PLAYGROUND_INSIDE_MB and all the images together within 32 batches' worth, so a 224-pixel backbone
        gets a few dozen images and its pass stays seconds in the server, a small CNN all of them."""
        budget = settings().inside_mb * 2**20
        per = max(1, self.image_bytes())
        batch = max(1, min(batch_size, budget // per))
        return max(1, min(n, 32 * budget // per)), batch

    def extractor(self, nodes: tuple[str, ...]) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
        """A callable x -> {node: output}; built once per node set (FX tracing costs ~50 ms)."""
        return self.cached(nodes, lambda: make_extractor(self.model, nodes))


def make_extractor(model: nn.Module, nodes: tuple[str, ...]):
    """An FX feature extractor for ``nodes``, or forward hooks for a model FX cannot trace."""
    from torchvision.models.feature_extraction import create_feature_extractor

    try:
        fx = create_feature_extractor(model, return_nodes=list(nodes))
        fx.eval()
        return fx
    except Exception:  # a model FX cannot trace: forward hooks on the named modules
        return HookExtractor(model, nodes)
    finally:
        model.eval()  # tracing switches train/eval and leaves train mode on when it fails


class HookExtractor:
    """x -> {module name: output}, recorded by forward hooks on the named modules."""

    def __init__(self, model: nn.Module, nodes: tuple[str, ...]):
        self.model, self.nodes = model, nodes
        mods = dict(model.named_modules())
        missing = [n for n in nodes if n not in mods]
        if missing:
            raise ConfigError(f"No layer named {', '.join(missing)} in this model.")
        self.mods = {n: mods[n] for n in nodes}

    def __call__(self, x):
        out: dict[str, torch.Tensor] = {}
        handles = [m.register_forward_hook(lambda _m, _i, o, n=n: out.__setitem__(n, o)) for n, m in self.mods.items()]
        try:
            self.model(x)
        finally:
            for h in handles:
                h.remove()
        return out


def _check_classifier(run: Run, config: RunConfig) -> None:
    if config.train.task != "classify" or config.model.name not in list_models(task="classify"):
        raise ConfigError(
            f"Run {run.run_id} trained the {config.train.task!r} task ({config.model.name}); this page "
            "inspects classifiers. Look at autoencoder runs on the Autoencoders page."
        )


def load_trained(run: Run | str, store: RunStore | None = None) -> Trained:
    """The run's final model (model.pt) or, while it trains, its last save (checkpoint.pt): ``load_saved``."""
    if isinstance(run, str):
        run = (store or RunStore()).open(run)
    saved = load_saved(run)
    _check_classifier(run, saved.config)  # this page inspects classifiers: say where other runs are seen
    d = saved.config.data
    data = load_dataset(d.dataset, root=d.data_root, download=False, **dict(d.params))
    norm = (saved.mean, saved.std) if saved.mean and saved.std else None
    return Trained(
        model=saved.model,
        data=data,
        config=saved.config,
        run_id=run.run_id,
        source=saved.source,
        epoch=saved.epochs_done,
        norm=norm,
    )


def inspectable_runs(
    store: RunStore, limit: int = 60, keep: Callable[[str], bool] | None = None
) -> list[dict[str, Any]]:
    """Classifier runs with saved weights, newest first: id, data set, model, source, snapshot count.
    Reconstruction (autoencoder) runs are left out; ``keep(run_id)`` filters further (visibility)."""
    out: list[dict[str, Any]] = []
    for run in store.list():
        if len(out) >= limit:
            break
        if keep is not None and not keep(run.run_id):
            continue
        if run.weights_path() is None:
            continue
        try:
            cfg = run.config()
        except PlaygroundError:
            continue
        if cfg.train.task != "classify" or cfg.model.name not in list_models(task="classify"):
            continue
        out.append(
            {
                "run_id": run.run_id,
                "dataset": cfg.data.dataset,
                "model": cfg.model.name,
                "init": cfg.model.init,
                "final": run.model_path.exists(),
                "snapshots": len(list_snapshots(run)),
                "label": f"{run.label()} · {cfg.data.dataset} · {cfg.model.name}"
                + ("" if run.model_path.exists() else " (training: last epoch)"),
            }
        )
    return out
