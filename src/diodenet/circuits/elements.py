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

# Thermal voltage kT/q at 300.15 K (ngspice's default TNOM is 27 C), with the
# CODATA 2014 constants ngspice 39 uses, so our Shockley diodes and ngspice's
# agree to ~1e-9 instead of ~3e-5.
BOLTZMANN = 1.38064852e-23
ELEMENTARY_CHARGE = 1.6021766208e-19
THERMAL_VOLTAGE = BOLTZMANN * 300.15 / ELEMENTARY_CHARGE
#: 0 degrees Celsius in kelvin (ngspice's CONSTCtoK).
KELVIN = 273.15


def thermal_voltage(temp: float = 27.0) -> float:
    """kT/q (volts) at ``temp`` degrees Celsius, with ngspice 39's constants."""
    return BOLTZMANN * (temp + KELVIN) / ELEMENTARY_CHARGE


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


def _finite(value: float, what: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return value


# --------------------------------------------------------------------------
# Diode models
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class IdealDiode:
    """Ideal diode: ``i >= 0``, ``v <= 0``, ``i*v = 0`` (a short when on, open when off).

    Its relation is the normal cone of the half-line, whose resolvent is ReLU.
    """

    kind: ClassVar[str] = "ideal"


@dataclass(frozen=True)
class PWLDiode:
    """Piecewise-linear diode: an ideal diode in series with a forward drop
    ``vf`` (volts) and an on-resistance ``ron`` (ohms).

    ``i = max(0, v - vf) / ron`` (for ``ron > 0``); ``ron = 0`` is an ideal
    diode with an offset.
    """

    vf: float = 0.7
    ron: float = 0.0
    kind: ClassVar[str] = "pwl"

    def __post_init__(self) -> None:
        _finite(self.vf, "PWL diode forward voltage vf")
        if _finite(self.ron, "PWL diode on-resistance ron") < 0:
            raise ValueError(f"PWL diode on-resistance ron must be >= 0, got {self.ron}")


@dataclass(frozen=True)
class ShockleyDiode:
    """Shockley diode, SPICE level 1 DC parameters (ngspice's ``D`` model).

    ``i = is_ * (exp(v_j / (n * vt)) - 1)`` across the junction, with the
    junction in series with ``rs`` ohms and ``vt = kT/q`` at ``temp`` degrees
    Celsius. ``bv``/``ibv``/``nbv`` (reverse breakdown, optional) follow SPICE
    (``nbv=None``: the emission coefficient ``n``, as in ngspice).
    The high-injection knee ``ikf`` (``ikr`` reverse; 0: none) divides the
    current by ``1 + sqrt(i/ikf)``; the recombination current
    ``isr * (exp(v_j / (nr vt)) - 1) * ((1 - v_j/vj)^2 + 0.005)^(m/2)`` adds to
    it (see ``diodenet.circuits.junction`` for the full DC law ngspice uses).
    Every value is the effective one at ``temp`` for this instance: the
    netlist reader applies temperature scaling, AREA and M before building it.
    Capacitance parameters (``cjo``, ``tt``) are kept for netlist fidelity;
    they do not affect DC or the linearization.
    """

    is_: float = 1e-14
    n: float = 1.0
    rs: float = 0.0
    bv: float | None = None
    ibv: float = 1e-3
    cjo: float = 0.0
    m: float = 0.5
    tt: float = 0.0
    ikf: float = 0.0
    ikr: float = 0.0
    isr: float = 0.0
    nr: float = 1.0
    vj: float = 1.0
    nbv: float | None = None
    temp: float = 27.0
    kind: ClassVar[str] = "shockley"

    def __post_init__(self) -> None:
        if _finite(self.is_, "saturation current Is") <= 0:
            raise ValueError(f"saturation current Is must be > 0, got {self.is_}")
        if _finite(self.n, "emission coefficient N") <= 0:
            raise ValueError(f"emission coefficient N must be > 0, got {self.n}")
        if _finite(self.rs, "series resistance Rs") < 0:
            raise ValueError(f"series resistance Rs must be >= 0, got {self.rs}")
        if self.bv is not None and _finite(self.bv, "breakdown voltage BV") <= 0:
            raise ValueError(f"breakdown voltage BV must be > 0, got {self.bv}")
        for name, value in (("IKF", self.ikf), ("IKR", self.ikr), ("ISR", self.isr)):
            if _finite(value, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        for name, value in (("NR", self.nr), ("VJ", self.vj), ("NBV", self.nbv or 1.0)):
            if _finite(value, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if _finite(self.temp, "temperature") <= -KELVIN:
            raise ValueError(f"temperature must be above -273.15 C, got {self.temp}")

    @property
    def nvt(self) -> float:
        """Emission coefficient times thermal voltage, ``n*kT/q`` (volts)."""
        if self.temp == 27.0:
            return self.n * THERMAL_VOLTAGE
        return self.n * thermal_voltage(self.temp)

    @property
    def plain(self) -> bool:
        """Only ``is_``, ``n``, ``rs`` (and ``bv``) shape its DC curve: no knee or
        recombination current, which the kernel route's Shockley relation lacks."""
        return self.ikf == 0 and self.ikr == 0 and self.isr == 0


DiodeModel = IdealDiode | PWLDiode | ShockleyDiode

#: A 1N4148-like small-signal diode that ngspice accepts.
D1N4148 = ShockleyDiode(is_=2.52e-9, n=1.752, rs=0.568, cjo=4e-12, m=0.4, tt=20e-9)


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
