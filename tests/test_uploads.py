"""Hostile and broken .zip uploads: nothing lands outside the upload folder."""

import io
import stat
import zipfile

import numpy as np
import pytest
from PIL import Image

from playground.data import load_dataset
from playground.data.uploads import extract_zip, session_folder
from playground.errors import DatasetUnavailable


def _png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _zip(entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, target)
    return buf.getvalue()


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_good_zip_loads_as_a_data_set(tmp_path):
    png = _png()
    data = _zip({f"pets/{c}/{i}.png": png for c in ("cat", "dog") for i in range(5)})
    root, notes = extract_zip(data, tmp_path / "up" / "dataset")
    assert root.name == "pets" and notes == []
    ds = load_dataset("image_folder", root=root)
    assert ds.classes == ["cat", "dog"]


def test_traversal_absolute_symlink_and_junk_are_refused(tmp_path):
    png = _png()
    dest = tmp_path / "up" / "dataset"
    data = _zip({"cat/1.png": png, "dog/1.png": png, "../escape.png": png, "/abs/evil.png": png,
                 "cat/../../up2.png": png, "C:/win.png": png, "dog/readme.txt": b"hi", "__MACOSX/cat/._1.png": png},
                symlinks={"cat/link.png": "/etc/passwd"})
    root, notes = extract_zip(data, dest)
    assert _files(dest) == ["cat/1.png", "dog/1.png"]
    assert not (tmp_path / "up" / "escape.png").exists() and not (tmp_path / "escape.png").exists()
    assert not list(tmp_path.rglob("up2.png")) and not list(tmp_path.rglob("evil.png"))
    joined = " ".join(notes)
    assert "unsafe path" in joined and "link or special file" in joined and "not an image" in joined


def test_decompression_bomb_is_refused_and_cleaned_up(tmp_path):
    dest = tmp_path / "up" / "dataset"
    data = _zip({"cat/1.png": _png(), "cat/bomb.png": b"\0" * (20 * 2**20)})
    with pytest.raises(DatasetUnavailable, match="decompression bomb"):
        extract_zip(data, dest)
    assert not dest.exists()


@pytest.mark.parametrize("data, words", [
    (b"this is not a zip", "not a readable .zip"),
    (_zip({"notes.txt": b"x"}), "no images"),
])
def test_unusable_archives(tmp_path, data, words):
    with pytest.raises(DatasetUnavailable, match=words):
        extract_zip(data, tmp_path / "d")


def test_zip_without_class_folders_is_explained_when_loaded(tmp_path):
    root, _ = extract_zip(_zip({"a.png": _png(), "b.png": _png()}), tmp_path / "d")
    with pytest.raises(DatasetUnavailable, match="No class folders"):
        load_dataset("image_folder", root=root)


def test_session_folder_names_are_sanitised(tmp_path):
    assert session_folder("../../etc", tmp_path).parent == tmp_path
    assert "/" not in session_folder("a/b\\c", tmp_path).name


def test_entry_that_cannot_be_written_is_a_clear_error(tmp_path):
    data = _zip({"cat/a.png": _png(), "cat/a.png/b.png": _png(), "dog/c.png": _png()})
    with pytest.raises(DatasetUnavailable, match="Could not unpack"):
        extract_zip(data, tmp_path / "d")
    assert not (tmp_path / "d").exists()
