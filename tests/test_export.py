"""Exports that leave the app: ONNX parity with onnxruntime, generated model source, and the
standalone training script (run for one short epoch)."""

import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from playground import export
from playground.config import RunConfig
from playground.data import DATASETS
from playground.data.augment import AUGMENTATIONS
from playground.errors import CheckpointError
from playground.export import emitters
from playground.models import MODELS, build_model
from playground.train import fit
from playground.train.init import INITS
from playground.train.optim import OPTIMIZERS, SCHEDULES, build_optimizer

SHAPES = (3, 32, 32)
TINY = RunConfig().replace(
    data={"params": {"n_train": 400, "n_test": 100}},
    model={"params": {"channels": [8, 16], "fc": [32]}},
    train={"epochs": 1, "batch_size": 50, "device": "cpu"},
)


def _exec_source(src: str) -> nn.Module:
    ns: dict = {}
    exec(
        "import math\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
        "from collections import OrderedDict\n" + src,
        ns,
    )
    return ns["build_model"]()


def _exportable_models():
    # Models that rebuild themselves through torchvision (pretrained backbones) are covered
    # by their own tests; every playground-defined model must round-trip here.
    return [n for n in MODELS.names() if n != "transfer"]


@pytest.mark.parametrize("name", _exportable_models())
def test_model_source_rebuilds_every_model(name):
    torch.manual_seed(0)
    model = build_model(name, in_shape=SHAPES, num_classes=10).eval()
    rebuilt = _exec_source(export.model_source(model)).eval()
    rebuilt.load_state_dict(model.state_dict(), strict=True)  # same names and shapes
    x = torch.randn(3, *SHAPES)
    with torch.no_grad():
        assert torch.equal(model(x), rebuilt(x))


def test_every_registry_entry_has_a_script_emitter():
    assert set(DATASETS.names()) <= set(emitters.DATA_EMITTERS)
    assert set(AUGMENTATIONS.names()) <= set(emitters.AUGMENT_EMITTERS)
    assert set(INITS.names()) <= set(emitters.INIT_EMITTERS)
    assert set(SCHEDULES.names()) <= set(emitters.SCHEDULE_EMITTERS)


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_optimizer_expression_matches_the_registry(name):
    cfg = RunConfig().replace(optim={"name": name, "lr": 0.03, "weight_decay": 1e-4})
    model = nn.Linear(3, 2)
    opt = eval(emitters.optimizer_expr(cfg), {"torch": torch, "params": model.parameters()})
    ref = build_optimizer(name, model.parameters(), lr=0.03, weight_decay=1e-4)
    assert type(opt) is type(ref)
    assert {**opt.defaults, "fused": None} == {**ref.defaults, "fused": None}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from playground.runs import RunStore

    store = RunStore(tmp_path_factory.mktemp("runs"))
    events = list(fit(TINY, store=store))
    assert events[-1]["kind"] == "done", events[-1]
    return store.open(events[-1]["run_id"])


def test_onnx_export_matches_pytorch(finished_run):
    report = export.export_run_onnx(finished_run)
    assert report["max_abs_diff"] < 1e-4
    # The file takes [0, 1] images with normalisation inside: same predictions as the engine.
    import onnxruntime as ort

    model, meta, _ = export.run_model(finished_run)
    x = torch.rand(7, *meta["shape"])  # a batch size the export never saw
    (out,) = ort.InferenceSession(report["path"], providers=["CPUExecutionProvider"]).run(None, {"images": x.numpy()})
    mean = torch.tensor(meta["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(meta["std"]).view(1, -1, 1, 1)
    with torch.no_grad():
        ref = model((x - mean) / std)
    assert out.shape == (7, 10)
    assert torch.allclose(torch.from_numpy(out), ref, atol=1e-4)


def test_script_trains_one_epoch_and_its_weights_load_into_the_playground_model(finished_run, tmp_path):
    src = export.run_training_script(finished_run)
    assert "import playground" not in src and "from playground" not in src
    path = tmp_path / "train.py"
    path.write_text(src)
    out = tmp_path / "weights.pt"
    r = subprocess.run(
        [sys.executable, str(path), "--out", str(out), "--device", "cpu"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "epoch 1:" in r.stdout and "test accuracy" in r.stdout
    acc = float(r.stdout.split("test accuracy ")[1].split()[0])
    assert 0.0 <= acc <= 1.0
    state = torch.load(out, weights_only=True)
    m = TINY.model
    build_model(m.name, in_shape=SHAPES, num_classes=10, **dict(m.params)).load_state_dict(state, strict=True)


def test_script_draws_the_same_shapes_data(tmp_path):
    from playground.data import load_dataset

    src = export.training_script(TINY, in_shape=SHAPES, num_classes=10)
    ns: dict = {"__name__": "generated"}
    exec(compile(src, "generated.py", "exec"), ns)
    tx, ty, vx, vy, classes = ns["load_data"](str(tmp_path))
    ds = load_dataset("shapes", n_train=400, n_test=100)
    assert torch.equal(tx, ds.train_x) and torch.equal(vy, ds.test_y) and classes == ds.classes


def test_script_draws_shapes_with_no_cache_code():
    """The drawing is copied with what make_shapes reaches, constants included (a missing CHUNK once broke every
    shapes script), and none of the playground's cache or factory code, which needs the playground's files."""
    from playground.export.emitters import shapes_drawing_source

    src = shapes_drawing_source()
    assert "CHUNK = 512" in src and "def make_shapes(" in src
    for absent in ("def _kept(", "def _whole(", "def _draw(", "settings", "atomic_write_bytes", "register_dataset"):
        assert absent not in src, absent


def test_script_loads_real_mnist(mnist_root, tmp_path):
    cfg = RunConfig().replace(
        data={"dataset": "mnist", "data_root": str(mnist_root), "train_limit": 256},
        model={"name": "mlp"},
        train={"epochs": 1, "batch_size": 64},
    )
    path = tmp_path / "mnist.py"
    path.write_text(export.training_script(cfg, in_shape=(1, 28, 28), num_classes=10))
    r = subprocess.run(
        [sys.executable, str(path), "--out", str(tmp_path / "w.pt"), "--device", "cpu"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "256 training images" in r.stdout and "test accuracy" in r.stdout


def test_exports_need_a_final_model(store):
    run = store.create(TINY)
    with pytest.raises(export.ExportError, match="stop the run"):
        export.run_training_script(run)
    with pytest.raises(CheckpointError):
        export.export_run_onnx(run)


def test_unknown_tasks_are_not_scripted():
    cfg = RunConfig().replace(train={"task": "not-classify"})
    with pytest.raises(export.ExportError, match="covers the tasks classify, reconstruct"):
        export.training_script(cfg, in_shape=SHAPES, num_classes=10)


def test_transfer_runs_script_with_torchvision_backbones(tmp_path):
    """A transfer model's script builds the torchvision backbone with the same head, freezing and
    state-dict names, so the playground's weights load into it strictly."""
    cfg = RunConfig().replace(
        model={
            "name": "transfer",
            "params": {
                "backbone": "mobilenet_v3_small",
                "weights": "none",
                "image_size": 32,
                "freeze": "last_k",
                "k": 2,
            },
        },
        data={"params": {"n_train": 100, "n_test": 20}, "train_limit": 64},
        train={"epochs": 1, "batch_size": 32},
    )
    src = export.training_script(cfg, in_shape=SHAPES, num_classes=10)
    ns: dict = {"__name__": "generated"}
    exec(compile(src, "generated.py", "exec"), ns)
    rebuilt = ns["build_model"]()
    m = cfg.model
    original = build_model(m.name, in_shape=SHAPES, num_classes=10, **dict(m.params))
    rebuilt.load_state_dict(original.state_dict(), strict=True)
    assert [n for n, q in rebuilt.named_parameters() if q.requires_grad] == [
        n for n, q in original.named_parameters() if q.requires_grad
    ]
    path = tmp_path / "t.py"
    path.write_text(src)
    r = subprocess.run(
        [sys.executable, str(path), "--out", str(tmp_path / "w.pt"), "--device", "cpu"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "test accuracy" in r.stdout


def test_the_script_changes_the_learning_rate_where_the_run_did(tmp_path):
    from playground.runs import RunStore
    from playground.train import Controls

    store, controls, run_id = RunStore(tmp_path / "runs"), Controls(), None
    cfg = TINY.replace(optim={"schedule": "constant"}, train={"epochs": 2, "log_every": 2, "log_seconds": 0})
    for e in fit(cfg, store=store, controls=controls):
        run_id = e.get("run_id") or run_id
        if e["kind"] == "step" and e["step"] == 2:
            controls.change(lr=0.0005)
    at = next(e["step"] for e in store.open(run_id).events() if e["kind"] == "set")
    src = export.run_training_script(store.open(run_id))
    assert f"lr_changes = {{{at}: 0.0005}}" in src  # the step the engine applied it at
    compile(src, "train.py", "exec")
