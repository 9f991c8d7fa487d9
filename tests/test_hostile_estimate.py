"""The Transfer page's epoch estimate runs in the web server's own process on every change: it must not build
the backbone (VGG16 at 224 px and batch 64 took gigabytes when it trained real steps). It counts the run's
FLOPs on the meta device and turns them into seconds with a small calibration kept per device (issue 28)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from playground.config import RunConfig
from playground.models import transfer as transfer_module
from playground.models.backbones import BACKBONES
from playground.transfer import estimate_epoch
from playground.transfer.timing import calibrate

ROOT = Path(__file__).resolve().parents[1]


def cfg(backbone: str = "vgg16", size: int = 224, bs: int = 64, **params) -> RunConfig:
    mp = {"backbone": backbone, "weights": "imagenet", "image_size": size, **params}
    return RunConfig.from_dict(
        {
            "data": {"dataset": "shapes"},
            "model": {"name": "transfer", "params": mp},
            "train": {"batch_size": bs, "device": "cpu"},
        }
    )


def test_the_estimate_builds_no_backbone_weights(monkeypatch):
    """Every network the estimate builds is on the meta device: no weights, no activations, no file read."""
    built = []
    real = transfer_module.get_model

    def spy(*a, **kw):
        net = real(*a, **kw)
        built.append({q.device.type for q in net.parameters()})
        return net

    monkeypatch.setattr(transfer_module, "get_model", spy)
    est = estimate_epoch(
        cfg(freeze="finetune_all"), in_shape=(3, 32, 32), num_classes=10, n_train=640, n_test=100, budget_s=0.05
    )
    assert built and all(devices == {"meta"} for devices in built)
    # vgg16 at 224 px: ~15.5 GMAC a forward pass (x2 FLOPs), backward about twice that, x 64 images
    assert 4e12 < est["flops_per_step"] < 8e12
    assert est["trainable_parameters"] == 134_301_514  # every layer, the new head for 10 classes
    assert est["steps_per_epoch"] == 10 and est["epoch_s"] == pytest.approx(10 * est["step_s"] + est["eval_s"])


def test_the_estimate_follows_the_runs_freezing_recipe_and_cache():
    """vgg16 with ImageNet weights and nothing set: the course's recipe (features frozen, the classifier
    trains); the head alone with the feature cache: a pass of features once, then cheap head steps."""
    recipe = estimate_epoch(cfg(), in_shape=(3, 32, 32), num_classes=10, n_train=640, n_test=100, budget_s=0.05)
    assert recipe["trainable_parameters"] == 119_586_826 and not recipe["uses_cache"]
    head = estimate_epoch(
        cfg("mobilenet_v3_small", 64, 32, freeze="head_only", feature_cache=True),
        in_shape=(3, 32, 32),
        num_classes=10,
        n_train=640,
        n_test=100,
        budget_s=0.05,
    )
    full = estimate_epoch(
        cfg("mobilenet_v3_small", 64, 32, freeze="finetune_all", feature_cache=False),
        in_shape=(3, 32, 32),
        num_classes=10,
        n_train=640,
        n_test=100,
        budget_s=0.05,
    )
    assert head["uses_cache"] and head["cache_once_s"] > 0 and head["trainable_parameters"] == 10_250
    assert head["flops_per_step"] * 100 < full["flops_per_step"]  # the head's step on features is tiny
    assert full["cache_once_s"] == 0 and full["epoch_s"] > head["epoch_s"]


def test_calibration_is_measured_once_per_setting():
    c = cfg()
    first = calibrate(c, 0.05)
    assert calibrate(c, 0.05) is first  # kept: later estimates cost only the meta-device count
    assert first["flops_per_s"] > 0 and first["fixed_s"] > 0 and first["per_param_s"] > 0


def test_every_backbone_has_a_measured_speed():
    assert all(0.05 <= b.speed <= 5 for b in BACKBONES.values())


PROBE = """
import json, resource, sys
from playground.config import RunConfig
from playground.transfer import estimate_epoch
cfg = RunConfig.from_json(sys.argv[1])
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
estimate_epoch(cfg, in_shape=(3, 32, 32), num_classes=10, n_train=64, n_test=64, budget_s=0.05)  # calibrated
before = peak()
for backbone in ("vgg16", "efficientnet_b0", "resnet18"):
    c = RunConfig.from_dict({**cfg.to_dict(), "model": {"name": "transfer", "params": {
        "backbone": backbone, "weights": "imagenet", "image_size": 224, "freeze": "finetune_all"}}})
    estimate_epoch(c, in_shape=(3, 32, 32), num_classes=10, n_train=6400, n_test=1000, budget_s=0.05)
print(json.dumps({"before_mb": before, "after_mb": peak()}))
"""


@pytest.mark.slow
def test_the_server_process_stays_small_while_estimating_the_largest_backbones():
    """A fresh process (its peak resident memory is its own): estimating vgg16, efficientnet_b0 and resnet18 at
    224 px, batch 64, every layer training, raises its peak by less than 100 MB. Building vgg16 alone holds
    528 MB of weights; training a step at that size took gigabytes."""
    small = cfg("mobilenet_v3_small", 64, 64, freeze="head_only")
    out = subprocess.run(
        [sys.executable, "-c", PROBE, small.to_json()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(torch.get_num_threads())},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    mem = json.loads(out.stdout.strip().splitlines()[-1])
    assert mem["after_mb"] - mem["before_mb"] < 100, mem


def test_the_transfer_page_shows_vgg16_at_224_px_without_building_it(tmp_path, monkeypatch):
    """The page the monkey test had to leave out: vgg16 at 224 px, ImageNet weights (absent: offline), the course's
    recipe as the default, the surgery table and the estimate, with no network built for real in this process."""
    from streamlit.testing.v1 import AppTest

    from app_pages.common import job_manager
    from playground.jobs.manager import reset_manager

    built = []
    real = transfer_module.get_model
    monkeypatch.setattr(transfer_module, "get_model", lambda *a, **kw: built.append(real(*a, **kw)) or built[-1])
    monkeypatch.setenv("PLAYGROUND_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("PLAYGROUND_UPLOADS", str(tmp_path / "uploads"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    reset_manager()
    try:
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
        at.run()
        at.switch_page("app_pages/transfer.py").run()
        at.selectbox(key="tl_backbone").set_value("vgg16").run()
        at.select_slider(key="tl_size").set_value(224).run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.select_slider(key="tl_freeze").value.startswith("unfreeze the last 2 blocks")  # the recipe
        text = " ".join(m.value for m in at.markdown)
        assert "**119,586,826 of 134,301,514** parameters train" in text
        assert "one epoch (estimate)" in [m.label for m in at.metric]
        assert built and all({q.device.type for q in net.parameters()} == {"meta"} for net in built)
    finally:
        job_manager().shutdown()
        reset_manager()
