"""SPICE numbers: digits, an optional exponent, a scale suffix, unit letters.

``parse_number`` reads a plain number as ngspice 39 does (``10kOhm`` = 1e4,
``1meg`` = 1e6, ``1mil`` = 25.4e-6, ``1F`` = one femto); the expression
tokenizer (``expressions``) reads numbers inside ``{expr}`` with the same
rules, except that ``mil`` is milli there. Scaling is done in ``Decimal`` so
that the result is correctly rounded; a value outside the floating-point
range, or a non-zero one that rounds to 0, is refused with
``ExpressionError``.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, DecimalException

__all__ = ["MIN_FLOAT", "ExpressionError", "parse_number"]

#: The smallest non-zero float magnitude (a subnormal); a non-zero number or
#: product that rounds to 0 below it is refused as an underflow.
MIN_FLOAT = 5e-324

# Decimal exponents of the SI scale suffixes; scaling in Decimal keeps the
# result correctly rounded (1.1k is exactly 1100.0, not 1100.0000000000002).
_SCALE = {"f": -15, "p": -12, "n": -9, "u": -6, "m": -3, "k": 3, "g": 9, "t": 12}
NUMBER_PATTERN = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
SUFFIX_PATTERN = re.compile(r"[A-Za-z_]*")


class ExpressionError(ValueError):
    """A malformed number or expression, or one whose value is not a finite float."""


def quoted(text: str, limit: int = 60) -> str:
    """``text`` quoted, cut to ``limit`` characters (messages stay one short line)."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def scale_number(mantissa: str, suffix: str, text: str, mil: bool = True) -> float:
    s = suffix.lower()
    if s.startswith("e") or s.startswith("d"):
        # "1e" or "1.5d3": a broken exponent, not a unit
        raise ExpressionError(f"malformed number {quoted(text)}")
    try:
        m = Decimal(mantissa)
        if s.startswith("meg"):
            value = m.scaleb(6)
        elif s.startswith("mil") and mil:
            value = m * Decimal("25.4e-6")
        else:
            value = m.scaleb(_SCALE.get(s[:1], 0))
    except DecimalException:
        # decimal.Overflow (1e999999k) and InvalidOperation alike: never a traceback
        raise ExpressionError(f"number {quoted(text)} is out of the floating-point range") \
            from None
    return _finite_float(value, text, nonzero=m != 0)


def _finite_float(value: Decimal, text: str, nonzero: bool = False) -> float:
    x = float(value)
    if not math.isfinite(x):
        raise ExpressionError(f"number {quoted(text)} is out of the floating-point range")
    if nonzero and x == 0:
        raise ExpressionError(f"number {quoted(text)} underflows to 0 (non-zero values start "
                              f"at {MIN_FLOAT:.3g} in magnitude)")
    return x


def parse_number(text: str) -> float:
    """A SPICE number: ``[+-]digits[.digits][e[+-]digits][scale][units]``.

    >>> parse_number("10kOhm"), parse_number("1meg"), parse_number("-5mV")
    (10000.0, 1000000.0, -0.005)
    """
    t = text.strip()
    sign = 1.0
    if t[:1] in "+-" and t:
        sign = -1.0 if t[0] == "-" else 1.0
        t = t[1:]
    m = NUMBER_PATTERN.match(t)
    if not m:
        raise ExpressionError(f"malformed number {quoted(text)}")
    suffix = t[m.end():]
    if not SUFFIX_PATTERN.fullmatch(suffix):
        raise ExpressionError(f"malformed number {quoted(text)}")
    return sign * scale_number(m.group(), suffix, text)
