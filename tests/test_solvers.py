"""Equilibrium solvers on ideal and PWL diodes: agreement, exactness, the monDEQ identity, adjoints.

Independent truths: brute-force enumeration of the LCP's conducting sets, the explicit monDEQ
fixed-point equation, central finite differences, and the solvers against one another.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from diodenet.activations import PiecewiseLinear
from diodenet.kernels import Kernel
from diodenet.solvers import METHODS, ActiveSet, get_solver, resolve_method
from test_solvers_kernels import (
    DT,
    inputs,
    kernel,
    lcp_brute_force,
    monotone_H,
    resistor_H,
)

FEW = settings(max_examples=6, deadline=None)


def _random_kernel(kind: str, n: int, seed: int) -> Kernel:
    if kind == "resistors":
        return kernel(resistor_H(n, seed), 4, seed)
    return kernel(monotone_H(n, seed, skew=1.0), 4, seed)


@FEW
@given(
    kind=st.sampled_from(["resistors", "gyrators"]),
    n=st.integers(2, 24),
    seed=st.integers(0, 10_000),
)
def test_fb_pr_active_set_agree(kind: str, n: int, seed: int) -> None:
    k = _random_kernel(kind, n, seed)
    u = inputs(16, k.m, seed)
    # tol relative to the current scale (~1e-3 A here); with margin m,
    # ‖Δz‖₂ <= ‖residual‖₂/m <= √n max|residual|/m: about 1e-11 V at m ~ 1e-2 S,
    # but 1e-9 V where a random network's margin is 1e-4 S
    tol = 3e-13
    fb = k.solve(u, "fb", tol=tol)
    pr = k.solve(u, "pr", tol=tol)
    act = k.solve(u, "active_set", tol=tol)
    assert float(k.margin) > 0  # strongly monotone: the bound below is finite
    for other in (fb, pr):
        bound = max(1e-9, n**0.5 * float(other.residual.max()) / float(k.margin))
        assert float((other.z - act.z).abs().max()) <= bound
    # the active set is exact, not merely within tol
    assert float(act.residual.max()) <= 1e-12
    assert act.method == "active_set"


@FEW
@given(kind=st.sampled_from(["resistors", "gyrators"]), n=st.integers(1, 7),
       seed=st.integers(0, 10_000))
def test_active_set_equals_brute_force_lcp(kind: str, n: int, seed: int) -> None:
    k = _random_kernel(kind, n, seed)
    u = inputs(4, k.m, seed)
    z = k.solve(u, "active_set", tol=1e-12).z
    q = k.rhs(u)
    for i in range(u.shape[0]):
        truth = lcp_brute_force(k.H, q[i])
        assert torch.allclose(z[i], truth, rtol=0, atol=1e-10)


def test_auto_is_the_fast_hybrid_and_active_set_is_exact() -> None:
    k = kernel(resistor_H(40, 1), 8, 1)
    u = inputs(64, 8, 1)
    eq = k.solve(u, method="active_set", tol=1e-10)
    assert eq.method == "active_set" and resolve_method("auto", k) == "active_set"
    assert float(eq.residual.max()) <= 1e-12  # exact, not merely within tol
    # the default (auto) is the hybrid: it stops at tol, and agrees to what tol allows
    fast = k.solve(u, tol=1e-10)
    # a dense kernel: PR's matrix products, with the exact finish for samples left short
    assert fast.method in ("pr", "pr+active_set")
    assert float(fast.residual.max()) <= 1e-10
    assert float((fast.z - eq.z).abs().max()) <= 1e-9 * float(eq.z.abs().max())


def test_hybrid_switches_to_active_set_when_pr_is_slow() -> None:
    # a chain of 1 kΩ resistors grounded through 1 GΩ: margin ~1e-9 S, condition ~1e6
    n = 30
    G = 1e-3 * (2 * torch.eye(n, dtype=DT) - torch.diag(torch.ones(n - 1, dtype=DT), 1)
                - torch.diag(torch.ones(n - 1, dtype=DT), -1))
    G[0, 0] -= 1e-3
    G[-1, -1] -= 1e-3
    H = G + 1e-9 * torch.eye(n, dtype=DT)
    k = kernel(H, 4, 3)
    u = inputs(16, 4, 3)
    pr = k.solve(u, "pr", tol=1e-10, max_iter=300, raise_on_failure=False)
    assert not pr.all_converged  # PR alone is far from done after 300 iterations
    auto = k.solve(u, tol=1e-10, exact=False)
    assert auto.method.endswith("+active_set")  # it handed over to the exact steps
    exact = k.solve(u, "active_set", tol=1e-10)
    assert float((auto.z - exact.z).abs().max()) <= 1e-9 * float(exact.z.abs().max())


def test_active_set_without_warm_start_ends_in_few_steps_on_m_matrix() -> None:
    # pure primal-dual active set from z = 0: finite termination on an M-matrix
    k = kernel(resistor_H(60, 2), 8, 2)
    u = inputs(32, 8, 2)
    eq = k.solve(u, "active_set", warm_start=0, tol=1e-12)
    assert float(eq.residual.max()) <= 1e-12
    assert eq.iterations <= 15


def test_ideal_diode_solution_is_the_relu_mondeq_fixed_point() -> None:
    """z = ReLU(Wz + Ux + b) with W = I - αH and Ux + b = -α(Bu + b), for several α."""
    n, m = 20, 5
    H = monotone_H(n, 7, skew=1.0, scale=1e-3)
    g = torch.Generator().manual_seed(9)
    B = 1e-3 * torch.randn(n, m, generator=g, dtype=DT)
    b = 1e-3 * torch.randn(n, generator=g, dtype=DT)
    k = Kernel(H, B, torch.eye(n, dtype=DT), torch.zeros(n, m, dtype=DT), b=b)
    u = inputs(32, m, 9)
    z = k.solve(u, "active_set", tol=1e-15).z
    eye = torch.eye(n, dtype=DT)
    assert int((z > 0).sum()) > 0 and int((z == 0).sum()) > 0  # both diode states occur
    for alpha in (1.0, 300.0, 1e4):
        W = eye - alpha * H
        U_x_plus_b = -alpha * (u @ B.T + b)
        fixed = torch.relu(z @ W.T + U_x_plus_b)
        assert float((fixed - z).abs().max()) <= 1e-10


def _pwl_elements(n: int) -> list[PiecewiseLinear]:
    # every kind of segment: ideal with offset, on-resistance, both, plain
    kinds = [(0.0, 0.0), (0.6, 0.0), (0.0, 0.5), (0.7, 2.0)]
    return [PiecewiseLinear(*kinds[i % len(kinds)]) for i in range(n)]


@FEW
@given(kind=st.sampled_from(["resistors", "gyrators"]), n=st.integers(2, 20),
       seed=st.integers(0, 10_000))
def test_pwl_active_set_agrees_with_pr(kind: str, n: int, seed: int) -> None:
    H = resistor_H(n, seed, scale=1.0) if kind == "resistors" else monotone_H(n, seed)
    k = kernel(H, 3, seed, _pwl_elements(n))
    u = 2.0 * inputs(16, 3, seed)
    act = k.solve(u, "active_set", tol=1e-13)
    pr = k.solve(u, "pr", tol=5e-13)  # PR's round-off floor is ~1e-13 A on some draws
    assert float(act.residual.max()) <= 1e-12
    assert float((act.z - pr.z).abs().max()) <= 1e-9


def test_pwl_active_set_matches_brute_force_segments() -> None:
    """Enumerate every element's segment; the consistent assignment is the truth."""
    n = 5
    elements = _pwl_elements(n)
    k = kernel(monotone_H(n, 11), 3, 11, elements)
    u = 2.0 * inputs(6, 3, 11)
    z = k.solve(u, "active_set", tol=1e-13).z
    q = k.rhs(u)
    hits = 0
    for i in range(u.shape[0]):
        for on in itertools.product((False, True), repeat=n):
            # F(z) = min(0, z + vf)/ron, or the normal cone of [-vf, ∞) when ron = 0.
            # conducting: ron>0 → w + (z+vf)/ron = 0 with z <= -vf;
            #             ron=0 → z = -vf with w >= 0 (w ∈ -N(-vf) = [0, ∞))
            # blocking (z >= -vf): w = 0
            M = k.H.clone()
            r = -q[i].clone()
            for j, (e, c) in enumerate(zip(elements, on)):
                if c and e.ron == 0:
                    M[j] = 0.0
                    M[j, j] = 1.0
                    r[j] = -e.vf
                elif c:
                    M[j, j] += 1.0 / e.ron
                    r[j] -= e.vf / e.ron
            cand = torch.linalg.solve(M, r)
            w = k.H @ cand + q[i]
            ok = True
            for j, (e, c) in enumerate(zip(elements, on)):
                if c and e.ron == 0:
                    ok &= bool(w[j] >= -1e-12)  # the diode carries forward current
                elif c:
                    ok &= bool(cand[j] <= -e.vf + 1e-12)
                else:
                    ok &= bool(cand[j] >= -e.vf - 1e-12) and bool(abs(w[j]) <= 1e-9)
            if ok:
                assert torch.allclose(z[i], cand, rtol=0, atol=1e-10)
                hits += 1
                break
    assert hits == u.shape[0]


@pytest.mark.parametrize("kind", ["resistors", "gyrators"])
def test_transpose_matches_finite_differences(kind: str) -> None:
    """(∂z/∂q)ᵀ v against central differences of the solution in q (B = I, so q = u)."""
    n = 8
    H = resistor_H(n, 5, scale=1.0) if kind == "resistors" else monotone_H(n, 5, skew=1.0)
    k = Kernel(H, torch.eye(n, dtype=DT), torch.eye(n, dtype=DT), torch.zeros(n, n, dtype=DT))
    u = inputs(3, n, 5)
    solver = get_solver("active_set", k, tol=1e-14)
    state = solver.init(k)
    z, _ = solver.compute(state, k, u)
    v = inputs(3, n, 6)
    eps = 1e-6
    jac = torch.zeros(3, n, n, dtype=DT)  # jac[b, i, j] = ∂z_i/∂q_j
    for j in range(n):
        du = torch.zeros(n, dtype=DT)
        du[j] = eps
        zp, _ = solver.compute(state, k, u + du)
        zm, _ = solver.compute(state, k, u - du)
        jac[:, :, j] = (zp - zm) / (2 * eps)
    expected = torch.einsum("bij,bi->bj", jac, v)
    assert int((z == 0).sum()) > 0  # some diodes block, so the free set matters
    for given_u in (u, None):
        got = solver.transpose(state, k, z, v, u=given_u)
        assert float((got - expected).abs().max()) <= 1e-7 * float(expected.abs().max())


def test_pwl_transpose_matches_finite_differences() -> None:
    n = 8
    elements = _pwl_elements(n)
    k = Kernel(monotone_H(n, 3), torch.eye(n, dtype=DT), torch.eye(n, dtype=DT),
               torch.zeros(n, n, dtype=DT), elements)
    u = 2.0 * inputs(2, n, 3)
    solver = get_solver("auto", k, tol=1e-14)
    state = solver.init(k)
    z, _ = solver.compute(state, k, u)
    v = inputs(2, n, 4)
    eps = 1e-6
    jac = torch.zeros(2, n, n, dtype=DT)
    for j in range(n):
        du = torch.zeros(n, dtype=DT)
        du[j] = eps
        jac[:, :, j] = (solver.compute(state, k, u + du)[0] - solver.compute(state, k, u - du)[0])
        jac[:, :, j] /= 2 * eps
    expected = torch.einsum("bij,bi->bj", jac, v)
    got = solver.transpose(state, k, z, v, u=u)
    assert float((got - expected).abs().max()) <= 1e-7 * float(expected.abs().max())


def test_batch_rows_are_independent() -> None:
    # solving a batch equals solving each sample alone (no cross-talk in the masked solves)
    k = kernel(monotone_H(15, 21, skew=1.0), 4, 21)
    u = inputs(12, 4, 21)
    together = k.solve(u, "active_set", tol=1e-13).z
    alone = torch.cat([k.solve(u[i:i + 1], "active_set", tol=1e-13).z for i in range(12)])
    assert float((together - alone).abs().max()) <= 1e-12


def test_methods_listed() -> None:
    assert set(METHODS) == {"auto", "pr", "fb", "pgs", "active_set", "newton"}
    assert isinstance(get_solver("active_set", kernel(resistor_H(3, 0), 1, 0)), ActiveSet)


def test_lanczos_extremes_match_eigvalsh() -> None:
    from diodenet.solvers.peaceman_rachford import lanczos_extremes

    H = resistor_H(300, 12)  # above 256 rows: Lanczos itself
    ev = torch.linalg.eigvalsh(H)
    lo, hi = lanczos_extremes(H, steps=300)  # full Krylov space: exact
    assert abs(lo - float(ev[0])) <= 1e-9 * float(ev[-1])
    assert abs(hi - float(ev[-1])) <= 1e-9 * float(ev[-1])
    lo, hi = lanczos_extremes(H, steps=8)  # Ritz values stay inside the spectrum
    assert float(ev[0]) - 1e-15 <= lo <= hi <= float(ev[-1]) + 1e-15
    small = resistor_H(40, 12)  # small blocks: the exact extremes whatever the steps
    ev = torch.linalg.eigvalsh(small)
    lo, hi = lanczos_extremes(small, steps=3)
    assert abs(lo - float(ev[0])) <= 1e-12 * float(ev[-1])
    assert abs(hi - float(ev[-1])) <= 1e-12 * float(ev[-1])


def test_pr_step_adaptation_keeps_the_answer() -> None:
    k = kernel(resistor_H(60, 13), 8, 13)
    u = inputs(32, 8, 13)
    fixed = k.solve(u, "pr", tol=1e-12, adapt=False)
    adapted = k.solve(u, "pr", tol=1e-12)
    assert float((fixed.z - adapted.z).abs().max()) <= 1e-9 * float(fixed.z.abs().max())
