"""The dot cards the reader knows, by exact name.

ngspice recognises its dot cards by prefix (``.controlx`` opens a control
block, ``.endsx`` closes a subcircuit, ``.incx`` reads a file), so a card the
reader does not know exactly is refused wherever it stands rather than read
differently from ngspice.
"""

from __future__ import annotations

from .lexer import Card

#: Analysis and output cards: skipped with a note (simulators add their own).
IGNORED_CARDS = frozenset({
    ".op", ".dc", ".tran", ".ac", ".tf", ".sens", ".noise", ".pz", ".disto", ".four",
    ".save", ".print", ".plot", ".probe", ".meas", ".measure", ".nodeset", ".ic", ".width",
    ".backanno", ".step", ".csparam", ".net", ".wave", ".sp", ".lin",
})
OPTION_CARDS = (".options", ".option", ".opt")
#: Every dot card the reader knows (the lexer has already expanded ``.include``,
#: ``.inc``, ``.lib`` and skipped ``.control`` blocks).
KNOWN_CARDS = frozenset({
    *IGNORED_CARDS, *OPTION_CARDS, ".param", ".global_param", ".model", ".func",
    ".global", ".title", ".temp", ".subckt", ".ends", ".end",
})


def check_card_names(cards: list[Card]) -> None:
    """Refuse a dot card the reader does not know, wherever it stands (also in a
    subcircuit that is never instantiated, which the reader does not read):
    ngspice recognises its cards by prefix, so '.endsx' closes a subcircuit
    there and '.incx' reads a file, where an exact match would see neither."""
    for card in cards:
        first = card.first
        if first.startswith(".") and first not in KNOWN_CARDS:
            prefix = max((k for k in (*KNOWN_CARDS, ".include", ".inc", ".lib", ".endl")
                          if first.startswith(k)), key=len, default=None)
            hint = f" (ngspice reads it as {prefix!r}: spell the card exactly)" if prefix else ""
            raise card.error(f"unknown card {first!r}{hint}")
