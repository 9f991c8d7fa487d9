import numpy as np
import pytest
import torch
from PIL import Image

from playground.data import channel_stats, list_datasets, load_dataset
from playground.data.shapes import SHAPE_CLASSES, make_shapes
from playground.errors import ConfigError, DatasetUnavailable


def test_registry_lists_every_data_set():
    assert {"shapes", "mnist", "fashion_mnist", "cifar10", "image_folder"} <= set(list_datasets())


def test_unknown_data_set_lists_the_choices():
    with pytest.raises(ConfigError, match="Choose one of: cifar10, fashion_mnist, image_folder, mnist, shapes"):
        load_dataset("imagenet")


def test_shapes_is_deterministic_balanced_and_varied():
    x1, y1 = make_shapes(500, seed=7)
    x2, y2 = make_shapes(500, seed=7)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.shape == (500, 3, 32, 32) and x1.dtype == torch.uint8
    assert torch.bincount(y1).tolist() == [50] * 10
    assert not torch.equal(make_shapes(500, seed=8)[0], x1)
    # position varies: the centre of mass of "shape vs background" differs across samples
    assert x1.float().std(dim=0).mean() > 20


def test_the_default_shapes_are_kept_on_disk_and_a_damaged_file_is_drawn_again(tmp_path, monkeypatch):
    from playground.data import shapes

    monkeypatch.setenv("PLAYGROUND_CACHE", str(tmp_path / "cache"))
    drawn = shapes.shapes()  # the default set: drawn, then written
    (kept,) = (tmp_path / "cache").glob("shapes-*.pt")
    real = shapes.make_shapes
    monkeypatch.setattr(shapes, "make_shapes", lambda *a, **k: pytest.fail("drawn although it was kept"))
    again = shapes.shapes()
    assert torch.equal(again.train_x, drawn.train_x) and torch.equal(again.test_y, drawn.test_y)
    kept.write_bytes(b"not a tensor file")  # damaged (or written by someone else): drawn again, replaced
    monkeypatch.setattr(shapes, "make_shapes", real)
    assert torch.equal(shapes.shapes().train_x, drawn.train_x)
    assert torch.equal(torch.load(kept, weights_only=True)[0], drawn.train_x)
    small = shapes.shapes(n_train=50, n_test=20)  # another setting is drawn, never written (no disk filling)
    assert len(small.train_y) == 50 and list((tmp_path / "cache").glob("shapes-*.pt")) == [kept]
    monkeypatch.setenv("PLAYGROUND_CACHE", "off")  # the file is there, and not read
    monkeypatch.setattr(shapes, "_draw", lambda *a: pytest.fail("drawn, as it should be"))
    with pytest.raises(pytest.fail.Exception, match="drawn, as it should be"):
        shapes.shapes()


def test_shapes_are_the_same_images_whatever_the_chunk(monkeypatch):
    from playground.data import shapes

    x1, y1 = make_shapes(300, seed=3, size=20)  # every draw is made first, then the images chunk by chunk
    monkeypatch.setattr(shapes, "CHUNK", 7)
    x2, y2 = make_shapes(300, seed=3, size=20)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)


def test_shapes_data_set_has_stats_from_its_train_split():
    ds = load_dataset("shapes", n_train=300, n_test=100)
    assert ds.classes == SHAPE_CLASSES and ds.shape == (3, 32, 32)
    assert len(ds.train_y) == 300 and len(ds.test_y) == 100
    x = ds.train_x.double() / 255
    assert ds.mean == pytest.approx(x.mean(dim=(0, 2, 3)).tolist(), abs=1e-9)
    assert ds.std == pytest.approx(x.std(dim=(0, 2, 3), unbiased=False).tolist(), abs=1e-6)


def test_channel_stats_exact_on_known_values():
    x = torch.zeros(2, 2, 1, 2, dtype=torch.uint8)
    x[:, 1] = 255
    x[0, 0, 0, 0] = 255  # channel 0: one of four pixels is 1.0
    mean, std = channel_stats(x)
    assert mean == pytest.approx((0.25, 1.0)) and std == pytest.approx((np.sqrt(0.1875), 0.0), abs=1e-5)


def test_torchvision_set_offline_names_folder_and_files(tmp_path):
    with pytest.raises(DatasetUnavailable) as e:
        load_dataset("mnist", root=tmp_path, download=False)
    msg = str(e.value)
    assert str(tmp_path / "MNIST" / "raw") in msg
    assert "train-images-idx3-ubyte" in msg and "shapes" in msg


def test_mnist_from_shared_data(mnist_root):
    ds = load_dataset("mnist", root=mnist_root, download=False)
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert ds.class_counts("train")[1] == 6742  # the original class counts
    assert ds.mean[0] == pytest.approx(0.1237, abs=5e-4)  # computed, not the usual 0.1307


# -- image_folder -------------------------------------------------------------------


def _img(path, mode="RGB", size=(20, 16), colour=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(str(path))) % 2**32)
    if mode == "I;16":
        Image.fromarray(rng.integers(0, 65535, size[::-1], dtype=np.uint16)).save(path)
        return
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).convert(mode).save(path)


def _folder(root, classes=("cat", "dog"), n=5, ext="png", mode="RGB"):
    for c in classes:
        for i in range(n):
            _img(root / c / f"{i}.{ext}", mode)
    return root


def test_image_folder_with_seeded_split(tmp_path):
    root = _folder(tmp_path / "pets", n=10)
    ds = load_dataset("image_folder", root=root, image_size=24)
    assert ds.classes == ["cat", "dog"] and ds.shape == (3, 24, 24)
    assert len(ds.train_y) == 16 and len(ds.test_y) == 4  # 20% of each class held out
    assert ds.class_counts("test") == [2, 2]
    again = load_dataset("image_folder", root=root, image_size=24, seed=0, mode="RGB")
    assert torch.equal(again.test_x, ds.test_x)


def test_image_folder_train_test_layout(tmp_path):
    _folder(tmp_path / "d" / "train", n=4)
    _folder(tmp_path / "d" / "test", n=2)
    ds = load_dataset("image_folder", root=tmp_path / "d")
    assert (len(ds.train_y), len(ds.test_y)) == (8, 4)


def test_image_folder_mixed_modes_converted(tmp_path):
    root = tmp_path / "mixed"
    for i, mode in enumerate(["L", "RGB", "RGBA", "P", "I;16", "CMYK", "1"]):
        _img(root / "a" / f"{i}.{'jpg' if mode == 'CMYK' else 'png'}", mode)
        _img(root / "b" / f"{i}.png", "RGB")
    ds = load_dataset("image_folder", root=root, image_size=16)
    assert ds.shape == (3, 16, 16) and len(ds.train_y) + len(ds.test_y) == 14
    assert not ds.notes or "skipped" not in ds.notes[0]


def test_image_folder_all_grey_becomes_one_channel(tmp_path):
    root = tmp_path / "grey"
    for c in ("a", "b"):
        for i in range(3):
            _img(root / c / f"{i}.png", "L")
        _img(root / c / "deep.png", "I;16")
    ds = load_dataset("image_folder", root=root, image_size=8)
    assert ds.shape == (1, 8, 8)


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    from playground.data.folder import read_image

    p = tmp_path / "x.png"
    Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16)).save(p)
    assert read_image(p, 4, "L").mean() == pytest.approx(128, abs=1)


def test_corrupt_and_truncated_images_are_skipped_and_counted(tmp_path):
    root = _folder(tmp_path / "bad", n=5, ext="jpg")
    (root / "cat" / "garbage.jpg").write_bytes(b"not an image at all")
    good = (root / "dog" / "0.jpg").read_bytes()
    (root / "dog" / "cut.jpg").write_bytes(good[: len(good) // 3])
    (root / "dog" / "notes.txt").write_text("ignored: not an image extension")
    ds = load_dataset("image_folder", root=root)
    assert len(ds.train_y) + len(ds.test_y) == 10
    assert any("skipped 2 unreadable" in n for n in ds.notes)


def test_decompression_bomb_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # the guard stays on; make "huge" small
    root = _folder(tmp_path / "big", n=3)
    _img(root / "cat" / "huge.png", size=(200, 200))
    ds = load_dataset("image_folder", root=root)
    assert len(ds.train_y) + len(ds.test_y) == 6
    assert any("huge.png" in n for n in ds.notes)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda r: r.mkdir(), "No class folders"),
        (lambda r: _folder(r, classes=("only",)), "only one class"),
        (lambda r: (_folder(r), (r / "empty").mkdir()), "hold no images: empty"),
        (lambda r: None, "does not exist"),
        (lambda r: (_folder(r / "train"), _folder(r / "test", classes=("cat", "cow"))), "same class folders"),
    ],
)
def test_bad_folders_get_clear_errors(tmp_path, make, words):
    root = tmp_path / "f"
    make(root)
    with pytest.raises(DatasetUnavailable, match=words):
        load_dataset("image_folder", root=root)


def test_folder_of_only_corrupt_images(tmp_path):
    for c in ("a", "b"):
        (tmp_path / "c" / c).mkdir(parents=True)
        (tmp_path / "c" / c / "x.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DatasetUnavailable, match="could be decoded"):
        load_dataset("image_folder", root=tmp_path / "c")


def test_cifar_jpg_folder_loads_ten_classes(cifar_jpg):
    ds = load_dataset("image_folder", root=cifar_jpg)
    assert ds.num_classes == 10 and ds.shape == (3, 32, 32)
    assert (len(ds.train_y), len(ds.test_y)) == (10000, 2000)
    assert ds.class_counts("test") == [200] * 10


def test_image_folder_training_split_is_shuffled_so_a_limit_keeps_every_class(tmp_path):
    root = _folder(tmp_path / "three", classes=("a", "b", "c"), n=20)
    ds = load_dataset("image_folder", root=root)
    assert set(ds.train_y[:12].tolist()) == {0, 1, 2}


# -- the Data page's convolution windows ---------------------------------------------------------


@pytest.mark.parametrize(
    "n, k, s, p", [(28, 3, 1, 0), (28, 3, 1, 1), (32, 5, 1, 2), (32, 3, 2, 0), (28, 7, 3, 3), (28, 5, 2, 1)]
)
def test_conv_windows_count_is_the_formula(n, k, s, p):
    from playground.data import explore

    assert explore.conv_output_size(n, k, s, p) == (n - k + 2 * p) // s + 1
    ds = load_dataset("shapes", n_train=10, n_test=10, size=n)
    v = explore.conv_windows(ds, 0, kernel=k, stride=s, padding=p)
    out = torch.nn.functional.conv2d(torch.zeros(1, 3, n, n), torch.zeros(1, 3, k, k), stride=s, padding=p)
    assert v["grid"] == tuple(out.shape[2:]) == ((n - k + 2 * p) // s + 1,) * 2
    assert v["positions"] == v["grid"][0] * v["grid"][1]
    assert v["image"].shape[:2] == (n + 2 * p, n + 2 * p) and v["inputs_per_unit"] == 3 * k * k
    x = torch.nn.functional.pad(ds.train_x[0], (p,) * 4)
    for e in v["examples"]:  # each example window is the pixels at its corner (padded image)
        assert (e["top"], e["left"]) == (e["row"] * s, e["col"] * s)
        np.testing.assert_array_equal(
            e["tile"], x[:, e["top"] : e["top"] + k, e["left"] : e["left"] + k].permute(1, 2, 0).numpy()
        )
    assert (v["examples"][-1]["row"], v["examples"][-1]["col"]) == (v["grid"][0] - 1, v["grid"][1] - 1)
    if s == 1:
        mid = [e for e in v["examples"] if e["row"] == v["grid"][0] // 2]
        assert len(mid) >= 2 and mid[1]["left"] - mid[0]["left"] == 1  # neighbours overlap by k - 1
    with pytest.raises(ConfigError, match="does not fit"):
        explore.conv_windows(ds, 0, kernel=k, stride=s, padding=k)


def test_data_page_states_the_true_number_of_conv_positions(tmp_path, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("PLAYGROUND_UPLOADS", str(tmp_path / "uploads"))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=120)
    at.switch_page("app_pages/data.py")
    at.query_params["tab"] = "MLP vs CNN input"  # the page's tabs are lazy and bound to ?tab=
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    assert "(32 - 3 + 2·0) / 1 + 1 = 30" in text and "30 x 30 = 900 positions" in text
    assert "81 positions" not in text
    at.select_slider(key="d_stride").set_value(2).run()
    at.select_slider(key="d_pad_3").set_value(1).run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    assert "(32 - 3 + 2·1) / 2 + 1 = 16" in text and "16 x 16 = 256 positions" in text
    assert len([c for c in at.get("plotly_chart") if "windows, stride 2, padding 1" in str(c.proto.spec)]) == 1


def test_pixel_histograms_of_a_data_set_are_computed_once_for_sessions_arriving_together(monkeypatch):
    """A class opening the Data page at once: every caller gets the one computation's result (a float
    copy of the images each would cost memory and a core per session); another data set gets its own."""
    import threading
    import time

    from playground.data import explore

    ds = load_dataset("shapes", n_train=40, n_test=10, seed=7)
    other = load_dataset("shapes", n_train=40, n_test=10, seed=8)
    calls, real = [], explore._pixel_histograms

    def slow(d, *a):
        calls.append(d)
        time.sleep(0.3)  # long enough that every thread arrives while it runs
        return real(d, *a)

    monkeypatch.setattr(explore, "_pixel_histograms", slow)
    out: list = []
    threads = [threading.Thread(target=lambda: out.append(explore.pixel_histograms(ds))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(out) == 8 and all(o is out[0] for o in out)
    np.testing.assert_allclose(sum(out[0]["counts"][0]), 40 * 32 * 32)  # every pixel of channel 0 counted
    assert explore.pixel_histograms(other) is not out[0] and calls[-1] is other
    assert explore.pixel_histograms(ds, normalised=True) is not out[0] and len(calls) == 3


def test_warm_up_loads_the_data_set_and_its_histograms_once_in_the_background(monkeypatch):
    """The server's first page starts it; a second call (every page run calls it) starts nothing."""
    import time

    from playground.data import explore

    ds = load_dataset("shapes", n_train=40, n_test=10, seed=9)
    loads = []
    monkeypatch.setattr(explore, "_warming", set())
    monkeypatch.setattr(explore, "load_dataset", lambda name: loads.append(name) or ds)
    explore.warm_up("shapes")
    explore.warm_up("shapes")
    deadline = time.time() + 30
    while time.time() < deadline and explore._memo((id(ds), True, 64, 5000), ds) is None:
        time.sleep(0.05)
    assert loads == ["shapes"]

    def computed_again(*a):
        raise AssertionError("the warm-up's histograms were not kept")

    monkeypatch.setattr(explore, "_pixel_histograms", computed_again)
    assert explore.pixel_histograms(ds)["channels"] == ["red", "green", "blue"]
    assert explore.pixel_histograms(ds, normalised=True)["channels"] == ["red", "green", "blue"]
