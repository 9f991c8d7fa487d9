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
    data = _zip(
        {
            "cat/1.png": png,
            "dog/1.png": png,
            "../escape.png": png,
            "/abs/evil.png": png,
            "cat/../../up2.png": png,
            "C:/win.png": png,
            "dog/readme.txt": b"hi",
            "__MACOSX/cat/._1.png": png,
        },
        symlinks={"cat/link.png": "/etc/passwd"},
    )
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


@pytest.mark.parametrize(
    "data, words",
    [
        (b"this is not a zip", "not a readable .zip"),
        (_zip({"notes.txt": b"x"}), "no images"),
    ],
)
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


def test_a_sessions_uploads_stay_under_its_quota(tmp_path, monkeypatch):
    from playground.data.uploads import upload_room

    monkeypatch.setenv("PLAYGROUND_UPLOAD_QUOTA_MB", "1")
    png = np.random.default_rng(1).integers(0, 255, (300, 300, 3), dtype=np.uint8)  # ~270 kB each, stored
    buf = io.BytesIO()
    Image.fromarray(png).save(buf, "PNG", compress_level=0)
    data = _zip({f"{c}/{i}.png": buf.getvalue() for c in ("a", "b") for i in range(2)})  # ~1.1 MB unpacked
    folder = session_folder("me", tmp_path)
    with pytest.raises(DatasetUnavailable, match="PLAYGROUND_UPLOAD_QUOTA_MB"):
        extract_zip(data, folder / "dataset-1", room=upload_room("me", folder / "dataset-1", tmp_path))
    assert not (folder / "dataset-1").exists()
    small = _zip({f"{c}/{i}.png": buf.getvalue() for c in ("a", "b") for i in range(1)})  # ~0.5 MB
    extract_zip(small, folder / "dataset-2", room=upload_room("me", folder / "dataset-2", tmp_path))
    assert upload_room("me", None, tmp_path) < 2**20 // 2  # what is left counts what the session holds
    with pytest.raises(DatasetUnavailable, match="delete your older uploads"):
        extract_zip(small, folder / "dataset-3", room=upload_room("me", folder / "dataset-3", tmp_path))
    assert upload_room("other", None, tmp_path) == 2**20  # another session's quota is its own


def test_unpacking_stops_at_the_time_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MAX_UNPACK_SECONDS", "0.000001")
    data = _zip({f"{c}/{i}.png": _png() for c in ("a", "b") for i in range(3)})
    with pytest.raises(DatasetUnavailable, match="PLAYGROUND_MAX_UNPACK_SECONDS"):
        extract_zip(data, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_session_folder_is_named_by_the_id_never_the_token(tmp_path):
    from playground.data.uploads import adopt_legacy_uploads
    from playground.identity import session_id

    token = "T" * 22
    old = session_folder(token, tmp_path) / "dataset-1"
    old.mkdir(parents=True)
    (old / "x.png").write_bytes(b"x")
    adopt_legacy_uploads(token, session_id(token), tmp_path)
    assert not session_folder(token, tmp_path).exists()
    assert (session_folder(session_id(token), tmp_path) / "dataset-1" / "x.png").read_bytes() == b"x"
    assert token not in str(session_folder(session_id(token), tmp_path))


def test_a_one_colour_image_of_forty_megapixels_in_two_kilobytes_is_refused_before_decoding(tmp_path):
    from playground.data.folder import image_folder

    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.fromarray(np.full((16, 16, 3), 60 * i, np.uint8)).save(tmp_path / c / f"{i}.png")
    Image.new("RGB", (6300, 6300), (10, 20, 30)).save(tmp_path / "a" / "bomb.webp", "WEBP", lossless=True)
    assert (tmp_path / "a" / "bomb.webp").stat().st_size < 4096
    ds = image_folder(root=tmp_path, image_size=16)
    assert any("bomb.webp (likely decompression bomb" in n for n in ds.notes), ds.notes
    assert len(ds.train_y) + len(ds.test_y) == 6
