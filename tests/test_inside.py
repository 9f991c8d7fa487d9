"""Inside the network: oracle tests against manual forwards and theory, probes, and the page (AppTest).

Small and fast: a built-in shapes set of a few hundred images, models of a few thousand parameters,
runs of a handful of steps."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

from playground import inside as ins
from playground.config import (
    DataConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TrainConfig,
    config_diff,
    config_fields,
    with_change,
)
from playground.data import load_dataset
from playground.errors import CheckpointError, ConfigError, PlaygroundError
from playground.inside import dynamics_plots as dyn
from playground.inside import plots as pin
from playground.jobs.manager import reset_manager
from playground.models import build_model, list_models
from playground.runs import RunStore
from playground.train import fit
from playground.train.init import init_weights
from playground.train.snapshots import (
    HIST_BINS,
    layer_stats_series,
    list_snapshots,
    load_snapshot,
    snapshot_weights,
    trainable_layers,
)

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"n_train": 384, "n_test": 128}
CNN = {"channels": [6, 12], "fc": [32]}


def tiny_config(**train) -> RunConfig:
    return RunConfig(
        data=DataConfig(dataset="shapes", params=SMALL),
        model=ModelConfig(name="cnn", params=CNN),
        optim=OptimConfig(name="adam", lr=3e-3),
        train=TrainConfig(
            **{"epochs": 2.0, "batch_size": 64, "log_every": 2, "probes": ("snapshots", "layer_stats"), **train}
        ),
    )


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One finished run with snapshots and layer statistics (shared by the tests of this file)."""
    store = RunStore(tmp_path_factory.mktemp("inside") / "runs")
    events = list(fit(tiny_config(), store=store))
    assert events[-1]["kind"] == "done", events[-1]
    return store, store.open(events[0]["run_id"]), events


@pytest.fixture(scope="module")
def data():
    return load_dataset("shapes", **SMALL)


def _model(data, name="cnn", seed=0, **params):
    torch.manual_seed(seed)
    return build_model(name, in_shape=data.shape, num_classes=data.num_classes, **(params or CNN))


# -- activations -------------------------------------------------------------------------


def test_activations_match_a_manual_forward(data):
    tr = ins.Trained.from_model(_model(data), data)
    img = data.test_x[3]
    acts = ins.activations(tr, img)
    # The oracle: run the modules one after another by hand and keep every output.
    x = tr.to_input(img)
    manual = {}
    with torch.no_grad():
        for prefix, seq in (("features", tr.model.features), ("classifier", tr.model.classifier)):
            for name, mod in seq.named_modules():
                if name and not any(True for _ in mod.children()):
                    x = mod(x)
                    manual[f"{prefix}.{name}"] = x[0].clone()
    names = [layer["name"] for layer in acts["layers"]]
    assert names == list(manual)
    for layer in acts["layers"]:
        ref = manual[layer["name"]]
        assert layer["shape"] == tuple(ref.shape)
        got = layer["maps"] if layer["spatial"] else layer["vector"]
        np.testing.assert_allclose(got.reshape(-1), ref.numpy().reshape(-1), rtol=1e-5, atol=1e-5)
        assert layer["spatial"] == (ref.ndim == 3)
    np.testing.assert_allclose(acts["probs"], manual["classifier.3"].softmax(0).numpy(), rtol=1e-5, atol=1e-6)
    assert acts["range"] == pytest.approx(max(float(v.abs().max()) for v in manual.values()), rel=1e-5)


def test_layers_without_spatial_maps_are_labelled_not_crashing(data):
    tr = ins.Trained.from_model(_model(data, "mlp", hidden=[16]), data)
    acts = ins.activations(tr, data.test_x[0])
    assert [layer["kind"] for layer in acts["layers"]] == ["Flatten", "Linear", "ReLU", "Linear"]
    assert not any(layer["spatial"] for layer in acts["layers"])
    assert acts["layers"][0]["vector"].shape == (math.prod(data.shape),)
    with pytest.raises(ConfigError, match="no spatial maps"):
        ins.grad_cam(tr, data.test_x[0])


# -- saliency and Grad-CAM -------------------------------------------------------------------


def test_saliency_of_a_linear_model_is_its_weight_row(data):
    # logits = W x + b, so d logit_t / d x = W[t]: the saliency is |W[t]| (max over channels), scaled.
    tr = ins.Trained.from_model(_model(data, "mlp", hidden=[]), data)
    w = tr.model.net[1].weight.detach()
    for target in (None, 4):
        sal = ins.saliency(tr, data.test_x[0], target)
        t = sal["target"]
        if target is None:
            assert t == int(tr.model(tr.to_input(data.test_x[0])).argmax())
        ref = w[t].view(*data.shape).abs().amax(0)
        np.testing.assert_allclose(sal["map"], (ref / ref.max()).numpy(), rtol=1e-5, atol=1e-6)


def test_grad_cam_is_non_negative_input_sized_and_matches_the_formula(data):
    tr = ins.Trained.from_model(_model(data), data)
    img = data.test_x[5]
    for target in (None, 2, 7):
        cam = ins.grad_cam(tr, img, target)
        assert cam["map"].shape == tuple(img.shape[-2:])
        assert cam["map"].min() >= 0 and cam["map"].max() == pytest.approx(1.0)
        assert cam["layer"] == "features.1.0"
        # Oracle: split the network at the last conv by hand.
        x = tr.to_input(img)
        a = tr.model.features[1][0](tr.model.features[0](x)).detach().requires_grad_(True)
        rest = tr.model.features[1][1:](a)
        logits = tr.model.classifier(rest)
        t = int(logits.argmax()) if target is None else target
        (g,) = torch.autograd.grad(logits[0, t], a)
        ref = F.relu((g.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True))
        ref = F.interpolate(ref, size=img.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
        np.testing.assert_allclose(cam["map"], (ref / ref.max()).detach().numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="between 0 and 9"):
        ins.grad_cam(tr, img, 10)


def test_top_activating_images_are_the_highest_channel_means(data):
    tr = ins.Trained.from_model(_model(data), data)
    res = ins.top_activating(tr, "features.0.2", 1, n=5, limit=100, batch_size=32)
    with torch.no_grad():
        a = tr.model.features[0][:3](tr.to_input(data.test_x[:100]))[:, 1].mean((1, 2))  # conv, bn, relu
    vals, idx = a.topk(5)
    assert res["index"] == idx.tolist()
    np.testing.assert_allclose(res["value"], vals.numpy(), atol=1e-4)
    assert len(res["images"]) == 5 and res["images"][0].shape == (32, 32, 3)


# -- uploads --------------------------------------------------------------------------------


def _png(mode: str, size: tuple[int, int], fmt: str = "PNG") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    colour = {"RGBA": (255, 0, 0, 128), "L": 200, "P": 3, "RGB": (0, 0, 255), "I;16": 40000, "CMYK": (0, 0, 0, 0)}
    Image.new(mode, size, colour[mode]).save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize(
    "mode,size,fmt",
    [
        ("RGBA", (100, 50), "PNG"),
        ("L", (7, 300), "PNG"),
        ("P", (40, 40), "GIF"),
        ("I;16", (64, 64), "PNG"),
        ("CMYK", (33, 20), "JPEG"),
    ],
)
def test_uploads_of_any_mode_and_size_become_the_model_input(mode, size, fmt):
    for shape in ((3, 32, 32), (1, 28, 28)):
        x = ins.image_from_bytes(_png(mode, size, fmt), shape)
        assert x.dtype == torch.uint8 and tuple(x.shape) == shape
    grey = ins.image_from_bytes(_png("L", (10, 10)), (1, 28, 28))
    assert int(grey.float().mean().round()) == 200
    assert int(ins.image_from_bytes(_png("L", (10, 10)), (1, 28, 28), invert=True).float().mean().round()) == 55
    with pytest.raises(PlaygroundError, match="not an image"):
        ins.image_from_bytes(b"this is text, not a picture", (3, 32, 32))


# -- filters and probes -----------------------------------------------------------------------


def test_filter_grid_lays_out_the_kernels():
    w = torch.randn(5, 3, 3, 3)
    rgb = ins.filter_grid(w)
    assert rgb["rgb"].shape == (3, 5 * 4 - 1, 3) and rgb["rgb"].dtype == np.uint8
    t = (w[2] - w[2].min()) / (w[2].max() - w[2].min())
    np.testing.assert_allclose(rgb["rgb"][:, 8:11] / 255, t.permute(1, 2, 0).numpy(), atol=1 / 255)
    w2 = torch.randn(4, 6, 3, 3)
    g = ins.filter_grid(w2)  # rows: filters, columns: input channels
    assert g["z"].shape == (4 * 4 - 1, 6 * 4 - 1)
    np.testing.assert_allclose(g["z"][4:7, 8:11], w2[1, 2].numpy())
    assert np.isnan(g["z"][3]).all()
    one = ins.filter_grid(w2, in_channel=5)
    np.testing.assert_allclose(one["z"][0:3, 4:7], w2[1, 5].numpy())
    with pytest.raises(ConfigError, match="0..5"):
        ins.filter_grid(w2, in_channel=6)
    mlp_first = ins.filter_grid(torch.randn(3, 12), in_shape=(1, 3, 4))  # each unit's weights as an image
    assert mlp_first["z"].shape == (3, 3 * 5 - 1)


def test_snapshots_hold_the_initialisation_and_every_epoch(trained_run, data):
    store, run, events = trained_run
    assert list_snapshots(run) == [0, 1, 2]
    cfg = run.config()
    torch.manual_seed(cfg.train.seed)  # the engine's model initialisation, redone
    fresh = build_model("cnn", in_shape=data.shape, num_classes=data.num_classes, **CNN)
    init_weights(fresh, cfg.model.init)
    first = load_snapshot(run, 0)
    assert set(first) == {"features.0.0", "features.1.0"}
    torch.testing.assert_close(first["features.0.0"], fresh.features[0][0].weight.detach())
    final = ins.load_trained(run)
    torch.testing.assert_close(load_snapshot(run, 2)["features.1.0"], final.model.features[1][0].weight.detach())
    assert not torch.equal(first["features.1.0"], load_snapshot(run, 2)["features.1.0"])
    with pytest.raises(CheckpointError, match="no snapshot for epoch 7"):
        load_snapshot(run, 7)


def test_layer_stats_are_histograms_and_norms_of_the_weights(trained_run):
    store, run, events = trained_run
    stats = layer_stats_series(run.events())
    final = ins.load_trained(run).model
    weights = {n: m.weight.detach() for n, m in final.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    assert stats["layers"] == list(weights)
    for name, w in weights.items():
        s = stats["series"][name]
        assert all(sum(h) == w.numel() and len(h) == HIST_BINS for h in s["hist"])
        # the last step event came after the last optimiser step: the final weights
        assert s["lo"][-1] == pytest.approx(float(w.min()), rel=1e-4)
        assert s["w_norm"][-1] == pytest.approx(float(w.norm()), rel=1e-4)
        assert all(g is not None and g > 0 for g in s["g_norm"])


def test_a_run_without_probes_explains_what_to_enable(tmp_path):
    store = RunStore(tmp_path / "runs")
    events = list(fit(tiny_config(probes=(), epochs=0.5), store=store))
    run = store.open(events[0]["run_id"])
    assert list_snapshots(run) == [] and layer_stats_series(run.events())["layers"] == []
    with pytest.raises(CheckpointError, match="without the 'snapshots' probe"):
        load_snapshot(run, 0)
    empty = store.create(tiny_config())
    with pytest.raises(CheckpointError, match="no saved weights yet"):
        ins.load_trained(empty)


def test_probes_skip_frozen_layers_and_snapshots_keep_to_their_budget(data):
    model = _model(data)
    model.features[0].requires_grad_(False)  # a frozen first block
    assert [n for n, _ in trainable_layers(model)] == ["features.1.0", "classifier.1", "classifier.3"]
    assert list(snapshot_weights(model, trainable_only=True)) == ["features.1.0"]
    assert list(snapshot_weights(model)) == ["features.0.0", "features.1.0"]
    first = model.features[0][0].weight.numel() * 4
    assert list(snapshot_weights(model, max_bytes=first)) == ["features.0.0"]  # the first layer, then what fits
    assert list(snapshot_weights(model, max_bytes=1)) == ["features.0.0"]  # the first layer always


TRANSFER = {
    "backbone": "mobilenet_v3_small",
    "weights": "none",
    "image_size": 32,
    "freeze": "last_k",
    "k": 2,
    "feature_cache": False,
}


def test_a_transfer_run_loads_offline_and_is_inspected_on_0_1_input(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs")
    cfg = RunConfig(
        data=DataConfig(dataset="shapes", params={"n_train": 128, "n_test": 64}),
        model=ModelConfig(name="transfer", params=TRANSFER),
        optim=OptimConfig(name="adam", lr=3e-3),
        train=TrainConfig(epochs=1.0, batch_size=32, log_every=2, probes=("snapshots", "layer_stats")),
    )
    events = list(fit(cfg, store=store))
    assert events[-1]["kind"] == "done", events[-1]
    run = store.open(events[0]["run_id"])
    # As if the run had started from ImageNet weights: reloading must not fetch them.
    ckpt = run.load_checkpoint(final=True)
    ckpt["config"]["model"]["params"]["weights"] = "imagenet"
    run.save_checkpoint({k: v for k, v in ckpt.items() if k != "format"}, final=True)
    import playground.weights

    def no_fetch(*a, **k):
        raise AssertionError("load_trained fetched pretrained weights")

    monkeypatch.setattr(playground.weights, "load_weights", no_fetch)
    tr = ins.load_trained(run)
    assert tr.config.model.params["weights"] == "imagenet"
    assert torch.equal(tr.mean, torch.zeros(1, 3, 1, 1)) and torch.equal(tr.std, torch.ones(1, 3, 1, 1))
    x = tr.data.test_x[:4]
    torch.testing.assert_close(tr.to_input(x), x.float() / 255)  # the model normalises [0, 1] itself
    # Same predictions as the engine's own evaluation of the final model.
    preds = ins.test_predictions(tr)
    k = len(tr.classes)
    confusion = np.zeros((k, k), dtype=int)
    np.add.at(confusion, (preds["y"], preds["pred"]), 1)
    assert confusion.tolist() == [e for e in events if e["kind"] == "epoch"][-1]["confusion"]
    acts = ins.activations(tr, x[0])
    np.testing.assert_allclose(acts["probs"], preds["probs"][0], rtol=1e-3)  # batch of 1 vs 64: rounding
    assert ins.saliency(tr, x[0])["target"] == int(preds["pred"][0])
    frozen = [n for n, m in tr.model.named_modules() if isinstance(m, nn.Conv2d) and not m.weight.requires_grad]
    cam = ins.grad_cam(tr, x[0], layer=frozen[0])  # gradients reach maps behind frozen layers
    assert cam["map"].shape == (32, 32) and 0 < cam["map"].max() <= 1 and cam["map"].min() >= 0
    # The probes watched only the layers that train; the filter view fills frozen ones from the model.
    trainable = [
        n for n, m in tr.model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.requires_grad
    ]
    assert 0 < len(trainable) < len(snapshot_weights(tr.model)) and frozen
    assert layer_stats_series(run.events())["layers"] == trainable
    snap = load_snapshot(run, 1)
    assert set(snap) <= set(trainable)
    shown = ins.filters_at(tr, run, 0)
    assert frozen[0] in shown and set(snap) <= set(shown)
    torch.testing.assert_close(shown[frozen[0]], tr.model.get_submodule(frozen[0]).weight.detach())


def test_autoencoder_runs_are_not_inspected_here(trained_run, tmp_path):
    store = RunStore(tmp_path / "runs")
    cfg = RunConfig(
        data=DataConfig(dataset="shapes", params={"n_train": 128, "n_test": 64}),
        model=ModelConfig(name="conv_autoencoder"),
        train=TrainConfig(task="reconstruct", epochs=0.25, batch_size=32, log_every=2),
    )
    events = list(fit(cfg, store=store))
    assert events[-1]["kind"] == "done", events[-1]
    run = store.open(events[0]["run_id"])
    assert run.model_path.exists()
    assert ins.inspectable_runs(store) == []
    with pytest.raises(ConfigError, match="Autoencoders page"):
        ins.load_trained(run)
    lab = ins.init_lab_models()
    assert "cnn" in lab and "transfer" not in lab and not set(lab) & set(list_models(task="reconstruct"))
    with pytest.raises(ConfigError, match="from scratch"):
        ins.init_stats("conv_autoencoder", {}, load_dataset("shapes", **SMALL), {"x": ("xavier_uniform", {})})
    # Visibility filter: a run the caller may not see is left out.
    other = trained_run[0]
    assert [r["run_id"] for r in ins.inspectable_runs(other)] != []
    assert ins.inspectable_runs(other, keep=lambda i: False) == []


# -- confusion drill-down ----------------------------------------------------------------------


def test_misclassified_cells_match_the_runs_confusion_matrix(trained_run):
    store, run, events = trained_run
    tr = ins.load_trained(run)
    preds = ins.test_predictions(tr)
    confusion = [e for e in events if e["kind"] == "epoch"][-1]["confusion"]
    k = len(tr.classes)
    for t in range(k):
        for p in range(k):
            res = ins.misclassified(tr, preds, t, p, n=3)
            assert res["count"] == confusion[t][p]
            for tile in res["tiles"]:
                assert (tile["true"], tile["pred"]) == (tr.classes[t], tr.classes[p])
                assert len(tile["top"]) == 3 and tile["top"][0][0] == tile["pred"]
    worst = ins.highest_loss(tr, preds, 5)
    assert [w["loss"] for w in worst] == sorted(preds["loss"], reverse=True)[:5]


# -- initialisation lab -------------------------------------------------------------------------


def test_init_statistics_follow_theory(data):
    layers = [128, 128, 128]
    stats = ins.init_stats(
        "mlp",
        {"hidden": layers},
        data,
        {"kaiming": ("kaiming_normal", {}), "small": ("normal", {"std": 0.01}), "zeros": ("zeros", {})},
        batch_size=256,
    )
    x = (data.train_x[:256].float() / 255 - torch.tensor(data.mean).view(1, -1, 1, 1)) / torch.tensor(data.std).view(
        1, -1, 1, 1
    )
    ex2 = float((x**2).mean())
    fan_in = math.prod(data.shape)
    # First layer: Var(y) = fan_in * sigma^2 * E[x^2] (zero-mean weights, zero bias).
    assert stats["small"]["act_std"][0] == pytest.approx(math.sqrt(fan_in * 0.01**2 * ex2), rel=0.1)
    assert stats["kaiming"]["act_std"][0] == pytest.approx(math.sqrt(2 * ex2), rel=0.1)
    # Between hidden ReLU layers: Var(y_{l+1}) = fan_in * sigma^2 * Var(y_l) / 2.
    for l in range(1, len(layers)):
        ratio = stats["small"]["act_std"][l] / stats["small"]["act_std"][l - 1]
        assert ratio == pytest.approx(math.sqrt(128 * 0.01**2 / 2), rel=0.2)
        # He et al.: kaiming keeps the scale from layer to layer.
        assert stats["kaiming"]["act_std"][l] / stats["kaiming"]["act_std"][l - 1] == pytest.approx(1.0, rel=0.2)
    assert all(s == 0 for s in stats["zeros"]["act_std"])
    assert all(g == 0 for g in stats["zeros"]["grad_std"][:-1])  # no gradient reaches earlier layers


def test_constant_init_keeps_units_identical(data):
    stats = ins.init_stats(
        "cnn", CNN, data, {"constant": ("constant", {"value": 0.05}), "kaiming": ("kaiming_normal", {})}
    )
    assert all(v < 1e-6 for v in list(stats["constant"]["spread"].values())[:-1])
    race = ins.init_race(
        tiny_config(probes=(), epochs=1.0, log_every=1),
        {"constant": ("constant", {"value": 0.05}), "kaiming": ("kaiming_normal", {})},
    )
    for r in race.values():
        assert len(r["loss"]) == 6 and r["final"]["kind"] == "done"
    hidden = list(race["constant"]["spread"])[:-1]
    assert all(race["constant"]["spread"][n] < 1e-5 for n in hidden)  # trained, still identical
    assert all(race["kaiming"]["spread"][n] > 1e-2 for n in hidden)
    assert race["constant"]["spread"][list(race["constant"]["spread"])[-1]] > 0  # output rows differ per class


# -- MLP vs CNN ---------------------------------------------------------------------------------


def test_param_table_counts_sharing(data):
    t = ins.param_table("cnn", CNN, (3, 32, 32), 10)
    model = build_model("cnn", in_shape=(3, 32, 32), num_classes=10, **CNN)
    assert t["total"] == sum(p.numel() for p in model.parameters())
    conv1 = t["rows"][0]
    assert conv1["params"] == 6 * 3 * 9  # no bias: batch norm follows
    assert conv1["locally_connected"] == 32 * 32 * 6 * 3 * 9
    assert conv1["fully_connected"] == (3 * 32 * 32) * (6 * 32 * 32) + 6 * 32 * 32
    lin = t["rows"][-1]
    assert lin["params"] == lin["locally_connected"] == lin["fully_connected"] == 32 * 10 + 10


def test_invariance_at_zero_is_plain_accuracy(trained_run, data):
    store, run, _ = trained_run
    tr = ins.load_trained(run)
    mlp = ins.Trained.from_model(_model(data, "mlp", hidden=[16]), data)
    inv = ins.invariance([tr, mlp], shifts=[0, 2], angles=[0, 30], n_images=100)
    preds = ins.test_predictions(tr)
    acc0 = float((preds["pred"][:100] == preds["y"][:100]).mean())
    assert inv["shift_acc"][tr.label][0] == pytest.approx(acc0)
    assert inv["rotation_acc"][tr.label][0] == pytest.approx(acc0)
    assert len(inv["shift_acc"][mlp.label]) == 2
    other = load_dataset("shapes", n_train=64, n_test=32, size=28)
    with pytest.raises(ConfigError, match="same data set"):
        ins.invariance([tr, ins.Trained.from_model(_model(other, "mlp", hidden=[4]), other)])


# -- run again with one change ---------------------------------------------------------------------


def test_with_change_changes_exactly_one_setting():
    cfg = tiny_config(seed=7)
    new = with_change(cfg, "optim.lr", "0.01")
    assert new.optim.lr == 0.01 and new.train.seed == 7
    assert [d["setting"] for d in config_diff([cfg, new])] == ["optim.lr"]
    assert with_change(cfg, "model.init", "xavier_uniform").model.init == "xavier_uniform"  # a bare word
    with pytest.raises(ConfigError, match="already"):
        with_change(cfg, "optim.lr", "0.003")
    with pytest.raises(ConfigError, match="No setting"):
        with_change(cfg, "optim.nope", "1")
    with pytest.raises(ConfigError, match="learning rate"):
        with_change(cfg, "optim.lr", "-1")


# -- the page (AppTest) -------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path, monkeypatch, trained_run):
    store, run, _ = trained_run
    monkeypatch.setenv("PLAYGROUND_RUNS", str(store.root))
    monkeypatch.setenv("PLAYGROUND_UPLOADS", str(tmp_path / "uploads"))
    from app_pages.common import job_manager

    reset_manager()
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.query_params["run"] = run.run_id
    yield at
    job_manager().shutdown()
    reset_manager()


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _tab(at, name):
    at.query_params["tab"] = name  # the page's tabs are lazy and bound to ?tab=
    at.run()
    _ok(at)
    return at


def test_inside_page_shows_every_tab_for_a_trained_run(app, trained_run):
    at = app
    at.run()
    at.switch_page("app_pages/inside.py").run()
    _ok(at)
    assert at.selectbox(key="i_run").value == trained_run[1].run_id
    assert at.select_slider(key="i_f_epoch").value == 2  # snapshots 0..2
    at.select_slider(key="i_f_epoch").set_value(0).run()
    _ok(at)
    assert any("after epoch 0" in str(c.proto.spec) for c in at.get("plotly_chart"))
    _tab(at, "Activations")
    # probabilities, one overview picture per layer (dropout left out), the chosen layer's maps
    assert len(at.get("plotly_chart")) == 1 + 12 + 1
    at.radio(key="i_scale").set_value("global").run()
    at.button(key="i_t_go").click().run()
    _ok(at)
    assert any("Mean activation" in c.value for c in at.caption)
    _tab(at, "Saliency & Grad-CAM")
    at.selectbox(key="i_s_cls").set_value("circle").run()
    _ok(at)
    assert any("Grad-CAM for circle" in str(c.proto.spec) for c in at.get("plotly_chart"))
    _tab(at, "Weights & gradients")
    assert len(at.get("plotly_chart")) == 3
    _tab(at, "Compare runs")
    assert any(b.label == "Comparison (.json)" for b in at.get("download_button"))


def test_inside_page_init_race_and_invariance(app):
    at = app
    at.run()
    at.switch_page("app_pages/inside.py").run()
    _tab(at, "Initialisation lab")
    assert not [t.key for t in at.text_input if "channels" in (t.key or "")]  # the layers: the Train page's tables
    at.multiselect(key="i_i_inits").set_value(["constant", "kaiming_normal"]).run()
    _ok(at)
    assert any("constant" in w.value and "identical" in w.value for w in at.warning)
    at.number_input(key="i_i_limit").set_value(256).run()
    at.number_input(key="i_i_epochs").set_value(0.5).run()
    at.button(key="i_i_race").click().run()
    _ok(at)
    from conftest import wait_until

    from app_pages.common import job_manager

    race_id = at.session_state["i_race_run"]
    assert job_manager().get(race_id).kind.name == "initrace"  # a job of the manager, not the page's thread
    assert wait_until(lambda: job_manager().status(race_id, "initrace") == "done", 120)
    at.run()
    _ok(at)
    assert any(b.label == "Race results (.json)" for b in at.get("download_button"))
    _tab(at, "MLP vs CNN")
    at.number_input(key="i_m_n").set_value(100).run()
    at.button(key="i_m_go").click().run()
    _ok(at)
    assert any(b.label == "Invariance results (.json)" for b in at.get("download_button"))


def test_train_page_drill_down_and_run_again(app, trained_run):
    at = app
    at.run()
    at.switch_page("app_pages/train.py").run()
    _ok(at)
    classes = load_dataset("shapes", **SMALL).classes
    at.selectbox(key="t_dd_true").set_value(classes[0]).run()
    at.selectbox(key="t_dd_pred").set_value(classes[0]).run()
    _ok(at)
    assert any("test images: right" in m.value for m in at.markdown)
    at.toggle(key="t_dd_hl").set_value(True).run()
    _ok(at)
    from app_pages.common import job_manager

    # a setting by its label, with the widget its type needs: a log slider, a select, the layer table
    for label, kind, key, value, path in [
        ("Learning rate", "select_slider", "ra_v_optim.lr", 0.01, "optim.lr"),
        ("Optimiser", "selectbox", "ra_v_optim.name", "sgd", "optim.name"),
    ]:
        at.query_params["run"] = trained_run[1].run_id  # back to the trained run
        at.run()
        assert "Conv blocks" in at.selectbox(key="ra_field").options
        at.selectbox(key="ra_field").set_value(label).run()
        getattr(at, kind)(key=key).set_value(value).run()
        _ok(at)
        assert any(f"only **{label}** changes" in c.value for c in at.caption)
        at.button(key="ra_go").click().run()
        _ok(at)
        new_id = at.query_params["run"]
        new_id = new_id if isinstance(new_id, str) else new_id[0]
        assert new_id != trained_run[1].run_id
        new = job_manager().store.open(new_id).config()
        job_manager().stop(new_id)
        assert [d["setting"] for d in config_diff([trained_run[1].config(), new])] == [path]
        assert config_fields(new)[path] == value
    at.query_params["run"] = trained_run[1].run_id
    at.run()
    at.selectbox(key="ra_field").set_value("Conv blocks").run()
    assert at.data_editor(key="ra_v_model.params").value["channels"].tolist() == [6, 12]
    at.session_state["ra_v_model.params"] = {"edited_rows": {"1": {"kernel": 5}}, "added_rows": [], "deleted_rows": []}
    at.run()
    _ok(at)
    assert any("only **Conv blocks** changes" in c.value and '"kernel": 5' in c.value for c in at.caption)


def test_inside_page_on_a_small_data_set_hides_autoencoders_and_others_runs(tmp_path, monkeypatch):
    """Fewer than 100 test / 256 training images: the number inputs still fit; autoencoder runs are left
    out of the picker; with PLAYGROUND_SHARE_RUNS=none another session's runs are hidden."""
    store = RunStore(tmp_path / "runs")
    small = {"n_train": 96, "n_test": 40}
    ae = RunConfig(
        data=DataConfig(dataset="shapes", params=small),
        model=ModelConfig(name="autoencoder"),
        train=TrainConfig(task="reconstruct", epochs=0.5, batch_size=32, log_every=2),
    )
    assert list(fit(ae, store=store))[-1]["kind"] == "done"
    cfg = RunConfig(
        data=DataConfig(dataset="shapes", params=small),
        model=ModelConfig(name="cnn", params=CNN),
        train=TrainConfig(epochs=0.5, batch_size=32, log_every=2),
    )
    events = list(fit(cfg, store=store))
    run_id = events[0]["run_id"]
    monkeypatch.setenv("PLAYGROUND_RUNS", str(store.root))
    monkeypatch.setenv("PLAYGROUND_UPLOADS", str(tmp_path / "uploads"))
    from app_pages.common import job_manager

    reset_manager()
    try:
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
        at.query_params["run"] = run_id  # another session's run: listed when its link names it
        at.run()
        at.switch_page("app_pages/inside.py").run()
        _ok(at)
        assert [o.split(" · ")[0] for o in at.selectbox(key="i_run").options] == [run_id]  # no autoencoder run
        _tab(at, "Activations")
        assert at.number_input(key="i_t_limit").min == 40
        _tab(at, "Initialisation lab")
        assert "transfer" not in at.selectbox(key="i_i_model").options
        assert "autoencoder" not in at.selectbox(key="i_i_model").options
        at.multiselect(key="i_i_inits").set_value(["kaiming_normal"]).run()
        _ok(at)
        assert at.number_input(key="i_i_limit").value == 96
        monkeypatch.setenv("PLAYGROUND_SHARE_RUNS", "none")
        _tab(at, "Compare runs")
        assert at.selectbox(key="i_run").options == []
        assert not at.multiselect  # no runs of this session to overlay
    finally:
        job_manager().shutdown()
        reset_manager()


# -- pictures that teach: shared filter scale, one filter's kernels, histograms, layer names -----------


def test_filter_scale_is_shared_across_epochs(trained_run):
    store, run, _ = trained_run
    tr = ins.load_trained(run)
    scales = ins.filters.filter_scales(tr, run)
    for name in ("features.0.0", "features.1.0"):
        assert scales[name] == pytest.approx(
            max(float(load_snapshot(run, e)[name].abs().max()) for e in list_snapshots(run)), rel=1e-6
        )
    change = ins.filters.filters_change(tr, run, 2)  # what training added: snapshot 2 minus snapshot 0
    torch.testing.assert_close(
        change["features.1.0"], load_snapshot(run, 2)["features.1.0"] - load_snapshot(run, 0)["features.1.0"]
    )
    assert all(float(d.abs().max()) == 0 for d in ins.filters.filters_change(tr, run, 0).values())
    moved = ins.filters.filter_scales(tr, run, change=True)
    assert moved["features.0.0"] == pytest.approx(
        max(float(ins.filters.filters_change(tr, run, e)["features.0.0"].abs().max()) for e in (1, 2)), rel=1e-6
    )
    # two snapshots whose weights differ only in size: per-filter scaling draws them alike, the shared scale not
    rgb0 = torch.randn(4, 3, 3, 3) * 0.1
    rgb4 = rgb0 * 3
    assert np.array_equal(ins.filter_grid(rgb0)["rgb"], ins.filter_grid(rgb4)["rgb"])
    s = float(rgb4.abs().max())
    a, b = ins.filter_grid(rgb0, scale=s)["rgb"].astype(int), ins.filter_grid(rgb4, scale=s)["rgb"].astype(int)
    tiles = np.ones(a.shape[:2], dtype=bool)
    tiles[:, 3::4] = False  # the white gaps between tiles
    assert np.abs(b - 127.5)[tiles].mean() > 2.5 * np.abs(a - 127.5)[tiles].mean()  # stronger: further from grey
    np.testing.assert_allclose(
        ins.filter_grid(rgb4, scale=s)["rgb"][:3, :3] / 255,
        (0.5 + 0.5 * rgb4[0] / s).permute(1, 2, 0).numpy(),
        atol=1 / 255,
    )
    grey0 = torch.randn(4, 1, 3, 3) * 0.1  # single-channel kernels: signed, symmetric around 0
    g0, g4 = ins.filter_grid(grey0, in_channel=0, scale=0.3), ins.filter_grid(grey0 * 3, in_channel=0, scale=0.3)
    assert g0["range"] == g4["range"] == 0.3 and g4["peak"] == pytest.approx(3 * g0["peak"])
    fig0, fig4 = pin.filter_figure(g0, "e0"), pin.filter_figure(g4, "e4")
    assert fig0.data[0].zmin == -0.3 and fig0.data[0].zmax == 0.3 and fig4.data[0].zmax == 0.3
    assert not np.allclose(np.nan_to_num(fig0.data[0].z), np.nan_to_num(fig4.data[0].z))


def test_one_deep_filter_shows_its_kernel_for_every_input_channel():
    w = torch.randn(12, 6, 3, 3)
    g = ins.filters.kernels_of(w, 4, scale=5.0)
    assert g["z"].shape == (3, 6 * 4 - 1) and g["grid"] == (1, 6) and g["range"] == 5.0
    for ch in range(6):
        np.testing.assert_allclose(g["z"][:, ch * 4 : ch * 4 + 3], w[4, ch].numpy())
        assert (g["who"][:, ch * 4 : ch * 4 + 3] == ch).all()
    assert np.isnan(g["z"][:, 3]).all() and (g["who"][:, 3] == -1).all()
    big = ins.filters.kernels_of(torch.randn(32, 16, 5, 5), 31)  # 16 inputs: 2 rows of 8 readable tiles
    assert big["z"].shape == (2 * 6 - 1, 8 * 6 - 1) and big["grid"] == (2, 8)
    assert big["range"] == pytest.approx(float(np.nanmax(np.abs(big["z"]))))
    with pytest.raises(ConfigError, match="0..11"):
        ins.filters.kernels_of(w, 12)


def test_histogram_rebinning_conserves_counts_and_leaves_no_empty_rows():
    rng = np.random.default_rng(0)
    for lo, hi, bins in ((-0.3, 0.3, 40), (-0.2, 0.05, 40), (-1.0, 1.0, 7)):
        v = rng.uniform(lo, hi, 4000)
        counts, _ = np.histogram(v, bins=HIST_BINS, range=(lo, hi))
        edges = np.linspace(-1.0, 1.0, bins + 1)
        out = dyn.rebin_histogram(counts, lo, hi, edges)
        assert out.sum() == pytest.approx(4000)
        inside = (edges[:-1] >= lo) & (edges[1:] <= hi)  # target bins wholly inside the data range
        assert (out[inside] > 0).all()
        assert (out[(edges[1:] <= lo) | (edges[:-1] >= hi)] == 0).all()
        # each target bin gets the source density times its width
        np.testing.assert_allclose(out[inside], 4000 / (hi - lo) * (2.0 / bins), rtol=0.35)
    # the old way (each source bin's centre dropped into one target bin) left most fine bins empty
    centres = -0.3 + (np.arange(HIST_BINS) + 0.5) * 0.6 / HIST_BINS
    old, _ = np.histogram(centres, bins=np.linspace(-0.3, 0.3, 41), weights=np.ones(HIST_BINS))
    assert (old == 0).sum() >= 10
    assert dyn.rebin_histogram([5, 0, 0], 0.2, 0.2, np.linspace(-1, 1, 5)).tolist() == [0, 0, 5, 0]  # constant


def test_weight_histogram_heatmap_is_continuous(trained_run):
    store, run, _ = trained_run
    series = layer_stats_series(run.events())["series"]["features.1.0"]
    fig = dyn.weight_histograms(series, "t")
    counts = np.asarray(fig.data[0].customdata, dtype=float)  # (bins, steps): NaN outside each step's range
    assert counts.shape[1] == len(series["step"])
    for j in range(counts.shape[1]):
        col = counts[:, j]
        rows = np.flatnonzero(~np.isnan(col))
        assert (np.diff(rows) == 1).all()  # one band, no gap
        assert col[rows].sum() == pytest.approx(sum(series["hist"][j]), rel=1e-6)
        assert (col[rows[1:-1]] > 0).all()  # no empty (black) row inside the data range


def test_readable_layer_names_for_the_default_cnn_and_a_resnet(data):
    tr = ins.Trained.from_model(build_model("cnn", in_shape=data.shape, num_classes=data.num_classes), data)
    names = ins.forward.layer_names(tr)
    assert list(names.values()) == [
        "conv 1",
        "batch norm 1",
        "relu 1",
        "pool 1",
        "conv 2",
        "batch norm 2",
        "relu 2",
        "pool 2",
        "conv 3",
        "batch norm 3",
        "relu 3",
        "pool 3",
        "flatten",
        "fc 1",
        "relu 4",
        "fc 2",
    ]
    blocks = ins.forward.layer_blocks(tr)
    assert [b["title"] for b in blocks] == ["block 1", "block 2", "block 3", "classifier"]
    assert blocks[0]["nodes"] == ["features.0.0", "features.0.1", "features.0.2", "features.0.3"]
    acts = ins.activations(tr, data.test_x[0])
    pairs = [(a["label"], a["block"]) for a in acts["layers"]]
    assert pairs[:2] == [("conv 1", "block 1"), ("batch norm 1", "block 1")] and pairs[-1] == ("fc 2", "classifier")
    assert sum((b["nodes"] for b in acts["blocks"]), []) == [a["name"] for a in acts["layers"]]
    img, ch = ins.forward.overview_map(acts["layers"][0]["maps"])
    m = acts["layers"][0]["maps"]
    assert ch == int(np.abs(m).mean(axis=(1, 2)).argmax()) and np.array_equal(img, m[ch])

    res = ins.Trained.from_model(build_model("resnet", in_shape=data.shape, num_classes=data.num_classes), data)
    rn = ins.forward.layer_names(res)
    assert rn["features.0.0"] == "conv 1" and rn["fc"] == "fc" and rn["flatten"] == "flatten"
    assert rn["features.3.add"] == "add 1"
    titles = [b["title"] for b in ins.forward.layer_blocks(res)]
    assert titles[0] == "block 1" and titles[-1] == "classifier" and "block 3 (residual)" in titles
    assert len(set(rn.values())) == len(rn)  # every layer has its own name


def test_inside_page_filters_one_scale_deep_filters_and_layer_overview(app, trained_run):
    at = app
    at.run()
    at.switch_page("app_pages/inside.py").run()
    _ok(at)
    assert any("One scale for conv 1 over the whole run" in c.value for c in at.caption)
    at.selectbox(key="i_f_layer").set_value("features.1.0").run()
    _ok(at)
    at.slider(key="i_f_out_features.1.0").set_value(5).run()
    _ok(at)
    spec = str(at.get("plotly_chart")[0].proto.spec)
    assert "conv 2: filter 5 of 12, its 3x3 kernel for each of its 6 input channels" in spec
    at.radio(key="i_f_scale").set_value(at.radio(key="i_f_scale").options[1]).run()  # what training added
    _ok(at)
    assert any("What training changed in conv 2 by epoch 2" in c.value for c in at.caption)
    at.select_slider(key="i_f_epoch").set_value(0).run()
    _ok(at)
    assert any("the largest change is 0.000" in c.value for c in at.caption)
    at.radio(key="i_f_scale").set_value(at.radio(key="i_f_scale").options[-1]).run()
    _ok(at)
    assert any("stretched to its own range" in c.value for c in at.caption)
    _tab(at, "Activations")
    assert any(m.value == "**block 1**" for m in at.markdown) and any(m.value == "**classifier**" for m in at.markdown)
    titles = [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at.get("plotly_chart")]
    assert "conv 1 · 6x32x32" in titles and "fc 2 · 10 values" in titles
    at.selectbox(key="i_a_layer").set_value("classifier.3").run()
    _ok(at)
    assert any(
        json.loads(c.proto.spec)["layout"]["title"]["text"].startswith("fc 2 (classifier.3 · Linear)")
        for c in at.get("plotly_chart")
    )
    _tab(at, "Weights & gradients")
    assert any("conv 1 (features.0.0)" == o for o in at.selectbox(key="i_w_layer").options)


def test_one_click_trains_an_mlp_and_a_cnn_with_the_same_budget(app, monkeypatch):
    from conftest import wait_until

    from app_pages.common import job_manager

    at = app
    at.run()
    at.switch_page("app_pages/inside.py").run()
    _tab(at, "MLP vs CNN")
    monkeypatch.setattr("playground.inside.sharing.PAIR_EPOCHS", 0.2)  # the test's budget: a few steps each
    at.button(key="i_m_both").click().run()
    _ok(at)
    pair = at.session_state["i_m_pair"]
    jobs = [job_manager().get(i) for i in pair]
    assert [j.config.model.name for j in jobs] == ["mlp", "cnn"]
    a, b = (j.config for j in jobs)
    assert (a.data, a.optim, a.train) == (b.data, b.optim, b.train)  # the same budget
    assert at.button(key="i_m_both").disabled  # one pair at a time
    assert wait_until(lambda: all(not j.live for j in jobs), 120)
    at.run()
    _ok(at)
    assert all(j.state == "done" for j in jobs)
    assert len(at.multiselect(key="i_m_runs").options) >= 3  # the page's run and the pair, ready to compare


def test_the_race_is_a_job_its_result_reads_back_and_the_gate_refuses_bad_races(store):
    from conftest import wait_until

    from playground.jobs.manager import JobManager

    m = JobManager(store, max_running=1, workers="process")
    try:
        race = ins.InitRace(
            tiny_config(probes=(), epochs=0.5, log_every=1), {"zeros": ("zeros", {}), "kaiming": ("kaiming_normal", {})}
        )
        job = m.submit(race, "a")
        assert wait_until(lambda: not job.live, 120) and job.state == "done"
        live = job.buffer.snapshot()
        assert set(live["race"]) == {"zeros", "kaiming"} and live["progress"][0] == 1.0
        back = job.kind.buffer_from_run(m.store_for("initrace").open(job.run_id)).snapshot()  # after a reload
        assert back["race"] == live["race"] and back["final"]["kind"] == "done"
        assert live["race"]["zeros"]["loss"][-1] == pytest.approx(2.3026, abs=0.01)  # zeros never learn
        with pytest.raises(ConfigError, match="Unknown initialisation"):
            m.submit(ins.InitRace(race.base, {"x": ("nope", {})}), "a")
        with pytest.raises(ConfigError, match="1 to 8"):
            m.submit(ins.InitRace(race.base, {str(i): ("zeros", {}) for i in range(9)}), "a")
    finally:
        m.shutdown()


def test_the_lab_default_separates_zeros_from_kaiming():
    lab = ins.LAB_DEFAULTS
    base = RunConfig(
        data=DataConfig(dataset="shapes", train_limit=lab["images"]),
        model=ModelConfig(name=lab["model"], params=lab["params"][lab["model"]]),
        optim=OptimConfig(name="adam", lr=lab["lr"], schedule="constant"),
        train=TrainConfig(epochs=lab["epochs"], batch_size=64, log_every=5, device="cpu"),
    )
    race = ins.init_race(base, {"zeros": ("zeros", {}), "kaiming": ("kaiming_normal", {})})
    zeros, kaiming = race["zeros"], race["kaiming"]
    assert zeros["loss"][-1] == pytest.approx(2.3026, abs=0.01) and zeros["test_acc"] == pytest.approx(0.1, abs=0.02)
    assert kaiming["loss"][-1] < zeros["loss"][-1] - 0.3 and kaiming["test_acc"] > 0.18


# -- what a channel looks for -----------------------------------------------------------------


def test_feature_visualisation_raises_each_channel_tenfold_and_runs_as_a_job(trained_run):
    from conftest import wait_until

    from playground.inside.featvis import visualise
    from playground.jobs.manager import JobManager
    from playground.models.saved import load_saved

    store, run, _ = trained_run
    saved = load_saved(run)
    first = next(iter(ins.conv_layers(saved.model)))
    res = visualise(saved, first, [0, 1, 2, 3], size=32, steps=64)
    for before, after in zip(res["before"], res["after"]):
        assert after >= 10 * max(abs(before), 1e-3), (before, after)  # from its starting noise
    assert res["images"].shape[0] == 4 and res["grid"].dtype == np.uint8
    m = JobManager(store, workers="process")
    try:
        job = m.submit(ins.FeatureVis(run.run_id, first, steps=16), "a")
        assert wait_until(lambda: not job.live, 120) and job.state == "done"
        snap = m.snapshot(job.run_id, "featvis")
        assert snap["grid"] is not None and len(snap["final"]["after"]) == saved.model.get_submodule(first).out_channels
        back = job.kind.buffer_from_run(m.store_for("featvis").open(job.run_id)).snapshot()
        assert back["grid"].shape == snap["grid"].shape  # read back after a reload
        with pytest.raises(ConfigError, match="no conv layer"):
            m.submit(ins.FeatureVis(run.run_id, "nope"), "a")
        with pytest.raises(ConfigError, match="Pick up to"):
            m.submit(ins.FeatureVis(run.run_id, first, channels=(999,)), "a")
    finally:
        m.shutdown()


def test_the_filters_tab_visualises_channels(app, trained_run):
    from conftest import wait_until

    from app_pages.common import job_manager

    at = app
    at.run()
    at.switch_page("app_pages/inside.py").run()
    at.select_slider(key="i_v_steps").set_value(32).run()
    at.button(key="i_v_go").click().run()
    _ok(at)
    vis = at.session_state[f"i_v_job_{trained_run[1].run_id}"]
    assert wait_until(lambda: job_manager().status(vis, "featvis") == "done", 120)
    at.run()
    _ok(at)
    assert any("mean activation reached" in str(i.proto) for i in at.get("image"))


def test_a_large_model_gets_a_bounded_pass_over_the_test_images_in_the_server(data, monkeypatch):
    """A transfer run resizes inside its model (resnet18 at 224 px: about 29 MB of activations per image,
    estimated on the meta device from the run's settings): the Inside page's test-set passes (predictions,
    top-activating images, invariance) take batches that fit PLAYGROUND_INSIDE_MB and at most 32 batches'
    worth of images, so students opening such runs do not take the server's memory; a small CNN still gets
    every test image. (The passes run here on a wide CNN, 3.5 MB per image, under a 2 MB budget: quick.)"""
    backbone = {"backbone": "resnet18", "weights": "none", "image_size": 224}
    cfg = RunConfig(data=DataConfig(dataset="shapes"), model=ModelConfig(name="transfer", params=backbone))
    assert ins.Trained.from_model(nn.Linear(1, 1), data, config=cfg).image_bytes() > 20 * 2**20
    # vgg16 at 512 px: about 574 MB of maps for one image, twice that with Grad-CAM's backward pass: refused
    # (with what to do) from its settings alone, before the model sees the image.
    huge = RunConfig(
        data=DataConfig(dataset="shapes"),
        model=ModelConfig(name="transfer", params={**backbone, "backbone": "vgg16", "image_size": 512}),
    )
    stand_in = ins.Trained.from_model(
        nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, data.num_classes)),
        data,
        config=huge,
    )
    for call in (ins.activations, ins.saliency, ins.grad_cam):
        with pytest.raises(ConfigError, match="PLAYGROUND_INSIDE_MB.*smaller image size"):
            call(stand_in, data.test_x[0])
    monkeypatch.setenv("PLAYGROUND_INSIDE_MB", "2")
    wide = {"channels": [256], "fc": [32]}
    cfg = RunConfig(data=DataConfig(dataset="shapes"), model=ModelConfig(name="cnn", params=wide))
    tr = ins.Trained.from_model(_model(data, **wide), data, config=cfg)
    per = tr.image_bytes()
    n, batch = tr.plan(len(data.test_y), 1000)
    assert per > 2 * 2**20 and batch == 1 and n * per <= 32 * 2 * 2**20 and n < len(data.test_y)
    preds = ins.test_predictions(tr)
    assert len(preds["y"]) == n == len(preds["pred"])
    top = ins.top_activating(tr, "features.0.2", 0, limit=len(data.test_y))
    assert top["searched"] == n
    inv = ins.invariance([tr], shifts=[0, 2], angles=[0, 30], n_images=len(data.test_y))
    assert inv["images"] * 7 <= n  # seven passes (no move, 4 shifts, 2 rotations) share the same bound
    small = ins.Trained.from_model(_model(data), data)
    assert small.plan(len(data.test_y), 1000)[0] == len(data.test_y)
