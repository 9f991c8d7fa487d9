"""A run repeats: two runs with one seed give identical losses (dropout included), and the exported script
replays its run (same losses, same weights); the image-folder script keeps every class under a limit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from playground.config import RunConfig
from playground.data import load_dataset
from playground.export.script import run_training_script, training_script
from playground.runs import RunStore
from playground.train import fit

BASE = {
    "data": {"dataset": "shapes", "params": {"n_train": 200, "n_test": 40, "size": 16}},
    "optim": {"name": "sgd", "lr": 0.05, "schedule": "constant"},
    "train": {"epochs": 2, "device": "cpu", "precision": "fp32", "quick_test": 0, "log_seconds": 0, "log_every": 5},
}


def _cfg(**sections) -> RunConfig:
    d = {k: dict(v) for k, v in BASE.items()}
    for k, v in sections.items():
        d.setdefault(k, {}).update(v)
    return RunConfig.from_dict(d)


def _losses(cfg: RunConfig) -> list[float]:
    events = list(fit(cfg))
    assert events[-1]["kind"] == "done", events[-1]
    return [e["loss"] for e in events if e["kind"] == "step"]


def test_two_runs_with_dropout_and_one_seed_give_identical_losses():
    cfg = _cfg(model={"name": "mlp", "params": {"hidden": [48], "dropout": 0.5}})
    a, b = _losses(cfg), _losses(cfg)
    assert len(a) >= 8 and a == b
    assert _losses(cfg.replace(train={"seed": 1})) != a  # the seed, not a constant, decides the draws


def test_dropout_draws_from_the_runs_generator_not_the_global_one():
    from playground.models.layers import SeededDropout, use_generator

    net = torch.nn.Sequential(torch.nn.Linear(4, 64), torch.nn.Dropout(0.5), torch.nn.Dropout2d(0.3))
    use_generator(net, torch.Generator().manual_seed(3))
    assert all(isinstance(m, SeededDropout) for m in list(net)[1:])
    x = torch.ones(8, 4)
    torch.manual_seed(0)
    first = net(x)
    use_generator(net, torch.Generator().manual_seed(3))
    torch.manual_seed(123)  # another global state: the same masks
    assert torch.equal(first, net(x))
    kept = (first != 0).float().mean().item()
    assert 0.2 < kept < 0.5  # about (1 - 0.5) * (1 - 0.3) of the values survive


def _script_lines(src: str, tmp_path) -> list[str]:
    path = tmp_path / "train.py"
    path.write_text(src)
    r = subprocess.run(
        [
            sys.executable,
            str(path),
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "w.pt"),
            "--data",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout.splitlines()


@pytest.mark.parametrize(
    "model",
    [
        {"name": "mlp", "params": {"hidden": [48], "dropout": 0.5}},
        {"name": "cnn", "params": {"channels": [4, 8], "fc": [16], "dropout": 0.3, "flat_dropout": 0.25}},
    ],
)
def test_the_exported_script_replays_its_run(model, tmp_path):
    """Same losses epoch by epoch (the script prints the epoch's mean train loss), the same validation split,
    best checkpoint and normalisation, and the same final weights."""
    store = RunStore(tmp_path / "runs")
    cfg = _cfg(model=model, data={"normalize": "fixed:0.5,0.5"}, train={"val_fraction": 0.2})
    events = list(fit(cfg, store=store))
    assert events[-1]["kind"] == "done" and events[-1]["best_epoch"] in (1, 2)
    run = store.open(events[0]["run_id"])
    lines = _script_lines(run_training_script(run), tmp_path)
    epochs = [e for e in events if e["kind"] == "epoch"]
    printed = [ln for ln in lines if ln.startswith("epoch ")]
    assert len(printed) == len(epochs) == 2
    for e, ln in zip(epochs, printed):
        assert float(ln.split("train loss ")[1].split(",")[0]) == pytest.approx(e["train_loss"], abs=1e-5)
        assert float(ln.split("validation loss ")[1].split(",")[0]) == pytest.approx(e["val_loss"], abs=1e-5)
    best = next(ln for ln in lines if ln.startswith("best validation loss"))
    assert f"epoch {events[-1]['best_epoch']}:" in best
    ours = run.load_checkpoint(final=True)["model"]  # the one reader (weights_only=True)
    theirs = torch.load(tmp_path / "w.pt", weights_only=True)
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_an_augmented_run_and_its_script_give_the_same_losses(tmp_path):
    """Every augmentation the registry has, geometric and pixel, fused and not: the script copies the
    playground's batched code and draws from the run's generator in the run's order, so its epoch losses
    are the run's (before, torchvision's per-image transforms drew other numbers)."""
    store = RunStore(tmp_path / "runs")
    augment = [
        "hflip",
        "rotation:10,interpolation=nearest",
        "translate:0.1",
        "color_jitter",
        "gaussian_noise:0.05",
        "scale:min=0.8,max=1.2",
        "random_resized_crop",
        "vflip:0.2",
        "erasing",
        "cutout:0.3",
    ]
    cfg = _cfg(data={"augment": augment}, model={"name": "cnn", "params": {"channels": [4, 8], "fc": [16]}})
    events = list(fit(cfg, store=store))
    assert events[-1]["kind"] == "done", events[-1]
    src = run_training_script(store.open(events[0]["run_id"]))
    assert "v2.RandomRotation(degrees=10" in src and "AUGMENTATIONS" not in src  # the counterpart as a comment
    printed = [ln for ln in _script_lines(src, tmp_path) if ln.startswith("epoch ")]
    epochs = [e for e in events if e["kind"] == "epoch"]
    assert len(printed) == len(epochs) == 2
    for e, ln in zip(epochs, printed):
        assert float(ln.split("train loss ")[1].split(",")[0]) == pytest.approx(e["train_loss"], abs=1e-5)
    plain = list(fit(cfg.replace(data={"augment": []})))
    assert [e["train_loss"] for e in plain if e["kind"] == "epoch"] != [e["train_loss"] for e in epochs]


def _png(path, colour):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(colour)
    Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(path)


def test_image_folder_script_with_train_test_and_a_limit_keeps_every_class(tmp_path):
    root = tmp_path / "pics"
    classes = [f"c{k}" for k in range(5)]
    for k, c in enumerate(classes):
        for i in range(12):
            _png(root / "train" / c / f"{i}.png", 100 * k + i)
        for i in range(3):
            _png(root / "test" / c / f"{i}.png", 10_000 + 100 * k + i)
    cfg = RunConfig.from_dict(
        {"data": {"dataset": "image_folder", "data_root": str(root), "params": {"image_size": 12}, "train_limit": 20}}
    )
    src = training_script(cfg, in_shape=(3, 12, 12), num_classes=5)
    ns: dict = {"__name__": "generated"}
    exec(compile(src, "generated.py", "exec"), ns)
    tx, ty, vx, vy, got = ns["load_data"](str(root))
    assert got == classes and len(vy) == 15
    first = ty[:20]
    assert torch.bincount(first, minlength=5).min() >= 1  # all five classes in the first 20 (before: c0..c1)
    ds = load_dataset("image_folder", root=root, image_size=12)
    assert torch.equal(ty, ds.train_y) and torch.equal(tx, ds.train_x)  # the playground's order, image by image


def test_a_denoising_run_exports_and_its_script_replays_it(tmp_path):
    """The course's denoiser with Gaussian noise and masking, unshuffled: the script draws the same corruption
    from the run's generator and prints the run's losses and test PSNR."""
    store = RunStore(tmp_path / "runs")
    cfg = _cfg(
        data={"normalize": "none", "noise": ["gaussian:0.5", "mask:0.1"]},
        model={"name": "course_denoiser"},
        optim={"name": "adam", "lr": 0.001},
        train={"task": "reconstruct", "shuffle": False, "batch_size": 20, "epochs": 1},
    )
    events = list(fit(cfg, store=store))
    assert events[-1]["kind"] == "done", events[-1]
    epoch = next(e for e in events if e["kind"] == "epoch")
    lines = _script_lines(run_training_script(store.open(events[0]["run_id"])), tmp_path)
    line = next(ln for ln in lines if ln.startswith("epoch 1:"))
    assert float(line.split("train loss ")[1].split(",")[0]) == pytest.approx(epoch["train_loss"], abs=1e-5)
    assert float(line.split("test loss ")[1].split(",")[0]) == pytest.approx(epoch["test_loss"], abs=1e-6)
    assert float(line.split("test PSNR (dB) ")[1].split()[0]) == pytest.approx(epoch["test_psnr"], abs=1e-3)
