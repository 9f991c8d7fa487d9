"""Every lesson proves its point: the harness (``playground lessons``) runs each lesson's experiment in its quick
form, through the job manager, and the figure must clear the lesson's threshold. The full form's figures and
seconds are a benchmark (docs/BENCHMARKS.md, "Lessons: seconds to each point"), never a timed test."""

from __future__ import annotations

import json

import pytest

from playground.cli import main
from playground.config import RunConfig
from playground.start import LESSONS, Ctx, lesson, lessons
from playground.start import experiments as ex
from playground.start import experiments_more as ex2
from playground.start.harness import run_lessons
from playground.start.runner import Outcome

DIGITS = {"mlp_vs_cnn", "augmentation", "denoise", "transfer"}  # made on MNIST when the data folder has it


def _root(name: str, request) -> str | None:
    if name in DIGITS:
        return str(request.getfixturevalue("mnist_root"))
    return None


NOT_YET: dict[str, str] = {}  # a lesson whose point does not show yet (xfail, strict): none


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(les.name, marks=pytest.mark.xfail(strict=True, reason=NOT_YET[les.name]))
        if les.name in NOT_YET
        else les.name
        for les in lessons()
    ],
)
def test_every_lesson_shows_its_point_in_quick_form(name, request, tmp_path):
    ctx = Ctx(root=_root(name, request), device="cpu", quick=True)
    (row,) = run_lessons([name], ctx, runs_root=str(tmp_path / "runs"))
    les = lesson(name, ctx)
    assert row["lesson"] == name and row["point"] == les.point and row["device"] == "cpu"
    assert row["figure"] is not None, row.get("why")
    assert row["shown"], (row["figure"], les.needs(quick=True), row.get("text"), row.get("why"))
    # it ran jobs through the manager (convolution's by-hand sum takes milliseconds: 0.0 s once rounded)
    assert row["seconds"] >= 0 and (name == "convolution" or (row["runs"] and row["seconds"] > 0))


def test_the_link_sets_up_exactly_what_the_experiment_trains():
    ctx = Ctx()
    assert RunConfig.from_url(lesson("first_cnn").query["cfg"]) == ex.first_cnn_config(ctx)
    assert RunConfig.from_url(lesson("filters").query["cfg"]) == ex.filters_config(ctx)
    assert RunConfig.from_url(lesson("augmentation").query["cfg"]) == ex2.augment_configs(ctx)[1]
    assert RunConfig.from_url(lesson("denoise").query["cfg"]) == ex2.denoise_config(ctx)
    for les in lessons():
        assert les.links()["lesson"] == les.name and les.button and les.point.endswith(".")


def test_baselines_get_their_own_fair_settings(mnist_root):
    ctx = Ctx(root=str(mnist_root))
    plain, augmented = ex2.augment_configs(ctx)
    assert plain.replace(data={"augment": augmented.data.augment}) == augmented  # only augmentation differs
    mlp, cnn = ex.pair_configs(ctx)
    assert (mlp.data, mlp.train, mlp.optim) == (cnn.data, cnn.train, cnn.optim)
    assert mlp.data.dataset == "mnist"  # centred digits: both can learn them


@pytest.mark.parametrize("offline", [False, True])
def test_the_transfer_source_is_never_the_targets_own_task(offline, mnist_root, tmp_path):
    from playground.data import load_dataset

    ctx = Ctx(root=str(tmp_path / "empty" if offline else mnist_root), quick=True)
    source, target = ex2.transfer_source_config(ctx).data, ex2._target_data(ctx)
    assert source.params["of"] == target.params["of"] == ("shapes" if offline else "mnist")
    src, tgt = (load_dataset(d.dataset, root=d.data_root, download=False, **dict(d.params)) for d in (source, target))
    assert not set(src.classes) & set(tgt.classes)  # other classes: a second task, never the target's own
    per = ex2.SHOTS[source.params["of"]]
    assert tgt.class_counts() == [per] * 5 and len(tgt.classes) == 5  # a few labelled images of each target class
    les = lesson("transfer", ctx)
    assert f"{per} labelled images" in les.point and ("MNIST is not" in les.note) == offline


def test_the_transfer_baseline_is_the_same_network_with_its_own_settings(mnist_root, tmp_path, monkeypatch):
    import playground.transfer.sources as sources
    from playground.runs import RunStore

    ctx = Ctx(root=str(mnist_root))
    src = RunStore(tmp_path / "runs").create(ex2.transfer_source_config(ctx))  # not trained: its settings suffice
    monkeypatch.setattr(
        sources, "source_params", lambda run: {"backbone": "run", "weights": "run", "source_run": run.run_id}
    )
    moved, scratch = ex2.transfer_configs(ctx, src)
    assert moved.data == scratch.data and moved.train.batch_size == scratch.train.batch_size
    assert moved.model.params["freeze"] == "head_only" and scratch.model.name == "cnn"
    assert dict(scratch.model.params) == dict(ex2.transfer_source_config(ctx).model.params)  # the same network
    assert scratch.optim.lr == ex2.SCRATCH_LR and scratch.train.epochs >= 30  # its own tuned rate, trained to fit


def test_the_harness_prints_json_per_lesson_and_a_summary(capsys, tmp_path):
    code = main(["lessons", "--only", "convolution", "--json", "--runs", str(tmp_path / "runs")])
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    row, summary = lines
    assert code == 0 and row["shown"] is True and summary["shown"] == 1 and summary["lessons"] == 1
    assert {"lesson", "point", "figure", "threshold", "shown", "seconds", "device"} <= set(row)
    assert row["figure"] <= row["threshold"]  # the by-hand sums equal the library's convolution


def test_a_point_not_shown_exits_non_zero(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(ex, "run_convolution", lambda runner: Outcome(0.5, "the sums disagree"))
    code = main(["lessons", "--only", "convolution", "--runs", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 1 and "NOT SHOWN" in out and "0 of 1 points shown" in out


def test_an_unknown_lesson_says_which_exist(capsys):
    assert main(["lessons", "--only", "nope"]) == 2
    assert "first_cnn" in capsys.readouterr().err


def test_every_lesson_has_a_measured_time():
    assert {les.name for les in lessons()} == set(LESSONS.names())
    for les in lessons():
        assert les.seconds is not None and les.seconds > 0, les.name


def test_mnist_missing_falls_back_and_says_so(tmp_path):
    ctx = Ctx(root=str(tmp_path / "empty"))
    assert ex.pair_configs(ctx)[0].data.dataset == "shapes" and "MNIST is not" in lesson("mlp_vs_cnn", ctx).note
    assert ex2.denoise_config(ctx).data.dataset == "shapes"


def test_the_race_chart_clips_the_loss_and_says_so():
    race = {"constant": {"step": [1, 2], "loss": [600.0, 2.3]}, "xavier": {"step": [1, 2], "loss": [2.3, 1.5]}}
    fig = ex.race_chart(race)
    assert max(max(t.y) for t in fig.data) == ex.LOSS_CLIP and "clipped" in fig.layout.title.text


def test_filter_smoothness_tells_noise_from_edges():
    import torch

    noise = torch.randn(16, 3, 7, 7)
    ramp = torch.linspace(-1, 1, 7).view(1, 1, 1, 7).expand(16, 3, 7, 7)  # an edge detector: a smooth ramp
    assert abs(ex.smoothness(noise)) < 0.15 and ex.smoothness(ramp) > 0.8


@pytest.mark.slow
def test_concurrent_lessons_run_as_separate_sessions_of_one_job_manager(monkeypatch, tmp_path):
    from playground.runs import RunStore

    tiny = RunConfig().replace(
        data={"params": {"n_train": 200, "n_test": 100}},
        model={"params": {"channels": [8], "fc": [16]}},
        train={"epochs": 1.0, "device": "cpu"},
    )
    monkeypatch.setattr(ex, "first_cnn_config", lambda ctx: tiny)
    rows = run_lessons(
        ["first_cnn", "first_cnn", "convolution"], Ctx(quick=True), concurrent=3, runs_root=str(tmp_path / "runs")
    )
    assert [r["lesson"] for r in rows] == ["first_cnn", "first_cnn", "convolution"]
    ran = [r["runs"] for r in rows[:2]]
    assert all(len(x) == 1 for x in ran) and ran[0] != ran[1]
    owners = {RunStore(tmp_path / "runs").open(x[0]).owner_digest() for x in ran}
    assert len(owners) == 2  # each lesson its own session, as two students


def test_the_race_hands_out_its_curves_while_it_runs():
    from conftest import tiny_run

    from playground.inside.initlab import init_race

    seen: list[dict] = []
    race = init_race(
        tiny_run(epochs=1.0, device="cpu"),
        {"zeros": ("zeros", {}), "xavier": ("xavier_uniform", {})},
        partial=seen.append,
        partial_every_s=0.0,
    )
    assert seen and set(seen[-1]) == {"zeros", "xavier"}  # the one in progress is drawn too
    assert len(seen[0]["zeros"]["loss"]) < len(race["zeros"]["loss"])  # partial: fewer points than the end
    assert ex.race_chart(seen[-1]).data  # the landing draws them


def test_a_subset_keeps_the_chosen_classes_and_a_seeded_few_of_each_and_the_script_draws_the_same(tmp_path):
    import math

    import torch
    import torch.nn.functional as F

    from playground.data import load_dataset
    from playground.errors import ConfigError
    from playground.export.emitters import DATA_EMITTERS

    params = {"of": "shapes", "classes": "5-9", "per_class": 3, "test_per_class": 4, "n_train": 400, "n_test": 200}
    ds = load_dataset("subset", **params)
    base = load_dataset("shapes", n_train=400, n_test=200)
    assert ds.classes == base.classes[5:] and ds.class_counts() == [3] * 5 and ds.class_counts("test") == [4] * 5
    hits = [(base.train_x == img).flatten(1).all(1).nonzero().flatten() for img in ds.train_x]
    assert all(len(h) and int(base.train_y[h[0]]) == 5 + int(y) for h, y in zip(hits, ds.train_y))  # relabelled 0..4
    assert not torch.equal(load_dataset("subset", **{**params, "seed": 1}).train_x, ds.train_x)  # the seed draws
    ns: dict = {"__name__": "generated", "torch": torch, "math": math, "F": F}  # the script's own imports
    exec(compile(DATA_EMITTERS["subset"](**params), "generated.py", "exec"), ns)
    tx, ty, vx, vy, classes = ns["load_data"](str(tmp_path))
    assert torch.equal(tx, ds.train_x) and torch.equal(ty, ds.train_y) and torch.equal(vx, ds.test_x)
    assert classes == ds.classes
    for bad in ("4-2", "0", "0,0", "a-b", "0-12"):
        with pytest.raises(ConfigError):
            load_dataset("subset", **{**params, "classes": bad})
