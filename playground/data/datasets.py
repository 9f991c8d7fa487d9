"""Data-set registry: every data set is materialised once as uint8 tensors.

``load_dataset(name, root=..., **params)`` returns a ``TensorDataset``-like
``Dataset`` record: classes, image shape, train/test uint8 tensors
``(N, C, H, W)`` with int64 labels, and per-channel mean/std computed from the
training split (never hard-coded). Results are cached per process, so the CLI,
the benchmark and every app session share one copy.
"""

from __future__ import annotations

import inspect
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import DatasetUnavailable
from ..registry import Registry
from ..settings import settings

__all__ = [
    "Dataset",
    "DATASETS",
    "register_dataset",
    "list_datasets",
    "load_dataset",
    "default_data_root",
    "clear_cache",
]


@dataclass
class Dataset:
    name: str
    classes: list[str]
    train_x: torch.Tensor  # (N, C, H, W) uint8
    train_y: torch.Tensor  # (N,) int64
    test_x: torch.Tensor  # (M, C, H, W) uint8
    test_y: torch.Tensor  # (M,) int64
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    notes: list[str] = field(default_factory=list)  # e.g. "skipped 3 corrupt images"

    def __post_init__(self) -> None:
        for split, x, y in (("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)):
            assert x.dtype == torch.uint8 and x.ndim == 4, f"{split}_x must be uint8 (N, C, H, W)"
            assert len(x) == len(y), f"{split}: {len(x)} images but {len(y)} labels"
        if not self.mean:
            self.mean, self.std = channel_stats(self.train_x)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    @property
    def nbytes(self) -> int:
        return self.train_x.nbytes + self.test_x.nbytes

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self, split: str = "train") -> list[int]:
        y = self.train_y if split == "train" else self.test_y
        return torch.bincount(y, minlength=self.num_classes).tolist()

    def summary(self) -> dict[str, Any]:
        c, h, w = self.shape
        return {
            "name": self.name,
            "classes": self.classes,
            "shape": [c, h, w],
            "train": len(self.train_y),
            "test": len(self.test_y),
            "mean": [round(m, 4) for m in self.mean],
            "std": [round(s, 4) for s in self.std],
            "notes": self.notes,
        }


def channel_stats(x: torch.Tensor, chunk: int = 16384) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean/std of uint8 images scaled to [0, 1]: exact integer sums, in chunks."""
    c = x.shape[1]
    s = torch.zeros(c, dtype=torch.int64)
    s2 = torch.zeros(c, dtype=torch.int64)
    for i in range(0, len(x), chunk):
        b = x[i : i + chunk].to(torch.int32)  # (b, C, H, W)
        s += b.sum(dim=(0, 2, 3), dtype=torch.int64)
        s2 += (b * b).sum(dim=(0, 2, 3), dtype=torch.int64)
    n = x.numel() // c
    mean = s.double() / n / 255
    std = (s2.double() / n / 255**2 - mean.square()).clamp_min(1e-12).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())


# Every data set registers with ``input_shape(**params) -> (C, H, W)`` (known before any file is read)
# and ``num_classes`` (None: known only once loaded).
DATASETS: Registry[Callable[..., Dataset]] = Registry("data set")
register_dataset = DATASETS.register


def list_datasets() -> list[str]:
    return DATASETS.names()


def default_data_root() -> Path:
    return settings().data_root


_cache: "OrderedDict[tuple, Dataset]" = OrderedDict()  # least recently used first
_cache_lock = threading.Lock()
_load_locks: dict[tuple, threading.Lock] = {}


def load_dataset(name: str, *, root: str | os.PathLike | None = None, download: bool = True, **params: Any) -> Dataset:
    """Load (or fetch from the process cache) a registered data set.

    Thread-safe: concurrent callers for the same key wait for one load. The cache holds
    at most PLAYGROUND_DATA_CACHE_MB of decoded images (least recently used go first), and
    one data set may be at most PLAYGROUND_MAX_DATASET_MB (playground.settings).
    """
    builder = DATASETS.get(name)  # unknown name -> error listing the choices
    if "root" in inspect.signature(builder).parameters:  # built-in sets (shapes) take no folder
        params["root"] = Path(root) if root is not None else default_data_root()
        params["download"] = download
    key = (name, tuple(sorted((k, repr(Path(v).resolve() if k == "root" else v)) for k, v in params.items())))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        lock = _load_locks.setdefault(key, threading.Lock())
    with lock:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        try:
            ds = DATASETS.call(name, **params)
            check_size(ds.nbytes, name)
        except BaseException:
            with _cache_lock:  # a failed load (a bad folder) leaves no lock behind
                _load_locks.pop(key, None)
            raise
        with _cache_lock:
            _cache[key] = ds
            _load_locks.pop(key, None)
            _evict(keep=key)
        return ds


def check_size(nbytes: int, what: str) -> None:
    """Refuse a data set larger than the server's per-data-set cap, with what to change."""
    cap = settings().max_dataset_mb * 2**20
    if nbytes > cap:
        raise DatasetUnavailable(
            f"{what} would take {nbytes / 2**20:,.0f} MB of memory decoded; this server allows "
            f"{cap / 2**20:,.0f} MB per data set (PLAYGROUND_MAX_DATASET_MB). Use fewer images or a "
            f"smaller image size."
        )


def _evict(keep: tuple) -> None:
    cap = settings().data_cache_mb * 2**20
    total = sum(d.nbytes for d in _cache.values())
    for k in list(_cache):
        if total <= cap:
            break
        if k != keep:
            total -= _cache.pop(k).nbytes


def cache_bytes() -> int:
    with _cache_lock:
        return sum(d.nbytes for d in _cache.values())


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


# -- torchvision data sets -------------------------------------------------


def _check_download_root(root: Path, cls_name: str, folder: str, files: list[str]) -> None:
    """A download creates folders under ``root``: only under a folder that exists, or the default data folder
    (the server's own). A typed folder that does not exist ("-1", a mistyped path) is refused before anything
    is created, instead of leaving a new folder tree wherever the server runs."""
    if root.is_dir() or root.resolve() == default_data_root().resolve():
        return
    where = f" in its {folder}/ folder" if folder != "." else ""
    raise DatasetUnavailable(
        f"The data folder {str(root)!r} does not exist on this machine, so {cls_name} cannot be read or "
        f"downloaded there (nothing was created). Leave the data folder empty to use the default one "
        f"({default_data_root()}), or type an existing folder that holds these files{where}: {', '.join(files)}; "
        f"or use the built-in 'shapes' data set, which needs no download."
    )


def _torchvision(name: str, cls_name: str, files: list[str], folder: str, root: Path, download: bool) -> Dataset:
    from torchvision import datasets as tvd

    cls = getattr(tvd, cls_name)

    def unavailable(reason: str) -> DatasetUnavailable:
        where = (root / folder).resolve()
        return DatasetUnavailable(
            f"Could not load {cls_name}: it is not under {where}{reason}. "
            f"Place these files in that folder: {', '.join(files)} "
            f"(or pass --data-root / set PLAYGROUND_DATA to a folder that has them), "
            f"or use the built-in 'shapes' data set, which needs no download."
        )

    try:
        parts = [cls(str(root), train=t, download=False) for t in (True, False)]
    except (RuntimeError, OSError, ValueError, EOFError, KeyError) as e:
        present = (root / folder).is_dir() and any((root / folder).iterdir())
        if present and "not found" not in str(e).lower():
            # The files are there but unreadable (truncated download, disk error): say so.
            raise DatasetUnavailable(
                f"The {cls_name} files in {(root / folder).resolve()} are damaged or incomplete "
                f"({type(e).__name__}: {str(e)[:200]}). Delete them so they are downloaded again, "
                f"or put intact copies there; the built-in 'shapes' data set needs no files."
            ) from None
        if not download:
            raise unavailable(" and downloading is off") from None
        _check_download_root(root, cls_name, folder, files)
        try:
            parts = [cls(str(root), train=t, download=True) for t in (True, False)]
        except Exception as e:  # offline: URLError, socket errors, HTTP errors, bad checksums
            offline = isinstance(e, OSError) or "urlopen" in str(e) or "Name or service" in str(e)
            detail = (
                "this machine cannot reach the download server"
                if offline
                else f"{type(e).__name__}: {e}".replace("\n", " ")[:300]
            )
            raise unavailable(f" and could not be downloaded ({detail})") from None
    xs, ys = [], []
    for ds in parts:
        x = torch.as_tensor(ds.data)
        # MNIST-like: (N, H, W) grey; CIFAR: (N, H, W, C) numpy
        x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
        xs.append(x.contiguous())
        ys.append(torch.as_tensor(ds.targets, dtype=torch.int64))
    return Dataset(name, list(parts[0].classes), xs[0], ys[0], xs[1], ys[1])


_MNIST_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


@register_dataset("mnist", input_shape=lambda **_: (1, 28, 28), num_classes=10)
def mnist(*, root: Path, download: bool = True) -> Dataset:
    """MNIST handwritten digits, 28x28 grey, 60k train / 10k test."""
    return _torchvision("mnist", "MNIST", [f + "(.gz)" for f in _MNIST_FILES], "MNIST/raw", root, download)


@register_dataset("fashion_mnist", input_shape=lambda **_: (1, 28, 28), num_classes=10)
def fashion_mnist(*, root: Path, download: bool = True) -> Dataset:
    """Fashion-MNIST clothing, 28x28 grey, 60k train / 10k test."""
    return _torchvision(
        "fashion_mnist", "FashionMNIST", [f + "(.gz)" for f in _MNIST_FILES], "FashionMNIST/raw", root, download
    )


@register_dataset("cifar10", input_shape=lambda **_: (3, 32, 32), num_classes=10)
def cifar10(*, root: Path, download: bool = True) -> Dataset:
    """CIFAR-10 photos, 32x32 RGB, 50k train / 10k test."""
    return _torchvision(
        "cifar10", "CIFAR10", ["cifar-10-python.tar.gz (or its extracted cifar-10-batches-py/)"], ".", root, download
    )
