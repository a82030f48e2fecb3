"""``.param`` expressions, parsed as data.

A netlist is untrusted input: this module never calls ``eval``/``exec``. It
holds a recursive-descent evaluator (over the tokens of ``tokens``) for the
arithmetic ngspice allows in ``{expr}`` and ``'expr'``:

* numbers, with an optional SI scale suffix (case-insensitive: ``f p n u m k
  meg g t``, and ``mil`` = 25.4e-6 in a plain number but milli inside an
  expression, as in ngspice 39) followed by any unit letters, which are
  ignored (``10kOhm`` = 1e4, ``1uF`` = 1e-6, ``5mV`` = 5e-3, ``1meg`` = 1e6;
  note that ``1F`` is one femto, as in SPICE; see ``numbers``);
* ``+ - * /``, ``%`` (``x - y*trunc(x/y)``, the sign of ``x``, as ``*``),
  ``^`` and ``**`` (power, ``|x|^y`` as in ngspice 39: ``(-2)^3 = 8``;
  binding tighter than a leading unary minus: ``-2^2 = -4``, and
  left-associative as in ngspice 39: ``2^3^2 = 64``), parentheses, braces
  and quotes;
* comparisons ``== != < > <= >=`` and ``&& || !`` (1 for true, 0 for false)
  and the conditional ``c ? a : b`` (lowest precedence), as ngspice reads them;
* names of parameters, the functions in ``FUNCTIONS`` and user functions
  (``.func name(x, y) = expr``, passed as ``functions``; see ``UserFunction``
  for the functions a body sees).

Where ngspice 39 misreads an expression, it is refused (``misreadings``):
a ``-`` right after an operator (``?`` and ``:`` included) that is not
followed by a plain number (ngspice gives that sign to the next number it
meets instead: ``0 ? -(7) : 3`` is -3 there), or that is followed by a number
raised to a power (``2*-3^2`` is ``2*|-3|^2 = 18`` there); a ``+`` right
after an operator or a sign right after ``!`` (errors in ngspice); a ``?:``
inside the true branch of another without parentheses (``1 ? 0 ? 5 : 6 : 7``
is 5 there).

Every intermediate result must be finite, and a non-zero number must not
round to 0; anything else (an unknown name, a division by zero, ``sqrt(-1)``,
an overflow, an underflow such as ``1e-400`` or ``{1e-200*1e-200}``) raises
``ExpressionError``. (Tiny values that are floats, such as 1e-310, read
exactly; an element refuses those it cannot use, e.g. a resistance whose
conductance overflows.)

The ``.param`` and ``.func`` cards themselves are split and parsed in
``definitions``.
"""

from __future__ import annotations

import math
from collections import ChainMap
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TypeVar, cast

from .misreadings import check_ngspice_reading
from .numbers import ExpressionError, parse_number, quoted
from .tokens import _tokenize

__all__ = [
    "FUNCTIONS",
    "ExpressionError",
    "evaluate",
    "parse_number",
]

_T = TypeVar("_T")

MAX_DEPTH = 100


def _fn(f: Callable[..., float], nargs: int) -> tuple[Callable[..., float], int]:
    return f, nargs


#: The functions an expression may call, with their argument counts.
FUNCTIONS: dict[str, tuple[Callable[..., float], int]] = {
    "sqrt": _fn(math.sqrt, 1),
    "exp": _fn(math.exp, 1),
    "log": _fn(math.log, 1),  # natural logarithm, as in ngspice
    "ln": _fn(math.log, 1),
    "log10": _fn(math.log10, 1),
    "abs": _fn(abs, 1),
    "min": _fn(min, 2),  # exactly two: ngspice 39 reads min(3,2,5) as 3
    "max": _fn(max, 2),
    "pow": _fn(math.pow, 2),
    "pwr": _fn(lambda x, y: math.pow(abs(x), y), 2),  # ngspice 39: |x|^y, whatever x's sign
    "sgn": _fn(lambda x: float((x > 0) - (x < 0)), 1),
    "nint": _fn(round, 1),  # to the nearest integer, halves to even (ngspice: nint(2.5) = 2)
    "int": _fn(math.trunc, 1),  # towards zero
    "sin": _fn(math.sin, 1),
    "cos": _fn(math.cos, 1),
    "tan": _fn(math.tan, 1),
    "asin": _fn(math.asin, 1),
    "acos": _fn(math.acos, 1),
    "atan": _fn(math.atan, 1),
    "arctan": _fn(math.atan, 1),
    "sinh": _fn(math.sinh, 1),
    "cosh": _fn(math.cosh, 1),
    "tanh": _fn(math.tanh, 1),
    "asinh": _fn(math.asinh, 1),
    "acosh": _fn(math.acosh, 1),
    "atanh": _fn(math.atanh, 1),
    "sqr": _fn(lambda x: x * x, 1),
    "ternary_fcn": _fn(lambda c, a, b: a if c != 0 else b, 3),
    "floor": _fn(math.floor, 1),
    "ceil": _fn(math.ceil, 1),
}


def overlay(front: dict[str, _T], back: Mapping[str, _T]) -> Mapping[str, _T]:
    """``front``'s names over ``back``'s, as a read-only view (neither copied)."""
    # ChainMap only ever reads the maps after the first
    return ChainMap(front, cast("MutableMapping[str, _T]", back))


@dataclass(frozen=True, eq=False)
class UserFunction:
    """A ``.func``: its argument names, its body, and the functions of the
    scope it is written in (``definitions.function_scope``).

    This is what ngspice's textual expansion of ``.func`` gives: a call in a
    body is expanded where the ``.func`` is written (its subcircuit's body,
    then the bodies that contain that definition, then the top level); one
    not found there is expanded where the calling text is (the line, or the
    body of the function it was found from). A body reads its own arguments
    and, for any other name, the parameters where the expression is. A name
    that is an argument only of a function calling it is refused: ngspice
    substitutes arguments as text, and which function's argument such a name
    becomes depends on the order of the ``.func`` cards.
    """

    args: tuple[str, ...]
    body: str
    scope: Mapping[str, UserFunction] = field(default_factory=dict)


#: the functions of the texts a call is in, innermost first (see ``UserFunction``)
_Tables = tuple[Mapping[str, UserFunction], ...]


_COMPARE = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
            ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}
#: user functions calling user functions, at most this deep (each level costs
#: the parser some 25 Python frames)
MAX_CALL_DEPTH = 20
#: user-function calls in one expression, at most (``.func`` chains that each
#: call the previous one twice would otherwise cost 2**n evaluations)
MAX_CALLS = 10_000


# -------------------------------------------------------------------- parser


@dataclass(frozen=True)
class _Inlined:
    """Where a user function's body is evaluated (see ``UserFunction``)."""

    params: Mapping[str, float]  # the parameters where the expression is
    outer: _Tables  # the functions of the texts it is in
    args: frozenset[str]  # its own arguments
    callers: frozenset[str]  # those of the functions calling it


class _Parser:
    """Recursive descent over the tokens, evaluating as it goes."""

    def __init__(self, text: str, names: Mapping[str, float],
                 functions: Mapping[str, UserFunction] | None = None, calls: int = 0,
                 budget: list[int] | None = None,
                 tokens: list[tuple[str, object]] | None = None,
                 inlined: _Inlined | None = None) -> None:
        self.functions = functions or {}
        # a user function's body: where it is inlined (None: the expression itself)
        self.inlined = inlined
        self.calls = calls
        self.budget = budget if budget is not None else [MAX_CALLS]  # shared with inner calls
        self.text = text
        self.tokens = _tokenize(text) if tokens is None else tokens
        check_ngspice_reading(self.tokens, text)
        self.pos = 0
        self.names = names
        self.depth = 0

    # helpers
    def peek(self, ahead: int = 0) -> str:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)][0]

    def take(self, kind: str) -> object:
        k, v = self.tokens[self.pos]
        if k != kind:
            found = "the end" if k == "end" else repr(v)
            raise ExpressionError(f"expected {kind!r} but found {found} in {quoted(self.text)}")
        self.pos += 1
        return v

    def check(self, x: float, what: str, *operands: float) -> float:
        """``x``, unless it is not finite or underflows (0 from non-zero ``operands``)."""
        if not math.isfinite(x):
            raise ExpressionError(f"{what} is not finite in {quoted(self.text)}")
        if x == 0 and operands and all(operands):
            raise ExpressionError(f"{what} underflows to 0 in {quoted(self.text)}")
        return x

    # grammar
    def expression(self) -> float:
        """``c ? a : b`` over ``||``, ``&&``, comparisons and sums."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(
                f"expression nested deeper than {MAX_DEPTH} in {quoted(self.text)}"
            )
        try:
            value = self.logic_or()
            if self.peek() == "?":
                self.take("?")
                yes = self.expression()
                self.take(":")
                no = self.expression()
                value = yes if value != 0 else no
            return value
        finally:
            self.depth -= 1

    def logic_or(self) -> float:
        value = self.logic_and()
        while self.peek() == "||":
            self.take("||")
            rhs = self.logic_and()
            value = 1.0 if (value != 0 or rhs != 0) else 0.0
        return value

    def logic_and(self) -> float:
        value = self.comparison()
        while self.peek() == "&&":
            self.take("&&")
            rhs = self.comparison()
            value = 1.0 if (value != 0 and rhs != 0) else 0.0
        return value

    def comparison(self) -> float:
        value = self.sum()
        while self.peek() in _COMPARE:
            op = str(self.take(self.peek()))
            value = 1.0 if _COMPARE[op](value, self.sum()) else 0.0
        return value

    def sum(self) -> float:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(
                f"expression nested deeper than {MAX_DEPTH} in {quoted(self.text)}"
            )
        try:
            value = self.term()
            while self.peek() in ("+", "-"):
                op = self.take(self.peek())
                rhs = self.term()
                value = self.check(value + rhs if op == "+" else value - rhs, "a sum")
            return value
        finally:
            self.depth -= 1

    def term(self) -> float:
        value = self.unary()
        while self.peek() in ("*", "/", "%"):
            op = self.take(self.peek())
            rhs = self.unary()
            if op == "*":
                value = self.check(value * rhs, "a product", value, rhs)
            elif op == "%":
                value = self.check(self.modulo(value, rhs), "a remainder")
            else:
                if rhs == 0:
                    raise ExpressionError(f"division by zero in {quoted(self.text)}")
                value = self.check(value / rhs, "a quotient", value, rhs)
        return value

    def modulo(self, x: float, y: float) -> float:
        """``x % y`` as ngspice 39 computes it: ``x - y*trunc(x/y)``."""
        if y == 0:
            raise ExpressionError(f"modulo by zero in {quoted(self.text)}")
        q = x / y
        if not math.isfinite(q):
            raise ExpressionError(f"a quotient is not finite in {quoted(self.text)}")
        return x - y * math.trunc(q)

    def unary(self) -> float:
        if self.peek() == "!":
            self.take("!")
            return 0.0 if self.unary() != 0 else 1.0
        if self.peek() in ("+", "-"):
            op = self.take(self.peek())
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExpressionError(f"expression nested deeper than {MAX_DEPTH}")
            try:
                value = self.unary()
            finally:
                self.depth -= 1
            return -value if op == "-" else value
        return self.power()

    def power(self) -> float:
        # left-associative, as ngspice 39 evaluates it: 2^3^2 = (2^3)^2 = 64
        value = self.primary()
        while self.peek() in ("^", "**"):
            self.take(self.peek())
            sign = 1.0
            while self.peek() in ("+", "-"):  # 2^-1
                sign = -sign if self.take(self.peek()) == "-" else sign
            exponent = sign * self.primary()
            try:
                # ngspice 39: |x|^y, whatever x's sign, as pwr(x, y)
                base, value = value, math.pow(abs(value), exponent)
            except (OverflowError, ValueError, ZeroDivisionError):
                raise ExpressionError(
                    f"{value!r}^{exponent!r} has no finite real value in {quoted(self.text)}"
                ) from None
            value = self.check(value, "a power", base)
        return value

    def primary(self) -> float:
        kind = self.peek()
        if kind == "num":
            value = self.take("num")
            assert isinstance(value, float)  # the lexer stores numbers as floats
            return value
        if kind in ("(", "{", "'"):
            close = {"(": ")", "{": "}", "'": "'"}[kind]
            self.take(kind)
            value = self.expression()
            self.take(close)
            return value
        if kind == "name":
            name = str(self.take("name"))
            if self.peek() == "(":
                return self.call(name)
            if self.inlined is not None and name in self.inlined.callers \
                    and name not in self.inlined.args:
                raise ExpressionError(
                    f"{name!r} in {quoted(self.text)} is an argument of a .func calling this "
                    "one, not its own (ngspice's answer then depends on the order of the "
                    ".func cards): pass it as an argument")
            if name in self.names:
                return float(self.names[name])
            raise ExpressionError(f"unknown parameter {name!r} in {quoted(self.text)}")
        found = "the end" if kind == "end" else repr(self.tokens[self.pos][1])
        raise ExpressionError(f"expected a value but found {found} in {quoted(self.text)}")

    def call(self, name: str) -> float:
        tables = (self.functions, *(self.inlined.outer if self.inlined else ()))
        for k, functions in enumerate(tables):
            if name in functions:  # expanded in the k-th text out (see UserFunction)
                return self.user_call(name, functions[name], tables[k:])
        if name not in FUNCTIONS:
            raise ExpressionError(f"unknown function {name!r} in {quoted(self.text)}")
        f, nargs = FUNCTIONS[name]
        self.take("(")
        args = [self.expression()]
        while self.peek() == ",":
            self.take(",")
            args.append(self.expression())
        self.take(")")
        if len(args) != nargs:
            raise ExpressionError(f"{name}() takes {nargs} argument(s), got {len(args)}")
        try:
            value = float(f(*args))
        except (OverflowError, ValueError):
            shown = ", ".join(repr(a) for a in args)
            raise ExpressionError(f"{name}({shown}) has no finite real value") from None
        return self.check(value, f"{name}()")

    def user_call(self, name: str, function: UserFunction, outer: _Tables) -> float:
        args_names = function.args
        self.take("(")
        args: list[float] = []
        if self.peek() != ")":
            args.append(self.expression())
            while self.peek() == ",":
                self.take(",")
                args.append(self.expression())
        self.take(")")
        if len(args) != len(args_names):
            raise ExpressionError(f"{name}() takes {len(args_names)} argument(s), got {len(args)}")
        if self.calls >= MAX_CALL_DEPTH:
            raise ExpressionError(f"{name}(): user functions nested deeper than {MAX_CALL_DEPTH} "
                                  "(a function that calls itself?)")
        self.budget[0] -= 1
        if self.budget[0] < 0:
            raise ExpressionError(f"{name}(): more than {MAX_CALLS} user-function calls in "
                                  f"{quoted(self.text)}")
        # the arguments over the expression's parameters, which are not copied
        # (nor, when the netlist's parameters are resolved on demand, all evaluated)
        params = self.inlined.params if self.inlined else self.names
        callers = self.inlined.callers | self.inlined.args if self.inlined else frozenset()
        inner = _Parser(function.body, overlay(dict(zip(args_names, args)), params),
                        function.scope, self.calls + 1, self.budget,
                        inlined=_Inlined(params, outer, frozenset(args_names), callers))
        value = inner.expression()
        if inner.peek() != "end":
            raise ExpressionError(f"unexpected {inner.tokens[inner.pos][1]!r} in .func {name}")
        return self.check(value, f"{name}()")


def evaluate(text: str, names: Mapping[str, float] | None = None,
             functions: Mapping[str, UserFunction] | None = None) -> float:
    """The value of one expression (with or without its ``{}``/``''`` quoting).

    ``names`` maps lower-case parameter names to values; ``functions`` the user
    functions seen here (``definitions.function_scope``, or ``definitions.parse_function``'s).
    """
    p = _Parser(text, names or {}, functions)
    try:
        value = p.expression()
    except RecursionError:
        raise _too_deep(text) from None
    if p.peek() != "end":
        raise ExpressionError(f"unexpected {p.tokens[p.pos][1]!r} in {quoted(text)}")
    return value


def _too_deep(text: str) -> ExpressionError:
    return ExpressionError(f"expression nested too deeply to evaluate: {quoted(text)}")
