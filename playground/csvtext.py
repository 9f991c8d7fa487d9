"""CSV text as every download and export writes it (a run's metrics, the class's results): one writer, so
a cell a spreadsheet would run as a formula is quoted in all of them alike."""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["FORMULA_STARTS", "csv_text", "safe_cell"]

# What Excel, LibreOffice and Sheets read as the start of a formula (OWASP "CSV injection"): a student's run
# name "=HYPERLINK(...)" or a crafted metrics line must reach the spreadsheet as text, not run there.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(v: Any) -> Any:
    """A CSV cell: None is empty; text that starts like a formula gets a leading ``'`` (numbers are left as
    they are: -0.5 is a number, not a formula)."""
    if v is None:
        return ""
    return "'" + v if isinstance(v, str) and v[:1] in FORMULA_STARTS else v


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """``rows`` as CSV with a header of ``columns``, in that order (a key a row lacks is an empty cell, a key
    not in ``columns`` is left out); header and cells pass through ``safe_cell``."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([safe_cell(c) for c in columns])
    for row in rows:
        w.writerow([safe_cell(row.get(c)) for c in columns])
    return out.getvalue()
