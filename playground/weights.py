"""Pretrained torchvision weights: from the torch hub cache, downloaded when the network allows.

Preprocessing travels with the weights (``weights.transforms()``, ``weights.meta``),
so nothing here hard-codes a size, mean or std. Files are read with
``torch.load(weights_only=True)``: a weights file that carries code is refused.
Offline and uncached, ``WeightsUnavailable`` names the file and the folder to put it in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
from torchvision.models import get_model, get_model_weights, list_models
from torchvision.models._api import WeightsEnum

from .errors import CheckpointError, ConfigError, WeightsUnavailable

__all__ = ["resolve_weights", "weights_file", "weights_cached", "fetch_weights", "load_weights", "pretrained_model"]

Progress = Callable[[int, int], None]  # (bytes done, bytes total; 0 when unknown)


def resolve_weights(arch: str, weights: str = "DEFAULT") -> WeightsEnum:
    """``("resnet18", "DEFAULT")`` -> ``ResNet18_Weights.IMAGENET1K_V1``; unknown names list the choices."""
    if arch not in list_models():
        raise ConfigError(f"Unknown torchvision model {arch!r}.")
    enum = get_model_weights(arch)
    try:
        return enum[weights] if weights != "DEFAULT" else enum.DEFAULT
    except KeyError:
        raise ConfigError(
            f"{arch} has no weights {weights!r}; choose one of: {', '.join(w.name for w in enum)}."
        ) from None


def weights_file(w: WeightsEnum) -> Path:
    """Where torch hub keeps (or will keep) this weights file: $TORCH_HOME/hub/checkpoints/<name>."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(w.url)


def weights_cached(w: WeightsEnum) -> bool:
    return weights_file(w).is_file()


def _download(w: WeightsEnum, dest: Path, progress: Progress | None) -> None:
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(w.url, timeout=30) as r, open(tmp, "wb") as f:
            total, done = int(r.headers.get("Content-Length") or 0), 0
            while chunk := r.read(1 << 20):
                f.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        os.replace(tmp, dest)  # never leave a half file where the cache looks
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise WeightsUnavailable(
            f"The {w} weights are not cached and could not be downloaded ({e}). Put the file "
            f"{dest.name} (from {w.url}) into {dest.parent}, or set TORCH_HOME to a folder whose "
            f"hub/checkpoints/ holds it."
        ) from None


def fetch_weights(w: WeightsEnum, progress: Progress | None = None) -> Path:
    """The weights file of ``w`` in the hub cache, downloaded (in 1 MB chunks) when missing, never read into
    memory: what a page may call in the web server's process (the worker that builds the model loads it)."""
    path = weights_file(w)
    if not path.is_file():
        _download(w, path, progress)
    return path


def load_weights(w: WeightsEnum, *, download: bool = True, progress: Progress | None = None) -> dict:
    """The state dict of ``w``: read from the hub cache, downloaded first when allowed and missing."""
    path = weights_file(w)
    if not path.is_file():
        if not download:
            raise WeightsUnavailable(
                f"The {w} weights are not in the torch hub cache. Put {path.name} (from {w.url}) into "
                f"{path.parent}, or allow the download."
            )
        _download(w, path, progress)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickled code (refused by weights_only), truncated or foreign files
        raise CheckpointError(
            f"{path} is not a usable weights file ({type(e).__name__}: {e}). Delete it and download it again."
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state dict.")
    return state


def pretrained_model(
    arch: str, weights: str = "DEFAULT", *, download: bool = True, progress: Progress | None = None
) -> tuple[nn.Module, WeightsEnum]:
    """torchvision's ``get_model(arch)`` with the pretrained weights loaded through the cache above."""
    w = resolve_weights(arch, weights)
    model = get_model(arch, weights=None)
    try:
        model.load_state_dict(load_weights(w, download=download, progress=progress))
    except RuntimeError as e:  # wrong keys or shapes: a file for another architecture
        raise CheckpointError(f"{weights_file(w)} does not match {arch}: {str(e)[:300]}") from None
    return model, w
