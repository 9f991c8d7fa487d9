"""A session's identity apart from its name: the browser's cookie holds a secret token; everything the
server keys by session (its runs' ``owner.sha256``, its upload folder, its quotas) uses the session's id,
a one-way digest of the token, which appears in paths and grants nothing."""

from __future__ import annotations

import hashlib
import re

__all__ = ["session_id", "owner_digest"]

_SESSION_ID = re.compile(r"[0-9a-f]{64}")


_SESSION_ID = re.compile(r"[0-9a-f]{64}")


def session_id(token: str) -> str:
    """A session's public id: the SHA-256 of its secret token (the browser's cookie). Not a secret: it names
    the session's upload folder and its runs' ``owner.sha256`` (what older runs kept there is this same
    digest, so they stay the session's), and cannot be turned back into the token, so seeing it grants nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


def owner_digest(owner: str) -> str:
    """What a run keeps of the session that started it (``owner.sha256``): a session id (``session_id``) as it
    is, any other owner string (the CLI's, a test's) by its SHA-256: never a token."""
    return owner if _SESSION_ID.fullmatch(owner) else hashlib.sha256(owner.encode()).hexdigest()
