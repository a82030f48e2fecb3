"""Element cards (R C L K D V I E F G H) to ``Element`` objects, at DC.

* R: ngspice's DC instance parameters (``_resistance_at``); LTspice's
  ``tol=``/``pwr=`` (no electrical effect) are accepted. A value of 0 is 1 mOhm
  and ``m=0`` leaves the resistor open, as in ngspice (with a note); a
  negative resistance or ``m`` is refused.
* C: open at DC (a note); L: a short, an ``Inductor`` (a 0 V source whose
  current is reported); K: no effect at DC (a note).
* D: ``AREA`` (positional or ``area=``), ``m``, ``temp``, ``dtemp``,
  ``off``/``ic`` (initial-guess hints) are read (``models.diode_instance``);
  a three-terminal self-heating diode (``thermal``) is refused.
* V, I: see ``sources``.
* Out of scope (BJT, MOSFET, JFET, B-sources, switches, XSPICE, lines, ...):
  refused naming the element.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..diode_models import PWLDiode
from ..elements import (
    CCCS,
    CCVS,
    VCCS,
    VCVS,
    CurrentSource,
    Diode,
    Element,
    Inductor,
    Resistor,
    VoltageSource,
)
from .errors import NetlistError
from .lexer import Card, split_words
from .models import diode_instance, ltspice_parts
from .sources import read_source

if TYPE_CHECKING:
    from .reader import _Reader

OUT_OF_SCOPE = {
    "a": "XSPICE code models (A)", "b": "behavioural sources (B)",
    "j": "JFETs (J)", "m": "MOSFETs (M)", "n": "OSDI/Verilog-A devices (N)",
    "o": "lossy lines (O)", "p": "coupled lines (P)", "q": "bipolar transistors (Q)",
    "s": "switches (S)", "t": "transmission lines (T)", "u": "uniform RC lines (U)",
    "w": "current switches (W)", "y": "lossy lines (Y)", "z": "MESFETs (Z)",
}
READ = "R, C, L, K, D, V, I, E, F, G, H and X"


#: ngspice reads a resistance within 3 ulps of 0 (``AlmostEqualUlps``) as 1 mOhm
_ZERO_OHMS = 3 * 5e-324

#: a resistor's DC instance parameters in ngspice (``_resistance_at``)
_RESISTOR_PARAMETERS = ("tc1", "tc2", "tce", "m", "scale", "temp", "dtemp")


def _resistance_at(card: Card, name: str, r: float, p: dict[str, float], circuit_temp: float,
                   tnom: float) -> float:
    """ngspice's DC resistance (``RESupdate_conduct``): ``R·f·scale / m`` at the
    instance temperature ``T`` (``temp``, else the circuit's plus ``dtemp``),
    ``f = 1 + tc1·ΔT + tc2·ΔT²``, or ``1.01^(tce·ΔT)`` with ``tce``, ``ΔT = T - TNOM``."""
    t = temperature(card, p["temp"] if "temp" in p else circuit_temp + p.get("dtemp", 0.0),
                    f"{name}: temperature")
    dt = t - tnom
    if "tce" in p:
        factor = 1.01 ** (p["tce"] * dt)
    else:
        factor = 1.0 + p.get("tc1", 0.0) * dt + p.get("tc2", 0.0) * dt * dt
    m, scale = p.get("m", 1.0), p.get("scale", 1.0)
    if m < 0:
        raise card.error(f"{name}: negative m is not modelled (ngspice takes it as a negative "
                         "conductance; diodenet's resistors are positive)")
    if not (m > 0 and scale > 0):
        raise card.error(f"{name}: m and scale must be > 0")
    value = r * factor * scale / m
    if not (math.isfinite(value) and value > 0):
        raise card.error(f"{name}: the resistance at {t:g} C is {value:g} Ohm (temperature "
                         "coefficients past the resistor's range)")
    return value


#: the words of ngspice's behavioural E and G sources (``e1 2 0 value={v(1)*2}``)
_BEHAVIOURAL = ("value", "vol", "cur", "table", "laplace", "freq")


def _behavioural(word: str) -> bool:
    key = word.split("=", 1)[0].split("{", 1)[0].lower()
    return key in _BEHAVIOURAL


def temperature(card: Card, celsius: float, what: str) -> float:
    """``celsius`` if it is above absolute zero; else the card's one-line error."""
    if not celsius > -273.15:
        raise card.error(f"{what} {celsius:g} C is at or below absolute zero (-273.15 C)")
    return celsius


def element_card(
    reader: _Reader, card: Card, params: dict[str, float], path: str,
    node: Callable[[str], str], models: dict[str, Card], block: object,
) -> Element | None:
    """The element of one card (``None`` for a card with no DC element: C, K)."""
    words = split_words(card)
    name = words[0].lower()
    letter = name[0]
    if letter in OUT_OF_SCOPE:
        raise card.error(f"element {name!r}: {OUT_OF_SCOPE[letter]} are out of scope "
                         f"(diodenet reads {READ})")
    if letter not in "rclkdviefgh" or not letter.isalpha():
        raise card.error(f"unknown element {name!r}")
    flat = name if not path else f"{letter}.{path}.{name}"

    def nodes(k: int) -> list[str]:
        if len(words) < 1 + k:
            raise card.error(f"{name}: expected {k} nodes")
        return [node(w) for w in words[1:1 + k]]

    def val(word: str, what: str) -> float:
        return reader.value(card, word, params, f"{name} {what}")

    def exactly(n: int, form: str) -> None:
        if len(words) != n:
            raise card.error(f"{name}: expected '{form}', got {card.text!r}")

    def note(text: str) -> None:
        reader.warn(card, text)

    if letter in "eg" and any(_behavioural(w) for w in words[3:]):
        raise card.error(f"{name}: behavioural controlled sources (value=, vol=, cur=, table, "
                         "laplace: B-source style) are not modelled (diodenet reads linear E, "
                         "F, G, H with one control)")
    if letter in "efgh" and any(w.lower().startswith("poly") for w in words[3:]):
        raise card.error(f"{name}: POLY controlled sources are not modelled "
                         "(diodenet reads linear E, F, G, H with one control)")
    try:
        if letter in "rcl":
            n1, n2 = nodes(2)
            rest = words[3:]
            if not rest:
                raise card.error(f"{name}: no value")
            r_params: dict[str, float] = {}
            for extra in rest[1:]:
                key = extra.split("=", 1)[0].lower()
                if letter == "r" and key in _RESISTOR_PARAMETERS and "=" in extra:
                    r_params[key] = val(extra.split("=", 1)[1], key)
                elif letter == "r" and key == "ac":
                    continue  # the AC analysis's resistance
                elif key in ("tol", "pwr", "rser", "ic", "m") and letter != "r":
                    if key == "m" and val(extra.split("=", 1)[1], "m") != 1.0:
                        raise card.error(f"{name}: m other than 1 is not modelled")
                elif key in ("tol", "pwr", "noisy"):
                    continue
                else:
                    raise card.error(f"{name}: unsupported parameter {extra!r}")
            raw = rest[0].split("=", 1)[1] if rest[0].lower().startswith(
                ("r=", "c=", "l=")) else rest[0]
            x = val(raw, "value")
            if letter == "c":
                note(f"{name}: capacitor open at DC")
                return None
            if letter == "l":
                return Inductor(flat, n1, n2, 0.0, inductance=x)
            if abs(x) <= _ZERO_OHMS:
                # ngspice's RESparam: a value within 3 ulps of 0 is 1 mOhm (before
                # temperature, scale and m), silently there
                x = 1e-3
                note(f"{name}: resistance 0 read as 1 mOhm, as ngspice does")
            elif x < 0:
                raise card.error(f"{name}: negative resistance {x:g} Ohm is not modelled "
                                 "(ngspice takes it as given; diodenet's resistors, like its "
                                 "kernel's conductances, are positive)")
            if r_params.get("m") == 0:
                note(f"{name}: m=0 leaves the resistor open (no conductance), as in ngspice")
                return None
            if r_params:
                x = _resistance_at(card, name, x, r_params, reader.temp, reader.tnom)
            return Resistor(flat, n1, n2, resistance=x)
        if letter == "k":
            if len(words) < 4:
                raise card.error(f"{name}: expected two inductors and a coupling factor")
            coupled = [w.lower() for w in words[1:3]]
            reader.couplings.append(
                (card, [c if not path else f"l.{path}.{c}" for c in coupled]))
            note(f"{name}: inductor coupling has no effect at DC")
            return None
        if letter == "d":
            return _diode(reader, card, words, name, flat, nodes, val, params, path, models,
                          block)
        if letter in "vi":
            pos, neg = nodes(2)
            value = read_source(card, name, " ".join(words[3:]),
                                lambda w, what: val(w, what[len(name) + 1:]), note)
            if value.rser:
                mid = f"{flat}.rser"
                reader.extra.append(Resistor(f"r{flat}.rser", mid, neg, resistance=value.rser))
                neg = mid
            cls = VoltageSource if letter == "v" else CurrentSource
            return cls(flat, pos, neg, value.dc)
        if letter in "eg":
            exactly(6, f"{name} n+ n- nc+ nc- {'gain' if letter == 'e' else 'gm'}")
            pos, neg, cp, cn = nodes(4)
            word = words[5]
            if letter == "e" and word.lower().startswith("gain="):  # ngspice's keyword form
                word = word[len("gain="):]
            gain = val(word, "gain")
            return (VCVS if letter == "e" else VCCS)(flat, pos, neg, cp, cn, gain)
        # f, h
        exactly(5, f"{name} n+ n- vcontrol {'gain' if letter == 'f' else 'rm'}")
        pos, neg = nodes(2)
        ctrl = words[3].lower()
        if not ctrl.startswith(("v", "l")):
            raise card.error(f"{name}: controlling element {ctrl!r} is not a V source")
        ctrl = ctrl if not path else f"{ctrl[0]}.{path}.{ctrl}"
        gain = val(words[4], "gain")
        return (CCCS if letter == "f" else CCVS)(flat, pos, neg, ctrl, gain)
    except NetlistError:
        raise
    except ValueError as exc:
        raise card.error(str(exc)) from None


def _diode(
    reader: _Reader, card: Card, words: list[str], name: str, flat: str,
    nodes: Callable[[int], list[str]], val: Callable[[str, str], float],
    params: dict[str, float], path: str, models: dict[str, Card], block: object,
) -> Diode:
    anode, cathode = nodes(2)
    if len(words) < 4:
        raise card.error(f"{name}: diode without a model name")
    if any(w.lower() == "thermal" for w in words[4:]):
        raise card.error(f"{name}: self-heating diodes ('thermal') are not modelled")
    area, mult, temp, dtemp = 1.0, 1.0, None, 0.0
    for k, extra in enumerate(words[4:]):
        key, _, raw = extra.partition("=")
        key = key.lower()
        if key == "off" and not raw:
            continue  # an initial-guess hint only
        if key == "ic":
            continue
        if not raw:
            if k != 0:
                raise card.error(f"{name}: unexpected {extra!r}")
            area = val(extra, "area")
            continue
        if key == "area":
            area = val(raw, "area")
        elif key == "m":
            mult = val(raw, "m")
        elif key == "temp":
            temp = val(raw, "temp")
        elif key == "dtemp":
            dtemp = val(raw, "dtemp")
        elif key == "pj" and val(raw, "pj") == 0:
            continue
        else:
            raise card.error(f"{name}: unsupported diode parameter {extra!r}")
    if area == 0 or mult == 0:
        raise card.error(f"{name}: area=0 or m=0 is not modelled (ngspice keeps only its gmin "
                         "conductance across the junction, or leaves it open when the model "
                         "has RS): diodenet's diodes need area and m > 0")
    if area < 0 or mult < 0:
        raise card.error(f"{name}: negative area or m is not modelled (ngspice 39 does not "
                         "converge on it): diodenet's diodes need area and m > 0")
    model_name, values = reader.diode_model(card, words[3].lower(), params, path, models, block)
    device_temp = temperature(card, temp if temp is not None else reader.temp + dtemp,
                              f"{name}: temperature")
    if isinstance(values, dict):
        try:
            model = diode_instance(values, device_temp, reader.tnom, area, mult)
        except ValueError as exc:
            raise card.error(f"{name}: model {model_name!r}: {exc}") from None
        plain = (area, mult, device_temp) == (1.0, 1.0, 27.0) and reader.tnom == 27.0
        if not plain:
            model_name = f"{model_name}.{flat}"
        if isinstance(model, PWLDiode):  # LTspice's piecewise-linear diode
            try:
                roff, reverse = ltspice_parts(values)
            except ValueError as exc:
                raise card.error(f"{name}: model {model_name!r}: {exc}") from None
            if roff is not None:
                reader.extra.append(Resistor(f"r{flat}.roff", anode, cathode, resistance=roff))
            if reverse is not None:
                reader.extra.append(Diode(f"{flat}.rev", cathode, anode, reverse,
                                          f"{model_name}.rev"))
    else:
        if (area, mult, device_temp) != (1.0, 1.0, reader.temp):
            raise card.error(f"{name}: area, m or temp on a diodenet exact model")
        model = values
    return Diode(flat, anode, cathode, model, model_name)

