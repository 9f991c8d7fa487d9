"""Hostile payloads against one real ``streamlit run`` server, sent as a browser sends them (Streamlit's
websocket protocol, ``benchmarks/st_protocol.py``), the server's memory read from /proc: four of each at
once are refused before they allocate (a drawing's PNG of 169 megapixels, a "webcam photo" of the same, an
initialisation lab model too large for its budget) or measured within it, and the server stays up.
What a legitimate client sends still works."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import urllib.parse
import zipfile
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from benchmarks.load_test import Server
from benchmarks.st_protocol import Session

pytestmark = pytest.mark.server

CANVAS = "streamlit-drawable-canvas.streamlit_drawable_canvas"
GROWTH_MB = 500  # what four hostile requests of one kind at once may add to the server (issue 28)


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


BOMB = _png(Image.new("L", (13000, 13000)))  # 169 megapixels in ~160 kB


def _data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _stroke(side: int) -> bytes:
    im = Image.new("RGBA", (side, side), (0, 0, 0, 255))
    ImageDraw.Draw(im).line(
        [(side // 3, side // 4), (side // 2, 3 * side // 4)], fill=(255, 255, 255, 255), width=side // 15
    )
    return _png(im)


def _status(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


class Growth:
    """The server's peak resident memory over a block, above what it held at the start (/proc: VmHWM is reset
    to the current size first, so only this block's peak counts)."""

    def __init__(self, server: Server) -> None:
        self.pid = server.proc.pid

    def __enter__(self) -> "Growth":
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        self.start = _status(self.pid)["VmRSS"]
        return self

    def __exit__(self, *exc) -> None:
        self.mb = _status(self.pid)["VmHWM"] - self.start


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"PLAYGROUND_CLASSROOM": "1", "PLAYGROUND_MAX_UNPACK_SECONDS": "5"}  # a slow folder: refused after 5 s
    with Server(tmp_path_factory.mktemp("hostile"), env=env) as s:
        yield s


async def _sessions(server: Server, n: int, page: str, query: str = "") -> list[Session]:
    tabs = [Session(server.url) for _ in range(n)]
    for t in tabs:
        await t.__aenter__()
    await asyncio.gather(*(t.open(page, query, timeout=180) for t in tabs))
    return tabs


async def _close(tabs: list[Session]) -> None:
    for t in tabs:
        await t.__aexit__(None, None, None)


def _says(tab: Session, *words: str) -> bool:
    return any(all(w in t for w in words) for t in tab.texts)


async def _drawings(server: Server) -> float:
    tabs = await _sessions(server, 5, "conv")
    try:
        for t in tabs:
            await t.set({t.widget("input", "radio"): ("string_value", "draw it")}, timeout=120)
        good, bad = tabs[0], tabs[1:]
        # A real drawing at a phone's pixel ratio (2x the 240 px canvas) is drawn.
        await good.set(
            {good.widget(CANVAS): ("json_value", {"drawing": {"raw": None, "data": _data_url(_stroke(480))}})}
        )
        assert not _says(good, "drawing") or not _says(good, "refused", "too large"), good.texts
        assert _says(good, "Output size"), good.texts
        with Growth(server) as g:
            await asyncio.gather(
                *(
                    t.set(
                        {t.widget(CANVAS): ("json_value", {"drawing": {"raw": None, "data": _data_url(BOMB)}})},
                        timeout=120,
                    )
                    for t in bad
                )
            )
        for t in bad:
            assert _says(t, "The drawing", "169.0 megapixels", "240 x 240 canvas"), t.texts
        return g.mb
    finally:
        await _close(tabs)


def test_four_drawings_of_169_megapixels_at_once_are_refused_before_decoding(server):
    grew = asyncio.run(_drawings(server))
    print(f"four drawing bombs at once: the server grew {grew:.0f} MB")
    assert grew < GROWTH_MB
    assert server.proc.poll() is None


async def _photos(server: Server) -> float:
    tabs = await _sessions(server, 5, "conv")
    try:
        for t in tabs:
            await t.set({t.widget("input", "radio"): ("string_value", "webcam photo")}, timeout=120)
        good, bad = tabs[0], tabs[1:]
        buf = io.BytesIO()
        Image.new("RGB", (1280, 720), (90, 120, 200)).save(buf, "JPEG")
        await good.upload(good.widget("take a photo", "camera_input"), "image.jpg", buf.getvalue(), "image/jpeg")
        assert _says(good, "Output size") and not _says(good, "refused"), good.texts
        with Growth(server) as g:
            await asyncio.gather(
                *(t.upload(t.widget("take a photo", "camera_input"), "image.jpg", BOMB, "image/jpeg") for t in bad)
            )
        for t in bad:
            assert _says(t, "The webcam photo", "169.0 megapixels"), t.texts
        return g.mb
    finally:
        await _close(tabs)


def test_four_webcam_photos_of_169_megapixels_at_once_are_refused_before_decoding(server):
    grew = asyncio.run(_photos(server))
    print(f"four webcam-photo bombs at once: the server grew {grew:.0f} MB")
    assert grew < GROWTH_MB
    assert server.proc.poll() is None


def _blocks(t: Session) -> str:
    """The id of the initialisation lab's conv-block table (its key ends the id Streamlit gives a widget)."""
    for _, _, wid in t.view.values():
        if wid.endswith("i_i_t_cnn_blocks"):
            return wid
    raise KeyError(f"no block table on the page {t.page!r}")


async def _lab(server: Server, channels: list[int]) -> tuple[float, list[Session]]:
    tabs = await _sessions(server, len(channels), "inside", "tab=" + urllib.parse.quote("Initialisation lab"))
    with Growth(server) as g:  # one conv block of c channels, kernel 1, in the lab's block table (a data editor)
        await asyncio.gather(
            *(
                t.set(
                    {
                        _blocks(t): (
                            "string_value",
                            json.dumps(
                                {
                                    "edited_rows": {"0": {"channels": c, "kernel": 1}},
                                    "added_rows": [],
                                    "deleted_rows": [1, 2],
                                }
                            ),
                        )
                    },
                    timeout=300,
                )
                for t, c in zip(tabs, channels)
            )
        )
    return g.mb, tabs


def test_four_initialisation_labs_too_large_for_the_budget_are_refused_and_four_large_ones_take_turns(server):
    async def scenario() -> tuple[float, float]:
        refused, tabs = await _lab(server, [600, 599, 598, 597])  # cached per setting: four different ones
        try:
            for t in tabs:
                assert _says(t, "PLAYGROUND_INITLAB_MB"), t.texts
        finally:
            await _close(tabs)
        measured, tabs = await _lab(server, [96, 97, 98, 99])  # fit on fewer images than 256
        try:
            for t in tabs:
                assert _says(t, "on one batch of", "training images"), t.texts
                assert not _says(t, "on one batch of 256 training images"), t.texts
        finally:
            await _close(tabs)
        return refused, measured

    refused, measured = asyncio.run(scenario())
    print(
        f"four lab models over the budget at once: the server grew {refused:.0f} MB; four within it "
        f"(measured on fewer images, one at a time): {measured:.0f} MB"
    )
    assert refused < GROWTH_MB and measured < GROWTH_MB
    assert server.proc.poll() is None


def _slow_zip() -> bytes:
    """50 PNG images of 6,300 x 6,300 grey (~40 kB each, as dense as PNG's deflate gets; 40 megapixels to
    decode each, ~1 s of CPU; 1,985 megapixels together, under the folder cap): a zip of ~2 MB that takes
    about a minute to read."""
    buf = io.BytesIO()
    Image.new("L", (6300, 6300), 30).save(buf, "PNG")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for i in range(50):
            z.writestr(f"{'ab'[i % 2]}/{i}.png", buf.getvalue())
    return out.getvalue()


def test_four_slow_archives_at_once_stop_at_the_time_budget_and_take_turns_in_memory(server):
    data = _slow_zip()

    async def scenario() -> float:
        tabs = await _sessions(server, 4, "data")
        try:
            for t in tabs:
                await t.set({t.widget("data set", "selectbox"): ("string_value", "image_folder")}, timeout=120)
            with Growth(server) as g:
                await asyncio.gather(
                    *(
                        t.upload(
                            t.widget("upload a .zip with one folder per class", "file_uploader"),
                            "slow.zip",
                            data,
                            "application/zip",
                            timeout=300,
                        )
                        for t in tabs
                    )
                )
            for t in tabs:
                assert _says(t, "PLAYGROUND_MAX_UNPACK_SECONDS"), t.texts
            return g.mb
        finally:
            await _close(tabs)

    grew = asyncio.run(scenario())
    print(f"four slow archives at once ({len(data) // 1024} kB each): the server grew {grew:.0f} MB")
    assert grew < GROWTH_MB
    assert server.proc.poll() is None
