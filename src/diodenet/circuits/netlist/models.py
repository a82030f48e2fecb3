"""``.model NAME D(...)`` cards: ngspice's level-1 diode at its DC operating point.

``parse_model_card`` evaluates a card's parameters; ``diode_instance`` turns
them into the ``ShockleyDiode`` of one instance at its temperature, the way
ngspice's temperature update does it:

* ``T`` = the instance's ``temp`` or the circuit's (``.temp``, ``.options
  temp=``) plus ``dtemp``; ``Tnom`` = the model's ``tnom`` or ``.options tnom=``
  (27 C by default);
* ``Is(T) = M·AREA·Is·exp((T/Tnom - 1)·EG/(N·Vt) + XTI/N·ln(T/Tnom))``, and the
  same for ``Isr`` with ``NR``; ``Ikf``/``Ikr`` scale with ``M·AREA``, ``Rs`` by
  ``1/(M·AREA)`` and ``(1 + TRS1·dT + TRS2·dT²)``, ``Ibv`` by ``M``;
  ``BV(T) = BV - TCV·dT`` (``TLEV=1``: ``BV·(1 - TCV·dT)``); the junction
  potential ``VJ`` and grading ``M`` (which shape the recombination current)
  follow ngspice's ``TLEVC`` rules and limits (``VJ <= 1/FC``, ``M <= 0.9``).

Parameters with no DC effect (capacitance, transit time, noise, sidewall
capacitance, safe-operating-area limits) are read and left out silently.
Parameters that would change the DC answer and that diodenet does not model
(tunnelling currents, a sidewall current with a perimeter, level 3 geometry,
LTspice's current limits ``Ilimit``/``Epsilon``) are refused naming the
parameter. LTspice's piecewise-linear diode (``Ron Roff Vfwd Vrev Rrev``) is
a ``PWLDiode`` (``vf=Vfwd``), a resistor ``Roff`` in parallel and a reverse
``PWLDiode`` (``vf=Vrev``) from cathode to anode (``ltspice_parts``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from ..diode_models import KELVIN, DiodeModel, PWLDiode, ShockleyDiode, thermal_voltage
from .lexer import Card, split_words

_ALIASES = {"js": "is", "ik": "ikf", "pb": "vj", "mj": "m", "cj0": "cjo", "cj": "cjo",
            "tref": "tnom", "trs1": "trs"}
#: PSpice's breakdown temperature coefficients: ngspice 39 does not know them and
#: ignores them (its own is TCV), so diodenet does too, with a note
_NGSPICE_IGNORES = {"tbv1", "tbv2"}
_DC = {"is", "n", "rs", "bv", "ibv", "nbv", "ikf", "ikr", "isr", "nr", "tnom", "xti", "eg",
       "vj", "m", "fc", "tcv", "tlev", "tlevc", "tpb", "trs", "trs2", "tm1", "tm2", "cjo",
       "tt", "level", "jsw", "ns"}
_NO_DC_EFFECT = {
    "kf", "af", "cjp", "cjsw", "mjsw", "vjsw", "php", "fcs", "cta", "ctp", "tphp", "ttt1",
    "ttt2", "bv_max", "id_max", "fv_max", "pd_max", "te_max", "rth0", "cth0",
    "dskip", "lm", "lp", "wm", "wp", "xom", "xoi", "xm", "xp", "nbvl", "ibvl", "tcvl",
    # LTspice datasheet fields: no electrical effect
    "iave", "vpk", "mfg", "type", "pwr", "peak", "ipk", "vp",
}
_REFUSED = {
    "jtun": "tunnelling current", "jtunsw": "tunnelling current", "ntun": "tunnelling current",
    "xtitun": "tunnelling current", "keg": "tunnelling current",
    "ilimit": "LTspice piecewise-linear diode",
    "revilimit": "LTspice piecewise-linear diode", "epsilon": "LTspice piecewise-linear diode",
    "revepsilon": "LTspice piecewise-linear diode", "gap1": "band-gap temperature fit",
    "gap2": "band-gap temperature fit",
}
_LTSPICE_PWL = {"ron", "vfwd", "roff", "vrev", "rrev"}
_CIDER = {"numd", "nbjt", "numos"}

#: ngspice's smallest model saturation current (CKTepsmin): IS <= 0 is read as it
_EPSMIN = 1e-28

#: ngspice 39's constants (CONSTboltz, CHARGE, REFTEMP)
_K, _Q, _REFTEMP = 1.38064852e-23, 1.6021766208e-19, 300.15

ValueFn = Callable[[Card, str, dict[str, float], str], float]
WarnFn = Callable[[Card, str], None]


def parse_model_card(
    card: Card, params: dict[str, float], value: ValueFn, warn: WarnFn
) -> dict[str, float]:
    """The evaluated DC parameters (lower-case canonical names) of a ``.model``
    card of type D; ``value`` evaluates a word in ``params``."""
    words = split_words(card, parens=True)
    if len(words) < 3:
        raise card.error(".model needs a name and a type, e.g. '.model d1 D(Is=1e-14)'")
    name, kind = words[1].lower(), words[2].lower()
    if kind in _CIDER:
        raise card.error(f"model {name!r}: CIDER numerical device {kind!r} is out of scope "
                         "(diodenet reads D models)")
    if kind != "d":
        raise card.error(f"model {name!r}: type {kind!r} is not modelled (diodenet reads D only)")
    values: dict[str, float] = {}
    for k, w in enumerate(words[3:]):
        key, sep, raw = w.partition("=")
        key = _ALIASES.get(key.lower(), key.lower())
        if not sep and k > 0 and "=" in words[2 + k] and w[:1].isdigit():
            # "M=0,2" (a decimal comma): ngspice reads M=0 and skips the stray "2"
            warn(card, f"model {name!r}: stray value {w!r} after {words[2 + k]!r} ignored, "
                 "as ngspice does (a decimal comma?)")
            continue
        if not sep or not raw:
            raise card.error(f"model {name!r}: expected key=value, got {w!r}")
        if key in _NO_DC_EFFECT:
            continue
        if key in _NGSPICE_IGNORES:
            warn(card, f"model {name!r}: {key!r} ignored, as ngspice does (its breakdown "
                 "temperature coefficient is TCV)")
            continue
        if key in _REFUSED:
            raise card.error(f"model {name!r}: parameter {key!r} ({_REFUSED[key]}) is not "
                             "modelled, and it changes the DC answer")
        if key not in _DC and key not in _LTSPICE_PWL:
            raise card.error(f"model {name!r}: unknown diode model parameter {key!r}")
        values[key] = value(card, raw, params, f"model {name!r} {key}")
    if "is" in values and values["is"] <= 0:
        # ngspice floors the model's IS (before area, m and temperature) at its
        # epsmin, silently. Only IS <= 0 is floored here: a positive IS below
        # it is kept as written, so that what the writer writes reads back equal
        warn(card, f"model {name!r}: is={values['is']:g} read as {_EPSMIN:g}, ngspice's "
             "smallest saturation current, as ngspice does")
        values["is"] = _EPSMIN
    if values.get("rs", 0.0) < 0:
        raise card.error(f"model {name!r}: negative rs is not modelled (ngspice takes it as a "
                         "negative series resistance; diodenet's diodes conduct more as their "
                         "voltage rises, which a negative rs breaks)")
    if "bv" in values and not values["bv"] > 0:
        raise card.error(f"model {name!r}: bv={values['bv']:g} is not modelled (a breakdown "
                         "voltage must be > 0; ngspice 39 does not converge once such a "
                         "diode is reverse-biased)")
    if values.get("level", 1.0) != 1.0:
        raise card.error(f"model {name!r}: only level=1 diodes are modelled")
    if _LTSPICE_PWL & values.keys():
        others = sorted(values.keys() - _LTSPICE_PWL - {"level"})
        if others:
            raise card.error(f"model {name!r}: LTspice Ron/Vfwd mixed with {others[0]!r}")
        warn(card, f"model {name!r}: LTspice piecewise-linear diode (Ron/Roff/Vfwd/Vrev/"
             "Rrev) read as PWL diodes and a resistor (ngspice ignores these parameters)")
    return values


def forward_ron(values: dict[str, float]) -> float:
    """The forward PWL diode's ``ron`` in LTspice's piecewise-linear diode: with
    ``Roff`` in parallel the conducting slope is ``1/Ron`` (``1/r = 1/Ron - 1/Roff``)."""
    ron, roff = values.get("ron", 0.0), values.get("roff", math.inf)
    if ron <= 0:
        return 0.0
    if roff <= ron:
        raise ValueError(f"Roff ({roff:g}) must exceed Ron ({ron:g})")
    return 1.0 / (1.0 / ron - 1.0 / roff)


def ltspice_parts(values: dict[str, float]) -> tuple[float | None, PWLDiode | None]:
    """The other parts of LTspice's piecewise-linear diode: the ``Roff`` leakage
    resistor (``None``: none) and the reverse-breakdown diode from cathode to
    anode, ``PWL(vf=Vrev, ron=r)`` with ``1/r = 1/Rrev - 1/Roff`` (``Rrev``
    defaults to ``Ron``; ``None``: no ``Vrev``)."""
    roff = values.get("roff")
    if roff is not None and roff <= 0:
        raise ValueError(f"Roff must be > 0, got {roff}")
    reverse = None
    if "vrev" in values:
        rrev = values.get("rrev", values.get("ron", 0.0))
        r = 0.0
        if rrev > 0:
            if roff is not None and roff <= rrev:
                raise ValueError(f"Roff ({roff:g}) must exceed Rrev ({rrev:g})")
            r = 1.0 / (1.0 / rrev - (1.0 / roff if roff else 0.0))
        reverse = PWLDiode(vf=values["vrev"], ron=r)
    return roff, reverse


def _pbfact(t: float) -> float:
    """ngspice's junction-potential temperature term at ``t`` kelvin."""
    egfet = 1.16 - (7.02e-4 * t * t) / (t + 1108)
    arg = -egfet / (2 * _K * t) + 1.1150877 / (_K * (_REFTEMP + _REFTEMP))
    return -2 * (_K * t / _Q) * (1.5 * math.log(t / _REFTEMP) + _Q * arg)


def diode_instance(
    values: dict[str, float], temp: float, tnom: float, area: float = 1.0, mult: float = 1.0
) -> DiodeModel:
    """The DC model of one instance at ``temp`` C (``tnom``: the circuit's default
    nominal temperature, overridden by the model's ``tnom``). Raises ``ValueError``
    naming a parameter whose effect diodenet does not model."""
    if _LTSPICE_PWL & values.keys():
        if area != 1.0 or mult != 1.0:
            raise ValueError("area or m on an LTspice Ron/Vfwd diode is not modelled")
        return PWLDiode(vf=values.get("vfwd", 0.0), ron=forward_ron(values))
    get = values.get
    tnom = get("tnom", tnom)
    t, t0 = temp + KELVIN, tnom + KELVIN
    dt = t - t0
    vt = thermal_voltage(temp)
    scale = area * mult
    n, nr, eg, xti = get("n", 1.0), get("nr", 1.0), get("eg", 1.11), get("xti", 3.0)
    if dt != 0 and get("tlev", 0.0) not in (0.0, 1.0):
        raise ValueError("tlev other than 0 or 1 is not modelled")
    if get("jsw", 0.0) > 0:
        raise ValueError("jsw (sidewall current) with a perimeter is not modelled")

    def saturation(i0: float, emission: float) -> float:
        if i0 == 0 or dt == 0:
            return scale * i0
        return scale * i0 * math.exp((t / t0 - 1) * eg / (emission * vt)
                                     + xti / emission * math.log(t / t0))

    vj, fc, m = get("vj", 1.0), get("fc", 0.5), get("m", 0.5)
    if dt != 0:
        if get("tlevc", 0.0) == 0.0:
            pbo = (vj - _pbfact(t0)) / (t0 / _REFTEMP)
            vj = _pbfact(t) + (t / _REFTEMP) * pbo
        elif get("tlevc") == 1.0:
            vj = vj - get("tpb", 0.0) * (t - _REFTEMP)
        else:
            raise ValueError("tlevc other than 0 or 1 is not modelled")
        m = m * (1 + get("tm1", 0.0) * dt + get("tm2", 0.0) * dt * dt)
    if get("isr", 0.0) > 0:  # VJ and M shape only the recombination current at DC
        m = min(m, 0.9)
        if fc * vj > 1.0:
            vj = 1.0 / fc
    bv = get("bv")
    if bv is not None and dt != 0:
        bv = bv - get("tcv", 0.0) * dt if get("tlev", 0.0) == 0 else bv * (1 - get("tcv", 0.0) * dt)
    rs = get("rs", 0.0)
    if rs:
        rs = rs * (1 + get("trs", 0.0) * dt + get("trs2", 0.0) * dt * dt) / scale
    return ShockleyDiode(
        is_=saturation(get("is", 1e-14), n), n=n, rs=rs, bv=bv, ibv=mult * get("ibv", 1e-3),
        cjo=get("cjo", 0.0), m=m, tt=get("tt", 0.0), ikf=scale * get("ikf", 0.0),
        ikr=scale * get("ikr", 0.0), isr=saturation(get("isr", 0.0), nr), nr=nr, vj=vj,
        nbv=get("nbv"), temp=temp,
    )


_SCALES = ("f", "p", "n", "u", "m", "k", "g", "t", "meg", "mil")
_UNITS = ("", "f", "v", "a", "s", "h", "hz", "ohm")


def reads_as_number(name: str) -> bool:
    """A model name ngspice takes for a value: ``1e34``, ``17n``, ``20.5pF``,
    ``17e12Meg`` (but not ``1n4148``, ``17nB``, ``74ls04``), or one that does not
    start with a letter, a digit or ``_`` (``^274ls``)."""
    if not (name[:1].isalnum() or name[:1] == "_"):
        return True
    m = re.match(r"(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?", name)
    if not m:
        return False
    rest = name[m.end():]
    return rest in _UNITS or any(rest.startswith(sc) and rest[len(sc):] in _UNITS
                                 for sc in _SCALES)


def model_name_of(card: Card) -> str:
    words = split_words(card, parens=True)
    if len(words) < 2:
        raise card.error(".model needs a name")
    return words[1].lower()
