"""Seeded random test circuits, shared by the tests, benchmarks and scripts.

``random_diode_network`` writes a connected resistor–diode netlist (SPICE
text, so it exercises the reader and ngspice alike); ``random_inputs`` draws
source voltages for it.
"""

from __future__ import annotations

import numpy as np

#: the 1N4148-like model ``diodenet.D1N4148`` as an ngspice ``.model`` card
D1N4148_CARD = ".model d1n4148 D(Is=2.52n Rs=0.568 N=1.752 Cjo=4p M=0.4 tt=20n)"


def random_diode_network(
    seed: int = 0,
    *,
    nodes: int = 20,
    resistors: int = 30,
    diodes: int = 10,
    sources: int = 4,
) -> str:
    """SPICE text of a connected random resistor-diode network.

    Nodes ``n0 .. n{nodes-1}``; voltage sources ``v0 .. v{sources-1}`` drive
    ``n0 ..`` against ground; the first ``nodes`` resistors form a spanning
    tree to ground, the rest join random node pairs (500 Ω .. 5 kΩ); diodes
    (1N4148-like) join random node pairs or a node and ground, never two
    source-driven terminals (that would force a diode with an ideal source).

    Preconditions: ``resistors >= nodes``, ``1 <= sources <= nodes``.
    """
    if resistors < nodes:
        raise ValueError(f"need resistors >= nodes for a spanning tree, got {resistors} < {nodes}")
    if not 1 <= sources <= nodes:
        raise ValueError(f"need 1 <= sources <= nodes, got {sources}")
    rng = np.random.default_rng(seed)
    names = [f"n{k}" for k in range(nodes)]
    lines = [f"random diode network seed={seed} ({nodes} nodes, {resistors} R, {diodes} D)"]
    for k in range(sources):
        lines.append(f"v{k} {names[k]} 0 dc 0")
    r = 0
    for k in range(nodes):  # spanning tree: node k to an earlier node or ground
        other = "0" if k == 0 else (["0", *names[:k]])[rng.integers(0, k + 1)]
        lines.append(f"r{r} {names[k]} {other} {rng.uniform(500, 5000)!r}")
        r += 1
    while r < resistors:
        a, b = rng.choice(nodes, 2, replace=False)
        lines.append(f"r{r} {names[a]} {names[b]} {rng.uniform(500, 5000)!r}")
        r += 1
    driven = set(range(sources)) | {nodes}  # source nodes and ground
    for k in range(diodes):
        a, b = rng.choice(nodes + 1, 2, replace=False)
        while a in driven and b in driven:
            a, b = rng.choice(nodes + 1, 2, replace=False)
        anode = names[a] if a < nodes else "0"
        cathode = names[b] if b < nodes else "0"
        lines.append(f"d{k} {anode} {cathode} d1n4148")
    lines.append(D1N4148_CARD)
    lines.append(".end")
    return "\n".join(lines) + "\n"


def random_inputs(batch: int, sources: int = 4, seed: int = 1, scale: float = 2.0) -> np.ndarray:
    """(batch, sources) source voltages, uniform in [-scale, scale] volts."""
    return np.random.default_rng(seed).uniform(-scale, scale, (batch, sources))
