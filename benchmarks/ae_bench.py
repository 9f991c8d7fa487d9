"""Autoencoder benchmark: denoising conv autoencoder vs PCA of the same code size, and the cost of live
reconstructions.

    .venv/bin/python benchmarks/ae_bench.py --data-root ../shared/data [--train-limit N] [--json]

Prints, for MNIST with gaussian noise std 0.5 and a 32-number code:
- the conv autoencoder's test MSE and PSNR after one epoch on the CPU (``fit``, the engine's own path),
  PCA with 32 components on the same corrupted test images (and on clean ones), and the input's PSNR;
- the overhead of the live reconstructions: wall time of the same short run with and without the
  ``live_recon`` probe (best of ``--rounds``, interleaved), and the server-side cost of one page redraw
  (curves figure + grid image from a run buffer), as a share of the page's 1 s refresh.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path

import torch

from playground.autoencode import plots
from playground.autoencode.pca import pca_for_config
from playground.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from playground.jobs.buffer import RunBuffer
from playground.train import fit

ROOT = Path(__file__).resolve().parents[1]


def config(root: str, limit: int | None, epochs: float = 1.0, probes: tuple[str, ...] = ()) -> RunConfig:
    return RunConfig(
        data=DataConfig(dataset="mnist", data_root=root, download=False, train_limit=limit, noise=("gaussian:0.5",)),
        model=ModelConfig(name="conv_autoencoder", params={"code": 32}),
        optim=OptimConfig(name="adam", lr=3e-3, schedule="constant"),
        train=TrainConfig(
            task="reconstruct",
            epochs=epochs,
            batch_size=64,
            device="cpu",
            checkpoint=False,
            log_every=10,
            probes=probes,
        ),
    )


def timed_fit(cfg: RunConfig) -> tuple[float, list[dict]]:
    t0 = time.perf_counter()
    events = list(fit(cfg))
    if events[-1]["kind"] != "done":
        raise SystemExit(f"run failed: {events[-1]}")
    return time.perf_counter() - t0, events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--train-limit", type=int, default=None, help="first N training images (default: all 60,000)")
    ap.add_argument("--overhead-images", type=int, default=6400, help="training images per overhead run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--overhead-only", action="store_true", help="skip the AE vs PCA epoch")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.json else print
    torch.manual_seed(0)

    res: dict = {"machine_threads": torch.get_num_threads()}
    if not args.overhead_only:
        res.update(target(args, log))
    overhead(args, log, res)
    if args.json:
        print(json.dumps(res), flush=True)


def target(args, log) -> dict:
    cfg = config(args.data_root, args.train_limit)
    wall, events = timed_fit(cfg)
    done = events[-1]
    pca = pca_for_config(cfg, 32)
    res = {
        "train_images": events[0]["train_images"],
        "ae_test_mse": done["test_mse"],
        "ae_test_psnr": done["test_psnr"],
        "input_psnr": done["test_psnr_input"],
        "pca_test_mse": round(pca["test_mse"], 6),
        "pca_test_psnr": round(pca["test_psnr"], 3),
        "pca_clean_input_mse": round(pca["clean_mse"], 6),
        "pca_variance_kept": round(pca["variance_kept"], 4),
        "ae_train_seconds": done["train_seconds"],
        "ae_wall_seconds": round(wall, 1),
        "ae_images_per_second": done["images_per_second"],
    }
    log(
        f"1 epoch over {res['train_images']:,} MNIST images, gaussian 0.5, code 32: "
        f"AE test MSE {res['ae_test_mse']:.5f} "
        f"({res['ae_test_psnr']:.2f} dB) vs PCA {res['pca_test_mse']:.5f} ({res['pca_test_psnr']:.2f} dB); "
        f"input {res['input_psnr']:.2f} dB; {wall:.0f} s wall"
    )
    return res


def overhead(args, log, res: dict) -> None:
    # Live reconstructions: the probe's share of the training run (interleaved, best of rounds).
    epochs = args.overhead_images / 60000 if args.train_limit is None else args.overhead_images / args.train_limit
    plain, probed = [], []
    for _ in range(args.rounds):
        plain.append(timed_fit(config(args.data_root, args.train_limit, epochs))[0])
        t, ev = timed_fit(config(args.data_root, args.train_limit, epochs, probes=("live_recon",)))
        probed.append(t)
    grids = sum(1 for e in ev if "recon_grid" in e)
    res.update(
        overhead_plain_s=round(min(plain), 2),
        overhead_probe_s=round(min(probed), 2),
        probe_overhead_pct=round(100 * (min(probed) / min(plain) - 1), 2),
        grids_per_run=grids,
    )
    # One page redraw's server work: snapshot, the curves figure, the grid decoded for st.image.
    buf = RunBuffer.from_events(ev)
    t0 = time.perf_counter()
    n = 20
    for _ in range(n):
        snap = buf.snapshot()
        plots.reconstruction_curves(snap["steps"], snap["epochs"]).to_json()
        base64.b64decode(snap["latest"].get("recon_grid") or snap["start"]["recon_grid"])
    redraw_ms = (time.perf_counter() - t0) / n * 1000
    res.update(redraw_server_ms=round(redraw_ms, 1), redraw_share_of_1s_pct=round(redraw_ms / 10, 2))
    log(
        f"live_recon probe: {res['probe_overhead_pct']:+.1f}% wall ({min(plain):.1f} s -> {min(probed):.1f} s, "
        f"{grids} grids); one page redraw {redraw_ms:.1f} ms of server time per 1 s refresh"
    )


if __name__ == "__main__":
    main()
