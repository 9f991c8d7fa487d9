"""Style transfer: Gram matrix by hand, the weights-loading path through the hub cache (checked
against torchvision's own VGG19), losses that fall, sizes kept, bad images, divergence, Stop,
a playground-trained CNN as the feature network, the CLI and the page (AppTest).

VGG19's trained weights cannot be downloaded here: a state dict with the real architecture's keys
and shapes (random conv weights) is saved once per session where torch hub looks for the file.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from playground import style
from playground.config import DataConfig, ModelConfig, OptimConfig, RunConfig, TrainConfig
from playground.errors import CheckpointError, ConfigError, WeightsUnavailable
from playground.style import extract, features, images

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(size=40, steps=12)


@pytest.fixture(scope="session")
def vgg_home(tmp_path_factory) -> Path:
    """A TORCH_HOME whose hub/checkpoints/ holds vgg19-dcbb9e9d.pth (real keys and shapes, random weights)."""
    home = tmp_path_factory.mktemp("torch-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(home))
        path = features.save_random_weights("vgg19")
    assert path == home / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    return home


@pytest.fixture
def vgg(vgg_home, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(vgg_home))
    return vgg_home


@pytest.fixture
def offline(tmp_path, monkeypatch) -> Path:
    """No weights in the hub cache and no download: the offline, uncached case."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))

    def no_network(*a, **k):
        raise OSError("network unreachable (test)")

    import urllib.request

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return tmp_path


@pytest.fixture(scope="session")
def cnn_store(tmp_path_factory):
    """A run store with one small playground-trained cnn (and one mlp, which cannot serve as features)."""
    from playground.runs import RunStore
    from playground.train import fit

    store = RunStore(tmp_path_factory.mktemp("runs"))
    data = DataConfig(dataset="shapes", params={"n_train": 320, "n_test": 100})
    train = TrainConfig(epochs=1, batch_size=64, log_every=5)
    for model in (ModelConfig(name="cnn", params={"channels": [8, 16], "fc": [16]}), ModelConfig(name="mlp")):
        events = list(
            fit(RunConfig(data=data, model=model, optim=OptimConfig(name="adam", lr=3e-3), train=train), store=store)
        )
        assert events[-1]["kind"] == "done", events[-1]
    return store


def run_all(settings, **kw):
    events = list(style.stylize(None, None, settings, **kw))
    steps = [e for e in events if e["kind"] == "step"]
    return events[0], steps, events[-1]


# -- oracles ------------------------------------------------------------------------------------


def test_gram_matrix_by_hand():
    f = torch.tensor([[[[1.0, 2.0, 0.0], [-1.0, 3.0, 1.0]], [[0.5, 0.0, 2.0], [1.0, -2.0, 4.0]]]])  # (1, C=2, H=2, W=3)
    a = [1, 2, 0, -1, 3, 1]
    b = [0.5, 0, 2, 1, -2, 4]
    dot = lambda u, v: sum(x * y for x, y in zip(u, v))
    n = 2 * 2 * 3  # C*H*W, the tutorial's normalisation
    want = torch.tensor([[dot(a, a), dot(a, b)], [dot(b, a), dot(b, b)]]) / n  # [[16, 1.5], [1.5, 25.25]] / 12
    assert torch.allclose(style.gram_matrix(f)[0], want)
    cl = f.contiguous(memory_format=torch.channels_last)  # the no-copy path must agree
    assert torch.allclose(style.gram_matrix(cl)[0], want)
    g = torch.randn(2, 5, 7, 6)
    ref = torch.einsum("bchw,bdhw->bcd", g, g) / (5 * 7 * 6)
    assert torch.allclose(style.gram_matrix(g.contiguous(memory_format=torch.channels_last)), ref, atol=1e-5)


def test_vgg_weights_load_from_the_hub_cache_like_torchvision(vgg):
    from torchvision.models import vgg19

    net = style.feature_net("vgg19")
    assert net.label == "vgg19 (IMAGENET1K_V1)" and net.mean == (0.485, 0.456, 0.406)
    assert net.names()[:5] == ["conv_1", "relu_1", "conv_2", "relu_2", "pool_2"]
    # The oracle: torchvision's own VGG19 reading the same file (strict: every key and shape must match).
    state = torch.load(vgg / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth", weights_only=True)
    with torch.device("meta"):
        ref = vgg19()
    ref.load_state_dict(state, assign=True)
    ref.eval()
    x = torch.rand(1, 3, 48, 40)
    ext = extract.Extractor(net, {"conv_4", "conv_5"}, channels_last=True)
    assert len(ext.body) == net.names().index("conv_5") + 1  # cut after the last layer in use
    with torch.no_grad():
        ours = ext(x)
        normed = (x - torch.tensor(net.mean).view(1, 3, 1, 1)) / torch.tensor(net.std).view(1, 3, 1, 1)
        want4 = ref.features[:8](normed)  # conv_4 is features[7]
        want5 = ref.features[:11](normed)  # conv_5 is features[10]
    assert torch.allclose(ours["conv_4"], want4, atol=1e-4, rtol=1e-4)
    assert torch.allclose(ours["conv_5"], want5, atol=1e-4, rtol=1e-4)
    assert style.backbone_info("vgg19")["available"]


def test_offline_uncached_weights_say_where_the_file_goes_and_offer_a_playground_cnn(offline):
    info = style.backbone_info("vgg19")
    assert not info["available"] and "vgg19-dcbb9e9d.pth" in info["message"] and "playground" in info["message"]
    with pytest.raises(WeightsUnavailable) as e:
        style.feature_net("vgg19")
    msg = str(e.value)
    assert "vgg19-dcbb9e9d.pth" in msg and str(offline / "empty-torch-home") in msg and "run:<run id>" in msg


def test_a_weights_file_for_another_network_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    path.parent.mkdir(parents=True)
    torch.save({"features.0.weight": torch.zeros(8, 3, 3, 3)}, path)
    with pytest.raises(CheckpointError, match="does not match vgg19"):
        style.feature_net("vgg19")
    path.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="not a usable weights file"):
        style.feature_net("vgg19")


# -- the loop -----------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer, init", [("lbfgs", "noise"), ("adam", "content")])
def test_losses_decrease_and_the_result_keeps_the_content_size(vgg, optimizer, init):
    s = style.StyleSettings(
        content="chelsea",
        style="mosaic",
        optimizer=optimizer,
        init=init,
        tv_weight=1.0,
        **{**TINY, "steps": 15 if optimizer == "lbfgs" else 30},
    )
    start, steps, final = run_all(s, preview_every=5)
    assert start["size"] == [27, 40]  # chelsea is 451x300: long side 40, aspect kept
    assert final["kind"] == "done" and final["step"] == s.steps and len(steps) == s.steps
    assert final["image"].shape == (27, 40, 3) and final["image"].dtype == np.uint8
    assert [e["step"] for e in steps if "image" in e][:2] == [5, 10]
    first, last = steps[0], steps[-1]
    assert last["style"] < 0.5 * first["style"], (first, last)
    assert last["total"] < first["total"]
    assert all(e["tv"] > 0 and e["content"] >= 0 for e in steps)
    assert abs(last["total"] - (last["content"] + last["style"] + last["tv"])) <= 1e-4 * last["total"]


def test_noise_start_is_seeded_and_moves_toward_the_content(vgg):
    s = style.StyleSettings(content="coffee", style="brick", init="noise", style_weight=1e3, **TINY)
    _, steps, a = run_all(s, preview_every=0)
    _, _, b = run_all(s, preview_every=0)
    assert np.array_equal(a["image"], b["image"])  # same seed, same result
    assert steps[-1]["content"] < 0.5 * steps[0]["content"]


def test_preserve_colour_keeps_the_content_chroma(vgg):
    s = style.StyleSettings(content="astronaut", style="stripes", preserve_colour=True, **TINY)
    _, _, final = run_all(s, preview_every=0)
    content = style.load_image("astronaut", 40)
    out = torch.from_numpy(final["image"]).permute(2, 0, 1)[None].float() / 255
    m = images.YCBCR
    chroma = lambda x: torch.einsum("ij,bjhw->bihw", m, x)[:, 1:]
    assert (chroma(out) - chroma(content)).abs().mean() < 0.02  # only the rounding to uint8 and clipping


def test_overflowing_weights_stop_with_diverged_and_keep_a_finite_image(vgg):
    s = style.StyleSettings(content="astronaut", style="mosaic", style_weight=1e40, **TINY)
    _, steps, final = run_all(s)
    assert final["kind"] == "diverged" and "overflow" in final["message"] and "style" in final["message"]
    assert final["image"].shape == (40, 40, 3) and len(steps) == 0


def test_stop_keeps_the_current_result(vgg):
    class After:
        def __init__(self):
            self.n = 0

        @property
        def stopped(self):
            self.n += 1
            return self.n > 4

    _, steps, final = run_all(style.StyleSettings(**{**TINY, "steps": 50}), controls=After(), preview_every=0)
    assert final["kind"] == "stopped" and final["step"] == 4 == len(steps) and final["image"].shape == (40, 40, 3)


def test_bad_settings_and_layers_are_clear_errors(vgg):
    with pytest.raises(ConfigError, match="size must be"):
        style.StyleSettings(size=8).validate()
    with pytest.raises(ConfigError, match="style optimiser"):
        style.StyleSettings(optimizer="sgd").validate()
    with pytest.raises(ConfigError, match="nothing to optimise"):
        style.StyleSettings(content_weight=0, style_weight=0).validate()
    with pytest.raises(ConfigError, match="has no layer 'conv_99'.*conv_16"):
        run_all(style.StyleSettings(style_layers={"conv_99": 1.0}, **TINY))
    with pytest.raises(ConfigError, match="No content image 'nope'.*astronaut"):
        run_all(style.StyleSettings(content="nope", **TINY))


# -- images of any kind -------------------------------------------------------------------------


def _png(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def test_images_of_any_mode_and_size():
    rgba = Image.new("RGBA", (60, 30), (255, 0, 0, 0))  # fully transparent red: white after compositing
    t = style.load_image(_png(rgba), 32)
    assert t.shape == (1, 3, 16, 32) and torch.allclose(t, torch.ones_like(t))
    pal = Image.new("P", (40, 40), 1)
    pal.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    assert torch.allclose(style.load_image(_png(pal), 40)[0, :, 0, 0], torch.tensor([0.0, 1.0, 0.0]))
    gray16 = Image.fromarray(np.full((50, 50), 32768, dtype=np.uint16))  # 16-bit grayscale
    v = style.load_image(_png(gray16), 40)
    assert v.shape == (1, 3, 40, 40) and torch.allclose(v, torch.full_like(v, 32768 / 65535), atol=1 / 255)  # 8-bit
    cmyk = Image.new("CMYK", (64, 48), (0, 255, 255, 0))  # red
    assert style.load_image(_png(cmyk, "JPEG"), 64)[0, :, 20, 20].argmax() == 0
    one_bit = Image.new("1", (33, 33), 1)
    assert style.load_image(_png(one_bit), 33).min() == 1
    big = Image.new("RGB", (3000, 1000), (10, 20, 30))  # downscaled, aspect kept
    assert style.load_image(_png(big), 300).shape == (1, 3, 100, 300)
    small = Image.new("L", (20, 20), 128)  # upscaled to the chosen size
    assert style.load_image(_png(small), 64).shape == (1, 3, 64, 64)
    assert style.load_image(np.zeros((30, 45), dtype=bool), 45).shape == (1, 3, 30, 45)


@pytest.mark.parametrize(
    "data, words",
    [
        (b"definitely not an image", "not an image that can be read"),
        (None, "not an image that can be read"),  # a truncated PNG
    ],
)
def test_corrupt_files_are_clear_errors(data, words):
    if data is None:
        data = _png(Image.new("RGB", (64, 64), (1, 2, 3)))[:60]
    with pytest.raises(ConfigError, match=words):
        style.load_image(data, 64, "content image")


def test_too_narrow_and_uploads_from_settings_are_explained():
    with pytest.raises(ConfigError, match="too narrow.*Crop it"):
        style.load_image(np.zeros((10, 400), dtype=np.uint8), 256)
    with pytest.raises(ConfigError, match="upload it again"):
        style.load_image("upload:cat.png", 64, "content image")


@pytest.mark.parametrize("name", style.list_images())
def test_every_built_in_image_loads_offline(name):
    t = style.load_image(name, 48)
    assert t.shape[:2] == (1, 3) and max(t.shape[2:]) == 48 and 0 <= t.min() and t.max() <= 1 and t.std() > 0.01


# -- a playground-trained CNN as the feature network --------------------------------------------


def test_playground_cnn_as_feature_network(cnn_store, offline):
    runs = style.feature_runs(cnn_store)
    assert len(runs) == 1 and runs[0]["model"] == "cnn"  # the mlp is not offered
    backbone = runs[0]["backbone"]
    info = style.backbone_info(backbone, store_root=str(cnn_store.root))
    assert info["lower_quality"] and "Lower quality" in info["notes"][0]
    assert info["layers"] == ["conv_1", "bn_1", "relu_1", "pool_1", "conv_2", "bn_2", "relu_2", "pool_2"]
    assert info["content"] == ["relu_1"] and info["style"] == {"relu_1": 1.0, "relu_2": 1.0}
    s = style.StyleSettings(backbone=backbone, style_weight=1e4, **TINY)
    start, steps, final = run_all(s, store_root=str(cnn_store.root))
    assert start["lower_quality"] and final["kind"] == "done" and steps[-1]["style"] < steps[0]["style"]
    mlp = next(r for r in cnn_store.list() if r.config().model.name == "mlp")
    with pytest.raises(ConfigError, match="needs a convolutional network"):
        features.run_features(mlp.run_id, cnn_store)


def test_a_style_job_runs_in_a_worker_process_stops_and_reads_back_from_disk(vgg, store):
    from conftest import wait_until

    from playground.jobs.manager import JobManager

    m = JobManager(store, max_running=1, workers="process")
    try:
        job = m.submit(style.StyleJob(style.StyleSettings(**{**TINY, "steps": 400}), preview_every=2), "a")
        assert job.kind.name == "style" and job.run.dir.parent == store.root / "style"
        assert wait_until(lambda: len(job.buffer.snapshot()["curves"]["step"]) >= 3, 120)
        m.stop(job.run_id)
        assert wait_until(lambda: not job.live, 60)
    finally:
        m.shutdown()
    snap = job.buffer.snapshot()
    assert job.state == "stopped" and snap["image"].shape == (40, 40, 3)
    assert 3 <= snap["final"]["step"] < 400 and m.status(job.run_id, "style") == "stopped"
    assert (job.run.dir / "result.png").is_file() and not store.list()  # the training store lists no style run
    back = job.kind.buffer_from_run(m.store_for("style").open(job.run_id)).snapshot()  # after a reload
    assert back["final"]["step"] == snap["final"]["step"] and back["image"].shape == (40, 40, 3)
    assert back["curves"]["total"] == snap["curves"]["total"]
    assert style.StyleSettings.from_dict(json.loads(job.run.config_path.read_text())).steps == 400


def test_style_and_training_share_the_queue_the_quota_and_the_time_cap(vgg, store, monkeypatch):
    from conftest import tiny_run, wait_until

    from playground.jobs.manager import JobManager

    monkeypatch.setenv("PLAYGROUND_MAX_RUNS_PER_SESSION", "2")
    monkeypatch.setenv("PLAYGROUND_MAX_RUN_MINUTES", str(1.5 / 60))  # 1.5 s
    m = JobManager(store, max_running=1, workers="thread")
    try:
        train = m.submit(tiny_run(epochs=1), "a")
        paint = m.submit(style.StyleJob(style.StyleSettings(**{**TINY, "steps": 5000}), preview_every=0), "a")
        assert m.queue_position(paint.run_id) == 1  # one slot: the transfer waits for the training run
        with pytest.raises(Exception, match="2 runs queued or training"):
            m.submit(style.StyleJob(style.StyleSettings(**TINY)), "a")
        assert wait_until(lambda: not paint.live, 120)
    finally:
        m.shutdown()
    assert train.state in ("done", "stopped") and paint.state == "stopped"
    assert "at most" in paint.buffer.snapshot()["final"]["message"]  # the time cap, said as such


def test_the_gate_refuses_bad_style_jobs_before_anything_runs(store, tmp_path, monkeypatch):
    from playground.jobs.manager import JobManager

    m = JobManager(store, workers="thread")
    big = style.StyleSettings(size=2048, steps=5000, device="cpu")
    with pytest.raises(ConfigError, match="at 2048 px use at most 78 steps"):
        m.submit(style.StyleJob(big), "a")
    assert 5000 * 256**2 <= style.job.CPU_PIXEL_STEPS  # the page's default size allows its whole step range
    with pytest.raises(ConfigError, match="upload it again"):
        m.submit(style.StyleJob(style.StyleSettings(content="upload:me.png", **TINY)), "a")
    with pytest.raises(Exception, match="not an image|cannot|identify"):
        m.submit(style.StyleJob(style.StyleSettings(content="upload:x.png", **TINY), content=b"<svg></svg>"), "a")
    secret = tmp_path / "secret" / "photo.png"
    secret.parent.mkdir()
    Image.new("RGB", (64, 64)).save(secret)
    monkeypatch.setenv("PLAYGROUND_CLASSROOM", "1")
    with pytest.raises(ConfigError, match="upload"):  # a server path is refused in a classroom
        m.submit(style.StyleJob(style.StyleSettings(content=str(secret), **TINY)), "a")
    assert not (store.root / "style").exists() or not any((store.root / "style").iterdir())


def test_feature_runs_reads_the_newest_runs_and_only_the_end_of_the_metrics(cnn_store, tmp_path, monkeypatch):
    import shutil

    from playground.runs import RunStore

    store = RunStore(tmp_path / "runs")
    cnn = next(r for r in cnn_store.list() if r.config().model.name == "cnn")
    epoch_acc = [e for e in cnn.events() if e["kind"] == "epoch"][-1]["test_acc"]
    ids = [f"20240101-0000{i:02d}-aaaa{i:02d}" for i in range(5)]
    for rid in ids:
        shutil.copytree(cnn.dir, store.root / rid)
    # a long history before the last epoch: the whole file is never parsed
    old = store.root / ids[0] / "metrics.jsonl"
    old.write_text('{"kind":"step","step":1,"loss":1.0}\n' * 100_000 + old.read_text())
    monkeypatch.setattr(
        RunStore.open.__globals__["Run"],
        "iter_events",
        lambda self: (_ for _ in ()).throw(AssertionError("read the whole metrics file")),
    )
    runs = style.feature_runs(store)
    assert [r["run_id"] for r in runs] == ids[::-1] and all(r["test_acc"] == epoch_acc for r in runs)
    assert [r["run_id"] for r in style.feature_runs(store, limit=2)] == ids[::-1][:2]
    assert [r["run_id"] for r in style.feature_runs(store, run_ids=[ids[1], "nope"])] == [ids[1]]
    # the last epoch far back (a long tail of steps after it), a cut last line, no epoch at all
    old.write_text(old.read_text() + '{"kind":"step","step":2,"loss":0.5}\n' * 3000 + '{"kind":"epoch","test_a')
    assert features.last_test_acc(store.open(ids[0]), first_chunk=1024) == epoch_acc
    (store.root / ids[1] / "metrics.jsonl").write_text('{"kind":"step","test_acc_x":1}\n')
    assert (
        features.last_test_acc(store.open(ids[1])) is None
        and "accuracy" not in style.feature_runs(store, run_ids=[ids[1]])[0]["label"]
    )


# -- command line -------------------------------------------------------------------------------


def cli(*args, env=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "playground", "style", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_cli_style_writes_the_png_and_a_json_line(vgg, tmp_path):
    out = tmp_path / "r.png"
    p = cli(
        "--content",
        "chelsea",
        "--style",
        "waves",
        "--size",
        48,
        "--steps",
        6,
        "--device",
        "cpu",
        "--out",
        out,
        "--json",
        env={"TORCH_HOME": str(vgg)},
    )
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert result["status"] == "done" and result["step"] == 6 and result["size"] == [32, 48]
    assert result["seconds"] > 0 and {"content", "style", "tv", "total"} <= set(result)
    assert Image.open(out).size == (48, 32)


def test_cli_style_bad_input_exits_2_and_overflow_exits_1(vgg, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    p = cli("--content", bad, "--size", 48, "--steps", 2, "--out", tmp_path / "x.png", "--json")
    assert p.returncode == 2 and "not an image that can be read" in p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1])["status"] == "error"
    p = cli(
        "--size",
        48,
        "--steps",
        3,
        "--style-weight",
        "1e40",
        "--out",
        tmp_path / "y.png",
        "--json",
        env={"TORCH_HOME": str(vgg)},
    )
    assert p.returncode == 1 and json.loads(p.stdout.strip().splitlines()[-1])["status"] == "diverged"
    assert (tmp_path / "y.png").exists()  # the last good image is still written


# -- the page (AppTest) -------------------------------------------------------------------------


@pytest.fixture
def page(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("PLAYGROUND_RUNS", str(tmp_path / "runs"))
    from playground.jobs.manager import reset_manager

    reset_manager()
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.switch_page("app_pages/style.py")
    yield at
    reset_manager()  # stops what still runs


def _state(at) -> str:
    from playground.jobs.manager import manager

    return manager().status(
        at.query_params["style"][0] if isinstance(at.query_params["style"], list) else at.query_params["style"], "style"
    )


def _wait_done(at, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        at.run()
        if _state(at) not in ("queued", "running", "paused"):
            return at.run()
        time.sleep(0.3)
    raise AssertionError("the style transfer did not finish")


def test_page_runs_a_transfer_live_and_offers_downloads(vgg, page):
    at = page.run()
    assert not at.exception and not at.error
    at.select_slider(key="s_size").set_value(64)
    at.number_input(key="s_steps").set_value(8)
    at.selectbox(key="s_content_name").select("chelsea")
    at.button(key="s_start").click().run()
    assert not at.exception
    at = _wait_done(at)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert _state(at) == "done"
    assert len(at.get("image")) == 3  # the two thumbnails and the result
    assert len(at.get("plotly_chart")) == 1 and [m.label for m in at.metric][:3] == [
        "content loss",
        "style loss",
        "TV loss",
    ]
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Result (.png)", "Settings (.json)"]
    assert any("step 8 / 8" in p.proto.text for p in at.get("progress"))


def test_page_offline_explains_and_runs_with_a_playground_cnn(offline, page, cnn_store, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RUNS", str(cnn_store.root))
    page.query_params["run"] = style.feature_runs(cnn_store)[0]["run_id"]  # not this session's: its link
    at = page.run()
    assert not at.exception
    assert any("not in the torch hub cache" in w.value and "playground" in w.value for w in at.warning)
    assert any("lower quality" in o for o in at.selectbox(key="s_backbone").options)
    at.selectbox(key="s_backbone").select(style.feature_runs(cnn_store)[0]["backbone"]).run()
    assert not at.warning and any("Lower quality" in c.value for c in at.caption)
    at.select_slider(key="s_size").set_value(64)
    at.number_input(key="s_steps").set_value(5)
    at.button(key="s_start").click().run()
    at = _wait_done(at)
    assert not at.exception and not at.error and _state(at) == "done"


def test_page_waits_for_an_upload_and_shows_diverged(vgg, page):
    at = page.run()
    at.selectbox(key="s_style_name").select("upload your own...").run()
    assert any("Upload the style image" in i.value for i in at.info)
    assert at.button(key="s_start").disabled
    at.selectbox(key="s_style_name").select("brick").run()
    at.select_slider(key="s_size").set_value(64)
    at.select_slider(key="s_sw").set_value(1e40)
    at.button(key="s_start").click().run()
    at = _wait_done(at)
    assert not at.exception and any("overflowed" in e.value for e in at.error)


def test_page_finds_its_transfer_again_after_a_reload_and_a_viewer_cannot_stop_it(vgg, page, tmp_path):
    from streamlit.testing.v1 import AppTest

    at = page.run()
    at.select_slider(key="s_size").set_value(64)
    at.number_input(key="s_steps").set_value(2000)
    at.button(key="s_start").click().run()
    run_id, key = at.query_params["style"], at.query_params["ctl"]
    run_id, key = (run_id[0], key[0]) if isinstance(run_id, list) else (run_id, key)
    assert at.button(key="s_stop")  # the starting session controls it
    viewer = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    viewer.switch_page("app_pages/style.py")
    viewer.query_params["style"] = run_id  # a view link: no control key
    viewer.run()
    assert not viewer.exception and not [b for b in viewer.button if b.key == "s_stop"]
    reloaded = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    reloaded.switch_page("app_pages/style.py")
    reloaded.query_params["style"], reloaded.query_params["ctl"] = run_id, key  # the tab's own address bar
    reloaded.run()
    assert not reloaded.exception and reloaded.button(key="s_stop")
    reloaded.button(key="s_stop").click().run()
    reloaded = _wait_done(reloaded)
    assert _state(reloaded) == "stopped" and not reloaded.exception
    assert [b.label for b in reloaded.get("download_button")] == ["Result (.png)", "Settings (.json)"]


def test_the_sidebar_links_a_transfer_to_its_page_after_the_server_forgot_it(vgg, page):
    from playground.jobs.manager import reset_manager

    at = page.run()
    at.select_slider(key="s_size").set_value(64)
    at.number_input(key="s_steps").set_value(3)
    at.button(key="s_start").click().run()
    at = _wait_done(at)
    run_id = at.query_params["style"]
    run_id = run_id[0] if isinstance(run_id, list) else run_id
    reset_manager()  # a restarted server: the job is read back from its folder
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    links = [p.proto for p in at.get("page_link")]
    assert any(p.page == "style" and p.query_string == f"style={run_id}" and "done" in p.label for p in links)
