"""Looking inside a trained autoencoder, for the Autoencoders page: numbers and numpy images out.

- ``AEView.load(run)``: the run's final (or last checkpointed) autoencoder on the CPU, with its data set.
- ``codes``: test images' bottleneck codes as a 2-D scatter: the code itself when it is 2-D, else its
  projection on the codes' first two principal components.
- ``interpolate``: decode points on the line between two images' codes.

The PCA baseline is in ``pca.py``, the decoders' checkerboard demo in ``decoders.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..config import RunConfig
from ..data import Dataset, load_dataset
from ..data.noise import Corruption
from ..errors import ConfigError
from ..images import float_images
from ..models.autoencoder import AutoEncoder
from ..models.saved import load_saved
from ..runs import Run
from ..train.reconstruct import test_corruption
from .decoders import checkerboard

__all__ = ["AEView", "Projection"]


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
    model: AutoEncoder
    data: Dataset
    mean: torch.Tensor  # (1, C, 1, 1)
    std: torch.Tensor
    noise: Corruption  # the test corruption

    @classmethod
    def load(cls, run: Run) -> "AEView":
        config = run.config()
        if config.train.task != "reconstruct":
            raise ConfigError(f"Run {run.run_id} is a {config.train.task} run, not an autoencoder.")
        saved = load_saved(run)
        d = config.data
        data = load_dataset(d.dataset, root=d.data_root, download=False, **dict(d.params))
        model = saved.model
        if not isinstance(model, AutoEncoder):
            raise ConfigError(
                f"Run {run.run_id} saved a {type(model).__name__}, not an autoencoder: pick a reconstruct run."
            )
        c = data.shape[0]
        return cls(
            run.run_id,
            config,
            model,
            data,
            torch.tensor(data.mean).view(1, c, 1, 1),
            torch.tensor(data.std).view(1, c, 1, 1),
            test_corruption(config),
        )

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
        return float_images(self._clean([index]))[0]

    @torch.no_grad()
    def reconstruct(self, index, corrupted: bool = False, seed: int = 0) -> dict[str, list[np.ndarray]]:
        """Clean, (corrupted,) reconstruction images of test images."""
        clean = self._clean(index)
        x = self.noise(clean, torch.Generator().manual_seed(seed)) if corrupted else clean
        out = self.model((x - self.mean) / self.std).float()
        return {"clean": float_images(clean), "input": float_images(x), "recon": float_images(out)}

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
        return float_images(self._decode(za * (1 - t) + zb * t))

    def checkerboard(self, index) -> float:
        """Mean checkerboard response of the reconstructions' error (see ``checkerboard``)."""
        clean = self._clean(index)
        with torch.no_grad():
            out = self.model((clean - self.mean) / self.std).float()
        return float(checkerboard(out - clean).mean())
