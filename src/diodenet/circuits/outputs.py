"""Circuit outputs: a node voltage, or the difference of two node voltages."""

from __future__ import annotations

#: an output: a node name (its voltage to ground) or a ``(pos, neg)`` node pair
OutputSpec = str | tuple[str, str]


def parse_output(spec: OutputSpec) -> tuple[str, str]:
    """An output as ``(pos, neg)``: a node name means ``(node, "0")``; names lower-case."""
    if isinstance(spec, tuple | list):
        if len(spec) != 2:
            raise ValueError(f"an output is a node or a (pos, neg) pair of nodes, got {spec!r}")
        pos, neg = spec
    else:
        pos, neg = spec, "0"
    if not (isinstance(pos, str) and isinstance(neg, str)):
        raise ValueError(f"an output names nodes (strings), got {spec!r}")
    return pos.strip().lower(), neg.strip().lower()
