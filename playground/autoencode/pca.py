"""PCA as the linear autoencoder of the same code size: the baseline an autoencoder must beat.

Fitted on the clean training images (exact: eigenvectors of the covariance), scored on the same
corrupted test images as the model.
"""

from __future__ import annotations

from typing import Any

import torch

from ..config import RunConfig
from ..data import Dataset, load_dataset
from ..data.noise import Corruption, build_noise
from ..errors import ConfigError
from ..train.reconstruct import psnr, test_batches, test_corruption

__all__ = ["pca_fit", "pca_baseline", "pca_for_config"]


FIT_MB = 48  # the randomised path's matrix of training images (it runs in the server): at most this much


def pca_fit(
    x: torch.Tensor, k: int, chunk: int = 0, exact_max_dim: int = 1024, fit_mb: int = FIT_MB
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA of images (N, C, H, W) in [0, 1] (float, or uint8 scaled by 1/255): mean (D,), the top ``k``
    components (D, k), and eigenvalues (descending; their sum is the total variance). Up to
    ``exact_max_dim`` pixels (MNIST's 784): exact, eigenvectors of the covariance summed in float64 in
    chunks. Larger images (CIFAR's 3072): ``torch.pca_lowrank`` (randomised SVD), whose eigenvalues
    are the top ones plus the rest of the variance lumped in the last entry, its components fitted on an
    evenly spaced subset of at most ``fit_mb`` MB of images (4,096 of CIFAR's 50,000: the top components of
    a few thousand images, where the whole set took over 1 GB of the server's memory). Sums run in chunks of
    ``chunk`` images (default: 32 MB of float64 each)."""
    n, d = len(x), x[0].numel()
    if not 1 <= k < min(d, n):
        raise ConfigError(f"PCA needs a code size from 1 to {min(d, n) - 1} (got {k}).")
    chunk = chunk or max(64, 32 * 2**20 // (d * 8))
    scale = 1 / 255 if x.dtype == torch.uint8 else 1.0
    s = torch.zeros(d, dtype=torch.float64)
    s2 = torch.zeros(d, dtype=torch.float64)
    ss = torch.zeros(d, d, dtype=torch.float64) if d <= exact_max_dim else None
    for i in range(0, n, chunk):
        b = x[i : i + chunk].reshape(-1, d).double() * scale  # (b, D)
        s += b.sum(0)
        s2 += b.square().sum(0)
        if ss is not None:
            ss += b.T @ b
    mean = s / n
    total = float(((s2 - n * mean.square()) / max(n - 1, 1)).sum())
    if ss is not None:
        cov = (ss - n * torch.outer(mean, mean)) / max(n - 1, 1)
        evals, evecs = torch.linalg.eigh(cov)  # ascending
        evals, evecs = evals.flip(0).clamp_min(0), evecs.flip(1)
        return mean.float(), evecs[:, :k].float().contiguous(), evals.float()
    rows = min(n, max(k + 10, fit_mb * 2**20 // (d * 4)))
    pick = torch.linspace(0, n - 1, rows).round().long()  # evenly spaced: every class of a sorted folder
    flat = x.reshape(n, d)[pick].float() * scale
    g = torch.random.fork_rng()  # pca_lowrank draws from the global generator: keep it untouched
    with g:
        torch.manual_seed(0)
        _, sv, v = torch.pca_lowrank(flat, q=min(k + 10, rows, d), center=True, niter=6)
    top = sv[:k].double().square() / max(rows - 1, 1)
    evals = torch.cat([top, torch.tensor([max(total - float(top.sum()), 0.0)], dtype=torch.float64)])
    return mean.float(), v[:, :k].contiguous(), evals.float()


def pca_baseline(
    data: Dataset,
    k: int,
    noise: Corruption | str | tuple = (),
    seed: int = 0,
    batch_size: int = 1000,
    train_limit: int | None = None,
) -> dict[str, Any]:
    """PCA with ``k`` components as a (linear) autoencoder: fitted on the clean training images, fed the
    corrupted test images (the same draws as the model's evaluation with this seed and batch size),
    reconstructions clipped to [0, 1]. Returns test_mse, test_psnr, clean_mse (no corruption) and the
    variance share the components keep."""
    if not isinstance(noise, Corruption):
        noise = build_noise(noise)
    train = data.train_x if train_limit is None else data.train_x[:train_limit]
    mean, comps, evals = pca_fit(train, k)
    d = comps.shape[0]

    def project(x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(len(x), d) - mean
        return (flat @ comps @ comps.T + mean).clamp(0, 1).view_as(x)

    sums = torch.zeros(3, dtype=torch.float64)  # mse (corrupted in), psnr, mse (clean in)
    for clean, noisy in test_batches(data.test_x, noise, seed, batch_size):
        rec, rec_clean = project(noisy), project(clean)
        sums += torch.stack(
            [
                (rec - clean).square().flatten(1).mean(1).sum(),
                psnr(rec, clean).sum(),
                (rec_clean - clean).square().flatten(1).mean(1).sum(),
            ]
        ).double()
    n = len(data.test_x)
    mse, p, clean_mse = (sums / n).tolist()
    return {
        "k": k,
        "test_mse": mse,
        "test_psnr": p,
        "clean_mse": clean_mse,
        "variance_kept": float(evals[:k].sum() / evals.sum().clamp_min(1e-12)),
    }


def pca_for_config(config: RunConfig, k: int) -> dict[str, Any]:
    """``pca_baseline`` for a reconstruct run: its data set and training images, its test corruption and seed."""
    d = config.data
    data = load_dataset(d.dataset, root=d.data_root, download=False, **dict(d.params))
    return pca_baseline(
        data,
        k,
        test_corruption(config),
        seed=config.train.seed,
        batch_size=config.train.eval_batch_size,
        train_limit=d.train_limit,
    )
