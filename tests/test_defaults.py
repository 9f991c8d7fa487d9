"""Defaults that learn: the default recipe learns fast, the batch size follows the training set's size
(auto) unless one is set, a small folder of one's own trains above chance, and the Train page says how
many steps a run will train, with a fix when they are too few."""

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from playground.config import RunConfig
from playground.export.script import training_script
from playground.train import fit
from playground.train.gate import estimate
from playground.train.plan import AUTO_BATCH_MAX, auto_batch_size, step_counts

ROOT = Path(__file__).resolve().parents[1]
TINY_MODEL = {"channels": [8], "fc": []}


def _events(cfg: RunConfig) -> list[dict]:
    events = list(fit(cfg.replace(train={"checkpoint": False, "device": "cpu"})))
    assert events[-1]["kind"] == "done", events[-1]
    return events


def test_the_defaults_learn_in_a_short_fixed_seed_run():
    # Every default (model, optimiser, schedule, epochs, auto batch) on 3,000 shapes: 368 steps, about
    # 8 s on 2 cores; 0.64 measured (seed 1: 0.61).
    cfg = RunConfig().replace(data={"params": {"n_train": 3000, "n_test": 500}})
    events = _events(cfg)
    assert events[0]["batch_size"] == 64 and events[0]["total_steps"] == 8 * 46
    assert events[-1]["test_acc"] > 0.4  # chance is 0.1


@pytest.mark.parametrize(
    "n, bs", [(10, 2), (40, 2), (150, 4), (1000, 32), (1280, 64), (8000, 64), (60000, AUTO_BATCH_MAX)]
)
def test_the_auto_batch_size_gives_an_epoch_twenty_steps(n, bs):
    assert auto_batch_size(n) == bs
    assert bs & (bs - 1) == 0 and 2 <= bs <= AUTO_BATCH_MAX  # a power of two
    if n >= 40:
        assert n // bs >= 20


def test_auto_batch_on_150_images_and_explicit_batch_sizes_are_kept():
    small = RunConfig().replace(
        data={"params": {"n_train": 150, "n_test": 50}}, model={"params": TINY_MODEL}, train={"epochs": 0.1}
    )
    assert small.train.batch_size is None  # the default: auto
    start = _events(small)[0]
    assert start["batch_size"] == 4 and start["steps_per_epoch"] >= 20
    assert start["total_steps"] == round(0.1 * start["steps_per_epoch"]) == 4  # one-cycle over 4 steps: no 0/0
    assert step_counts(small, 150) == (4, 37, 4)  # what the Train page shows before Start
    start = _events(small.replace(train={"batch_size": 50}))[0]
    assert start["batch_size"] == 50 and start["steps_per_epoch"] == 3


def test_the_gate_estimates_auto_with_the_largest_batch_it_may_pick():
    auto = RunConfig()
    assert estimate(auto) == estimate(auto.replace(train={"batch_size": AUTO_BATCH_MAX}))
    assert estimate(auto).activation_bytes > estimate(auto.replace(train={"batch_size": 8})).activation_bytes


def test_the_script_writes_out_the_auto_rule():
    text = training_script(RunConfig(), in_shape=(3, 32, 32), num_classes=10)
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("batch_size = "))
    assert "auto" in line
    compile(text, "train.py", "exec")
    rule = line.split("=", 1)[1].split("#")[0]
    for n in (10, 150, 1000, 8000, 60000):
        assert eval(rule, {"math": math, "len": len, "train_y": range(n)}) == auto_batch_size(n)


def _three_colour_folder(root: Path, per_class: int = 50, size: int = 40) -> Path:
    """Three classes of noisy images that differ clearly: reddish, greenish and bluish, with a random
    brightness, a random darker square and pixel noise."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(("red", "green", "blue")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            base = np.full((size, size, 3), 60.0)
            base[..., k] = 200.0
            img = base * rng.uniform(0.7, 1.1) + rng.normal(0, 25, (size, size, 3))
            x, y = rng.integers(0, size - 12, 2)
            img[y : y + 12, x : x + 12] *= 0.5
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def test_a_small_folder_of_ones_own_trains_above_chance_with_the_defaults(tmp_path):
    root = _three_colour_folder(tmp_path / "photos")
    cfg = RunConfig().replace(data={"dataset": "image_folder", "data_root": str(root)})
    events = _events(cfg)
    start, done = events[0], events[-1]
    assert start["train_images"] == 120 and start["batch_size"] == 4 and start["steps_per_epoch"] == 30
    assert done["test_acc"] > 0.6  # chance is 1/3


# -- the Train page: steps before Start, a warning and its fix --------------------------------------


def _warnings(at) -> list[str]:
    return [w.value for w in at.warning if "steps" in w.value]


def test_train_page_shows_the_steps_and_fixes_a_run_that_is_too_short(app):
    at = app.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    assert any("8,000 training images, batch 64 (auto)" in c.value for c in at.caption)
    assert not _warnings(at)
    at.number_input(key="t_limit").set_value(1280).run()  # auto batch 64: 20 steps an epoch
    at.number_input(key="t_epochs").set_value(1.0).run()
    assert any("**20** steps an epoch, **20** in all" in c.value for c in at.caption)
    assert any("only 20 steps" in w for w in _warnings(at))
    at.button(key="t_fix_steps").click().run()
    assert not at.exception and not _warnings(at)
    assert at.number_input(key="t_epochs").value == 5.0
    assert any("**100** in all" in c.value for c in at.caption)


def test_train_page_fix_lowers_a_batch_size_that_leaves_one_step_an_epoch(app):
    at = app.run()
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="t_limit").set_value(150).run()
    at.number_input(key="t_bs").set_value(128).run()
    assert any("1 step an epoch" in w for w in _warnings(at))
    at.button(key="t_fix_steps").click().run()
    assert not at.exception and not _warnings(at)
    assert at.number_input(key="t_bs").value is None  # auto: 4 on 150 images
    assert any("batch 4 (auto)" in c.value for c in at.caption)
