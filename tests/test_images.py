"""The one image path (playground/images.py): a hostile corpus, generated here, through all four entry points.

Entry points: the image-folder data set (``read_image`` and ``load_dataset("image_folder")``), the Inside
page's upload (``image_from_bytes``), the transfer page's photo (``load_photo``) and style transfer's
content/style images (``load_image``). Every corpus entry either works in each of them (right shape,
dtype, range, orientation and colours) or is refused in each with a PlaygroundError that names the file
and the problem. Also: the style loop (L-BFGS) on PNG and JPEG files from disk, the per-image and
per-folder pixel caps read from headers before decoding, and Pillow's bomb guard left as it was.
"""

from __future__ import annotations

import io
import struct
import time
import warnings
import zipfile
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from playground import style
from playground.data import datasets as ds_mod
from playground.data import load_dataset
from playground.data.folder import read_image
from playground.data.uploads import extract_zip
from playground.errors import ConfigError, DatasetUnavailable, PlaygroundError
from playground.image_errors import ImageError
from playground.images import decode, decode_tensor, probe
from playground.inside import image_from_bytes
from playground.style.features import FeatureNet, name_layers
from playground.transfer import load_photo

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


# -- the corpus ----------------------------------------------------------------------------------


def _enc(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _halves(size: tuple[int, int], left, right, mode: str = "RGB", split: str = "columns") -> Image.Image:
    w, h = size
    a = np.zeros((h, w, len(left)), dtype=np.uint8)
    if split == "columns":
        a[:, : w // 2], a[:, w // 2 :] = left, right
    else:
        a[: h // 2], a[h // 2 :] = left, right
    return Image.fromarray(a, mode)


def _chunk(tag: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload))


def _png_claiming(w: int, h: int, idat: bytes | None = None) -> bytes:
    """A PNG whose IHDR says w x h RGB; ``idat``: the compressed rows (a few bytes of zeros when None)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", idat or zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


def _rotated_jpeg() -> bytes:
    """Stored 60 x 40 with red left and blue right, EXIF orientation 6 (shown turned 90 degrees clockwise):
    seen upright it is 40 x 60, red on top and blue below."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return _enc(_halves((60, 40), RED, BLUE), "JPEG", quality=95, exif=exif.tobytes())


def _palette_png() -> bytes:
    im = Image.fromarray(np.repeat(np.array([[0] * 20 + [1] * 20], dtype=np.uint8), 40, 0), "P")
    im.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    return _enc(im, "PNG", transparency=0)  # index 0 (red) transparent: white on the left


def _gif() -> bytes:
    frames = [Image.new("RGB", (20, 20), c) for c in (RED, BLUE)]
    return _enc(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _grey16() -> bytes:
    ramp = np.linspace(0, 65535, 64).round().astype(np.uint16)  # 0 .. 65535, left to right
    return _enc(Image.fromarray(np.repeat(ramp[None], 64, 0)), "PNG")


def _truncated_jpeg() -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = _enc(Image.fromarray(noise), "JPEG")
    return data[: len(data) // 2]


SVG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">'
    b'<rect width="40" height="40" fill="red"/></svg>\n'
)


def _region(a: np.ndarray, where: str) -> np.ndarray:
    """The mean colour of a quarter band of an (H, W, 3) image."""
    h, w = a.shape[:2]
    band = {
        "top": a[: max(1, h // 4)],
        "bottom": a[h - max(1, h // 4) :],
        "left": a[:, : max(1, w // 4)],
        "right": a[:, w - max(1, w // 4) :],
        "all": a,
    }[where]
    return band.reshape(-1, 3).astype(float).mean(0)


def _colours(**want) -> Callable[[np.ndarray], None]:
    def check(a: np.ndarray) -> None:
        for where, rgb in want.items():
            got = _region(a, where)
            assert np.abs(got - rgb).max() < 45, f"{where}: {got.round()} != {rgb}"

    return check


def _mid_grey_ramp(a: np.ndarray) -> None:
    grey = a.astype(float).mean(2)
    assert abs(grey.mean() - 127.5) < 6, grey.mean()  # scaled by 65535, not clipped at 255
    assert (a == 255).mean() < 0.1 and grey[:, : a.shape[1] // 4].mean() < grey[:, -(a.shape[1] // 4) :].mean()


@lru_cache(maxsize=1)
def corpus() -> dict[str, dict]:
    """name -> {data, size (w, h) seen upright | None, check | refused (a regex for the message), style_refused}."""
    return {
        "cmyk.jpg": dict(
            data=_enc(Image.new("CMYK", (64, 48), (0, 255, 255, 0)), "JPEG"), size=(64, 48), check=_colours(all=RED)
        ),
        "rotated.jpg": dict(data=_rotated_jpeg(), size=(40, 60), check=_colours(top=RED, bottom=BLUE)),
        "grey16.png": dict(data=_grey16(), size=(64, 64), check=_mid_grey_ramp),
        "palette.png": dict(data=_palette_png(), size=(40, 40), check=_colours(left=WHITE, right=GREEN)),
        "rgba.png": dict(
            data=_enc(_halves((40, 40), (255, 0, 0, 0), (0, 0, 255, 255), "RGBA"), "PNG"),
            size=(40, 40),
            check=_colours(left=WHITE, right=BLUE),
        ),
        "animated.gif": dict(data=_gif(), size=(20, 20), check=_colours(all=RED)),  # the first frame
        "photo.webp": dict(
            data=_enc(Image.new("RGB", (32, 24), (10, 200, 30)), "WEBP", lossless=True),
            size=(32, 24),
            check=_colours(all=(10, 200, 30)),
        ),
        "photo.bmp": dict(
            data=_enc(Image.new("RGB", (30, 30), (200, 100, 50)), "BMP"),
            size=(30, 30),
            check=_colours(all=(200, 100, 50)),
        ),
        "photo.tiff": dict(
            data=_enc(_halves((30, 30), GREEN, BLUE, split="rows"), "TIFF"),
            size=(30, 30),
            check=_colours(top=GREEN, bottom=BLUE),
        ),
        "one.png": dict(
            data=_enc(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG"), size=(1, 1), check=_colours(all=(1, 2, 3))
        ),
        "wide.png": dict(
            data=_enc(Image.new("RGB", (6000, 40), (50, 60, 70)), "PNG"),
            size=(6000, 40),
            check=_colours(all=(50, 60, 70)),
            style_refused="too narrow",
        ),
        "bomb.png": dict(data=_png_claiming(40000, 40000), refused="too large to open safely"),
        "cut.jpg": dict(data=_truncated_jpeg(), refused="truncated"),
        "drawing.png": dict(data=SVG, refused="SVG drawing"),  # an SVG named .png
    }


# -- the four entry points ------------------------------------------------------------------------


def _tree(tmp_path: Path, name: str, data: bytes) -> tuple[Path, Path]:
    """An ImageFolder tree: a/ and b/ with two plain images each, and the entry in a/."""
    root = tmp_path / "tree"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (20, 20), (128, 128, 128)).save(root / c / f"plain{i}.png")
    (root / "a" / name).write_bytes(data)
    return root, root / "a" / name


def via_folder(tmp_path: Path, name: str, data: bytes) -> np.ndarray:
    root, path = _tree(tmp_path, name, data)
    try:
        a = read_image(path, 16, "RGB")
    except PlaygroundError as e:
        assert str(path) in str(e)
        ds = load_dataset("image_folder", root=root, image_size=16, mode="RGB", test_fraction=0.5)
        assert len(ds.train_y) + len(ds.test_y) == 4  # the entry skipped, the rest loaded
        assert any(f"skipped 1 unreadable image(s): {name} (" in n for n in ds.notes), ds.notes
        raise
    assert a.shape == (16, 16, 3) and a.dtype == np.uint8
    ds = load_dataset("image_folder", root=root, image_size=16, mode="RGB", test_fraction=0.5)
    assert ds.shape == (3, 16, 16) and len(ds.train_y) + len(ds.test_y) == 5
    assert not any("skipped" in n for n in ds.notes)
    return a


def via_inside(tmp_path: Path, name: str, data: bytes) -> np.ndarray:
    x = image_from_bytes(data, (3, 32, 32), name=name)
    assert x.dtype == torch.uint8 and tuple(x.shape) == (3, 32, 32) and x.is_contiguous()
    return x.permute(1, 2, 0).numpy()


def via_transfer(tmp_path: Path, name: str, data: bytes) -> np.ndarray:
    im = load_photo(data, name=name)
    assert im.mode == "RGB" and im.size == corpus()[name]["size"]
    return np.asarray(im)


def via_style(tmp_path: Path, name: str, data: bytes) -> np.ndarray:
    path = tmp_path / name
    path.write_bytes(data)
    t = style.load_image(str(path), 48, "content image")
    w, h = corpus()[name]["size"]
    assert t.dtype == torch.float32 and t.shape[:2] == (1, 3) and t.is_contiguous()
    assert max(t.shape[2:]) == 48 and (t.shape[2] >= t.shape[3]) == (h >= w) and 0 <= t.min() and t.max() <= 1
    return style.to_uint8(t)


ENTRY_POINTS = {"folder": via_folder, "inside": via_inside, "transfer": via_transfer, "style": via_style}


@pytest.mark.parametrize("entry_point", list(ENTRY_POINTS))
@pytest.mark.parametrize("name", list(corpus()))
def test_every_corpus_entry_through_every_entry_point(tmp_path, name, entry_point):
    case = corpus()[name]
    refused = case.get("refused") or (case.get("style_refused") if entry_point == "style" else None)
    run = ENTRY_POINTS[entry_point]
    if refused:
        t0 = time.perf_counter()
        with pytest.raises(PlaygroundError, match=refused) as e:
            run(tmp_path, name, case["data"])
        assert name in str(e.value) or refused == case.get("style_refused")  # names the file (a decoding error)
        assert time.perf_counter() - t0 < 2  # refused from the header, not after decoding 1.6 gigapixels
    else:
        case["check"](run(tmp_path, name, case["data"]))
    ds_mod.clear_cache()


def test_sixteen_bit_grey_stays_mid_grey_in_one_channel_too(tmp_path):
    data = corpus()["grey16.png"]["data"]
    assert abs(image_from_bytes(data, (1, 28, 28)).float().mean().item() - 127.5) < 6  # was 255: saturated
    path = tmp_path / "g.png"
    path.write_bytes(data)
    assert abs(read_image(path, 16, "L").mean() - 127.5) < 6
    assert decode(data).mode == "L" and probe(data).grey and decode_tensor(data, channels=1).shape == (1, 64, 64)


def test_thirty_two_bit_and_float_images_are_scaled_by_their_range():
    i32 = _enc(Image.fromarray(np.full((8, 8), 1000, dtype=np.int32), "I"), "TIFF")  # over 255: 0..65535
    assert decode_tensor(i32, channels=1).unique().tolist() == [4]
    f32 = _enc(Image.fromarray(np.linspace(-5, 5, 64, dtype=np.float32).reshape(8, 8), "F"), "TIFF")
    t = decode_tensor(f32, channels=1)
    assert t.min() == 0 and t.max() == 255  # min..max: no fixed range


# -- the style loop on files from disk (L-BFGS needs a contiguous image) --------------------------


def _tiny_net() -> FeatureNet:
    torch.manual_seed(0)
    layers = name_layers([nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()])
    return FeatureNet(
        "tiny (test)", layers, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 3, ("conv_2",), {"conv_1": 1.0, "conv_2": 1.0}
    )


@pytest.mark.parametrize("fmt, size", [("PNG", (32, 24)), ("JPEG", (50, 70))])  # as is, and resized
def test_style_transfer_of_a_file_from_disk(tmp_path, fmt, size):
    path = tmp_path / f"photo.{fmt.lower()}"
    noise = np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, fmt)
    assert style.load_image(str(path), 32).is_contiguous()
    settings = style.StyleSettings(content=str(path), style="mosaic", size=32, steps=2, device="cpu", optimizer="lbfgs")
    events = list(style.stylize(None, None, settings, net=_tiny_net(), preview_every=0))
    assert events[-1]["kind"] == "done", events[-1]
    assert max(events[0]["size"]) == 32


# -- caps read from headers, before decoding -------------------------------------------------------


def test_the_image_cap_is_the_setting_and_is_read_from_the_header(monkeypatch):
    data = _enc(Image.new("RGB", (40, 40)), "PNG")
    monkeypatch.setenv("PLAYGROUND_MAX_IMAGE_MP", "0.001")  # 1,000 pixels
    with pytest.raises(ConfigError, match=r"40 x 40 pixels.*PLAYGROUND_MAX_IMAGE_MP"):
        load_photo(data, name="x.png")
    with pytest.raises(ImageError, match="too large"):
        probe(data)
    monkeypatch.setenv("PLAYGROUND_MAX_IMAGE_MP", "0.002")
    assert decode(data).size == (40, 40)


def test_pillows_bomb_warning_is_an_error_and_its_limit_is_left_alone(monkeypatch):
    data = _enc(Image.new("RGB", (40, 40)), "PNG")  # 1,600 px: Pillow only warns between 1,000 and 2,000
    filters = list(warnings.filters)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    for warn in ("default", "error"):
        with warnings.catch_warnings():
            warnings.simplefilter(warn, Image.DecompressionBombWarning)
            with pytest.raises(ImageError, match="Pillow's decompression-bomb limit"):
                image_from_bytes(data, (3, 32, 32))
    monkeypatch.undo()
    before = Image.MAX_IMAGE_PIXELS
    decode(data)
    assert Image.MAX_IMAGE_PIXELS == before and warnings.filters == filters


def _solid_png(side: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid side x side solid-colour PNG, compressed row by row (no side^2 array in memory)."""
    z = zlib.compressobj(9)
    row = b"\x00" + bytes(rgb) * side
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    return _png_claiming(side, side, idat)


def test_a_zip_of_big_solid_pngs_is_refused_from_the_headers_quickly(tmp_path):
    png = _solid_png(6000, (30, 90, 200))  # 36 megapixels each (under the 40 per image), ~100 KB
    assert probe(png).megapixels == 36
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i in range(60):  # 2,160 megapixels together: over the default 2,000
            zf.writestr(f"set/{'ab'[i % 2]}/{i}.png", png)
    root, _ = extract_zip(buf.getvalue(), tmp_path / "up")
    t0 = time.perf_counter()
    with pytest.raises(DatasetUnavailable, match=r"2,160 megapixels.*PLAYGROUND_MAX_FOLDER_MP"):
        load_dataset("image_folder", root=root, image_size=16)
    assert time.perf_counter() - t0 < 1.5  # decoding them would take far longer


def test_the_folder_cap_is_the_setting(tmp_path, monkeypatch):
    root, _ = _tree(tmp_path, "extra.png", _enc(Image.new("RGB", (100, 100)), "PNG"))  # 0.0116 MP in all
    monkeypatch.setenv("PLAYGROUND_MAX_FOLDER_MP", "0.01")
    with pytest.raises(DatasetUnavailable, match="PLAYGROUND_MAX_FOLDER_MP"):
        load_dataset("image_folder", root=root, image_size=8, test_fraction=0.5)
    monkeypatch.setenv("PLAYGROUND_MAX_FOLDER_MP", "0.02")
    ds = load_dataset("image_folder", root=root, image_size=8, test_fraction=0.5)
    assert len(ds.train_y) + len(ds.test_y) == 5
    ds_mod.clear_cache()


# -- drawings (the canvas on the Inside and Convolution pages) ------------------------------------


def _as_canvas(digit: torch.Tensor, rng: np.random.Generator, side: int = 280) -> np.ndarray:
    """An MNIST digit (1, 28, 28) as a canvas returns a drawing of it: much larger, drawn with a thick solid
    pen, off-centre, as RGBA white on an opaque black background."""
    ink = digit[0].float()
    rows, cols = (ink > 40).any(1).nonzero().flatten(), (ink > 40).any(0).nonzero().flatten()
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height = int(rng.integers(120, 180))
    width = max(8, round(crop.shape[1] * height / crop.shape[0]))
    big = torch.nn.functional.interpolate(crop[None, None], size=(height, width), mode="bilinear")[0, 0]
    big = torch.nn.functional.max_pool2d(big[None, None], 9, 1, 4)[0, 0]  # a thicker pen
    pen = (big > 100).to(torch.uint8) * 255  # solid strokes
    top, left = int(rng.integers(0, side - height)), int(rng.integers(0, side - width))
    a = np.zeros((side, side, 4), np.uint8)
    a[..., 3] = 255
    a[top : top + height, left : left + width, :3] = pen.numpy()[..., None]
    return a


def test_a_drawing_of_an_mnist_digit_is_prepared_like_mnist_and_classified_as_before(mnist_run):
    from playground.drawing import drawing, shrunk_drawing
    from playground.models.saved import load_saved
    from playground.runs import RunStore

    root, run_id, _ = mnist_run
    saved = load_saved(RunStore(root).open(run_id))
    data = load_dataset("mnist", root=saved.config.data.data_root, download=False)
    rng = np.random.default_rng(0)
    same = prepared_right = shrunk_right = 0
    n = 120
    for i in range(n):
        digit, label = data.test_x[i], int(data.test_y[i])
        canvas = _as_canvas(digit, rng)
        x = drawing(canvas, (1, 28, 28))
        assert x.shape == (1, 28, 28) and x.dtype == torch.uint8
        w = x[0].float()
        cy = float((w.sum(1) * torch.arange(28.0)).sum() / w.sum())
        cx = float((w.sum(0) * torch.arange(28.0)).sum() / w.sum())
        assert abs(cy - 13.5) <= 1.0 and abs(cx - 13.5) <= 1.0, (i, cy, cx)  # centred by its centre of mass
        nz = w.nonzero()
        assert int((nz.max(0).values - nz.min(0).values).max()) + 1 in (19, 20, 21)  # the 20-pixel box
        before = saved.predict(digit, 1)[0][0]
        after = saved.predict(x, 1)[0][0]
        same += before == after
        prepared_right += after == saved.classes[label]
        shrunk_right += saved.predict(shrunk_drawing(canvas), 1)[0][0] == saved.classes[label]
    assert same / n >= 0.9, (same, n)
    assert prepared_right / n >= 0.9, (prepared_right, n)
    assert shrunk_right < prepared_right - n // 5, (shrunk_right, prepared_right)  # why the preparation matters


@pytest.mark.parametrize("shape", [(280, 280, 4), (280, 280, 3), (100, 60), (5, 5, 4)])
def test_an_empty_drawing_asks_for_a_stroke(shape):
    from playground.drawing import drawing
    from playground.errors import ConfigError

    a = np.zeros(shape, np.uint8)
    if len(shape) == 3 and shape[2] == 4:
        a[..., 3] = 255  # an opaque black background, nothing drawn
    with pytest.raises(ConfigError, match="draw something"):
        drawing(a)


def test_drawings_of_any_shape_become_the_run_input():
    from playground.drawing import drawing
    from playground.errors import ConfigError

    a = np.zeros((300, 120, 4), np.uint8)  # a tall canvas, transparent background
    a[10:290, 50:60] = 255  # one tall opaque white stroke at the edge
    x = drawing(a, (3, 32, 32))
    assert x.shape == (3, 32, 32) and torch.equal(x[0], x[2])  # grey ink on each channel of an RGB model
    nz = x[0].nonzero()
    assert int(nz[:, 0].max() - nz[:, 0].min()) + 1 in (22, 23, 24)  # 20/28 of 32 px
    dot = np.zeros((50, 50), np.uint8)
    dot[49, 49] = 255  # one pixel in the corner
    with pytest.raises(ConfigError, match="draw something"):
        drawing(dot)
    dot[48:, 48:] = 255
    assert drawing(dot).sum() > 0
    with pytest.raises(ConfigError, match="drawing is"):
        drawing(np.zeros((4, 4, 2), np.uint8))
