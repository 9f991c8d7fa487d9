"""Kernel presets for the Convolution page: a registry of k x k kernels (identity, blurs, sharpen,
edge detectors, emboss, random), and the first-layer kernels of a trained run."""

from __future__ import annotations

from typing import Callable

import torch

from ..errors import ConfigError
from ..models.saved import load_saved
from ..registry import Registry

__all__ = ["KERNELS", "kernel", "kernel_from_rows", "run_kernels", "MAX_K", "kernel_sizes"]

MAX_K = 7

KERNELS: Registry[Callable[[int], torch.Tensor]] = Registry("kernel")


@KERNELS.register("identity", sizes="odd")
def _identity(k: int) -> torch.Tensor:
    """identity: the output is the input (a 1 in the centre)"""
    w = torch.zeros(k, k)
    w[k // 2, k // 2] = 1.0
    return w


@KERNELS.register("box_blur", sizes="any")
def _box(k: int) -> torch.Tensor:
    """box blur: the mean of the k x k neighbourhood"""
    return torch.full((k, k), 1.0 / (k * k))


@KERNELS.register("gaussian_blur", sizes="any")
def _gaussian(k: int) -> torch.Tensor:
    """Gaussian blur: a weighted mean, heavier in the centre"""
    x = torch.arange(k, dtype=torch.float32) - (k - 1) / 2
    sigma = max(k / 4, 0.5)
    g = torch.exp(-(x**2) / (2 * sigma**2))
    w = g[:, None] * g[None, :]
    return w / w.sum()


@KERNELS.register("sharpen", sizes=(3,))
def _sharpen(k: int) -> torch.Tensor:
    """sharpen: the centre against its four neighbours"""
    return torch.tensor([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]])


@KERNELS.register("sobel_x", sizes=(3,))
def _sobel_x(k: int) -> torch.Tensor:
    """Sobel x: responds to vertical edges (brightness changing left to right)"""
    return torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


@KERNELS.register("sobel_y", sizes=(3,))
def _sobel_y(k: int) -> torch.Tensor:
    """Sobel y: responds to horizontal edges (brightness changing top to bottom)"""
    return _sobel_x(3).T.contiguous()


@KERNELS.register("laplacian", sizes=(3,))
def _laplacian(k: int) -> torch.Tensor:
    """Laplacian: responds to edges in every direction, zero on flat regions"""
    return torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


@KERNELS.register("emboss", sizes=(3,))
def _emboss(k: int) -> torch.Tensor:
    """emboss: light from the top left, as if the image were raised"""
    return torch.tensor([[-2.0, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])


@KERNELS.register("random", sizes="any")
def _random(k: int) -> torch.Tensor:
    """random: what a conv layer's kernel looks like before training (Kaiming-uniform scale)"""
    g = torch.Generator().manual_seed(k)
    bound = 1.0 / k
    return (torch.rand(k, k, generator=g) * 2 - 1) * bound


def kernel_sizes(name: str) -> list[int]:
    """The sizes the preset ``name`` is defined at (its ``sizes`` fact): what the page offers, nothing it refuses."""
    sizes = KERNELS.facts(name)["sizes"]
    if sizes == "any":
        return list(range(1, MAX_K + 1))
    if sizes == "odd":
        return list(range(1, MAX_K + 1, 2))
    return list(sizes)


def kernel(name: str, k: int = 3) -> torch.Tensor:
    """The preset ``name`` at size ``k`` (1..MAX_K) -> (k, k) float; a ConfigError names the sizes it has."""
    fn = KERNELS.get(name)
    if not (isinstance(k, int) and 1 <= k <= MAX_K):
        raise ConfigError(f"Kernel size must be a whole number from 1 to {MAX_K} (got {k!r}).")
    sizes = KERNELS.facts(name)["sizes"]
    if sizes == "odd" and k % 2 == 0:
        raise ConfigError(f"The {name} kernel needs an odd size (it has a centre): pick {k - 1} or {k + 1}.")
    if isinstance(sizes, tuple) and k not in sizes:
        raise ConfigError(
            f"The {name} kernel is defined at size {' or '.join(map(str, sizes))} x "
            f"{' or '.join(map(str, sizes))}; pick that size, or edit the numbers yourself."
        )
    return fn(k)


def run_kernels(run) -> torch.Tensor:
    """The first conv layer's kernels of a trained run -> (out_channels, in_channels, k, k)."""
    saved = load_saved(run)
    conv = next((m for m in saved.model.modules() if isinstance(m, torch.nn.Conv2d)), None)
    if conv is None:
        raise ConfigError(
            f"Run {run.run_id} trained a {saved.config.model.name}, which has no convolution: pick a "
            "cnn, lenet5 or resnet run."
        )
    w = conv.weight.detach().float()
    if w.shape[-1] > MAX_K:
        raise ConfigError(
            f"Run {run.run_id}'s first kernels are {w.shape[-1]} x {w.shape[-1]}: this page shows up to "
            f"{MAX_K} x {MAX_K}."
        )
    return w


def kernel_from_rows(rows) -> torch.Tensor:
    """A k x k kernel typed as rows of numbers (the page's grid) -> (k, k) float; empty or non-numeric cells
    are refused with where they are."""
    try:
        w = torch.tensor([[float(v) for v in row] for row in rows], dtype=torch.float32)
    except (TypeError, ValueError):
        raise ConfigError("Every cell of the kernel must be a number: fill in the empty or mistyped cells.") from None
    if w.dim() != 2 or w.shape[0] != w.shape[1] or not 1 <= w.shape[0] <= MAX_K:
        raise ConfigError(f"A kernel is a square grid of 1 x 1 to {MAX_K} x {MAX_K} numbers (got {tuple(w.shape)}).")
    if not torch.isfinite(w).all():
        raise ConfigError("Every cell of the kernel must be a finite number (one is empty or not a number).")
    return w
