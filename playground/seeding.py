"""Seeded draws from torch's global generator, one thread at a time.

Layer constructors and ``torch.nn.init`` draw from the global generator; two runs built at the
same time in two threads of one server would interleave their draws (same seed, different
weights). ``seeded(seed)`` builds under a lock with the generator forked, so every model built
with a seed gets the same weights whatever else the server is doing, and the state outside the
block is left as it was.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import torch

__all__ = ["seeded"]

_GLOBAL_RNG = threading.RLock()


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    with _GLOBAL_RNG, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
