"""Who opens the Teacher page: the teacher key (``PLAYGROUND_TEACHER_KEY``; unset, the page is closed to
everyone), checked in constant time, with attempts rate-limited.

Every refusal is the same message (``REFUSED``): a missing key, a wrong one, a closed page and a locked-out
session read alike, so a refusal says nothing about which part was wrong. A session that fails
``per_session`` times within ``window_s`` seconds is refused every attempt, the right key too, for
``lockout_s``; a client (its address: ``st.context.ip_address``, or the proxy's header,
PLAYGROUND_CLIENT_ADDRESS_HEADER) that fails ``per_client`` times within the window, whichever sessions it
used (a client that reconnects for every guess), is locked out the same way. A lockout is never global:
other clients' guesses never refuse the teacher, whose right key works from any client not locked out
itself. A session already let in keeps a pass (an HMAC of the key under this process's secret, so a
session's state never holds the key itself) and is not affected by a lockout. Thread-safe: one gate
serves every session of the server; memory stays bounded (counts older than the window are dropped).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from typing import Callable

from ..settings import settings

__all__ = ["KeyGate", "REFUSED", "gate", "reset_gate"]

REFUSED = "This page is for the teacher. Open it with the teacher's link, or type the teacher's key."


def _configured_key() -> str | None:
    return settings().teacher_key


class KeyGate:
    def __init__(
        self,
        per_session: int = 5,
        per_client: int = 20,
        window_s: float = 60.0,
        lockout_s: float = 120.0,
        key: Callable[[], str | None] = _configured_key,
        clock: Callable[[], float] = time.monotonic,
        secret: bytes | None = None,
    ) -> None:
        self.per_session, self.per_client = per_session, per_client
        self.window_s, self.lockout_s = window_s, lockout_s
        self._key, self._clock = key, clock
        self._secret = secret or secrets.token_bytes(32)
        self._lock = threading.Lock()
        # ("s", session) or ("c", client address) -> times of its recent failures, and its lockout's end
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._locked_until: dict[tuple[str, str], float] = {}

    def _digest(self, text: str) -> bytes:
        # Both sides hashed to one length first, so the comparison reveals nothing about the key's length.
        return hmac.new(self._secret, b"key:" + text.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()

    def _who(self, session: str, client: str | None) -> list[tuple[tuple[str, str], int]]:
        return [(("s", session), self.per_session)] + ([(("c", client), self.per_client)] if client else [])

    def check(self, given: str | None, session: str, client: str | None = None) -> bool:
        """Whether ``given`` opens the page for ``session`` on ``client`` (its address; None: unknown, only the
        session counts). An empty ``given`` is no attempt (and not counted)."""
        key = self._key()
        if not given:
            return False
        now = self._clock()
        who = self._who(session, client)
        with self._lock:
            self._forget(now)
            if any(now < self._locked_until.get(k, 0.0) for k, _ in who):
                return False
            if key and hmac.compare_digest(self._digest(given), self._digest(key)):
                self._failures.pop(("s", session), None)
                return True
            for k, limit in who:
                mine = self._failures.setdefault(k, deque())
                mine.append(now)
                if len(mine) >= limit:
                    self._locked_until[k] = now + self.lockout_s
            return False

    def _forget(self, now: float) -> None:
        """Drop failures older than the window and ended lockouts (caller holds the lock): bounded memory."""
        start = now - self.window_s
        for who in list(self._failures):
            times = self._failures[who]
            while times and times[0] < start:
                times.popleft()
            if not times:
                del self._failures[who]
        for who in [w for w, t in self._locked_until.items() if t <= now]:
            del self._locked_until[who]

    def locked(self, session: str, client: str | None = None) -> bool:
        """Whether ``session`` (on ``client``)'s attempts are refused now (tests and the server log; the page
        never says)."""
        now = self._clock()
        with self._lock:
            return any(now < self._locked_until.get(k, 0.0) for k, _ in self._who(session, client))

    def pass_token(self) -> str:
        """What a session keeps once let in: valid while the server runs with the same key."""
        key = self._key() or ""
        return hmac.new(self._secret, b"pass:" + key.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    def still_valid(self, token: str | None) -> bool:
        """A session's pass still opens the page (the key is still set and the same); no attempt counted."""
        return bool(token and self._key() and hmac.compare_digest(token.encode(), self.pass_token().encode()))


_gate: KeyGate | None = None
_gate_lock = threading.Lock()


def gate() -> KeyGate:
    """The server's one gate (a module-level object: a client's "clear cache" cannot reset the counts)."""
    global _gate
    with _gate_lock:
        if _gate is None:
            _gate = KeyGate()
        return _gate


def reset_gate() -> None:
    """Forget every count and pass (tests; a server that starts afresh)."""
    global _gate
    with _gate_lock:
        _gate = None
