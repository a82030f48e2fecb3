"""Lines to cards: titles, comments, ``+`` continuations, includes, card words.

SPICE's line rules, as ngspice applies them:

* the first line of a netlist is its title, whatever it holds;
* ``*`` starts a comment line; ``;`` (anywhere), ``$`` and ``//`` (at the
  start or after white space) start an inline comment;
* ``µ`` (LTspice's micro) reads as ``u``;
* ``.control`` ... ``.endc`` blocks and ``*#`` lines (which ngspice runs as
  commands) are skipped with one note: diodenet never runs ngspice
  commands, and they never reach ngspice. ngspice recognises these cards by
  prefix, so a misspelling such as ``.controlx`` is refused;
* a line starting with ``+`` continues the card before it (comment and blank
  lines may come between); a card's line number is its first physical line.
  One right after the title continues nothing (ngspice ignores it; a note);
  one after an ``.include`` is refused (ngspice glues it to the included
  file's last line);
* ``*@diodenet ...`` comment lines carry diodenet's own data (exact diode
  models, trainable flags); ngspice ignores them.

``.include``/``.inc``/``.lib`` cards are replaced here by the cards of the
named file, but only a file the caller passed explicitly: anything else is
refused. A netlist is data: shell escapes and ``.exec`` are refused
wherever they appear.
"""

from __future__ import annotations

import ntpath
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .errors import NetlistError
from .errors import note as _note

MAX_INCLUDE_DEPTH = 10
#: Longest logical card (characters, ``+`` continuations joined).
MAX_CARD_CHARS = 1_000_000
#: Most cards after expanding includes (include fan-out is multiplicative).
MAX_CARDS = 1_000_000
#: Cards that would make ngspice run commands outside a ``.control`` block: refused.
_COMMAND_CARDS = {".exec", "shell", "system", ".shell", ".system"}
#: Cards replaced by the cards of another file.
_INCLUDE_CARDS = (".include", ".inc", ".lib")
#: control characters that are white space inside a line
_WHITE_CONTROLS = str.maketrans({"\r": " ", "\v": " ", "\f": " "})
#: LTspice writes micro as U+00B5 (or U+03BC).
_MICRO = str.maketrans({"\u00b5": "u", "\u03bc": "u"})


@dataclass
class Card:
    """One logical card: ``line`` in the top-level text, ``text`` joined over ``+`` lines.

    ``where`` prefixes messages for cards from an included file.
    """

    line: int
    text: str
    where: str = ""

    @property
    def first(self) -> str:
        """The card's first word, lower-case (its element name or dot command)."""
        parts = self.text.split(None, 1)
        return parts[0].lower() if parts else ""

    def error(self, problem: str) -> NetlistError:
        return NetlistError(self.line, self.where + problem)


@dataclass
class Deck:
    """A lexed netlist: title, cards (includes expanded) and ``*@diodenet`` notes."""

    title: str
    cards: list[Card] = field(default_factory=list)
    notes: list[Card] = field(default_factory=list)


def _strip_inline_comment(s: str) -> str:
    cut = s.find(";")
    if cut >= 0:
        s = s[:cut]
    for i, ch in enumerate(s):
        if (ch == "$" or s.startswith("//", i)) and (i == 0 or s[i - 1].isspace()):
            return s[:i]
    return s


def _physical_cards(text: str, first_line: int, title: bool,
                    included: tuple[int, str] | None = None) -> tuple[str, list[Card], list[Card]]:
    """``(title, cards, notes)`` of one file. ``included``: ``(line, name)`` of the
    ``.include`` card that read it, where its notes are then reported."""
    def note(line: int, text: str) -> None:
        if included is None:
            _note(line, text)
        else:
            _note(included[0], f"in {included[1]!r} line {line}: {text}")

    lines = text.split("\n")
    title_text = ""
    start = 0
    if title:
        title_text = lines[0].rstrip("\r") if lines else ""
        start = 1
    cards: list[Card] = []
    notes: list[Card] = []
    control: int | None = None  # first line of the .control block being skipped
    for index in range(start, len(lines)):
        number = first_line + index
        # a carriage return, vertical tab or form feed inside a line is white
        # space to ngspice and to the reader: one space in the card (so no
        # control character reaches a netlist sent on)
        s = lines[index].rstrip("\r").translate(_WHITE_CONTROLS).strip()
        if not s:
            continue
        first = s.split(None, 1)[0].lower()
        if first.startswith((".control", ".endc")) and first not in (".control", ".endc"):
            # ngspice matches these cards by prefix: '.controlx' opens a block there
            raise NetlistError(number, f"{first!r} reads as "
                               f"{'.control' if first.startswith('.control') else '.endc'!r} "
                               "in ngspice; spell the card exactly")
        if control is not None:
            if first == ".endc":
                note(control, f".control block (lines {control}-{number}) skipped: "
                     "diodenet never runs ngspice commands")
                control = None
            continue
        if first == ".control":
            control = number
            continue
        if first == ".endc":
            note(number, ".endc without .control ignored")
            continue
        if s.startswith("*"):
            if s.lower().startswith("*@diodenet"):
                notes.append(Card(number, s[len("*@diodenet"):].strip()))
            elif s.startswith("*#"):
                note(number, "'*#' line skipped: ngspice runs it as a command, and diodenet "
                     "never runs ngspice commands")
            continue
        s = _strip_inline_comment(s).strip().translate(_MICRO)
        if not s:
            continue
        if "`" in s:
            raise NetlistError(
                number, "backquote (command substitution) refused: a netlist is data"
            )
        if len(s) > MAX_CARD_CHARS:
            raise NetlistError(number, f"line longer than {MAX_CARD_CHARS} characters")
        if s.startswith("+"):
            if not cards and title:
                # ngspice: the title is never a card, and a '+' line after it
                # (comment and blank lines may come between) continues nothing
                note(number, "continuation line '+' after the title ignored: the title "
                     "is not a card, and ngspice ignores the line too")
                continue
            if not cards:
                raise NetlistError(number, "continuation line '+' with no card before it")
            if cards[-1].first in _INCLUDE_CARDS:
                raise NetlistError(number, f"a continuation line '+' cannot follow "
                                   f"{cards[-1].first} (ngspice would glue it to the last "
                                   "line of the included file): put it on the card it continues")
            if len(cards[-1].text) + len(s) > MAX_CARD_CHARS:
                raise cards[-1].error(f"card longer than {MAX_CARD_CHARS} characters")
            cards[-1].text += " " + s[1:].strip()
            continue
        cards.append(Card(number, s))
    if control is not None:
        note(control, f".control block (line {control} to the end, no .endc) skipped: "
             "diodenet never runs ngspice commands")
    for card in cards:
        if card.first in _COMMAND_CARDS:
            raise card.error(
                f"{card.first!r} refused: a netlist is data, and diodenet never runs "
                "shell commands"
            )
    return title_text, cards, notes


#: Finds an include file the caller allowed (``--include-dir``): its text, or
#: ``None`` when it does not exist; raises ``ValueError`` saying why a name is
#: not allowed.
Resolver = Callable[[str], "str | None"]


def is_windows_path(name: str) -> bool:
    """``C:\\...`` or a path with backslashes (LTspice and QSPICE write these)."""
    return "\\" in name or (len(name) > 2 and name[1] == ":" and name[0].isalpha())


def _lookup_include(name: str, includes: Mapping[str, str]) -> str | None:
    if name in includes:
        return includes[name]
    wanted = os.path.normpath(name)
    for key, value in includes.items():
        if os.path.normpath(key) == wanted:
            return value
    if is_windows_path(name):
        # a Windows path matches a file passed with --include by its file name
        base = ntpath.basename(name).lower()
        for key, value in includes.items():
            if os.path.basename(key).lower() == base:
                return value
    return None


def _include_target(card: Card) -> tuple[str, str | None]:
    """The file name (quotes removed) and, for ``.lib file section``, the section."""
    parts = card.text.split(None, 1)
    rest = parts[1].strip() if len(parts) > 1 else ""
    if not rest:
        raise card.error(f"{card.first} names no file")
    if rest[0] in "\"'":
        end = rest.find(rest[0], 1)
        if end < 0:
            raise card.error(f"unterminated quote in {card.first}")
        name, tail = rest[1:end], rest[end + 1:].split()
    else:
        name, *tail = rest.split()
    if len(tail) > 1 or (tail and card.first != ".lib"):  # only .lib names a section
        raise card.error(f"unexpected words after {card.first} {name!r}")
    return name, (tail[0].lower() if tail else None)


def _lib_section(cards: list[Card], section: str, origin: Card, name: str) -> list[Card]:
    out: list[Card] = []
    inside = False
    found = False
    for c in cards:
        if c.first == ".lib" and not inside and len(c.text.split()) == 2:
            inside = c.text.split()[1].lower() == section
            found = found or inside
            continue
        if c.first == ".endl":
            inside = False
            continue
        if inside:
            out.append(c)
    if not found:
        raise origin.error(f"library {name!r} has no section {section!r}")
    return out


def lex(
    text: str, includes: Mapping[str, str] | None = None, resolver: Resolver | None = None
) -> Deck:
    """The cards of a netlist, with ``.include``/``.lib`` of the given files expanded.

    ``includes`` maps the file names as written in the netlist to their text;
    ``resolver`` finds the other allowed ones (see ``Resolver``).
    """
    if not isinstance(text, str):
        raise TypeError(f"netlist text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise NetlistError(1, "empty netlist")
    title, cards, notes = _physical_cards(text, 1, title=True)
    deck = Deck(title=title, notes=notes)
    deck.cards = _expand(cards, includes or {}, depth=0, stack=(), resolver=resolver,
                         budget=[MAX_CARDS], lexed={})
    return deck


def _expand(
    cards: list[Card], includes: Mapping[str, str], depth: int, stack: tuple[str, ...],
    resolver: Resolver | None = None, budget: list[int] | None = None,
    lexed: dict[str, list[Card]] | None = None,
) -> list[Card]:
    """``cards`` with includes expanded. ``budget`` holds how many more cards the
    whole expansion may make; ``lexed`` caches each file's cards."""
    budget = budget if budget is not None else [MAX_CARDS]
    lexed = lexed if lexed is not None else {}
    budget[0] -= len(cards)
    if budget[0] < 0 and cards:
        raise cards[0].error(f"more than {MAX_CARDS} cards after expanding the includes")
    out: list[Card] = []
    for card in cards:
        if card.first in _INCLUDE_CARDS:
            name, section = _include_target(card)
            # a file already read and lexed is not looked up (or read from disk)
            # again: a few small files that include each other many times cost
            # one read each, not one per .include card
            body = "" if name in lexed else _lookup_include(name, includes)
            if body is None and is_windows_path(name):
                base = ntpath.basename(name)
                raise card.error(
                    f"{card.first} {name!r} refused: a Windows path; pass the file itself "
                    f"with --include {base} (or includes=[...] in the API)"
                )
            if body is None and resolver is not None:
                try:
                    body = resolver(name)
                except ValueError as exc:
                    raise card.error(f"{card.first} {name!r} refused: {exc}") from None
            if body is None:
                given = f"it is none of the files given ({', '.join(sorted(includes))}); " \
                    if includes else ""
                raise card.error(
                    f"{card.first} {name!r} refused: {given}include files must be passed "
                    "explicitly (--include FILE, or --include-dir DIR for the files inside "
                    "DIR; read_netlist(path, includes=[...], include_dir=DIR) in the API)"
                )
            if name in stack or depth >= MAX_INCLUDE_DEPTH:
                raise card.error(f"{card.first} {name!r} includes itself (or nests too deep)")
            try:
                if name not in lexed:
                    lexed[name] = _physical_cards(body, 1, title=False,
                                                  included=(card.line, name))[1]
                inner = lexed[name]
                if section is not None:
                    inner = _lib_section(inner, section, card, name)
                elif card.first == ".lib" and any(c.first == ".endl" for c in inner):
                    raise card.error(f".lib {name!r} has sections: name one (.lib FILE SECTION)")
                expanded = _expand(inner, includes, depth + 1, (*stack, name), resolver,
                                   budget, lexed)
                budget[0] -= len(expanded)  # the copies below count: work stays bounded
                if budget[0] < 0:
                    raise card.error(f"more than {MAX_CARDS} cards after expanding the "
                                     "includes")
            except NetlistError as exc:
                if exc.line == card.line and exc.problem.startswith(card.where):
                    raise  # already about this card
                # a problem inside the file: report it at this .include card
                raise card.error(f"in {name!r} line {exc.line}: {exc.problem}") from None
            for c in expanded:
                # errors inside the file point at the .include card of the given text
                where = f"in {name!r} line {c.line}: " if not c.where else c.where
                out.append(Card(card.line, c.text, card.where + where))
            continue
        if card.first == ".endl":
            raise card.error(".endl outside a .lib file")
        out.append(card)
    return out


def split_words(card: Card, *, parens: bool = False) -> list[str]:
    """The card's words. ``{...}`` and ``'...'`` stay inside one word; ``=``
    joins its neighbours (``k = v`` becomes ``k=v``). With ``parens``, ``(``,
    ``)`` and ``,`` separate words too (for ``.model d D(Is=1n, N=2)``).
    """
    words: list[str] = []
    current: list[str] = []
    depth = 0
    quote = False
    text = card.text
    for ch in text:
        if quote:
            current.append(ch)
            if ch == "'":
                quote = False
            continue
        if ch == "'" and depth == 0:
            quote = True
            current.append(ch)
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise card.error("unbalanced '}'")
        if depth == 0 and (ch.isspace() or (parens and ch in "(),")):
            if current:
                words.append("".join(current))
                current = []
            continue
        if depth == 0 and ch == "=":
            if current:
                words.append("".join(current))
                current = []
            words.append("=")
            continue
        current.append(ch)
    if quote:
        raise card.error("unbalanced quote '")
    if depth:
        raise card.error("unbalanced '{'")
    if current:
        words.append("".join(current))
    # join k = v
    joined: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w == "=":
            if not joined or i + 1 >= len(words) or words[i + 1] == "=" or "=" in joined[-1]:
                raise card.error("'=' without a name and a value around it")
            joined[-1] = f"{joined[-1]}={words[i + 1]}"
            i += 2
            continue
        joined.append(w)
        i += 1
    return joined
