"""The user's own cards as a deck for ngspice (what ``diodenet compare`` runs).

The file goes through the same reader first (so everything refused stays
refused), then its cards are written back as they stand: includes inlined,
``.control`` blocks, analysis and output cards and text after ``.end``
removed, and the title replaced by a fixed comment, so no line of it can be an
ngspice command. Values, parameters and models are not rewritten: a parameter
that diodenet would read differently reaches ngspice as the user wrote it.

``user_cards`` also writes every element, node, model and subcircuit name
through ``SpiceNames`` (the safe alphabet ngspice always gets from diodenet,
aliases for the rest), by position in each card; ``DottedNames`` maps
ngspice's flattened names (``xpin.dk``) back part by part.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from .dot_cards import IGNORED_CARDS
from .errors import NetlistWarning
from .includes import lex_file
from .lexer import Card, Deck, split_words
from .load import read_deck
from .names import SpiceNames
from .subckt import instance_split

_NODES = {"r": 2, "c": 2, "l": 2, "d": 2, "v": 2, "i": 2, "e": 4, "g": 4, "f": 2, "h": 2}


class DottedNames(SpiceNames):
    """``SpiceNames`` whose ``user_node`` also maps a subcircuit-internal name
    (``xdnxa_3.dnxa_4``: instances, then the node) part by part."""

    def user_node(self, spice: str) -> str:
        parts = spice.lower().split(".")
        if len(parts) == 1:
            return super().user_node(spice)
        head = [super(DottedNames, self).user_element(p) for p in parts[:-1]]
        return ".".join([*head, super().user_node(parts[-1])])


def _lexed(
    path: Path, includes: list[str | os.PathLike[str]],
    include_dir: str | os.PathLike[str] | None,
) -> Deck:
    """The file lexed once, and read from that same lexing: what ngspice gets is
    what was checked (a second read could find the file changed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetlistWarning)
        deck = lex_file(path, includes, include_dir)
        read_deck(deck)  # refuses what it refuses
    return deck


def _cards(deck: Deck) -> list[Card]:
    out = []
    for card in deck.cards:
        if card.first == ".end":
            break
        if card.first in IGNORED_CARDS or card.first == ".title":
            continue
        out.append(card)
    return out


def ngspice_deck(
    path: str | os.PathLike[str],
    includes: Iterable[str | os.PathLike[str]] = (),
    include_dir: str | os.PathLike[str] | None = None,
) -> str:
    """The netlist at ``path`` as ngspice should run it, names as written (see the
    module docstring)."""
    deck = _lexed(Path(path), list(includes), include_dir)
    out = ["* diodenet compare: the user's netlist, control and analysis cards removed"]
    out += [card.text for card in _cards(deck)]
    out.append(".end")
    return "\n".join(out) + "\n"


def _alias(card: Card, names: SpiceNames) -> str:
    words = split_words(card)
    first = words[0].lower()
    if first == ".subckt":
        words[1] = names.add_model(words[1])
        for k in range(2, len(words)):
            if "=" in words[k] or words[k].lower().startswith("params:"):
                break
            words[k] = names.add_node(words[k])
    elif first == ".ends" and len(words) > 1:
        words[1] = names.add_model(words[1])
    elif first == ".model":
        words = split_words(card, parens=True)
        words[1] = names.add_model(words[1])
        return f"{words[0]} {words[1]} {words[2]}({' '.join(words[3:])})"
    elif first == ".global":
        words[1:] = [names.add_node(w) for w in words[1:]]
    elif first.startswith("x"):
        cut, _ = instance_split(words)
        words[0] = names.add_element(words[0])
        words[1:cut] = [names.add_node(w) for w in words[1:cut]]
        words[cut] = names.add_model(words[cut])
    elif first[:1] in _NODES:
        n = _NODES[first[0]]
        words[0] = names.add_element(words[0])
        words[1:1 + n] = [names.add_node(w) for w in words[1:1 + n]]
        if first[0] == "d":
            words[3] = names.add_model(words[3])
        elif first[0] in "fh":
            words[3] = names.add_element(words[3])
    elif first.startswith("k"):
        words[0:3] = [names.add_element(w) for w in words[0:3]]
    return " ".join(words)


def user_cards(
    path: str | os.PathLike[str],
    includes: Iterable[str | os.PathLike[str]] = (),
    include_dir: str | os.PathLike[str] | None = None,
) -> tuple[list[str], DottedNames]:
    """The cards of ``ngspice_deck`` with every name in the safe alphabet (aliases
    kept in the returned map), for ngspice to run."""
    deck = _lexed(Path(path), list(includes), include_dir)
    names = DottedNames()
    return [_alias(card, names) for card in _cards(deck)], names


def user_file_simulator(
    path: str | os.PathLike[str],
    circuit: object,
    includes: Iterable[str | os.PathLike[str]] = (),
    include_dir: str | os.PathLike[str] | None = None,
    options: dict[str, object] | None = None,
):
    """An ``NgspiceSimulator`` that runs the user's own cards (``user_cards``)
    instead of what diodenet writes for ``circuit`` (the circuit read from the
    same file, which still names the nodes and sources)."""
    from dataclasses import replace

    from ...simulators.ngspice import NgspiceSimulator
    from ...simulators.ngspice.netlist_edit import NetlistSpec

    cards, names = user_cards(path, includes, include_dir)
    sim = NgspiceSimulator(circuit, options=options)
    text = "\n".join(["* diodenet compare", *cards])
    spec = NetlistSpec._split(text, options)
    sim.spec = replace(spec, title="diodenet compare: the user's file", names=names)
    return sim
