"""Course parity: each course experiment three ways, interleaved, one thread: the course notes' code as they
write it (``course_code.py``), the playground's preset (``playground.start.course``, trained by ``fit``) and
the preset run's exported script (a subprocess). Prints test accuracy (or PSNR, dB) and seconds for each.

    PYTHONPATH=. .venv/bin/python benchmarks/course_parity.py --data ../shared/data [--rounds 2]
        [--only mlp,cnn,init,init_norm,denoiser,vgg16] [--cifar-limit 8000] [--json]

Seconds: the course code's wall time (its loaders decode per epoch); the playground's training time (the done
event's train_seconds; data loading is cached after the first run) and its wall time; the script's training
time (its own clock, from the first step) and its whole process (loading the data set included).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import course_code

from playground.config import RunConfig
from playground.data import load_dataset
from playground.export.script import training_script
from playground.models import build_model
from playground.start.course import COURSE_PRESETS, INIT_RACE, on_folder
from playground.train import fit

ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def preset_config(name: str, data: Path, cifar_limit: int) -> RunConfig:
    cfg = COURSE_PRESETS.call(name).config.replace(train={"device": "cpu", "checkpoint": False, "log_seconds": 5.0})
    if cfg.data.dataset == "cifar10":
        return on_folder(cfg, str(data / "cifar10-jpg")).replace(data={"train_limit": cifar_limit})
    return cfg.replace(data={"data_root": str(data), "download": False})


def run_playground(cfg: RunConfig) -> dict:
    t0 = time.perf_counter()
    events = list(fit(cfg))
    done = events[-1]
    if done["kind"] != "done":
        raise RuntimeError(f"the preset's run ended with {done}")
    start = events[0]
    metric = done.get("test_acc", done.get("test_psnr"))
    return {
        "metric": metric,
        "seconds": done["train_seconds"],
        "wall": time.perf_counter() - t0,
        "in_shape": start["dataset"]["shape"],
        "classes": len(start["dataset"]["classes"]),
    }


def run_script(cfg: RunConfig, in_shape, classes: int, data_arg: str) -> dict:
    src = training_script(cfg, in_shape=tuple(in_shape), num_classes=classes)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.py"
        path.write_text(src)
        t0 = time.perf_counter()
        r = subprocess.run(
            [sys.executable, str(path), "--device", "cpu", "--data", data_arg, "--out", str(Path(tmp) / "w.pt")],
            capture_output=True,
            text=True,
            env=ONE_THREAD,
        )
        wall = time.perf_counter() - t0
    if r.returncode:
        raise RuntimeError(r.stderr[-2000:])
    lines = r.stdout.splitlines()
    final = (
        next((ln for ln in lines if ln.startswith("best validation")), None)
        or [ln for ln in lines if ln.startswith("epoch ")][-1]
    )
    metric = float(re.search(r"test (?:accuracy|PSNR \(dB\)) ([0-9.]+)", final).group(1))
    seconds = float(re.findall(r"\(([0-9.]+) s\)", "\n".join(ln for ln in lines if ln.startswith("epoch ")))[-1])
    return {"metric": metric, "seconds": seconds, "wall": wall}


def experiments(data: Path, cifar_limit: int) -> dict[str, list[tuple[str, str, object]]]:
    """experiment -> [(label, preset name, the course code's call)]."""
    mnist, cifar = str(data), str(data / "cifar10-jpg")
    return {
        "mlp": [("MNIST MLP, 1 epoch", "mlp_raw_pixels", lambda: course_code.mnist_mlp(mnist, 1))],
        "cnn": [
            (
                f"CIFAR CNN + augmentation, 3 epochs, {cifar_limit:,} images",
                "cnn_augmented",
                lambda: course_code.cifar_cnn(cifar, 3, cifar_limit),
            )
        ],
        "init": [
            (f"init {INIT_RACE[k]}, 2 epochs", f"init_{k}", (lambda k=k: course_code.init_compare(mnist, k, 2)))
            for k in INIT_RACE
        ],
        # The course's point about normalisation: the same race with the inputs standardised.
        "init_norm": [
            (
                f"init {INIT_RACE[k]}, 2 epochs, inputs standardised",
                f"init_{k}",
                (lambda k=k: course_code.init_compare(mnist, k, 2, normalise=True)),
            )
            for k in ("uniform_01", "uniform_rule")
        ],
        "denoiser": [
            ("denoising AE, noise 0.5, 1 epoch (PSNR dB)", "denoiser", lambda: course_code.denoiser(mnist, 1))
        ],
    }


def vgg16_row() -> dict:
    """Which parameters train: the course's set-up and the vgg16 preset, built on the meta device."""
    cfg = COURSE_PRESETS.call("vgg16_transfer").config
    params = {**dict(cfg.model.params), "weights": "none"}  # the same set; no ImageNet file needed to count
    with torch.device("meta"):
        model = build_model("transfer", in_shape=(3, 32, 32), num_classes=10, **params)
    ours = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"course": course_code.vgg16_trainable(10), "preset": ours, "trains": model.trainable_blocks()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data", help="folder with MNIST/raw and cifar10-jpg/")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--only", default="mlp,cnn,init,denoiser,vgg16")
    ap.add_argument("--cifar-limit", type=int, default=8000)
    ap.add_argument("--inits", default=",".join(INIT_RACE), help="the initialisations to race (init, init_norm)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data, only = Path(args.data).resolve(), args.only.split(",")
    rows = []
    for key, items in experiments(data, args.cifar_limit).items():
        if key not in only:
            continue
        for label, preset, course in items:
            if preset.startswith("init_") and preset[5:] not in args.inits.split(","):
                continue
            cfg = preset_config(preset, data, args.cifar_limit)
            if key == "init_norm":
                cfg = cfg.replace(data={"normalize": "data"})
            data_arg = cfg.data.data_root
            ds = load_dataset(cfg.data.dataset, root=data_arg, download=False, **dict(cfg.data.params))
            for r in range(args.rounds):
                order = ["course", "preset", "script"]
                order = order[r % 3 :] + order[: r % 3]  # interleaved: each goes first in turn
                for who in order:
                    if who == "course":
                        out = course()
                    elif who == "preset":
                        out = run_playground(cfg)
                        out.pop("in_shape"), out.pop("classes")
                    else:
                        out = run_script(cfg, ds.shape, ds.num_classes, data_arg)
                    row = {"experiment": label, "who": who, "round": r + 1, **out}
                    rows.append(row)
                    print(
                        f"{label:55s} {who:7s} round {r + 1}: {out['metric']:.4f}  {out['seconds']:.1f} s"
                        + (f" (wall {out['wall']:.1f} s)" if "wall" in out else ""),
                        flush=True,
                    )
    if "vgg16" in only:
        v = vgg16_row()
        rows.append({"experiment": "VGG16 transfer: parameters that train", **v})
        print(
            f"VGG16 transfer: the course trains {v['course']:,} parameters, the preset {v['preset']:,} "
            f"({', '.join(v['trains'])}, new head)"
        )
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
