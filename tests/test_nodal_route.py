"""The builtin's nodal route (Newton on the full MNA, exact states for ideal and
PWL diodes) against the kernel route on circuits both can solve, and on the
circuits only it can: ideal-diode loops, current sources with nowhere to go."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from diodenet.circuits import Circuit, IdealDiode, PWLDiode, ShockleyDiode
from diodenet.circuits.netlist import NetlistWarning, parse_netlist
from diodenet.simulators.builtin import BuiltinSimulator
from diodenet.testing import random_diode_network, random_inputs


def network(seed: int, model: object | None) -> Circuit:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NetlistWarning)
        c = parse_netlist(random_diode_network(seed, nodes=8, resistors=12, diodes=5, sources=2))
    if model is not None:
        for d in c.diodes:
            c.elements[d.name] = d.replace(model=model, model_name=None)
    return c


@pytest.mark.parametrize("model", [None, IdealDiode(), PWLDiode(vf=0.6, ron=50.0)],
                         ids=["shockley", "ideal", "pwl"])
@pytest.mark.parametrize("seed", [0, 2, 4, 5])
def test_nodal_route_equals_kernel_route(seed: int, model: object | None) -> None:
    c = network(seed, model)
    u = random_inputs(6, sources=2, seed=seed)
    kernel = BuiltinSimulator(c, route="kernel").operating_points(u, ["v0", "v1"])
    nodal = BuiltinSimulator(c, route="nodal").operating_points(u, ["v0", "v1"])
    assert kernel.route == "kernel" and nodal.route == "nodal"
    cols = [nodal.nodes.index(n) for n in kernel.nodes]
    # the same law on both routes (ngspice's: gmin across each junction and the
    # cubic reverse tail for Shockley junctions)
    volts, amps = 1e-9, 1e-12
    np.testing.assert_allclose(nodal.voltages[:, cols], kernel.voltages, rtol=0, atol=volts)
    np.testing.assert_allclose(nodal.source_currents, kernel.source_currents, rtol=0,
                               atol=amps)


def test_loop_of_ideal_diodes() -> None:
    """in -1k- a, a->b->c->a ideal diodes, b -1k- ground: every diode conducts
    around the loop, so V(a) = V(b) = V(c) = 0.5 V exactly."""
    c = Circuit()
    c.add_voltage_source("v1", "in", "0", 1.0)
    c.add_resistor("r1", "in", "a", resistance=1e3)
    c.add_diode("d1", "a", "b")
    c.add_diode("d2", "b", "c")
    c.add_diode("d3", "c", "a")
    c.add_resistor("r2", "b", "0", resistance=1e3)
    op = BuiltinSimulator(c).operating_points()
    assert op.route == "nodal"
    np.testing.assert_allclose(op.voltages[0], [1.0, 0.5, 0.5, 0.5], rtol=0, atol=1e-12)


def test_textbook_clippers_with_ideal_diodes() -> None:
    """Anti-parallel ideal diodes across the output clamp it to 0 (no kernel: the
    nodal route answers, and says so); with bias sources +2 V / -3 V in series the
    output is the input clipped to [-3, 2] (closed form)."""
    u = np.array([[5.0], [-5.0], [1.0], [0.0]])
    c = Circuit()
    c.add_voltage_source("vin", "in", "0", 0.0)
    c.add_resistor("r1", "in", "out", resistance=1e3)
    c.add_diode("d1", "out", "0")
    c.add_diode("d2", "0", "out")
    c.add_resistor("r2", "out", "0", resistance=1e3)
    op = BuiltinSimulator(c).operating_points(u, ["vin"])
    assert op.route == "nodal"
    np.testing.assert_array_equal(op.voltages[:, op.nodes.index("out")], 0.0)
    np.testing.assert_allclose(-op.source_currents[:, 0], u[:, 0] / 1e3, rtol=1e-12)
    c = Circuit()
    c.add_voltage_source("vin", "in", "0", 0.0)
    c.add_voltage_source("vp", "p", "0", 2.0)
    c.add_voltage_source("vn", "0", "n", 3.0)
    c.add_resistor("r1", "in", "out", resistance=1e3)
    c.add_diode("d1", "out", "p")
    c.add_diode("d2", "n", "out")
    op = BuiltinSimulator(c).operating_points(u, ["vin"])
    np.testing.assert_allclose(op.voltages[:, op.nodes.index("out")],
                               np.clip(u[:, 0], -3.0, 2.0), rtol=0, atol=1e-12)


def test_ideal_diode_forced_by_a_source_is_refused() -> None:
    c = Circuit()
    c.add_voltage_source("v1", "a", "0", 0.6)
    c.add_diode("d1", "a", "0")
    with pytest.raises(ValueError, match="forward-biased by voltage sources alone"):
        BuiltinSimulator(c).operating_points()


def test_current_source_with_nowhere_to_go_is_named() -> None:
    c = Circuit()
    c.add_current_source("i1", "0", "a", 1e-3)
    c.add_diode("d1", "0", "a")
    with pytest.raises(ValueError, match=r"d1 blocking.*current source with nowhere to go") \
            as err:
        BuiltinSimulator(c).operating_points()
    assert "torch" not in str(err.value) and "singular" not in str(err.value), str(err.value)


def test_subnetworks_held_only_by_blocking_diodes() -> None:
    """v1 = 1 V across r1; nodes b, c (and d) hang off the rest through ideal
    diodes that all block, so no current flows there and their voltages are any
    that keep every diode blocking. Each batch sample gets an answer, not
    'singular': the source carries r1's current alone, the subnetwork has no
    current (equal voltages across r2, r3) and every diode is reverse-biased."""
    one = Circuit()
    one.add_voltage_source("v1", "a", "0", 1.0)
    one.add_resistor("r1", "a", "0", resistance=1e3)
    one.add_diode("d1", "b", "a")                  # v(b) <= v(a)
    one.add_resistor("r2", "b", "c", resistance=1e3)
    one.add_resistor("r3", "c", "b", resistance=2e3)
    one.add_diode("d2", "0", "c")                  # v(c) >= 0
    two = Circuit()
    two.add_voltage_source("v1", "a", "0", 1.0)
    two.add_resistor("r1", "a", "0", resistance=1e3)
    two.add_diode("d1", "b", "a")                  # v(b) <= v(a)
    two.add_diode("d2", "c", "b")                  # v(c) <= v(b)
    two.add_resistor("r2", "c", "d", resistance=1e3)
    two.add_diode("d3", "d", "0")                  # v(d) <= 0
    u = np.array([[1.0], [0.3], [0.0]])  # v(a) >= 0 keeps one's diodes blocking
    for c in (one, two):
        op = BuiltinSimulator(c).operating_points(u, ["v1"])
        v = {n: op.voltages[:, op.nodes.index(n)] for n in op.nodes}
        v["0"] = np.zeros(len(u))
        np.testing.assert_allclose(v["a"], u[:, 0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(op.source_currents[:, 0], -u[:, 0] / 1e3, rtol=1e-12)
        r2 = (c["r2"].n1, c["r2"].n2)
        np.testing.assert_allclose(v[r2[0]], v[r2[1]], rtol=0, atol=1e-12)
        for d in c.diodes:
            assert np.all(v[d.anode] - v[d.cathode] <= 1e-12), (d.name, op.voltages)


def test_parallel_shockley_diodes_closing_source_loops() -> None:
    """Two diodes straight across a source: no kernel (they close loops of voltage
    sources); the nodal route gives each one the Shockley current of 0.6 V."""
    c = Circuit()
    c.add_voltage_source("v1", "a", "0", 0.6)
    c.add_diode("d1", "a", "0", ShockleyDiode())
    c.add_diode("d2", "a", "0", ShockleyDiode())
    c.add_resistor("r1", "a", "0", resistance=1e3)
    op = BuiltinSimulator(c).operating_points()
    assert op.route == "nodal"
    vt = 1.38064852e-23 * 300.15 / 1.6021766208e-19
    i_d = 1e-14 * np.expm1(0.6 / vt) + 1e-12 * 0.6  # with ngspice's gmin
    np.testing.assert_allclose(-op.source_currents[0][0], 2 * i_d + 0.6e-3, rtol=1e-9)


@pytest.mark.parametrize("seed", [1, 3])
def test_ideal_networks_the_kernel_solver_fails_on(seed: int) -> None:
    """Where the kernel's active set meets a singular system (loops of ideal
    diodes), the nodal route answers, and its answer is the limit of PWL
    diodes with ron -> 0 solved by the kernel route: the gap shrinks with ron."""
    u = random_inputs(6, sources=2, seed=seed)
    ours = BuiltinSimulator(network(seed, IdealDiode())).operating_points(u, ["v0", "v1"])
    assert ours.route == "nodal"
    gaps = []
    for ron in (1e-2, 1e-4):
        pwl = BuiltinSimulator(network(seed, PWLDiode(vf=0.0, ron=ron)), route="kernel")
        near = pwl.operating_points(u, ["v0", "v1"])
        gaps.append(np.abs(near.voltages - ours.voltages).max())
    assert gaps[1] < 1e-5 and gaps[1] < gaps[0] / 50, gaps


def test_kernel_consumers_refuse_what_the_kernel_cannot_model(tmp_path) -> None:
    """A diode with IKF: simulate answers by the nodal route, while the kernel,
    gradient and linearize commands on the builtin hardware (which need the
    kernel) refuse in one line instead of dropping IKF."""
    from click.testing import CliRunner

    from diodenet.cli.main import cli

    path = tmp_path / "knee.cir"
    path.write_text("t\nv1 a 0 5\nr1 a b 100\nd1 b 0 dd\n.model dd D(Is=1e-14 ikf=1m)\n")
    (tmp_path / "u.csv").write_text("v1\n5\n")
    run = CliRunner().invoke
    assert run(cli, ["simulate", str(path)]).exit_code == 0
    for args in (["kernel", str(path), "--inputs", "v1", "--outputs", "b"],
                 ["linearize", str(path), "--inputs", str(tmp_path / "u.csv"), "--outputs", "b"]):
        r = run(cli, args)
        assert r.exit_code == 2, r.output
        assert "d1: IKF/IKR/ISR are outside the kernel" in r.stderr or \
            "IKF/IKR/ISR are outside the kernel" in r.stderr, r.output
        assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("option", ["rshunt=1e3"])
def test_kernel_consumers_refuse_options_no_kernel_models(
    tmp_path, option: str, ngspice_available: None
) -> None:
    """``.options rshunt`` puts shunts into ngspice's circuit. simulate
    answers as ngspice does (nodal route); the kernel, linearize and gradient
    commands on the builtin hardware refuse in one line naming the netlist and
    the option, where they used to answer for the circuit without the shunts."""
    from click.testing import CliRunner

    from diodenet.cli.main import cli
    from diodenet.simulators.ngspice import NgspiceSimulator

    path = tmp_path / "shunted.cir"
    path.write_text("t\nv1 in 0 1\nr1 in a 1k\nd1 a 0 dm\nr2 a 0 100k\n"
                    f".model dm D(IS=1e-14)\n.options {option}\n.end\n")
    (tmp_path / "u.csv").write_text("v1\n1\n")
    (tmp_path / "t.csv").write_text("a\n0\n")
    run = CliRunner().invoke
    r = run(cli, ["simulate", str(path), "--json"])
    assert r.exit_code == 0, r.output
    ours = json.loads(r.stdout)["operating_points"][0]["a"]
    c = parse_netlist(path.read_text())
    with NgspiceSimulator(c) as sim:
        ops = sim.operating_points(np.array([[1.0]]), ["v1"])
    assert ours == pytest.approx(ops.voltages[0, ops.nodes.index("a")], abs=1e-6)
    name = option.split("=")[0]
    for args in (["kernel", str(path), "--inputs", "v1", "--outputs", "a"],
                 ["linearize", str(path), "--inputs", str(tmp_path / "u.csv"), "--outputs", "a"],
                 ["gradient", str(path), "--inputs", str(tmp_path / "u.csv"), "--outputs", "a",
                  "--targets", str(tmp_path / "t.csv")]):
        r = run(cli, args)
        assert r.exit_code == 2, r.output
        assert r.stderr.startswith(f"Error: {path}: .options {name}="), r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("gmin", [None, 1e-4])
def test_the_kernel_route_has_gmin_across_each_junction(gmin, ngspice_available: None) -> None:
    """ngspice puts ``gmin`` (1e-12 S, or ``.options gmin``) across every
    junction. The kernel's network has it too: a junction reverse-biased by
    48 V through 10 kOhm (where the default gmin moves its node by 1e-6 V)
    and a large gmin both answer as ngspice, on the kernel route."""
    from diodenet.simulators.ngspice import NgspiceSimulator

    option = "" if gmin is None else f".options gmin={gmin:g}\n"
    c = parse_netlist("t\n.model dm D(IS=2.52e-9 N=1.752)\nr1 n1 0 10k\nd1 n1 0 dm\n"
                      "r2 n2 n1 100\nr5 n5 n2 1k\nd2 n5 0 dm\ni1 0 n1 0\n"
                      f"{option}.end\n")
    u = np.array([[-4.8e-3], [4.8e-3], [-1e-3]])
    ours = BuiltinSimulator(c).operating_points(u, ["i1"])
    assert ours.route == "kernel"
    with NgspiceSimulator(c, options={"reltol": 1e-12, "vntol": 1e-15, "abstol": 1e-18}) as sim:
        theirs = sim.operating_points(u, ["i1"])
    cols = [theirs.nodes.index(n) for n in ours.nodes]
    assert np.abs(ours.voltages - theirs.voltages[:, cols]).max() <= 1e-9


@pytest.mark.parametrize("bias", [-0.3, -5.0, -0.05, 0.4])
def test_the_kernel_route_has_ngspice_reverse_tail(bias: float, ngspice_available: None) -> None:
    """Below ``-3 nVt`` ngspice's junction current is ``-Is (1 + (3nVt/(e v))³)``,
    not Shockley's: a leaky (1 µA) Schottky junction reverse-biased through
    100 kOhm sat 2.7e-4 V from ngspice with the plain exponential. On the
    kernel route, as in the training hardware, it now answers as ngspice, and
    as the nodal route (which has always had the tail)."""
    from diodenet.linearization import BuiltinHardware
    from diodenet.simulators.ngspice import NgspiceSimulator

    c = parse_netlist("t\nv1 in 0 0\nd1 in out dsch\nr1 out 0 100k\nr2 in out 10meg\n"
                      ".model dsch D(is=1u n=1.05 rs=0.5)\n.end\n")
    u = np.array([[bias], [2 * bias]])
    ours = BuiltinSimulator(c).operating_points(u, ["v1"])
    assert ours.route == "kernel"
    nodal = BuiltinSimulator(c, route="nodal").operating_points(u, ["v1"])
    with NgspiceSimulator(c, options={"reltol": 1e-12, "vntol": 1e-15, "abstol": 1e-18}) as sim:
        theirs = sim.operating_points(u, ["v1"])
    out = ours.nodes.index("out")
    for other in (theirs, nodal):
        theirs_out = other.voltages[:, other.nodes.index("out")]
        np.testing.assert_allclose(ours.voltages[:, out], theirs_out, rtol=0, atol=1e-10)
    hw = BuiltinHardware(c, ["v1"], ["out"])
    np.testing.assert_allclose(hw.settle(u).outputs[:, 0], theirs.voltage("out"), rtol=0,
                               atol=1e-10)


# ngspice runs a PWL diode as its stand-in, whose reverse leakage is not
# exactly gmin: 3e-6 V off the ideal-gmin answer here
@pytest.mark.parametrize("model, atol", [(IdealDiode(), 1e-6), (PWLDiode(vf=0.0, ron=10.0), 1e-5)],
                         ids=["ideal", "pwl"])
def test_a_node_held_only_by_blocking_diodes_takes_ngspice_answer(
    model: object, atol: float, ngspice_available: None
) -> None:
    """Node a between two blocking diodes may sit anywhere in [0, V(in)]: the
    kernel's margin is 0 and its equilibrium is not unique. The simulator says
    so, takes the nodal route, and answers what ngspice answers on the same
    circuit (its gmin across each junction halves the voltage), not an end of
    the range."""
    from diodenet.simulators.ngspice import NgspiceSimulator

    c = Circuit("floating")
    c.add_voltage_source("V1", "in", "0", 1.0)
    c.add_resistor("R1", "in", "0", resistance=1e3)
    c.add_diode("D1", "a", "in", model)  # type: ignore[arg-type]
    c.add_diode("D2", "0", "a", model)  # type: ignore[arg-type]
    u = np.array([[1.0], [0.4]])
    sim = BuiltinSimulator(c)
    assert sim.route == "nodal" and "need not be unique" in sim.fallback_reason
    ours = sim.operating_points(u, ["v1"])
    with NgspiceSimulator(c) as ng:
        theirs = ng.operating_points(u, ["v1"])
    a = ours.voltages[:, ours.nodes.index("a")]
    np.testing.assert_allclose(a, theirs.voltages[:, theirs.nodes.index("a")], atol=atol)
    np.testing.assert_allclose(a, u[:, 0] / 2, atol=1e-9)


@pytest.mark.parametrize("volts", [1e308, 1e200])
def test_a_junction_past_its_law_is_no_answer(volts: float) -> None:
    """A source so large that the junction's e^(v/nVt) passes the law's cap
    (e^700) once answered 6.7e307 V, the resistor divider with the diode
    ignored. It is now an error, with no numpy overflow warnings on the way."""
    c = parse_netlist(f"t\nv1 in 0 {volts!r}\nr1 in out 1k\nd1 out 0 dm\nr2 out 0 2k\n"
                      ".model dm D(is=1e-14)\n.end\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match="did not converge"):
            BuiltinSimulator(c, route="nodal").operating_points()


@pytest.mark.parametrize("light", [-1e-3, -5e-4, 1e-3])
def test_a_junction_driven_into_breakdown_is_limited_as_ngspice_limits_it(
        light: float, ngspice_available: None) -> None:
    """ngspice's photodiode example with a negative light input: the VCCS forces
    the photocurrent backwards through the junction, into breakdown (BV = 7.1 V).
    Without ngspice's pnjlim on the breakdown side, Newton's first steps sent
    the junction far past -BV, met a singular Jacobian and was reported as a
    singular MNA; it now answers as ngspice does."""
    from diodenet.simulators.ngspice import NgspiceSimulator

    c = parse_netlist("t\nvbias psu 0 10\nvlight input 0 0\ngin dk da input 0 0.7\n"
                      "rin input 0 1g\ndpn da dk pd\nra anode da 0.001\nrk cathode dk 0.001\n"
                      "rmon anode 0 1\nrq psu cathode 1k\n"
                      ".model pd D(is=0.974p rs=0.1 n=1.986196 bv=7.1 ibv=0.1n)\n.end\n")
    u = np.array([[light]])
    ours = BuiltinSimulator(c).operating_points(u, ["vlight"])
    assert ours.route == "nodal"  # breakdown: the kernel has no relation for it
    with NgspiceSimulator(c, options={"reltol": 1e-9, "vntol": 1e-12, "abstol": 1e-18}) as sim:
        theirs = sim.operating_points(u, ["vlight"])
    cols = [theirs.nodes.index(n) for n in ours.nodes]
    np.testing.assert_allclose(ours.voltages, theirs.voltages[:, cols], rtol=0, atol=1e-9)


@pytest.mark.parametrize("volts", [0.1, 0.354, 0.6])
def test_a_breakdown_diode_pinned_by_a_source_converges(volts: float,
                                                        ngspice_available: None) -> None:
    """A diode with BV straight across a source, forward-biased: its voltage is
    pinned, so each Newton step moves it by round-off. The breakdown side's
    limiting, taken as -BV - pnjlim(-BV - v), gave back v off by round-off,
    which counted as a limited step and cut every step to 1e-6 of itself:
    "Newton did not converge". ngspice answers; the source current is the
    junction's, compared with ngspice's."""
    from diodenet.simulators.ngspice import NgspiceSimulator

    c = parse_netlist(f"t\nv1 a 0 {volts}\nd1 a 0 dm\n"
                      ".model dm D(is=7.2459E-13 n=1.153 bv=9.3939)\n.end\n")
    ours = BuiltinSimulator(c).operating_points()
    assert ours.route == "nodal"
    with NgspiceSimulator(c, options={"reltol": 1e-9, "vntol": 1e-12, "abstol": 1e-18}) as sim:
        theirs = sim.operating_points()
    assert float(ours.voltage("a")[0]) == volts
    np.testing.assert_allclose(ours.source_currents, theirs.source_currents, rtol=1e-6)


def _clipper() -> Circuit:
    c = Circuit()
    c.add_voltage_source("v1", "in", "0", 0.0)
    c.add_voltage_source("v2", "ref", "0", -1.0)
    c.add_resistor("r1", "in", "out", resistance=1e3)
    c.add_diode("d1", "ref", "out")
    c.add_resistor("r2", "out", "0", resistance=1e3)
    return c


def test_builtin_simulator_refuses_what_it_would_answer_wrongly() -> None:
    """An integer dtype truncated the inputs (-1.5 V read as -1); a repeated
    source name let the last column win; an unknown one was ignored when no
    values came with it; a circuit edited after the simulator was made half
    reached it (a stale kernel beside a live circuit)."""
    c = _clipper()
    with pytest.raises(ValueError, match="real floating-point dtype"):
        BuiltinSimulator(c, dtype=torch.int64)
    # settings that failed inside the kernel route and sent the circuit to the
    # nodal route without a word
    with pytest.raises(ValueError, match="unknown method 'foo'"):
        BuiltinSimulator(c, method="foo")
    with pytest.raises(ValueError, match="tol must be a relative tolerance > 0"):
        BuiltinSimulator(c, tol=-1.0)
    sim = BuiltinSimulator(c)
    with pytest.raises(ValueError, match="inputs must be finite"):
        sim.operating_points([[float("nan"), 0.0]], ["v1", "v2"])
    with pytest.raises(ValueError, match="source names repeat: v1"):
        sim.operating_points([[1.0, 5.0]], ["v1", "v1"])
    with pytest.raises(ValueError, match="'vx' is not an independent source"):
        sim.operating_points(None, ["vx"])
    with pytest.raises(ValueError, match=r"inputs must be \(batch, 2\)"):
        sim.operating_points(np.zeros((1, 1, 2)), ["v1", "v2"])
    before = sim.operating_points([[-1.5, -2.0]], ["v1", "v2"]).voltages
    c.set_conductances({"r1": 1e-2})  # the caller's circuit, not the simulator's copy
    np.testing.assert_array_equal(sim.operating_points([[-1.5, -2.0]], ["v1", "v2"]).voltages,
                                  before)
    assert sim.circuit["r1"].g == 1e-3


def test_both_simulators_answer_the_same_calls(ngspice_available: None) -> None:
    """``voltage``, ``branch_voltage``, ``current`` and ``len`` on both backends'
    results (the builtin's once had none of them), equal on a clipper."""
    from diodenet.simulators.ngspice import NgspiceSimulator

    c = _clipper()
    u = [[-1.5, -2.0], [0.5, -1.0]]
    ours = BuiltinSimulator(c).operating_points(u, ["v1", "v2"])
    with NgspiceSimulator(c, options={"reltol": 1e-12, "vntol": 1e-15, "abstol": 1e-18}) as sim:
        theirs = sim.operating_points(u, ["v1", "v2"])
    assert len(ours) == len(theirs) == 2
    # the ideal diode is a sharp stand-in in ngspice (its drop: mV); the rest is exact
    np.testing.assert_allclose(ours.voltage("out"), theirs.voltage("out"), atol=0.02)
    np.testing.assert_allclose(ours.branch_voltage("in", "0"), [-1.5, 0.5], rtol=0, atol=0)
    np.testing.assert_allclose(ours.current("v1"), theirs.current("v1"), atol=2e-5)
    with pytest.raises(KeyError, match="no node 'nowhere'"):
        ours.voltage("nowhere")
    with pytest.raises(KeyError, match="no branch current for 'r1'"):
        ours.current("r1")


def test_set_conductances_is_all_or_nothing() -> None:
    c = _clipper()
    before = c.copy()
    for values, problem in (({"r1": 2e-3, "rx": 1.0}, "'rx' is not a resistor"),
                            ([5e-3, -1.0], "conductance"),
                            ({"r1": True}, "a conductance is a number"),
                            ({"v1": 1.0}, "'v1' is not a resistor")):
        with pytest.raises(ValueError, match=problem):
            c.set_conductances(values)
        assert c == before  # r1 was changed before the bad entry was met
    c.set_conductances({"R1": 2e-3})
    assert c["r1"].g == 2e-3
