"""Circuit elements: the linear conductance network and the diodes.

Conventions (SPICE's):

* Every element connects named nodes; node ``"0"`` is ground. Names are stored
  lower-case, because SPICE is case-insensitive.
* An element's name starts with its SPICE letter (``R``, ``D``, ``V``, ``I``,
  ``E``, ``F``, ``G``, ``H``); transformers and gyrators are written as
  subcircuit instances, so their names start with ``X``.
* Branch voltage of a two-terminal element is ``v = V(n1) - V(n2)``; a
  resistor's current flows from ``n1`` to ``n2``. A current source's current
  flows *through the source* from ``n_plus`` to ``n_minus`` (out of the source
  at ``n_minus``), as in SPICE.
* Units are SI: ohms, siemens, volts, amperes.

Two-port elements:

* ``Transformer`` (ideal, two windings, ratio ``n``):
  ``v1 = n * v2`` and ``i2 = -n * i1``, where ``v1 = V(p1)-V(p2)``,
  ``v2 = V(s1)-V(s2)`` and ``i1``, ``i2`` flow *into* the ``p1`` and ``s1``
  terminals. It is lossless: ``v1*i1 + v2*i2 = 0``.
* ``Gyrator`` (ideal, gyration conductance ``g``): ``i1 = g * v2``,
  ``i2 = -g * v1`` with the same port conventions. It is lossless and
  antireciprocal; it contributes the skew part of a kernel's ``H``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, ClassVar, Self

from .diode_models import DiodeModel, IdealDiode, PWLDiode, ShockleyDiode, _finite


def _check_name(name: str, letter: str, kind: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{kind} name must be a non-empty string, got {name!r}")
    name = name.strip().lower()
    if not name.startswith(letter):
        raise ValueError(
            f"{kind} names start with {letter.upper()!r} as in SPICE, got {name!r}"
        )
    if any(ch.isspace() for ch in name) or any(ch in name for ch in "(){}=,;"):
        raise ValueError(f"{kind} name {name!r} contains a character SPICE cannot read")
    return name


def _check_node(node: str | int) -> str:
    node = str(node).strip().lower()
    # parentheses are allowed: KiCad names nets "Net-(D1-Pad2)"
    if not node or any(ch.isspace() for ch in node) or any(ch in node for ch in "{}=,;"):
        raise ValueError(f"invalid node name {node!r}")
    if node == "gnd":
        return "0"
    return node






# --------------------------------------------------------------------------
# Elements
# --------------------------------------------------------------------------


@dataclass(eq=True)
class Element:
    """Base class. Subclasses declare ``letter`` and their node fields."""

    letter: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    node_fields: ClassVar[tuple[str, ...]] = ()
    if TYPE_CHECKING:
        # every subclass declares ``name`` as its first field (dataclass order)
        name: str

    def _normalise(self) -> None:
        object.__setattr__(self, "name", _check_name(self.name, self.letter, self.kind))
        for f in self.node_fields:
            object.__setattr__(self, f, _check_node(getattr(self, f)))

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(getattr(self, f) for f in self.node_fields)

    def replace(self, **changes: object) -> Self:
        """A copy with some fields changed (validated again)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return type(self)(**values)


@dataclass(eq=True)
class Resistor(Element):
    """Linear resistor between ``n1`` and ``n2``. Trainable by default.

    Give ``resistance`` (ohms) or ``conductance`` (siemens); conductance is the
    parameter hardware linearization differentiates with respect to.
    """

    name: str
    n1: str
    n2: str
    resistance: float | None = None
    conductance: float | None = None
    trainable: bool = True
    letter: ClassVar[str] = "r"
    kind: ClassVar[str] = "resistor"
    node_fields: ClassVar[tuple[str, ...]] = ("n1", "n2")

    def __post_init__(self) -> None:
        self._normalise()
        if (self.resistance is None) == (self.conductance is None):
            raise ValueError(f"{self.name}: give exactly one of resistance or conductance")
        if self.conductance is not None:
            g = _finite(self.conductance, f"{self.name} conductance")
            if g <= 0:
                raise ValueError(f"{self.name}: conductance must be > 0, got {g}")
            self.resistance = 1.0 / g
            self.conductance = None
        assert self.resistance is not None  # exactly one was given, and g became R
        r = _finite(self.resistance, f"{self.name} resistance")
        if r <= 0:
            raise ValueError(f"{self.name}: resistance must be > 0, got {r}")
        if not math.isfinite(1.0 / r):
            raise ValueError(f"{self.name}: resistance {r!r} ohm is too small: its conductance "
                             "1/R overflows a float")
        self.resistance = r
        self.trainable = bool(self.trainable)

    @property
    def g(self) -> float:
        """Conductance in siemens."""
        assert self.resistance is not None  # __post_init__ always sets it
        return 1.0 / self.resistance

    def replace(self, **changes: object) -> Self:
        if "conductance" in changes:
            changes.setdefault("resistance", None)
        return super().replace(**changes)


@dataclass(eq=True)
class Diode(Element):
    """Diode from ``anode`` to ``cathode`` with a model (ideal, PWL or Shockley).

    ``model_name`` is the name of its ``.model`` card in a netlist.
    """

    name: str
    anode: str
    cathode: str
    model: DiodeModel = field(default_factory=IdealDiode)
    model_name: str | None = None
    trainable: bool = False
    letter: ClassVar[str] = "d"
    kind: ClassVar[str] = "diode"
    node_fields: ClassVar[tuple[str, ...]] = ("anode", "cathode")

    def __post_init__(self) -> None:
        self._normalise()
        if not isinstance(self.model, IdealDiode | PWLDiode | ShockleyDiode):
            raise ValueError(f"{self.name}: unknown diode model {self.model!r}")
        if self.model_name is None:
            self.model_name = f"d{self.model.kind}_{self.name}"
        self.model_name = self.model_name.lower()


@dataclass(eq=True)
class VoltageSource(Element):
    """Independent DC voltage source: ``V(pos) - V(neg) = dc``."""

    name: str
    pos: str
    neg: str
    dc: float = 0.0
    trainable: bool = False
    letter: ClassVar[str] = "v"
    kind: ClassVar[str] = "voltage source"
    node_fields: ClassVar[tuple[str, ...]] = ("pos", "neg")

    def __post_init__(self) -> None:
        self._normalise()
        self.dc = _finite(self.dc, f"{self.name} dc value")


@dataclass(eq=True)
class Inductor(VoltageSource):
    """Inductor: a short at DC, i.e. a 0 V source whose current is its branch
    current (from ``pos`` through it to ``neg``, as SPICE reports ``i(l1)``).
    ``inductance`` (henries) is kept for the netlist only."""

    inductance: float = 1e-9
    letter: ClassVar[str] = "l"
    kind: ClassVar[str] = "inductor"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dc != 0.0:
            raise ValueError(f"{self.name}: an inductor is a short at DC (dc must be 0)")
        if _finite(self.inductance, f"{self.name} inductance") <= 0:
            raise ValueError(f"{self.name}: inductance must be > 0, got {self.inductance}")


@dataclass(eq=True)
class CurrentSource(Element):
    """Independent DC current source; ``dc`` amperes flow through it from
    ``pos`` to ``neg`` (so it injects current into ``neg``)."""

    name: str
    pos: str
    neg: str
    dc: float = 0.0
    trainable: bool = False
    letter: ClassVar[str] = "i"
    kind: ClassVar[str] = "current source"
    node_fields: ClassVar[tuple[str, ...]] = ("pos", "neg")

    def __post_init__(self) -> None:
        self._normalise()
        self.dc = _finite(self.dc, f"{self.name} dc value")


@dataclass(eq=True)
class VCVS(Element):
    """E element: ``V(pos) - V(neg) = gain * (V(cpos) - V(cneg))``."""

    name: str
    pos: str
    neg: str
    cpos: str
    cneg: str
    gain: float = 1.0
    trainable: bool = False
    letter: ClassVar[str] = "e"
    kind: ClassVar[str] = "VCVS"
    node_fields: ClassVar[tuple[str, ...]] = ("pos", "neg", "cpos", "cneg")

    def __post_init__(self) -> None:
        self._normalise()
        self.gain = _finite(self.gain, f"{self.name} gain")


@dataclass(eq=True)
class CCCS(Element):
    """F element: ``gain * I(control)`` flows through it from ``pos`` to ``neg``.

    ``control`` names a voltage source whose current (from its ``pos`` through
    it to ``neg``) is sensed, as in SPICE.
    """

    name: str
    pos: str
    neg: str
    control: str
    gain: float = 1.0
    trainable: bool = False
    letter: ClassVar[str] = "f"
    kind: ClassVar[str] = "CCCS"
    node_fields: ClassVar[tuple[str, ...]] = ("pos", "neg")

    def __post_init__(self) -> None:
        self._normalise()
        self.control = _check_name(self.control, "v", "controlling voltage source")
        self.gain = _finite(self.gain, f"{self.name} gain")


@dataclass(eq=True)
class VCCS(Element):
    """G element: ``gm * (V(cpos) - V(cneg))`` flows through it from ``pos`` to ``neg``."""

    name: str
    pos: str
    neg: str
    cpos: str
    cneg: str
    gm: float = 1.0
    trainable: bool = False
    letter: ClassVar[str] = "g"
    kind: ClassVar[str] = "VCCS"
    node_fields: ClassVar[tuple[str, ...]] = ("pos", "neg", "cpos", "cneg")

    def __post_init__(self) -> None:
        self._normalise()
        self.gm = _finite(self.gm, f"{self.name} transconductance")


@dataclass(eq=True)
class CCVS(Element):
    """H element: ``V(pos) - V(neg) = rm * I(control)``."""

    name: str
    pos: str
    neg: str
    control: str
    rm: float = 1.0
    trainable: bool = False
    letter: ClassVar[str] = "h"
    kind: ClassVar[str] = "CCVS"
    node_fields: ClassVar[tuple[str, ...]] = ("pos", "neg")

    def __post_init__(self) -> None:
        self._normalise()
        self.control = _check_name(self.control, "v", "controlling voltage source")
        self.rm = _finite(self.rm, f"{self.name} transresistance")


@dataclass(eq=True)
class Transformer(Element):
    """Ideal two-winding transformer, ratio ``n``: ``v1 = n v2``, ``i2 = -n i1``.

    Written to SPICE as a subcircuit: an E element across the *secondary*
    (``v2 = v1 / n``) in series with a 0 V source that senses ``i2``, and an F
    element on the primary that draws ``i1 = -i2 / n``. The secondary is
    therefore voltage-defined (a DC path for SPICE) and the primary is a
    current-defined port.
    """

    name: str
    p1: str
    p2: str
    s1: str
    s2: str
    n: float = 1.0
    trainable: bool = False
    letter: ClassVar[str] = "x"
    kind: ClassVar[str] = "transformer"
    node_fields: ClassVar[tuple[str, ...]] = ("p1", "p2", "s1", "s2")

    def __post_init__(self) -> None:
        self._normalise()
        if _finite(self.n, f"{self.name} turns ratio") == 0:
            raise ValueError(f"{self.name}: turns ratio must be non-zero")


@dataclass(eq=True)
class Gyrator(Element):
    """Ideal gyrator, gyration conductance ``g``: ``i1 = g v2``, ``i2 = -g v1``.

    Written to SPICE as a subcircuit of two G elements.
    """

    name: str
    p1: str
    p2: str
    s1: str
    s2: str
    g: float = 1e-3
    trainable: bool = False
    letter: ClassVar[str] = "x"
    kind: ClassVar[str] = "gyrator"
    node_fields: ClassVar[tuple[str, ...]] = ("p1", "p2", "s1", "s2")

    def __post_init__(self) -> None:
        self._normalise()
        if _finite(self.g, f"{self.name} gyration conductance") == 0:
            raise ValueError(f"{self.name}: gyration conductance must be non-zero")


ELEMENT_TYPES: tuple[type[Element], ...] = (
    Resistor, Diode, VoltageSource, Inductor, CurrentSource, VCVS, CCCS, VCCS, CCVS,
    Transformer, Gyrator,
)
