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
    """Something in a netlist that diodenet accepted but that has no effect on
    the DC answer (an analysis card, a ``.control`` block, an ``ac``
    specification, a capacitor left open). ``str()`` reads ``"line N: note"``;
    ``line`` and ``problem`` hold the two parts (the CLI prints
    ``FILE:N: note: ...``)."""

    def __init__(self, line: int | str, problem: str | None = None) -> None:
        if problem is None:  # NetlistWarning("line 7: text"), the older form
            text = str(line)
            head, sep, rest = text.partition(": ")
            number = head[len("line "):] if head.startswith("line ") else ""
            line, problem = (int(number), rest) if sep and number.isdigit() else (0, text)
        self.line = int(line)
        self.problem = str(problem)
        super().__init__(f"line {self.line}: {self.problem}")


def note(line: int, problem: str) -> None:
    """Emit a ``NetlistWarning`` (collected by the CLI, shown as one line)."""
    import warnings

    warnings.warn(NetlistWarning(line, problem), stacklevel=3)
