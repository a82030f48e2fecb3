"""The user's own cards as a deck for ngspice (what ``diodenet compare`` runs).

The file goes through the same reader first (so everything refused stays
refused), then its cards are written back as they stand: includes inlined,
``.control`` blocks, analysis and output cards and text after ``.end``
removed, and the title replaced by a fixed comment, so no line of it can be an
ngspice command. Element, node and model cards are not rewritten: a parameter
that diodenet would read differently reaches ngspice as the user wrote it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from .errors import NetlistWarning
from .includes import folder_resolver
from .lexer import lex
from .reader import IGNORED_CARDS, read_netlist, read_text


def ngspice_deck(
    path: str | os.PathLike[str],
    includes: Iterable[str | os.PathLike[str]] = (),
    include_dir: str | os.PathLike[str] | None = None,
) -> str:
    """The netlist at ``path`` as ngspice should run it (see the module docstring)."""
    path = Path(path)
    includes = list(includes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetlistWarning)
        read_netlist(path, includes, include_dir=include_dir)  # refuses what it refuses
        base = path.resolve().parent
        table: dict[str, str] = {}
        for inc in includes:
            p = Path(inc)
            body = read_text(p)
            for key in (str(p), str(p.resolve()),
                        os.path.normpath(os.path.relpath(p.resolve(), base))):
                table[key] = body
        resolver = folder_resolver(include_dir, base) if include_dir is not None else None
        deck = lex(read_text(path), table, resolver)
    out = ["* diodenet compare: the user's netlist, control and analysis cards removed"]
    for card in deck.cards:
        if card.first == ".end":
            break
        if card.first in IGNORED_CARDS or card.first == ".title":
            continue
        out.append(card.text)
    out.append(".end")
    return "\n".join(out) + "\n"
