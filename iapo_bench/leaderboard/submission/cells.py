"""The cell layer of the board's CSV files: formula escaping, exact cells, whole-file writes.

Every CSV file the board writes (submissions in canonical form, stored summaries,
``leaderboard.csv``) writes its cells through :func:`csv_cell`, so a text cell that a
spreadsheet would run as a formula is made inert (:func:`escape_cell`) and numbers are
written exactly; reading a submission applies :func:`unescape_cell` to every cell.

>>> csv_cell(0.1), csv_cell(float("nan")), csv_cell(None), csv_cell("=1+1")
('0.1', '', '', "'=1+1")
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Any

__all__ = ["atomic_text", "csv_cell", "escape_cell", "unescape_cell"]

_FORMULA_START = frozenset("=+-@\t\r")


def escape_cell(text: str) -> str:
    """``text`` made inert for spreadsheets; :func:`unescape_cell` gives it back.

    A leading apostrophe goes before a cell starting with ``=``, ``+``, ``-``, ``@``, a tab
    or a carriage return, and before one that already starts with an apostrophe followed by
    one of those or by another apostrophe, so that unescaping is exact.

    >>> escape_cell("@cmd"), escape_cell("'=x"), escape_cell("plain"), escape_cell("'ok")
    ("'@cmd", "''=x", 'plain', "'ok")
    """
    if text[:1] in _FORMULA_START or unescape_cell(text) != text:
        return "'" + text
    return text


def unescape_cell(text: str) -> str:
    """The cell's text before :func:`escape_cell`: one such leading apostrophe dropped.

    >>> unescape_cell("'-1"), unescape_cell("''=x"), unescape_cell("'ok")
    ('-1', "'=x", "'ok")
    """
    if text[:1] == "'" and (text[1:2] in _FORMULA_START or text[1:2] == "'"):
        return text[1:]
    return text


def csv_cell(value: Any) -> str:
    """A value as a CSV cell: numbers exactly (``repr``), None and NaN empty, text escaped."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    return escape_cell(str(value))


class atomic_text:  # a context manager used like open(), hence the lower-case name
    """Write a text file whole or not at all: a temporary file beside it, then a rename."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(f".{path.name}.{os.getpid()}.partial")

    def __enter__(self) -> io.TextIOWrapper:
        self.handle = self.partial.open("w", encoding="utf-8", newline="")
        return self.handle

    def __exit__(self, kind: object, *rest: object) -> None:
        self.handle.close()
        if kind is None:
            self.partial.replace(self.path)
        else:
            self.partial.unlink(missing_ok=True)
