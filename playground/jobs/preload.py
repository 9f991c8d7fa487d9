"""Imported once, by the fork server every worker process is forked from (``workers.context``): the
default data set (``shapes``, drawn anew per process: 1.7 s of a core for its 10,000 images on a quiet
2-core machine, about 6 s on a busy one) is drawn here, before any worker exists, so every run on it
finds it in the process cache it inherits (copy-on-write, about 31 MB shared) instead of drawing it
again while it holds a training slot.

It draws in a thread of its own at the workers' priority (``PLAYGROUND_WORKER_NICE``; on Linux a thread's
niceness is its own): at a server's cold start the server's warm-up draws the same data set for its pages,
and a class waits for that one. The fork server itself, and every worker it forks, keep their priority.

A failure here must never take the fork server down (every job needs it): it is reported and left,
and a worker then draws the data set itself, as it would without this module.
"""

from __future__ import annotations

import os
import sys
import threading

import torch

from ..config import DataConfig
from ..data import load_dataset
from ..settings import settings


def _draw_default() -> None:
    threads = torch.get_num_threads()
    # One thread: no OpenMP thread pool exists in the fork server when the workers are forked from it
    # (a pool does not survive a fork); each worker sets its own thread count.
    torch.set_num_threads(1)
    try:
        d = DataConfig()  # loaded as plan.prepare loads it, so the run's lookup finds this very entry
        load_dataset(d.dataset, root=d.data_root, download=d.download, **dict(d.params))
    except Exception as e:
        print(f"playground: the fork server could not preload {DataConfig().dataset!r} ({e})", file=sys.stderr)
    finally:
        torch.set_num_threads(threads)


def _below_the_server() -> None:
    if sys.platform.startswith("linux"):  # elsewhere a thread id is no process id: the draw keeps its priority
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + settings().worker_nice)
        except Exception:
            pass
    _draw_default()


_drawing = threading.Thread(target=_below_the_server, name="preload-shapes")
_drawing.start()
_drawing.join()
