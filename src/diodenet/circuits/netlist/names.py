"""Names and titles as ngspice receives them: a safe alphabet, aliases for the rest.

ngspice reads some characters in names as syntax: ``>`` and ``<`` redirect a
command's output or input (``alter y>file ...`` creates or empties ``file``),
a node named ``1`` comes back as the vector ``V(1)``, and a first line
starting ``*ng_script`` turns a whole netlist into a command script. So what
diodenet gives ngspice is written by diodenet from a parsed ``Circuit``:

* the title line is diodenet's own comment, ``* diodenet: <title>``, with the
  title cut to printable ASCII (``safe_title``);
* every element, node and model name is written as is only when it is in the
  safe alphabet (a letter, then letters, digits, ``_`` and ``.``; an element
  keeps its SPICE letter first); any other name (``/out``, ``net-(d1-pad2)``,
  ``1``, ``v>x``) is written as an alias such as ``dnxa_3`` and mapped back
  to the user's name in every result (``SpiceNames``).

Names starting with ``dnx`` (after an element's letter) belong to diodenet's
ngspice backend, so a user's name of that form is aliased too.
"""

from __future__ import annotations

import re

#: A name ngspice receives unchanged.
SAFE_NAME = re.compile(r"[a-z][a-z0-9_.]{0,62}")
#: The prefix of every name diodenet's ngspice backend makes up itself.
BACKEND_PREFIX = "dnx"
#: Aliases are ``dnxa_<k>`` (nodes, models) and ``<letter>dnxa_<k>`` (elements).
ALIAS_PREFIX = "dnxa_"
TITLE_PREFIX = "* diodenet: "
_TITLE_CHARS = re.compile(r"[^A-Za-z0-9 _.,:=+\-()/#%@\[\]]")
MAX_TITLE = 80


def safe_title(title: str) -> str:
    """``title`` as it may follow ``* diodenet: `` on ngspice's first line: printable
    ASCII without quotes, ``*``, ``;``, ``$``, ``<``, ``>``, ``|``, ``&`` or
    backquotes (each such character becomes ``?``), at most 80 characters."""
    text = _TITLE_CHARS.sub("?", " ".join(str(title).split()))
    return text[:MAX_TITLE]


def title_line(title: str) -> str:
    """The first line of every netlist diodenet gives ngspice: a fixed comment."""
    return (TITLE_PREFIX + safe_title(title)).rstrip()


def _safe(name: str, letter: str = "") -> bool:
    if not SAFE_NAME.fullmatch(name) or not name.startswith(letter):
        return False
    return not name[len(letter):].startswith(BACKEND_PREFIX)


class SpiceNames:
    """The two-way map between a circuit's names and the names written for ngspice.

    Only aliased names are stored; every other name maps to itself. ngspice
    lower-cases names, and so do ``Circuit`` and this map.
    """

    def __init__(self) -> None:
        self._to_spice: dict[tuple[str, str], str] = {}
        self._to_user: dict[tuple[str, str], str] = {}

    def __repr__(self) -> str:
        return f"SpiceNames({len(self._to_spice)} aliases)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpiceNames) and self._to_spice == other._to_spice

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._to_spice.items())))

    @property
    def aliases(self) -> dict[tuple[str, str], str]:
        """``{(kind, user name): ngspice name}`` for every aliased name
        (kind ``"node"``, ``"element"`` or ``"model"``)."""
        return dict(self._to_spice)

    def _add(self, kind: str, name: str, letter: str = "") -> str:
        key = (kind, name)
        if key in self._to_spice:
            return self._to_spice[key]
        if kind == "node" and name == "0":
            return name
        if _safe(name, letter):
            return name
        alias = f"{letter}{ALIAS_PREFIX}{len(self._to_spice)}"
        self._to_spice[key] = alias
        self._to_user[(kind, alias)] = name
        return alias

    def add_node(self, name: str) -> str:
        """Register a node (``"0"`` stays ground); returns its ngspice name."""
        return self._add("node", str(name).lower())

    def add_element(self, name: str) -> str:
        """Register an element (its first letter is its SPICE type); returns its
        ngspice name, which starts with the same letter."""
        name = str(name).lower()
        return self._add("element", name, name[:1] if name[:1].isalpha() else "x")

    def add_model(self, name: str) -> str:
        return self._add("model", str(name).lower())

    # ------------------------------------------------------------ lookups
    def node(self, name: str) -> str:
        """The ngspice name of node ``name`` (itself when not aliased)."""
        name = str(name).lower()
        return self._to_spice.get(("node", name), name)

    def element(self, name: str) -> str:
        """The ngspice name of element ``name`` (itself when not aliased)."""
        name = str(name).lower()
        return self._to_spice.get(("element", name), name)

    def user_node(self, spice: str) -> str:
        """The circuit's name for the ngspice node ``spice`` (inverse of ``node``)."""
        return self._to_user.get(("node", spice.lower()), spice.lower())

    def user_element(self, spice: str) -> str:
        """The circuit's name for the ngspice element ``spice``."""
        return self._to_user.get(("element", spice.lower()), spice.lower())

    def user_text(self, text: str) -> str:
        """``text`` (an ngspice message) with every alias replaced by the user's name."""
        if ALIAS_PREFIX not in text:
            return text

        def back(m: re.Match[str]) -> str:
            word = m.group(0).lower()
            for kind in ("element", "node", "model"):
                if (kind, word) in self._to_user:
                    return self._to_user[(kind, word)]
            for kind in ("node", "model"):  # a letter that only precedes the alias
                if (kind, word[1:]) in self._to_user:
                    return m.group(0)[0] + self._to_user[(kind, word[1:])]
            return m.group(0)

        return re.sub(rf"[a-z]?{ALIAS_PREFIX}\d+", back, text, flags=re.IGNORECASE)

