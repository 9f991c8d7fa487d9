"""Transfer learning benchmark: the feature cache vs full forward passes, and transfer vs scratch.

    .venv/bin/python benchmarks/transfer_bench.py --data-root ../shared/data [--json]

1. Feature cache: the same head-only run (mobilenet_v3_small, frozen backbone, cifar10-jpg) with
   full forward passes and with the features computed once; seconds per epoch from the run's own
   events, the speed-up per epoch, and over the whole run including the one-off cache.
2. Transfer vs scratch (real data, no ImageNet weights needed): pretrain a transfer model with
   random init on CIFAR-10 classes 0-4 (airplane, automobile, bird, cat, deer), then train on a
   small labelled subset of classes 5-9 (dog, frog, horse, ship, truck) twice with the same steps:
   from that playground source run, and from scratch. Prints the test accuracy of both.
The class split is made with symlinks to cifar10-jpg/{train,test}/<class> in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from playground.config import RunConfig
from playground.runs import RunStore
from playground.train import fit

ROOT = Path(__file__).resolve().parents[1]

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def run(cfg: RunConfig, store: RunStore | None = None) -> dict:
    t0 = time.perf_counter()
    events = list(fit(cfg, store=store))
    final = events[-1]
    if final["kind"] != "done":
        raise SystemExit(f"run failed: {final.get('message')}")
    start = next(e for e in events if e["kind"] == "start")
    epochs = [e for e in events if e["kind"] == "epoch"]
    times = [start["t"]] + [e["t"] for e in epochs]
    return {"final": final, "epochs": epochs, "start_t": start["t"], "wall_s": time.perf_counter() - t0,
            "epoch_s": [b - a for a, b in zip(times, times[1:])]}


def split(cifar: Path, classes: list[str], dest: Path) -> Path:
    for part in ("train", "test"):
        for c in classes:
            (dest / part).mkdir(parents=True, exist_ok=True)
            (dest / part / c).symlink_to((cifar / part / c).resolve(), target_is_directory=True)
    return dest


def cfg(root: Path, params: dict, *, limit: int | None, epochs: float, lr: float, bs: int = 64) -> RunConfig:
    return RunConfig.from_dict({
        "data": {"dataset": "image_folder", "data_root": str(root), "params": {"image_size": 32},
                 "train_limit": limit},
        "model": {"name": "transfer", "params": params},
        "optim": {"name": "adam", "lr": lr, "schedule": "cosine"},
        "train": {"epochs": epochs, "batch_size": bs, "device": "cpu", "seed": 0, "log_every": 50,
                  "eval_batch_size": 500}})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--cache-images", type=int, default=1000, help="training images in the feature-cache runs")
    ap.add_argument("--cache-size", type=int, default=64, help="backbone input size for the feature-cache runs")
    ap.add_argument("--cache-epochs", type=int, default=3)
    ap.add_argument("--backbone", default="resnet18", help="backbone of the transfer-vs-scratch runs")
    ap.add_argument("--source-epochs", type=float, default=4)
    ap.add_argument("--source-limit", type=int, default=2500, help="source training images (classes 0-4)")
    ap.add_argument("--target-limit", type=int, default=250, help="labelled target images (classes 5-9)")
    ap.add_argument("--target-epochs", type=float, default=15)
    ap.add_argument("--batch-size", type=int, default=32, help="batch size of the transfer-vs-scratch runs")
    ap.add_argument("--skip-cache", action="store_true")
    ap.add_argument("--skip-transfer", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    cifar = Path(a.data_root) / "cifar10-jpg"
    if not (cifar / "train").is_dir():
        raise SystemExit(f"cifar10-jpg not found under {a.data_root} (see ../shared/data/README.md)")
    out: dict = {"machine": "see docs/BENCHMARKS.md"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not a.skip_cache:
            res = {}
            for cache in (False, True):
                params = {"backbone": "mobilenet_v3_small", "weights": "none", "freeze": "head_only",
                          "image_size": a.cache_size, "feature_cache": cache}
                res[cache] = run(cfg(cifar, params, limit=a.cache_images, epochs=a.cache_epochs, lr=3e-3))
            full, fc = res[False], res[True]
            per_epoch_full = sorted(full["epoch_s"])[len(full["epoch_s"]) // 2]
            per_epoch_cache = sorted(fc["epoch_s"])[len(fc["epoch_s"]) // 2]
            out["feature_cache"] = {
                "backbone": "mobilenet_v3_small", "image_size": a.cache_size, "train_images": a.cache_images,
                "test_images": 2000, "epochs": a.cache_epochs,
                "full_epoch_s": round(per_epoch_full, 2), "cache_epoch_s": round(per_epoch_cache, 3),
                "cache_once_s": round(fc["start_t"], 2),
                "speedup_per_epoch": round(per_epoch_full / per_epoch_cache, 1),
                "speedup_whole_run": round(full["final"]["t"] / fc["final"]["t"], 2),
                "same_test_acc": (full["final"]["test_acc"], fc["final"]["test_acc"])}
            print(f"feature cache ({a.cache_images} train + 2000 test images, mobilenet_v3_small at {a.cache_size} px, "
                  f"frozen): full forward {per_epoch_full:.2f} s/epoch, cache {per_epoch_cache:.3f} s/epoch "
                  f"(+{fc['start_t']:.1f} s once) -> {per_epoch_full / per_epoch_cache:.0f}x per epoch, "
                  f"{full['final']['t'] / fc['final']['t']:.2f}x over {a.cache_epochs} epochs incl. the cache",
                  flush=True)
        if not a.skip_transfer:
            src_root = split(cifar, CLASSES[:5], tmp / "source")
            tgt_root = split(cifar, CLASSES[5:], tmp / "target")
            store = RunStore(tmp / "runs")
            scratch = {"backbone": a.backbone, "weights": "none", "freeze": "finetune_all", "image_size": 32,
                       "feature_cache": False}
            src = run(cfg(src_root, scratch, limit=a.source_limit, epochs=a.source_epochs, lr=2e-3,
                          bs=a.batch_size), store)
            src_id = src["final"]["run_id"]
            print(f"source: {a.backbone} from scratch on classes 0-4 ({a.source_limit} images): "
                  f"test acc {src['final']['test_acc']:.3f} in {src['wall_s']:.0f} s", flush=True)
            transferred = {**scratch, "weights": "run", "source_run": src_id, "backbone_lr_scale": 1.0}
            res = {}
            for name, params in (("scratch", scratch), ("transferred", transferred)):
                # saved in the source run's store, where the transfer model looks for its source
                res[name] = run(cfg(tgt_root, params, limit=a.target_limit, epochs=a.target_epochs, lr=2e-3,
                                    bs=a.batch_size), store)
                print(f"target classes 5-9, {a.target_limit} labelled images, {name}: test acc "
                      f"{res[name]['final']['test_acc']:.3f} (best epoch "
                      f"{max(e['test_acc'] for e in res[name]['epochs']):.3f}) in {res[name]['wall_s']:.0f} s",
                      flush=True)
            out["transfer"] = {"backbone": a.backbone, "source_images": a.source_limit,
                               "source_test_acc": src["final"]["test_acc"], "target_images": a.target_limit,
                               "target_test_images": 1000, "epochs": a.target_epochs,
                               **{f"{k}_test_acc": v["final"]["test_acc"] for k, v in res.items()}}
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
