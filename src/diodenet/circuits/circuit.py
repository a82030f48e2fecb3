"""``Circuit``: named nodes and elements, the one model every part of diodenet shares."""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ..utils.numbers import is_real
from ..utils.unionfind import UnionFind
from .diode_models import DiodeModel, IdealDiode, PWLDiode
from .elements import (
    CCCS,
    CCVS,
    VCCS,
    VCVS,
    CurrentSource,
    Diode,
    Element,
    Gyrator,
    Resistor,
    Transformer,
    VoltageSource,
)

GROUND = "0"

E = TypeVar("E", bound=Element)


class CircuitError(ValueError):
    """A circuit that is not well formed. ``element`` names the culprit, if any."""

    def __init__(self, message: str, element: str | None = None) -> None:
        super().__init__(message)
        self.element = element


@dataclass(frozen=True)
class TopologyProblem:
    element: str
    message: str


@dataclass
class Circuit:
    """A DC circuit: named nodes (ground is ``"0"``) and named elements.

    Element and node names are case-insensitive (stored lower-case), as in SPICE.
    Elements keep their insertion order, which is also the order of
    ``trainable_resistors`` and so of every gradient vector.

    >>> c = Circuit("divider")
    >>> c.add_voltage_source("V1", "in", "0", dc=1.0)
    >>> c.add_resistor("R1", "in", "out", resistance=1e3)
    >>> c.add_resistor("R2", "out", "0", conductance=1e-3)
    >>> sorted(c.nodes)
    ['in', 'out']
    """

    title: str = "diodenet circuit"
    elements: dict[str, Element] = field(default_factory=dict)
    options: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------------ build
    def add(self, element: E) -> E:
        """Add an element; names must be unique (case-insensitive)."""
        if not isinstance(element, Element):
            raise TypeError(f"expected a circuit element, got {type(element).__name__}")
        if element.name in self.elements:
            raise CircuitError(f"duplicate element name {element.name!r}", element.name)
        self.elements[element.name] = element
        return element

    def add_resistor(
        self,
        name: str,
        n1: str,
        n2: str,
        *,
        resistance: float | None = None,
        conductance: float | None = None,
        trainable: bool = True,
    ) -> Resistor:
        return self.add(Resistor(name, n1, n2, resistance, conductance, trainable))

    def add_diode(
        self, name: str, anode: str, cathode: str, model: DiodeModel | None = None,
        model_name: str | None = None,
    ) -> Diode:
        return self.add(Diode(name, anode, cathode, model or IdealDiode(), model_name))

    def add_voltage_source(
        self, name: str, pos: str, neg: str, dc: float = 0.0, *, trainable: bool = False
    ) -> VoltageSource:
        return self.add(VoltageSource(name, pos, neg, dc, trainable))

    def add_current_source(
        self, name: str, pos: str, neg: str, dc: float = 0.0, *, trainable: bool = False
    ) -> CurrentSource:
        return self.add(CurrentSource(name, pos, neg, dc, trainable))

    def add_vcvs(self, name: str, pos: str, neg: str, cpos: str, cneg: str, gain: float) -> VCVS:
        return self.add(VCVS(name, pos, neg, cpos, cneg, gain))

    def add_cccs(self, name: str, pos: str, neg: str, control: str, gain: float) -> CCCS:
        return self.add(CCCS(name, pos, neg, control, gain))

    def add_vccs(self, name: str, pos: str, neg: str, cpos: str, cneg: str, gm: float) -> VCCS:
        return self.add(VCCS(name, pos, neg, cpos, cneg, gm))

    def add_ccvs(self, name: str, pos: str, neg: str, control: str, rm: float) -> CCVS:
        return self.add(CCVS(name, pos, neg, control, rm))

    def add_transformer(
        self, name: str, p1: str, p2: str, s1: str, s2: str, n: float
    ) -> Transformer:
        return self.add(Transformer(name, p1, p2, s1, s2, n))

    def add_gyrator(self, name: str, p1: str, p2: str, s1: str, s2: str, g: float) -> Gyrator:
        return self.add(Gyrator(name, p1, p2, s1, s2, g))

    def remove(self, name: str) -> Element:
        return self.elements.pop(name.lower())

    # ------------------------------------------------------------------ query
    def __getitem__(self, name: str) -> Element:
        try:
            return self.elements[name.strip().lower()]
        except KeyError:
            raise KeyError(f"no element named {name!r} in circuit {self.title!r}") from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self.elements

    def __iter__(self) -> Iterator[Element]:
        return iter(self.elements.values())

    def __len__(self) -> int:
        return len(self.elements)

    def of_type(self, *types: type[Element]) -> list[Element]:
        return [e for e in self.elements.values() if isinstance(e, types)]

    def element(self, name: str, kind: type[E]) -> E:
        """The element ``name``, which must be a ``kind`` (``TypeError`` otherwise)."""
        e = self[name]
        if not isinstance(e, kind):
            raise TypeError(f"{e.name!r} is a {e.kind}, not a {kind.kind or kind.__name__}")
        return e

    @property
    def nodes(self) -> list[str]:
        """Every node except ground, in order of first appearance."""
        seen: dict[str, None] = {}
        for e in self.elements.values():
            for n in e.nodes:
                if n != GROUND:
                    seen.setdefault(n, None)
        return list(seen)

    @property
    def resistors(self) -> list[Resistor]:
        return [e for e in self.elements.values() if isinstance(e, Resistor)]

    @property
    def diodes(self) -> list[Diode]:
        return [e for e in self.elements.values() if isinstance(e, Diode)]

    @property
    def trainable_resistors(self) -> list[Resistor]:
        return [r for r in self.resistors if r.trainable]

    @property
    def sources(self) -> list[VoltageSource | CurrentSource]:
        return [e for e in self.elements.values() if isinstance(e, VoltageSource | CurrentSource)]

    def conductances(self, names: Iterable[str] | None = None) -> list[float]:
        """Conductances (S) of the named resistors (default: the trainable ones)."""
        rs = (self.trainable_resistors if names is None
              else [self.element(n, Resistor) for n in names])
        return [r.g for r in rs]

    def set_conductances(self, values: dict[str, float] | Iterable[float]) -> None:
        """Set resistor conductances (S), by name or in ``trainable_resistors`` order.
        All or nothing: a bad name or value raises ``ValueError`` and changes none."""
        if isinstance(values, dict):
            items = list(values.items())
        else:
            vals = list(values)
            rs = self.trainable_resistors
            if len(vals) != len(rs):
                raise ValueError(f"expected {len(rs)} conductances, got {len(vals)}")
            items = [(r.name, v) for r, v in zip(rs, vals)]
        updated: dict[str, Resistor] = {}
        for name, g in items:
            r = self.elements.get(str(name).lower())
            if not isinstance(r, Resistor):
                raise ValueError(f"{name!r} is not a resistor of the circuit")
            if not is_real(g):
                raise ValueError(f"{r.name}: a conductance is a number (S), got {g!r}")
            g = float(g)
            if 0.0 < g < math.inf and 0.0 < 1.0 / g < math.inf:
                # what Resistor's own checks accept: a copy with the new value,
                # without re-validating its name and nodes (~10x faster)
                new = copy.copy(r)
                new.resistance = 1.0 / g
                updated[r.name] = new
            else:
                updated[r.name] = r.replace(conductance=g)  # its own error
        self.elements.update(updated)

    def set_source(self, name: str, dc: float) -> None:
        s = self[name]
        if not isinstance(s, VoltageSource | CurrentSource):
            raise ValueError(f"{name!r} is not an independent source")
        self.elements[s.name] = s.replace(dc=float(dc))

    def copy(self) -> Circuit:
        """An independent copy. Elements hold only scalars, names and frozen
        diode models, so a shallow copy of each is a deep one (and ~50× faster
        than ``deepcopy`` on a 200k-resistor network)."""
        new = copy.copy(self)
        for key, value in self.__dict__.items():
            if key != "elements":
                setattr(new, key, copy.deepcopy(value))
        new.elements = {name: _shallow(e) for name, e in self.elements.items()}
        return new

    def summary(self) -> dict[str, object]:
        """Nodes, elements by kind and the trainable count (what ``netlist check`` prints)."""
        kinds = Counter(e.kind for e in self.elements.values())
        return {
            "title": self.title,
            "nodes": len(self.nodes),
            "elements": len(self.elements),
            "by_kind": dict(sorted(kinds.items())),
            "trainable": sum(1 for e in self.elements.values() if getattr(e, "trainable", False)),
        }

    # ------------------------------------------------------------- topology
    def voltage_defined_branches(self) -> Iterator[tuple[Element, str, str]]:
        """``(element, a, b)`` for each branch whose voltage an element fixes: an
        independent voltage source (inductors are 0 V ones at DC), the output of
        an E or H source, a transformer's secondary."""
        for e in self.elements.values():
            if isinstance(e, VoltageSource | VCVS | CCVS):
                yield e, e.pos, e.neg
            elif isinstance(e, Transformer):
                yield e, e.s1, e.s2

    def topology_problems(self) -> list[TopologyProblem]:
        """Structural problems SPICE would also reject.

        * a node with a single connection where that leaves no solution: a
          current source's terminal, or an ideal/PWL diode's (a resistor's or a
          Shockley diode's dangling terminal is fine: it carries no current);
        * a subnetwork with no DC path to ground (a floating node). DC paths
          run through resistors, diodes, voltage sources, the output of E and
          H elements and a transformer's secondary (the winding its SPICE
          realisation drives with a voltage).
        * a current-controlled source whose controlling voltage source is missing;
        * a loop of voltage-defined branches alone (voltage sources, inductors,
          which are shorts at DC, E/H outputs, transformer secondaries): its
          current is undetermined, and ngspice finds a singular matrix.
        """
        problems: list[TopologyProblem] = []
        count: Counter[str] = Counter()
        first_user: dict[str, Element] = {}
        for e in self.elements.values():
            for n in e.nodes:
                count[n] += 1
                first_user.setdefault(n, e)
        for n, k in count.items():
            if n == GROUND or k != 1:
                continue
            e = first_user[n]
            # SPICE solves a terminal that only a resistor, a Shockley junction
            # or a voltage-defined branch reaches (no current: its voltage
            # follows); a current forced into it, or an ideal/PWL diode's
            # undetermined reverse voltage, has no solution
            if isinstance(e, CurrentSource | CCCS | VCCS) and n in e.nodes[:2]:
                problems.append(TopologyProblem(
                    e.name, f"node {n!r} has only one connection: the current source "
                    "has nowhere to go"))
            elif isinstance(e, Diode) and isinstance(e.model, IdealDiode | PWLDiode):
                problems.append(TopologyProblem(
                    e.name, f"node {n!r} has only one connection: the {e.model.kind} "
                    "diode's voltage is undetermined there"))
        # connected components over DC paths: resistors, diodes and the
        # voltage-defined branches, which alone must not close a loop
        dc = UnionFind[str]()
        find = dc.find
        for e in self.elements.values():
            for n in e.nodes:
                find(n)
            if isinstance(e, Resistor | Diode):
                dc.join(*e.nodes[:2])
        loops = UnionFind[str]()
        for e, a, b in self.voltage_defined_branches():
            dc.join(a, b)
            if not loops.join(a, b):
                problems.append(TopologyProblem(
                    e.name, "closes a loop of voltage sources (or inductors, shorts at DC) "
                    "alone: the current around it is undetermined"))
        ground_root = find(GROUND)
        reported: set[str] = set()
        for e in self.elements.values():
            for n in e.nodes:
                root = find(n)
                if root != ground_root and root not in reported:
                    reported.add(root)
                    problems.append(
                        TopologyProblem(e.name, f"node {n!r} has no DC path to ground")
                    )
            if isinstance(e, CCCS | CCVS) and not isinstance(
                self.elements.get(e.control), VoltageSource
            ):
                problems.append(
                    TopologyProblem(e.name, f"controlling voltage source {e.control!r} not found")
                )
        return problems

    def validate(self) -> Circuit:
        """Raise ``CircuitError`` for the first topology problem; return ``self``."""
        problems = self.topology_problems()
        if problems:
            p = problems[0]
            raise CircuitError(f"{p.element}: {p.message}", p.element)
        return self

    # ------------------------------------------------------------- netlists
    @classmethod
    def from_spice(cls, text: str, *, includes: dict[str, str] | None = None) -> Circuit:
        """Parse an ngspice netlist (data only: see ``diodenet.circuits.netlist``)."""
        from .netlist import parse_netlist

        return parse_netlist(text, includes=includes)

    @classmethod
    def read(cls, path: str | Path, *, includes: Iterable[str | Path] = ()) -> Circuit:
        """Read a netlist file. ``includes`` lists the files ``.include``/``.lib`` may name."""
        from .netlist import read_netlist

        return read_netlist(path, includes=includes)

    def to_spice(self) -> str:
        """An ngspice netlist that runs in ``ngspice -b`` and reads back equal."""
        from .netlist import write_netlist

        return write_netlist(self)

    def write(self, path: str | Path) -> None:
        Path(path).write_text(self.to_spice())


def _shallow(e: Element) -> Element:
    """``copy.copy`` of an element without the pickle protocol's overhead."""
    new = object.__new__(type(e))
    new.__dict__.update(e.__dict__)
    return new
