"""Tolerances per element: a high-impedance part of a circuit is held to its own
currents, not to those of a stiff part beside it.

With one current scale per sample (``‖H‖∞‖z‖∞ + ‖q‖∞``) a 1 MΩ divider next to
a 10 A branch was allowed a residual of ~1e-9 A at tol 1e-10, a thousandth of
its own current: the iterative methods returned its voltage 5e-4 off (and 100 %
off at tol 1e-6, after 0 iterations) and called it converged.
"""

from __future__ import annotations

import pytest
import torch
from scipy.optimize import brentq

from diodenet import Circuit
from diodenet.circuits import ShockleyDiode
from diodenet.kernels import ConvergenceError, Kernel
from diodenet.kernels.extract import extract_kernel
from diodenet.kernels.low_rank import DiagonalPlusLowRank
from test_kernel_extract import clamp_circuit
from test_solvers_kernels import DT

ITERATIVE = ["pr", "fb", "pgs", "auto"]


def stiff_beside_divider(model: ShockleyDiode | None = None, *, forward: bool = False) -> Kernel:
    """10 V through 1 Ω into a conducting diode (10 A), and beside it, unconnected,
    a 1 MΩ/1 MΩ divider fed by the input ``vd`` with a diode across its lower
    leg (blocking for ``vd > 0``; ``forward``: turned round)."""
    c = Circuit("stiff beside divider")
    c.add_voltage_source("VS", "s", "0", 10.0)
    c.add_resistor("RS", "s", "a", resistance=1.0)
    c.add_diode("DA", "a", "0", model)
    c.add_voltage_source("VD", "d", "0", 2.0)
    c.add_resistor("R1", "d", "m", resistance=1e6)
    c.add_resistor("R2", "m", "0", resistance=1e6)
    if forward:
        c.add_diode("DM", "m", "0", model)
    else:
        c.add_diode("DM", "0", "m", model)
    return extract_kernel(c, ["vd"], ["m", "a"])


@pytest.mark.parametrize("tol", [None, 1e-6])
@pytest.mark.parametrize("method", [*ITERATIVE, "active_set"])
def test_divider_beside_a_stiff_branch_is_solved_to_its_own_tolerance(
    method: str, tol: float | None
) -> None:
    k = stiff_beside_divider()
    u = torch.tensor([[2.0], [0.5], [-2.0]], dtype=DT)
    truth = torch.clamp_min(u[:, 0] / 2, 0.0)  # the divider; a diode clamps it at 0 V
    eq = k.solve(u, method, tol=tol, raise_on_failure=False)
    # the divider's residual within tol of its own ~µA scale: its voltage within ~2 tol
    bound = 4 * (1e-10 if tol is None else tol)
    ok = eq.converged
    assert bool(ok.any()) or method in ("pr", "fb")  # the slow ones may say they failed
    assert torch.allclose(eq.y[ok, 0], truth[ok], rtol=0, atol=bound), (eq.y, eq.converged)
    assert torch.allclose(eq.y[ok, 1], torch.zeros_like(truth[ok]), atol=1e-9)  # conducts
    if method in ("pgs", "auto", "active_set"):
        assert bool(ok.all())


def test_failure_names_the_element_that_is_short() -> None:
    k = stiff_beside_divider()
    u = torch.tensor([[2.0]], dtype=DT)
    with pytest.raises(ConvergenceError, match=r"of element 1 \(dm\)") as info:
        k.solve(u, "pr", max_iter=20)
    # the divider's residual is a few µA at most, far below the 10 A branch's scale
    assert float(info.value.equilibrium.residual[0]) < 1e-5


@pytest.mark.parametrize("forward", [False, True])
@pytest.mark.parametrize("tol", [None, 1e-6])
@pytest.mark.parametrize("method", ["newton", "active_set", "auto"])
def test_shockley_divider_beside_a_stiff_branch(method: str, tol: float | None,
                                               forward: bool) -> None:
    k = stiff_beside_divider(ShockleyDiode(), forward=forward)
    assert float(k.H[0, 1]) == 0.0 and float(k.H[1, 0]) == 0.0  # two scalar equations
    u = torch.tensor([[2.0]], dtype=DT)
    q = k.rhs(u)[0]
    h, e = float(k.H[1, 1]), k.elements[1]

    def kcl(z: float) -> float:
        return h * z + float(q[1]) + float(e.value(torch.tensor([z], dtype=DT))[0])

    truth = brentq(kcl, -1.5, 1.5, xtol=1e-16, rtol=1e-15)
    eq = k.solve(u, method, tol=tol)
    bound = 4 * (1e-10 if tol is None else tol)
    assert abs(float(eq.z[0, 1]) - truth) <= bound * abs(truth), (float(eq.z[0, 1]), truth)


def spread_kernel(n: int, seed: int, *, decades: float = 8.0) -> Kernel:
    """A random resistor network whose nodes sit at impedance levels spread over
    ``decades`` (each node's branches, ground resistor and input couplings scale
    with its level ``L_i``; a branch takes the smaller level of its two ends):
    node voltages all O(1) V, currents from amperes down to microamperes."""
    g = torch.Generator().manual_seed(seed)
    level = 10.0 ** (-decades * torch.rand(n, generator=g, dtype=DT))
    G = torch.rand(n, n, generator=g, dtype=DT) * (torch.rand(n, n, generator=g) < 0.3)
    G = torch.triu(G, 1)
    G = (G + G.T) * torch.minimum(level[:, None], level[None, :])
    ground = level * (0.05 + torch.rand(n, generator=g, dtype=DT))
    H = torch.diag(G.sum(1) + ground) - G
    B = level[:, None] * torch.randn(n, 4, generator=g, dtype=DT)
    return Kernel(H, B, torch.eye(n, dtype=DT), torch.zeros(n, 4, dtype=DT))


@pytest.mark.parametrize("seed", range(6))
def test_spread_impedances_agree_with_the_exact_answer(seed: int) -> None:
    k = spread_kernel(24, seed)
    u = torch.randn(16, 4, generator=torch.Generator().manual_seed(seed), dtype=DT)
    exact = k.solve(u, "active_set")
    volts = float(exact.z.abs().max())
    tol = 1e-8
    for method in ITERATIVE:
        # pr and fb need ~κ = 1e6 iterations here: within a cap they mostly say they failed
        cap = {"pr": 2000, "fb": 2000}.get(method)
        eq = k.solve(u, method, tol=tol, max_iter=cap, raise_on_failure=False)
        ok = eq.converged
        assert bool(ok.all()) or method in ("pr", "fb"), method
        # every voltage, the high-impedance nodes' too, to about tol (a few tol at most:
        # the network's componentwise condition); with one scale per sample the
        # microampere nodes were off by up to 1e-2 of the volts here
        if bool(ok.any()):
            err = float((eq.z[ok] - exact.z[ok]).abs().max())
            assert err <= 2 * tol * volts, (method, err / volts, int(ok.sum()))


def test_element_scale_is_each_rows_sum_on_every_route() -> None:
    g = torch.Generator().manual_seed(3)
    n, r = 140, 3
    U = torch.randn(n, r, generator=g, dtype=DT)
    K = torch.eye(r, dtype=DT) + 0.1 * torch.randn(r, r, generator=g, dtype=DT)
    delta = 1.0 + torch.rand(n, generator=g, dtype=DT)
    form = DiagonalPlusLowRank(delta, U, K, torch.linalg.inv(K), U)
    z = torch.randn(5, n, generator=g, dtype=DT)
    q = torch.randn(5, n, generator=g, dtype=DT)

    def direct(H: torch.Tensor) -> torch.Tensor:
        return z.abs() @ H.abs().T + q.abs()

    # dense
    H = form.dense()
    k = Kernel(H, torch.zeros(n, 1, dtype=DT), torch.zeros(1, n, dtype=DT),
               torch.zeros(1, 1, dtype=DT), monotone_tol=float("inf"))
    assert torch.allclose(k.element_scale(z, q), direct(H), rtol=1e-13)
    # through the low-rank form: |δ||z| + |U||K||V|ᵀ|z| + |q|, at least the row sums
    k.set_low_rank(form)
    s = k.element_scale(z, q)
    bound = z.abs() * delta.abs() + z.abs() @ (U.abs() @ K.abs() @ U.abs().T).T + q.abs()
    assert torch.allclose(s, bound, rtol=1e-13)
    assert bool((s >= direct(H) * (1 - 1e-13)).all())
    # sparse (a kernel of at least 128 elements and under 10 % density)
    S = torch.diag(delta) - 0.01 * torch.diag(torch.ones(n - 1, dtype=DT), 1)
    S = S + S.T
    k = Kernel(S, torch.zeros(n, 1, dtype=DT), torch.zeros(1, n, dtype=DT),
               torch.zeros(1, 1, dtype=DT))
    assert k.apply_H(z).shape == (5, n) and k._cached("sparse_H", k._sparse_H) is not None
    assert torch.allclose(k.element_scale(z, q), direct(S), rtol=1e-13)


@pytest.mark.parametrize("method", [*ITERATIVE, "active_set", "newton"])
def test_an_element_with_no_current_scale_can_converge(method: str) -> None:
    """``s_k = 0``: no drive at element 1 and no voltage on anything it touches.
    Its residual is then an exact 0, and atol = 0 does not make convergence
    impossible."""
    from diodenet.activations import Shockley

    H = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, -0.5], [0.0, -0.5, 1.0]], dtype=DT)
    B = torch.tensor([[1.0], [0.0], [0.0]], dtype=DT)
    elements = [Shockley(1e-14, 0.025)] * 3 if method == "newton" else None
    k = Kernel(H, B, torch.eye(3, dtype=DT), torch.zeros(3, 1, dtype=DT), elements)
    u = torch.tensor([[-1.0], [1.0]], dtype=DT)
    eq = k.solve(u, method, atol=0.0)
    assert bool(eq.converged.all())
    s = k.element_scale(eq.z, k.rhs(u))
    assert bool((s[:, 1:] == 0).all())
    assert bool((k.element_residual(eq.z, u)[:, 1:] == 0).all())


def test_element_scale_on_a_resistor_networks_sign_pattern() -> None:
    """A layered network's kernel (an M-matrix with a low-rank form) takes
    |H| = 2 diag(H) - H through H's own route: the row sums exactly."""
    from diodenet.linearization import BuiltinHardware
    from diodenet.training import build_network

    net = build_network(12, 3, 24, scale=5.0, seed=2)
    k = BuiltinHardware(net.circuit, net.inputs, net.outputs).kernel
    facts = k.entry_facts()
    assert facts["off_nonpositive"] and facts["diagonal_positive"] and k.low_rank() is not None
    g = torch.Generator().manual_seed(4)
    z = torch.randn(6, k.n, generator=g, dtype=DT)
    q = torch.randn(6, k.n, generator=g, dtype=DT)
    direct = z.abs() @ k.H.abs().T + q.abs()
    torch.testing.assert_close(k.element_scale(z, q), direct, rtol=1e-12, atol=0)


def test_a_high_impedance_current_is_not_rounded_away() -> None:
    """The natural residual as |z - ReLU(z - αw)|/α rounds a port current below
    ε·z/α to 0, α being set by the stiffest element (here 0.01 Ω): ``pr``
    called 16 samples converged with V(m) 6.7e-10 V off. Each element's
    residual is recomputed here in long double as |min(z/α, w)|."""
    import numpy as np

    c = Circuit("stiff beside two dividers")
    c.add_voltage_source("VS", "s", "0", 10.0)
    c.add_resistor("RS", "s", "a", resistance=0.01)
    c.add_diode("DA", "a", "0")
    c.add_voltage_source("VD", "d", "0", 2.0)
    for name, n1, n2 in (("R1", "d", "m"), ("R2", "m", "0"), ("R3", "m", "p"), ("R4", "p", "0")):
        c.add_resistor(name, n1, n2, resistance=1e6)
    c.add_diode("DM", "0", "m")
    c.add_diode("DP", "0", "p")
    k = extract_kernel(c, ["vd"], ["m", "p"])
    u = torch.linspace(0.5, 2.0, 16, dtype=DT)[:, None]
    exact = k.solve(u, "active_set", tol=1e-10)
    for method in ("pr", "pgs"):
        eq = k.solve(u, method, tol=1e-10, raise_on_failure=False)
        q = k.rhs(u)
        H = k.H.numpy().astype(np.longdouble)
        z = eq.z.numpy().astype(np.longdouble)
        w = z @ H.T + q.numpy().astype(np.longdouble)
        alpha = k.natural_step()
        ratio = (np.abs(np.minimum(z / alpha, w)) / k.allowance(eq.z, q, 1e-10, 0.0).numpy())
        ok = eq.converged.numpy()
        assert (ratio.max(axis=1)[ok] <= 1.0).all(), (method, ratio.max(axis=1))
        assert float((eq.y - exact.y)[ok].abs().max()) <= 1e-9, method


def test_a_hybrid_kernels_round_off_term_compares_like_units() -> None:
    """A clamp (two diodes, one an impedance port: its z is a current) has z in
    volts and amperes. The round-off term Σ_j|H_kj|·max|z| mixed them, so at
    1 GΩ/100 GΩ an element was allowed 1.8e-15 A against tol·s_k = 1e-19 A, and
    pr accepted a start 1e-6 V off after 0 iterations. Truth: the clamp's
    closed form V(n) = clamp(x R2/(R1 + R2), 0, 1)."""
    k = extract_kernel(clamp_circuit(1e9, 1e11), ["vx"], ["n"])
    assert sorted(set(k.port_forms)) == ["admittance", "impedance"]
    x = torch.tensor([[0.5]], dtype=DT)
    exact = k.solve(x, "active_set")
    truth = 0.5 * 1e11 / (1e9 + 1e11)
    assert abs(float(exact.y[0, 0]) - truth) <= 1e-12
    z0 = exact.z.clone()
    z0[0, 0] += 1e-6
    eq = k.solve(x, "pr", z0=z0, raise_on_failure=False)
    assert not bool(eq.converged[0]) or abs(float(eq.y[0, 0]) - truth) <= 1e-9
    q = k.rhs(x)
    for kk in (k, k.to(dtype=torch.float64)):  # a copy keeps the units
        allowed = kk.allowance(exact.z, q, 1e-10, 0.0)
        scale = kk.element_scale(exact.z, q)
        assert bool((allowed <= 1e-10 * scale * (1 + 1e-3) + 1e-300).all()), (allowed, scale)
