"""The Teacher page's core: the class table (every run of every session, under anonymous session names),
the leaderboard, the queue, the machine's occupancy, the class's results as CSV, and the key that opens
the page (``access``). Streamlit-free, like all of ``playground``; ``app_pages/teacher.py`` draws it.

    from playground.teacher import class_table, Namer, gate
    rows = class_table(manager(), Namer())
"""

from .access import REFUSED, KeyGate, gate, reset_gate
from .machine import machine, projector_figure
from .names import NO_SESSION, Namer
from .table import CSV_COLUMNS, LIVE, RunRow, class_table, describe, leaderboard, queue, results_csv

__all__ = [
    "REFUSED",
    "KeyGate",
    "gate",
    "reset_gate",
    "machine",
    "projector_figure",
    "NO_SESSION",
    "Namer",
    "namer",
    "CSV_COLUMNS",
    "LIVE",
    "RunRow",
    "class_table",
    "describe",
    "leaderboard",
    "queue",
    "results_csv",
]

_namer = Namer()


def namer() -> Namer:
    """The server's namer: one secret per server process, so a session keeps its name while the server runs."""
    return _namer
