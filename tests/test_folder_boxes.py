"""No server path of an upload on any page, in either mode (issue 28): on a laptop (folder boxes open) as on a
classroom server, the Data page (its folder box, the data set's messages), the sidebar, the Train page's folder
box, the address bar's ``?cfg=`` and "Link to this setup" show an upload as ``upload:<its folder>``, never the
server's uploads folder or the session id in it; the data set still loads from the real folder."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from playground.config import RunConfig
from playground.data.uploads import session_folder

OWNER = "b" * 64  # a session id as the app derives it


def _upload(uploads):
    folder = session_folder(OWNER, uploads) / "dataset-0123456789ab" / "pets"
    for cls in ("cats", "dogs"):
        (folder / cls).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (8, 8), (40 * i, 90, 200 if cls == "cats" else 20)).save(folder / cls / f"{i}.png")
    return folder


def _query(at, name: str) -> list[str]:
    value = at.query_params.get(name) or []
    return [value] if isinstance(value, str) else list(value)


def _everything(at) -> str:
    """Every element of the page as its message (labels, values, bodies, links) and the address bar's query."""
    out = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    out += [str(w.value) for w in at.text_input]
    out.append(str(dict(at.query_params)))
    text = "\n".join(out)
    # a setup in a link or the address bar is compressed: read back, its folder shows
    links = re.findall(r"cfg=([A-Za-z0-9_=-]+)", text) + _query(at, "cfg")
    return text + "\n".join(RunConfig.from_url(c).to_json() for c in links)


@pytest.mark.parametrize("classroom", ["0", "1"], ids=["laptop", "classroom"])
def test_no_page_shows_the_server_path_of_an_upload(app, tmp_path, monkeypatch, classroom):
    monkeypatch.setenv("PLAYGROUND_CLASSROOM", classroom)
    uploads = tmp_path / "uploads"  # the app fixture's PLAYGROUND_UPLOADS
    folder = _upload(uploads)
    secret = [str(uploads), str(uploads.resolve()), OWNER]
    at = app
    at.session_state["owner"] = OWNER
    at.session_state["upload_folder"] = str(folder)
    at.run()
    at.switch_page("app_pages/data.py").run()
    at.selectbox(key="d_dataset").set_value("image_folder").run()
    assert not at.exception, at.exception
    assert [m.value for m in at.metric][:1] == ["2"], [e.value for e in at.error]  # the upload loaded: 2 classes
    if classroom == "0":
        assert at.text_input(key="d_folder").value == "upload:dataset-0123456789ab/pets"
    page = _everything(at)
    assert not [s for s in secret if s in page], page[:2000]

    at.switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception
    assert at.text_input(key="t_root_True").value == "upload:dataset-0123456789ab/pets"
    link = [c.value for c in at.caption if "Link to this setup" in c.value]
    assert len(link) == 1, [c.value for c in at.caption]
    for setup in (re.search(r"cfg=([A-Za-z0-9_=-]+)", link[0])[1], *_query(at, "cfg")):  # link, address bar
        assert RunConfig.from_url(setup).data.data_root == "upload:dataset-0123456789ab/pets"
    page = _everything(at)
    assert not [s for s in secret if s in page], page[:2000]
