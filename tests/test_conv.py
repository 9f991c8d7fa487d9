"""The Convolution page: sizes and values against F.conv2d and pooling for randomised settings, one
position's arithmetic equal to the map's value there, parameter counts against the layers' own
numel(), every empty output explained with its formula, and the page (AppTest)."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from streamlit.testing.v1 import AppTest

from playground import conv
from playground.errors import ConfigError, PlaygroundError

ROOT = Path(__file__).resolve().parents[1]
MODES = {"zeros": "zeros", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


@pytest.mark.parametrize("seed", range(40))
def test_sizes_and_values_match_torch_for_random_settings(seed):
    rnd = random.Random(seed)
    c, h, w = rnd.choice([1, 3]), rnd.randint(5, 20), rnd.randint(5, 20)
    k, d = rnd.randint(1, 5), rnd.randint(1, 3)
    mode = rnd.choice(list(MODES))
    p = rnd.randint(0, min(h, w) - 1 if mode == "reflect" else 4)
    s = conv.ConvSettings(
        padding_mode=mode,
        padding=p,
        stride=rnd.randint(1, 3),
        dilation=d,
        bias=rnd.uniform(-1, 1),
        relu=rnd.random() < 0.5,
        pool=rnd.choice(conv.POOLS),
        pool_size=rnd.randint(1, 3),
        pool_stride=rnd.randint(1, 3),
    )
    x, weight = torch.rand(c, h, w), torch.randn(c, k, k)
    layer = nn.Conv2d(c, 1, k, stride=s.stride, padding=p, dilation=d, padding_mode=MODES[mode])
    with torch.no_grad():
        layer.weight.copy_(weight[None])
        layer.bias.fill_(s.bias)
    try:
        res = conv.convolve(x, weight, s)
    except ConfigError as e:  # an empty output: torch must agree there is none, and the message says why
        assert "floor((" in str(e)
        with pytest.raises(RuntimeError):
            out = layer(x[None])
            if s.pool != "none":
                F.max_pool2d(out.clamp_min(0) if s.relu else out, s.pool_size, s.pool_stride)
        return
    want = layer(x[None]).detach()[0, 0]
    sizes = (conv.out_size(h, k, p, s.stride, d), conv.out_size(w, k, p, s.stride, d))
    assert res["size"] == tuple(want.shape) == sizes
    assert torch.allclose(res["conv"], want, atol=1e-5)
    act = want.clamp_min(0) if s.relu else want
    if s.pool != "none":
        pool = F.max_pool2d if s.pool == "max" else F.avg_pool2d
        assert torch.allclose(res["pooled"], pool(act[None, None], s.pool_size, s.pool_stride)[0, 0], atol=1e-5)
    i, j = rnd.randrange(res["size"][0]), rnd.randrange(res["size"][1])
    pos = conv.position(res, i, j, s)
    assert pos["after_relu"] == pytest.approx(float(act[i, j]), abs=1e-4) == pytest.approx(pos["map_value"], abs=1e-4)
    assert len(pos["rows"]) == k and pos["rows"][1:] == [r + d for r in pos["rows"][:-1]]  # dilation's gaps


def test_parameter_counts_match_the_layers_numel():
    c, h, w, k = 3, 32, 32, 5
    oh = ow = conv.out_size(32, k)
    counts = conv.param_counts(c, h, w, k, oh, ow)
    assert counts["convolution"] == sum(q.numel() for q in nn.Conv2d(c, 1, k).parameters())
    assert counts["fully connected"] == sum(q.numel() for q in nn.Linear(c * h * w, oh * ow).parameters())
    local = torch.empty(oh * ow, c * k * k).numel() + oh * ow  # a kernel and a bias per position
    assert counts["locally connected"] == local and counts["convolution"] < local < counts["fully connected"]
    assert "weight sharing" in counts["sentences"]["convolution"]


def test_presets_are_what_they_say():
    x = torch.zeros(1, 9, 9)
    x[:, :, 5:] = 1.0  # a vertical edge
    ident = conv.convolve(x, conv.kernel("identity", 3), conv.ConvSettings(padding=1))
    assert torch.equal(ident["conv"], x[0])
    edge_x = conv.convolve(x, conv.kernel("sobel_x", 3))["conv"]
    edge_y = conv.convolve(x, conv.kernel("sobel_y", 3))["conv"]
    assert edge_x.abs().max() == 4 and edge_y.abs().max() == 0  # Sobel x sees the vertical edge, y does not
    assert conv.kernel("box_blur", 5).sum() == pytest.approx(1)
    assert conv.kernel("gaussian_blur", 4).sum() == pytest.approx(1)
    assert conv.convolve(torch.ones(1, 6, 6), conv.kernel("laplacian"))["conv"].abs().max() == 0  # flat: zero


@pytest.mark.parametrize(
    "settings,kernel_size,match",
    [
        (dict(), 7, "no output height: floor\\(\\(5 \\+ 2·0 - 1·\\(7 - 1\\) - 1\\) / 1\\) \\+ 1 = -1"),
        (dict(dilation=3), 3, "reaches over 7 pixels"),
        (dict(pool="max", pool_size=4, pool_stride=4, padding=0), 3, "pooling has no output"),
        (dict(padding_mode="reflect", padding=5), 3, "Reflect padding of 5"),
        (dict(stride=0), 3, "stride must be a whole number from 1"),
        (dict(padding_mode="mirror"), 3, "Padding must be one of"),
    ],
)
def test_every_empty_or_bad_setting_is_explained(settings, kernel_size, match):
    with pytest.raises(ConfigError, match=match):
        conv.convolve(torch.rand(1, 5, 5), torch.ones(kernel_size, kernel_size), conv.ConvSettings(**settings))


def test_bad_kernels_and_sizes_are_explained():
    with pytest.raises(ConfigError, match="odd size"):
        conv.kernel("identity", 4)
    with pytest.raises(ConfigError, match="defined at size 3"):
        conv.kernel("sobel_x", 5)
    with pytest.raises(ConfigError, match="must be a number"):
        conv.kernel_from_rows([[1, None], [0, "x"]])
    with pytest.raises(ConfigError, match="does not fit a 3-channel image"):
        conv.convolve(torch.rand(3, 8, 8), torch.ones(1, 3, 3))


def test_inputs_from_a_data_set_a_photo_and_an_upload():
    assert conv.load_input("dataset", "shapes", side=32, index=3).shape == (1, 32, 32)
    photo = conv.load_input("photo", "chelsea", side=64, grey=False)
    assert photo.shape[0] == 3 and max(photo.shape[1:]) == 64 and 0 <= photo.min() and photo.max() <= 1
    buf = io.BytesIO()
    Image.new("RGBA", (300, 100), (255, 0, 0, 128)).save(buf, format="PNG")  # alpha over white, wide
    up = conv.load_input("upload", buf.getvalue(), side=48)
    assert up.shape == (1, 16, 48)
    with pytest.raises(PlaygroundError):
        conv.load_input("upload", b"<svg xmlns='http://www.w3.org/2000/svg'/>", side=48)


def test_a_trained_runs_first_kernels(store):
    from conftest import tiny_run

    from playground.train import fit

    events = list(fit(tiny_run(epochs=0.5), store=store))
    w = conv.run_kernels(store.open(events[0]["run_id"]))
    assert w.shape == (8, 3, 3, 3)  # tiny_run's first layer: 8 filters of 3 x 3 x 3


# -- the page ------------------------------------------------------------------------------


@pytest.fixture
def page(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RUNS", str(tmp_path / "runs"))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.switch_page("app_pages/conv.py")
    return at


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_page_shows_the_formula_the_arithmetic_and_the_counts(page):
    at = page.run()
    _ok(at)
    at.radio(key="c_kind").set_value("dataset").run()  # shapes, 32 x 32
    _ok(at)
    text = " ".join(m.value for m in at.markdown)
    assert "floor((32 + 2·1 - 1·(3 - 1) - 1) / 1) + 1 = 32" in text and "becomes **32 x 32**" in text
    assert "the output map holds" in text
    assert [m.label for m in at.metric] == ["convolution", "locally connected", "fully connected"]
    at.slider(key="c_s").set_value(2).run()
    at.selectbox(key="c_pool").select("max").run()
    _ok(at)
    text = " ".join(m.value for m in at.markdown)
    assert "becomes **16 x 16**" in text and "After max pooling" in text and "**8 x 8**" in text


def test_page_explains_an_empty_output_and_takes_rgb(page):
    at = page.run()
    at.radio(key="c_kind").set_value("dataset").run()
    at.slider(key="c_p").set_value(0).run()
    at.slider(key="c_d").set_value(4).run()
    at.select_slider(key="c_side").set_value(16).run()
    at.selectbox(key="c_kname").select("box_blur").run()
    at.select_slider(key="c_k").set_value(7).run()  # a preset offers its own sizes (box blur: 1 to 7)
    assert not at.exception and any("no output" in e.value and "floor((" in e.value for e in at.error)
    at.slider(key="c_d").set_value(1).run()
    at.toggle(key="c_grey").set_value(False).run()
    _ok(at)
    assert at.radio(key="c_ch").options == ["R", "G", "B"]
    assert " + " in " ".join(m.value for m in at.markdown if "sum of the products" in m.value)


def test_a_preset_offers_only_its_sizes_keeps_its_settings_and_a_blur_is_drawn_as_an_image(page):
    at = page.run()
    assert not any(s.key == "c_k" for s in at.select_slider)  # Sobel exists at 3 x 3 only: no size to refuse
    at.selectbox(key="c_kname").select("box_blur").run()
    assert at.select_slider(key="c_k").options == [str(k) for k in range(1, conv.MAX_K + 1)]
    at.select_slider(key="c_k").set_value(5).run()
    _ok(at)
    fig = next(c for c in at.get("plotly_chart") if c.key == "c_fout")
    assert '"colorscale"' in fig.proto.spec and "RdBu" not in fig.proto.spec  # a blurred image, grey
    at.radio(key="c_kind").set_value("upload").run()  # the input waits for a file: the kernel is not drawn
    at.radio(key="c_kind").set_value("photo").run()
    assert at.selectbox(key="c_kname").value == "box_blur" and at.select_slider(key="c_k").value == 5
