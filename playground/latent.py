"""Looking inside a trained autoencoder, for the Autoencoders page: numbers and numpy images out.

- ``AEView.load(run)``: the run's final (or last checkpointed) autoencoder on the CPU, with its data set.
- ``codes``: test images' bottleneck codes as a 2-D scatter: the code itself when it is 2-D, else its
  projection on the codes' first two principal components.
- ``interpolate``: decode points on the line between two images' codes.
- ``pca_baseline``: PCA of the same code size as a linear autoencoder (fitted on the clean training
  images, exact: eigenvectors of the covariance), scored on the same corrupted test images as the model.
- ``checkerboard`` and ``decoder_demo``: the checkerboard artefacts of transposed convolutions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .config import RunConfig
from .data import Dataset, load_dataset
from .errors import ConfigError, PlaygroundError
from .models import build_model
from .models.autoencoder import DECODERS, Up
from .noise import Corruption, build_noise
from .reconstruct import psnr, test_batches, test_corruption
from .runs import Run

__all__ = ["AEView", "Projection", "pca_fit", "pca_baseline", "pca_for_config", "checkerboard", "decoder_demo"]


def _numpy_images(x: torch.Tensor) -> list[np.ndarray]:
    """(B, C, H, W) in [0, 1] -> uint8 (H, W) or (H, W, C) arrays for st.image."""
    a = x.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [im[:, :, 0] if im.shape[2] == 1 else im for im in a]


@dataclass
class Projection:
    """A 2-D view of codes: (n, 2) points with their labels and test-set indices."""

    xy: np.ndarray
    labels: np.ndarray
    index: np.ndarray
    method: str  # "bottleneck" (the code is 2-D) or "pca of the codes"
    explained: float  # share of the codes' variance the two axes show (1.0 for a 2-D code)


@dataclass
class AEView:
    """A trained autoencoder with what is needed to feed it (CPU, eval mode; thread-safe for reading)."""

    run_id: str
    config: RunConfig
    model: torch.nn.Module
    data: Dataset
    mean: torch.Tensor  # (1, C, 1, 1)
    std: torch.Tensor
    noise: Corruption  # the test corruption

    @classmethod
    def load(cls, run: Run) -> "AEView":
        config = run.config()
        if config.train.task != "reconstruct":
            raise ConfigError(f"Run {run.run_id} is a {config.train.task} run, not an autoencoder.")
        path_final = run.model_path.exists()
        if not path_final and not run.checkpoint_path.exists():
            raise PlaygroundError(f"Run {run.run_id} has no saved model yet: the latent space appears after the "
                                  "first epoch.")
        ckpt = run.load_checkpoint(final=path_final)
        d = config.data
        data = load_dataset(d.dataset, root=d.data_root, download=False, **dict(d.params))
        model = build_model(config.model.name, in_shape=data.shape, num_classes=data.num_classes,
                            **dict(config.model.params))
        model.load_state_dict(ckpt["model"])
        model.eval()
        c = data.shape[0]
        return cls(run.run_id, config, model, data, torch.tensor(data.mean).view(1, c, 1, 1),
                   torch.tensor(data.std).view(1, c, 1, 1), test_corruption(config))

    # -- pieces ------------------------------------------------------------------
    def _clean(self, index) -> torch.Tensor:
        return self.data.test_x[torch.as_tensor(index, dtype=torch.long)].float() / 255  # (n, C, H, W)

    @torch.no_grad()
    def _encode(self, x: torch.Tensor, bs: int = 1000) -> torch.Tensor:
        return torch.cat([self.model.encode((x[i : i + bs] - self.mean) / self.std) for i in range(0, len(x), bs)])

    @torch.no_grad()
    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode(z).float()

    # -- views -------------------------------------------------------------------
    def codes(self, n: int = 2000, seed: int = 0) -> Projection:
        """Clean test images' codes in 2-D (a seeded random subset of ``n``)."""
        m = len(self.data.test_y)
        g = torch.Generator().manual_seed(seed)
        index = torch.randperm(m, generator=g)[: min(n, m)].sort().values
        z = self._encode(self._clean(index)).double()  # (n, code)
        if z.shape[1] == 2:
            xy, method, explained = z, "bottleneck", 1.0
        elif z.shape[1] == 1:
            xy, method, explained = torch.cat([z, torch.zeros_like(z)], 1), "bottleneck (1-D)", 1.0
        else:
            zc = z - z.mean(0)
            evals, evecs = torch.linalg.eigh(zc.T @ zc / max(len(z) - 1, 1))  # ascending
            xy = zc @ evecs[:, [-1, -2]]
            method, explained = "PCA of the codes", float(evals[-2:].sum() / evals.sum().clamp_min(1e-12))
        return Projection(xy.float().numpy(), self.data.test_y[index].numpy(), index.numpy(), method, explained)

    def image(self, index: int) -> np.ndarray:
        return _numpy_images(self._clean([index]))[0]

    @torch.no_grad()
    def reconstruct(self, index, corrupted: bool = False, seed: int = 0) -> dict[str, list[np.ndarray]]:
        """Clean, (corrupted,) reconstruction images of test images."""
        clean = self._clean(index)
        x = self.noise(clean, torch.Generator().manual_seed(seed)) if corrupted else clean
        out = self.model((x - self.mean) / self.std).float()
        return {"clean": _numpy_images(clean), "input": _numpy_images(x), "recon": _numpy_images(out)}

    def interpolate(self, a: int, b: int, steps: int = 8) -> list[np.ndarray]:
        """Decoded images along the straight line from test image ``a``'s code to ``b``'s (both ends included)."""
        if not 2 <= steps <= 32:
            raise ConfigError(f"Interpolation takes 2 to 32 steps (got {steps}).")
        m = len(self.data.test_y)
        for i in (a, b):
            if not 0 <= i < m:
                raise ConfigError(f"Test image {i} does not exist: pick an index from 0 to {m - 1}.")
        za, zb = self._encode(self._clean([a, b]))
        t = torch.linspace(0, 1, steps).unsqueeze(1)  # (steps, 1)
        return _numpy_images(self._decode(za * (1 - t) + zb * t))

    def checkerboard(self, index) -> float:
        """Mean checkerboard response of the reconstructions' error (see ``checkerboard``)."""
        clean = self._clean(index)
        with torch.no_grad():
            out = self.model((clean - self.mean) / self.std).float()
        return float(checkerboard(out - clean).mean())


# -- PCA: the linear autoencoder of the same code size ------------------------------

def pca_fit(x: torch.Tensor, k: int, chunk: int = 8192, exact_max_dim: int = 1024
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA of images (N, C, H, W) in [0, 1] (float, or uint8 scaled by 1/255): mean (D,), the top ``k``
    components (D, k), and eigenvalues (descending; their sum is the total variance). Up to
    ``exact_max_dim`` pixels (MNIST's 784): exact, eigenvectors of the covariance summed in float64 in
    chunks. Larger images (CIFAR's 3072): ``torch.pca_lowrank`` (randomised SVD), whose eigenvalues
    are the top ones plus the rest of the variance lumped in the last entry."""
    n, d = len(x), x[0].numel()
    if not 1 <= k < min(d, n):
        raise ConfigError(f"PCA needs a code size from 1 to {min(d, n) - 1} (got {k}).")
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
    flat = x.reshape(n, d).float() * scale
    g = torch.random.fork_rng()  # pca_lowrank draws from the global generator: keep it untouched
    with g:
        torch.manual_seed(0)
        _, sv, v = torch.pca_lowrank(flat, q=min(k + 10, n, d), center=True, niter=6)
    top = sv[:k].double().square() / max(n - 1, 1)
    evals = torch.cat([top, torch.tensor([max(total - float(top.sum()), 0.0)], dtype=torch.float64)])
    return mean.float(), v[:, :k].contiguous(), evals.float()


def pca_baseline(data: Dataset, k: int, noise: Corruption | str | tuple = (), seed: int = 0,
                 batch_size: int = 1000, train_limit: int | None = None) -> dict[str, Any]:
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
        sums += torch.stack([(rec - clean).square().flatten(1).mean(1).sum(), psnr(rec, clean).sum(),
                             (rec_clean - clean).square().flatten(1).mean(1).sum()]).double()
    n = len(data.test_x)
    mse, p, clean_mse = (sums / n).tolist()
    return {"k": k, "test_mse": mse, "test_psnr": p, "clean_mse": clean_mse,
            "variance_kept": float(evals[:k].sum() / evals.sum().clamp_min(1e-12))}


# -- checkerboard artefacts ---------------------------------------------------------

_CHECKER = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]) / 4


def checkerboard(x: torch.Tensor) -> torch.Tensor:
    """Per-image mean |response| to the 2x2 checker filter [[1,-1],[-1,1]]/4 (B, C, H, W) -> (B,).
    0 for smooth images, 0.5 for a full-contrast 0/1 checkerboard: the pattern transposed convolutions
    with stride 2 paint when their kernels overlap unevenly."""
    b, c, h, w = x.shape
    k = _CHECKER.to(x.device, x.dtype).view(1, 1, 2, 2)
    return F.conv2d(x.reshape(b * c, 1, h, w), k).abs().view(b, -1).mean(1)


@torch.no_grad()
def decoder_demo(size: int = 7, levels: int = 2) -> dict[str, np.ndarray]:
    """A flat map through ``levels`` upsampling layers of each decoder kind, every weight 1 and bias 0
    (each layer a plain sum): resize + conv stays flat, the transposed conv paints a checkerboard.
    Images scaled to [0, 1] per decoder; the borders (padding) are cut off."""
    out = {}
    for decoder in DECODERS:
        x = torch.ones(1, 1, size, size)
        for _ in range(levels):
            s = x.shape[-1]
            up = Up(1, 1, (2 * s, 2 * s), (s, s), decoder)
            torch.nn.init.ones_(up.conv.weight)
            torch.nn.init.zeros_(up.conv.bias)
            x = up(x)
        m = 2 ** levels  # cut the border the zero padding darkens
        x = x[..., m:-m, m:-m]
        span = x.max() - x.min()
        x = (x - x.min()) / span if span > 1e-6 * x.abs().max() else torch.full_like(x, 0.5)  # flat: mid grey
        out[decoder] = _numpy_images(x)[0]
    return out


def pca_for_config(config: RunConfig, k: int) -> dict[str, Any]:
    """``pca_baseline`` for a reconstruct run: its data set and training images, its test corruption and seed."""
    d = config.data
    data = load_dataset(d.dataset, root=d.data_root, download=False, **dict(d.params))
    return pca_baseline(data, k, test_corruption(config), seed=config.train.seed,
                        batch_size=config.train.eval_batch_size, train_limit=d.train_limit)
