"""Transfer learning: backbones, the real weights-loading path, freezing, the optimiser, the feature cache.

No weights can be downloaded here, so the loading tests save a state dict (random init of the
torchvision architecture) where torch hub looks for the file, with TORCH_HOME in tmp_path.
"""

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image
from torchvision.models import get_model

from playground.config import RunConfig
from playground.errors import CheckpointError, ConfigError, WeightsUnavailable
from playground.models import build_model
from playground.models.transfer import BACKBONES, build_transfer
from playground.train import fit, prepare, run_setup
from playground.transfer import (
    estimate_epoch,
    freeze_options,
    imagenet_top5,
    input_notes,
    keep_freeze,
    load_photo,
    source_params,
    source_runs,
    surgery_table,
)
from playground.weights import resolve_weights, weights_file

ROOT = Path(__file__).resolve().parents[1]
SMALL = "mobilenet_v3_small"
TINY = {"n_train": 128, "n_test": 64}  # a small shapes set: evaluation passes stay cheap
# The classic recipe's numbers (torchvision's models): the final layer each backbone replaces, and what it saw.
HEADS = {
    "vgg16": ("classifier.6", 4096),
    "resnet18": ("fc", 512),
    "mobilenet_v3_small": ("classifier.3", 1024),
    "efficientnet_b0": ("classifier.1", 1280),
}


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache in tmp_path."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def cache_weights(arch: str, seed: int = 0) -> dict:
    """A random-init torchvision state dict saved where torch hub expects the pretrained file."""
    torch.manual_seed(seed)
    state = get_model(arch, weights=None).state_dict()
    path = weights_file(resolve_weights(arch))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state


def small_cfg(**params) -> RunConfig:
    mp = {"backbone": SMALL, "weights": "none", "image_size": 32, "freeze": "head_only", **params}
    return RunConfig.from_dict(
        {
            "data": {"dataset": "shapes", "train_limit": 96, "params": TINY},
            "model": {"name": "transfer", "params": mp},
            "optim": {"schedule": "constant"},  # rates as set (the default is one-cycle)
            "train": {
                "epochs": 1,
                "batch_size": 32,
                "device": "cpu",
                "checkpoint": False,
                "eval_batch_size": 500,
                "log_every": 1,
            },
        }
    )


# -- the new head, for every backbone -------------------------------------------------


@pytest.mark.parametrize("arch", list(BACKBONES))
def test_new_head_has_the_right_features_for_every_backbone(arch):
    name, in_features = HEADS[arch]
    m = build_model("transfer", in_shape=(1, 28, 28), num_classes=7, backbone=arch, weights="none", image_size=32)
    head = m.backbone.get_submodule(name)
    assert isinstance(head, nn.Linear) and (head.in_features, head.out_features) == (in_features, 7)
    # the layer the classic recipe replaces: vgg16 classifier[6], resnet fc, the others classifier[-1]
    expected = {"vgg16": lambda b: b.classifier[6], "resnet18": lambda b: b.fc}.get(arch, lambda b: b.classifier[-1])
    assert expected(m.backbone) is head is m.head
    assert m.replaced["in_features"] == in_features and m.replaced["old_out_features"] == 1000
    out = m(torch.rand(2, 1, 28, 28))  # grey, odd size: resized and repeated to RGB inside
    assert out.shape == (2, 7)
    assert m(torch.randn(2, in_features)).shape == (2, 7)  # cached features go to the head alone
    # every parameter belongs to a freezing block or the head
    covered = {id(q) for _, names in m.spec.blocks for n in names for q in m.backbone.get_submodule(n).parameters()}
    covered |= {id(q) for q in head.parameters()}
    assert covered == {id(q) for q in m.backbone.parameters()}


# -- freezing: requires_grad exactly as the table shows -----------------------------------


@pytest.mark.parametrize("opt", freeze_options(SMALL), ids=lambda o: f"{o['freeze']}-{o['k']}")
def test_freezing_sets_requires_grad_as_the_table_shows(opt):
    m = build_transfer(
        in_shape=(3, 32, 32),
        num_classes=5,
        backbone=SMALL,
        weights="none",
        image_size=32,
        freeze=opt["freeze"],
        k=opt["k"],
    )
    rows = surgery_table(m, (3, 32, 32))
    assert rows[0]["name"] == "(preprocess)"
    by_name = {r["name"]: r for r in rows[1:]}
    assert set(by_name) == {n for n, _ in m.backbone.named_modules() if n}
    for name, mod in m.backbone.named_modules():
        if not name:
            continue
        flags = [q.requires_grad for q in mod.parameters()]
        want = "—" if not flags else "yes" if all(flags) else "no" if not any(flags) else "partly"
        assert by_name[name]["trainable"] == want, name
        assert by_name[name]["parameters"] == sum(q.numel() for q in mod.parameters())
    labels = [label for label, _ in m.spec.blocks]
    n_live = {"head_only": 0, "last_k": opt["k"], "finetune_all": len(labels)}[opt["freeze"]]
    for i, (_label, names) in enumerate(m.spec.blocks):
        for n in names:
            if any(True for _ in m.backbone.get_submodule(n).parameters()):
                assert by_name[n]["trainable"] == ("yes" if i >= len(labels) - n_live else "no"), n
    assert by_name["classifier.3"]["trainable"] == "yes" and "new head" in by_name["classifier.3"]["note"]
    assert by_name["classifier.3"]["output shape"] == "[1, 5]"
    assert by_name["features.0"]["output shape"] == "[1, 16, 16, 16]"  # stride-2 stem on 32 px


def test_frozen_blocks_stay_in_eval_mode():
    m = build_transfer(
        in_shape=(3, 32, 32), num_classes=5, backbone=SMALL, weights="none", image_size=32, freeze="last_k", k=1
    )
    m.train()
    assert not m.backbone.features[3].training and not m.backbone.features[12].training
    assert m.backbone.classifier[2].training  # the last block's dropout trains with it
    m.set_freeze("finetune_all")
    assert m.backbone.features[0].training


# -- the optimiser gets the trainable parameters only, at two learning rates ------------------


def test_only_trainable_parameters_reach_the_optimiser(monkeypatch):
    seen = {}
    real_opt, real_prepare = run_setup.build_optimizer, run_setup.prepare

    def spy_opt(name, params, **kw):
        seen["opt"] = real_opt(name, params, **kw)
        return seen["opt"]

    def spy_prepare(cfg, *args):
        seen["p"] = real_prepare(cfg, *args)
        return seen["p"]

    monkeypatch.setattr(run_setup, "build_optimizer", spy_opt)
    monkeypatch.setattr(run_setup, "prepare", spy_prepare)
    cfg = small_cfg(freeze="last_k", k=2, backbone_lr_scale=0.1).replace(optim={"lr": 0.01, "name": "sgd"})
    events = list(fit(cfg))
    assert events[-1]["kind"] == "done", events[-1]
    model, opt = seen["p"].model, seen["opt"]
    in_opt = [id(q) for g in opt.param_groups for q in g["params"]]
    assert len(in_opt) == len(set(in_opt))
    assert set(in_opt) == {id(q) for q in model.parameters() if q.requires_grad}
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs == pytest.approx({"head": 0.01, "backbone": 0.001})
    backbone = {id(q) for g in opt.param_groups if g["name"] == "backbone" for q in g["params"]}
    live = [*model.backbone.features[12].parameters(), *model.backbone.classifier[0].parameters()]
    assert backbone == {id(q) for q in live}  # the last two blocks
    start = events[0]
    assert start["trainable_parameters"] == sum(q.numel() for q in model.parameters() if q.requires_grad)
    assert start["trainable_parameters"] < start["parameters"]


def test_training_changes_only_the_trainable_blocks():
    cfg = small_cfg(freeze="last_k", k=1).replace(optim={"lr": 0.05, "name": "sgd"})
    p = prepare(cfg)
    before = {n: q.detach().clone() for n, q in p.model.state_dict().items()}
    from playground.train.tasks import build_task

    task = build_task(cfg)
    groups = p.model.param_groups(cfg.optim.lr)
    opt = torch.optim.SGD(groups, lr=cfg.optim.lr)
    p.model.train()
    x, y = task.batch(p, torch.arange(32), torch.Generator().manual_seed(0))
    task.loss(p.model(x), y).backward()
    opt.step()
    after = p.model.state_dict()
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed and all(n.startswith(("backbone.classifier.0.", "backbone.classifier.3.")) for n in changed), changed
    assert "backbone.features.12.0.1.running_mean" not in changed  # frozen BatchNorm: statistics kept too


# -- weights: the hub cache, offline, weights_only, mismatches -------------------------------


def test_imagenet_weights_load_from_the_hub_cache(hub):
    state = cache_weights(SMALL, seed=3)
    m = build_transfer(in_shape=(3, 32, 32), num_classes=4, backbone=SMALL, weights="imagenet", download=False)
    got = m.backbone.state_dict()
    for k, v in state.items():
        if k.startswith("classifier.3."):
            continue
        assert torch.equal(got[k], v), k
    assert m.head.out_features == 4
    assert m.preprocess.size == 224  # the weights' own crop size when image_size is 0
    t = resolve_weights(SMALL).transforms()
    assert m.preprocess.mean.flatten().tolist() == pytest.approx(t.mean)
    assert m.preprocess.std.flatten().tolist() == pytest.approx(t.std)


def test_offline_and_uncached_names_the_file_and_folder(hub):
    with pytest.raises(WeightsUnavailable) as e:
        build_transfer(in_shape=(3, 32, 32), num_classes=4, backbone="resnet18", weights="imagenet", download=False)
    path = weights_file(resolve_weights("resnet18"))
    assert path.name in str(e.value) and str(path.parent) in str(e.value)


class _Evil:
    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_weights_with_pickled_code_are_refused_not_run(hub, tmp_path):
    path = weights_file(resolve_weights(SMALL))
    path.parent.mkdir(parents=True)
    evil = _Evil()
    evil.marker = str(tmp_path / "ran")
    with open(path, "wb") as f:
        pickle.dump({"features.0.0.weight": evil}, f, protocol=2)  # a plain pickle: code on load without weights_only
    with pytest.raises(CheckpointError, match="not a usable weights file"):
        build_transfer(in_shape=(3, 32, 32), num_classes=4, backbone=SMALL, weights="imagenet", download=False)
    assert not (tmp_path / "ran").exists()


def test_weights_of_another_architecture_are_refused_with_the_reason(hub):
    torch.manual_seed(0)
    other = get_model("resnet18", weights=None).state_dict()
    path = weights_file(resolve_weights(SMALL))
    path.parent.mkdir(parents=True)
    torch.save(other, path)
    with pytest.raises(CheckpointError, match="do not match mobilenet_v3_small"):
        build_transfer(in_shape=(3, 32, 32), num_classes=4, backbone=SMALL, weights="imagenet", download=False)


def test_source_run_transfer_and_mismatch(store):
    cfg = small_cfg().replace(train={"checkpoint": True})
    events = list(fit(cfg, store=store))
    assert events[-1]["kind"] == "done", events[-1]
    run_id = events[-1]["run_id"]
    src = store.open(run_id).load_checkpoint(final=True)["model"]
    m = build_transfer(
        in_shape=(1, 28, 28),
        num_classes=3,
        backbone=SMALL,
        weights="run",
        source_run=run_id,
        runs_root=str(store.root),
        image_size=32,
    )
    got = m.state_dict()
    for k, v in src.items():
        if k.startswith("backbone.classifier.3."):
            assert got[k].shape[0] == 3  # the new head, not the source's 10 classes
        else:
            assert torch.equal(got[k], v), k  # backbone and its preprocessing (the source data's statistics)
    with pytest.raises(CheckpointError, match="trained backbone mobilenet_v3_small, not resnet18"):
        build_transfer(
            in_shape=(3, 32, 32),
            num_classes=3,
            backbone="resnet18",
            weights="run",
            source_run=run_id,
            runs_root=str(store.root),
        )
    cnn = RunConfig.from_dict(
        {
            "data": {"dataset": "shapes", "train_limit": 64, "params": TINY},
            "model": {"name": "cnn", "params": {"channels": [4]}},
            "train": {"epochs": 1, "batch_size": 32, "device": "cpu"},
        }
    )
    cnn_id = list(fit(cnn, store=store))[-1]["run_id"]
    with pytest.raises(CheckpointError, match="'cnn' model, not a transfer backbone.*backbone 'run'"):
        build_transfer(
            in_shape=(3, 32, 32),
            num_classes=3,
            backbone=SMALL,
            weights="run",
            source_run=cnn_id,
            runs_root=str(store.root),
        )
    with pytest.raises(ConfigError, match="needs source_run"):
        build_transfer(in_shape=(3, 32, 32), num_classes=3, backbone=SMALL, weights="run")


# -- the feature cache -----------------------------------------------------------------------


def test_feature_cache_trains_the_same_head_as_full_forward_passes():
    runs = {}
    for cache in (True, False):
        cfg = small_cfg(feature_cache=cache).replace(optim={"lr": 0.01})
        runs[cache] = [e for e in fit(cfg) if e["kind"] in ("step", "epoch")]
    steps = {c: [e["loss"] for e in ev if e["kind"] == "step"] for c, ev in runs.items()}
    assert len(steps[True]) == 3 and steps[True] == pytest.approx(steps[False], rel=1e-4)
    ep = {c: [e for e in ev if e["kind"] == "epoch"][0] for c, ev in runs.items()}
    assert ep[True]["test_loss"] == pytest.approx(ep[False]["test_loss"], rel=1e-4)


def test_feature_cache_is_used_only_where_it_is_valid():
    p = prepare(small_cfg())
    assert p.precomputed and p.train_x.shape == (96, 1024) and p.train_x.dtype == torch.float32
    assert p.to_input(p.test_x[:4]) is not None and torch.equal(p.to_input(p.test_x[:4]), p.test_x[:4])
    assert not prepare(small_cfg(freeze="last_k", k=1)).precomputed
    aug = small_cfg().replace(data={"augment": ("hflip",)})
    assert not prepare(aug).precomputed  # a cache cannot hold new augmentation draws
    full = prepare(small_cfg(feature_cache=False))
    assert full.mean.abs().sum() == 0 and (full.std == 1).all()  # the model normalises its own input
    data_mean = torch.tensor(full.data.mean)
    assert full.model.preprocess.mean.flatten() == pytest.approx(data_mean)  # from scratch: the data's stats


def test_pretrained_backbone_refuses_an_initialisation_that_would_overwrite_it(hub):
    cache_weights(SMALL)
    cfg = small_cfg(weights="imagenet").replace(model={"init": "kaiming_normal"})
    final = list(fit(cfg))[-1]
    assert final["kind"] == "error" and "would overwrite the pretrained backbone" in final["message"]


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"backbone": "vgg19"}, "Choose one of: mobilenet_v3_small, resnet18, efficientnet_b0, vgg16"),
        ({"freeze": "some"}, "freeze must be one of head_only, last_k, finetune_all"),
        ({"freeze": "last_k", "k": 15}, "k must be a whole number from 1 to 14"),
        ({"weights": "coco"}, "weights must be one of imagenet, run, none"),
        ({"image_size": 16}, "image_size must be 0"),
        ({"backbone_lr_scale": -1}, "backbone_lr_scale"),
    ],
)
def test_bad_transfer_settings(kw, words):
    with pytest.raises(ConfigError, match=words):
        build_model("transfer", in_shape=(3, 32, 32), num_classes=3, **{"weights": "none", **kw})


def test_four_channel_data_is_refused():
    with pytest.raises(ConfigError, match="4 channels"):
        build_model("transfer", in_shape=(4, 32, 32), num_classes=3, weights="none")


# -- the source task: ImageNet top-5 of a photo ------------------------------------------------


def test_imagenet_top5_of_a_photo_in_any_mode(hub):
    state = cache_weights(SMALL, seed=1)
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 256, (53, 71, 4), dtype=np.uint8), "RGBA")  # odd size, alpha
    buf = io.BytesIO()
    im.save(buf, "PNG")
    rows = imagenet_top5(SMALL, buf.getvalue())
    w = resolve_weights(SMALL)
    assert len(rows) == 5 and all(r["class"] == w.meta["categories"][r["index"]] for r in rows)
    probs = [r["probability"] for r in rows]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    # oracle: torchvision's model with the same state dict and the weights' own transforms
    ref = get_model(SMALL, weights=None)
    ref.load_state_dict(state)
    ref.eval()
    bg = Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255, 255)), im).convert("RGB")
    with torch.no_grad():
        p = ref(w.transforms()(bg).unsqueeze(0)).softmax(1)[0]
    top = p.topk(5)
    assert [r["index"] for r in rows] == top.indices.tolist()
    assert probs == pytest.approx(top.values.tolist(), rel=1e-5)


def test_top5_without_weights_and_with_a_bad_file(hub):
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    with pytest.raises(WeightsUnavailable, match="not in the torch hub cache"):
        imagenet_top5("resnet18", buf.getvalue())
    cache_weights(SMALL)
    with pytest.raises(ConfigError, match="not an image"):
        imagenet_top5(SMALL, b"not an image at all")


def test_a_decompression_bomb_photo_is_refused_with_a_message(monkeypatch):
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (9, 9, 9)).save(buf, "PNG")  # 1,600 px > 2 x 500: Pillow's bomb error
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    with pytest.raises(ConfigError, match="too large to open safely"):
        load_photo(buf.getvalue())
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)
    assert load_photo(buf.getvalue()).size == (40, 40)


# -- cost estimate -------------------------------------------------------------------------------


def test_epoch_estimate_times_the_run_as_it_will_train():
    """The estimate's figures come from the run's own batch, step count, freezing and cache (no timing
    target here: benchmarks/transfer_bench.py --estimate compares it with real epochs)."""
    cfg = small_cfg(feature_cache=False).replace(train={"batch_size": 16})
    est = estimate_epoch(cfg, in_shape=(3, 32, 32), num_classes=10, n_train=96, n_test=64, budget_s=0.05)
    assert (est["batch_size"], est["steps_per_epoch"], est["uses_cache"]) == (16, 6, False)
    assert est["epoch_s"] == pytest.approx(6 * est["step_s"] + est["eval_s"]) and est["step_s"] > 0
    auto = small_cfg().replace(train={"batch_size": None})
    cached = estimate_epoch(auto, in_shape=(3, 32, 32), num_classes=10, n_train=96, n_test=64, budget_s=0.05)
    assert cached["uses_cache"] and cached["cache_once_s"] > 0 and cached["batch_size"] == 4  # the auto rule's


def test_cosine_schedule_keeps_each_groups_own_floor():
    from playground.train.optim import build_schedule

    a, b = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 0.1}], lr=1.0)
    sched = build_schedule("cosine", opt, total_steps=10, steps_per_epoch=5, min_lr_ratio=0.2)
    lrs = []
    for _ in range(10):
        opt.step()
        sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
    assert lrs[-1] == pytest.approx([0.2, 0.02])
    assert all(x[1] == pytest.approx(x[0] / 10) for x in lrs)  # the ratio between the groups stays


def test_cli_trains_a_transfer_model_and_transfers_it_within_its_run_store(tmp_path, capsys, monkeypatch):
    import json

    from playground.cli import main

    monkeypatch.setenv("PLAYGROUND_RUNS", str(tmp_path / "another-store"))  # restored after the test

    def train(*params: str) -> dict:
        rc = main(
            [
                "train",
                "--dataset",
                "shapes",
                "--train-limit",
                "64",
                "--data-param",
                "n_train=128",
                "--data-param",
                "n_test=64",
                "--model",
                "transfer",
                "--model-param",
                f"backbone={SMALL}",
                "--model-param",
                "image_size=32",
                *params,
                "--epochs",
                "1",
                "--batch-size",
                "32",
                "--device",
                "cpu",
                "--runs",
                str(tmp_path / "runs"),
                "--json",
                "--quiet",
            ]
        )
        last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert rc == 0 and last["status"] == "done" and 0 <= last["test_acc"] <= 1, last
        return last

    first = train("--model-param", "weights=none", "--model-param", "freeze=finetune_all")
    # the source run is found in --runs, not in $PLAYGROUND_RUNS as it was before the command
    second = train("--model-param", "weights=run", "--model-param", f"source_run={first['run_id']}")
    assert {first["run_id"], second["run_id"]} <= {p.name for p in (tmp_path / "runs").iterdir()}


# -- a classifier from the Train page as the source model ------------------------------------------

SOURCES = {"cnn": {"channels": [8, 16], "fc": [32]}, "lenet5": {}, "resnet": {"width": 8, "stages": 2}}
MIN_ACC = {"cnn": 0.7, "resnet": 0.7, "lenet5": 0.45}  # 3 classes, 36 test images: chance is 33% (seeded: 92, 97, 56)


def train_source(store, name: str = "cnn") -> str:
    """A classifier trained as the Train page does (its model, shapes, 1 epoch, a small n): the run id."""
    cfg = RunConfig.from_dict(
        {
            "data": {"dataset": "shapes", "params": {"n_train": 320, "n_test": 50}},
            "model": {"name": name, "params": SOURCES[name]},
            "optim": {"name": "adam", "lr": 3e-3},
            "train": {"epochs": 1, "batch_size": 32, "device": "cpu", "eval_batch_size": 500},
        }
    )
    final = list(fit(cfg, store=store))[-1]
    assert final["kind"] == "done", final
    return final["run_id"]


def photo_folder(root: Path, per_class: int = 24, size: int = 40) -> Path:
    """Three classes of grey crops of skimage's photos (astronaut, coffee, cat), under train/ and test/."""
    from skimage import data as photos

    rng = np.random.default_rng(0)
    for name in ("astronaut", "coffee", "chelsea"):
        img = Image.fromarray(getattr(photos, name)()).convert("L").resize((128, 128))
        for part, n in (("train", per_class), ("test", per_class // 2)):
            (root / part / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                x, y = rng.integers(0, 128 - 64, 2)
                img.crop((x, y, x + 64, y + 64)).resize((size, size)).save(root / part / name / f"{i}.png")
    return root


def target_cfg(root: Path, params: dict, epochs: float = 3) -> RunConfig:
    return RunConfig.from_dict(
        {
            "data": {"dataset": "image_folder", "data_root": str(root), "params": {"image_size": 40, "mode": "L"}},
            "model": {"name": "transfer", "params": params},
            "optim": {"name": "adam", "lr": 1e-2, "schedule": "constant"},
            "train": {"epochs": epochs, "batch_size": 8, "device": "cpu", "eval_batch_size": 500},
        }
    )


@pytest.mark.parametrize("name", list(SOURCES))
def test_a_train_page_classifier_is_a_source_that_trains_on_another_data_set(store, tmp_path, name):
    from playground.models.saved import load_saved

    src = train_source(store, name)
    rows = source_runs(store.list())
    assert [(r["run_id"], r["backbone"], r["model"]) for r in rows] == [(src, "run", name)]
    params = source_params(store.open(src))
    arch = params["source_arch"]
    assert params["backbone"] == "run" and arch["model"] == name and arch["shape"] == [3, 32, 32]
    # grey 40 x 40 photos (3 classes) into a network that saw 32 x 32 RGB shapes: repeated to RGB, resized
    assert input_notes(arch["shape"], (1, 40, 40)) == [
        "grey images are repeated to three channels (the source saw RGB)",
        "images are resized from 40 x 40 to 32 x 32 px (the source's input size)",
    ]
    root = photo_folder(tmp_path / "photos")
    events = list(fit(target_cfg(root, {**params, "freeze": "finetune_all"}), store=store))
    final = events[-1]
    assert final["kind"] == "done", final
    assert final["test_acc"] >= MIN_ACC[name], final
    model = load_saved(store.open(src)).model
    start = next(e for e in events if e["kind"] == "start")
    assert start["trainable_parameters"] == start["parameters"] < sum(q.numel() for q in model.parameters()) + 1000
    # The transferred run rebuilds from its own settings (source_arch): the source run may be gone.
    import shutil

    shutil.rmtree(store.open(src).dir)
    saved = load_saved(store.open(final["run_id"]))
    x = torch.rand(2, 1, 40, 40)
    assert saved.model(x).shape == (2, 3)


def test_the_source_networks_layers_become_the_feature_extractor(store):
    src = train_source(store)
    from playground.models.saved import load_saved

    source = load_saved(store.open(src)).model
    params = source_params(store.open(src))
    m = build_transfer(in_shape=(3, 32, 32), num_classes=4, runs_root=str(store.root), **params)
    assert m.freeze_mode == "head_only" and m.spec.head == "classifier.3"  # the last Linear(32 -> 10)
    assert [label for label, _ in m.spec.blocks] == ["features.0 (conv)", "features.1 (conv)", "classifier.1 (fc)"]
    assert m.head.out_features == 4 and m.replaced["old_out_features"] == 10
    for k, v in source.state_dict().items():  # the source's weights, all but its old head
        if not k.startswith("classifier.3."):
            assert torch.equal(m.backbone.state_dict()[k], v), k
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():  # its features are what the source's last layer read, normalised as the source was
        mean, std = m.preprocess.mean.clone(), m.preprocess.std.clone()
        ref = source.classifier[:3](source.features((x - mean) / std))
        assert torch.allclose(m.eval().features(x), ref, atol=1e-5)
    stops = freeze_options(m.spec)
    assert [o["label"] for o in stops][1:3] == [
        "unfreeze the last 1 block (from classifier.1 (fc))",
        "unfreeze the last 2 blocks (from features.1 (conv))",
    ]
    rows = surgery_table(m, (1, 28, 28))  # grey, another size: converted inside
    assert rows[0]["output shape"] == "[1, 3, 32, 32]"
    p = prepare(target_like(store, params), store.root)  # the run store the engine passes
    assert p.precomputed and p.train_x.shape[1] == 32  # head only: the feature cache holds its 32 features


def target_like(store, params: dict) -> RunConfig:
    return RunConfig.from_dict(
        {
            "data": {"dataset": "shapes", "params": {"n_train": 64, "n_test": 20, "size": 24}},
            "model": {"name": "transfer", "params": params},
            "train": {"epochs": 1, "batch_size": 16, "device": "cpu"},
        }
    )


def test_weights_none_fine_tunes_everything_by_default_and_bad_sources_say_what_to_do(store):
    m = build_transfer(in_shape=(3, 32, 32), num_classes=3, backbone=SMALL, weights="none", image_size=32)
    assert m.freeze_mode == "finetune_all" and all(q.requires_grad for q in m.parameters())
    cache_free = build_transfer(
        in_shape=(3, 32, 32), num_classes=3, backbone=SMALL, weights="none", image_size=32, freeze="head_only"
    )
    assert cache_free.freeze_mode == "head_only"  # set explicitly, kept
    src = train_source(store)
    params = source_params(store.open(src))
    scratch = build_transfer(in_shape=(1, 28, 28), num_classes=3, **{**params, "weights": "none", "source_run": ""})
    assert scratch.freeze_mode == "finetune_all" and scratch.spec.head == "classifier.3"  # from source_arch alone
    with pytest.raises(ConfigError, match="use weights run"):
        build_transfer(in_shape=(3, 32, 32), num_classes=3, **{**params, "weights": "imagenet"})
    with pytest.raises(CheckpointError, match="does not describe run"):
        other = {**params["source_arch"], "params": {"channels": [4]}}
        build_transfer(
            in_shape=(3, 32, 32), num_classes=3, runs_root=str(store.root), **{**params, "source_arch": other}
        )
    with pytest.raises(ConfigError, match="needs source_run"):
        build_transfer(in_shape=(3, 32, 32), num_classes=3, backbone="run", weights="run")
    first = list(fit(small_cfg().replace(train={"checkpoint": True}), store=store))[-1]["run_id"]  # its backbone
    with pytest.raises(CheckpointError, match="choose its backbone mobilenet_v3_small"):
        build_transfer(
            in_shape=(3, 32, 32),
            num_classes=3,
            backbone="run",
            weights="run",
            source_run=first,
            runs_root=str(store.root),
        )
    assert source_params(store.open(first)) == {"backbone": SMALL, "weights": "run", "source_run": first}


def test_rgb_target_into_a_grey_source_and_the_freeze_depth_kept_across_backbones():
    from torchvision.transforms.v2 import InterpolationMode

    from playground.models.transfer import Preprocess

    pre = Preprocess((28, 28), [0.5], [0.25], InterpolationMode.BILINEAR, channels=1)
    rgb = torch.rand(2, 3, 32, 32)
    out = pre(rgb)
    luma = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2])[:, None]
    ref = (torch.nn.functional.interpolate(luma, size=(28, 28), mode="bilinear", antialias=True) - 0.5) / 0.25
    assert out.shape == (2, 1, 28, 28) and torch.allclose(out, ref, atol=1e-4)
    assert input_notes((1, 28, 28), (3, 28, 28)) == [
        "RGB images are turned to grey (luma 0.299 R + 0.587 G + 0.114 B; the source saw grey)"
    ]
    stops = freeze_options("resnet18")  # 5 blocks
    assert keep_freeze("last_k", 2, stops) == (stops[2], None)
    o, note = keep_freeze("last_k", 9, stops)
    assert o["k"] == 4 and "'unfreeze the last 9' became" in note
    assert keep_freeze("finetune_all", 1, stops) == (stops[-1], None)


# -- the page (AppTest) ----------------------------------------------------------------------------


@pytest.fixture
def app(app, hub):
    """conftest's app (its own run store, uploads and job manager), on the Transfer page, with this module's
    hub cache."""
    app.run()
    app.switch_page("app_pages/transfer.py")
    return app


def _shrink(at):
    """shapes with a small test split and few training images: the timing and runs stay cheap."""
    at.number_input(key="tl_limit").set_value(64).run()
    at.select_slider(key="tl_size").set_value(32).run()
    return at


def test_page_offline_shows_the_cases_the_surgery_and_the_file_to_fetch(app):
    at = _shrink(app.run())
    assert not at.exception, [e.value for e in at.exception]
    assert [b.label for b in at.button if b.key and b.key.startswith("tl_case_")] == ["Use these settings"] * 4
    text = " ".join(m.value for m in at.markdown)
    assert "`classifier.3` was `Linear(1024 → 1000)`" in text and "`Linear(1024 → 10)`" in text
    name = weights_file(resolve_weights(SMALL)).name
    assert any(name in w.value and "own runs" in w.value for w in at.warning)  # offline: the file, the folder
    assert at.button(key="tl_start").disabled  # nothing to transfer from yet
    assert any("not cached here" in i.value for i in at.info)  # no top-5 without the weights
    labels = [m.label for m in at.metric]
    assert {"one epoch (estimate)", "steps per epoch", "feature cache: once"} <= set(labels)


def test_page_case_buttons_set_the_freeze_depth(app):
    at = _shrink(app.run())
    at.button(key="tl_case_2").click().run()  # small data, different: unfreeze the last 2 blocks
    assert not at.exception
    assert at.select_slider(key="tl_freeze").value.startswith("unfreeze the last 2 blocks")
    text = " ".join(m.value for m in at.markdown)
    assert "(head + features.12, classifier.0-2 (fc))" in text


def test_page_starts_a_transfer_run_and_a_scratch_run_beside_it(app, monkeypatch):
    cache_weights(SMALL, seed=2)
    at = _shrink(app.run())
    at.number_input(key="tl_epochs").set_value(1.0).run()
    at.number_input(key="tl_bs").set_value(32).run()
    assert not at.warning and not at.button(key="tl_start").disabled
    at.button(key="tl_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    runs = at.session_state["tl_runs"]
    assert set(runs) == {"transferred", "from scratch"}
    import time

    from app_pages.common import job_manager

    deadline = time.time() + 120
    while time.time() < deadline and any(job_manager().status(r) != "done" for r in runs.values()):
        time.sleep(0.5)
    assert all(job_manager().status(r) == "done" for r in runs.values())
    at.run()
    assert not at.exception
    assert len([m for m in at.metric if m.label == "test accuracy"]) == 2
    cfg = job_manager().store.open(runs["transferred"]).config()
    assert cfg.model.params["weights"] == "imagenet" and cfg.model.params["feature_cache"] is True
    scratch = job_manager().store.open(runs["from scratch"]).config()
    assert scratch.model.params["weights"] == "none" and scratch.model.params["freeze"] == "finetune_all"


def _wait_done(run_ids, timeout: float = 120) -> None:
    import time

    from app_pages.common import job_manager

    deadline = time.time() + timeout
    while time.time() < deadline and any(job_manager().status(r) not in ("done", "error") for r in run_ids):
        time.sleep(0.3)
    assert all(job_manager().status(r) == "done" for r in run_ids), [job_manager().status(r) for r in run_ids]


def test_page_lists_a_train_page_cnn_as_a_source_and_keeps_the_settings(app):
    from app_pages.common import job_manager

    cnn = RunConfig.from_dict(
        {
            "data": {"dataset": "shapes", "params": {"n_train": 320, "n_test": 50}},
            "model": {"name": "cnn", "params": SOURCES["cnn"]},
            "optim": {"name": "adam", "lr": 3e-3},
            "train": {"epochs": 1, "batch_size": 32, "device": "cpu", "probes": []},
        }
    )
    at = app
    at.query_params["cfg"] = cnn.to_url()  # the Train page opened set up by link, then Start
    at.switch_page("app_pages/train.py").run()
    at.button(key="t_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    src = at.query_params["run"]
    src = src[0] if isinstance(src, list) else src
    _wait_done([src])
    at.query_params.clear()
    at.switch_page("app_pages/transfer.py").run()
    at = _shrink(at)
    assert at.select_slider(key="tl_freeze").value == "train only the new head"  # ImageNet: the head by default
    at.radio(key="tl_source").set_value("none").run()
    assert at.select_slider(key="tl_freeze").value == "fine-tune everything"  # random weights: every layer
    assert any("new head on random features learns next to nothing" in c.value for c in at.caption)
    at.radio(key="tl_source").set_value("run").run()
    assert not at.exception, [e.value for e in at.exception]
    pick = at.selectbox(key="tl_source_run")
    assert pick.value == src and any(src in o and "cnn on shapes" in o for o in pick.options)
    text = " ".join(m.value for m in at.markdown)
    assert "`classifier.3` was `Linear(32 → 10)` for the source run's 10 classes" in text
    assert at.select_slider(key="tl_size").disabled  # the source's own 32 x 32 input
    at.select_slider(key="tl_freeze").set_value("fine-tune everything").run()
    at.radio(key="tl_source").set_value("imagenet").run()
    at.radio(key="tl_source").set_value("run").run()  # the source run and the chosen depth are kept
    assert at.selectbox(key="tl_source_run").value == src
    assert at.select_slider(key="tl_freeze").value == "fine-tune everything"
    at.number_input(key="tl_epochs").set_value(1.0).run()
    at.number_input(key="tl_bs").set_value(16).run()
    at.button(key="tl_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    runs = at.session_state["tl_runs"]
    _wait_done(runs.values())
    params = job_manager().store.open(runs["transferred"]).config().model.params
    assert (params["backbone"], params["weights"], params["source_run"]) == ("run", "run", src)
    assert params["source_arch"]["model"] == "cnn"
    scratch = job_manager().store.open(runs["from scratch"]).config().model.params
    assert (scratch["backbone"], scratch["weights"], scratch["freeze"]) == ("run", "none", "finetune_all")


def test_a_transfer_run_from_a_playground_run_exports_onnx_and_says_why_there_is_no_script(store, tmp_path):
    from playground import export
    from playground.errors import ExportError

    params = source_params(store.open(train_source(store, "cnn")))
    cfg = target_cfg(photo_folder(tmp_path / "photos"), {**params, "freeze": "last_k", "k": 1})
    events = list(fit(cfg.replace(train={"epochs": 1}), store=store))
    run = store.open(events[0]["run_id"])
    assert events[-1]["kind"] == "done", events[-1]
    with pytest.raises(ExportError, match="no script yet.*ONNX"):
        export.run_training_script(run)
    assert export.export_run_onnx(run)["max_abs_diff"] < 1e-4


def test_the_cli_transfers_from_a_train_page_cnn_and_the_run_reloads_without_its_source(
    store, tmp_path, capsys, monkeypatch
):
    import json
    import shutil

    from playground.cli import main
    from playground.models.saved import load_saved

    monkeypatch.setenv("PLAYGROUND_RUNS", str(tmp_path / "another-store"))  # not where the runs are
    src = train_source(store, "cnn")
    rc = main(
        [
            "train",
            "--dataset",
            "shapes",
            "--data-param",
            "n_train=128",
            "--data-param",
            "n_test=64",
            "--model",
            "transfer",
            "--model-param",
            "backbone=run",
            "--model-param",
            "weights=run",
            "--model-param",
            f"source_run={src}",
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--device",
            "cpu",
            "--runs",
            str(store.root),
            "--json",
            "--quiet",
        ]
    )
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and last["status"] == "done", last
    run = store.open(last["run_id"])
    assert run.config().model.params["source_arch"]["model"] == "cnn"  # recorded, as the page does
    shutil.rmtree(store.root / src)  # the source run deleted: the transfer run still loads
    assert load_saved(run).predict(torch.zeros(3, 32, 32, dtype=torch.uint8), 1)
