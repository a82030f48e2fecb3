"""Errors and notes raised while reading or writing a netlist."""

from __future__ import annotations


class NetlistError(ValueError):
    """A netlist that diodenet refuses, with the 1-based line it comes from.

    ``line`` is the line number in the text given to the reader (for a card
    continued with ``+`` lines, its first physical line); ``problem`` says what
    is wrong. ``str()`` reads ``"line 7: duplicate element name 'r1'"``.
    """

    def __init__(self, line: int, problem: str) -> None:
        self.line = int(line)
        self.problem = str(problem)
        super().__init__(f"line {self.line}: {self.problem}")

    def __reduce__(self) -> tuple[type[NetlistError], tuple[int, str]]:
        # keep the two fields when pickled (e.g. across a process pool)
        return (type(self), (self.line, self.problem))


class NetlistWarning(UserWarning):
    """Something in a netlist that diodenet accepted but dropped or ignored
    (an analysis card, an LTspice-only model parameter, a capacitance-only
    parameter). The message starts with ``line N:``."""
