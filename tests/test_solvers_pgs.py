"""Projected Gauss–Seidel and the CPU factorisation routes against independent truths.

Truths: brute-force enumeration of the LCP's conducting sets (and of PWL segments), the
batched padded factorisation the GPU route uses, and the compiled loops against the plain
numpy loops.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from diodenet.activations import PiecewiseLinear, Shockley
from diodenet.kernels import Kernel
from diodenet.solvers import get_solver
from diodenet.solvers._factor import factor_free_sets, layout_of, solve_switched
from diodenet.solvers._reduced import solve_reduced
from test_solvers_kernels import DT, inputs, kernel, lcp_brute_force, monotone_H, resistor_H


@pytest.mark.parametrize("method", ["auto", "pgs", "pr", "fb", "active_set"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_method_equals_brute_force_lcp(method: str, seed: int) -> None:
    n = 3 + 2 * seed
    k = kernel(resistor_H(n, seed), 3, seed)
    u = inputs(6, 3, seed)
    eq = k.solve(u, method, tol=1e-13)
    q = k.rhs(u)
    for i in range(u.shape[0]):
        truth = lcp_brute_force(k.H, q[i])
        assert float((eq.z[i] - truth).abs().max()) <= 1e-9
    if method == "active_set":
        scale = k.residual_scale(eq.z, q)
        assert bool((eq.residual <= 1e-12 * scale).all())  # exact: round-off


def _pwl(n: int) -> list[PiecewiseLinear]:
    kinds = [(0.0, 0.0), (0.6, 0.0), (0.0, 0.5), (0.7, 2.0)]
    return [PiecewiseLinear(*kinds[i % 4]) for i in range(n)]


def test_pgs_on_pwl_diodes_equals_the_exact_active_set() -> None:
    n = 16
    k = kernel(resistor_H(n, 4, scale=1.0), 3, 4, _pwl(n))
    u = 2.0 * inputs(20, 3, 4)
    exact = k.solve(u, "active_set")
    pgs = k.solve(u, "pgs", tol=1e-13)
    assert float((pgs.z - exact.z).abs().max()) <= 1e-9
    assert pgs.method == "pgs"


def test_pgs_preconditions_are_named() -> None:
    gyr = kernel(monotone_H(6, 1, skew=1.0), 2, 1)
    with pytest.raises(ValueError, match="pgs needs a reciprocal network"):
        gyr.solve(inputs(2, 2, 0), "pgs")
    smooth = kernel(resistor_H(4, 1), 2, 1, [Shockley(1e-14, 0.02585)] * 4)
    with pytest.raises(ValueError, match=r"pgs needs ideal or PWL diodes, but element 0"):
        smooth.solve(inputs(2, 2, 0), "pgs")


def test_pgs_non_convergence_is_reported() -> None:
    k = kernel(resistor_H(40, 2), 4, 2)
    eq = k.solve(inputs(8, 4, 2), "pgs", tol=1e-14, max_iter=2, raise_on_failure=False)
    assert not eq.all_converged and eq.iterations == 2


def test_numpy_fallback_gives_the_compiled_answer() -> None:
    """The same sweeps without numba (a fresh interpreter with DIODENET_NO_NUMBA)."""
    code = (
        "import sys, torch; sys.path.insert(0, 'tests');"
        "from test_solvers_kernels import kernel, resistor_H, inputs;"
        "from diodenet.solvers import _sweeps; assert not _sweeps.HAVE_NUMBA;"
        "k = kernel(resistor_H(30, 7), 4, 7); u = inputs(9, 4, 7);"
        "eq = k.solve(u, 'pgs', tol=1e-12); torch.save(eq.z, sys.argv[1])"
    )
    out = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"pgs_fallback_{os.getpid()}.pt")
    env = dict(os.environ, DIODENET_NO_NUMBA="1")
    subprocess.run([sys.executable, "-c", code, out], check=True, env=env)
    z_plain = torch.load(out)
    os.remove(out)
    k = kernel(resistor_H(30, 7), 4, 7)
    z = k.solve(inputs(9, 4, 7), "pgs", tol=1e-12).z
    assert float((z - z_plain).abs().max()) <= 1e-12


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("symmetric", [True, False])
def test_free_set_factorisations_equal_the_padded_batched_solve(sparse: bool,
                                                                symmetric: bool) -> None:
    n = 400 if sparse else 40
    if symmetric:
        H = resistor_H(n, 3)
        if sparse:  # keep ~3 neighbours per node so the sparse route is the one taken
            g = torch.Generator().manual_seed(3)
            keep = torch.rand(n, n, generator=g) < 0.75 / n
            keep = keep | keep.T | torch.eye(n, dtype=torch.bool)
            off = torch.where(keep, H, 0.0) - torch.diag(H.diagonal())
            H = torch.diag(-off.sum(1) + 1e-4) + off
    else:
        H = monotone_H(n, 3, skew=1.0)
    k = Kernel(H, torch.eye(n, dtype=DT), torch.eye(n, dtype=DT), torch.zeros(n, n, dtype=DT))
    g = torch.Generator().manual_seed(5)
    free = torch.rand(6, n, generator=g) < 0.7
    cond = torch.rand(6, n, generator=g, dtype=DT) * free
    rhs = torch.randn(6, n, generator=g, dtype=DT)
    layout = layout_of(k)
    factors = factor_free_sets(layout, free.numpy(), cond.numpy())
    sparse_used = factors.sparse_used
    for transpose in (False, True):
        x = factors.solve(rhs.numpy(), transpose=transpose)
        A = k.H.T if transpose else k.H
        truth = solve_reduced(A, free, cond, rhs, symmetric=symmetric)
        assert float((torch.from_numpy(x) - truth).abs().max()) <= 1e-9 * float(truth.abs().max())
        assert (sparse_used > 0) == (sparse and symmetric)


def test_exact_solve_uses_the_sparse_route_and_stays_exact() -> None:
    n = 600
    g = torch.Generator().manual_seed(11)
    G = torch.zeros(n, n, dtype=DT)
    rows = torch.randint(0, n, (3 * n // 2,), generator=g)
    cols = torch.randint(0, n, (3 * n // 2,), generator=g)
    G[rows, cols] = 1e-3 * (0.1 + torch.rand(3 * n // 2, generator=g, dtype=DT))
    G = torch.triu(G, 1)
    G = G + G.T
    H = torch.diag(G.sum(1) + 1e-5) - G
    k = kernel(H, 6, 11)
    u = inputs(4, 6, 11)
    solver = get_solver("active_set", k)
    state = solver.init(k)
    eq = k.solve(u, solver=solver, state=state)
    assert state.memory["sparse_factorisations"] > 0
    assert k.density() < 0.01
    scale = k.residual_scale(eq.z, k.rhs(u))
    assert bool((eq.residual <= 1e-12 * scale).all())
    # an independent method on the same kernel: coordinate descent to a tight tolerance
    pgs = k.solve(u, "pgs", tol=1e-13, max_iter=200000)
    assert float((eq.z - pgs.z).abs().max()) <= 1e-8 * float(eq.z.abs().max())


def test_pgs_answer_is_a_stationary_point_of_the_coordinate_map() -> None:
    # independent check of the sweep formula: z_k = max(0, z_k - w_k / H_kk) at the answer
    k = kernel(resistor_H(12, 8), 3, 8)
    u = inputs(5, 3, 8)
    z = k.solve(u, "pgs", tol=1e-14).z
    w = z @ k.H.T + k.rhs(u)
    fixed = torch.clamp_min(z - w / k.H.diagonal(), 0.0)
    assert float((fixed - z).abs().max()) <= 1e-9
    assert np.isfinite(z.numpy()).all()


def test_pgs_transpose_equals_active_set_transpose() -> None:
    k = kernel(resistor_H(10, 9), 3, 9)
    u = inputs(4, 3, 9)
    a, p = get_solver("active_set", k), get_solver("pgs", k, tol=1e-14)
    sa, sp = a.init(k), p.init(k)
    z = k.solve(u, solver=a, state=sa).z
    v = inputs(4, 10, 1)
    assert torch.allclose(a.transpose(sa, k, z, v, u), p.transpose(sp, k, z, v, u))


def test_auto_picks_by_density_and_symmetry_and_says_so() -> None:
    # sparse reciprocal: Gauss–Seidel sweeps; dense: PR; gyrators: PR (PGS does not apply)
    n = 300
    g = torch.Generator().manual_seed(2)
    rows = torch.randint(0, n, (2 * n,), generator=g)
    cols = torch.randint(0, n, (2 * n,), generator=g)
    G = torch.zeros(n, n, dtype=DT)
    G[rows, cols] = 1e-3 * (0.1 + torch.rand(2 * n, generator=g, dtype=DT))
    G = torch.triu(G, 1)
    G = G + G.T
    sparse = kernel(torch.diag(G.sum(1) + 1e-4) - G, 4, 2)
    u = inputs(8, 4, 2)
    cases = ((sparse, "pgs"), (kernel(resistor_H(60, 2), 4, 2), "pr"),
             (kernel(monotone_H(60, 2, skew=1.0), 4, 2), "pr"))
    for k, first in cases:
        eq = k.solve(u, "auto", tol=1e-9)
        assert eq.method.split("+")[0] == first
        exact = k.solve(u, "active_set")
        assert float((eq.z - exact.z).abs().max()) <= 1e-6 * float(exact.z.abs().max())


@pytest.mark.parametrize("kind", ["symmetric", "nonsymmetric", "sparse"])
def test_per_sample_factors_are_kept_for_the_adjoint_at_the_same_point(kind: str) -> None:
    # above SMALL elements without a low-rank form each sample is factored on its
    # own (LAPACK or SuperLU); the factors of one solve serve the transposed solve
    # at the same (free, g), and only there. Every answer against per-sample
    # dense solves.
    n = 400 if kind == "sparse" else 60
    if kind == "nonsymmetric":
        H = monotone_H(n, 7, skew=1.0)
    else:
        H = resistor_H(n, 7)
        if kind == "sparse":
            g = torch.Generator().manual_seed(7)
            keep = torch.rand(n, n, generator=g) < 0.75 / n
            keep = keep | keep.T | torch.eye(n, dtype=torch.bool)
            off = torch.where(keep, H, 0.0) - torch.diag(H.diagonal())
            H = torch.diag(-off.sum(1) + 1e-4) + off
    k = Kernel(H, torch.eye(n, dtype=DT), torch.eye(n, dtype=DT), torch.zeros(n, n, dtype=DT))
    assert k.low_rank() is None
    gen = torch.Generator().manual_seed(8)
    free = torch.rand(5, n, generator=gen) < 0.7
    g = torch.rand(5, n, generator=gen, dtype=DT) * free
    rhs = torch.randn(5, n, generator=gen, dtype=DT)
    memory: dict = {}

    def check(g: torch.Tensor, transpose: bool) -> None:
        x = solve_switched(k, free, g, rhs, transpose=transpose, memory=memory)
        A = k.H.T if transpose else k.H
        for b in range(free.shape[0]):
            F = torch.nonzero(free[b]).squeeze(1)
            M = A[F][:, F] + torch.diag(g[b, F])
            truth = torch.linalg.solve(M, rhs[b, F])
            assert float((x[b, F] - truth).abs().max()) <= 1e-9 * float(truth.abs().max())
            assert bool((x[b][~free[b]] == 0).all())

    check(g, False)
    kept = k.__dict__["_switched_factors"]["per_sample"][3]
    sparse_after_first = memory.get("sparse_factorisations", 0)
    assert (sparse_after_first > 0) == (kind == "sparse")
    check(g, True)
    assert k.__dict__["_switched_factors"]["per_sample"][3] is kept  # reused, transposed
    assert memory.get("sparse_factorisations", 0) == sparse_after_first
    g2 = g.clone()
    g2[0, torch.nonzero(free[0])[0, 0]] += 0.5
    check(g2, True)  # another g: factored anew
    assert k.__dict__["_switched_factors"]["per_sample"][3] is not kept


def test_an_exactly_singular_free_block_raises_as_numpy_would() -> None:
    # the built-in simulator falls back to its nodal route on LinAlgError; the
    # per-sample LU must refuse a singular block instead of returning inf
    n = 50
    H = torch.eye(n, dtype=DT)
    H[3, 3] = H[10, 10] = 0.0  # H[{3, 10}, {3, 10}] = 0: monotone, singular
    H[5, 7], H[7, 5] = 2.0, -2.0  # a skew pair: not symmetric, so LU rather than Cholesky
    k = Kernel(H, torch.eye(n, dtype=DT), torch.eye(n, dtype=DT), torch.zeros(n, n, dtype=DT))
    free = torch.zeros(1, n, dtype=torch.bool)
    free[0, [3, 10]] = True
    with pytest.raises(np.linalg.LinAlgError):
        solve_switched(k, free, torch.zeros(1, n, dtype=DT), torch.ones(1, n, dtype=DT))
