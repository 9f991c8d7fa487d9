"""Autoencoders: model shapes, noise statistics, PSNR, PCA, the reconstruct task through fit/CLI,
the live probe, latent views, bad input, the real-MNIST target and the page (AppTest)."""

import base64
import io
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from playground.autoencode.decoders import checkerboard, decoder_demo
from playground.autoencode.latent import AEView
from playground.autoencode.pca import pca_fit
from playground.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from playground.data.noise import add_gaussian_noise, add_mask_noise, add_salt_pepper_noise, build_noise
from playground.errors import ConfigError
from playground.jobs.manager import reset_manager
from playground.models import build_model
from playground.models.autoencoder import DECODERS
from playground.train import check_names, fit
from playground.train.reconstruct import MAX_PSNR, psnr

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {
    "mnist": (1, 28, 28),
    "cifar10/shapes": (3, 32, 32),
    "folder-odd": (3, 20, 20),
    "folder-grey-64": (1, 64, 64),
    "odd-7x9": (1, 7, 9),
}


def tiny(**changes) -> RunConfig:
    """A few steps on the built-in shapes data (no files needed)."""
    cfg = RunConfig(
        data=DataConfig(dataset="shapes", train_limit=128, noise=("gaussian:0.3",)),
        model=ModelConfig(name="conv_autoencoder", params={"code": 16, "channels": [8, 16]}),
        optim=OptimConfig(lr=3e-3),
        train=TrainConfig(
            task="reconstruct",
            epochs=1,
            batch_size=32,
            device="cpu",
            log_every=1,
            eval_batch_size=500,
            checkpoint=False,
        ),
    )
    return cfg.replace(**changes) if changes else cfg


# -- models --------------------------------------------------------------------------


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_conv_decoders_return_exactly_the_input_shape(shape, decoder):
    torch.manual_seed(0)
    m = build_model("conv_autoencoder", in_shape=shape, num_classes=10, code=8, decoder=decoder)
    x = torch.rand(3, *shape)
    out = m(x)
    assert out.shape == x.shape and m.encode(x).shape == (3, 8)
    assert 0 <= out.min() and out.max() <= 1  # sigmoid output: the pixels' range
    torch.nn.functional.mse_loss(out, x).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_mlp_autoencoder_shapes(shape):
    m = build_model("autoencoder", in_shape=shape, num_classes=10, code=4, hidden=[32], output="linear")
    x = torch.rand(2, *shape)
    assert m(x).shape == x.shape and m.encode(x).shape == (2, 4)
    assert m.decode(torch.zeros(5, 4)).shape == (5, *shape)


def test_transposed_decoder_is_a_transposed_convolution():
    m = build_model("conv_autoencoder", in_shape=(1, 28, 28), num_classes=10, decoder="transposed")
    kinds = {type(l).__name__ for l in m.decoder.modules()}
    assert "ConvTranspose2d" in kinds
    m = build_model("conv_autoencoder", in_shape=(1, 28, 28), num_classes=10, decoder="upsample_bilinear")
    assert "ConvTranspose2d" not in {type(l).__name__ for l in m.decoder.modules()}


@pytest.mark.parametrize(
    "name, kw, words",
    [
        ("conv_autoencoder", {"code": 784}, "not smaller than the input"),
        ("autoencoder", {"code": 5000}, "not smaller than the input"),
        ("conv_autoencoder", {"code": 0}, "at least 1"),
        ("conv_autoencoder", {"decoder": "pixelshuffle"}, "decoder must be one of"),
        ("conv_autoencoder", {"output": "tanh"}, "output must be one of"),
        ("conv_autoencoder", {"channels": [4, 4, 4, 4, 4, 4]}, "too many"),
    ],
)
def test_bad_autoencoder_settings(name, kw, words):
    with pytest.raises(ConfigError, match=words):
        build_model(name, in_shape=(1, 28, 28), num_classes=10, **kw)


# -- noise ---------------------------------------------------------------------------


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_gaussian_noise_statistics_and_independence():
    x = torch.full((64, 1, 32, 32), 0.5)
    raw = add_gaussian_noise(x, 0.2, _gen(), clip=False) - x
    assert abs(raw.mean().item()) < 0.005 and abs(raw.std().item() - 0.2) < 0.004
    per_sample = raw.flatten(1)
    assert not torch.allclose(per_sample[0], per_sample[1])  # a fresh draw per sample
    clipped = build_noise("gaussian:1.0")(x, _gen())
    assert clipped.min() >= 0 and clipped.max() <= 1 and (clipped == 1).any()
    assert torch.equal(build_noise("gaussian:0.2")(x, _gen(3)), build_noise("gaussian:0.2")(x, _gen(3)))


def test_salt_pepper_flips_the_asked_fraction_of_whole_pixels():
    x = torch.full((64, 3, 32, 32), 0.5)
    out = add_salt_pepper_noise(x, 0.2, _gen())
    hit = (out != 0.5).all(1)  # (B, H, W): all channels of a hit pixel change together
    assert ((out != 0.5).any(1) == hit).all()
    assert abs(hit.float().mean().item() - 0.2) < 0.01
    white = (out == 1).all(1).float().sum() / hit.float().sum()
    assert abs(white.item() - 0.5) < 0.03
    assert set(out.unique().tolist()) == {0.0, 0.5, 1.0}
    per_image = hit.float().mean((1, 2))
    assert per_image.std() > 0  # independent draws: images differ in how many pixels are hit


def test_mask_drops_the_asked_fraction():
    x = torch.rand(64, 1, 32, 32) * 0.5 + 0.5  # no zeros to begin with
    out = add_mask_noise(x, 0.3, _gen())
    dropped = out == 0
    assert abs(dropped.float().mean().item() - 0.3) < 0.01
    assert torch.equal(out[~dropped], x[~dropped])


@pytest.mark.parametrize(
    "spec, words",
    [
        ("gaussian:3", r"gaussian noise std must be a number in \[0, 2\]"),
        ("salt_pepper:1.5", r"probability p must be a number in \[0, 1\]"),
        ("mask:-0.1", r"mask fraction must be a number in \[0, 0.99\]"),
        ("mask:1", r"mask fraction"),
        ("blur:1", "Unknown noise 'blur'. Choose one of: gaussian, mask, none, salt_pepper"),
        ("gaussian:abc", "is not a number"),
        ("gaussian:0.1,1,2", "Too many values"),
    ],
)
def test_bad_noise_specs(spec, words):
    with pytest.raises(ConfigError, match=words):
        build_noise(spec)
    with pytest.raises(ConfigError, match=words):  # the config refuses it before any data is loaded
        check_names(tiny().replace(data={"test_noise": (spec,)}))


def test_noise_needs_the_reconstruct_task():
    with pytest.raises(ConfigError, match="reconstruct task"):
        RunConfig(data=DataConfig(noise=("gaussian:0.5",))).validate()
    with pytest.raises(ConfigError, match="recon_loss must be mse or bce"):
        tiny(train={"recon_loss": "l1"}).validate()


# -- PSNR, PCA, checkerboard ------------------------------------------------------------


def test_psnr_by_hand():
    target = torch.zeros(2, 1, 4, 4)
    pred = target.clone()
    pred[0] += 0.1  # MSE 0.01 -> 10 log10(1 / 0.01) = 20 dB
    pred[1, 0, 0, 0] = 1.0  # MSE 1/16 -> 10 log10(16) = 12.041 dB
    got = psnr(pred, target)
    assert got[0].item() == pytest.approx(20.0, abs=1e-4)
    assert got[1].item() == pytest.approx(10 * math.log10(16), abs=1e-4)
    assert psnr(target, target).tolist() == pytest.approx([MAX_PSNR] * 2)  # perfect: capped, not infinite
    assert psnr(pred * 255, target * 255, max_value=255.0)[0].item() == pytest.approx(20.0, abs=1e-3)


def test_pca_matches_svd():
    g = _gen(1)
    x = torch.rand(300, 1, 6, 6, generator=g) @ torch.rand(6, 6, generator=g)  # correlated pixels
    mean, comps, evals = pca_fit(x, 5, chunk=64)  # chunked sums = one pass
    flat = x.reshape(300, -1).double()
    u, s, vt = torch.linalg.svd(flat - flat.mean(0), full_matrices=False)
    assert torch.allclose(mean.double(), flat.mean(0), atol=1e-6)
    assert torch.allclose(evals.double()[:10], s[:10] ** 2 / 299, rtol=1e-4)
    proj_svd = vt[:5].T @ vt[:5]
    assert torch.allclose((comps @ comps.T).double(), proj_svd, atol=1e-4)
    with pytest.raises(ConfigError, match="code size from 1 to 35"):
        pca_fit(x, 36)


def test_randomised_pca_for_large_images_matches_svd():
    g = _gen(2)
    basis = torch.linalg.qr(torch.randn(1600, 4, generator=g)).Q  # (D, 4) orthonormal
    codes = torch.randn(200, 4, generator=g) * torch.tensor([5.0, 4.0, 3.0, 2.0])
    x = (codes @ basis.T + 0.01 * torch.randn(200, 1600, generator=g)).view(200, 1, 40, 40)
    mean, comps, evals = pca_fit(x, 4)  # 1600 pixels: the pca_lowrank path
    assert torch.allclose(comps @ comps.T, basis @ basis.T, atol=2e-3)
    flat = x.reshape(200, -1)
    assert evals.sum().item() == pytest.approx(flat.var(0).sum().item(), rel=1e-4)  # total variance kept


def test_randomised_pca_fits_a_bounded_subset(monkeypatch):
    """CIFAR-sized images (3,072 pixels): the randomised path factorises at most FIT_MB of images (evenly
    spaced, so every class of a class-sorted folder), not the whole training set (50,000 x 3,072 floats,
    600 MB, twice over with centring, in the server); its components still match the data's."""
    import playground.autoencode.pca as pca_mod

    seen = []
    real = torch.pca_lowrank
    monkeypatch.setattr(torch, "pca_lowrank", lambda a, **kw: seen.append(a.shape) or real(a, **kw))
    g = _gen(3)
    basis = torch.linalg.qr(torch.randn(3072, 3, generator=g)).Q
    codes = torch.randn(3000, 3, generator=g) * torch.tensor([5.0, 4.0, 3.0])
    x = (codes @ basis.T + 0.01 * torch.randn(3000, 3072, generator=g)).view(3000, 3, 32, 32)
    mean, comps, evals = pca_fit(x, 3, fit_mb=4)  # 4 MB: 341 of the 3,000 images
    assert seen == [(341, 3072)] and 4 * 2**20 // (3072 * 4) == 341
    assert torch.allclose(comps @ comps.T, basis @ basis.T, atol=5e-3)
    assert pca_mod.FIT_MB * 2**20 // (3072 * 4) == 4096  # CIFAR at the default: 4,096 images, 48 MB


def test_checkerboard_response():
    flat = torch.full((1, 1, 8, 8), 0.3)
    board = (torch.arange(8).view(-1, 1) + torch.arange(8)).remainder(2).float().view(1, 1, 8, 8)
    assert checkerboard(flat).item() == pytest.approx(0.0)
    assert checkerboard(board).item() == pytest.approx(0.5)
    demo = decoder_demo()
    assert checkerboard(torch.tensor(demo["transposed"] / 255.0).view(1, 1, *demo["transposed"].shape)) > 0.05
    for name in ("upsample_nearest", "upsample_bilinear"):
        assert np.ptp(demo[name]) == 0  # resize + convolution keeps a flat map flat


# -- the task through fit, the CLI and the probe --------------------------------------


def _events(cfg, **kw):
    return list(fit(cfg, **kw))


def test_reconstruct_run_events_and_grid():
    ev = _events(tiny(train={"probes": ("live_recon",)}))
    kinds = [e["kind"] for e in ev]
    assert kinds[0] == "start" and kinds[-1] == "done", ev[-1]
    steps = [e for e in ev if e["kind"] == "step"]
    assert all("psnr" in e and "acc" not in e for e in steps)
    epoch = next(e for e in ev if e["kind"] == "epoch")
    assert epoch["test_mse"] > 0 and 0 < epoch["test_psnr"] < MAX_PSNR
    assert epoch["test_loss"] == pytest.approx(epoch["test_mse"])  # MSE loss
    # The mean of per-image PSNRs is at least the PSNR of the mean MSE (Jensen: -log is convex).
    assert epoch["test_psnr"] >= 10 * math.log10(1 / epoch["test_mse"]) - 1e-3
    from PIL import Image

    grid = Image.open(io.BytesIO(base64.b64decode(epoch["samples"]["grid"])))
    # 8 images of 32 px upscaled x2 (64 px) with 2 px padding: 3 rows x 8 columns
    assert grid.size == (8 * 66 + 2, 3 * 66 + 2)
    assert Image.open(io.BytesIO(base64.b64decode(ev[0]["recon_grid"]))).size == grid.size  # untrained model's
    done = ev[-1]
    assert done["test_psnr"] == epoch["test_psnr"] and done["test_mse"] == epoch["test_mse"]


def test_live_probe_does_not_change_training():
    base = tiny(data={"train_limit": 64})
    with_probe = base.replace(train={"probes": ("live_recon",)})
    a = [e["loss"] for e in _events(base) if e["kind"] == "step"]
    b = [e["loss"] for e in _events(with_probe) if e["kind"] == "step"]
    assert a == b and len(a) == 2


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"data": {"train_limit": 10}}, "Batch size 32 is larger than the training set"),
        ({"model": {"name": "cnn", "params": {}}}, "needs a model that outputs an image"),
        (
            {"model": {"name": "conv_autoencoder", "params": {"output": "linear"}}, "train": {"recon_loss": "bce"}},
            "BCE compares outputs in",
        ),
        ({"train": {"task": "classify"}, "data": {"noise": ()}}, "outputs images, not class scores"),
        ({"model": {"name": "conv_autoencoder", "params": {"code": 5000}}}, "not smaller than the input"),
    ],
)
def test_bad_runs_end_with_a_clear_error(changes, words):
    final = _events(tiny(**changes))[-1]
    assert final["kind"] == "error" and words in final["message"], final


def test_bce_and_mlp_run():
    cfg = tiny(
        model={"name": "autoencoder", "params": {"code": 8, "hidden": [32]}},
        train={"recon_loss": "bce"},
        data={"noise": ("salt_pepper:0.1",), "test_noise": ("none",)},
    )
    ev = _events(cfg)
    assert ev[-1]["kind"] == "done", ev[-1]
    epoch = next(e for e in ev if e["kind"] == "epoch")
    assert epoch["test_psnr_input"] == MAX_PSNR  # clean test input: nothing to undo
    assert epoch["test_loss"] != pytest.approx(epoch["test_mse"])  # BCE, not MSE


def test_cli_json_has_psnr_and_mse(tmp_path):
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "playground",
            "train",
            "--task",
            "reconstruct",
            "--model",
            "conv_autoencoder",
            "--model-param",
            "channels=[8,16]",
            "--noise",
            "mask:0.3",
            "--dataset",
            "shapes",
            "--train-limit",
            "64",
            "--batch-size",
            "32",
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--runs",
            str(tmp_path / "runs"),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == "done" and result["test_mse"] > 0 and result["test_psnr"] > 0
    assert "psnr" in out.stderr and "test psnr" in out.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "playground", "train", "--task", "reconstruct", "--noise", "gaussian:5", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert bad.returncode == 2 and "gaussian noise std must be a number in [0, 2]" in bad.stderr


def test_latent_views_of_a_trained_run(store):
    cfg = tiny(model={"params": {"code": 2, "channels": [8]}}, train={"checkpoint": True})
    ev = _events(cfg, store=store)
    assert ev[-1]["kind"] == "done", ev[-1]
    view = AEView.load(store.open(ev[0]["run_id"]))
    proj = view.codes(n=300)
    assert proj.xy.shape == (300, 2) and proj.method == "bottleneck" and len(set(proj.index.tolist())) == 300
    frames = view.interpolate(3, 7, steps=5)
    r = view.reconstruct([3, 7])
    assert len(frames) == 5 and frames[0].shape == (32, 32, 3)
    # the ends of the path are the two images' own reconstructions
    assert np.abs(frames[0].astype(int) - r["recon"][0]).max() <= 1
    assert np.abs(frames[-1].astype(int) - r["recon"][1]).max() <= 1
    with pytest.raises(ConfigError, match="pick an index from 0 to"):
        view.interpolate(0, 10**6)


# -- the real-MNIST target -------------------------------------------------------------


def test_denoising_conv_ae_beats_pca_on_real_mnist(mnist_root):
    """A conv denoising autoencoder (gaussian std 0.5, code 32) against PCA with 32 components
    (the best linear autoencoder of that size, fitted on the same clean training images, fed the same
    corrupted test images, outputs clipped to [0, 1]). To stay short on CI the model gets one epoch
    over the first 20,000 training images, a third of the real target's epoch: a harder bar."""
    cfg = RunConfig(
        data=DataConfig(
            dataset="mnist", data_root=str(mnist_root), download=False, train_limit=20000, noise=("gaussian:0.5",)
        ),
        model=ModelConfig(name="conv_autoencoder", params={"code": 32}),
        optim=OptimConfig(name="adam", lr=3e-3),
        train=TrainConfig(task="reconstruct", epochs=1, batch_size=64, device="cpu", checkpoint=False, log_every=50),
    )
    final = _events(cfg)[-1]
    assert final["kind"] == "done", final
    from playground.autoencode.pca import pca_for_config

    pca = pca_for_config(cfg, 32)
    assert final["test_mse"] < 0.85 * pca["test_mse"], (final, pca)
    assert final["test_psnr"] > pca["test_psnr"] + 1.0
    assert final["test_psnr"] > final["test_psnr_input"] + 6  # it really removed noise


# -- the page ---------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("PLAYGROUND_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("PLAYGROUND_UPLOADS", str(tmp_path / "uploads"))

    reset_manager()
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    yield at
    from app_pages.common import job_manager as jm

    jm().shutdown()
    reset_manager()


def _no_errors(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_page_renders_and_explains_bad_noise(app):
    at = app.run()
    at.switch_page("app_pages/autoencode.py").run()
    _no_errors(at)
    assert at.button(key="ae_start").label == "Start training"
    at.number_input(key="ae_noise_gaussian").set_value(3.0).run()
    assert any("gaussian noise std must be a number in [0, 2]" in e.value for e in at.error)
    assert not any(b.key == "ae_start" for b in at.button)


def _link(d: dict) -> str:
    import base64
    import json
    import zlib

    return base64.urlsafe_b64encode(zlib.compress(json.dumps(d).encode())).decode().rstrip("=")


RECON = {"task": "reconstruct", "probes": ["live_recon"]}


@pytest.mark.parametrize(
    "cfg, words",
    [
        ({"data": {"noise": ["gaussian:9"]}, "model": {"name": "conv_autoencoder"}, "train": RECON}, "std must be"),
        ({"data": {"noise": ["fog:1"]}, "model": {"name": "conv_autoencoder"}, "train": RECON}, "fog"),
        ({"model": {"name": "conv_autoencoder", "params": {"decoder": "pixelshuffle"}}, "train": RECON}, "decoder"),
        ({"model": {"name": "autoencoder", "params": {"output": "tanh"}}, "train": RECON}, "output"),
        ({"model": {"name": "autoencoder", "params": {"code": "many"}}, "train": RECON}, "code"),
        ({"model": {"name": "autoencoder", "params": {"hidden": "big"}}, "train": RECON}, "hidden"),
        ({"model": {"name": "conv_autoencoder"}, "train": {**RECON, "recon_loss": "l1"}}, "recon_loss"),
        ({"model": {"name": "conv_autoencoder"}, "optim": {"lr": -1}, "train": RECON}, "learning rate"),
        ({"model": {"name": "conv_autoencoder"}, "optim": {"lr": "fast"}, "train": RECON}, "lr"),
        ({"model": {"name": "cnn"}}, "Train page"),
    ],
)
def test_page_falls_back_to_the_defaults_on_a_damaged_link(app, cfg, words):
    at = app.run()
    at.query_params["cfg"] = _link(cfg)
    at.switch_page("app_pages/autoencode.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(words in e.value for e in at.error), [e.value for e in at.error]
    assert any("defaults are shown instead" in w.value for w in at.warning)
    assert at.selectbox(key="ae_model").value == "conv_autoencoder" and at.button(key="ae_start")


def test_page_takes_a_good_link(app):
    at = app.run()
    at.query_params["cfg"] = _link(
        {"model": {"name": "autoencoder", "params": {"code": 7, "output": "linear"}}, "train": RECON}
    )
    at.switch_page("app_pages/autoencode.py").run()
    _no_errors(at)
    assert not at.warning and at.selectbox(key="ae_model").value == "autoencoder"
    assert at.number_input(key="ae_code_autoencoder").value == 7
    assert at.selectbox(key="ae_out_autoencoder").value == "linear"


def test_page_trains_and_shows_every_view(app):
    at = app.run()
    at.switch_page("app_pages/autoencode.py").run()
    at.number_input(key="ae_limit").set_value(128).run()
    at.number_input(key="ae_bs").set_value(32).run()
    at.number_input(key="ae_code_conv_autoencoder").set_value(2).run()
    at.button(key="ae_start").click().run()
    _no_errors(at)
    run_id = at.query_params["run"]
    run_id = run_id if isinstance(run_id, str) else run_id[0]
    from app_pages.common import job_manager

    deadline = time.time() + 150
    while job_manager().status(run_id) in ("queued", "running") and time.time() < deadline:
        time.sleep(0.5)
    assert job_manager().status(run_id) == "done"
    at.run()
    _no_errors(at)
    assert [t.label for t in at.tabs] == ["Latent space", "Interpolation", "PCA baseline", "Decoders"]
    assert any("PCA with the same 2 numbers" in m.value for m in at.markdown)
    assert any(b.label == "Metrics (.csv)" for b in at.get("download_button"))


@pytest.mark.parametrize("noise", [(), ("gaussian:std=0.3",)])
def test_the_quick_test_estimate_of_a_reconstruction_equals_the_full_evaluation_on_the_same_images(noise, monkeypatch):
    """On the whole (small) test split the quick estimate is the epoch's evaluation (same corruption, same
    model); in a run it arrives during the epoch and the curves draw it."""
    import playground.train.probes as probes
    from playground.autoencode.plots import reconstruction_curves
    from playground.jobs.buffer import RunBuffer
    from playground.train.run_setup import setup

    cfg = RunConfig().replace(
        model={"name": "autoencoder"},
        data={"params": {"n_train": 256, "n_test": 64}, "noise": noise, "test_noise": noise},
        train={"task": "reconstruct", "epochs": 1, "batch_size": 32, "log_every": 2, "log_seconds": 0},
    )
    s = setup(cfg, None)
    full, quick = s.task.evaluate(s.p), s.task.quick_evaluate(s.p, torch.arange(64, device=s.p.device))
    assert quick["psnr"] == pytest.approx(full["test_psnr"], abs=1e-3)
    assert quick["loss"] == pytest.approx(full["test_loss"], rel=1e-4)
    monkeypatch.setattr(probes.QuickTest, "INTERVAL_S", 0.0)
    events = list(fit(cfg))
    est = [e for e in events if e["kind"] == "step" and "quick_test_psnr" in e]
    assert est and est[0]["quick_test_n"] == 64 and all(math.isfinite(e["quick_test_psnr"]) for e in est)
    snap = RunBuffer.from_events(events).snapshot()
    fig = reconstruction_curves(snap["steps"], snap["epochs"], snap["quick"])
    assert sum("test estimate (64 images)" in (t.name or "") for t in fig.data) == 2
