"""``.model NAME D(...)`` cards to ``ShockleyDiode``.

Parameters read: ``Is`` (alias ``Js``), ``N``, ``Rs``, ``BV``, ``IBV``,
``Cjo`` (aliases ``Cj0``, ``Cj``), ``M`` (alias ``Mj``), ``tt`` and
``level=1``. ngspice's defaults are the dataclass defaults.

Dropped silently: parameters with no DC effect at 27 C (temperature and
capacitance/noise parameters such as ``eg``, ``xti``, ``vj``, ``fc``, ``kf``,
``af``). Dropped with a ``NetlistWarning``: parameters that do change the DC
curve but that diodenet does not model (``ikf``, ``isr``, ...), and
LTspice-only parameters that ngspice rejects (``iave``, ``vpk``, ``mfg``,
``type``, ``ron``, ``vfwd``, ...). Anything else is
a ``NetlistError``.
"""

from __future__ import annotations

from collections.abc import Callable

from ..elements import ShockleyDiode
from .lexer import Card, split_words

_FIELDS = {
    "is": "is_", "js": "is_", "n": "n", "rs": "rs", "bv": "bv", "ibv": "ibv",
    "cjo": "cjo", "cj0": "cjo", "cj": "cjo", "m": "m", "mj": "m", "tt": "tt",
}
_NO_DC_EFFECT = {
    "eg", "xti", "vj", "pb", "php", "fc", "fcs", "kf", "af", "cjp", "cjsw", "mjsw", "vjsw",
    "cta", "ctp", "tcv", "tbv1", "tbv2", "trs", "trs1", "trs2", "tm1", "tm2", "ttt1", "ttt2",
    "tlev", "tlevc", "xtitun", "keg", "lm", "lp", "wm", "wp", "xom", "xoi", "xm", "xp",
    "tpb", "tphp", "cond", "dskip", "nbv", "nbvl", "ibvl",
}
_DC_UNMODELLED = {"ikf", "ik", "ikr", "isr", "nr", "jsw", "ns", "tnom", "tref", "area", "gap1",
                  "gap2", "bv_max", "rsw"}
_LTSPICE_ONLY = {"iave", "vpk", "mfg", "type", "ron", "roff", "vfwd", "vrev", "rrev", "ilimit",
                 "revilimit", "epsilon", "revepsilon", "peak", "ipk", "pwr", "vp"}

ValueFn = Callable[[Card, str, dict[str, float], str], float]
WarnFn = Callable[[Card, str], None]


def parse_model_card(
    card: Card, params: dict[str, float], value: ValueFn, warn: WarnFn
) -> ShockleyDiode:
    """The diode model of a ``.model`` card; ``value`` evaluates a word in ``params``."""
    words = split_words(card, parens=True)
    if len(words) < 3:
        raise card.error(".model needs a name and a type, e.g. '.model d1 D(Is=1e-14)'")
    name, kind = words[1].lower(), words[2].lower()
    if kind != "d":
        raise card.error(f"model {name!r}: type {kind!r} is not modelled (diodenet reads D only)")
    values: dict[str, float] = {}
    for w in words[3:]:
        key, sep, raw = w.partition("=")
        key = key.lower()
        if not sep or not raw:
            raise card.error(f"model {name!r}: expected key=value, got {w!r}")
        if key in _LTSPICE_ONLY:
            warn(card, f"model {name!r}: LTspice-only parameter {key!r} dropped "
                 "(ngspice rejects it)")
            continue
        if key in _NO_DC_EFFECT:
            continue
        if key in _DC_UNMODELLED:
            warn(card, f"model {name!r}: parameter {key!r} dropped; diodenet does not model "
                 "it, so DC results may differ from ngspice")
            continue
        x = value(card, raw, params, f"model {name!r} {key}")
        if key == "level":
            if x != 1.0:
                raise card.error(f"model {name!r}: only level=1 diodes are modelled")
            continue
        if key not in _FIELDS:
            raise card.error(f"model {name!r}: unknown diode model parameter {key!r}")
        values[_FIELDS[key]] = x
    try:
        return ShockleyDiode(**values)
    except ValueError as exc:
        raise card.error(f"model {name!r}: {exc}") from None
