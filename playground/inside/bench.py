"""Benchmark for "Inside the network": ``python -m playground.inside.bench --data-root ../shared/data``.

1. Latency, on the CPU, of what the page computes for one image of a trained CNN: every layer's
   activations + saliency + Grad-CAM (+ top-3), median and worst of repeated calls after a warm-up.
   MNIST (1x28x28, the default CNN trained for a fraction of an epoch) and a CIFAR-sized 3x32x32
   model (CIFAR-10 when present under the data root, else the built-in shapes set). Target < 1 s.
2. Training-time overhead of the probes: the same run without probes, with ``snapshots``, and with
   ``snapshots`` + ``layer_stats``, in interleaved rounds, best wall time of each (noise on a shared
   VM only ever slows a run down), plus the time spent inside the probes themselves (measured
   directly, so it does not drown in noise). Target < 5%.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from ..config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from ..data import DATASETS
from ..errors import PlaygroundError
from ..runs import RunStore
from ..train import fit
from ..train.probes import PROBES, Probe
from .attribution import grad_cam, saliency
from .forward import activations, predict
from .predictions import test_predictions
from .trained import load_trained

__all__ = ["latency", "probe_overhead", "main"]


def _train(cfg: RunConfig, store: RunStore) -> str:
    events = list(fit(cfg, store=store))
    if events[-1]["kind"] != "done":
        raise PlaygroundError(f"benchmark training failed: {events[-1].get('message')}")
    return events[0]["run_id"]


def latency(
    dataset: str, data_root: str | None, params: dict | None = None, repeats: int = 20, epochs: float = 0.3
) -> dict[str, Any]:
    """Load time and per-image latency of activations + saliency + Grad-CAM + top-3 on one trained CNN."""
    store = RunStore(tempfile.mkdtemp(prefix="bench-inside-"))
    cfg = RunConfig(
        data=DataConfig(dataset=dataset, data_root=data_root, download=False, params=params or {}),
        model=ModelConfig(name="cnn"),
        optim=OptimConfig(name="adam", lr=2e-3, schedule="constant"),
        train=TrainConfig(epochs=epochs, batch_size=128, device="cpu", log_every=50),
    )
    run_id = _train(cfg, store)
    t0 = time.perf_counter()
    tr = load_trained(store.open(run_id))
    load_s = time.perf_counter() - t0
    times, first = [], None
    for i in range(repeats + 1):
        x = tr.data.test_x[i]
        t0 = time.perf_counter()
        activations(tr, x)
        saliency(tr, x)
        grad_cam(tr, x)
        predict(tr, x)
        dt = time.perf_counter() - t0
        if first is None:
            first = dt  # includes tracing the model for feature extraction, once per model
        else:
            times.append(dt)
    if first is None:
        raise PlaygroundError(f"latency times at least one call (got repeats={repeats}): use repeats >= 0.")
    preds = test_predictions(tr)
    return {
        "dataset": tr.data.name,
        "shape": list(tr.in_shape),
        "parameters": sum(p.numel() for p in tr.model.parameters()),
        "test_acc": round(float((preds["pred"] == preds["y"]).mean()), 4),
        "load_s": round(load_s, 3),
        "first_call_s": round(first, 4),
        "median_s": round(statistics.median(times), 4),
        "max_s": round(max(times), 4),
        "threads": torch.get_num_threads(),
    }


def probe_overhead(
    data_root: str | None, rounds: int = 3, epochs: float = 2.0, train_limit: int = 12800
) -> dict[str, Any]:
    """Wall time of whole runs (evaluation and snapshot writes included) and time inside the probes."""
    spent = {"t": 0.0}
    originals = {name: getattr(Probe, name) for name in ("on_start", "on_log", "on_epoch")}

    def timed(cls, name):
        fn = cls.__dict__.get(name)
        if fn is None:
            return

        def wrapper(self, *a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(self, *a, **kw)
            finally:
                spent["t"] += time.perf_counter() - t0

        setattr(cls, name, wrapper)

    classes = [PROBES.get(n) for n in ("snapshots", "layer_stats")]
    saved = {(c, n): c.__dict__.get(n) for c in classes for n in originals}
    for c in classes:
        for n in originals:
            timed(c, n)
    variants = {"none": (), "snapshots": ("snapshots",), "snapshots+layer_stats": ("snapshots", "layer_stats")}
    best: dict[str, float] = {}
    inside: dict[str, float] = {}
    try:
        for _ in range(rounds):
            for label, probes in variants.items():
                store = RunStore(tempfile.mkdtemp(prefix="bench-probes-"))
                cfg = RunConfig(
                    data=DataConfig(dataset="mnist", data_root=data_root, download=False, train_limit=train_limit),
                    model=ModelConfig(name="cnn", params={"channels": [16, 32], "fc": [128]}),
                    optim=OptimConfig(name="adam", lr=1e-3, schedule="constant"),
                    train=TrainConfig(
                        epochs=epochs, batch_size=128, device="cpu", log_every=10, checkpoint=False, probes=probes
                    ),
                )
                spent["t"] = 0.0
                t0 = time.perf_counter()
                _train(cfg, store)
                wall = time.perf_counter() - t0
                if wall < best.get(label, float("inf")):
                    best[label] = wall
                    inside[label] = spent["t"]
    finally:
        for (c, n), fn in saved.items():
            if fn is not None:
                setattr(c, n, fn)
    base = best["none"]
    return {
        "runs": {
            k: {
                "wall_s": round(v, 3),
                "probe_s": round(inside[k], 4),
                "wall_overhead_pct": round(100 * (v / base - 1), 2),
                "probe_share_pct": round(100 * inside[k] / v, 3),
            }
            for k, v in best.items()
        },
        "epochs": epochs,
        "train_images": train_limit,
        "log_every": 10,
        "rounds": rounds,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m playground.inside.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--data-root", default=None, help="folder with MNIST/ (and cifar10-jpg/ or CIFAR-10)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the probe-overhead runs")
    ap.add_argument("--epochs", type=float, default=2.0, help="epochs of each probe-overhead run")
    ap.add_argument("--only", choices=["latency", "probes"], help="run one part only")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(torch.get_num_threads())
    out: dict[str, Any] = {"latency": []}
    log = (lambda s: None) if args.json else print
    log("activations + saliency + Grad-CAM for one image, CPU:")
    cifar = _cifar_source(args.data_root)
    for ds, root, params in (("mnist", args.data_root, None), cifar) if args.only != "probes" else ():
        try:
            r = latency(ds, root, params)
        except PlaygroundError as e:
            log(f"  {ds}: skipped ({e})")
            continue
        out["latency"].append(r)
        log(
            f"  {r['dataset']} {r['shape']}, {r['parameters']:,} params, test acc {r['test_acc']:.3f}: "
            f"median {r['median_s'] * 1000:.1f} ms, max {r['max_s'] * 1000:.1f} ms, first call "
            f"{r['first_call_s'] * 1000:.0f} ms (model load {r['load_s'] * 1000:.0f} ms)"
        )
    if args.only == "latency":
        print(json.dumps(out)) if args.json else None
        return 0
    log("probe overhead on training time (MNIST, best of interleaved rounds):")
    try:
        out["probes"] = probe_overhead(args.data_root, args.rounds, args.epochs)
        for k, v in out["probes"]["runs"].items():
            log(
                f"  {k:<22} wall {v['wall_s']:.2f} s ({v['wall_overhead_pct']:+.1f}% vs none), "
                f"inside the probes {v['probe_s'] * 1000:.0f} ms = {v['probe_share_pct']:.2f}% of the run"
            )
    except PlaygroundError as e:
        log(f"  skipped ({e})")
    if args.json:
        print(json.dumps(out))
    return 0


def _cifar_source(data_root: str | None) -> tuple[str, str | None, dict | None]:
    """CIFAR-10 (torchvision files or the cifar10-jpg folder) when present, else shapes (also 3x32x32)."""
    root = Path(data_root) if data_root else None
    if root and (root / "cifar10-jpg" / "train").is_dir() and "image_folder" in DATASETS:
        return "image_folder", str(root / "cifar10-jpg"), None
    return "shapes", None, None


if __name__ == "__main__":
    raise SystemExit(main())
