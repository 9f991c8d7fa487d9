"""What a channel looks for: activation maximisation (Olah et al., "Feature Visualization", Distill
2017), as a job of the job manager.

Each chosen channel of a conv layer gets an image, optimised from faint noise to raise the channel's
mean activation; all channels are optimised together as one batch. At every step the images are
jittered, scaled and rotated a little (random, per image) before the network sees them, and the
pixels are parametrised through a blur (the optimised tensor is smoothed before use), so the result
shows a pattern the channel responds to rather than high-frequency noise that fools it.

    featvis/<run_id>/config.json   the request (run, layer, channels, size, steps, seed)
                     metrics.jsonl start, progress, the final event with each channel's gain
                     result.png    the grid of images, one per channel
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF
from torchvision.utils import make_grid

from ..errors import ConfigError
from ..files import atomic_write_bytes
from ..images import decode
from ..jobs.kinds import JOB_KINDS, JobKind, ResultBuffer
from ..models.saved import SavedModel, load_saved, saved_architecture
from ..runs import RunStore
from ..style.images import to_png

__all__ = ["FeatureVis", "FeatVisKind", "conv_layers", "visualise", "MAX_CHANNELS", "SIZES", "STEPS"]

MAX_CHANNELS = 64
SIZES = (16, 24, 32, 48, 64)  # the image sizes (px) the Inside page offers: any works for any run's network
STEPS = (32, 64, 128, 256)


@dataclass(frozen=True)
class FeatureVis:
    run_id: str  # a trained run of the run store
    layer: str  # a conv layer's name in the model (``conv_layers``)
    channels: tuple[int, ...] = ()  # empty: all of the layer's channels (at most MAX_CHANNELS)
    size: int = 32
    steps: int = 128
    seed: int = 0

    def to_json(self, **kw: Any) -> str:
        return json.dumps({**asdict(self), "channels": list(self.channels)}, **kw)

    @classmethod
    def from_json(cls, text: str) -> "FeatureVis":
        d = json.loads(text)
        return cls(**{**d, "channels": tuple(d.get("channels", ()))})


def conv_layers(model: nn.Module) -> dict[str, int]:
    """The model's conv layers, name -> output channels, in order."""
    return {n: m.out_channels for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def _transform(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Per image: a shift of up to 2 px, a scale of 0.95-1.05 and a rotation of up to 5 degrees."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(5)
    scale = 1 + (torch.rand(n, generator=gen) * 2 - 1) * 0.05
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (2 / x.shape[-1]) * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="reflection", align_corners=False)


class _Reached(Exception):
    """Raised by the hook once the chosen layer has computed: the layers after it never run."""


def visualise(
    saved: SavedModel,
    layer: str,
    channels: list[int],
    size: int = 32,
    steps: int = 64,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    stopped: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """Images (uint8, N x H x W x C) that raise each channel's mean activation, and each channel's
    activation before (the starting noise) and after."""
    model = saved.model.eval()
    for q in model.parameters():
        q.requires_grad_(False)
    mods = dict(model.named_modules())
    if layer not in conv_layers(model):
        raise ConfigError(f"{layer!r} is not a conv layer of this model: pick one of {', '.join(conv_layers(model))}.")
    out: dict[str, torch.Tensor] = {}

    def reached(_m, _i, o):  # keep the layer's output and stop the forward pass there: the layers after it
        out["a"] = o  # (a classifier head sized for the training images) need not accept this image size
        raise _Reached

    hook = mods[layer].register_forward_hook(reached)
    c = saved.shape[0]
    mean = torch.tensor(saved.mean or [0.5] * c).view(1, c, 1, 1)
    std = torch.tensor(saved.std or [0.25] * c).view(1, c, 1, 1)
    gen = torch.Generator().manual_seed(seed)
    n, idx = len(channels), torch.tensor(channels)
    param = (torch.randn(n, c, size, size, generator=gen) * 0.01).requires_grad_(True)

    def image() -> torch.Tensor:  # the blur parametrisation: smooth, then squash into [0, 1]
        return torch.sigmoid(TF.gaussian_blur(param, [3, 3], [1.0, 1.0]))

    def score(x: torch.Tensor) -> torch.Tensor:  # each image's own channel, spatial mean
        try:
            model((x - mean) / std)
        except _Reached:
            pass
        return out["a"][torch.arange(n), idx].flatten(1).mean(1)

    opt = torch.optim.Adam([param], lr=0.05)
    try:
        with torch.no_grad():
            before = score(image())
        for step in range(steps):
            if stopped():
                break
            opt.zero_grad(set_to_none=True)
            (-score(_transform(image(), gen)).sum()).backward()
            opt.step()
            if progress is not None:
                progress(step + 1, steps)
        with torch.no_grad():
            final = image()
            after = score(final)
    finally:
        hook.remove()
    pixels = (final.clamp(0, 1) * 255).round().to(torch.uint8)
    return {
        "images": pixels.permute(0, 2, 3, 1).numpy(),
        "before": before.tolist(),
        "after": after.tolist(),
        "grid": make_grid(pixels, nrow=min(8, n), padding=2, pad_value=255).permute(1, 2, 0).numpy(),
    }


def VisBuffer() -> ResultBuffer:
    """What the page draws: progress (step, steps), then the grid (``grid``) and each channel's gain."""
    return ResultBuffer("grid", ("step", "steps"), (0, 0))


class FeatVisKind(JobKind):
    """Feature visualisation: an image per channel that the channel responds to most."""

    name = "featvis"
    spec_type = FeatureVis
    folder = "featvis"
    page = "inside"

    def page_query(self, run_id: str) -> dict[str, str]:
        return {"tab": "Filters"}

    @staticmethod
    def _channels(spec: FeatureVis, model: nn.Module) -> list[int]:
        """The channels to draw, checked against the model's conv layers."""
        layers = conv_layers(model)
        if spec.layer not in layers:
            raise ConfigError(
                f"Run {spec.run_id} has no conv layer {spec.layer!r}: pick one of "
                f"{', '.join(layers) or '(none: it has no convolution)'}."
            )
        channels = list(spec.channels) or list(range(min(layers[spec.layer], MAX_CHANNELS)))
        bad = [ch for ch in channels if not 0 <= ch < layers[spec.layer]]
        if bad or len(channels) > MAX_CHANNELS:
            raise ConfigError(
                f"Pick up to {MAX_CHANNELS} channels from 0 to {layers[spec.layer] - 1} "
                f"(got {len(channels)}{', e.g. ' + str(bad[0]) if bad else ''})."
            )
        return channels

    def admit(self, spec: FeatureVis, owner: str, runs_root=None) -> None:
        if not (isinstance(spec.size, int) and 8 <= spec.size <= 128):
            raise ConfigError(f"size must be 8 to 128 pixels (got {spec.size!r}).")
        if not (isinstance(spec.steps, int) and 1 <= spec.steps <= 1000):
            raise ConfigError(f"steps must be 1 to 1000 (got {spec.steps!r}).")
        # The layers from the architecture on the meta device: the weights are read once, by the worker.
        self._channels(spec, saved_architecture(RunStore(runs_root).open(spec.run_id)))

    def create(self, store, spec: FeatureVis):
        return store.create(spec)

    def spec(self, run) -> FeatureVis:
        return run.config()

    def events(
        self, run, store, controls, resuming: bool, emit: Callable[[dict[str, Any]], None], device: str | None = None
    ) -> Iterator[dict[str, Any]]:
        spec = run.config()
        saved = load_saved(RunStore(store.root.parent).open(spec.run_id))  # the training runs live one folder up
        channels = self._channels(spec, saved.model)
        start = {"kind": "start", "channels": channels, "layer": spec.layer}
        run.append(start)
        yield start
        res = visualise(
            saved,
            spec.layer,
            channels,
            spec.size,
            spec.steps,
            spec.seed,
            progress=lambda s, n: emit({"kind": "progress", "step": s, "steps": n}),
            stopped=lambda: controls.stopped or controls.out_of_time(),
        )
        atomic_write_bytes(run.dir / "result.png", lambda f: f.write(to_png(res["grid"])))
        final = {
            "kind": "stopped" if controls.stopped else "done",
            "layer": spec.layer,
            "channels": channels,
            "before": [round(v, 5) for v in res["before"]],
            "after": [round(v, 5) for v in res["after"]],
        }
        run.append(final)
        yield {**final, "grid": res["grid"]}

    def buffer(self) -> ResultBuffer:
        return VisBuffer()

    def buffer_from_run(self, run) -> ResultBuffer:
        buf = VisBuffer()
        for e in run.events():
            buf.add(e)
        if (run.dir / "result.png").is_file():
            buf.result = np.asarray(decode(run.dir / "result.png", mode="RGB"))
        return buf


JOB_KINDS.register("featvis")(FeatVisKind())
