"""ngspice's answers, read back in the circuit's names.

Workers return vectors under the names ngspice saw (the circuit's, aliased
where ngspice could misread them; see ``NetlistSpec.names``). ``assemble``
stacks a batch's chunks into ``OperatingPoints``/``SmallSignal`` under the
circuit's names and in its order, refusing an answer that lacks one of the
circuit's nodes or holds a non-finite value. ``sensitivity_output`` and
``sensitivity_key`` translate a ``sens`` analysis: its output argument into
ngspice's names (checked, as it becomes a command), its vectors back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import NgspiceError
from .netlist_edit import NetlistSpec
from .results import OperatingPoints, SmallSignal


def _ordered(names: Sequence[str], preferred: Sequence[str]) -> list[str]:
    pref = [n for n in preferred if n in names]
    return pref + sorted(set(names) - set(pref))


def assemble(parts: list[dict], n: int, spec: NetlistSpec, preferred_nodes: Sequence[str],
             preferred_branches: Sequence[str], cls: type = OperatingPoints) -> Any:
    """The ``n`` rows of a batch's chunk results ``parts`` as a ``cls``: nodes
    and branches in the circuit's names, ``preferred_*`` (the circuit's order)
    first, the rest sorted."""
    if not parts:
        return cls([], np.zeros((n, 0)), [], np.zeros((n, 0)))
    keys = [k for k in parts[0] if not k.startswith("__")]
    names = spec.names
    spice_nodes = [k for k in keys if "#" not in k]
    spice_branches = [k.split("#")[0] for k in keys if k.endswith("#branch")]
    user_node = {names.user_node(k): k for k in spice_nodes}
    user_branch = {names.user_element(k): k for k in spice_branches}
    missing = [k for k in preferred_nodes if k not in user_node]
    if missing:
        # an answer without some of the circuit's nodes is no answer
        raise NgspiceError(f"ngspice reported no voltage for {len(missing)} of the "
                           f"circuit's {len(preferred_nodes)} nodes (first: "
                           f"{missing[0]!r})")
    nodes = _ordered(list(user_node), preferred_nodes)
    branches = _ordered(list(user_branch), preferred_branches)
    volts = np.concatenate(
        [np.column_stack([p[user_node[k]] for k in nodes]) for p in parts]
    ) if nodes else np.zeros((n, 0))
    amps = np.concatenate(
        [np.column_stack([p[f"{user_branch[b]}#branch"] for b in branches]) for p in parts]
    ) if branches else np.zeros((n, 0))
    for what, values, labels in (("V", volts, nodes), ("I", amps, branches)):
        bad = np.argwhere(~np.isfinite(values))
        if len(bad):
            k, j = bad[0]
            raise NgspiceError(f"ngspice returned a non-finite {what}({labels[j]}) "
                               f"= {float(values[k, j])!r}", sample=int(k))
    out = cls(nodes, volts, branches, amps)
    if cls is SmallSignal:
        out.max_imag = np.concatenate([p["__max_imag__"] for p in parts])
    return out


def sensitivity_output(output: str, spec: NetlistSpec, nodes: Sequence[str]) -> str:
    """``v(node)``, ``v(n1,n2)`` or ``i(vsource)`` with the circuit's names
    (``nodes``: the circuit's), in ngspice's names; anything else is a
    ValueError (it becomes a command)."""
    text = output.strip().lower()
    if "(" not in text:
        text = f"v({text})"
    m = re.fullmatch(r"([vi])\(\s*([^,()\s]+)\s*(?:,\s*([^,()\s]+)\s*)?\)", text)
    if not m:
        raise ValueError(f"sensitivity output must be v(node), v(n1,n2) or i(vsource), "
                         f"got {output!r}")
    kind, a, b = m.groups()
    names = spec.names
    if kind == "i":
        if b is not None or names.element(a) not in spec.top_level \
                or not a.startswith("v"):
            raise ValueError(f"i(...) takes one top-level voltage source, got {output!r}")
        return f"i({names.element(a)})"
    known = {*nodes, "0"}
    for node in (a, b):
        if node is not None and node not in known:
            raise ValueError(f"sensitivity output {output!r}: no node {node!r}")
    inner = names.node(a) if b is None else f"{names.node(a)},{names.node(b)}"
    return f"v({inner})"


def sensitivity_key(key: str, spec: NetlistSpec) -> str:
    """A ``sens`` vector's name in the circuit's names."""
    # ngspice names sensitivities by element (``r1``), with ``_m`` (multiplier)
    # or ``:xx`` suffixes for some parameters
    names = spec.names
    for sep in (":", "_m"):
        head, found, tail = key.partition(sep)
        if found and names.user_element(head) != head:
            return names.user_element(head) + found + tail
    return names.user_element(key)
