"""``.param`` and ``.func`` cards as data, evaluated by ``expressions``.

``split_assignments`` splits a ``.param`` card into ``Assignment`` objects, not
yet evaluated (``params`` resolves a scope's); ``parse_function`` reads a
``.func`` card and ``function_scope`` binds a scope's functions to it;
``names_read`` says which parameters an expression may read.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from .expressions import (
    FUNCTIONS,
    MAX_CALL_DEPTH,
    MAX_CALLS,
    UserFunction,
    _Parser,
    _Tables,
    _too_deep,
    overlay,
)
from .numbers import ExpressionError, quoted
from .tokens import _NAME, _tokenize


def function_scope(definitions: Iterable[tuple[str, UserFunction]],
                   enclosing: Mapping[str, UserFunction]) -> Mapping[str, UserFunction]:
    """The functions a scope sees: its own ``definitions`` (``parse_function``'s;
    the last of a name counts) over ``enclosing``'s (those of the scopes it is
    written in), each of its own bound to this scope."""
    own: dict[str, UserFunction] = {}
    table = overlay(own, enclosing)
    for name, function in definitions:
        own[name] = replace(function, scope=table)
    return table


def parse_function(text: str) -> tuple[str, UserFunction]:
    """``name(a, b) = expr`` or ``name(a, b) {expr}`` (a ``.func`` card's text after
    ``.func``): ``(name, function)``, the function bound to no scope yet
    (``function_scope`` binds it). The body's tokens are checked here, its
    grammar and names when it is called."""
    m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(([^()]*)\)\s*=?\s*(.+?)\s*", text)
    if not m:
        raise ExpressionError(f"expected '.func name(args) = expression', got {quoted(text)}")
    name, raw_args, body = m.group(1).lower(), m.group(2), m.group(3)
    args = tuple(a.strip().lower() for a in raw_args.split(",")) if raw_args.strip() else ()
    if any(not _NAME.fullmatch(a) for a in args) or len(set(args)) != len(args):
        raise ExpressionError(f".func {name}: arguments must be distinct names, got {raw_args!r}")
    kinds = [k for k, _ in _tokenize(body)]
    if kinds.count("(") != kinds.count(")") or kinds.count("{") != kinds.count("}"):
        raise ExpressionError(f".func {name}: unbalanced brackets in {quoted(body)}")
    return name, UserFunction(args, body)


@dataclass(frozen=True)
class Assignment:
    """One ``name = expression`` of a ``.param`` card, not yet evaluated."""

    name: str
    text: str  # the card's whole assignment text, for messages
    tokens: tuple[tuple[str, object], ...]  # the expression's, ending with ("end", None)

    def evaluate(self, names: Mapping[str, float],
                 functions: Mapping[str, UserFunction] | None = None) -> float:
        """The expression's value with ``names`` in scope."""
        p = _Parser(self.text, names, functions, tokens=list(self.tokens))
        try:
            value = p.expression()
        except RecursionError:
            raise _too_deep(self.text) from None
        if p.peek() != "end":
            raise ExpressionError(f"unexpected {p.tokens[p.pos][1]!r} in {quoted(self.text)}")
        return value


def names_read(tokens: Sequence[tuple[str, object]],
               functions: Mapping[str, UserFunction]) -> set[str]:
    """The parameter names an expression's ``tokens`` may read: its own, and
    those the user functions it calls read (transitively, each call found as
    the evaluation finds it; a function's arguments, and those of the
    functions calling it, are not parameters)."""
    out: set[str] = set()
    # (tokens, the tables its calls are found in, its arguments, its callers')
    todo: list[tuple[Sequence[tuple[str, object]], _Tables, frozenset[str], frozenset[str]]]
    todo = [(tokens, (functions,), frozenset(), frozenset())]
    # each function once per place it is found from; past MAX_CALLS of them, or
    # deeper than MAX_CALL_DEPTH, the evaluation itself is refused
    called: set[tuple[object, ...]] = set()
    while todo:
        toks, tables, args, callers = todo.pop()
        for i, (kind, value) in enumerate(toks):
            if kind != "name":
                continue
            name = str(value)
            if i + 1 < len(toks) and toks[i + 1][0] == "(":
                k = next((k for k, t in enumerate(tables) if name in t), None)
                if k is None:
                    continue
                function = tables[k][name]
                inner = (function.scope, *tables[k:])
                key = (id(function), *map(id, inner), args | callers)
                if key not in called and len(called) < MAX_CALLS \
                        and len(inner) <= MAX_CALL_DEPTH + 1:
                    called.add(key)
                    todo.append((_tokenize(function.body), inner, frozenset(function.args),
                                 args | callers))
            elif name not in args and name not in callers:
                out.add(name)
    return out


def split_assignments(text: str) -> list[Assignment]:
    """``name = expr name = expr ...`` as in ``.param``, split but not evaluated.

    An assignment starts at a name followed by a single ``=``, which no
    expression holds, so the split needs no values (ngspice resolves a scope's
    parameters in the order they depend on each other, not as written)."""
    tokens = _tokenize(text)
    starts = [i for i in range(len(tokens) - 1)
              if tokens[i][0] == "name" and tokens[i + 1][0] == "="]
    if not tokens or tokens[0][0] == "end":
        raise ExpressionError("no assignment (expected name=value)")
    if not starts or starts[0] != 0:
        found = tokens[0][1]
        raise ExpressionError(f"expected a name=value assignment but found {found!r} in "
                              f"{quoted(text)}")
    out = []
    for k, i in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else len(tokens) - 1
        expression = tokens[i + 2:stop]
        if expression and expression[-1][0] == ",":
            # ngspice 39 hangs on "a=1, b=2": refuse rather than accept what it cannot run
            raise ExpressionError("',' between assignments: separate them with spaces")
        name = str(tokens[i][1])
        if name in FUNCTIONS:
            raise ExpressionError(f"{name!r} is a function name, not a parameter")
        if not expression:
            raise ExpressionError(f"{name}= has no value in {quoted(text)}")
        out.append(Assignment(name, text, (*expression, ("end", None))))
    return out


def parse_assignments(text: str, names: Mapping[str, float] | None = None,
                      functions: Mapping[str, UserFunction] | None = None) -> dict[str, float]:
    """``name = expr name = expr ...`` evaluated in order: later ones may use
    earlier ones. Returns the new values only, in order. ``names`` are the
    parameters in scope."""
    out: dict[str, float] = {}
    # the new names over the caller's, without copying those: a chain of N
    # .param cards costs O(N), not O(N^2)
    scope = ChainMap(out, names if isinstance(names, dict | ChainMap) else dict(names or {}))
    for a in split_assignments(text):
        out[a.name] = a.evaluate(scope, functions)
    return out
