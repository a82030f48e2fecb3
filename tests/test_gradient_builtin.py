"""Hardware linearization on the built-in simulator, against central finite
differences and against autograd through the implicit-function formula."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from diodenet import Circuit, PWLDiode, ShockleyDiode
from diodenet.circuits import IdealDiode
from diodenet.linearization import BuiltinHardware, hardware_gradient, sse_loss


def random_rtgd(seed: int, model: object, extras: bool = False) -> Circuit:
    rng = np.random.default_rng(seed)
    c = Circuit(f"rtgd {seed}")
    nodes = [f"n{i}" for i in range(6)]
    c.add_voltage_source("V1", "in1", "0", 1.0)
    c.add_voltage_source("V2", "in2", "0", -1.0)
    c.add_current_source("I1", "0", nodes[5], 1e-4)
    c.add_resistor("Rin1", "in1", nodes[0], resistance=float(rng.uniform(500, 2e3)))
    c.add_resistor("Rin2", "in2", nodes[1], resistance=float(rng.uniform(500, 2e3)))
    for i in range(6):
        for j in range(i + 1, 6):
            if rng.random() < 0.4 or j == i + 1:
                c.add_resistor(f"R{i}{j}", nodes[i], nodes[j],
                               resistance=float(rng.uniform(5e2, 5e3)))
        c.add_resistor(f"Rg{i}", nodes[i], "0", resistance=float(rng.uniform(1e3, 1e4)))
    for k, (a, b) in enumerate([("0", "n2"), ("n3", "0"), ("n1", "n4"), ("n5", "n0")]):
        c.add_diode(f"D{k}", a, b, model)  # type: ignore[arg-type]
    if extras:
        c.add_gyrator("XG1", "n2", "0", "n4", "0", 3e-4)
        c.add_transformer("XT1", "n3", "0", "t1", "0", 1.5)
        c.add_resistor("Rt", "t1", "n5", resistance=2e3)
        c.add_vcvs("E1", "b1", "0", "n0", "0", 0.5)
        c.add_resistor("Rb", "b1", "n4", resistance=3e3)
    return c


CASES = [
    (0, IdealDiode(), False), (1, IdealDiode(), True),
    (2, PWLDiode(vf=0.3, ron=50.0), False), (3, PWLDiode(vf=0.2, ron=0.0), True),
    (4, ShockleyDiode(is_=1e-12, n=1.5, rs=5.0), False),
    (5, ShockleyDiode(is_=2.52e-9, n=1.752, rs=0.568), True),
]


def _fd_gradient(hw: BuiltinHardware, u: np.ndarray, loss, rel: float) -> np.ndarray:
    g0 = hw.conductances()
    out = np.zeros_like(g0)
    for k in range(len(g0)):
        vals = []
        for s in (+1, -1):
            g = g0.copy()
            g[k] *= 1 + s * rel
            hw.set_conductances(g)
            y = hw.settle(u).outputs
            vals.append(float(loss(torch.as_tensor(y))))
        out[k] = (vals[0] - vals[1]) / (2 * rel * g0[k])
    hw.set_conductances(g0)
    return out


@pytest.mark.parametrize("seed, model, extras", CASES)
@pytest.mark.parametrize("outputs", [["n3", ("n4", "n0")], [("n3", "in1"), "in2"]],
                         ids=["free-nodes", "at-sources"])
def test_gradient_matches_central_differences(seed: int, model: object, extras: bool,
                                              outputs: list):
    c = random_rtgd(seed, model, extras)
    hw = BuiltinHardware(c, ["v1", "v2", "i1"], outputs)
    rng = np.random.default_rng(seed)
    u = np.column_stack([rng.uniform(-2, 2, 5), rng.uniform(-2, 2, 5), rng.uniform(-1e-3, 1e-3, 5)])
    targets = rng.uniform(-0.5, 0.5, (5, 2))
    loss = sse_loss(targets)
    grad = hardware_gradient(hw, u, loss, jacobian=True)
    assert grad.settles == 2 * 5 + 3 * 5  # forward + adjoint, + one per input for the Jacobian
    fd = _fd_gradient(hw, u, loss, rel=1e-6)
    scale = np.abs(fd).max()
    assert np.abs(grad.dL_dg - fd).max() <= 1e-6 * scale
    # inputs: ∂L/∂u per sample, and the Jacobian, by central differences on u
    h = 1e-6
    for i, step in enumerate([h, h, 1e-9]):
        up, um = u.copy(), u.copy()
        up[:, i] += step
        um[:, i] -= step
        yp, ym = hw.settle(up).outputs, hw.settle(um).outputs
        J_fd = (yp - ym) / (2 * step)
        np.testing.assert_allclose(grad.jacobian[:, :, i], J_fd, rtol=1e-6,
                                   atol=1e-9 * np.abs(J_fd).max())
        r = grad.outputs - targets
        np.testing.assert_allclose(grad.dL_du[:, i], (r * J_fd).sum(1), rtol=1e-6,
                                   atol=1e-8 * np.abs(grad.dL_du[:, i]).max())


def _implicit_autograd(c: Circuit, u: np.ndarray, targets: np.ndarray, conducting: np.ndarray):
    """Independent reference for resistor + ideal-diode + V-source circuits:
    the switched network's nodal equations written directly in torch, with
    conductances as leaves; autograd differentiates the implicit function."""
    nodes = c.nodes
    idx = {n: i for i, n in enumerate(nodes)}
    res = c.resistors
    g = torch.tensor([r.g for r in res], dtype=torch.float64, requires_grad=True)
    total = 0.0
    for s in range(u.shape[0]):
        on = [d for d, k in zip(c.diodes, conducting[s]) if k]
        vs = c.sources
        size = len(nodes) + len(vs) + len(on)
        A = torch.zeros(size, size, dtype=torch.float64)
        rhs = torch.zeros(size, dtype=torch.float64)
        for k, r in enumerate(res):
            for a, b in ((r.n1, r.n2), (r.n2, r.n1)):
                if a != "0":
                    e = torch.zeros(size, size, dtype=torch.float64)
                    e[idx[a], idx[a]] = 1.0
                    if b != "0":
                        e[idx[a], idx[b]] = -1.0
                    A = A + g[k] * e
        for k, e in enumerate([*vs, *on]):
            row = len(nodes) + k
            p, n = (e.pos, e.neg) if hasattr(e, "pos") else (e.anode, e.cathode)
            for node, sgn in ((p, 1.0), (n, -1.0)):
                if node != "0":
                    A[idx[node], row] += sgn
                    A[row, idx[node]] += sgn
            if k < len(vs):
                rhs[row] = float(u[s, k])
        x = torch.linalg.solve(A, rhs)
        y = x[idx["n3"]]
        total = total + 0.5 * (y - targets[s, 0]) ** 2
    (grad,) = torch.autograd.grad(total, g)
    return {r.name: float(v) for r, v in zip(res, grad)}


@pytest.mark.parametrize("seed", [0, 7, 11])
def test_gradient_matches_implicit_function_autograd(seed: int):
    c = random_rtgd(seed, IdealDiode())
    c.remove("i1")
    hw = BuiltinHardware(c, ["v1", "v2"], ["n3"])
    rng = np.random.default_rng(seed + 100)
    u = rng.uniform(-2, 2, (4, 2))
    t = rng.uniform(-0.5, 0.5, (4, 1))
    grad = hardware_gradient(hw, u, sse_loss(t))
    ref = _implicit_autograd(c, u, t, grad.measurement.conducting)
    ref_vec = np.array([ref[name] for name in hw.trainable])
    assert np.abs(grad.dL_dg - ref_vec).max() <= 1e-10 * np.abs(ref_vec).max()


def dense_switched(c: Circuit, inputs: list[str], outputs: list, m, drive: dict,
                   adjoint: bool) -> np.ndarray:
    """Reference: the switched circuit's full MNA, one dense solve per sample.

    Every diode port row is rewritten for the sample's state: a short
    ``V(c) - V(a) = 0``, an open ``j = 0``, a conductance ``g_d (V(c) - V(a)) - j = 0``.
    Returns the solution vectors (batch, N) and the MNA's index maps."""
    from diodenet.circuits.outputs import parse_output
    from diodenet.kernels.mna import build_mna, junction_node

    mna = build_mna(c, inputs, force_admittance=True)
    N = mna.size
    idx = lambda n: None if n == "0" else mna.node_index[n]  # noqa: E731
    xs = []
    for s in range(m.batch):
        G = mna.G.copy()
        for k, (d, row) in enumerate(zip(mna.diodes, mna.port_rows)):
            a = junction_node(d) if junction_node(d) in mna.node_index else d.anode
            ia, ic = idx(a), idx(d.cathode)
            gd, on = m.diode_conductance[s, k], m.conducting[s, k]
            G[row, :] = 0.0
            ca, cb = (1.0, 0.0) if (on and not np.isfinite(gd)) else (
                (gd, -1.0) if np.isfinite(gd) else (0.0, 1.0))
            if ic is not None:
                G[row, ic] = ca
            if ia is not None:
                G[row, ia] = -ca
            G[row, row] = cb
        rhs = np.zeros(N)
        for key, val in drive.items():
            v = float(np.broadcast_to(val, (m.batch,))[s])
            if isinstance(key, tuple):
                p, n = parse_output(outputs[key[1]])
                for node, sg in ((p, 1.0), (n, -1.0)):
                    if idx(node) is not None:
                        rhs[idx(node)] += sg * v
            elif c[key].kind == "voltage source":
                rhs[mna.branch_index[key]] += v
            else:
                e = c[key]
                for node, sg in ((e.pos, -1.0), (e.neg, 1.0)):
                    if idx(node) is not None:
                        rhs[idx(node)] += sg * v
        xs.append(np.linalg.solve(G.T if adjoint else G, rhs))
    return np.array(xs), mna


@pytest.mark.parametrize("seed, model, extras", [CASES[1], CASES[3], CASES[5]])
def test_linearized_solve_equals_dense_switched_mna(seed: int, model: object, extras: bool):
    """The rank-n correction of the reduced MNA gives what a dense
    factorisation of each sample's switched full MNA gives."""
    from diodenet.linearization.hardware import output_port

    c = random_rtgd(seed, model, extras)
    inputs, outputs = ["v1", "v2", "i1"], ["n3", ("n4", "n0")]
    hw = BuiltinHardware(c, inputs, outputs)
    rng = np.random.default_rng(seed)
    u = np.column_stack([rng.uniform(-2, 2, 7), rng.uniform(-2, 2, 7), rng.uniform(-1e-3, 1e-3, 7)])
    m = hw.settle(u)
    drives = [{output_port(0): rng.normal(size=7), output_port(1): rng.normal(size=7)},
              {"v2": np.ones(7)}, {"i1": np.ones(7)}]
    for d in drives:
        for adj in (False, True):
            f = hw.settle_linearized(m, d, adjoint=adj)
            x, mna = dense_switched(c, inputs, outputs, m, d, adj)
            V = lambda n, x=x, mna=mna: 0.0 if n == "0" else x[:, mna.node_index[n]]  # noqa: E731
            bv = np.column_stack([V(c[r].n1) - V(c[r].n2) for r in hw.trainable])
            scale = max(np.abs(bv).max(), 1e-30)
            assert np.abs(f.branch_voltages - bv).max() <= 1e-10 * scale
            resp = np.column_stack([x[:, mna.branch_index["v1"]], x[:, mna.branch_index["v2"]],
                                    V(c["i1"].neg) - V(c["i1"].pos)])
            np.testing.assert_allclose(f.input_responses, resp, rtol=1e-9,
                                       atol=1e-12 * np.abs(resp).max())
            out = np.column_stack([V("n3"), V("n4") - V("n0")])
            np.testing.assert_allclose(f.outputs, out, rtol=1e-9, atol=1e-12 * np.abs(out).max())


@pytest.mark.parametrize("seed, model, extras", CASES[:2] + CASES[4:5])
def test_lazy_reads_answer_for_the_measured_conductances(seed, model, extras) -> None:
    """∂L/∂u and the static power are read off a measurement only when asked for
    (training never asks). Asked after the hardware was re-programmed, they still
    answer for the circuit that was measured: the same numbers as a twin
    hardware read at once, and ∂L/∂u equals central differences in u."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(-2, 2, size=(5, 2))
    loss = sse_loss(rng.uniform(-1, 1, size=(5, 3)))
    c = random_rtgd(seed, model, extras)
    hw = BuiltinHardware(c, ["V1", "V2"], ["n0", "n3", "n5"])
    twin = BuiltinHardware(c, ["V1", "V2"], ["n0", "n3", "n5"])
    late = hardware_gradient(hw, u, loss)
    now = hardware_gradient(twin, u, loss)
    du, power = now.dL_du.copy(), now.measurement.power.copy()
    hw.set_conductances(hw.conductances() * rng.uniform(0.3, 3.0, len(hw.trainable)))
    np.testing.assert_allclose(late.dL_du, du, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(late.measurement.power, power, rtol=1e-12)
    h = 1e-6
    for j in range(2):
        e = np.zeros_like(u)
        e[:, j] = h
        fd = [float(loss(torch.as_tensor(twin.settle(u + s * e).outputs))) for s in (1, -1)]
        # a sum over samples: Σ_s ∂L/∂u_sj against the whole column's difference
        assert du[:, j].sum() == pytest.approx((fd[0] - fd[1]) / (2 * h), rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("targets", [[0.5, 0.0], [[0.5, 0.0], [0.1, 0.2]], [[0.5]]])
def test_sse_targets_of_another_shape_are_refused(targets) -> None:
    """Outputs (2, 1) against targets (2,) broadcast to (2, 2) and gave another
    loss and gradient (0.19 against 0.02), silently; any shape but the outputs'
    is now refused."""
    c = Circuit()
    c.add_voltage_source("v1", "a", "0", 1.0)
    c.add_resistor("r1", "a", "b", resistance=1e3)
    c.add_resistor("r2", "b", "0", resistance=1e3)
    hw = BuiltinHardware(c, ["v1"], ["b"])
    u = np.array([[1.0], [2.0]])
    with pytest.raises(ValueError, match=r"targets of shape .* for outputs of shape \(2, 1\)"):
        hardware_gradient(hw, u, sse_loss(targets))
    assert np.isfinite(hardware_gradient(hw, u, sse_loss([[0.5], [0.0]])).loss)


def test_a_loss_that_is_not_finite_is_named_as_the_loss() -> None:
    """NaN targets made the adjoint's drive NaN, reported (by ngspice) as the
    circuit's inputs not being finite."""
    c = Circuit()
    c.add_voltage_source("v1", "a", "0", 1.0)
    c.add_resistor("r1", "a", "b", resistance=1e3)
    c.add_resistor("r2", "b", "0", resistance=1e3)
    hw = BuiltinHardware(c, ["v1"], ["b"])
    with pytest.raises(ValueError, match="the loss or its gradient"):
        hardware_gradient(hw, np.array([[1.0]]), sse_loss([[float("nan")]]))


def test_a_kernel_without_a_unique_equilibrium_is_refused_with_the_reason() -> None:
    """Antiparallel ideal diodes: the kernel's margin is 0, and the settle died
    in torch's LU ('U[2,2] is zero'). The simulator takes the nodal route there
    (2/3 V, as ngspice); the hardware, which needs the kernel, answers right or
    says why it cannot answer."""
    from diodenet.simulators.builtin import BuiltinSimulator

    c = Circuit("antiparallel")
    c.add_voltage_source("V1", "in", "0", 1.0)
    c.add_resistor("R1", "in", "a", resistance=1e3)
    c.add_diode("D1", "a", "o", IdealDiode())
    c.add_diode("D2", "o", "a", IdealDiode())
    c.add_resistor("R2", "o", "0", resistance=2e3)
    sim = BuiltinSimulator(c)
    assert sim.route == "nodal" and "nodal route picks ngspice's" in sim.fallback_reason
    assert float(sim.operating_points().voltage("o")[0]) == pytest.approx(2 / 3, rel=1e-9)
    hw = BuiltinHardware(c, ["v1"], ["o"])
    # the node voltages are unique (the pair is a short either way), the diode
    # currents are not: whether a solve meets an exactly singular block is
    # round-off's choice (at +1 V it did on one machine and not on another), so
    # each input gets the refusal with its reason or the right answer
    for volts in (1.0, -1.0, 0.5):
        try:
            m = hw.settle(np.array([[volts]]))
        except ValueError as exc:
            assert re.search(r"could not solve .* not strictly monotone .* "
                             r"\(antiparallel ideal diodes", str(exc)), exc
        else:
            assert float(m.outputs[0, 0]) == pytest.approx(volts * 2 / 3, rel=1e-9)


def test_a_diode_outside_the_kernel_is_named() -> None:
    """The builtin hardware's refusal of ISR/IKF/IKR said 'a diode:'."""
    c = Circuit("isr")
    c.add_voltage_source("V1", "a", "0", 1.0)
    c.add_resistor("R1", "a", "b", resistance=1e3)
    c.add_diode("D7", "b", "0", ShockleyDiode(isr=1e-10))
    with pytest.raises(ValueError, match=r"^d7: IKF/IKR/ISR are outside"):
        BuiltinHardware(c, ["v1"], ["b"])


@pytest.mark.parametrize("volts", [1.0, 1e-9, 1e-10])
@pytest.mark.parametrize("reverse", [0.1, 1e-9])
def test_a_blocking_diode_is_open_at_any_voltage_scale(volts: float, reverse: float) -> None:
    # two 1k/1k dividers, from v1 and v2, joined by a diode (anode c, cathode b)
    # reverse-biased by `reverse` of the drive: the diode is open, so
    # y = V(b) = g1 v1 / (g1 + g2) and the other divider's conductances do not
    # enter (closed form). An absolute knee of 1 nV once shorted it below 1e-8 V.
    c = Circuit()
    c.add_voltage_source("v1", "a", "0")
    c.add_voltage_source("v2", "p", "0")
    for name, n1, n2 in (("r1", "a", "b"), ("r2", "b", "0"), ("r3", "p", "c"), ("r4", "c", "0")):
        c.add_resistor(name, n1, n2, resistance=1e3)
    c.add_diode("d1", "c", "b", IdealDiode())
    hw = BuiltinHardware(c, ["v1", "v2"], ["b"])
    u = volts * np.array([[1.0, 1.0 - 2 * reverse]])
    m = hw.settle(u)
    assert not m.conducting[0, 0]
    adj = hw.settle_linearized(m, {("out", 0): np.ones(1)}, adjoint=True)
    g1 = g2 = 1e-3
    expected = volts * np.array([g2 / (g1 + g2) ** 2, -g1 / (g1 + g2) ** 2, 0.0, 0.0])
    np.testing.assert_allclose(hw.conductance_gradient(m, adj), expected, rtol=1e-9,
                               atol=1e-12 * volts * 250)
