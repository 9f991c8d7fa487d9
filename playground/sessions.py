"""Live sessions counted per client address (PLAYGROUND_MAX_SESSIONS_PER_ADDRESS): a client that sends no
cookie gets a new session on every connection, and each live session holds memory in the server; runs and
uploads are already counted per address, and this counts the sessions themselves.

``SessionBook`` is a process-level object (``session_book()``), not a Streamlit cache entry (any client can
clear those). It keeps, in memory only, the sessions it let in and their client's address; the key is
whatever the frame names a session by (Streamlit's own id of the connection), never written, logged or
shown. A session counts from the moment it is let in until it is no longer alive: each time a new session
asks, those that ``alive`` says have ended (their tab closed, their connection gone) are forgotten first, so
the count follows the sessions that are open and nothing leaks. A session refused is not counted: when
another closes, its next run may be let in.
"""

from __future__ import annotations

import threading
from typing import Callable

from .settings import settings

__all__ = ["SessionBook", "session_book", "too_many_message"]


class SessionBook:
    """The live sessions let in, by client address."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._address: dict[str, str] = {}  # session key -> its client's address

    def admit(self, key: str, address: str, alive: Callable[[str], bool], cap: int | None = None) -> bool:
        """Whether session ``key`` from ``address`` may run: it was let in already, or fewer than ``cap``
        (default: PLAYGROUND_MAX_SESSIONS_PER_ADDRESS; 0: no limit) sessions from its address are alive (as
        ``alive(key)`` says) now. Let in, it counts until it has ended."""
        cap = settings().max_sessions_per_address if cap is None else cap
        with self._lock:
            if key in self._address:
                return True
            if not cap:
                return True  # nothing counted: no limit
            for k in [k for k in self._address if not alive(k)]:
                del self._address[k]
            if sum(1 for a in self._address.values() if a == address) >= cap:
                return False
            self._address[key] = address
            return True

    def count(self, address: str) -> int:
        """Sessions from ``address`` let in and not yet found ended (tests, the load test)."""
        with self._lock:
            return sum(1 for a in self._address.values() if a == address)


_book = SessionBook()


def session_book() -> SessionBook:
    """The process's one book of live sessions."""
    return _book


def too_many_message(cap: int) -> str:
    """What a session over the cap sees: why, and what to do."""
    return (
        f"Too many tabs are open from your network address: this server lets {cap} sessions from one address "
        "run at once (PLAYGROUND_MAX_SESSIONS_PER_ADDRESS). Close some other tabs of the playground, then "
        "press Try again; in a classroom where many students share one address, ask the teacher to raise "
        "the setting."
    )
