"""The CLI's input and output: CSV files and netlists read with errors a user
can act on; JSON and quantities written for scripts and for people."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..utils.numbers import is_real
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


_META = "diodenet.netlist_options"


def netlist_options(command):
    """Add ``--include``, ``--include-dir`` and ``--quiet`` to a command that reads a
    netlist; ``load_circuit`` then uses them."""
    import functools

    @click.option("--quiet", "-q", is_flag=True,
                  help="Do not print the netlist's notes (what was skipped or ignored).")
    @click.option("--include-dir", "include_dir", type=click.Path(file_okay=False),
                  help="A folder whose files the netlist may .include/.lib (relative names "
                       "only, resolved from the netlist's folder; nothing outside DIR).")
    @click.option("--include", "includes", multiple=True, type=click.Path(dir_okay=False),
                  help="A file the netlist may .include/.lib (repeatable).")
    @functools.wraps(command)
    def wrapper(*args, includes=(), include_dir=None, quiet=False, **kwargs):
        click.get_current_context().meta[_META] = (tuple(includes), include_dir, quiet)
        return command(*args, **kwargs)

    return wrapper


def read_circuit(path: str | Path, includes: tuple[str | Path, ...] = (),
                 include_dir: str | None = None) -> tuple[Any, list[str]]:
    """Read a netlist and its notes, as one line each (``FILE:LINE: note: ...``).

    An unreadable file or a netlist error raises ``UserError`` with one line naming
    the file (and the line). Nothing is printed.
    """
    import warnings

    from ..circuits.netlist import NetlistWarning, read_netlist

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NetlistWarning)
        try:
            circuit = read_netlist(path, includes=includes, include_dir=include_dir)
        except OSError as exc:
            raise UserError(f"{exc.filename or path}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise UserError(f"{path}: {exc}") from exc
    notes = [f"{path}:{w.message.line}: note: {w.message.problem}" for w in caught
             if isinstance(w.message, NetlistWarning)]
    return circuit, notes


def load_circuit(path: str | Path, includes: tuple[str, ...] = (),
                 include_dir: str | None = None, quiet: bool | None = None):
    """Read a netlist; any netlist error becomes one line naming the file and line.

    Notes (``NetlistWarning``) are printed to stderr as ``FILE:LINE: note: ...``
    unless ``--quiet``. The ``netlist_options`` of the running command apply.
    """
    ctx = click.get_current_context(silent=True)
    if ctx is not None and _META in ctx.meta:
        extra, folder, silent = ctx.meta[_META]
        includes = tuple(includes) + extra
        include_dir = include_dir or folder
        quiet = silent if quiet is None else quiet
    circuit, notes = read_circuit(path, includes, include_dir)
    if not quiet:
        for note in notes:
            click.echo(note, err=True)
    if len(circuit) == 0:  # a file of another kind reads as one title line, and nothing else
        raise UserError(f"{path}: no circuit elements after line 1 (a netlist's first line "
                        "is its title)")
    return circuit


def split_names(text: str, required: str | None = None) -> list[str]:
    """``"a, B"`` as ``["a", "b"]``; a one-line ``UserError`` when the option
    named ``required`` names nothing."""
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    if required is not None and not names:
        raise UserError(f"{required} names nothing; give a comma-separated list")
    return names


def check_positive(**values: float | None) -> None:
    """A one-line ``UserError`` for the first given option that is not > 0
    (``None``: not given, the default applies). Names are the options'
    (``batch_size`` is ``--batch-size``)."""
    _check(values, strict=True)


def check_non_negative(**values: float | None) -> None:
    """``check_positive`` for options that may be 0 (seeds, epoch counts)."""
    _check(values, strict=False)


def _check(values: dict[str, float | None], strict: bool) -> None:
    for name, value in values.items():
        if not is_real(value):
            continue  # not given (None), or a richer option checked where it is parsed
        if not (math.isfinite(value) and (value > 0 if strict else value >= 0)):
            raise UserError(f"--{name.replace('_', '-')} must be {'>' if strict else '>='} 0, "
                            f"got {value!r}")


def _first_non_finite(data: object, where: str) -> str | None:
    if isinstance(data, float | np.floating):
        return None if math.isfinite(data) else where
    if isinstance(data, np.ndarray):
        bad = np.argwhere(~np.isfinite(np.asarray(data, dtype=float)))
        return f"{where}[{', '.join(map(str, bad[0]))}]" if len(bad) else None
    items: Iterable[tuple[object, object]]
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list | tuple):
        items = enumerate(data)
    else:
        return None
    for key, value in items:
        found = _first_non_finite(value, f"{where}[{key!r}]" if where else repr(key))
        if found:
            return found
    return None


def require_finite(data: object, what: str = "the result") -> None:
    """A one-line ``UserError`` when ``data`` (numbers, arrays, nested dicts and
    lists) holds NaN or infinity: an answer that is not finite is no answer."""
    where = _first_non_finite(data, "")
    if where is not None:
        raise UserError(f"{what} is not finite at {where} (NaN or infinity): the solve "
                        "failed numerically; check the circuit's values and scale")


def dump_json(data: object) -> str:
    """Strict JSON (never ``NaN``/``Infinity``, which JSON does not have)."""
    require_finite(data)
    return json.dumps(data, allow_nan=False)


#: SI prefixes from 1e-15 to 1e12, for ``si``
_PREFIXES = {-15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T"}


def si(value: float, unit: str, digits: int = 3) -> str:
    """``value`` with an SI prefix and ``digits`` significant digits:
    ``si(0.04681, "W")`` is ``"46.8 mW"``, ``si(3058.4, "W")`` ``"3.06 kW"``."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    exp = 3 * math.floor(math.log10(abs(value)) / 3)
    exp = min(max(exp, -15), 12)
    scaled = value / 10.0**exp
    if round(abs(scaled), digits - 1 - math.floor(math.log10(abs(scaled)))) >= 1000 and exp < 12:
        exp, scaled = exp + 3, scaled / 1000  # 999.96 rounds up into the next prefix
    return f"{scaled:.{digits}g} {_PREFIXES[exp]}{unit}"
