"""Identity against one real ``streamlit run`` server, spoken to as a browser does (Streamlit's websocket
protocol, ``benchmarks/st_protocol.py``, with the cookie and a proxy's X-Forwarded-For in the handshake):

* the session's token (the cookie) appears in no file or folder name of the run store or the uploads, in
  no file's content, in the server's log, in the page's address or in anything the page shows; what names
  the session (its id) grants nothing: a classmate who puts it, or a link, in their cookie controls nothing;
* the owner's own cookie, in a new tab, controls the run (the session's authority comes from it alone);
* uploads from before ids (a folder named by the token) move to the id's folder and stay the session's;
* twenty wrong teacher keys from one client lock out that client, never the teacher on another;
* a client that sends no cookie (a new session every time) gets no more runs than its address may have,
  and the teacher stops every run of one session and clears the queue.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import secrets
import zipfile
from pathlib import Path

import pytest

from benchmarks.load_test import Server
from benchmarks.st_protocol import Session
from playground.config import RunConfig

pytestmark = pytest.mark.server

LONG = RunConfig().replace(
    data={"params": {"n_train": 2000, "n_test": 200}},
    model={"params": {"channels": [8], "fc": [16]}},
    train={"epochs": 200, "batch_size": 32, "log_every": 5},
)
KEY = "teacher-" + secrets.token_urlsafe(12)
REFUSED = "This page is for the teacher"


def _cookie(token: str, address: str = "10.0.0.5") -> dict[str, str]:
    return {"Cookie": f"playground_session={token}", "X-Forwarded-For": f"192.0.2.1, {address}"}


def _everything(root: Path) -> str:
    """Every file and folder name under ``root`` and every file's content, as text."""
    out = []
    for p in root.rglob("*"):
        out.append(str(p.relative_to(root)))
        if p.is_file():
            out.append(p.read_bytes().decode("latin-1"))
    return "\n".join(out)


def _zip() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for c, colour in (("cats", 40), ("dogs", 200)):
            for i in range(6):
                im = io.BytesIO()
                Image.new("L", (16, 16), colour + i).save(im, "PNG")
                z.writestr(f"{c}/{i}.png", im.getvalue())
    return buf.getvalue()


def _runs(server: Server) -> list[Path]:
    return [p for p in server.runs.iterdir() if p.is_dir()] if server.runs.exists() else []


async def _until_run(server: Server, timeout: float = 60) -> Path:
    for _ in range(int(timeout * 10)):
        if _runs(server):
            return _runs(server)[0]
        await asyncio.sleep(0.1)
    raise AssertionError("no run was created")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("identity")
    legacy = work / "up" / LEGACY / "dataset-0123456789ab" / "cats"
    legacy.mkdir(parents=True)
    (legacy / "1.png").write_bytes(b"an upload from before session ids")
    env = {
        "PLAYGROUND_CLASSROOM": "1",
        "PLAYGROUND_MAX_JOBS": "1",
        "PLAYGROUND_TEACHER_KEY": KEY,
        "PLAYGROUND_CLIENT_ADDRESS_HEADER": "X-Forwarded-For",
        "PLAYGROUND_MAX_RUNS_PER_ADDRESS": "2",
    }
    with Server(work, env=env) as s:
        yield s


TOKEN = secrets.token_urlsafe(16)
LEGACY = secrets.token_urlsafe(16)


def test_the_token_is_in_no_path_file_link_or_page_and_the_id_grants_nothing(server):
    sid = hashlib.sha256(TOKEN.encode()).hexdigest()

    async def scenario() -> None:
        async with Session(server.url, headers=_cookie(TOKEN)) as alice:
            await alice.open("data")
            await alice.set({alice.widget("data set", "selectbox"): ("string_value", "image_folder")})
            await alice.upload(
                alice.widget("upload a .zip with one folder per class", "file_uploader"),
                "pets.zip",
                _zip(),
                "application/zip",
            )
            assert any("using your upload" in t for t in alice.texts), alice.texts
            assert TOKEN not in "\n".join(alice.texts)
            await alice.open("train", f"cfg={LONG.to_url()}")
            await alice.click("Start training")
            run = await _until_run(server)
            await alice.open("train", alice.query)
            assert "Stop" in alice.buttons, alice.buttons
            seen = "\n".join([alice.query, *alice.texts, *(t for _, t, _ in alice.view.values())])
            assert TOKEN not in seen
        assert (run / "owner.sha256").read_text().strip() == sid  # what older runs kept: still the session's
        for token in (sid, sid[:22], run.name):  # the id, a token-shaped part of it, a link's run id
            async with Session(server.url, headers=_cookie(token, "10.0.0.6")) as mallory:
                await mallory.open("train", f"run={run.name}")
                assert "Stop" not in mallory.buttons and "Pause" not in mallory.buttons, mallory.buttons
        async with Session(server.url, headers=_cookie(TOKEN)) as again:  # a new tab of the owner's browser
            await again.open("train", f"run={run.name}")
            assert "Stop" in again.buttons, again.buttons
            await again.click("Stop")

    asyncio.run(scenario())
    for root in (server.runs, server.workdir / "up"):
        assert TOKEN not in _everything(root)
    assert TOKEN not in server.log_path.read_text(errors="replace")


def test_uploads_named_by_a_token_move_to_the_sessions_id(server):
    async def scenario() -> None:
        async with Session(server.url, headers=_cookie(LEGACY, "10.0.0.7")) as bob:
            await bob.open("data")

    asyncio.run(scenario())
    up = server.workdir / "up"
    assert not (up / LEGACY).exists()
    moved = up / hashlib.sha256(LEGACY.encode()).hexdigest() / "dataset-0123456789ab" / "cats" / "1.png"
    assert moved.read_bytes() == b"an upload from before session ids"


def test_wrong_teacher_keys_lock_out_their_client_never_the_teacher(server):
    async def guess(i: int) -> bool:
        async with Session(server.url, headers={"X-Forwarded-For": "10.0.0.66"}) as s:  # no cookie: a new session
            await s.open("teacher", f"key=guess-{i}", timeout=120)
            return any(REFUSED in t for t in s.texts)

    async def scenario() -> None:
        for batch in range(4):
            assert all(await asyncio.gather(*(guess(batch * 5 + i) for i in range(5))))
        async with Session(server.url, headers={"X-Forwarded-For": "10.0.0.66"}) as s:
            await s.open("teacher", f"key={KEY}")
            assert any(REFUSED in t for t in s.texts), "the guessing client is locked out, the right key too"
        async with Session(server.url, headers={"X-Forwarded-For": "10.0.0.1"}) as teacher:
            await teacher.open("teacher", f"key={KEY}")
            assert not any(REFUSED in t for t in teacher.texts), teacher.texts
            assert "Class results (.csv)" in [t for _, t, _ in teacher.view.values()], teacher.view

    asyncio.run(scenario())


def _events(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def test_cookieless_sessions_get_no_more_runs_than_their_address_and_the_teacher_stops_them(server):
    async def start(i: int) -> list[str]:
        async with Session(server.url, headers={"X-Forwarded-For": "10.0.0.99"}) as s:  # no cookie: new session
            await s.open("train", f"cfg={LONG.replace(train={'seed': i}).to_url()}", timeout=120)
            await s.click("Start training")
            return s.texts

    async def scenario() -> None:
        before = set(_runs(server))
        for i in range(2):
            await start(i)
        refused = await start(2)
        assert any("PLAYGROUND_MAX_RUNS_PER_ADDRESS" in t for t in refused), refused
        mine = [r for r in _runs(server) if r not in before]
        assert len(mine) == 2  # the refused one left no folder
        async with Session(server.url, headers={"X-Forwarded-For": "10.0.0.1"}) as teacher:
            await teacher.open("teacher", f"key={KEY}")
            await teacher.click("Clear the queue")
            await teacher.click("Stop all its runs")
            await teacher.click("Stop all its runs")  # the other session, the first in the list now
        for _ in range(600):
            if all(any(e["kind"] == "stopped" for e in _events(r)) for r in mine):
                break
            await asyncio.sleep(0.1)
        assert all(any(e["kind"] == "stopped" for e in _events(r)) for r in mine), [_events(r)[-1:] for r in mine]

    asyncio.run(scenario())
