"""Hardware linearization measured in ngspice, against central finite
differences through ngspice's own ``.op`` and against the built-in backend."""

from __future__ import annotations

import numpy as np
import pytest

from diodenet import D1N4148, Circuit, ShockleyDiode
from diodenet.linearization import (
    BuiltinHardware,
    NgspiceHardware,
    hardware_gradient,
    sse_loss,
)

TIGHT = {"reltol": 1e-9, "vntol": 1e-12, "abstol": 1e-18}


def random_resistor_1n4148(seed: int) -> Circuit:
    rng = np.random.default_rng(seed)
    c = Circuit(f"r-1n4148 {seed}")
    nodes = [f"n{i}" for i in range(5)]
    c.add_voltage_source("V1", "in1", "0", 1.0)
    c.add_voltage_source("V2", "in2", "0", -1.0)
    c.add_resistor("Ra", "in1", "n0", resistance=float(rng.uniform(500, 2e3)))
    c.add_resistor("Rb", "in2", "n1", resistance=float(rng.uniform(500, 2e3)))
    k = 0
    for i in range(5):
        for j in range(i + 1, 5):
            if rng.random() < 0.5 or j == i + 1:
                c.add_resistor(f"R{k}", nodes[i], nodes[j], resistance=float(rng.uniform(5e2, 5e3)))
                k += 1
        c.add_resistor(f"Rg{i}", nodes[i], "0", resistance=float(rng.uniform(1e3, 1e4)))
    c.add_diode("D1", "0", "n2", D1N4148)
    c.add_diode("D2", "n3", "0", D1N4148)
    c.add_diode("D3", "n1", "n4", D1N4148)
    return c


@pytest.mark.parametrize("seed, linearization", [(0, "sweep"), (1, "sweep"), (0, "ac")])
def test_ngspice_gradient_matches_ngspice_finite_differences(ngspice_available, seed,
                                                              linearization):
    c = random_resistor_1n4148(seed)
    rng = np.random.default_rng(seed)
    u = rng.uniform(-3, 3, (3, 2))
    t = rng.uniform(-0.5, 0.5, (3, 2))
    loss = sse_loss(t)
    with NgspiceHardware(c, ["v1", "v2"], ["n3", ("n4", "n0")], options=TIGHT,
                         method="op", linearization=linearization) as hw:
        grad = hardware_gradient(hw, u, loss)
        assert grad.settles == 2 * len(u)  # one forward and one adjoint settle per sample
        g0 = hw.conductances()
        fd = np.zeros_like(g0)
        for k in range(len(g0)):
            vals = []
            for s in (+1, -1):
                r = 1 / g0[k] * (1 + s * 1e-3)  # perturb the resistance by 1e-3 relative
                g = g0.copy()
                g[k] = 1 / r
                hw.set_conductances(g)
                y = hw.settle(u).outputs
                vals.append(0.5 * ((y - t) ** 2).sum())
            dr = 2e-3 / g0[k]
            fd[k] = -(vals[0] - vals[1]) / dr / g0[k] ** 2  # dL/dg = -R^2 dL/dR
        hw.set_conductances(g0)
    assert np.abs(grad.dL_dg - fd).max() <= 1e-4 * np.abs(fd).max()


@pytest.mark.parametrize("model", [
    ShockleyDiode(is_=2.52e-9, n=1.752, rs=0.568, temp=80.0),  # a netlist read at .temp 80
    ShockleyDiode(is_=1e-14, isr=1e-10, nr=2.0, ikf=1e-3),  # recombination and the knee
    ShockleyDiode(is_=1e-14, bv=0.4, ibv=1e-6, nbv=3.0, ikr=1e-5),  # breakdown
], ids=["temperature", "isr-ikf", "breakdown"])
def test_ngspice_gradient_follows_the_whole_junction_law(ngspice_available, model):
    """The ngspice hardware's small-signal g_d once used the plain exponential
    at 27 °C whatever the model: at 80 °C, with ISR/IKF, or in breakdown its
    gradient was wrong. Against ngspice's own finite differences."""
    c = random_resistor_1n4148(2)
    for d in c.diodes:
        c.remove(d.name)
        c.add_diode(d.name, d.anode, d.cathode, model)
    rng = np.random.default_rng(2)
    u = rng.uniform(-4, 4, (4, 2))
    t = rng.uniform(-0.5, 0.5, (4, 2))
    loss = sse_loss(t)
    with NgspiceHardware(c, ["v1", "v2"], ["n3", ("n4", "n0")], options=TIGHT,
                         method="op") as hw:
        grad = hardware_gradient(hw, u, loss)
        g0 = hw.conductances()
        fd = np.zeros_like(g0)
        for k in range(len(g0)):
            vals = []
            for s in (+1, -1):
                g = g0.copy()
                g[k] = 1 / (1 / g0[k] * (1 + s * 1e-4))
                hw.set_conductances(g)
                vals.append(0.5 * ((hw.settle(u).outputs - t) ** 2).sum())
            fd[k] = -(vals[0] - vals[1]) / (2e-4 / g0[k]) / g0[k] ** 2
        hw.set_conductances(g0)
    assert np.abs(grad.dL_dg - fd).max() <= 1e-4 * np.abs(fd).max()


def test_backends_agree_to_the_diode_model_accuracy(ngspice_available):
    # Same Shockley model in both; they differ by ngspice's GMIN (1e-12 S across
    # each junction) and its tolerances: bound 1e-3 of the largest component.
    c = random_resistor_1n4148(3)
    u = np.random.default_rng(3).uniform(-3, 3, (4, 2))
    t = np.zeros((4, 1))
    with NgspiceHardware(c, ["v1", "v2"], ["n3"]) as hw:
        a = hardware_gradient(hw, u, sse_loss(t))
    b = hardware_gradient(BuiltinHardware(c, ["v1", "v2"], ["n3"]), u, sse_loss(t))
    assert np.abs(a.dL_dg - b.dL_dg).max() <= 1e-3 * np.abs(b.dL_dg).max()
    assert np.abs(a.dL_du - b.dL_du).max() <= 1e-3 * np.abs(b.dL_du).max()
    np.testing.assert_allclose(a.outputs, b.outputs, atol=1e-6)


@pytest.mark.parametrize("seed", [5, 6])
def test_ngspice_adjoint_network_of_non_reciprocal_circuit(ngspice_available, seed):
    """Gyrators, a VCVS and a VCCS: ngspice measures the adjoint on the adjoint
    network (Director & Rohrer) and agrees with the built-in transposed MNA."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from diodenet import ShockleyDiode
    from test_gradient_builtin import random_rtgd

    c = random_rtgd(seed, ShockleyDiode(is_=1e-12, n=1.5, rs=5.0), extras=True)
    c.add_vccs("G1", "n1", "0", "n3", "0", 2e-4)
    rng = np.random.default_rng(seed)
    u = np.column_stack([rng.uniform(-2, 2, 6), rng.uniform(-2, 2, 6),
                         rng.uniform(-1e-3, 1e-3, 6)])
    t = rng.uniform(-0.5, 0.5, (6, 2))
    args = (c, ["v1", "v2", "i1"], ["n3", ("n4", "n0")])
    ref = hardware_gradient(BuiltinHardware(*args), u, sse_loss(t))
    with NgspiceHardware(*args) as hw:
        assert not hw.reciprocal
        g = hardware_gradient(hw, u, sse_loss(t))
    assert np.abs(g.dL_dg - ref.dL_dg).max() <= 1e-6 * np.abs(ref.dL_dg).max()
    assert np.abs(g.dL_du - ref.dL_du).max() <= 1e-6 * np.abs(ref.dL_du).max()


def test_ngspice_refuses_adjoint_with_current_controlled_sources(ngspice_available):
    c = random_resistor_1n4148(4)
    c.add_voltage_source("Vsense", "n2", "m", 0.0)
    c.add_resistor("Rm", "m", "0", resistance=2e3)
    c.add_cccs("F1", "n4", "0", "vsense", 0.5)
    with (
        NgspiceHardware(c, ["v1", "v2"], ["n3"]) as hw,
        pytest.raises(ValueError, match="no adjoint for current-controlled"),
    ):
        hardware_gradient(hw, np.zeros((1, 2)), sse_loss(np.zeros((1, 1))))


@pytest.mark.parametrize("diode, ideal_diode", [
    ("1n4148", "switch"), ("ideal", "switch"), ("ideal", "shockley"), ("pwl", "switch")])
def test_sweep_linearization_equals_ngspice_ac(ngspice_available, diode, ideal_diode):
    """The linearized circuit swept with each sample's g_d is ngspice's .ac response
    (for an ideal diode written as a switch, ngspice's own linearization of the
    B-source is the truth for the g_d the hardware derives)."""
    from diodenet.circuits import IdealDiode, PWLDiode

    c = random_resistor_1n4148(5)
    model = {"ideal": IdealDiode(), "pwl": PWLDiode(vf=0.6, ron=20.0)}.get(diode)
    if model is not None:
        for d in c.diodes:
            c.elements[d.name] = d.replace(model=model)
    rng = np.random.default_rng(5)
    u = rng.uniform(-3, 3, (20, 2))
    t = rng.uniform(-0.5, 0.5, (20, 2))
    args = (c, ["v1", "v2"], ["n3", ("n4", "n0")])
    with (NgspiceHardware(*args, ideal_diode=ideal_diode) as a,
          NgspiceHardware(*args, linearization="ac", ideal_diode=ideal_diode) as b):
        ga, gb = hardware_gradient(a, u, sse_loss(t)), hardware_gradient(b, u, sse_loss(t))
    assert np.abs(ga.dL_dg - gb.dL_dg).max() <= 1e-8 * np.abs(gb.dL_dg).max()
    assert np.abs(ga.dL_du - gb.dL_du).max() <= 1e-8 * np.abs(gb.dL_du).max()


def test_ideal_switch_measures_the_ideal_network(ngspice_available):
    """Ideal diodes given to ngspice as switches: the outputs and the gradient are
    those of the exact ideal-diode solve (the built-in hardware) up to the
    switch's drop ``i / g_on``; the Shockley stand-in, about 10 mV off, is far
    outside the same bounds."""
    from diodenet.training.architectures import build_network

    net = build_network(6, 3, 5, scale=10.0, seed=1)
    rng = np.random.default_rng(0)
    u = net.encode(rng.normal(size=(12, 6)))
    t = rng.uniform(-0.5, 0.5, (12, 3))
    args = (net.circuit, net.inputs, net.outputs)
    ref = hardware_gradient(BuiltinHardware(*args), u, sse_loss(t))
    assert 0.2 < ref.measurement.conducting.mean() < 0.8  # both states occur

    def gap(mode: str) -> tuple[float, float, float]:
        with NgspiceHardware(*args, ideal_diode=mode) as hw:
            g = hardware_gradient(hw, u, sse_loss(t))
        return (np.abs(g.outputs - ref.outputs).max(),
                np.abs(g.dL_dg - ref.dL_dg).max() / np.abs(ref.dL_dg).max(),
                np.abs(g.dL_du - ref.dL_du).max() / np.abs(ref.dL_du).max())

    volts, dg, du = gap("switch")  # measured: 1.4e-5 V, 8.6e-7, 1.2e-6
    assert volts <= 1e-4 and dg <= 1e-5 and du <= 1e-5
    volts, dg, du = gap("shockley")  # measured: 9.5e-3 V, 1.0e-3, 7.3e-3
    assert volts > 1e-3 and max(dg, du) > 1e-4


def test_ideal_switch_refuses_what_it_cannot_be(ngspice_available):
    from diodenet.circuits.netlist.writer import IdealSwitch
    from diodenet.training.architectures import build_network

    for g_on, g_off in ((1.0, 1.0), (float("inf"), 0.0), (1.0, -1e-12)):
        with pytest.raises(ValueError, match="0 <= g_off < g_on"):
            IdealSwitch(g_on=g_on, g_off=g_off)
    net = build_network(2, 2, 2, scale=10.0, seed=0)
    with pytest.raises(ValueError, match="ideal_diode must be 'switch' or 'shockley'"):
        NgspiceHardware(net.circuit, net.inputs, net.outputs, ideal_diode="ideal")


@pytest.mark.parametrize("case", ["random", "ac", "non-reciprocal", "classifier"])
def test_the_node_voltage_gradient_equals_the_branch_voltage_formula(ngspice_available, case):
    """The ngspice hardware forms ∂L/∂g from the two settles' node voltages
    (no batch × resistors matrix); on the same measurements it equals the
    Tellegen sum over branch voltages written out (the base class's
    formula), also where the adjoint is measured on a circuit of its own
    nodes (the linearized sweep, the adjoint network) and where resistors
    end at ground."""
    import sys
    from pathlib import Path

    from diodenet import ShockleyDiode
    from diodenet.linearization import Hardware
    from diodenet.linearization.gradient import adjoint_gradient, loss_gradient
    from diodenet.training.architectures import build_network

    rng = np.random.default_rng(3)
    if case == "classifier":
        net = build_network(12, 3, 8, scale=10.0, seed=1)
        args, u = (net.circuit, net.inputs, net.outputs), net.encode(rng.normal(size=(5, 12)))
        t = rng.uniform(-0.5, 0.5, (5, 3))
    elif case == "non-reciprocal":
        sys.path.insert(0, str(Path(__file__).parent))
        from test_gradient_builtin import random_rtgd

        c = random_rtgd(5, ShockleyDiode(is_=1e-12, n=1.5, rs=5.0), extras=True)
        args = (c, ["v1", "v2", "i1"], ["n3", ("n4", "n0")])
        u = np.column_stack([rng.uniform(-2, 2, 4), rng.uniform(-2, 2, 4),
                             rng.uniform(-1e-3, 1e-3, 4)])
        t = rng.uniform(-0.5, 0.5, (4, 2))
    else:
        args = (random_resistor_1n4148(2), ["v1", "v2"], ["n3", ("n4", "n0")])
        u, t = rng.uniform(-3, 3, (4, 2)), rng.uniform(-0.5, 0.5, (4, 2))
    with NgspiceHardware(*args, linearization="ac" if case == "ac" else "sweep") as hw:
        m = hw.settle(u)
        _, g_y = loss_gradient(sse_loss(t), m.outputs)
        by_nodes, adj = adjoint_gradient(hw, m, g_y)
        by_branches = Hardware.conductance_gradient(hw, m, adj)
    assert np.abs(by_nodes - by_branches).max() <= 1e-12 * np.abs(by_branches).max()


def test_both_hardwares_take_the_same_names(ngspice_available) -> None:
    """An output named twice works on ngspice as on the builtin hardware (ngspice
    once rejected the netlist's repeated port source); a repeated input, a
    three-node output and conductances by name are refused on both."""
    from diodenet.linearization import NgspiceHardware

    c = Circuit()
    c.add_voltage_source("v1", "a", "0", 1.0)
    c.add_resistor("r1", "a", "h", resistance=1e3)
    c.add_resistor("r2", "h", "0", resistance=1e3)
    u, loss = np.array([[1.0], [2.0]]), sse_loss([[0.2, 0.3], [0.5, 0.4]])
    want = hardware_gradient(BuiltinHardware(c, ["v1"], ["h", "h"]), u, loss)
    with NgspiceHardware(c, ["v1"], ["h", "h"]) as hw:
        got = hardware_gradient(hw, u, loss)
        with pytest.raises(ValueError, match="conductances are an array in trainable order"):
            hw.set_conductances({"r1": 1e-3, "r2": 1e-3})
        # kept as an array (not read back out of the circuit), and the circuit's
        hw.set_conductances(np.array([2e-3, 5e-4]))
        np.testing.assert_array_equal(hw.conductances(), [2e-3, 5e-4])
        assert [hw.circuit[n].g for n in hw.trainable] == [2e-3, 5e-4]
    np.testing.assert_allclose(got.dL_dg, want.dL_dg, rtol=1e-6)
    for cls in (BuiltinHardware, NgspiceHardware):
        with pytest.raises(ValueError, match="inputs name a source twice"):
            cls(c, ["v1", "v1"], ["h"])
        with pytest.raises(ValueError, match="a node or a \\(pos, neg\\) pair"):
            cls(c, ["v1"], [("h", "a", "0")])


def test_both_hardwares_read_a_one_dimensional_input_as_one_sample(ngspice_available) -> None:
    """A 1-D input is one sample on every hardware, also with a single input
    (the builtin hardware once read it as a batch of scalars there, where
    ngspice's refused it); the answer is ngspice's."""
    from diodenet.linearization import NgspiceHardware

    c = Circuit()
    c.add_voltage_source("v1", "a", "0", 1.0)
    c.add_resistor("r1", "a", "h", resistance=1e3)
    c.add_resistor("r2", "h", "0", resistance=3e3)
    builtin = BuiltinHardware(c, ["v1"], ["h"])
    with NgspiceHardware(c, ["v1"], ["h"]) as ng:
        for hw in (builtin, ng):
            np.testing.assert_allclose(hw.settle(np.array([2.0])).outputs, [[1.5]], rtol=1e-9)
            with pytest.raises(ValueError, match=r"\(1, 3\)"):
                hw.settle(np.array([1.0, 2.0, 3.0]))


def test_the_ngspice_jacobian_is_the_slope_of_the_dc_law(ngspice_available) -> None:
    """Input drives (the Jacobian) went through ngspice's .ac, whose model of a
    diode with ISR is 0.4 % off its own DC slope (0.34897 against 0.34766 by
    finite differences): the same result's Jacobian and dL/du disagreed. The
    sweep measures both; against ngspice's own finite differences."""
    from diodenet.linearization import NgspiceHardware

    c = Circuit("isr")
    c.add_voltage_source("V1", "in", "0")
    c.add_voltage_source("V2", "b", "0")
    c.add_resistor("R1", "in", "h", resistance=1e3)
    c.add_resistor("R2", "b", "h", resistance=2e3)
    c.add_diode("D1", "h", "out", ShockleyDiode(is_=1e-12, n=1.5, isr=1e-10, nr=2))
    c.add_resistor("R3", "out", "0", resistance=5e3)
    c.add_resistor("R4", "h", "0", resistance=4e3)
    u = np.array([[1.0, 0.5], [2.0, -0.3]])
    with NgspiceHardware(c, ["v1", "v2"], ["out"], options=TIGHT, method="op") as hw:
        g = hardware_gradient(hw, u, sse_loss([[0.0], [0.0]]), jacobian=True)
        d = 1e-4
        for j in range(2):
            step = np.zeros_like(u)
            step[:, j] = d
            fd = (hw.settle(u + step).outputs - hw.settle(u - step).outputs)[:, 0] / (2 * d)
            np.testing.assert_allclose(g.jacobian[:, 0, j], fd, rtol=1e-6)


def test_diodes_in_series_linearize_on_ngspice(ngspice_available) -> None:
    """The sweep's controlled conductances are 0 at its first Newton iteration:
    a node between two diodes then had nothing to hold it, and ngspice refused
    the linearized circuit ('singular matrix: check node m') though the
    forward settle worked. Equal to the builtin hardware's gradient."""
    from diodenet.linearization import NgspiceHardware

    s = ShockleyDiode(is_=1e-12, n=1.5)
    c = Circuit("series")
    c.add_voltage_source("V1", "in", "0")
    c.add_resistor("R1", "in", "a", resistance=1e3)
    c.add_diode("D1", "a", "m", s)
    c.add_diode("D2", "m", "o", s)
    c.add_resistor("R2", "o", "0", resistance=2e3)
    c.add_resistor("R3", "a", "0", resistance=3e3)
    u, loss = np.array([[3.0], [2.0]]), sse_loss([[0.0], [0.1]])
    want = hardware_gradient(BuiltinHardware(c, ["v1"], ["o"]), u, loss, jacobian=True)
    with NgspiceHardware(c, ["v1"], ["o"], options=TIGHT, method="op") as hw:
        got = hardware_gradient(hw, u, loss, jacobian=True)
    np.testing.assert_allclose(got.dL_dg, want.dL_dg, rtol=1e-6)
    np.testing.assert_allclose(got.jacobian, want.jacobian, rtol=1e-6)


def test_pwl_diodes_on_ngspice_are_their_exact_law(ngspice_available) -> None:
    """ngspice was given a PWL diode as a Shockley stand-in matched at 1 mA:
    y = 0.3939 where the closed form (and builtin) give 0.3711, dL/dg up to 34 %
    apart, each hardware agreeing with its own finite differences. The switch
    element now carries the PWL law (knee vf, slope 1/ron)."""
    from diodenet import PWLDiode
    from diodenet.linearization import NgspiceHardware

    c = Circuit("pwl")
    c.add_voltage_source("V1", "in", "0")
    c.add_voltage_source("V2", "b", "0")
    c.add_resistor("R1", "in", "h", resistance=1e3)
    c.add_resistor("R2", "b", "h", resistance=2e3)
    c.add_diode("D1", "h", "out", PWLDiode(vf=0.3, ron=10))
    c.add_resistor("R3", "out", "0", resistance=5e3)
    c.add_resistor("R4", "h", "0", resistance=4e3)
    u, loss = np.array([[1.0, 0.5], [0.2, -1.0]]), sse_loss([[0.0], [0.1]])
    # the closed form of the first sample: h from KCL with the diode on, out from it
    g_h = 1 / 1e3 + 1 / 2e3 + 1 / 4e3 + 1 / 5010
    h = (1.0 / 1e3 + 0.5 / 2e3 + 0.3 / 5010) / g_h
    want = hardware_gradient(BuiltinHardware(c, ["v1", "v2"], ["out"]), u, loss, jacobian=True)
    with NgspiceHardware(c, ["v1", "v2"], ["out"], options=TIGHT, method="op") as hw:
        got = hardware_gradient(hw, u, loss, jacobian=True)
    assert got.outputs[0, 0] == pytest.approx((h - 0.3) * 5000 / 5010, rel=1e-6)
    np.testing.assert_allclose(got.outputs, want.outputs, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(got.dL_dg, want.dL_dg, rtol=1e-6)
    # a blocking PWL diode passes g_off = 1e-12 S on ngspice, nothing on builtin:
    # 2.9e-9 V/V through it here
    np.testing.assert_allclose(got.jacobian, want.jacobian, rtol=1e-6, atol=1e-8)


def test_reprogramming_past_the_switch_margin_warns(ngspice_available) -> None:
    """The switch's g_on is written when the hardware is made, 1e6 times the
    largest conductance; the outputs' error grows as g/g_on (measured against
    the builtin: 3e-8 V at the start, 7e-3 V after scaling every conductance
    by 1e6), so conductances re-programmed within 1e4 of g_on warn, once."""
    import warnings

    from diodenet.circuits import IdealDiode

    c = Circuit("clip")
    c.add_voltage_source("V1", "in", "0")
    c.add_resistor("R1", "in", "h", resistance=1e3)
    c.add_resistor("R2", "h", "0", resistance=1e3)
    c.add_diode("D1", "h", "0", IdealDiode())
    u = np.array([[-1.0], [1.0]])
    with NgspiceHardware(c, ["v1"], ["h"]) as ng:
        g = ng.conductances()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ng.set_conductances(g * 50)  # within the margin: no warning
        with pytest.warns(RuntimeWarning, match=r"switch g_on .* off by about 1\.0e-03"):
            ng.set_conductances(g * 1e3)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ng.set_conductances(g * 1e4)  # once per hardware
        builtin = BuiltinHardware(c, ["v1"], ["h"])
        builtin.set_conductances(g * 1e4)
        # the error the warning names: about g/g_on of the outputs (1 V scale)
        gap = np.abs(ng.settle(u).outputs - builtin.settle(u).outputs).max()
        assert 1e-4 < gap < 1e-2


def test_conductances_near_the_switch_leak_warn(ngspice_available) -> None:
    """A blocking switch leaks g_off (ngspice's gmin, 1e-12 S); against 1e-9 S
    resistors that moves the answers by about 1e-3 relative, which the
    built-in ideal diode (no leak) does not: the hardware says so when made."""
    from diodenet.circuits import IdealDiode

    c = Circuit("clip")
    c.add_voltage_source("V1", "in", "0")
    c.add_resistor("R1", "in", "h", resistance=1e9)
    c.add_resistor("R2", "h", "0", resistance=1e9)
    c.add_diode("D1", "h", "0", IdealDiode())
    with pytest.warns(RuntimeWarning, match=r"g_off = 1e-12 S .* off by about 1\.0e-03"):
        ng = NgspiceHardware(c, ["v1"], ["h"])
    with ng:
        u = np.array([[-1.0]])  # the diode blocks (h at -0.5 V): only the leak differs
        gap = np.abs(ng.settle(u).outputs - BuiltinHardware(c, ["v1"], ["h"]).settle(u).outputs)
        assert 1e-5 < float(gap.max()) < 1e-3
