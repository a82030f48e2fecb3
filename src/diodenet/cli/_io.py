"""Reading the CLI's CSV files and netlists, with errors a user can act on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..utils.tables import read_csv_table
from .errors import UserError


def read_csv_matrix(path: str | Path, what: str = "inputs") -> tuple[list[str], np.ndarray]:
    """A numeric CSV with a header row: ``(lower-case column names, values)``.

    The rules are ``diodenet.utils.read_csv_table``'s; raises ``UserError``
    naming the file, line and column of any problem.
    """
    table = read_csv_table(path, f"{what} CSV {path}", UserError)
    values = [[table.number(line, name, cell) for name, cell in zip(table.header, row)]
              for line, row in table.rows]
    return table.lowered, np.array(values, dtype=np.float64)


def load_circuit(path: str | Path, includes: tuple[str, ...] = ()):
    """Read a netlist; any netlist error becomes one line naming the file and line."""
    from ..circuits import Circuit

    try:
        return Circuit.read(path, includes=includes)
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from exc


def split_names(text: str) -> list[str]:
    return [t.strip().lower() for t in text.split(",") if t.strip()]
