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
3. The time estimate (``--estimate``, built-in shapes only, no data folder needed): for three
   configurations (a Train-page cnn as the source, fine-tuned; mobilenet_v3_small fine-tuned from
   scratch; mobilenet_v3_small frozen with the feature cache) the Transfer page's estimate
   (``playground.transfer.estimate_epoch``) beside the real run's epochs, from its own events
   (epoch 1 includes the first, cold step; epoch 2 is warm) and for the cache the real one-off pass.
   Target: within a factor of 1.5 of the real epoch.

    .venv/bin/python benchmarks/transfer_bench.py --estimate-only [--json]

4. The backbones' speeds (``--speeds``): each torchvision backbone built for real (random weights, every layer
   training, adam) and timed for a few training steps beside the estimate's calibration network; its FLOPs per
   second relative to that network is the ``speed`` fact on ``playground.models.backbones.BACKBONES`` that the
   Transfer page's estimate uses instead of building the backbone in the server.

    .venv/bin/python benchmarks/transfer_bench.py --speeds [--speed-size 64] [--speed-batch 32]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from playground.config import RunConfig
from playground.runs import RunStore
from playground.train import fit, prepare
from playground.transfer import estimate_epoch, source_params

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
    return {
        "final": final,
        "epochs": epochs,
        "start_t": start["t"],
        "wall_s": time.perf_counter() - t0,
        "epoch_s": [b - a for a, b in zip(times, times[1:])],
    }


def split(cifar: Path, classes: list[str], dest: Path) -> Path:
    for part in ("train", "test"):
        for c in classes:
            (dest / part).mkdir(parents=True, exist_ok=True)
            (dest / part / c).symlink_to((cifar / part / c).resolve(), target_is_directory=True)
    return dest


def cfg(root: Path, params: dict, *, limit: int | None, epochs: float, lr: float, bs: int = 64) -> RunConfig:
    return RunConfig.from_dict(
        {
            "data": {
                "dataset": "image_folder",
                "data_root": str(root),
                "params": {"image_size": 32},
                "train_limit": limit,
            },
            "model": {"name": "transfer", "params": params},
            "optim": {"name": "adam", "lr": lr, "schedule": "cosine"},
            "train": {
                "epochs": epochs,
                "batch_size": bs,
                "device": "cpu",
                "seed": 0,
                "log_every": 50,
                "eval_batch_size": 500,
            },
        }
    )


def shapes_cfg(
    params: dict,
    *,
    n_train: int,
    n_test: int,
    bs: int,
    size: int = 32,
    seed: int = 0,
    model: str = "transfer",
    epochs: float = 2,
) -> RunConfig:
    return RunConfig.from_dict(
        {
            "data": {"dataset": "shapes", "params": {"n_train": n_train, "n_test": n_test, "size": size, "seed": seed}},
            "model": {"name": model, "params": params},
            "optim": {"name": "adam", "lr": 1e-3, "schedule": "constant"},
            "train": {"epochs": epochs, "batch_size": bs, "device": "cpu", "seed": 0, "log_every": 50},
        }
    )


def estimate_vs_real(tmp: Path, repeats: int = 3) -> list[dict]:
    """The page's estimate and the real epochs of three transfer runs on built-in shapes."""
    store = RunStore(tmp / "est-runs")
    src = run(
        shapes_cfg({"channels": [16, 32, 64], "fc": [128]}, n_train=1000, n_test=200, bs=64, model="cnn", epochs=1),
        store,
    )["final"]["run_id"]
    cases = [
        (
            "cnn source (Train page), fine-tune all, shapes 24 px -> 32 px",
            24,
            {**source_params(store.open(src)), "freeze": "finetune_all"},
            1000,
            500,
            64,
        ),
        (
            "mobilenet_v3_small from scratch, fine-tune all, 32 px",
            32,
            {
                "backbone": "mobilenet_v3_small",
                "weights": "none",
                "image_size": 32,
                "freeze": "finetune_all",
                "feature_cache": False,
            },
            512,
            256,
            32,
        ),
        (
            "mobilenet_v3_small frozen, feature cache, 64 px",
            32,
            {
                "backbone": "mobilenet_v3_small",
                "weights": "none",
                "image_size": 64,
                "freeze": "head_only",
                "feature_cache": True,
            },
            1000,
            500,
            64,
        ),
    ]
    out = []
    for label, size, params, n_train, n_test, bs in cases:
        cfg = shapes_cfg(params, n_train=n_train, n_test=n_test, bs=bs, size=size, seed=7)
        ests, reals, onces = [], [], []
        for _ in range(repeats):  # alternated, so a busy spell of the machine hits both sides alike
            est = estimate_epoch(
                cfg, in_shape=(3, size, size), num_classes=10, n_train=n_train, n_test=n_test, runs_root=str(store.root)
            )
            ests.append(est["epoch_s"])
            onces.append(est["cache_once_s"])
            reals += run(cfg, store)["epoch_s"][1:]  # the warm epochs (the first includes the cold first step)
        med = statistics.median
        row = {
            "config": label,
            "batch_size": est["batch_size"],
            "steps_per_epoch": est["steps_per_epoch"],
            "threads": est["threads"],
            "estimate_epoch_s": [round(x, 3) for x in ests],
            "real_epoch_s": [round(x, 3) for x in reals],
            "ratio_warm": round(med(reals) / med(ests), 2),
        }
        if est["uses_cache"]:
            real_once = [prepare(cfg, store.root).cache_seconds for _ in range(repeats)]
            row.update(
                estimate_cache_once_s=[round(x, 2) for x in onces],
                real_cache_once_s=real_once,
                ratio_cache=round(med(real_once) / med(onces), 2),
            )
        out.append(row)
        print(
            f"{label}: batch {row['batch_size']}, {row['steps_per_epoch']} steps, {row['threads']} threads: "
            f"estimate {med(ests):.2f} s/epoch (median of {ests}), real warm epochs {med(reals):.2f} s "
            f"(median of {reals}): real/estimate {row['ratio_warm']:.2f}"
            + (
                f"; cache once: estimate {med(onces):.2f} s, real {med(real_once):.2f} s ({row['ratio_cache']:.2f})"
                if est["uses_cache"]
                else ""
            ),
            flush=True,
        )
    return out


def speeds(size: int, batch: int, repeats: int) -> list[dict]:
    """Each backbone's FLOPs per second relative to the estimate's calibration network (median of alternated
    measurements: a busy spell of the machine hits both alike)."""
    from playground.config import DataConfig, ModelConfig, OptimConfig, TrainConfig
    from playground.models import build_model
    from playground.models.backbones import BACKBONES
    from playground.transfer import timing

    out = []
    for name in BACKBONES:
        bs = min(batch, 4) if name == "vgg16" else batch  # dense 3x3 convolutions: the batch changes its pace little
        params = {
            "backbone": name,
            "weights": "none",
            "freeze": "finetune_all",
            "image_size": size,
            "feature_cache": False,
            "download": False,
        }
        cfg = RunConfig(
            data=DataConfig(dataset="shapes"),
            model=ModelConfig("transfer", params),
            optim=OptimConfig("adam", lr=1e-3),
            train=TrainConfig(batch_size=bs, device="cpu"),
        )
        model = build_model("transfer", in_shape=(3, size, size), num_classes=10, **params)
        x, y = torch.rand(bs, 3, size, size), torch.randint(0, 10, (bs,))
        facts = timing._model_facts("transfer", json.dumps(params, sort_keys=True), (3, size, size), 10, (), None)
        flops = bs * facts["step"]  # the FLOPs the estimate counts
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        n = sum(q.numel() for q in model.parameters())
        ratios = []
        for _ in range(repeats):
            timing._calibrated.cache_clear()
            pace = timing.calibrate(cfg)
            step_s = timing._median_s(timing._train_step(model, x, y, opt), torch.device("cpu"), 1.0, 5)
            rate = flops / max(step_s - pace["fixed_s"] - pace["per_param_s"] * n, 1e-6)
            ratios.append(rate / pace["flops_per_s"])
        del model, opt  # nothing kept between backbones
        row = {
            "backbone": name,
            "size": size,
            "batch": bs,
            "gflop_per_step": round(flops / 1e9, 2),
            "speed": round(statistics.median(ratios), 2),
            "speeds": [round(r, 2) for r in ratios],
        }
        print(row, flush=True)
        out.append(row)
    return out


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
    ap.add_argument("--estimate-only", action="store_true", help="only section 3 (built-in shapes, no data folder)")
    ap.add_argument("--repeats", type=int, default=3, help="estimates and real runs per configuration, alternated")
    ap.add_argument("--threads", type=int, default=0, help="torch threads for section 3 (0: torch's default)")
    ap.add_argument("--speeds", action="store_true", help="only section 4: each backbone's speed fact")
    ap.add_argument("--speed-size", type=int, default=64)
    ap.add_argument("--speed-batch", type=int, default=32, help="(vgg16: at most 4)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.speeds:
        if a.threads:
            torch.set_num_threads(a.threads)
        rows = speeds(a.speed_size, a.speed_batch, a.repeats)
        if a.json:
            print(json.dumps({"speeds": rows}))
        return
    if a.estimate_only:
        if a.threads:
            torch.set_num_threads(a.threads)
        with tempfile.TemporaryDirectory() as tmp:
            rows = estimate_vs_real(Path(tmp), a.repeats)
        if a.json:
            print(json.dumps({"estimate": rows}))
        return
    cifar = Path(a.data_root) / "cifar10-jpg"
    if not (cifar / "train").is_dir():
        raise SystemExit(f"cifar10-jpg not found under {a.data_root} (see ../shared/data/README.md)")
    out: dict = {"machine": "see docs/BENCHMARKS.md"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not a.skip_cache:
            res = {}
            for cache in (False, True):
                params = {
                    "backbone": "mobilenet_v3_small",
                    "weights": "none",
                    "freeze": "head_only",
                    "image_size": a.cache_size,
                    "feature_cache": cache,
                }
                res[cache] = run(cfg(cifar, params, limit=a.cache_images, epochs=a.cache_epochs, lr=3e-3))
            full, fc = res[False], res[True]
            per_epoch_full = sorted(full["epoch_s"])[len(full["epoch_s"]) // 2]
            per_epoch_cache = sorted(fc["epoch_s"])[len(fc["epoch_s"]) // 2]
            out["feature_cache"] = {
                "backbone": "mobilenet_v3_small",
                "image_size": a.cache_size,
                "train_images": a.cache_images,
                "test_images": 2000,
                "epochs": a.cache_epochs,
                "full_epoch_s": round(per_epoch_full, 2),
                "cache_epoch_s": round(per_epoch_cache, 3),
                "cache_once_s": round(fc["start_t"], 2),
                "speedup_per_epoch": round(per_epoch_full / per_epoch_cache, 1),
                "speedup_whole_run": round(full["final"]["t"] / fc["final"]["t"], 2),
                "same_test_acc": (full["final"]["test_acc"], fc["final"]["test_acc"]),
            }
            print(
                f"feature cache ({a.cache_images} train + 2000 test images, mobilenet_v3_small at {a.cache_size} px, "
                f"frozen): full forward {per_epoch_full:.2f} s/epoch, cache {per_epoch_cache:.3f} s/epoch "
                f"(+{fc['start_t']:.1f} s once) -> {per_epoch_full / per_epoch_cache:.0f}x per epoch, "
                f"{full['final']['t'] / fc['final']['t']:.2f}x over {a.cache_epochs} epochs incl. the cache",
                flush=True,
            )
        if not a.skip_transfer:
            src_root = split(cifar, CLASSES[:5], tmp / "source")
            tgt_root = split(cifar, CLASSES[5:], tmp / "target")
            store = RunStore(tmp / "runs")
            scratch = {
                "backbone": a.backbone,
                "weights": "none",
                "freeze": "finetune_all",
                "image_size": 32,
                "feature_cache": False,
            }
            src = run(
                cfg(src_root, scratch, limit=a.source_limit, epochs=a.source_epochs, lr=2e-3, bs=a.batch_size), store
            )
            src_id = src["final"]["run_id"]
            print(
                f"source: {a.backbone} from scratch on classes 0-4 ({a.source_limit} images): "
                f"test acc {src['final']['test_acc']:.3f} in {src['wall_s']:.0f} s",
                flush=True,
            )
            transferred = {**scratch, "weights": "run", "source_run": src_id, "backbone_lr_scale": 1.0}
            res = {}
            for name, params in (("scratch", scratch), ("transferred", transferred)):
                # saved in the source run's store, where the transfer model looks for its source
                res[name] = run(
                    cfg(tgt_root, params, limit=a.target_limit, epochs=a.target_epochs, lr=2e-3, bs=a.batch_size), store
                )
                print(
                    f"target classes 5-9, {a.target_limit} labelled images, {name}: test acc "
                    f"{res[name]['final']['test_acc']:.3f} (best epoch "
                    f"{max(e['test_acc'] for e in res[name]['epochs']):.3f}) in {res[name]['wall_s']:.0f} s",
                    flush=True,
                )
            out["transfer"] = {
                "backbone": a.backbone,
                "source_images": a.source_limit,
                "source_test_acc": src["final"]["test_acc"],
                "target_images": a.target_limit,
                "target_test_images": 1000,
                "epochs": a.target_epochs,
                **{f"{k}_test_acc": v["final"]["test_acc"] for k, v in res.items()},
            }
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
