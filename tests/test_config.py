import json

import pytest

from playground.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from playground.errors import ConfigError


def test_round_trip_through_json():
    cfg = RunConfig(
        data=DataConfig(dataset="mnist", augment=("hflip", "rotation:10"), params={"x": 1}),
        model=ModelConfig(name="cnn", params={"channels": [8, 16]}, init="kaiming_normal"),
        optim=OptimConfig(name="nesterov", lr=0.05, weight_decay=5e-4, schedule="onecycle"),
        train=TrainConfig(epochs=1.5, batch_size=64, seed=3),
    )
    again = RunConfig.from_json(cfg.to_json())
    assert again == cfg
    assert json.loads(cfg.to_json())["data"]["augment"] == ["hflip", "rotation:10"]


def test_from_dict_fills_defaults_and_coerces_numbers():
    cfg = RunConfig.from_dict({"optim": {"lr": 1}, "train": {"epochs": 3}})
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)
    assert cfg.train.epochs == 3.0 and cfg.data.dataset == "shapes"


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"optim": {"lr": 0}}, "learning rate"),
        ({"optim": {"lr": -0.1}}, "learning rate"),
        ({"train": {"batch_size": 0}}, "batch size"),
        ({"train": {"epochs": 0}}, "epochs"),
        ({"train": {"device": "tpu"}}, "device"),
        ({"optim": {"label_smoothing": 1.5}}, "label smoothing"),
        ({"train": {"precision": "fp16"}}, "precision must be one of auto, fp32, bf16"),
    ],
)
def test_validate_rejects_out_of_range(bad, words):
    with pytest.raises(ConfigError, match=words):
        RunConfig.from_dict(bad).validate()


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"trian": {}}, "Unknown config section"),
        ({"train": {"epoch": 1}}, "Unknown field"),
        ({"train": {"batch_size": "big"}}, "integer"),
        ({"optim": {"lr": "fast"}}, "number"),
        ([1, 2], "JSON object"),
    ],
)
def test_from_dict_rejects_malformed(bad, words):
    with pytest.raises(ConfigError, match=words):
        RunConfig.from_dict(bad)


def test_replace_changes_one_field_only():
    cfg = RunConfig()
    new = cfg.replace(optim={"lr": 0.5})
    assert new.optim.lr == 0.5 and new.optim.name == cfg.optim.name and new.train == cfg.train
