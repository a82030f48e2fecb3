"""Interconnect: every trainable resistor laid out in a crossbar.

Each node ``n`` that a trainable device touches is a wire (a crossbar row or
column) driven at ``n`` itself, where the node's sources, diodes and fixed
resistors stay. The devices on that wire sit at taps along it, in the
circuit's order, with one segment of ``r_w`` ohms before each tap::

    n --r_w-- tap_1 --r_w-- tap_2 -- ... --r_w-- tap_m

Device ``k`` from ``n1`` to ``n2`` connects its tap on ``n1``'s wire (node
``<name>_a``) to its tap on ``n2``'s wire (node ``<name>_b``). So a hidden
neuron's row carries the currents of all its input devices through its
segments (IR drop), and a device far down a line sees less voltage than its
nominal branch voltage. The segments are ordinary, non-trainable resistors
``rw_<node>_<i>`` in the physical netlist. A node that only devices touch
(nothing drives or reads its wire from outside) is the wire itself: its first
device connects at ``n`` directly, the others down the line from it.
"""

from __future__ import annotations

from ..circuits import Circuit, Resistor


def lay_out_crossbar(circuit: Circuit, r_segment: float) -> Circuit:
    """A copy of ``circuit`` with its trainable resistors on wires of
    ``r_segment`` Ω per segment (``r_segment = 0``: an unchanged copy).

    Device names, order and trainable flags are kept, so conductances map one
    to one. Raises ``ValueError`` for a negative or non-finite ``r_segment``
    or a name the layout would need that the circuit already uses.
    """
    if not (r_segment >= 0 and r_segment < float("inf")):
        raise ValueError(f"wire resistance must be finite and >= 0 ohms, got {r_segment}")
    out = circuit.copy()
    if r_segment == 0:
        return out
    devices = [r for r in out.trainable_resistors]
    names = {r.name for r in devices}
    driven = {n for e in out if e.name not in names for n in e.nodes} | {"0"}
    taps: dict[str, list[str]] = {}
    moved: dict[str, tuple[str, str]] = {}
    used_nodes = set(out.nodes) | {"0"}
    for r in devices:
        ends = []
        for node, tag in ((r.n1, "a"), (r.n2, "b")):
            if node not in driven and node not in taps:
                taps[node] = []  # the first device on an undriven wire sits at the node
                ends.append(node)
                continue
            tap = f"{r.name}_{tag}"
            if tap in used_nodes:
                raise ValueError(f"crossbar layout: node {tap!r} already exists")
            taps.setdefault(node, []).append(tap)
            ends.append(tap)
        moved[r.name] = (ends[0], ends[1])
    rebuilt = Circuit(out.title, options=dict(out.options))
    for e in out:
        if isinstance(e, Resistor) and e.name in moved:
            a, b = moved[e.name]
            rebuilt.add(e.replace(n1=a, n2=b))
        else:
            rebuilt.add(e.replace())
    for node, line in taps.items():
        prev = node
        for i, tap in enumerate(line):
            name = f"rw_{node}_{i}"
            if name in rebuilt:
                raise ValueError(f"crossbar layout: element {name!r} already exists")
            rebuilt.add_resistor(name, prev, tap, resistance=r_segment, trainable=False)
            prev = tap
    return rebuilt
