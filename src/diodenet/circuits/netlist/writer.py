"""Circuit to ngspice netlist: a file ngspice runs and diodenet reads back equal.

* Floats are written with ``repr``, so they read back bit-for-bit.
* ``Transformer`` and ``Gyrator`` become instances of the reserved
  subcircuits ``diodenet_transformer`` (an E element driving the secondary, a
  0 V sensing source and an F element on the primary) and
  ``diodenet_gyrator`` (two G elements); the reader maps instances of exactly
  these subcircuits back.
* Ideal and piecewise-linear diodes get the closest Shockley ``.model`` that
  ngspice runs (``spice_diode_model``) plus a ``*@diodenet model`` comment
  with the exact model, which ngspice ignores and the reader uses.
* Trainable flags that differ from the element's default are kept in
  ``*@diodenet fixed NAME`` / ``*@diodenet trainable NAME`` comments.
* No analysis card: the simulator adds its own commands.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, fields
from functools import partial

from ..circuit import Circuit
from ..diode_models import (
    GMIN,
    THERMAL_VOLTAGE,
    DiodeModel,
    IdealDiode,
    PWLDiode,
    ShockleyDiode,
)
from ..elements import (
    CCCS,
    CCVS,
    VCCS,
    VCVS,
    CurrentSource,
    Diode,
    Element,
    Gyrator,
    Inductor,
    Resistor,
    Transformer,
    VoltageSource,
)
from .names import SpiceNames, title_line

TRANSFORMER_SUBCKT = "diodenet_transformer"
GYRATOR_SUBCKT = "diodenet_gyrator"

#: Ideal transformer, v1 = n*v2 and i2 = -n*i1 in the
#: project's convention (``elements.Transformer``): an E element drives the
#: secondary with v1/n through a 0 V source that senses i2, so the secondary is
#: the DC path; an F element makes the primary draw i1 = -i2/n.
TRANSFORMER_TEXT = f""".subckt {TRANSFORMER_SUBCKT} p1 p2 s1 s2 params: n=1
* ideal transformer: v1 = n*v2, i2 = -n*i1 (i1, i2 flow into p1, s1)
e1 s1 mid p1 p2 {{1/n}}
vsense mid s2 0
f1 p2 p1 vsense {{1/n}}
.ends {TRANSFORMER_SUBCKT}"""

#: Ideal gyrator, i1 = g*v2 and i2 = -g*v1.
GYRATOR_TEXT = f""".subckt {GYRATOR_SUBCKT} p1 p2 s1 s2 params: g=1
* ideal gyrator: i1 = g*v2, i2 = -g*v1 (i1, i2 flow into p1, s1)
g1 p1 p2 s1 s2 {{g}}
g2 s2 s1 p1 p2 {{g}}
.ends {GYRATOR_SUBCKT}"""

#: The ideal-diode stand-in: a tiny emission coefficient makes the knee sharp
#: (about 13 mV drop at 1 mA) while ngspice still converges.
IDEAL_STANDIN = ShockleyDiode(is_=1e-14, n=0.02)
#: Current (A) at which a PWL diode's stand-in drops exactly ``vf``.
PWL_MATCH_CURRENT = 1e-3


@dataclass(frozen=True)
class IdealSwitch:
    """An ideal diode given to ngspice as a switch instead of ``IDEAL_STANDIN``.

    The element is the behavioural current source ``i = g_on·v`` for ``v > 0``
    and ``i = g_off·v`` otherwise, ``v`` the anode–cathode voltage. It is
    piecewise linear, so ngspice's Newton iteration is exact once it has the
    conducting set right, where the Shockley stand-in's junction limiting lets
    a diode's voltage move a few ``N·V_T`` per iteration (measured in DC sweeps
    over MNIST digits at 784-128: 3 iterations per operating point against 15).
    Its drop when on is ``i / g_on``, against the stand-in's
    ``N·V_T·ln(i/I_s)`` (about 13 mV at 1 mA).

    ``g_on`` should dwarf every conductance of the circuit; ``for_circuit`` takes
    it relative to the largest.
    """

    g_on: float
    g_off: float = GMIN

    #: ``g_on`` over the circuit's largest conductance (``for_circuit``)
    RATIO = 1e6

    def __post_init__(self) -> None:
        if not (math.isfinite(self.g_on) and math.isfinite(self.g_off)
                and 0 <= self.g_off < self.g_on):
            raise ValueError(
                f"an ideal switch needs finite 0 <= g_off < g_on, got g_on={self.g_on!r}, "
                f"g_off={self.g_off!r}"
            )

    @classmethod
    def for_circuit(cls, circuit: Circuit, ratio: float = RATIO) -> IdealSwitch:
        """``g_on`` = ``ratio`` times the largest resistor conductance (1 S without
        resistors), ``g_off`` = ngspice's gmin."""
        g = [1.0 / e.resistance for e in circuit
             if isinstance(e, Resistor) and e.resistance]
        return cls(g_on=ratio * (max(g) if g else 1.0))

    def law(self, model: IdealDiode | PWLDiode) -> tuple[float, float]:
        """``(vf, slope)``: where the switch given ``model`` turns on and its
        conducting slope (S). An ideal diode: ``(0, g_on)``; a PWL diode:
        ``(vf, 1/ron)``, or ``(vf, g_on)`` when ``ron = 0``."""
        if isinstance(model, PWLDiode):
            return model.vf, (1.0 / model.ron if model.ron > 0 else self.g_on)
        return 0.0, self.g_on

    def card(self, name: str, anode: str, cathode: str,
             model: IdealDiode | PWLDiode | None = None) -> str:
        """The B-source card of the switch ``name`` (which starts with ``b``) for
        ``model`` (default: an ideal diode). A PWL diode is its exact law
        ``slope·(v - vf)`` above ``vf``, with ``g_off`` across it throughout."""
        v = f"v({anode},{cathode})"
        if not isinstance(model, PWLDiode):
            return (f"{name} {anode} {cathode} "
                    f"i=({v}>0) ? {_num(self.g_on)}*{v} : {_num(self.g_off)}*{v}")
        vf, slope = self.law(model)
        return (f"{name} {anode} {cathode} i={_num(self.g_off)}*{v} + "
                f"(({v}>{_num(vf)}) ? {_num(slope)}*({v}-({_num(vf)})) : 0)")


@dataclass(frozen=True)
class ControlledConductance:
    """A conductance between ``n1`` and ``n2`` of ``V(control)`` siemens, written as
    the behavioural current source ``NAME n1 n2 i=v(n1,n2)*v(control)``."""

    name: str
    n1: str
    n2: str
    control: str


_SAFE_NAME = re.compile(r"[a-z0-9_][a-z0-9_.:#!%&@/|<>\[\]\-]*")
#: node names may also hold parentheses (KiCad's "Net-(D1-Pad2)")
_SAFE_NODE = re.compile(r"[a-z0-9_(][a-z0-9_.:#!%&@/|<>()\[\]\-]*")
_OPTION_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def spice_diode_model(model: DiodeModel) -> ShockleyDiode:
    """The Shockley model written to ``.model`` for ``model``.

    * Shockley: itself.
    * Ideal: ``IDEAL_STANDIN``.
    * PWL(vf, ron): ``Rs = ron`` and a junction that drops ``vf`` at
      ``PWL_MATCH_CURRENT``: ``Is = I/(exp(vf/(N·Vt)) - 1)`` (``Vt`` as ngspice
      computes it, ``diode_models.THERMAL_VOLTAGE``: the drop at 1 mA then matches
      ``vf`` to 1e-7) with ``N = 1`` when that
      gives a sane ``Is`` (1e-20..1e-7 A, i.e. 0.42 V <= vf <= 1.0 V), else
      ``N`` scaled so ``vf/(N·Vt) = 30``. A drop below the ideal stand-in's
      own falls back to the ideal stand-in (with ``Rs = ron``).
    """
    if isinstance(model, ShockleyDiode):
        return model
    if isinstance(model, IdealDiode):
        return IDEAL_STANDIN
    if isinstance(model, PWLDiode):
        vt = THERMAL_VOLTAGE
        ideal_drop = IDEAL_STANDIN.n * vt * math.log(PWL_MATCH_CURRENT / IDEAL_STANDIN.is_)
        if model.vf <= ideal_drop:
            return ShockleyDiode(is_=IDEAL_STANDIN.is_, n=IDEAL_STANDIN.n, rs=model.ron)
        ratio = model.vf / vt  # may overflow to inf for an absurd vf: then N scales
        if math.log(1e7) <= ratio <= math.log(1e17):
            n, exponent = 1.0, ratio
        else:
            # (vf capped at 1e300 V, where N would overflow: nothing real is near it)
            n, exponent = min(model.vf, 1e300) / (30.0 * vt), 30.0
        return ShockleyDiode(is_=PWL_MATCH_CURRENT / math.expm1(exponent), n=n, rs=model.ron)
    raise ValueError(f"unknown diode model {model!r}")


def _num(x: float) -> str:
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"cannot write the non-finite value {x!r}")
    return repr(x)


def model_card(name: str, model: ShockleyDiode) -> str:
    """``.model NAME D(...)``: Is, N, Rs always; BV, IBV, Cjo, M, tt when not default."""
    parts = [f"Is={_num(model.is_)}", f"N={_num(model.n)}", f"Rs={_num(model.rs)}"]
    default = ShockleyDiode()
    if model.bv is not None:
        parts.append(f"BV={_num(model.bv)}")
    if model.ibv != default.ibv:
        parts.append(f"IBV={_num(model.ibv)}")
    if model.cjo != default.cjo:
        parts.append(f"Cjo={_num(model.cjo)}")
    if model.m != default.m:
        parts.append(f"M={_num(model.m)}")
    if model.tt != default.tt:
        parts.append(f"tt={_num(model.tt)}")
    for key, field_name in (("Ikf", "ikf"), ("Ikr", "ikr"), ("Isr", "isr"), ("Nr", "nr"),
                            ("Vj", "vj"), ("Nbv", "nbv")):
        if getattr(model, field_name) not in (getattr(default, field_name), None):
            parts.append(f"{key}={_num(getattr(model, field_name))}")
    if model.temp != default.temp:
        # the values are already those at `temp`: measured there, nothing rescales
        parts.append(f"tnom={_num(model.temp)}")
    return f".model {name} D({' '.join(parts)})"


def model_note(name: str, model: DiodeModel) -> str | None:
    """The ``*@diodenet model`` comment keeping an ideal or PWL model exactly."""
    if isinstance(model, IdealDiode):
        return f"*@diodenet model {name} ideal"
    if isinstance(model, PWLDiode):
        return f"*@diodenet model {name} pwl vf={_num(model.vf)} ron={_num(model.ron)}"
    return None


def default_trainable(element: Element) -> bool:
    """The ``trainable`` default of the element's class (resistors: True)."""
    for f in fields(type(element)):
        if f.name == "trainable" and f.default is not MISSING:
            return bool(f.default)
    return False


def _check_name(what: str, name: str, pattern: re.Pattern[str] = _SAFE_NAME) -> str:
    if not pattern.fullmatch(name) or name.endswith(":"):
        raise ValueError(f"{what} {name!r} cannot be written to a SPICE netlist")
    return name


def element_card(e: Element, names: SpiceNames | None = None) -> str:
    """The SPICE card of one element; with ``names``, every element, node and model
    name is written as ``names`` registers it (the ngspice route's aliases)."""
    model: Callable[[str], str]
    control: Callable[[str], str]
    if names is None:
        name = _check_name("element name", e.name)
        nodes = " ".join(_check_name("node name", n, _SAFE_NODE) for n in e.nodes)
        model = partial(_check_name, "diode model name")
        control = partial(_check_name, "control")
    else:
        name = names.add_element(e.name)
        nodes = " ".join(names.add_node(n) for n in e.nodes)
        model, control = names.add_model, names.add_element
    if isinstance(e, Resistor):
        assert e.resistance is not None  # a Resistor always holds its resistance
        return f"{name} {nodes} {_num(e.resistance)}"
    if isinstance(e, Diode):
        card = f"{name} {nodes} {model(e.model_name or '')}"
        if isinstance(e.model, ShockleyDiode) and e.model.temp != 27.0:
            card += f" temp={_num(e.model.temp)}"
        return card
    if isinstance(e, Inductor):
        return f"{name} {nodes} {_num(e.inductance)}"
    if isinstance(e, VoltageSource | CurrentSource):
        return f"{name} {nodes} dc {_num(e.dc)}"
    if isinstance(e, VCVS | CCCS):
        ctrl = f" {control(e.control)}" if isinstance(e, CCCS) else ""
        return f"{name} {nodes}{ctrl} {_num(e.gain)}"
    if isinstance(e, VCCS):
        return f"{name} {nodes} {_num(e.gm)}"
    if isinstance(e, CCVS):
        return f"{name} {nodes} {control(e.control)} {_num(e.rm)}"
    if isinstance(e, Transformer):
        return f"{name} {nodes} {TRANSFORMER_SUBCKT} params: n={_num(e.n)}"
    if isinstance(e, Gyrator):
        return f"{name} {nodes} {GYRATOR_SUBCKT} params: g={_num(e.g)}"
    raise ValueError(f"cannot write element {e.name!r} of type {type(e).__name__}")


def _option_cards(circuit: Circuit) -> list[str]:
    if not circuit.options:
        return []
    opts = []
    for key, value in circuit.options.items():
        if not _OPTION_NAME.fullmatch(str(key)):
            raise ValueError(f"option name {key!r} is not an identifier")
        opts.append(f"{key}={_num(value)}")
    return [".options " + " ".join(opts)]


def _model_cards(
    elements: list[Element], names: SpiceNames | None, notes: bool
) -> list[str]:
    out: list[str] = []
    models: dict[str, DiodeModel] = {}
    for d in elements:
        if not isinstance(d, Diode):
            continue
        name = _check_name("diode model name", d.model_name or "") if names is None \
            else str(d.model_name or "").lower()
        if name in models:
            if models[name] != d.model:
                raise ValueError(
                    f"diodes share the model name {name!r} but not the model "
                    f"({models[name]!r} vs {d.model!r})"
                )
            continue
        models[name] = d.model
        note = model_note(name, d.model) if notes else None
        if note:
            out.append(note)
        written = name if names is None else names.add_model(name)
        out.append(model_card(written, spice_diode_model(d.model)))
    return out


def _subckt_texts(elements: list[Element]) -> list[str]:
    out = []
    if any(isinstance(e, Transformer) for e in elements):
        out.append(TRANSFORMER_TEXT)
    if any(isinstance(e, Gyrator) for e in elements):
        out.append(GYRATOR_TEXT)
    return out


def write_netlist(circuit: Circuit) -> str:
    """The ngspice netlist of ``circuit`` (see the module docstring).

    Preconditions (ValueError otherwise): the title is one line; option names
    are identifiers with finite values; diodes sharing a ``model_name`` share
    the model; names are SPICE-safe. A title that would make ngspice read the
    file as a command script (``*ng_script...``) is written after ``diodenet: ``.
    """
    title = circuit.title
    if "\n" in title or "\r" in title:
        raise ValueError(f"the title must be one line, got {title!r}")
    if title.lstrip().lower().startswith("*ng_script"):
        title = f"diodenet: {title.lstrip()[1:]}"
    out = [title, "* written by diodenet; *@diodenet comments keep exact models and flags"]
    out += _option_cards(circuit)
    elements = list(circuit)
    out += _subckt_texts(elements)
    out += _model_cards(elements, None, notes=True)
    for e in elements:
        out.append(element_card(e))
        trainable = bool(getattr(e, "trainable", False))
        if trainable != default_trainable(e):
            out.append(f"*@diodenet {'trainable' if trainable else 'fixed'} {e.name}")
    out.append(".end")
    return "\n".join(out) + "\n"


def ngspice_netlist(
    circuit: Circuit, conductances: Sequence[ControlledConductance] = (),
    ideal_switch: IdealSwitch | None = None,
) -> tuple[list[str], SpiceNames]:
    """The lines diodenet gives ngspice for ``circuit``, and the names it used.

    Unlike ``write_netlist`` (a file for people and for ``ngspice -b``), this
    is what ngspice itself receives on every route: the first line is the
    fixed comment ``* diodenet: <title>``, and every name outside the safe
    alphabet is an alias (``names.SpiceNames``), so no text from a netlist or
    a circuit reaches ngspice except the numbers and the names it allows.
    ``conductances`` adds behavioural current sources ``i = V(n1, n2)·V(control)``
    (a conductance set by a node voltage; the linearized circuit's diodes).
    With ``ideal_switch``, every ideal and PWL diode is written as that switch
    (a B-source named ``b`` + its name; a PWL diode with its knee and slope)
    instead of a Shockley stand-in.
    Ends with ``.end``.
    """
    names = SpiceNames()
    out = [title_line(circuit.title)]
    out += _option_cards(circuit)
    elements = list(circuit)
    switched = [] if ideal_switch is None else [
        e for e in elements if isinstance(e, Diode) and isinstance(e.model, IdealDiode | PWLDiode)]
    names_switched = {d.name for d in switched}
    elements = [e for e in elements if e.name not in names_switched]
    out += _subckt_texts(elements)
    out += _model_cards(elements, names, notes=False)
    out += [element_card(e, names) for e in elements]
    for d in switched:
        assert ideal_switch is not None
        name = names.add_element(f"b{d.name}")
        assert isinstance(d.model, IdealDiode | PWLDiode)
        out.append(ideal_switch.card(name, names.add_node(d.anode), names.add_node(d.cathode),
                                     d.model))
    for c in conductances:
        name = names.add_element(c.name)
        if not name.startswith("b"):
            raise ValueError(f"a controlled conductance's name starts with 'b', got {c.name!r}")
        n1, n2, ctrl = (names.add_node(n) for n in (c.n1, c.n2, c.control))
        out.append(f"{name} {n1} {n2} i=v({n1},{n2})*v({ctrl})")
    out.append(".end")
    return out, names
