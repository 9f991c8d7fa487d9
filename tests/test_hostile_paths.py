"""Students see no server paths (issue 28): the Train page's image-folder box shows an upload as
``upload:<its folder>`` (no uploads root, no session id) and resolves it to the real folder on the server; a
data folder typed there that does not exist creates nothing in the server's working directory."""

from __future__ import annotations

import os

from PIL import Image

from playground.data.uploads import session_folder

OWNER = "a" * 64  # a session id as the app derives it


def _upload(tmp_path):
    folder = session_folder(OWNER, tmp_path / "uploads") / "dataset-0123456789ab" / "pets"
    for cls in ("cats", "dogs"):
        (folder / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), (40 * i, 90, 200 if cls == "cats" else 20)).save(folder / cls / f"{i}.png")
    return folder


def test_the_image_folder_box_shows_the_uploads_name_not_its_server_path(app, tmp_path):
    folder = _upload(tmp_path)
    at = app
    at.session_state["owner"] = OWNER
    at.session_state["upload_folder"] = str(folder)
    at.run()
    at.switch_page("app_pages/train.py").run()
    at.selectbox(key="t_dataset").set_value("image_folder").run()
    box = at.text_input(key="t_root_True")
    assert box.value == "upload:dataset-0123456789ab/pets"
    assert str(tmp_path) not in box.value and OWNER not in box.value
    assert not at.exception and not [e for e in at.error if "folder" in e.value]
    # what a student types back in that form is read from their own uploads, on the server
    box.set_value("upload:dataset-0123456789ab/pets").run()
    assert not at.exception and not [e for e in at.error if "folder" in e.value]


def test_a_data_folder_typed_on_the_train_page_creates_nothing(app, tmp_path, monkeypatch):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    at = app.run()
    at.switch_page("app_pages/train.py").run()
    at.selectbox(key="t_dataset").set_value("mnist").run()
    at.text_input(key="t_root_False").set_value("-1").run()
    assert not at.exception
    assert os.listdir(work) == []
