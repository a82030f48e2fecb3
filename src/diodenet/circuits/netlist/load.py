"""A netlist's text or file to a ``Circuit``: the deck-wide steps around
``reader``, which reads the cards (its docstring says what is accepted).

Text after ``.end`` is skipped with a note; once every card is read, K cards
must couple inductors, ``*@diodenet trainable``/``fixed`` notes must name
elements, and the circuit's topology is checked. ``read_netlist`` attributes
the notes to the netlist's own file and line.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from ..circuit import Circuit
from ..elements import Inductor
from .dot_cards import check_card_names
from .errors import NetlistWarning
from .includes import folder_resolver, lex_file
from .lexer import Deck, Resolver, lex, split_words
from .models import model_name_of
from .notes import read_notes
from .reader import _Reader
from .subckt import structure


def parse_netlist(
    text: str, includes: dict[str, str] | None = None, *, check_topology: bool = True,
    include_dir: str | os.PathLike[str] | None = None, resolver: Resolver | None = None,
) -> Circuit:
    """Read an ngspice netlist (see ``reader``'s docstring for what is accepted).

    ``includes`` maps the file names that ``.include``/``.lib`` cards may name
    to their text; ``include_dir`` allows the files inside that folder too
    (relative names only, resolved in it; no escape by ``..`` or a symbolic
    link); any other include is refused. With ``check_topology`` (the default)
    the first ``Circuit.topology_problems()`` entry is raised with the line of
    the element it names.
    """
    if resolver is None and include_dir is not None:
        resolver = folder_resolver(include_dir, include_dir)
    return read_deck(lex(text, includes, resolver), check_topology=check_topology)


def read_deck(deck: Deck, *, check_topology: bool = True) -> Circuit:
    """The circuit of a lexed netlist (``parse_netlist`` after ``lex``); ``deck``
    is left as it is."""
    cards = deck.cards
    for i, card in enumerate(cards):
        if card.first == ".end":
            if i + 1 < len(cards):
                after = cards[i + 1]
                last = cards[-1]
                lines = f"lines {after.line}-{last.line}" if last.line != after.line \
                    else f"line {after.line}"
                warnings.warn(NetlistWarning(after.line, f"text after .end ({lines}) skipped"),
                              stacklevel=3)
            cards = cards[:i]
            break
    check_card_names(cards)
    reader = _Reader(deck.title)
    top = structure(cards, reader.warn)
    model_names = {model_name_of(c) for c in top.cards if c.first == ".model"}
    reader.exact, flags = read_notes(deck.notes, model_names)
    reader.read(top)
    reader.summarise_notes()
    for card, names in reader.couplings:
        for name in names:
            if name not in reader.circuit or not isinstance(reader.circuit[name], Inductor):
                raise card.error(f"{split_words(card)[0].lower()}: couples "
                                 f"{name.rsplit('.', 1)[-1]!r}, which is not an inductor "
                                 "of the circuit")
    for note, name, trainable in flags:
        if name not in reader.circuit:
            raise note.error(f"*@diodenet {'trainable' if trainable else 'fixed'}: "
                             f"no element {name!r}")
        element = reader.circuit[name]
        if not hasattr(element, "trainable"):
            raise note.error(f"{name!r} has no trainable flag")
        element.trainable = trainable
    if check_topology:
        problems = reader.circuit.topology_problems()
        if problems:
            p = problems[0]
            raise reader.lines[p.element].error(f"{p.element}: {p.message}")
    return reader.circuit


def read_netlist(
    path: str | os.PathLike[str],
    includes: Iterable[str | os.PathLike[str]] = (),
    *,
    check_topology: bool = True,
    include_dir: str | os.PathLike[str] | None = None,
) -> Circuit:
    """Read a netlist file. ``includes``: the files its ``.include``/``.lib`` cards
    may name (matched by the path as written, relative to the netlist's folder).
    ``include_dir``: a folder whose files it may include too (names relative to
    the netlist's folder, resolving inside ``include_dir``)."""
    path = Path(path)
    # notes point at the netlist's own file and line (Python shows that line under
    # the note), not at the reader's source that happened to emit them
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NetlistWarning)
        circuit = read_deck(lex_file(path, includes, include_dir),
                            check_topology=check_topology)
    for w in caught:
        if isinstance(w.message, NetlistWarning):
            warnings.warn_explicit(w.message, NetlistWarning, str(path), max(w.message.line, 1))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return circuit
