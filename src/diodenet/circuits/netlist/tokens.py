"""The tokenizer of netlist expressions (``expressions`` evaluates the tokens).

Numbers are read as ``numbers`` reads them (``mil`` is milli here), names
lower-cased; anything else must be one of the operators ngspice's
expressions use.
"""

from __future__ import annotations

import re

from .numbers import NUMBER_PATTERN, SUFFIX_PATTERN, ExpressionError, quoted, scale_number

MAX_EXPRESSION_LENGTH = 10_000

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_OPS = ("**", "==", "!=", "<=", ">=", "&&", "||", "+", "-", "*", "/", "%", "^", "(", ")", ",",
        "{", "}", "=", "<", ">", "!", "?", ":")


def _tokenize(text: str) -> list[tuple[str, object]]:
    """Tokens ``(kind, value)``: kinds ``num``, ``name``, an operator, ``'`` or ``end``."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    tokens: list[tuple[str, object]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        m = NUMBER_PATTERN.match(text, i)
        if m and (ch.isdigit() or ch == "."):
            suffix = SUFFIX_PATTERN.match(text, m.end())
            end = suffix.end() if suffix else m.end()
            # inside an expression ngspice 39 reads "3mil" as 3 milli
            number = scale_number(m.group(), text[m.end():end], text[i:end], mil=False)
            tokens.append(("num", number))
            i = end
            continue
        m = _NAME.match(text, i)
        if m:
            tokens.append(("name", m.group().lower()))
            i = m.end()
            continue
        for op in _OPS:
            if text.startswith(op, i):
                tokens.append((op, op))
                i += len(op)
                break
        else:
            if ch == "'":
                tokens.append(("'", "'"))
                i += 1
            else:
                raise ExpressionError(f"unexpected character {ch!r} in {quoted(text)}")
    tokens.append(("end", None))
    return tokens
