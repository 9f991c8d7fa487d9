import pytest
import torch

from playground.errors import ConfigError
from playground.models import build_model, list_models, model_params, summary

SHAPES = {"mnist": (1, 28, 28), "cifar10/shapes": (3, 32, 32), "folder-odd": (3, 20, 20), "folder-grey-64": (1, 64, 64)}
# Settings that keep a model fast and offline in the smoke test (transfer would load ImageNet weights
# and freeze its backbone by default; here every parameter must get a gradient).
SMOKE_PARAMS = {"transfer": {"weights": "none", "image_size": 32, "freeze": "finetune_all"}}


# Autoencoders output images, not class scores: their shapes are checked in tests/test_autoencode.py.
CLASSIFIERS = list_models(task="classify")


@pytest.mark.parametrize("name", CLASSIFIERS)
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_every_classifier_forward_and_backward(name, shape):
    torch.manual_seed(0)
    model = build_model(name, in_shape=shape, num_classes=7, **SMOKE_PARAMS.get(name, {}))
    x = torch.randn(3, *shape)
    out = model(x)
    assert out.shape == (3, 7)
    out.logsumexp(1).mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_registry_has_the_families():
    assert {"mlp", "cnn", "lenet5", "resnet"} <= set(list_models())
    assert "hidden" in model_params("mlp") and "in_shape" not in model_params("mlp")


def test_none_values_fall_back_to_defaults():
    a = build_model("mlp", in_shape=(1, 8, 8), num_classes=3, hidden=None, dropout=None)
    b = build_model("mlp", in_shape=(1, 8, 8), num_classes=3)
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]


def test_cnn_per_block_settings():
    m = build_model(
        "cnn",
        in_shape=(3, 32, 32),
        num_classes=10,
        blocks=[{"channels": 8, "kernel": 5}, {"channels": 12, "pool": "avg", "batch_norm": False}],
    )
    convs = [l for l in m.modules() if isinstance(l, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(5, 5), (3, 3)] and convs[1].bias is not None


def test_summary_counts_parameters_per_layer():
    m = build_model("cnn", in_shape=(1, 28, 28), num_classes=10)
    s = summary(m, (1, 28, 28))
    assert s.total_params == sum(p.numel() for p in m.parameters())
    assert "Conv2d" in str(s)


@pytest.mark.parametrize(
    "name, kw, words",
    [
        ("transformer", {}, "Choose one of"),
        ("mlp", {"hidden_units": 3}, "no parameter 'hidden_units'"),
        ("mlp", {"activation": "swish2"}, "Unknown activation"),
        ("mlp", {"dropout": 1.5}, "dropout"),
        ("cnn", {"channels": [8, 8, 8, 8, 8, 8]}, "Too many pooling blocks"),
        ("cnn", {"kernel": 4}, "odd number"),
        ("cnn", {"pool": "median"}, "pool must be"),
        ("mlp", {"hidden": [0]}, "positive"),
    ],
)
def test_bad_model_settings(name, kw, words):
    with pytest.raises(ConfigError, match=words):
        build_model(name, in_shape=(1, 28, 28), num_classes=10, **kw)


# -- one way to load a run's model -------------------------------------------------------------


def test_load_saved_reads_the_final_model_or_the_last_save_with_epochs_counted_alike(store):
    from conftest import tiny_run

    from playground.errors import CheckpointError
    from playground.models.saved import load_saved
    from playground.train import Controls, fit

    events = list(fit(tiny_run(epochs=2), store=store))
    done = load_saved(store.open(events[0]["run_id"]))
    assert (done.source, done.epochs_done, done.shape, done.classes) == (
        "model.pt",
        2,
        (3, 32, 32),
        events[0]["dataset"]["classes"],
    )
    assert not done.model.training and done.mean is not None
    controls, part_events = Controls(), []
    for e in fit(tiny_run(epochs=2), store=store, controls=controls):  # interrupted in its first epoch
        part_events.append(e)
        if e["kind"] == "step" and e["step"] == 4:
            controls.interrupt()
    run = store.open(part_events[0]["run_id"])
    part = load_saved(run)
    assert (part.source, part.epochs_done, part.shape) == ("checkpoint.pt", 0, (3, 32, 32))  # shape: start event
    x = torch.rand(2, 3, 32, 32)
    assert part.model(x).shape == (2, len(part.classes))
    with pytest.raises(CheckpointError, match="final model"):
        load_saved(run, final=True)
    run.checkpoint_path.unlink()
    with pytest.raises(CheckpointError, match="Wait for its first epoch"):
        load_saved(run)


# -- the layer table's rows and the architecture picture (playground.models.cnn) ---------------------


@pytest.mark.parametrize(
    "name, params",
    [
        ("cnn", {}),
        ("cnn", {"channels": [8], "pool": "none", "batch_norm": False, "fc": []}),
        ("cnn", {"blocks": [{"channels": 4, "kernel": 5, "pool": "avg"}, {"channels": 6, "batch_norm": False}]}),
        ("mlp", {}),
        ("mlp", {"hidden": []}),
    ],
)
def test_architecture_matches_the_built_model(name, params):
    from playground.models.cnn import architecture

    shape = (3, 32, 32)
    rows = architecture(name, params, shape, 7)
    model = build_model(name, in_shape=shape, num_classes=7, **params)
    assert sum(r["params"] for r in rows) == sum(p.numel() for p in model.parameters())
    assert rows[0]["output"] == list(shape) and rows[-1]["output"] == [7]
    if name == "cnn":  # each block's output shape is what the real block makes
        x = torch.zeros(1, *shape)
        for block, row in zip(model.features, rows[1:]):
            x = block(x)
            assert row["output"] == list(x.shape[1:])


def test_block_rows_round_trip_in_the_shortest_form():
    from playground.models.cnn import block_rows, blocks_params

    assert blocks_params(block_rows({})) == {}  # the defaults stay out of the config
    rows = block_rows({"channels": [8, 16], "kernel": 5})
    assert rows[1] == {"channels": 16, "kernel": 5, "pool": "max", "batch_norm": True}
    assert blocks_params(rows) == {"channels": [8, 16], "kernel": 5}
    rows[0] = {**rows[0], "pool": "none", "channels": 8.0}  # a table cell comes back as a float
    per_block = blocks_params(rows)
    assert per_block["blocks"][0] == {"channels": 8, "kernel": 5, "pool": "none", "batch_norm": True}
    assert block_rows(per_block) == [{**r, "channels": int(r["channels"])} for r in rows]
    build_model("cnn", in_shape=(1, 28, 28), num_classes=10, **per_block)


@pytest.mark.parametrize(
    "cell, words",
    [
        ({"channels": 0}, "channels is 0: give a whole number from 1"),
        ({"channels": None}, "channels is empty"),
        ({"channels": 2.5}, "channels is 2.5"),
        ({"kernel": 4}, "kernel is 4: give an odd whole number"),
        ({"pool": "big"}, "pooling must be one of"),
    ],
)
def test_a_bad_cell_is_named(cell, words):
    from playground.models.cnn import block_rows, blocks_params

    rows = block_rows({})
    rows[1] = {**rows[1], **cell}
    with pytest.raises(ConfigError, match=f"Conv block 2: {words}"):
        blocks_params(rows)
    with pytest.raises(ConfigError, match="at least one conv block"):
        blocks_params([])
