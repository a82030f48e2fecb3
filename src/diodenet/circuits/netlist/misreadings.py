"""The expressions ngspice 39 reads otherwise than they are written.

ngspice's numparam parser gives a ``-`` that follows an operator to the next
plain number at that bracket level, and drops the condition of a ``?:``
nested in another's true branch. Where the written meaning and ngspice's
reading differ, the expression evaluator refuses the text (in one line, with
the parenthesized spelling ngspice reads as written) rather than answer
either way; this module holds that check, apart from the evaluator, which
computes the written meaning.
"""

from __future__ import annotations

from .numbers import ExpressionError, quoted

#: the binary operators (ngspice reads a leading sign as one, too)
_OPERATORS = frozenset(("+", "-", "*", "/", "%", "^", "**", "?", ":", "&&", "||",
                        "==", "!=", "<", ">", "<=", ">="))
_WHAT = {"(": "'('", "{": "'{'", "'": "a quote", "name": "a name or function",
         "-": "another '-'", "+": "'+'", "!": "'!'"}


def check_ngspice_reading(tokens: list[tuple[str, object]], text: str) -> None:
    """Refuse what ngspice 39 reads differently from its written meaning.

    ngspice takes a ``-`` right after an operator (``?`` and ``:`` included)
    as the sign of the next plain number it meets at that level: before
    ``(``, a name or a call the sign lands on a later number (``0 ? -(7) :
    3`` is -3) or fails; before ``3^2`` it negates the 3 (``2*-3^2`` is
    ``2*|-3|^2 = 18``). A ``?:`` in the true branch of another ``?:`` loses
    its condition (``1 ? 0 ? 5 : 6 : 7`` is 5). ``2*+3`` and ``!-1`` are
    errors there.
    """
    pending = [0]  # per bracket level: the '?' not yet closed by ':'
    for i, (kind, _) in enumerate(tokens):
        before = tokens[i - 1][0] if i else ""
        after = tokens[i + 1][0] if i + 1 < len(tokens) else "end"
        if kind == "-" and before in _OPERATORS:
            if after != "num":
                raise ExpressionError(
                    f"ngspice 39 misreads '{before}-' before {_WHAT.get(after, repr(after))} "
                    f"(it moves the '-' to a later number, or fails): write (-...) in "
                    f"parentheses, in {quoted(text)}")
            if tokens[i + 2][0] in ("^", "**") and before not in ("^", "**"):
                raise ExpressionError(
                    f"ngspice 39 reads '{before}-' before a number as that number's sign, "
                    f"so -x^y there is |x|^y: write (-x^y) or (-x)^y in parentheses, "
                    f"in {quoted(text)}")
        if (kind == "+" and before in _OPERATORS) or (kind in ("+", "-") and before == "!"):
            raise ExpressionError(f"ngspice 39 refuses '{before}{kind}': write "
                                  f"{before}({kind}...) in parentheses, in {quoted(text)}")
        if kind in ("(", "{"):
            pending.append(0)
        elif kind in (")", "}") and len(pending) > 1:
            pending.pop()
        elif kind == ",":
            pending[-1] = 0  # ngspice reads each argument on its own
        elif kind == "?":
            if pending[-1]:
                raise ExpressionError(
                    f"ngspice 39 misreads a '?:' inside the true branch of another "
                    f"(it drops the inner condition): put the inner one in parentheses, "
                    f"in {quoted(text)}")
            pending[-1] += 1
        elif kind == ":" and pending[-1]:
            pending[-1] -= 1
