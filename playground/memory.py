"""The server's memory under many sessions at once: large images take turns, and freed heap goes back.

Each Streamlit session runs its page in a thread of its own, and glibc keeps a heap per thread: memory one
session's thread freed stays with that thread, so a few sessions decoding large images at once add up even
when each frees what it used. ``decoding_slot`` lets only LARGE_AT_ONCE images over LARGE_PIXELS decode
at a time in the process and gives the freed heap back afterwards (``trim_heap``: glibc's malloc_trim)."""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from contextlib import contextmanager
from typing import Iterator

__all__ = ["LARGE_PIXELS", "LARGE_AT_ONCE", "decoding_slot", "trim_heap"]

LARGE_PIXELS = 4_000_000  # an image over this decodes in one of LARGE_AT_ONCE slots of the process
LARGE_AT_ONCE = 1
_large = threading.BoundedSemaphore(LARGE_AT_ONCE)


def trim_heap() -> None:
    """Give the freed heap of every thread back to the system (glibc's malloc_trim; nothing elsewhere)."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@contextmanager
def decoding_slot(pixels: int) -> Iterator[None]:
    """Hold one of the process's slots while an image over LARGE_PIXELS is decoded and shrunk: sessions
    sending large images at once take turns instead of adding up their memory; the heap is trimmed after."""
    if pixels <= LARGE_PIXELS:
        yield
        return
    with _large:
        try:
            yield
        finally:
            trim_heap()
