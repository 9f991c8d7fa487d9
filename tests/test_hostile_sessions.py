"""Live sessions counted per client address (issue 28), against one real ``streamlit run`` server spoken to
as a browser does (``benchmarks/st_protocol.py``, a proxy's X-Forwarded-For in the handshake, no cookie: a
new session on every connection): with PLAYGROUND_MAX_SESSIONS_PER_ADDRESS=3, a fourth tab from one address
sees why and what to do and nothing else; another address is not affected; a tab that closes stops counting,
so the refused tab's "Try again" (and a new tab) gets in. The book itself (``playground.sessions``) is
tested in memory below."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.load_test import Server
from benchmarks.st_protocol import Session
from playground.sessions import SessionBook

pytestmark = pytest.mark.server

SAYS = "PLAYGROUND_MAX_SESSIONS_PER_ADDRESS"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"PLAYGROUND_MAX_SESSIONS_PER_ADDRESS": "3", "PLAYGROUND_CLIENT_ADDRESS_HEADER": "X-Forwarded-For"}
    with Server(tmp_path_factory.mktemp("sessions"), env=env) as s:
        yield s


async def _tab(server: Server, address: str) -> Session:
    tab = Session(server.url, headers={"X-Forwarded-For": f"192.0.2.1, {address}"})
    await tab.__aenter__()
    await tab.open("conv", timeout=120)
    return tab


def _refused(tab: Session) -> bool:
    said = any(SAYS in t and "Close some other tabs" in t and "teacher" in t for t in tab.texts)
    if said:  # nothing else ran: the message and its button, no page, no sidebar
        assert set(tab.buttons) == {"Try again"} and len(tab.view) == 2, tab.view
    return said


async def _let_in(tab: Session, tries: int = 50) -> bool:
    """Press Try again until the tab is let in (the server learns of a closed tab when its socket closes)."""
    for _ in range(tries):
        if not _refused(tab):
            return True
        await tab.click("Try again", timeout=120)
        await asyncio.sleep(0.2)
    return not _refused(tab)


def test_a_tab_over_the_cap_of_its_address_sees_why_and_gets_in_when_another_closes(server):
    async def scenario() -> None:
        tabs = [await _tab(server, "10.0.0.50") for _ in range(3)]
        assert not any(_refused(t) for t in tabs), [t.texts[-3:] for t in tabs]
        extra = await _tab(server, "10.0.0.50")
        assert _refused(extra), extra.texts
        other = await _tab(server, "10.0.0.51")  # a classmate on another address is not affected
        assert not _refused(other), other.texts
        await tabs[0].__aexit__(None, None, None)  # a tab closes: it stops counting
        assert await _let_in(extra)
        late = await _tab(server, "10.0.0.50")  # three live again: the next one waits
        assert _refused(late)
        for t in tabs[1:]:
            await t.__aexit__(None, None, None)
        assert await _let_in(late)
        again = await _tab(server, "10.0.0.50")  # extra, late and this one: three
        assert not _refused(again), again.texts
        for t in (extra, other, late, again):
            await t.__aexit__(None, None, None)
        assert not any("Traceback" in e for t in (extra, late, again) for e in t.exceptions)

    asyncio.run(scenario())
    assert "Traceback" not in server.log_path.read_text(errors="replace")


def test_the_book_counts_live_sessions_per_address_and_forgets_ended_ones():
    book, live = SessionBook(), set()

    def alive(key: str) -> bool:
        return key in live

    for k in ("a", "b", "c"):
        live.add(k)
        assert book.admit(k, "10.0.0.7", alive, cap=3)
    live.add("d")
    assert not book.admit("d", "10.0.0.7", alive, cap=3)  # refused, and not counted
    assert book.admit("x", "10.0.0.8", alive, cap=3)  # another address has its own room
    assert book.admit("a", "10.0.0.7", alive, cap=3)  # let in already: its next run goes on
    live.discard("a")  # a tab closed
    assert book.admit("d", "10.0.0.7", alive, cap=3)
    assert book.count("10.0.0.7") == 3
    live -= {"b", "c", "d", "x"}
    assert book.admit("e", "10.0.0.7", alive, cap=3)
    assert book.count("10.0.0.7") == 1 and book.count("10.0.0.8") == 0  # the ended ones are gone: no leak
    assert book.admit("f", "10.0.0.9", alive, cap=0) and book.count("10.0.0.9") == 0  # 0: no limit, nothing kept
