"""NgspiceSimulator against independent truths: closed forms, `ngspice -b`
subprocesses, a second solve path, finite differences and reciprocity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from diodenet.simulators.ngspice import NgspiceSimulator, batch_operating_point
from diodenet.testing import random_diode_network, random_inputs

SOURCES = ["v0", "v1", "v2", "v3"]
VT = 1.38064852e-23 * 300.15 / 1.6021766208e-19  # ngspice 39's kT/q at 27 C
GMIN = 1e-12  # ngspice puts gmin across every junction

TWO_SOURCES = """two sources
v1 a 0 dc 1
v2 b 0 dc 0
r1 a out 1k
r2 b out 2k
r3 out 0 4k
.end
"""

DIODE = """resistor and diode
v1 in 0 dc 1
r1 in out 1k
d1 out 0 dmod
.model dmod d(is=1e-14 n=1.5)
.end
"""


def diode_voltage(vin: float, r: float = 1e3, is_: float = 1e-14, n: float = 1.5) -> float:
    """V(out) of v1 -- r -- diode to ground, from the diode law (independent solve)."""
    nvt = n * VT

    def kcl(v: float) -> float:
        return (vin - v) / r - is_ * math.expm1(v / nvt) - GMIN * v

    return brentq(kcl, -abs(vin) - 1, abs(vin) + 1, xtol=1e-15, rtol=1e-15)


def with_values(netlist: str, values: dict[str, float]) -> str:
    """The netlist with the named sources' dc values replaced (for `ngspice -b`)."""
    out = []
    for line in netlist.splitlines():
        name = line.split()[0].lower() if line.split() else ""
        if name in values:
            tok = line.split()
            line = f"{tok[0]} {tok[1]} {tok[2]} dc {float(values[name])!r}"
        out.append(line)
    return "\n".join(out)


@pytest.mark.parametrize("method", ["sweep", "op"])
def test_linear_superposition_closed_form(ngspice_available: None, method: str) -> None:
    u = np.array([[1.0, 0.0], [0.0, 1.0], [2.5, -1.5], [-0.3, 0.7]])
    with NgspiceSimulator(TWO_SOURCES, method=method) as sim:
        op = sim.operating_points(u, ["v1", "v2"])
    g1, g2, g3 = 1 / 1e3, 1 / 2e3, 1 / 4e3
    vout = (g1 * u[:, 0] + g2 * u[:, 1]) / (g1 + g2 + g3)
    np.testing.assert_allclose(op.voltage("out"), vout, atol=1e-12)
    np.testing.assert_allclose(op.voltage("a"), u[:, 0], atol=1e-15)
    # SPICE sign: the current into v1's + node through the source = -(current it delivers).
    np.testing.assert_allclose(op.current("v1"), -(u[:, 0] - vout) * g1, atol=1e-15)
    np.testing.assert_allclose(op.branch_voltage("a", "out"), u[:, 0] - vout, atol=1e-12)


@pytest.mark.parametrize("method", ["sweep", "op"])
def test_diode_matches_the_diode_law(ngspice_available: None, method: str) -> None:
    vin = np.array([-2.0, 0.0, 0.3, 0.6, 1.0, 3.0, 10.0])
    with NgspiceSimulator(DIODE, method=method) as sim:
        op = sim.operating_points(vin[:, None], ["v1"])
    expected = [diode_voltage(v) for v in vin]
    np.testing.assert_allclose(op.voltage("out"), expected, atol=1e-9)


def test_three_routes_agree_to_1e9_volts(ngspice_available: None) -> None:
    """One process (sweep and op), a 2-worker pool and `ngspice -b` subprocesses give
    the same operating points on the same netlist (20 nodes, 30 R, 10 diodes)."""
    net = random_diode_network(0)
    u = random_inputs(300)
    with NgspiceSimulator(net) as sim:
        one = sim.operating_points(u, SOURCES)
    with NgspiceSimulator(net, method="op") as sim:
        cold = sim.operating_points(u, SOURCES)
    with NgspiceSimulator(net, workers=2, chunk_size=64) as sim:
        pooled = sim.operating_points(u, SOURCES)
        assert len(set(sim.pool.worker_pids())) == 2
    assert one.nodes == pooled.nodes == cold.nodes
    assert len(one.nodes) == 20
    np.testing.assert_allclose(pooled.voltages, one.voltages, rtol=0, atol=1e-9)
    np.testing.assert_allclose(cold.voltages, one.voltages, rtol=0, atol=1e-9)
    np.testing.assert_allclose(cold.currents, one.currents, rtol=1e-9, atol=1e-12)
    for k in (0, 7, 123, 299):
        ref = batch_operating_point(with_values(net, dict(zip(SOURCES, u[k]))))
        for node in one.nodes:
            assert abs(ref[node] - one.voltage(node)[k]) < 1e-9, (k, node)
        for b in SOURCES:
            assert ref[f"{b}#branch"] == pytest.approx(one.current(b)[k], rel=1e-9, abs=1e-12)


def test_set_conductances_takes_effect(ngspice_available: None) -> None:
    u = np.array([[1.0, 0.5]])
    for method in ("sweep", "op"):
        with NgspiceSimulator(TWO_SOURCES, method=method) as sim:
            sim.operating_points(u, ["v1", "v2"])
            sim.set_conductances({"r3": 1e-2, "R1": 2e-3})
            op = sim.operating_points(u, ["v1", "v2"])
        g1, g2, g3 = 2e-3, 1 / 2e3, 1e-2
        assert op.voltage("out")[0] == pytest.approx((g1 * 1.0 + g2 * 0.5) / (g1 + g2 + g3),
                                                     abs=1e-12)


def test_set_conductances_again_in_part_and_refused(ngspice_available: None) -> None:
    """The same names again (a trainer's step), then one other resistor alone
    (the earlier values kept), against the closed form; bad names and values
    refused with the resistor named; a pickled spec (what a worker gets)
    keeps its digest and leaves the main process's lookup tables behind."""
    import pickle

    u = np.array([[1.0, 0.5]])
    with NgspiceSimulator(TWO_SOURCES) as sim:
        sim.set_conductances({"r3": 1e-2, "R1": 2e-3})
        sim.set_conductances({"r3": 4e-3, "R1": 3e-3})  # every name set before: no merge
        sim.set_conductances({"R2": 1e-3})  # r1 and r3 keep theirs
        op = sim.operating_points(u, ["v1", "v2"])
        g1, g2, g3 = 3e-3, 1e-3, 4e-3
        assert op.voltage("out")[0] == pytest.approx((g1 * 1.0 + g2 * 0.5) / (g1 + g2 + g3),
                                                     abs=1e-12)
        for bad, match in (({"r9": 1.0}, "no resistor named 'r9'"),
                           ({"v1": 1.0}, "no resistor named 'v1'"),
                           ({"r1": 1.0, "r2": 0.0}, "r2: conductance must be positive"),
                           ({"r1": float("nan")}, "r1: conductance must be positive")):
            with pytest.raises(ValueError, match=match):
                sim.set_conductances(bad)
        spec = sim.spec
        copy = pickle.loads(pickle.dumps(spec))
        assert copy.key == spec.key and copy.resistances == spec.resistances
        assert "_resistor_plans" in spec.__dict__ and "_resistor_plans" not in copy.__dict__


def test_defaults_and_input_checks(ngspice_available: None) -> None:
    with NgspiceSimulator(TWO_SOURCES) as sim:
        op = sim.operating_points()  # netlist values: v1 = 1, v2 = 0
        assert op.voltage("out")[0] == pytest.approx(1e-3 / (1e-3 + 5e-4 + 2.5e-4), abs=1e-12)
        assert op.as_dicts()[0]["a"] == pytest.approx(1.0)
        with pytest.raises(ValueError, match="shape"):
            sim.operating_points(np.zeros((3, 3)), ["v1", "v2"])
        with pytest.raises(ValueError, match="not an independent"):
            sim.operating_points(np.zeros((3, 1)), ["r1"])


def test_small_signal_closed_form(ngspice_available: None) -> None:
    """Linearized diode circuit: gain 1/(1 + r*gd) from v1, impedance 1/(1/r + gd) at out."""
    vin = np.array([0.2, 0.7, 2.0])
    with NgspiceSimulator(DIODE, ports=["out"]) as sim:
        gain = sim.small_signal(vin[:, None], ["v1"], drive={"v1": 1.0})
        amps = np.array([1e-3, -2e-3, 5e-4])
        z = sim.small_signal(vin[:, None], ["v1"], drive={sim.port("out"): amps})
    for k, v in enumerate(vin):
        vd = diode_voltage(v)
        gd = 1e-14 / (1.5 * VT) * math.exp(vd / (1.5 * VT)) + GMIN
        assert gain.voltage("out")[k] == pytest.approx(1 / (1 + 1e3 * gd), rel=1e-6)
        assert z.voltage("out")[k] == pytest.approx(amps[k] / (1e-3 + gd), rel=1e-6)
        assert z.voltage("in")[k] == 0.0  # v1 zeroed: a short in the linearized circuit
    assert np.all(gain.max_imag < 1e-9)


def test_small_signal_is_the_jacobian_and_reciprocal(ngspice_available: None) -> None:
    """On the random network: .ac response to v_j equals the central difference of
    operating points, and a port injection at a seen at b equals b seen at a."""
    net = random_diode_network(0)
    u = random_inputs(3, seed=5)
    tight = {"reltol": "1e-10", "vntol": "1e-13", "abstol": "1e-18"}
    with NgspiceSimulator(net, options=tight, method="op", ports=["n10", "n17"]) as sim:
        h = 1e-4
        for j in (0, 3):
            ss = sim.small_signal(u, SOURCES, drive={SOURCES[j]: 1.0})
            up, dn = u.copy(), u.copy()
            up[:, j] += h
            dn[:, j] -= h
            fd = (sim.operating_points(up, SOURCES).voltages
                  - sim.operating_points(dn, SOURCES).voltages) / (2 * h)
            np.testing.assert_allclose(ss.voltages, fd, rtol=1e-4, atol=1e-8)
        a = sim.small_signal(u, SOURCES, drive={sim.port("n10"): 1e-3})
        b = sim.small_signal(u, SOURCES, drive={sim.port("n17"): 1e-3})
        np.testing.assert_allclose(a.voltage("n17"), b.voltage("n10"), rtol=1e-9)
        assert np.all(np.abs(a.voltage("n17")) > 1e-6)  # the test is not 0 == 0


def test_sensitivity_closed_form(ngspice_available: None) -> None:
    with NgspiceSimulator(TWO_SOURCES) as sim:
        sens = sim.sensitivity([2.0, 0.0], ["v1", "v2"], "out")
    # V(out) = v1 * (r2 || r3) / (r1 + r2 || r3); d/dr1 = -v1 * p / (r1 + p)^2.
    p = 2e3 * 4e3 / 6e3
    assert sens["r1"] == pytest.approx(-2.0 * p / (1e3 + p) ** 2, rel=1e-5)
    assert sens["v1"] == pytest.approx(p / (1e3 + p), rel=1e-6)


def test_progress_bar(ngspice_available: None, capsys: pytest.CaptureFixture[str]) -> None:
    with NgspiceSimulator(TWO_SOURCES, progress=True, chunk_size=10) as sim:
        sim.operating_points(np.zeros((50, 2)), ["v1", "v2"])
    err = capsys.readouterr().err
    assert "ngspice" in err and "50/50" in err


@pytest.mark.parametrize("method", ["sweep", "op"])
def test_circuit_object_with_transformer(ngspice_available: None, method: str) -> None:
    """A Circuit goes through circuit.to_spice(). With the diode off, the ideal
    transformer (ratio n = 2) reflects r2 as n² r2 = 8 kΩ: V(out) = v1 * 8/9."""
    from diodenet.circuits.circuit import Circuit

    c = Circuit("transformer divider")
    c.add_voltage_source("V1", "in", "0", 1.0)
    c.add_resistor("R1", "in", "out", resistance=1e3)
    c.add_diode("D1", "out", "0")
    c.add_transformer("xt1", "out", "0", "s", "0", 2.0)
    c.add_resistor("r2", "s", "0", resistance=2e3)
    vin = np.array([-1.0, -2.0, -0.5])
    with NgspiceSimulator(c, method=method) as sim:
        op = sim.operating_points(vin[:, None], ["v1"])
    assert op.nodes[: len(c.nodes)] == c.nodes
    # The blocking diode still leaks -Is + gmin*v (the writer's stand-in has Is = 1e-14 A).
    vout = (vin / 1e3 + 1e-14) / (1 / 1e3 + 1 / 8e3 + GMIN)
    np.testing.assert_allclose(vout, vin * 8 / 9, rtol=1e-8)  # the leak is tiny
    np.testing.assert_allclose(op.voltage("out"), vout, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(op.voltage("s"), vout / 2, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(op.current("v1"), -(vin - vout) / 1e3, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("method", ["sweep", "op"])
def test_current_source_input(ngspice_available: None, method: str) -> None:
    """A swept current source: i1 0 a pushes its current into a; with v1 through r1
    and r2 to ground, V(a) = (i + v1/r1) / (1/r1 + 1/r2)."""
    net = "isrc\nv1 b 0 dc 1\nr1 b a 1k\nr2 a 0 3k\ni1 0 a dc 0\n.end\n"
    u = np.array([[1e-3, 0.0], [-2e-3, 1.0], [0.0, -1.0], [5e-4, 2.0]])
    with NgspiceSimulator(net, method=method) as sim:
        op = sim.operating_points(u, ["i1", "v1"])
    expect = (u[:, 0] + u[:, 1] / 1e3) / (1 / 1e3 + 1 / 3e3)
    np.testing.assert_allclose(op.voltage("a"), expect, atol=1e-12)


def test_a_node_missing_from_the_results_is_an_error(ngspice_available: None) -> None:
    """If ngspice's vectors lack one of the circuit's nodes (as numeric node
    names once did), the answer is an error naming it, never a shorter answer."""
    from diodenet.simulators.ngspice import NgspiceError

    with NgspiceSimulator("t\nv1 in 0 1\nr1 in out 1k\nr2 out 0 1k\n.end\n") as sim:
        run = sim._run

        def drop_out(*args, **kwargs):
            return [{k: v for k, v in part.items() if k != "out"}
                    for part in run(*args, **kwargs)]

        assert sim.operating_points().voltage("out") == pytest.approx([0.5])
        sim._run = drop_out  # type: ignore[method-assign]
        with pytest.raises(NgspiceError, match=r"no voltage for 1 of the circuit's 2 nodes "
                                               r"\(first: 'out'\)"):
            sim.operating_points()


def test_sweep_order_walks_to_nearest_neighbours() -> None:
    """Points on a line, shuffled, with row 0 at one end: the greedy
    nearest-neighbour path visits them in order along the line (a closed form
    of the path), and it is always a permutation."""
    from diodenet.simulators.ngspice.engine import neighbour_order

    rng = np.random.default_rng(3)
    t = np.sort(rng.random(40))
    perm = np.concatenate([[0], 1 + rng.permutation(39)])
    direction = rng.normal(size=5)
    rows = t[perm, None] * direction[None, :] + 2.0
    order = neighbour_order(rows)
    np.testing.assert_array_equal(perm[order], np.arange(40))
    for n in (0, 1, 2, 7):
        assert sorted(neighbour_order(rng.normal(size=(n, 3)))) == list(range(n))
    # equal rows, and rows whose squared norms overflow: still a permutation
    for rows in (np.ones((6, 4)), 1e200 * rng.normal(size=(9, 4))):
        assert sorted(neighbour_order(rows)) == list(range(len(rows)))
