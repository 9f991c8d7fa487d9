"""Short anonymous names for sessions: the teacher sees "brave-otter-17", never a session's token.

A name is an HMAC of the session's owner token under a secret this server process draws at start
(``secrets``), so it is stable for a session while the server runs, differs between sessions, and
cannot be turned back into the token (nor guessed from it by someone who lacks the secret). A new
server draws a new secret, so names do not follow a student across restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from ..runs import owner_digest

__all__ = ["Namer", "ADJECTIVES", "ANIMALS", "NO_SESSION"]

ADJECTIVES = (
    "agile",
    "amber",
    "bold",
    "brave",
    "bright",
    "brisk",
    "calm",
    "clever",
    "cosmic",
    "crisp",
    "curious",
    "daring",
    "deft",
    "eager",
    "early",
    "fair",
    "fancy",
    "fast",
    "fierce",
    "fluffy",
    "gentle",
    "giddy",
    "glad",
    "golden",
    "grand",
    "happy",
    "hardy",
    "humble",
    "jolly",
    "keen",
    "kind",
    "lively",
    "lucky",
    "lunar",
    "merry",
    "mighty",
    "misty",
    "nimble",
    "noble",
    "plucky",
    "polar",
    "proud",
    "quick",
    "quiet",
    "rapid",
    "rosy",
    "rustic",
    "shiny",
    "silent",
    "silver",
    "sleek",
    "sly",
    "snowy",
    "solar",
    "spry",
    "steady",
    "sunny",
    "swift",
    "tidy",
    "vivid",
    "warm",
    "wild",
    "wise",
    "witty",
)
ANIMALS = (
    "alpaca",
    "badger",
    "beaver",
    "bison",
    "bobcat",
    "camel",
    "cheetah",
    "cobra",
    "condor",
    "coyote",
    "crane",
    "dingo",
    "dolphin",
    "eagle",
    "falcon",
    "ferret",
    "finch",
    "gecko",
    "gibbon",
    "heron",
    "hyena",
    "ibex",
    "ibis",
    "jackal",
    "jaguar",
    "koala",
    "lemur",
    "llama",
    "lynx",
    "magpie",
    "marmot",
    "mole",
    "moose",
    "newt",
    "ocelot",
    "orca",
    "osprey",
    "otter",
    "owl",
    "panda",
    "parrot",
    "pelican",
    "penguin",
    "puffin",
    "quail",
    "rabbit",
    "raven",
    "robin",
    "salmon",
    "seal",
    "shark",
    "sloth",
    "stork",
    "swan",
    "tapir",
    "tiger",
    "toucan",
    "turtle",
    "walrus",
    "weasel",
    "whale",
    "wolf",
    "wombat",
    "zebra",
)
NO_SESSION = "—"  # a run no session started (the CLI), or from before sessions were recorded


class Namer:
    """Owner token -> "adjective-animal-NN" (64 x 64 x 100 names: two of 30 sessions share one in about one class
    of 940). Thread-safe: it holds only the secret."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def name(self, owner: str | None) -> str:
        """The name of the session with this token (NO_SESSION for none)."""
        return self.name_digest(owner_digest(owner) if owner else None)

    def name_digest(self, digest: str | None) -> str:
        """The same name from what a run keeps of its token (``Run.owner_digest``): runs on disk from before a
        restart of the session's browser get the name its live runs have."""
        if not digest:
            return NO_SESSION
        d = hmac.new(self._secret, digest.encode(), hashlib.sha256).digest()
        n = int.from_bytes(d[:8], "big")
        return f"{ADJECTIVES[n % len(ADJECTIVES)]}-{ANIMALS[(n >> 8) % len(ANIMALS)]}-{(n >> 16) % 100:02d}"
