"""The netlists the ngspice backend gives ngspice.

A :class:`NetlistSpec` holds what ``circuits.netlist.writer.ngspice_netlist``
writes for a parsed ``Circuit`` (netlist text is read by diodenet's safe
reader first: no text a user wrote reaches ngspice, only the names and
numbers of the circuit, with unsafe names aliased), split into element and
model cards and a merged ``.options`` dictionary (``cards.py``), plus the
name map (``names``) that turns ngspice's names back into the circuit's.
From it the backend writes two kinds of netlist:

* the **base** netlist: the circuit itself, with ``ac 0`` on every independent
  source (so ``alter @v1[acmag]=...`` can drive it in ``.ac``) and, for each
  requested port ``(n1, n2)``, a current source ``idnx_port_<n1>_<n2> n2 n1 dc 0
  ac 0`` that injects into ``n1`` (zero unless driven);
* the **sweep** netlist for a chunk of N input vectors: each swept source gets
  its values from a piecewise-linear table indexed by a sample counter,
  ``v(dnx_idx) = 0, 1, ..., N-1``, and one ``dc`` sweep of the counter solves
  all N operating points. A swept voltage source ``v1 a b`` becomes
  ``v1 a dnx_v1 dc 0`` (kept, so ``v1#branch`` is still its current) in series
  with ``bdnx_v1 dnx_v1 b v=pwl(v(dnx_idx), 0,u0, 1,u1, ...)``; a swept current
  source becomes a B current source with the same orientation. At integer
  counter values the table returns u_k exactly, so point k is the operating
  point for input vector k.

Names starting with ``dnx`` (nodes) or ``?dnx`` (elements) are the backend's
own; a circuit's names of that form are aliased.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from ...circuits.netlist.names import SpiceNames, safe_title, title_line
from ...circuits.netlist.writer import ControlledConductance, IdealSwitch, ngspice_netlist
from .cards import DEFAULT_OPTIONS as DEFAULT_OPTIONS  # public path
from .cards import split_cards

#: A dc sweep warm-starts each point from the previous one, so Newton stops
#: closer to the tolerance edge than a cold ``op`` does (measured: 7e-8 V apart
#: at reltol 1e-6, 8e-11 V at 1e-9). Sweeps therefore run with reltol and vntol
#: scaled by this factor (1e-6 -> 1e-10), which costs no measurable time.
SWEEP_TIGHTENING = 1e-4

RESERVED = "dnx_"


def _format(value: float) -> str:
    # repr round-trips a float exactly; ngspice reads it as written.
    return repr(float(value))


#: NetlistSpec's cached lookup tables that are not pickled (see __getstate__)
_LOCAL = ("_top_level_set", "_resistor_plans", "_set_names")


class _ResistorPlan(NamedTuple):
    """Resistors named by a user, as ``NetlistSpec.resistances`` holds them."""

    spice: tuple[str, ...]  # their ngspice names, sorted
    order: np.ndarray  # the permutation of the user's order that sorts them
    names: frozenset[str]  # the same names, as a set


@dataclass(frozen=True)
class NetlistSpec:
    """A parsed netlist plus what the backend changes in it. Immutable; picklable.

    ``cards``: logical lines (continuations joined), no title, options or analyses.
    ``options``: merged ``.options`` (defaults, then the netlist's, then the caller's).
    ``resistances``: resistor values (ohms) that replace the netlist's, by name.
    ``ports``: node pairs (ngspice names) that get a zero-valued injection current
    source. ``names`` maps the circuit's names to ngspice's and back.
    """

    title: str
    cards: tuple[str, ...]
    options: tuple[tuple[str, str | None], ...]
    resistances: tuple[tuple[str, float], ...] = ()
    ports: tuple[tuple[str, str], ...] = ()
    top_level: tuple[str, ...] = field(default=(), compare=False)
    names: SpiceNames = field(default_factory=SpiceNames, compare=False)

    # ------------------------------------------------------------------ parse
    @classmethod
    def from_circuit(
        cls,
        circuit: Any,
        options: dict[str, object] | None = None,
        ports: Sequence[tuple[str, str]] = (),
        conductances: Sequence[ControlledConductance] = (),
        ideal_switch: IdealSwitch | None = None,
    ) -> NetlistSpec:
        """The spec of a ``Circuit`` (``ports`` and ``options`` as the circuit names
        them; ``conductances`` and ``ideal_switch``: see ``ngspice_netlist``)."""
        lines, names = ngspice_netlist(circuit, conductances, ideal_switch)
        nodes = {*circuit.nodes, "0"}
        for pair in ports:
            missing = [n for n in pair if str(n).lower() not in nodes]
            if missing:
                raise ValueError(f"port {tuple(pair)}: no node {missing[0]!r} in the circuit")
        spice_ports = tuple((names.node(a), names.node(b)) for a, b in ports)
        spec = cls._split("\n".join(lines), options, spice_ports)
        return replace(spec, title=safe_title(circuit.title), names=names)

    @classmethod
    def parse(
        cls,
        text: str,
        options: dict[str, object] | None = None,
        ports: Sequence[tuple[str, str]] = (),
    ) -> NetlistSpec:
        """The spec of SPICE netlist text, read by diodenet's safe reader first
        (``circuits.netlist.parse_netlist``: ``NetlistError`` for anything it refuses)."""
        from ...circuits.netlist import parse_netlist

        return cls.from_circuit(parse_netlist(text), options, ports)

    @classmethod
    def _split(
        cls,
        text: str,
        options: dict[str, object] | None = None,
        ports: tuple[tuple[str, str], ...] = (),
    ) -> NetlistSpec:
        """Split netlist text that ``ngspice_netlist`` wrote (never a user's text)."""
        title, cards, merged, top = split_cards(text, options)
        return cls(title, cards, merged, (), tuple(ports), top)

    def __getstate__(self) -> dict[str, Any]:
        # a spec travels to the workers with every task: the digests go with it,
        # the main process's lookup tables (each the size of the netlist) stay
        return {k: v for k, v in self.__dict__.items() if k not in _LOCAL}

    # ------------------------------------------------------------------ edits
    @functools.cached_property
    def _top_level_set(self) -> frozenset[str]:
        # membership per resistor: a tuple scan made re-programming 200k
        # resistors quadratic
        return frozenset(self.top_level)

    @functools.cached_property
    def _resistor_plans(self) -> dict[tuple[str, ...], _ResistorPlan]:
        # per tuple of user names (structure only, so it carries over to copies)
        return {}

    def _resistor_plan(self, users: tuple[str, ...]) -> _ResistorPlan:
        """``users``' ngspice names, checked once per tuple of names (a trainer
        re-programs the same 200k names at every step): ValueError for a name
        that is no top-level resistor or that repeats."""
        plan = self._resistor_plans.get(users)
        if plan is None:
            top = self._top_level_set
            spice = []
            for user in users:
                name = self.names.element(str(user))  # (lower-cased there)
                if name not in top or not name.startswith("r"):
                    raise ValueError(f"no resistor named {user!r} at the netlist's top level")
                spice.append(name)
            if len(set(spice)) != len(spice):
                raise ValueError("a resistor is named twice")
            order = np.argsort(np.array(spice, dtype=object), kind="stable")
            plan = self._resistor_plans[users] = _ResistorPlan(
                tuple(spice[k] for k in order), order, frozenset(spice))
        return plan

    def with_resistances(self, names: Sequence[str], ohms: Any) -> NetlistSpec:
        """A copy in which resistors ``names`` (the circuit's names) take the
        resistances ``ohms`` (> 0 and finite); ValueError naming the first that
        is not a top-level resistor or not such a value."""
        users = tuple(names)
        r = np.asarray(ohms, dtype=float)
        if r.shape != (len(users),):
            raise ValueError(f"{len(users)} resistor names but {r.size} resistances")
        bad = np.flatnonzero(~(r > 0) | ~np.isfinite(r))
        if bad.size:
            k = int(bad[0])
            raise ValueError(f"{str(users[k]).lower()}: resistance must be positive and "
                             f"finite, got {r[k]}")
        plan = self._resistor_plan(users)
        values = r[plan.order].tolist()
        # the names whose values are set: kept on a spec one plan set whole, as
        # forming the set of 200k names costs more than the rest of this
        before = self.__dict__.get("_set_names")
        if before is None:
            before = frozenset(n for n, _ in self.resistances)
        set_names: frozenset[str] | None = plan.names
        if before is plan.names or before <= plan.names:
            # every value set before is set again (a trainer's case): no merge
            resistances = tuple(zip(plan.spice, values))
        else:
            current = dict(self.resistances)
            current.update(zip(plan.spice, values))
            resistances, set_names = tuple(sorted(current.items())), None
        out = replace(self, resistances=resistances)
        # what depends on the structure alone carries over (cached properties
        # live in the instance's __dict__, which ``replace`` does not copy)
        for name in ("structure_key", "_top_level_set", "_card_plan", "_resistor_plans"):
            if name in self.__dict__:
                out.__dict__[name] = self.__dict__[name]
        if set_names is not None:
            out.__dict__["_set_names"] = set_names
        return out

    def check_sources(self, sources: list[str]) -> list[str]:
        """The ngspice names of the circuit's sources ``sources``; ValueError unless
        each is a top-level V or I source."""
        out = []
        for s in sources:
            name = self.names.element(str(s).strip().lower())
            if name[:1] not in ("v", "i") or name not in self._top_level_set:
                raise ValueError(
                    f"{s!r} is not an independent voltage or current source of this netlist"
                )
            out.append(name)
        if len(set(out)) != len(out):
            raise ValueError(f"source names repeat: {sources}")
        return out

    @functools.cached_property
    def structure_key(self) -> str:
        """A digest of everything but the resistances: netlists with equal
        structure keys differ only in positive, finite resistor values, so
        ngspice accepts all of them if it accepts one."""
        h = hashlib.sha1(repr((self.title, self.cards, self.options, self.ports)).encode())
        return h.hexdigest()

    @functools.cached_property
    def key(self) -> str:
        """A digest identifying the circuit a worker must have loaded."""
        # ``with_resistances`` hands the structure's digest on to its copy,
        # so re-programming hashes only the values
        h = hashlib.sha1(repr((self.structure_key, self.resistances)).encode())
        return h.hexdigest()

    @staticmethod
    def port_name(n1: str, n2: str = "0") -> str:
        """Name of the injection source of port ``(n1, n2)``."""
        n1, n2 = n1.lower(), n2.lower()
        return f"i{RESERVED}port_{n1}" if n2 == "0" else f"i{RESERVED}port_{n1}_{n2}"

    # ------------------------------------------------------------------ write
    def _options_card(self, tighten: float = 1.0) -> str:
        parts = []
        for key, value in self.options:
            if value is None:
                parts.append(key)
                continue
            if tighten != 1.0 and key in ("reltol", "vntol"):
                value = _format(max(float(value) * tighten, 1e-14 if key == "reltol" else 1e-18))
            parts.append(f"{key}={value}")
        return ".options " + " ".join(parts)

    @functools.cached_property
    def _card_plan(self) -> tuple[tuple[str, str, str, tuple[str, ...]], ...]:
        """Per card: (kind, name, card, parts). Kind ``"r"``: a top-level
        resistor, parts the text before and after its value (empty if the value
        cannot be replaced); ``"s"``: a top-level independent source, parts its
        tokens; ``""``: written as it is. Re-programming writes every card
        anew, so the cards are split once per structure, not once per netlist."""
        plan: list[tuple[str, str, str, tuple[str, ...]]] = []
        depth = 0
        for card in self.cards:
            tokens = card.split()
            word = tokens[0].lower()
            if word == ".subckt":
                depth += 1
            elif word == ".ends":
                depth -= 1
            if depth > 0 or word.startswith("."):
                plan.append(("", word, card, ()))
            elif word[:1] == "r":
                settable = len(tokens) >= 4 and "=" not in tokens[3]
                parts = (" ".join(tokens[:3]) + " ", "".join(" " + t for t in tokens[4:]))
                plan.append(("r", word, card, parts if settable else ()))
            elif word[:1] in ("v", "i"):
                plan.append(("s", word, card, tuple(tokens)))
            else:
                plan.append(("", word, card, ()))
        return tuple(plan)

    def _element_cards(self, sweep: dict[str, str] | None) -> list[str]:
        res = dict(self.resistances)
        out: list[str] = []
        for kind, word, card, parts in self._card_plan:
            if kind == "r" and word in res:
                if not parts:
                    raise ValueError(f"cannot set the value of resistor card {card!r}")
                card = parts[0] + _format(res[word]) + parts[1]
            elif kind == "s":
                if sweep is not None and word in sweep:
                    out.extend(_swept_source(list(parts), sweep[word]))
                    continue
                if not any(t.lower() == "ac" for t in parts[3:]):
                    card += " ac 0"
            out.append(card)
        return out

    def base_lines(self) -> list[str]:
        """The base netlist (title ... ``.end``): the circuit plus port sources."""
        lines = [title_line(self.title), *self._element_cards(None)]
        for n1, n2 in self.ports:
            lines.append(f"{self.port_name(n1, n2)} {n2} {n1} dc 0 ac 0")
        lines += [self._options_card(), ".end"]
        return lines

    def sweep_lines(self, sources: list[str], inputs: list[list[float]]) -> list[str]:
        """The sweep netlist for ``inputs`` (N rows, one value per source, N >= 2).

        Sweep it with ``dc vdnx_idx 0 N-1 1``; point k is input row k.
        """
        n = len(inputs)
        if n < 2:
            raise ValueError("a sweep netlist needs at least two input rows")
        tables = {}
        for j, s in enumerate(sources):
            tables[s] = ",".join(f"{k},{_format(row[j])}" for k, row in enumerate(inputs))
        lines = [title_line(self.title), *self._element_cards(tables)]
        lines.append(f"v{RESERVED}idx {RESERVED}idx 0 dc 0")
        lines += [self._options_card(SWEEP_TIGHTENING), ".end"]
        return lines


def _swept_source(tokens: list[str], table: str) -> list[str]:
    name, npos, nneg = tokens[0].lower(), tokens[1], tokens[2]
    expr = f"pwl(v({RESERVED}idx),{table})"
    if name.startswith("v"):
        mid = f"{RESERVED}{name}"
        return [f"{name} {npos} {mid} dc 0", f"b{RESERVED}{name} {mid} {nneg} v={expr}"]
    return [f"b{RESERVED}{name} {npos} {nneg} i={expr}"]
