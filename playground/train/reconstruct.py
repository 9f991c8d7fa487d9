"""The "reconstruct" task: (denoising) autoencoders through the same ``fit(config)``.

A batch is the clean images in [0, 1], augmented if the config asks, then
corrupted on the device with the engine's generator (``data.noise``, one draw
per sample and pixel), then normalised with the training split's statistics:
the model sees the normalised corrupted image and must output the clean one
in [0, 1] (a sigmoid output). Loss: MSE, or BCE (``train.recon_loss``).

Events: step events carry ``psnr`` (mean per-image PSNR of the batch, dB);
epoch events ``test_loss``, ``test_mse`` (per pixel), ``test_psnr`` (mean per
image), ``test_psnr_input`` (the corrupted input's PSNR: what there was to
undo) and ``samples`` (a fixed spread of test images with a PNG grid of rows
input | corrupted | reconstruction). The test corruption uses ``data.test_noise``
(empty: the training noise), drawn from a fixed seed so every epoch sees the
same corrupted test set.

The ``live_recon`` probe adds the same grid to step events about once a second,
so the page redraws reconstructions while an epoch trains.
"""

from __future__ import annotations

import base64
import io
import math
import time
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ..data.noise import Corruption, build_noise
from ..errors import ConfigError
from ..models import list_models
from .probes import PROBES, Probe
from .tasks import TASKS, Task

if TYPE_CHECKING:
    from ..config import RunConfig
    from ..runs import Run
    from .prepared import Prepared

__all__ = [
    "Reconstruct",
    "LiveRecon",
    "psnr",
    "test_corruption",
    "test_batches",
    "sample_images",
    "grid_png",
    "GRID_IMAGES",
    "MAX_PSNR",
]

GRID_IMAGES = 8  # fixed test images in the input | corrupted | reconstruction grid
MAX_PSNR = 100.0  # a perfect reconstruction (MSE 0) is reported as 100 dB, not infinity
TEST_SEED_OFFSET = 10_007  # the test corruption's generator: seed + this, fixed for the whole run


def psnr(pred: torch.Tensor, target: torch.Tensor, max_value: float = 1.0) -> torch.Tensor:
    """Per-image peak signal-to-noise ratio in dB: 10 log10(max^2 / MSE), images (B, ...) -> (B,)."""
    mse = (pred.float() - target.float()).square().flatten(1).mean(1)
    return 10 * torch.log10(max_value**2 / mse.clamp_min(max_value**2 * 10 ** (-MAX_PSNR / 10)))


def normalise(p: "Prepared", x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> the model's input (training-split statistics, the engine's memory format)."""
    x = (x - p.mean) / p.std
    return x.contiguous(memory_format=torch.channels_last) if p.channels_last else x


def test_corruption(config: "RunConfig") -> Corruption:
    d = config.data
    return build_noise(d.test_noise if d.test_noise else d.noise)


def test_batches(test_x: torch.Tensor, noise: Corruption, seed: int, batch_size: int):
    """The test split as (clean, corrupted) float batches in [0, 1]; the corruption comes from a generator
    seeded from the run's seed, so every epoch (and the PCA baseline) sees the same corrupted images."""
    g = torch.Generator(device=test_x.device).manual_seed(seed + TEST_SEED_OFFSET)
    for i in range(0, len(test_x), batch_size):
        clean = test_x[i : i + batch_size].float() / 255  # (b, C, H, W)
        yield clean, noise(clean, g)


def sample_images(
    p: "Prepared", noise: Corruption, n: int = GRID_IMAGES
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fixed spread of test images (index, clean, corrupted), the same for every call of a run."""
    idx = torch.linspace(0, len(p.test_y) - 1, min(n, len(p.test_y)), device=p.device).long()
    clean = p.test_x[idx].float() / 255  # (n, C, H, W)
    g = torch.Generator(device=p.device).manual_seed(p.config.train.seed + TEST_SEED_OFFSET + 1)
    return idx, clean, noise(clean, g)


def grid_png(rows: list[torch.Tensor], min_side: int = 84) -> str:
    """Rows of images (n, C, H, W) in [0, 1] -> one PNG (base64 text): a row per tensor, images
    upscaled by a whole factor (nearest, so pixels stay sharp) to about ``min_side`` pixels."""
    from PIL import Image  # torchvision's own PNG encoder is deprecated from 0.29 on
    from torchvision.utils import make_grid

    n = len(rows[0])
    x = torch.cat([r.detach().float().clamp(0, 1).cpu() for r in rows])  # (rows * n, C, H, W)
    factor = max(1, min_side // x.shape[-2])
    if factor > 1:
        x = F.interpolate(x, scale_factor=factor, mode="nearest")
    grid = make_grid(x, nrow=n, padding=2, pad_value=1.0)  # (3, H', W'); grey images are repeated to RGB
    pixels = grid.mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()  # (H', W', 3)
    buf = io.BytesIO()
    Image.fromarray(pixels[:, :, 0] if rows[0].shape[1] == 1 else pixels).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


@torch.no_grad()
def _reconstruct(p: "Prepared", corrupted: torch.Tensor) -> torch.Tensor:
    was_training = p.model.training
    p.model.eval()
    try:
        return p.model(normalise(p, corrupted)).float()  # fp32, as evaluation always is (Prepared.autocast)
    finally:
        p.model.train(was_training)


@TASKS.register("reconstruct")
class Reconstruct(Task):
    """Reconstruct the clean image from a (corrupted) input: autoencoders, MSE or BCE, PSNR."""

    metric = "psnr"
    final_fields = ("test_psnr", "test_mse", "test_loss", "test_psnr_input")
    metric_label = "PSNR (dB)"
    metric_range = None

    def __init__(self, config: "RunConfig") -> None:
        super().__init__(config)
        self.noise = build_noise(config.data.noise)
        self.test_noise = test_corruption(config)

    @classmethod
    def check_config(cls, config):
        build_noise(config.data.noise), build_noise(config.data.test_noise)  # unknown names, ranges

    def check(self, p):
        model, name = p.model, self.config.model.name
        if getattr(model, "task", None) != "reconstruct":
            raise ConfigError(
                f"Model {name!r} classifies; the reconstruct task needs a model that outputs an "
                f"image: {', '.join(list_models(task='reconstruct'))}."
            )
        if self.config.train.recon_loss == "bce" and getattr(model, "output", None) != "sigmoid":
            raise ConfigError(
                "BCE compares outputs in [0, 1] with the pixels: give the model output=sigmoid, or use recon_loss mse."
            )

    def batch(self, p, idx, gen):
        clean = p.train_x[idx].float().mul_(1 / 255)  # (B, C, H, W) in [0, 1]
        if p.augment:
            clean = p.augment(clean, gen)
        return normalise(p, self.noise(clean, gen)), clean  # model input, target

    def loss(self, out, target):
        out = out.float()
        if self.config.train.recon_loss == "bce":
            with torch.autocast(out.device.type, enabled=False):  # BCE is not autocast-safe
                return F.binary_cross_entropy(out, target)
        return F.mse_loss(out, target)

    def score(self, out, target):
        return psnr(out.detach(), target).sum()

    @torch.no_grad()
    def evaluate(self, p):
        sums = torch.zeros(4, device=p.device, dtype=torch.float64)  # loss, mse, psnr, input psnr
        n = len(p.test_y)
        for clean, noisy in test_batches(
            p.test_x, self.test_noise, p.config.train.seed, p.config.train.eval_batch_size
        ):
            out = _reconstruct(p, noisy)
            if self.config.train.recon_loss == "bce":
                loss = F.binary_cross_entropy(out, clean, reduction="none").flatten(1).mean(1)
            else:
                loss = (out - clean).square().flatten(1).mean(1)
            sums += torch.stack(
                [
                    loss.sum(),
                    (out - clean).square().flatten(1).mean(1).sum(),
                    psnr(out, clean).sum(),
                    psnr(noisy, clean).sum(),
                ]
            ).double()
        loss, mse, pq, pin = (sums / max(n, 1)).tolist()
        idx, clean, noisy = sample_images(p, self.test_noise)
        recon = _reconstruct(p, noisy)
        return {
            "test_loss": round(loss, 6),
            "test_mse": round(mse, 6),
            "test_psnr": round(pq, 3),
            "test_psnr_input": round(pin, 3),
            "samples": {
                "index": idx.tolist(),
                "true": p.test_y[idx].tolist(),
                "psnr": [round(v, 2) for v in psnr(recon, clean).tolist()],
                "grid": grid_png([clean, noisy, recon]),
            },
        }

    @torch.no_grad()
    def quick_evaluate(self, p, idx):
        """The quick test estimate: mean loss and PSNR on the test images ``idx``, corrupted the way the full
        evaluation corrupts the test split (its own seeded generator; the engine's draws stay untouched)."""
        sums, n = torch.zeros(2, device=p.device, dtype=torch.float64), len(idx)
        for clean, noisy in test_batches(
            p.test_x[idx], self.test_noise, p.config.train.seed, p.config.train.eval_batch_size
        ):
            out = _reconstruct(p, noisy)
            loss = (
                F.binary_cross_entropy(out, clean, reduction="none")
                if self.config.train.recon_loss == "bce"
                else (out - clean).square()
            )
            sums += torch.stack([loss.flatten(1).mean(1).sum(), psnr(out, clean).sum()]).double()
        loss, pq = (sums / max(n, 1)).tolist()
        return {"loss": loss, "psnr": pq}


@PROBES.register("live_recon")
class LiveRecon(Probe):
    """Reconstructions of the fixed test images as a PNG grid (``recon_grid``) in step events, and the
    untrained model's in the start event. At most one grid per ``INTERVAL_S``, and never more often than
    keeps the grids' own cost under ``MAX_SHARE`` of the wall time: on a slow or busy machine a grid that
    takes 0.2 s comes every 10 s, so the live view cannot slow training by more than about 2%."""

    INTERVAL_S = 1.0
    MAX_SHARE = 0.02

    def __init__(self, p: "Prepared", run: "Run | None") -> None:
        super().__init__(p, run)
        if p.config.train.task != "reconstruct":
            raise ConfigError("The live_recon probe shows reconstructions: it needs task 'reconstruct'.")
        # Drawn once, from the probe's own generator: the engine's draws stay untouched.
        _, self.clean, self.noisy = sample_images(p, test_corruption(p.config))
        self.last, self.interval = -math.inf, self.INTERVAL_S

    def grid(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        recon = _reconstruct(self.p, self.noisy)
        out = {"recon_grid": grid_png([self.clean, self.noisy, recon])}
        self.last = time.perf_counter()
        self.interval = max(self.INTERVAL_S, (self.last - t0) / self.MAX_SHARE)
        return out

    def on_start(self):
        return self.grid()

    def on_log(self, step, epoch):
        if time.perf_counter() - self.last >= self.interval:
            return self.grid()
        return None
