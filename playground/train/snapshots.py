"""Probes that record what happens inside the network while it trains.

``snapshots``    the weights the filter views need (every conv layer's kernels; for a model
                 without convolutions, its first fully connected layer, whose rows are images),
                 once at initialisation (epoch 0) and after every epoch, one small file per epoch
                 written atomically: ``runs/<id>/snapshots/epoch-0003.pt``.
``layer_stats``  at every step event: a histogram of each weight layer's values and the norm of
                 its weights and of its gradient (the step's gradient, still in ``.grad``),
                 merged into the step event as ``layers`` (compact lists, rounded).

Both watch only layers that train: a frozen layer (weight ``requires_grad`` False, e.g. a transfer
model's pretrained backbone) never changes, so it is neither histogrammed nor snapshotted (the
filter view shows it from the model). Snapshots also keep to ``SNAPSHOT_BYTES`` per epoch (the
first layer always, then layers in order while they fit), so a fine-tuned vgg16 does not write
its 59 MB of conv kernels every epoch.

Neither draws random numbers or touches gradients. ``layer_stats`` computes everything on the
device and copies it to the host in one transfer, right after the engine's own log sync, so it
adds no sync of its own to the steps between logs. ``docs/BENCHMARKS.md`` has the overhead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..errors import CheckpointError
from ..runs import Run, atomic_write_bytes
from .probes import PROBES, Probe

__all__ = [
    "SnapshotProbe",
    "LayerStatsProbe",
    "UnitSpreadProbe",
    "snapshot_weights",
    "list_snapshots",
    "load_snapshot",
    "layer_stats_series",
    "weight_layers",
    "trainable_layers",
    "HIST_BINS",
    "DEFAULT_PROBES",
    "SNAPSHOT_BYTES",
]

HIST_BINS = 24
SNAPSHOT_DIR = "snapshots"
SNAPSHOT_FORMAT = "cnn-playground-snapshot/1"
_FILE = re.compile(r"^epoch-(\d{4,})\.pt$")
# Most bytes of weights one snapshot file holds (the default CNN needs 93 kB, the default resnet 0.5 MB).
SNAPSHOT_BYTES = 4 << 20
# What the Train page records unless turned off (overhead measured in docs/BENCHMARKS.md).
DEFAULT_PROBES = ("snapshots", "layer_stats")


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d | nn.Linear]]:
    """Conv and linear layers in definition order (the layers with weight matrices/kernels)."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def trainable_layers(model: nn.Module) -> list[tuple[str, nn.Conv2d | nn.Linear]]:
    """``weight_layers`` whose weight trains (frozen layers never change, so probes skip them)."""
    return [(n, m) for n, m in weight_layers(model) if m.weight.requires_grad]


def _snapshot_layers(
    model: nn.Module, trainable_only: bool = False, max_bytes: int | None = None
) -> list[tuple[str, nn.Conv2d | nn.Linear, torch.dtype]]:
    layers = weight_layers(model)
    picked: list[tuple[str, nn.Conv2d | nn.Linear, torch.dtype]]
    convs = [(n, m) for n, m in layers if isinstance(m, nn.Conv2d)]
    if convs:
        picked = [(n, m, torch.float32) for n, m in convs]
    else:
        picked = [(n, m, torch.float16) for n, m in layers][:1]  # no conv: every weight layer is Linear
    if trainable_only:
        picked = [t for t in picked if t[1].weight.requires_grad]
    if max_bytes is not None:
        kept: list[tuple[str, nn.Conv2d | nn.Linear, torch.dtype]] = []
        total = 0
        for n, m, dt in picked:
            size = m.weight.numel() * (4 if dt == torch.float32 else 2)
            if kept and total + size > max_bytes:
                continue  # too big for this snapshot; a smaller later layer may still fit
            kept.append((n, m, dt))
            total += size
        picked = kept
    return picked


def snapshot_weights(
    model: nn.Module, trainable_only: bool = False, max_bytes: int | None = None
) -> dict[str, torch.Tensor]:
    """The weights the filter views show, as contiguous CPU tensors.

    All conv kernels (float32; small: 23k numbers for the default CNN); a model without conv layers
    keeps its first linear layer (one image-shaped row per unit) in float16 to stay small.
    ``trainable_only``: leave out frozen layers; ``max_bytes``: the first layer, then the others in
    order while they fit (what the snapshot probe stores)."""
    return {
        n: m.weight.detach().to("cpu", dt).contiguous()
        for n, m, dt in _snapshot_layers(model, trainable_only, max_bytes)
    }


def _snap_dir(run: Run) -> Path:
    return run.dir / SNAPSHOT_DIR


@PROBES.register("snapshots")
class SnapshotProbe(Probe):
    """Per-epoch weights (conv kernels) for the filter slider; epoch 0 is the initialisation.
    Only layers that train, within ``SNAPSHOT_BYTES`` (the same layers in every file)."""

    def __init__(self, p, run):
        super().__init__(p, run)
        self.layers = _snapshot_layers(p.model, trainable_only=True, max_bytes=SNAPSHOT_BYTES)

    def _write(self, epoch: int, step: int) -> None:
        if self.run is None or not self.layers:
            return
        d = _snap_dir(self.run)
        d.mkdir(exist_ok=True)
        weights = {n: m.weight.detach().to("cpu", dt).contiguous() for n, m, dt in self.layers}
        state = {"format": SNAPSHOT_FORMAT, "epoch": epoch, "step": step, "weights": weights}
        atomic_write_bytes(d / f"epoch-{epoch:04d}.pt", lambda f: torch.save(state, f))

    def on_start(self):
        self._write(0, 0)
        return {"snapshots": bool(self.layers)}

    def on_epoch(self, epoch, step):
        self._write(epoch + 1, step)  # snapshot k: after k epochs
        return None


def list_snapshots(run: Run) -> list[int]:
    """Epochs with a snapshot (0: initialisation), sorted."""
    d = _snap_dir(run)
    if not d.is_dir():
        return []
    return sorted(int(m.group(1)) for p in d.iterdir() if (m := _FILE.match(p.name)))


def load_snapshot(run: Run, epoch: int) -> dict[str, torch.Tensor]:
    path = _snap_dir(run) / f"epoch-{epoch:04d}.pt"
    if not path.is_file():
        have = list_snapshots(run)
        raise CheckpointError(
            f"Run {run.run_id} has no snapshot for epoch {epoch}"
            + (
                f" (it has {have[0]}..{have[-1]})."
                if have
                else ": it was trained without the 'snapshots' probe. Turn on \"record snapshots "
                'and layer statistics" on the Train page (or --probes snapshots) and train again.'
            )
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path.name} of run {run.run_id} is unreadable ({type(e).__name__}).") from None
    if not isinstance(state, dict) or state.get("format") != SNAPSHOT_FORMAT:
        raise CheckpointError(f"{path.name} of run {run.run_id} is not a snapshot file.")
    return {k: v.float() for k, v in state["weights"].items()}


@PROBES.register("layer_stats")
class LayerStatsProbe(Probe):
    """Per weight layer that trains, at every step event: value histogram, weight norm and gradient norm."""

    def __init__(self, p, run):
        super().__init__(p, run)
        self.layers = [(n, m.weight) for n, m in trainable_layers(p.model)]

    def on_start(self):
        return {"layer_names": [n for n, _ in self.layers]}

    @torch.no_grad()
    def on_log(self, step, epoch):
        if not self.layers:
            return None
        rows = []
        for _, w in self.layers:
            v = w.detach().float().flatten()
            lo, hi = v.min(), v.max()
            # torch.histc wants Python floats for its range (a sync per layer); bucketing by hand
            # keeps the range on the device.
            width = (hi - lo).clamp_min(1e-12)
            idx = ((v - lo) / width * HIST_BINS).long().clamp_(0, HIST_BINS - 1)
            counts = torch.bincount(idx, minlength=HIST_BINS).float()
            g = w.grad.detach().float().norm() if w.grad is not None else torch.full((), float("nan"), device=v.device)
            rows.append(torch.cat([torch.stack([lo, hi, v.norm(), g]), counts]))
        table = torch.stack(rows).cpu().tolist()  # the one host transfer, after the engine's own sync
        out = []
        for (name, _), r in zip(self.layers, table):
            out.append(
                {
                    "name": name,
                    "lo": _r(r[0]),
                    "hi": _r(r[1]),
                    "w_norm": _r(r[2]),
                    "g_norm": _r(r[3]),
                    "hist": [int(c) for c in r[4:]],
                }
            )
        return {"layers": out}


def _r(x: float) -> float | None:
    return None if x != x else float(f"{x:.5g}")  # NaN -> null (JSON has no NaN)


def layer_stats_series(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Step events' ``layers`` -> per-layer series: steps, weight/grad norms, histograms (lo, hi, counts)."""
    series: dict[str, dict[str, list]] = {}
    for e in events:
        if e.get("kind") != "step" or "layers" not in e:
            continue
        for row in e["layers"]:
            s = series.setdefault(row["name"], {"step": [], "w_norm": [], "g_norm": [], "lo": [], "hi": [], "hist": []})
            s["step"].append(e["step"])
            for k in ("w_norm", "g_norm", "lo", "hi", "hist"):
                s[k].append(row[k])
    return {"layers": list(series), "series": series}


@PROBES.register("unit_spread")
class UnitSpreadProbe(Probe):
    """Per weight layer at every step event: the largest difference between any unit's weights and
    the layer's mean unit (0: all units identical, e.g. after a constant initialisation)."""

    def __init__(self, p, run):
        super().__init__(p, run)
        self.layers = [(n, m.weight) for n, m in trainable_layers(p.model)]

    @torch.no_grad()
    def on_log(self, step, epoch):
        if not self.layers:
            return None
        vals = (
            torch.stack(
                [
                    (w.detach().float().flatten(1) - w.detach().float().flatten(1).mean(0)).abs().max()
                    for _, w in self.layers
                ]
            )
            .cpu()
            .tolist()
        )
        return {"unit_spread": {n: float(f"{v:.4g}") for (n, _), v in zip(self.layers, vals)}}
