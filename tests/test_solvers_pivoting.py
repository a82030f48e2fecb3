"""The active set on ideal diodes whose kernel is not an M-matrix.

Plain active-set steps can cycle there; these circuits and kernels made them
cycle (reported as not converged after about 900 steps), and the answers are
checked against independent solvers: Lawson–Hanson NNLS (scipy) for
symmetric kernels, enumeration of every active set for the others.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import nnls

from diodenet.circuits import Circuit
from diodenet.kernels import Kernel
from diodenet.kernels.extract import extract_kernel
from diodenet.solvers._lemke import lemke_free_set
from test_solvers_kernels import lcp_brute_force


def wide_network(seed: int, nodes: int = 30, resistors: int = 60, diodes: int = 20,
                 sources: int = 4) -> Circuit:
    """Ideal diodes between random nodes of a resistor network whose
    resistances spread log-uniformly over 1 Ω .. 1 MΩ."""
    rng = np.random.default_rng(seed)
    names = [f"n{k}" for k in range(nodes)]
    c = Circuit()
    for k in range(sources):
        c.add_voltage_source(f"v{k}", names[k], "0")
    r = 0
    for k in range(nodes):  # a spanning tree to ground
        other = "0" if k == 0 else (["0", *names[:k]])[rng.integers(0, k + 1)]
        c.add_resistor(f"r{r}", names[k], other, resistance=10 ** rng.uniform(0, 6))
        r += 1
    while r < resistors:
        a, b = rng.choice(nodes, 2, replace=False)
        c.add_resistor(f"r{r}", names[a], names[b], resistance=10 ** rng.uniform(0, 6))
        r += 1
    driven = set(range(sources)) | {nodes}
    for k in range(diodes):
        a, b = rng.choice(nodes + 1, 2, replace=False)
        while a in driven and b in driven:
            a, b = rng.choice(nodes + 1, 2, replace=False)
        c.add_diode(f"d{k}", names[a] if a < nodes else "0", names[b] if b < nodes else "0")
    return c


@pytest.mark.parametrize("seed", [62, 197])
def test_wide_resistance_spread_solves_exactly(seed: int) -> None:
    c = wide_network(seed)
    kernel = extract_kernel(c, [f"v{k}" for k in range(4)], ["n29"])
    facts = kernel.entry_facts()
    assert facts["symmetric"] and not facts["off_nonpositive"]  # not an M-matrix
    assert float(kernel.margin) > 1e-7 * kernel.max_abs()  # one answer
    u = np.random.default_rng(seed).uniform(-2, 2, (64, 4))
    eq = kernel.solve(u, method="active_set", raise_on_failure=False)
    assert bool(eq.converged.all()), eq.residual.max()
    # the truth: min ½zᵀHz + qᵀz over z >= 0, as least squares ‖Lᵀz + L⁻¹q‖ (H = LLᵀ)
    H = kernel.H.numpy()
    L = np.linalg.cholesky(H)
    q = kernel.rhs(torch.as_tensor(u)).numpy()
    for b in range(len(u)):
        truth, _ = nnls(L.T, -np.linalg.solve(L, q[b]), maxiter=1000)
        np.testing.assert_allclose(eq.z[b].numpy(), truth, rtol=0, atol=1e-7)


@pytest.mark.parametrize("seed", [1, 3, 5])
def test_gyrators_and_a_wide_spectrum_solve_exactly(seed: int) -> None:
    # sym(H) with eigenvalues 1e-6 .. 1 S plus a skew (gyrator) part: a P-matrix
    n = 8
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    A = 0.3 * rng.normal(size=(n, n))
    H = Q @ np.diag(10 ** rng.uniform(-6, 0, n)) @ Q.T + (A - A.T)
    B = rng.normal(size=(n, 3))
    kernel = Kernel(H, B, np.zeros((1, n)), np.zeros((1, 3)))
    u = rng.normal(size=(32, 3))
    eq = kernel.solve(u, method="active_set", raise_on_failure=False)
    assert bool(eq.converged.all()), eq.residual.max()
    q = torch.as_tensor(u @ B.T)
    for b in range(len(u)):
        np.testing.assert_allclose(eq.z[b].numpy(),
                                   lcp_brute_force(torch.as_tensor(H), q[b]).numpy(),
                                   rtol=1e-7, atol=1e-9)


def skewed_p_matrix(rng: np.random.Generator, n: int, skew: float) -> np.ndarray:
    """``sym(H)`` with eigenvalues 1e-6 .. 1 S plus a skew (gyrator) part of
    entries ~``skew``: a P-matrix, so one equilibrium for every drive."""
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    A = skew * rng.normal(size=(n, n))
    return Q @ np.diag(10 ** rng.uniform(-6, 0, n)) @ Q.T + (A - A.T)


@pytest.mark.parametrize(("n", "skew"), [(20, 1.0), (20, 10.0), (40, 10.0)])
def test_strongly_skewed_kernels_solve_exactly(n: int, skew: float) -> None:
    # the least-index principal pivots alone need hundreds of steps here (6 of
    # 128 samples converged within the default bound at n = 20, skew 10)
    rng = np.random.default_rng(n)
    H = skewed_p_matrix(rng, n, skew)
    B = rng.normal(size=(n, 3))
    kernel = Kernel(H, B, np.zeros((1, n)), np.zeros((1, 3)))
    u = rng.normal(size=(16, 3))
    for method in ("active_set", "auto"):
        eq = kernel.solve(u, method=method, raise_on_failure=False)
        assert bool(eq.converged.all()), (method, eq.residual.max())
        # the truth, in extended precision: on a P-matrix the one z with z >= 0,
        # w = Hz + q >= 0 and z_k w_k = 0 for every k
        z = eq.z.numpy().astype(np.longdouble)
        w = H.astype(np.longdouble) @ z.T + (B.astype(np.longdouble) @ u.T)
        scale = np.abs(H).sum(1)[:, None] * np.abs(z).max(1)[None, :] + np.abs(B @ u.T)
        assert (z >= 0).all()
        assert (w >= -1e-9 * scale).all()
        assert (np.minimum(z.T, np.abs(w)) <= 1e-9 * scale).all()


@pytest.mark.parametrize("seed", range(6))
def test_lemke_finds_the_equilibrium_pieces(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 8
    H = skewed_p_matrix(rng, n, 3.0)
    q = rng.normal(size=n)
    q[rng.choice(n, 3, replace=False)] = 0.0  # undriven elements: ties in the ratio test
    free = lemke_free_set(H, q)
    assert free is not None
    truth = lcp_brute_force(torch.as_tensor(H), torch.as_tensor(q)).numpy()
    # the truth's conducting elements are free; a free one may sit at 0 (degenerate)
    assert free[truth > 1e-9].all()
    z = np.zeros(n)
    z[free] = np.linalg.solve(H[np.ix_(free, free)], -q[free])
    np.testing.assert_allclose(z, truth, rtol=1e-7, atol=1e-9)


def test_lemke_ends_on_a_ray_where_there_is_no_equilibrium() -> None:
    # w = -z + q with q < 0: z >= 0 and w >= 0 would need z <= q < 0
    assert lemke_free_set(-np.eye(2), np.array([-1.0, -1.0])) is None
    assert not lemke_free_set(np.eye(2), np.array([1.0, 2.0])).any()  # nothing conducts
