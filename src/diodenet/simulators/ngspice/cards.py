"""Netlist text read into the logical cards a ``NetlistSpec`` holds.

The text is what ``circuits.netlist.writer.ngspice_netlist`` wrote, never a
user's. Reading it: continuation lines (``+``) joined, comments stripped,
``.control`` blocks and analysis and output cards dropped (the backend runs
its own analyses), ``.subckt`` nesting checked, the top-level element names
collected, and ``.options`` merged (defaults, then the netlist's, then the
caller's, which are checked: they are written into a card ngspice reads).
This is the text-level reading done once per circuit; ``netlist_edit``
edits the cards and writes the netlists from them.
"""

from __future__ import annotations

import re

#: Tight tolerances by default: ~1e-10 V between solve paths (the defaults leave ~1e-4 V).
DEFAULT_OPTIONS: dict[str, str | None] = {"reltol": "1e-6", "abstol": "1e-15", "vntol": "1e-9"}

_DROP_CARDS = (
    ".op", ".dc", ".ac", ".tran", ".tf", ".sens", ".noise", ".disto", ".pz", ".print",
    ".plot", ".probe", ".save", ".four", ".meas", ".measure", ".end", ".backanno", ".width",
)


_OPTION_KEY = re.compile(r"[a-z_][a-z0-9_]{0,31}")
_OPTION_VALUE = re.compile(r"[a-z0-9_.+\-]{1,40}")


def _strip_comment(line: str) -> str:
    for mark in (" ;", "\t;", " $ ", "\t$ "):
        k = line.find(mark)
        if k >= 0:
            line = line[:k]
    return line.rstrip()


def split_cards(
    text: str, options: dict[str, object] | None = None,
) -> tuple[str, tuple[str, ...], tuple[tuple[str, str | None], ...], tuple[str, ...]]:
    """``(title, cards, options, top_level)`` of netlist text that
    ``ngspice_netlist`` wrote: the logical cards (no title, options or
    analyses), the merged ``.options`` and the top-level element names."""
    raw = text.replace("\r\n", "\n").split("\n")
    if not raw or not "".join(raw).strip():
        raise ValueError("empty netlist: expected a title line and element cards")
    title = raw[0].strip() or "diodenet"
    logical: list[str] = []
    for line in raw[1:]:
        stripped = line.strip()
        if not stripped or stripped.startswith("*"):
            continue
        if stripped.startswith("+"):
            if not logical:
                raise ValueError("netlist continuation line '+' with nothing to continue")
            logical[-1] += " " + _strip_comment(stripped[1:])
            continue
        logical.append(_strip_comment(stripped))
    merged: dict[str, str | None] = dict(DEFAULT_OPTIONS)
    cards: list[str] = []
    top: list[str] = []
    in_control = False
    depth = 0
    for card in logical:
        low = card.lower()
        word = low.split()[0] if low.split() else ""
        if in_control:
            in_control = word != ".endc"
            continue
        if word == ".control":
            in_control = True
            continue
        if word in (".options", ".option", ".opt"):
            merged.update(_parse_options(card.split()[1:]))
            continue
        if word in _DROP_CARDS:
            continue
        if word == ".subckt":
            depth += 1
        elif word == ".ends":
            depth -= 1
        elif depth == 0 and not word.startswith("."):
            top.append(word)
        cards.append(card)
    if in_control:
        raise ValueError("netlist has .control without .endc")
    if depth != 0:
        raise ValueError("netlist has .subckt without matching .ends")
    for key, value in (options or {}).items():
        key = str(key).lower()
        text_value = None if value is None else str(value).lower()
        if not _OPTION_KEY.fullmatch(key) or not (
                text_value is None or _OPTION_VALUE.fullmatch(text_value)):
            raise ValueError(f"ngspice option {key}={value!r}: names are identifiers, "
                             "values numbers or words")
        merged[key] = text_value
    return title, tuple(cards), tuple(merged.items()), tuple(top)


def _parse_options(tokens: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    joined = " ".join(tokens).replace(" = ", "=").replace("= ", "=").replace(" =", "=")
    for tok in joined.split():
        if "=" in tok:
            key, value = tok.split("=", 1)
            out[key.lower()] = value
        else:
            out[tok.lower()] = None
    return out
