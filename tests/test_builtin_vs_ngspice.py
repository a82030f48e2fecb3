"""The built-in simulator against ngspice's ``.op`` on random resistor–Shockley
diode circuits: ngspice is the independent, device-level truth.

With tight options (reltol 1e-9, vntol 1e-12, abstol 1e-18) the
two agree to ~2e-9 V on these circuits (measured): ngspice's own convergence
tolerance. Both put ngspice's gmin (1e-12 S) across each junction; without it
a junction reverse-biased by 48 V through 10 kOhm (a milliampere source into
the tree's 10 kOhm) moved its node by 1.0e-6 V, which this test once caught.
The test asserts 1e-6 V at every node of every sample.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diodenet.circuits import Circuit, ShockleyDiode
from diodenet.simulators.builtin import BuiltinSimulator
from diodenet.simulators.ngspice import NgspiceSimulator

TIGHT = {"reltol": 1e-9, "vntol": 1e-12, "abstol": 1e-18}
#: 1N4148-like junction, with or without its 0.568 Ω series resistance
JUNCTION = {"is_": 2.52e-9, "n": 1.752}
VOLTS = 1e-6


def _resistance(draw: st.DrawFn, low: float = 2.0, high: float = 4.0) -> float:
    return 10.0 ** draw(st.floats(low, high))


@st.composite
def diode_circuits(draw: st.DrawFn) -> Circuit:
    """A random connected resistor–diode circuit driven by voltage sources.

    A spanning tree of resistors reaches every node from ground (so every node
    has a DC path to ground and the MNA matrix is regular); extra resistors and
    diodes (random orientation) join random node pairs; each voltage source
    drives a node through a resistor; sometimes a current source feeds a node.
    Without Rs, diodes may not close a loop among themselves (such a circuit
    has no admittance-form kernel: extract_kernel refuses it).
    """
    n = draw(st.integers(2, 6))
    nodes = [f"n{i + 1}" for i in range(n)]
    everything = ["0", *nodes]
    degree = dict.fromkeys(nodes, 0)
    c = Circuit("random resistor-diode circuit")

    def connect(a: str, b: str) -> None:
        for x in (a, b):
            if x in degree:
                degree[x] += 1

    def pair() -> tuple[str, str]:
        a = draw(st.sampled_from(everything))
        b = draw(st.sampled_from([x for x in everything if x != a]))
        return a, b

    for i, node in enumerate(nodes):
        parent = draw(st.sampled_from(["0", *nodes[:i]]))
        c.add_resistor(f"rt{i + 1}", node, parent, resistance=_resistance(draw))
        connect(node, parent)
    for j in range(draw(st.integers(0, 3))):
        a, b = pair()
        c.add_resistor(f"rx{j + 1}", a, b, resistance=_resistance(draw))
        connect(a, b)
    with_rs = draw(st.booleans())
    model = ShockleyDiode(**JUNCTION, rs=0.568 if with_rs else 0.0)
    root = {x: x for x in everything}

    def find(x: str) -> str:
        while root[x] != x:
            x = root[x]
        return x

    for j in range(draw(st.integers(1, 4))):
        a, b = pair()
        if not with_rs and find(a) == find(b):
            continue  # would close a loop of ideal-junction diodes
        root[find(a)] = find(b)
        c.add_diode(f"d{j + 1}", a, b, model)
        connect(a, b)
    for j in range(draw(st.integers(1, 2))):
        c.add_voltage_source(f"v{j + 1}", f"s{j + 1}", "0", draw(st.floats(-5.0, 5.0)))
        node = draw(st.sampled_from(nodes))
        c.add_resistor(f"rs{j + 1}", f"s{j + 1}", node, resistance=_resistance(draw, 2.0, 3.5))
        connect(f"s{j + 1}", node)
    if draw(st.booleans()):  # a current source too (always a path: the resistor tree)
        node = draw(st.sampled_from(nodes))
        c.add_current_source("i1", "0", node, draw(st.floats(-2e-3, 2e-3)))
        connect("0", node)
    for node in nodes:
        if degree[node] < 2:  # a dangling node: tie it down so the netlist is valid
            c.add_resistor(f"rg{node}", node, "0", resistance=_resistance(draw, 3.0, 5.0))
    return c


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuit=diode_circuits(), seed=st.integers(0, 2**16))
def test_builtin_equals_ngspice_op(ngspice_available: None, circuit: Circuit, seed: int) -> None:
    sources = [s.name for s in circuit.sources]
    rng = np.random.default_rng(seed)
    # the netlist's own values plus two random input rows (ngspice's dc sweep path);
    # current sources (names i*) in milliamperes, voltage sources in volts
    scale = np.array([1e-3 if name.startswith("i") else 1.0 for name in sources])
    values = np.vstack([[s.dc for s in circuit.sources],
                        rng.uniform(-5, 5, (2, len(sources))) * scale])
    ours = BuiltinSimulator(circuit).operating_points(values, sources)
    with NgspiceSimulator(circuit, options=TIGHT) as sim:
        theirs = sim.operating_points(values, sources)
    assert set(ours.nodes) <= set(theirs.nodes)
    cols = [theirs.nodes.index(node) for node in ours.nodes]
    gap = np.abs(ours.voltages - theirs.voltages[:, cols])
    worst = np.unravel_index(int(np.argmax(gap)), gap.shape)
    assert gap.max() < VOLTS, (
        f"node {ours.nodes[worst[1]]}, sample {worst[0]}: builtin "
        f"{ours.voltages[worst]:.12g} V vs ngspice "
        f"{theirs.voltages[worst[0], cols[worst[1]]]:.12g} V"
        f"\n{circuit.to_spice()}"
    )
    # source currents too: SPICE's sign on both sides (1e-6 V over >= 100 Ω)
    for k, name in enumerate(ours.sources):
        assert name in theirs.branches
        np.testing.assert_allclose(
                ours.source_currents[:, k], theirs.current(name), rtol=0, atol=1e-8
            )


@pytest.mark.parametrize("method", ["sweep", "op"])
def test_forward_and_reverse_diode_both_methods(ngspice_available: None, method: str) -> None:
    """A fixed circuit with one diode forward and one reverse biased, on both of
    ngspice's solve paths: the built-in answer must not depend on which one."""
    c = Circuit("fixed")
    c.add_voltage_source("v1", "a", "0", 3.0)
    c.add_resistor("r1", "a", "b", resistance=1e3)
    c.add_diode("d1", "b", "c", ShockleyDiode(**JUNCTION, rs=0.568))  # forward
    c.add_resistor("r2", "c", "0", resistance=2.2e3)
    c.add_diode("d2", "c", "a", ShockleyDiode(**JUNCTION))  # reverse biased
    c.add_resistor("r3", "b", "0", resistance=4.7e3)
    ours = BuiltinSimulator(c).operating_points(np.array([[3.0], [-2.0], [0.4]]), ["v1"])
    with NgspiceSimulator(c, options=TIGHT, method=method) as sim:
        theirs = sim.operating_points(np.array([[3.0], [-2.0], [0.4]]), ["v1"])
    cols = [theirs.nodes.index(node) for node in ours.nodes]
    np.testing.assert_allclose(ours.voltages, theirs.voltages[:, cols], rtol=0, atol=VOLTS)


def test_breakdown_solved_by_the_nodal_route(ngspice_available: None) -> None:
    """A diode with BV = 5 V: reverse biased well short of BV the kernel route
    equals ngspice; driven into breakdown (ngspice clamps V(b) near -5 V) the
    builtin switches to the nodal route, which models breakdown as ngspice does,
    instead of returning the no-breakdown answer (-10 V)."""
    c = Circuit("breakdown")
    c.add_voltage_source("v1", "a", "0", -10.0)
    c.add_resistor("r1", "a", "b", resistance=1e3)
    c.add_diode("d1", "b", "0", ShockleyDiode(is_=1e-14, bv=5.0, ibv=1e-3))
    safe = np.array([[-1.0], [-3.0], [0.7]])
    with NgspiceSimulator(c, options=TIGHT) as sim:
        theirs_safe = sim.operating_points(safe, ["v1"])
        theirs_bd = sim.operating_points(np.array([[-10.0]]), ["v1"])
    ours = BuiltinSimulator(c).operating_points(safe, ["v1"])
    cols = [theirs_safe.nodes.index(node) for node in ours.nodes]
    np.testing.assert_allclose(ours.voltages, theirs_safe.voltages[:, cols], rtol=0, atol=VOLTS)
    assert -5.2 < theirs_bd.voltage("b")[0] < -4.9  # ngspice does model breakdown
    assert ours.route == "kernel"
    bd = BuiltinSimulator(c).operating_points(np.array([[-10.0], [-7.0]]), ["v1"])
    assert bd.route == "nodal"
    with NgspiceSimulator(c, options=TIGHT) as sim:
        theirs = sim.operating_points(np.array([[-10.0], [-7.0]]), ["v1"])
    cols = [theirs.nodes.index(node) for node in bd.nodes]
    np.testing.assert_allclose(bd.voltages, theirs.voltages[:, cols], rtol=0, atol=VOLTS)
