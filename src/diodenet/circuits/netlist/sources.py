"""Independent sources (V, I): the DC value that ngspice's ``.op`` uses.

ngspice reads a source's words by keyword, and so does this module:

* ``DC v`` / ``dc=v`` / ``dc(v)`` / a bare leading value (``5``, ``( 9 )``,
  ``0V``, ``{expr}``): the DC value;
* ``AC mag [phase]``, ``DISTOF1/2 mag [phase]``: small-signal parts, ignored
  at DC with a note (a source with no DC value and no transient function,
  ``AC 1`` alone, is 0 V or 0 A at DC, as in ngspice);
* ``SIN``/``SINE``, ``PULSE``, ``PWL``, ``EXP``, ``SFFM``, ``AM`` with their
  arguments (in parentheses or not): a transient function. With a DC value it
  is ignored at DC; without one, ngspice's operating point uses the
  function's value at t = 0, and so does diodenet (``value_at_zero``);
* ``Rser=R`` (LTspice): a series resistance of a voltage source.

Anything else (``TRNOISE``, ``TRRANDOM``, a PWL ``file=``, stray words) is
refused with the words named.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

from .expressions import ExpressionError, parse_number
from .lexer import Card, split_words

FUNCTIONS = ("sin", "sine", "pulse", "pwl", "exp", "sffm", "am")
_REFUSED = ("trnoise", "trrandom", "portnum", "z0", "pwr", "freq", "phase")

ValueFn = Callable[[str, str], float]


@dataclass
class SourceValue:
    """What a source card says at DC: ``dc`` (V or A) and ``rser`` (ohms, 0: none)."""

    dc: float
    rser: float = 0.0


def _is_value(word: str) -> bool:
    if word[:1] in "{'":
        return True
    try:
        parse_number(word)
    except ExpressionError:
        return False
    return True


def value_at_zero(kind: str, args: list[float], what: str) -> float:
    """The value at t = 0 of a transient function, as ngspice evaluates it.

    * ``SIN(VO VA FREQ TD THETA PHASE)``: ``VO + VA sin(PHASE)`` for TD >= 0
      (ngspice holds the source at its phase until TD), else the damped sine
      at ``t - TD``;
    * ``PULSE(V1 V2 TD ...)``, ``EXP(V1 V2 TD1 ...)``: ``V1`` (TD >= 0);
    * ``PWL(t1 v1 t2 v2 ...)``: linear interpolation at t = 0 (the first value
      before t1, the last after the last point);
    * ``SFFM(VO VA FC MDI FS PHASEC PHASES)``: ``VO + VA sin(PHASEC + MDI sin(PHASES))``;
    * ``AM(VA VO MF FC TD ...)``: 0 (TD >= 0: the source is off until TD).

    Phases are in degrees. A negative delay, where the value at 0 would depend
    on rise times that ngspice takes from the analysis, is refused.
    """
    kind = "sin" if kind == "sine" else kind

    def arg(k: int, default: float = 0.0) -> float:
        return args[k] if len(args) > k else default

    def need(n: int) -> None:
        if len(args) < n:
            raise ValueError(f"{what}: {kind.upper()} needs at least {n} values, got {len(args)}")

    if kind == "sin":
        need(2)
        vo, va, freq, td, theta, phase = (arg(k) for k in range(6))
        if td >= 0:
            return vo + va * math.sin(math.radians(phase))
        t = -td
        return vo + va * math.exp(-t * theta) * math.sin(2 * math.pi * freq * t
                                                         + math.radians(phase))
    if kind in ("pulse", "exp"):
        need(2)
        if arg(2) < 0:
            raise ValueError(f"{what}: {kind.upper()} with a negative delay: its value at "
                             "t=0 depends on the analysis; give a DC value")
        return args[0]
    if kind == "pwl":
        if len(args) < 2 or len(args) % 2:
            raise ValueError(f"{what}: PWL needs time-value pairs, got {len(args)} values")
        times, values = args[0::2], args[1::2]
        if any(b < a for a, b in itertools.pairwise(times)):
            raise ValueError(f"{what}: PWL times must not decrease")
        if times[0] >= 0.0:
            return values[0]
        for (t0, v0), (t1, v1) in itertools.pairwise(zip(times, values)):
            if t0 <= 0.0 <= t1:
                return v0 if t1 == t0 else v0 + (v1 - v0) * (0.0 - t0) / (t1 - t0)
        return values[-1]
    if kind == "sffm":
        need(2)
        vo, va, _, mdi, _, phasec, phases = (arg(k) for k in range(7))
        return vo + va * math.sin(math.radians(phasec) + mdi * math.sin(math.radians(phases)))
    if kind == "am":
        need(4)
        if arg(4) < 0:
            raise ValueError(f"{what}: AM with a negative delay: give a DC value")
        return 0.0
    raise ValueError(f"{what}: unknown source function {kind!r}")


def read_source(
    card: Card, name: str, rest_text: str, value: ValueFn, note: Callable[[str], None]
) -> SourceValue:
    """The ``SourceValue`` of a V or I card whose words after the nodes are
    ``rest_text``; ``value(word, what)`` evaluates one value word."""
    words = split_words(Card(card.line, rest_text, card.where), parens=True)
    low = [w.lower() for w in words]
    dc: float | None = None
    function: tuple[str, list[float]] | None = None
    rser = 0.0
    ignored: list[str] = []
    i = 0

    def values(limit: int) -> list[float]:
        nonlocal i
        out: list[float] = []
        while i < len(words) and len(out) < limit and _is_value(words[i]):
            out.append(value(words[i], f"{name} {low[start]} value"))
            i += 1
        return out

    while i < len(words):
        w = low[i]
        start = i
        if w == "dc" or w.startswith("dc="):
            if w == "dc":
                i += 1
                if i >= len(words) or not _is_value(words[i]):
                    raise card.error(f"{name}: 'dc' without a value")
                raw = words[i]
            else:
                raw = words[i][3:]
            dc = value(raw, f"{name} dc value")
            i += 1
        elif w in ("ac", "distof1", "distof2") or w.startswith(("ac=", "acmag=", "acphase=")):
            i += 1
            if "=" not in w:
                values(2)
            ignored.append(w.split("=")[0])
        elif w in FUNCTIONS:
            i += 1
            args = values(10**6)
            if w == "pwl":
                while i < len(words) and low[i].split("=")[0] in ("r", "td"):
                    key, _, raw = words[i].partition("=")
                    if not raw:
                        raise card.error(f"{name}: PWL option {words[i]!r} needs a value")
                    if key.lower() == "td":
                        shift = value(raw, f"{name} pwl td")
                        args = [a + shift if k % 2 == 0 else a for k, a in enumerate(args)]
                    i += 1
            if function is not None:
                raise card.error(f"{name}: two transient functions ({function[0]}, {w})")
            function = (w, args)
        elif w.startswith("rser="):
            if card.first[0] != "v":
                raise card.error(f"{name}: Rser= is for voltage sources")
            rser = value(words[i][5:], f"{name} Rser")
            if rser < 0:
                raise card.error(f"{name}: Rser must be >= 0, got {rser}")
            i += 1
        elif w.split("(")[0] in _REFUSED or w.startswith("file="):
            raise card.error(f"{name}: {words[i]!r} is not modelled at DC; give a DC value")
        elif i == 0 and not w[:1].isalpha():
            dc = value(words[i], f"{name} dc value")
            i += 1
        else:
            raise card.error(f"{name}: cannot read {' '.join(words[i:])!r} "
                             "(expected DC, AC or SIN/PULSE/PWL/EXP/SFFM/AM)")
    for part in sorted(set(ignored)):
        note(f"{name}: {part} part ignored (DC operating point)")
    if dc is None:
        if function is None:
            # only AC/DISTOF parts (``V1 in 0 AC 1``) or nothing: ngspice's .op uses 0
            note(f"{name}: no DC value given; 0 used, as ngspice does")
            dc = 0.0
        else:
            kind, args = function
            try:
                dc = value_at_zero(kind, args, name)
            except ValueError as exc:
                raise card.error(str(exc)) from None
            note(f"{name}: no DC value; the {kind.upper()} value at t=0 ({dc:g}) used, "
                 "as ngspice's operating point does")
    return SourceValue(dc=dc, rser=rser)
