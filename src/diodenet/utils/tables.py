"""CSV files with a header row, read with errors a user can act on.

The one CSV reader behind ``diodenet simulate/gradient --inputs/--targets``
and ``diodenet train --csv``. Its rules:

* a regular file (never a FIFO or a device) of at most ``MAX_CSV_BYTES``;
* UTF-8, with or without a byte-order mark (spreadsheets often write one);
* blank lines are skipped, but line numbers in errors are the file's own;
* the first non-blank line is the header: names stripped of white space,
  non-empty, and unique *ignoring case* (names are case-insensitive
  throughout diodenet, as in SPICE); they keep the case they were written in;
* every data row has as many cells as the header.

Each problem raises the caller's error type with one line that starts with
``prefix`` (the file, and what it is for) and names the line and column.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .._files import read_text_file

Error = Callable[[str], Exception]

#: Largest CSV diodenet reads (bytes).
MAX_CSV_BYTES = 1_000_000_000


@dataclass
class CsvTable:
    """A CSV's header and data rows. ``rows`` holds ``(line number, cells)``
    (1-based, as an editor shows them); ``header_line`` is the header's line."""

    prefix: str
    header: list[str]
    header_line: int
    rows: list[tuple[int, list[str]]]
    error: Error

    @property
    def lowered(self) -> list[str]:
        """The header names in lower case (for case-insensitive lookups)."""
        return [h.lower() for h in self.header]

    def fail(self, message: str, line: int | None = None, column: str | None = None) -> Exception:
        """The error to raise, ``prefix: line L, column 'c': message``."""
        where = "" if line is None else f"line {line}" + (
            "" if column is None else f", column {column!r}")
        return self.error(f"{self.prefix}: {where}: {message}" if where
                          else f"{self.prefix}: {message}")

    def number(self, line: int, column: str, cell: str) -> float:
        """``cell`` as a finite float; an empty, non-numeric or infinite cell is an error."""
        text = cell.strip()
        if not text:
            raise self.fail("missing value", line, column)
        try:
            x = float(text)
        except ValueError:
            raise self.fail(f"{text!r} is not a number", line, column) from None
        if not math.isfinite(x):
            raise self.fail(f"{text!r} is not finite", line, column)
        return x


def read_csv_table(path: str | Path, prefix: str, error: Error) -> CsvTable:
    """Read ``path`` by the rules above; ``prefix`` starts every error message."""
    try:  # opened without blocking, size-bounded; decoding errors are OSErrors too
        text = read_text_file(path, max_bytes=MAX_CSV_BYTES, encoding="utf-8-sig")
    except OSError as exc:
        raise error(f"{prefix}: {exc.strerror or exc}") from None
    numbered = [(i + 1, r) for i, r in enumerate(csv.reader(text.splitlines()))
                if any(c.strip() for c in r)]
    if not numbered:
        raise error(f"{prefix}: the file is empty (expected a header row)")
    header_line, raw = numbered[0]
    header = [h.strip() for h in raw]
    lowered = [h.lower() for h in header]
    if any(not h for h in header) or len(set(lowered)) != len(lowered):
        raise error(f"{prefix}: line {header_line}: header needs unique, non-empty names "
                    f"(case is ignored), got {', '.join(repr(h) for h in header)}")
    table = CsvTable(prefix, header, header_line, numbered[1:], error)
    for line, row in table.rows:
        if len(row) != len(header):
            raise table.fail(f"{len(row)} values, header has {len(header)}", line)
    if not table.rows:
        raise error(f"{prefix}: no data rows after the header")
    return table
