"""Kernel extraction, realisation and monDEQ views against independent truths:
closed forms, a brute-force enumeration of diode states, and round trips."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from diodenet import Circuit
from diodenet.circuits import PWLDiode
from diodenet.kernels import Kernel
from diodenet.kernels.extract import extract_kernel
from diodenet.kernels.mondeq import from_mondeq, to_mondeq, winston_kolter_weight
from diodenet.kernels.realize import realize


def divider(r1: float = 1e3, r2: float = 2e3) -> Circuit:
    c = Circuit("clamp")
    c.add_voltage_source("V1", "in", "0", 0.5)
    c.add_resistor("R1", "in", "n", resistance=r1)
    c.add_resistor("R2", "n", "0", resistance=r2)
    c.add_diode("D1", "n", "0")
    return c


def test_divider_kernel_closed_form():
    # i_d = (u + z)/R1 + z/R2 with z = -V(n): H = 1/R1 + 1/R2, B = 1/R1, V(n) = -z
    K = extract_kernel(divider(), ["v1"], ["n"])
    assert K.H.item() == pytest.approx(1 / 1e3 + 1 / 2e3, rel=1e-14)
    assert K.B.item() == pytest.approx(1e-3, rel=1e-14)
    assert K.C.item() == pytest.approx(1.0) and abs(K.D.item()) < 1e-15
    assert K.margin == pytest.approx(1.5e-3)


def test_transformer_and_gyrator_stamps_closed_form():
    # transformer 2:1 driving a load: V(s) = V(p)/2; source current = load power / V
    c = Circuit()
    c.add_voltage_source("V1", "p", "0", 4.0)
    c.add_transformer("XT", "p", "0", "s", "0", 2.0)
    c.add_resistor("RL", "s", "0", resistance=100.0)
    K = extract_kernel(c, [], ["s"])
    u = torch.zeros(1, 0, dtype=torch.float64)
    z = torch.zeros(1, 0, dtype=torch.float64)
    v = dict(zip(K.node_names, K.node_voltages(z, u)[0].tolist()))
    assert v["s"] == pytest.approx(2.0)
    # power balance: the source delivers V^2/R of the load: j = -P/V (SPICE sign)
    assert K.source_currents(z, u)[0, 0].item() == pytest.approx(-(2.0**2 / 100.0) / 4.0)
    # gyrator g terminated by R looks like a resistor g^-2 R^-1... input conductance g^2 R
    c = Circuit()
    c.add_voltage_source("V1", "p", "0", 1.0)
    c.add_gyrator("XG", "p", "0", "s", "0", 1e-3)
    c.add_resistor("RL", "s", "0", resistance=500.0)
    K = extract_kernel(c, [], [])
    j = K.source_currents(torch.zeros(1, 0, dtype=torch.float64), u)[0, 0].item()
    assert -j == pytest.approx((1e-3) ** 2 * 500.0)


def _brute_force_operating_point(c: Circuit, node_names: list[str]) -> np.ndarray:
    """Independent truth: try every on/off state of the ideal diodes with a
    plain nodal solve (shorts and opens) and keep the consistent one."""
    diodes = c.diodes
    for states in itertools.product([0, 1], repeat=len(diodes)):
        idx = {n: i for i, n in enumerate(node_names)}
        size = len(node_names)
        extra = [e for e in c.sources] + [d for d, s in zip(diodes, states) if s]
        A = np.zeros((size + len(extra), size + len(extra)))
        rhs = np.zeros(size + len(extra))
        for r in c.resistors:
            for a, b in ((r.n1, r.n2), (r.n2, r.n1)):
                if a != "0":
                    A[idx[a], idx[a]] += r.g
                    if b != "0":
                        A[idx[a], idx[b]] -= r.g
        for k, e in enumerate(extra):
            row = size + k
            p, n = (e.pos, e.neg) if hasattr(e, "pos") else (e.anode, e.cathode)
            for node, sgn in ((p, 1.0), (n, -1.0)):
                if node != "0":
                    A[idx[node], row] += sgn
                    A[row, idx[node]] += sgn
            rhs[row] = getattr(e, "dc", 0.0)
        x = np.linalg.solve(A, rhs)
        v = x[:size]
        ok = True
        for k, (d, s) in enumerate(zip(diodes, states)):
            va = 0.0 if d.anode == "0" else v[idx[d.anode]]
            vc = 0.0 if d.cathode == "0" else v[idx[d.cathode]]
            if s:  # conducting: current anode->cathode >= 0
                i = x[size + len(c.sources) + sum(states[:k])]
                ok &= i >= -1e-12
            else:
                ok &= va - vc <= 1e-12
        if ok:
            return v
    raise AssertionError("no consistent diode state")


def random_network(seed: int, n_nodes: int = 6, n_diodes: int = 3) -> Circuit:
    rng = np.random.default_rng(seed)
    c = Circuit(f"random {seed}")
    nodes = [f"n{i}" for i in range(n_nodes)]
    c.add_voltage_source("V1", "in1", "0", float(rng.uniform(-2, 2)))
    c.add_voltage_source("V2", "in2", "0", float(rng.uniform(-2, 2)))
    c.add_resistor("Rin1", "in1", nodes[0], resistance=float(rng.uniform(500, 2e3)))
    c.add_resistor("Rin2", "in2", nodes[1], resistance=float(rng.uniform(500, 2e3)))
    k = 0
    for i in range(n_nodes):
        for j in range(i + 1, n_nodes):
            if rng.random() < 0.5 or j == i + 1:
                c.add_resistor(f"R{k}", nodes[i], nodes[j], resistance=float(rng.uniform(5e2, 5e3)))
                k += 1
        c.add_resistor(f"Rg{i}", nodes[i], "0", resistance=float(rng.uniform(1e3, 1e4)))
    for d in range(n_diodes):
        a, b = rng.choice(n_nodes + 1, size=2, replace=False)
        names = ["0", *nodes]
        c.add_diode(f"D{d}", names[a], names[b])
    return c


@pytest.mark.parametrize("seed", range(6))
def test_kernel_equilibrium_equals_brute_force(seed: int):
    c = random_network(seed)
    K = extract_kernel(c, ["v1", "v2"])
    u = torch.tensor([[c["v1"].dc, c["v2"].dc]], dtype=torch.float64)
    eq = K.solve(u, method="active_set", tol=1e-12)
    v = K.node_voltages(eq.z, u)[0].numpy()
    truth = _brute_force_operating_point(c, K.node_names)
    np.testing.assert_allclose(v, truth, atol=1e-10)


def test_pwl_diode_forward_drop_and_on_resistance():
    # V1 -- R -- n -- PWL diode (vf, ron) -- ground: conducting current (u - vf)/(R + ron)
    c = Circuit()
    c.add_voltage_source("V1", "in", "0", 2.0)
    c.add_resistor("R1", "in", "n", resistance=1e3)
    c.add_diode("D1", "n", "0", PWLDiode(vf=0.7, ron=100.0))
    K = extract_kernel(c, ["v1"], ["n"])
    eq = K.solve(torch.tensor([[2.0], [0.3]], dtype=torch.float64), method="active_set")
    i = (2.0 - 0.7) / 1.1e3
    assert eq.y[0, 0].item() == pytest.approx(0.7 + 100.0 * i, rel=1e-12)
    assert eq.y[1, 0].item() == pytest.approx(0.3, rel=1e-12)  # blocking: no current


def test_diode_loop_with_voltage_source_has_no_kernel():
    c = Circuit()
    c.add_voltage_source("V1", "a", "0", 1.0)
    c.add_diode("D1", "a", "0")
    c.add_resistor("R1", "a", "0", resistance=1e3)
    with pytest.raises(ValueError, match="loop with voltage-defined elements alone"):
        extract_kernel(c, ["v1"])


def clamp_circuit(r1: float = 1e3, r2: float = 1e5) -> Circuit:
    """x -- R1 -- n -- R2 -- ground; D1 from ground to n (V(n) >= 0), D2 from n
    to a 1 V rail (V(n) <= 1): V(n) = clamp(x r2/(r1 + r2), 0, 1)."""
    c = Circuit("clamp")
    c.add_voltage_source("Vx", "x", "0", 0.0)
    c.add_voltage_source("Vr", "rail", "0", 1.0)
    c.add_resistor("R1", "x", "n", resistance=r1)
    c.add_resistor("R2", "n", "0", resistance=r2)
    c.add_diode("D1", "0", "n")
    c.add_diode("D2", "n", "rail")
    return c


def test_clamp_two_diodes_and_a_bias_source_is_a_hybrid_kernel():
    K = extract_kernel(clamp_circuit(), ["vx"], ["n"])
    assert K.port_forms == ["admittance", "impedance"]
    x = torch.linspace(-3, 3, 13, dtype=torch.float64).reshape(-1, 1)
    y = K.solve(x, method="active_set").y[:, 0]
    # closed form: the divider x·R2/(R1+R2) clipped to [0, 1]
    expect = torch.clamp(x[:, 0] * 1e5 / (1e3 + 1e5), 0.0, 1.0)
    assert torch.allclose(y, expect, atol=1e-12)


def _random_kernel(seed: int, n: int = 6, m: int = 3, p: int = 2, skew: bool = True) -> Kernel:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n)) * 1e-2
    S = rng.normal(size=(n, n)) * 1e-3 if skew else np.zeros((n, n))
    H = A.T @ A + 1e-4 * np.eye(n) + S - S.T
    return Kernel(H, rng.normal(size=(n, m)) * 1e-3, rng.normal(size=(p, n)),
                  rng.normal(size=(p, m)), b=rng.normal(size=n) * 1e-4, d=rng.normal(size=p))


def _m_matrix_kernel(seed: int, n: int = 6, m: int = 3, p: int = 2) -> Kernel:
    rng = np.random.default_rng(seed)
    G = rng.uniform(0, 1e-3, (n, n))
    G = (G + G.T) / 2
    np.fill_diagonal(G, 0)
    H = np.diag(G.sum(1) + 3e-3) - G
    return Kernel(H, rng.normal(size=(n, m)) * 1e-4, rng.normal(size=(p, n)),
                  rng.normal(size=(p, m)), b=rng.normal(size=n) * 1e-4)


@pytest.mark.parametrize(
    "kernel, prefer",
    [(_m_matrix_kernel(0), True), (_m_matrix_kernel(1), False),
     (_random_kernel(2), True), (_random_kernel(3, skew=False), False)],
)
def test_realize_round_trip(kernel: Kernel, prefer: bool):
    c = realize(kernel, prefer_resistors=prefer)
    back = extract_kernel(
        c, [f"vu{i + 1}" for i in range(kernel.m)], [f"y{j + 1}" for j in range(kernel.p)]
    )
    for name in "HBCDbd":
        a, b = getattr(back, name), getattr(kernel, name)
        assert (a - b).abs().max() <= 1e-10 * max(b.abs().max().item(), 1e-300), name


def test_m_matrix_is_realised_with_resistors_only():
    c = realize(_m_matrix_kernel(4))
    kinds = {e.kind for e in c}
    assert "transformer" not in kinds and "gyrator" not in kinds


def test_mondeq_views_round_trip_and_fixed_point():
    K = _random_kernel(5)
    W, U, b, W_out, D = K.to_mondeq(alpha=50.0)
    back = from_mondeq(W, U, b, W_out, D, alpha=50.0, y0=-K.d)
    for name in "HBCDbd":
        assert torch.allclose(getattr(back, name), getattr(K, name), rtol=1e-12, atol=1e-18)
    x = torch.randn(4, K.m, dtype=torch.float64)
    eq = K.solve(x, method="active_set", tol=1e-13)
    # the ideal-diode equilibrium is the ReLU monDEQ fixed point z = ReLU(Wz + Ux + b)
    fp = torch.clamp_min(eq.z @ W.T + x @ U.T + b, 0)
    assert (fp - eq.z).abs().max() <= 1e-10
    assert to_mondeq(K, 50.0).fixed_point_residual(eq.z, x).max() <= 1e-10


def test_winston_kolter_parametrisation_is_monotone_with_margin():
    rng = np.random.default_rng(0)
    A, S = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    W = winston_kolter_weight(0.3, torch.as_tensor(A), torch.as_tensor(S))
    sym = torch.eye(5, dtype=W.dtype) - 0.5 * (W + W.T)
    assert torch.linalg.eigvalsh(sym).min() >= 0.3 - 1e-12
    K = Kernel.from_winston_kolter(0.3, A, S, rng.normal(size=(5, 2)), np.zeros(5),
                                   np.eye(5), np.zeros((5, 2)))
    assert K.margin >= 0.3 - 1e-12


def test_kernel_rejects_bad_input():
    with pytest.raises(ValueError, match="not monotone"):
        Kernel(-np.eye(2), np.ones((2, 1)), np.ones((1, 2)), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="B must have shape"):
        Kernel(np.eye(2), np.ones((3, 1)), np.ones((1, 2)), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="NaN or inf"):
        Kernel(np.eye(2) * np.nan, np.ones((2, 1)), np.ones((1, 2)), np.zeros((1, 1)))
    K = Kernel(np.eye(2), np.ones((2, 1)), np.ones((1, 2)), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="NaN or inf"):
        K.solve([[float("inf")]])
    with pytest.raises(ValueError, match="shape"):
        K.solve(np.ones((3, 2)))


def test_element_groups_follow_the_elements_not_the_kernel():
    """Equal elements share a group; kernels built on the same element list
    share the grouping, and editing an element's parameters regroups. Checked
    against the residual each grouping gives (a wrong group applies the wrong
    element's law to a column)."""
    from diodenet.activations import PiecewiseLinear

    a, b = PiecewiseLinear(vf=0.3, ron=2.0), PiecewiseLinear(vf=0.3, ron=2.0)
    elements = [a, b, a]
    H = torch.eye(3, dtype=torch.float64) * 2.0
    B = torch.ones(3, 1, dtype=torch.float64)
    C = torch.zeros(1, 3, dtype=torch.float64)
    D = torch.zeros(1, 1, dtype=torch.float64)
    k1 = Kernel(H, B, C, D, elements)
    assert [c.tolist() for _, c in k1.element_groups()] == [[0, 1, 2]]
    k2 = Kernel(H * 3, B, C, D, elements)
    assert k2.element_groups() is k1.element_groups()
    b.vf = 0.7  # b is no longer equal to a
    k3 = Kernel(H, B, C, D, [a, b, a])
    groups = {e.vf: c.tolist() for e, c in k3.element_groups()}
    assert groups == {0.3: [0, 2], 0.7: [1]}
    # the residual at a point follows each column's own element
    z = torch.tensor([[-1.0, -1.0, -1.0]], dtype=torch.float64)
    u = torch.zeros(1, 1, dtype=torch.float64)
    per_element = Kernel(H, B, C, D, [PiecewiseLinear(vf=0.3, ron=2.0),
                                      PiecewiseLinear(vf=0.7, ron=2.0),
                                      PiecewiseLinear(vf=0.3, ron=2.0)])
    assert torch.equal(k3.residual(z, u), per_element.residual(z, u))


@pytest.mark.parametrize("values, finite", [
    ([1.0, -2.0], True), ([1.0, float("nan")], False), ([float("inf"), 1.0], False),
    ([float("inf"), -float("inf")], False),  # the sum is NaN
    ([1e308, 1e308], True),  # the sum overflows; every entry is finite
    ([], True),
])
def test_all_finite_against_the_entrywise_test(values, finite):
    from diodenet.kernels.kernel import all_finite

    t = torch.tensor(values, dtype=torch.float64)
    assert all_finite(t) is finite is bool(torch.isfinite(t).all())


def test_an_element_that_is_not_a_nonlinearity_is_named_by_its_place():
    from diodenet.activations import Ideal
    from diodenet.kernels.kernel import Kernel

    n = 8
    elements: list = [Ideal()] * n
    elements[5] = "diode"
    eye, zeros = torch.eye(n, dtype=torch.float64), torch.zeros(n, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="element 5 is not a Nonlinearity: 'diode'"):
        Kernel(eye, zeros, zeros.T, torch.zeros(2, 2, dtype=torch.float64), elements)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int64, torch.bool,
                                   torch.complex128])
def test_a_kernel_of_another_dtype_is_refused_by_name(dtype) -> None:
    """float16 failed in eigh, bool in abs, int64 truncated 1e-3 S to 0."""
    with pytest.raises(ValueError, match=r"a kernel's dtype is torch\.float32 or torch\.float64"):
        Kernel([[1.0]], [[1.0]], [[1.0]], [[0.0]], dtype=dtype)
