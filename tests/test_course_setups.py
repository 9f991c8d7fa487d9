"""The course's setups expressible: normalisation as a choice (config, URL, CLI, script), the validation
protocol and the unshuffled order, the course's initialisation rules, its autoencoders, its VGG16 recipe, the
presets that set each experiment up."""

from __future__ import annotations

import json
import math

import pytest
import torch

from playground.cli import build_parser
from playground.config import RunConfig
from playground.data import load_dataset
from playground.data.normalise import normalisation_stats
from playground.errors import ConfigError
from playground.export.script import training_script
from playground.flags import config_from_args
from playground.models import build_model
from playground.train import fit
from playground.train.init import init_weights
from playground.train.plan import prepare, val_split
from playground.train.run_setup import setup

SHAPES = {"dataset": "shapes", "params": {"n_train": 200, "n_test": 40, "size": 16}}
FAST = {"epochs": 2, "device": "cpu", "precision": "fp32", "quick_test": 0, "log_seconds": 0}


def _cfg(**over) -> RunConfig:
    d = {"data": dict(SHAPES), "model": {"name": "mlp", "params": {"hidden": [32]}}, "train": dict(FAST)}
    for k, v in over.items():
        d[k] = {**d.get(k, {}), **v}
    return RunConfig.from_dict(d)


# -- normalisation ------------------------------------------------------------------------


def test_normalisation_choices_give_their_statistics():
    ds = load_dataset("shapes", n_train=200, n_test=40, size=16)
    assert normalisation_stats("data", ds) == (tuple(ds.mean), tuple(ds.std))
    assert normalisation_stats("none", ds) == ((0.0,) * 3, (1.0,) * 3)
    assert normalisation_stats("fixed:0.5,0.5", ds) == ((0.5,) * 3, (0.5,) * 3)
    assert normalisation_stats("fixed:mean=0.4/0.5/0.6,std=0.2", ds) == ((0.4, 0.5, 0.6), (0.2,) * 3)
    assert normalisation_stats("imagenet", ds)[0] == (0.485, 0.456, 0.406)
    with pytest.raises(ConfigError, match="3 channel"):
        normalisation_stats("fixed:mean=0.4/0.5", ds)
    with pytest.raises(ConfigError, match="std must be positive"):
        normalisation_stats("fixed:0.5,0", ds)


@pytest.mark.parametrize("spec, mean, std", [("none", 0.0, 1.0), ("fixed:0.5,0.5", 0.5, 0.5)])
def test_the_engine_normalises_as_chosen(spec, mean, std):
    p = prepare(_cfg(data={"normalize": spec}))
    assert torch.allclose(p.mean, torch.full_like(p.mean, mean)) and torch.allclose(p.std, torch.full_like(p.std, std))
    x = p.to_input(p.train_x[:4])
    assert torch.allclose(x, (p.train_x[:4].float() / 255 - mean) / std, atol=1e-6)


def test_normalisation_travels_by_json_url_and_cli_and_old_configs_keep_the_default():
    cfg = _cfg(data={"normalize": "fixed:0.5,0.5"}, train={"val_fraction": 0.2, "shuffle": False})
    assert RunConfig.from_json(cfg.to_json()) == cfg and RunConfig.from_url(cfg.to_url()) == cfg
    old = cfg.to_dict()
    del old["data"]["normalize"], old["train"]["val_fraction"], old["train"]["shuffle"]  # a config.json of before
    back = RunConfig.from_dict(old)
    assert (back.data.normalize, back.train.val_fraction, back.train.shuffle) == ("data", 0.0, True)
    args = build_parser().parse_args(["train", "--normalize", "none", "--val-fraction", "0.2", "--no-shuffle"])
    c = config_from_args(args)
    assert (c.data.normalize, c.train.val_fraction, c.train.shuffle) == ("none", 0.2, False)
    with pytest.raises(ConfigError, match="validation fraction"):
        _cfg(train={"val_fraction": 0.95}).validate()


def test_the_script_normalises_as_the_run():
    src = training_script(_cfg(data={"normalize": "fixed:0.5,0.5"}), in_shape=(3, 16, 16), num_classes=10)
    assert "mean, std = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]" in src
    src = training_script(_cfg(), in_shape=(3, 16, 16), num_classes=10)
    assert "mean, std = channel_stats(train_x)" in src and "def channel_stats(" in src


# -- the course's protocol ----------------------------------------------------------------------------


def test_validation_split_is_seeded_and_disjoint():
    keep, held = val_split(100, 0.2, seed=3)
    assert len(held) == 20 and len(keep) == 80 and not set(keep.tolist()) & set(held.tolist())
    assert torch.equal(val_split(100, 0.2, seed=3)[1], held) and not torch.equal(val_split(100, 0.2, 4)[1], held)
    assert torch.equal(keep, keep.sort().values)  # the stored order
    with pytest.raises(ConfigError, match="validation fraction"):
        val_split(3, 0.1, 0)


def test_the_best_validation_checkpoint_is_kept_tested_and_marked():
    events = list(fit(_cfg(train={"val_fraction": 0.25, "epochs": 3})))
    start, epochs, done = events[0], [e for e in events if e["kind"] == "epoch"], events[-1]
    assert start["train_images"] == 150 and start["val_images"] == 50
    assert all("val_loss" in e and "val_acc" in e for e in epochs)
    best = min(range(3), key=lambda i: (epochs[i]["val_loss"], -i))  # the last of equal lows, as the course
    assert done["best_epoch"] == best + 1 and epochs[best].get("val_best")
    assert math.isclose(done["test_loss"], epochs[best]["test_loss"], rel_tol=1e-6)


def test_unshuffled_order_is_the_stored_order():
    from playground.train.run_setup import epoch_order

    s = setup(_cfg(train={"shuffle": False}))
    perm, _ = epoch_order(s, None)
    assert torch.equal(perm, torch.arange(len(s.p.train_y)))
    s = setup(_cfg())
    assert not torch.equal(epoch_order(s, None)[0], torch.arange(len(s.p.train_y)))


# -- the course's setups ------------------------------------------------------------------------------


def test_flat_dropout_sits_before_the_first_linear():
    m = build_model(
        "cnn",
        in_shape=(3, 32, 32),
        num_classes=10,
        channels=[16, 32, 64],
        batch_norm=False,
        fc=[500],
        dropout=0.25,
        flat_dropout=0.25,
    )
    kinds = [type(x).__name__ for x in m.classifier]
    assert kinds == ["Flatten", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert sum(p.numel() for p in m.parameters()) == 541_094  # the course's CIFAR CNN, parameter for parameter


@pytest.mark.parametrize(
    "init, check",
    [
        ("uniform_01", lambda w, n: 0 <= w.min() and w.max() < 1),
        ("uniform_centered", lambda w, n: -0.5 <= w.min() and w.max() < 0.5 and w.min() < -0.4),
        ("uniform_rule", lambda w, n: w.abs().max() <= n**-0.5 and w.abs().max() > 0.9 * n**-0.5),
        ("normal_rule", lambda w, n: abs(w.std().item() - n**-0.5) < 0.1 * n**-0.5),
    ],
)
def test_the_course_initialisation_rules(init, check):
    m = init_weights(build_model("mlp", in_shape=(1, 28, 28), num_classes=10, hidden=[256, 128]), init)
    for lin in [x for x in m.modules() if isinstance(x, torch.nn.Linear)]:
        assert check(lin.weight.detach(), lin.in_features), (init, lin)
        assert (lin.bias == 0).all()


def test_the_course_denoiser_and_conv_autoencoder_match_the_course():
    counts = {
        ("course_denoiser", "transposed"): 9_585,
        ("course_conv_autoencoder", "transposed"): 1_077,
        ("course_conv_autoencoder", "upsample_nearest"): 1_477,
    }
    for (name, decoder), n in counts.items():
        m = build_model(name, in_shape=(1, 28, 28), num_classes=10, decoder=decoder)
        assert sum(p.numel() for p in m.parameters()) == n
        x = torch.rand(2, 1, 28, 28)
        assert m(x).shape == x.shape and 0 <= m(x).min() and m(x).max() <= 1
    m = build_model("course_denoiser", in_shape=(3, 32, 32), num_classes=10, decoder="upsample_nearest")
    assert m(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)
    with pytest.raises(ConfigError, match="no code size to set"):
        build_model("course_denoiser", in_shape=(1, 28, 28), num_classes=10, code=32)


def test_vgg16_with_imagenet_weights_defaults_to_the_course_recipe():
    from playground.models.recipes import default_recipe
    from playground.models.transfer import build_transfer

    assert default_recipe("vgg16", "imagenet", None, None, None) == ("last_k", 2, 1.0)
    assert default_recipe("vgg16", "imagenet", "head_only", None, None)[0] == "head_only"  # a choice stays
    assert default_recipe("resnet18", "imagenet", None, None, None) == ("head_only", 1, 0.1)
    with torch.device("meta"):
        m = build_transfer(
            in_shape=(3, 32, 32),
            num_classes=10,
            backbone="vgg16",
            weights="none",
            freeze="last_k",
            k=2,
            backbone_lr_scale=1.0,
        )
    assert sum(p.numel() for p in m.parameters() if p.requires_grad) == 119_586_826
    assert m.trainable_blocks() == ["fc6 (classifier.0-2)", "fc7 (classifier.3-5)"]
    assert {g["lr"] for g in m.param_groups(0.001)} == {0.001}


# -- presets ------------------------------------------------------------------------------------------


def test_every_course_preset_is_valid_and_links_to_its_page():
    from playground.start.course import course_presets
    from playground.train.plan import check_names

    presets = course_presets()
    assert {p.name for p in presets} >= {
        "mlp_raw_pixels",
        "cnn_augmented",
        "init_uniform_01",
        "init_uniform_rule",
        "denoiser",
        "conv_autoencoder",
        "vgg16_transfer",
    }
    for p in presets:
        check_names(p.config)
        assert RunConfig.from_url(p.query["cfg"]) == p.config
        assert p.page in ("train", "autoencode") and (p.page == "autoencode") == (p.config.train.task == "reconstruct")
    by = {p.name: p.config for p in presets}
    assert by["mlp_raw_pixels"].data.normalize == "none" and not by["mlp_raw_pixels"].train.shuffle
    assert by["cnn_augmented"].train.val_fraction == 0.2
    assert json.loads(RunConfig.from_url(presets[0].query["cfg"]).to_json())["optim"]["name"] == "sgd"


def test_a_course_preset_trains_here_on_shapes():
    """The CIFAR preset's whole set-up (fixed normalisation, nearest rotation, flat dropout, validation and best
    checkpoint) runs end to end; shapes stand in for CIFAR-10 so the test needs no data."""
    from playground.start.course import cnn_augmented

    cfg = cnn_augmented().config.replace(
        data={"dataset": "shapes", "params": SHAPES["params"]}, train={"epochs": 1.0, "device": "cpu"}
    )
    done = list(fit(cfg))[-1]
    assert done["kind"] == "done" and done["best_epoch"] == 1 and 0 <= done["test_acc"] <= 1
