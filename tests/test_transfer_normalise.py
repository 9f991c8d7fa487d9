"""A pretrained transfer model follows the run's normalisation (issue 29): an explicit choice (none, as the
course's transfer code feeds ``ToTensor()`` pixels; fixed values; ImageNet's) replaces the weights' own mean and
std; the default ("data") keeps, for pretrained weights, the statistics they were trained with; from scratch the
run's choice always applies. The engine, the saved model and the exported script agree."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import get_model

from playground import export
from playground.config import RunConfig
from playground.train import prepare
from playground.weights import resolve_weights, weights_file

SMALL = "mobilenet_v3_small"
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406])


@pytest.fixture
def cached(tmp_path, monkeypatch):
    """mobilenet_v3_small's random-init state dict where the torch hub cache expects the pretrained file."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.manual_seed(0)
    path = weights_file(resolve_weights(SMALL))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(get_model(SMALL, weights=None).state_dict(), path)


def cfg(normalize: str, weights: str = "imagenet") -> RunConfig:
    return RunConfig.from_dict(
        {
            "data": {
                "dataset": "shapes",
                "train_limit": 64,
                "params": {"n_train": 64, "n_test": 32},
                "normalize": normalize,
            },
            "model": {
                "name": "transfer",
                "params": {"backbone": SMALL, "weights": weights, "image_size": 32, "download": False},
            },
            "train": {"epochs": 1, "batch_size": 16, "device": "cpu", "checkpoint": False},
        }
    )


def _mean_std(normalize: str, weights: str = "imagenet") -> tuple[torch.Tensor, torch.Tensor]:
    p = prepare(cfg(normalize, weights))
    pre = p.model.preprocess
    assert torch.equal(p.mean, torch.zeros_like(p.mean))  # the model normalises; the engine hands over [0, 1]
    return pre.mean.flatten().cpu(), pre.std.flatten().cpu()


def test_pretrained_default_keeps_the_weights_own_statistics(cached):
    mean, std = _mean_std("data")
    assert torch.allclose(mean, IMAGENET_MEAN)


def test_pretrained_with_no_normalisation_feeds_raw_pixels_as_the_course_does(cached):
    mean, std = _mean_std("none")
    assert torch.equal(mean, torch.zeros(3)) and torch.equal(std, torch.ones(3))


def test_pretrained_with_fixed_values_uses_them(cached):
    mean, std = _mean_std("fixed:mean=0.5,std=0.25")
    assert torch.allclose(mean, torch.full((3,), 0.5)) and torch.allclose(std, torch.full((3,), 0.25))


def test_from_scratch_follows_the_data_statistics(cached):
    mean, _ = _mean_std("data", weights="none")
    assert not torch.allclose(mean, IMAGENET_MEAN)  # the shapes' own statistics


def test_the_exported_script_sets_the_runs_normalisation_into_the_model(cached):
    raw = export.training_script(cfg("none"), in_shape=(3, 32, 32), num_classes=4)
    kept = export.training_script(cfg("data"), in_shape=(3, 32, 32), num_classes=4)
    assert "model.preprocess.mean.copy_(data_mean)" in raw
    assert "model.preprocess.mean.copy_(data_mean)" not in kept
