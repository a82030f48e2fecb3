"""Newton on Shockley kernels, and mixed kernels; truths from scipy and closed forms."""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import brentq, root

from diodenet.activations import Ideal, PiecewiseLinear, Shockley
from diodenet.kernels import Kernel
from diodenet.solvers import get_solver, resolve_method
from test_solvers_kernels import DT, inputs, kernel, monotone_H, resistor_H

IS, NVT = 1e-14, 0.025864186384551078


def _shockley_F(z: np.ndarray) -> np.ndarray:
    # F(z) = Is (1 - exp(-z/nVt)), z the reverse voltage (admittance form)
    return -IS * np.expm1(-z / NVT)


def _shockley_kernel(n: int, seed: int, *, skew: bool = False) -> Kernel:
    H = monotone_H(n, seed, skew=0.5, scale=1e-3) if skew else resistor_H(n, seed)
    # 1 kΩ-ish network, inputs of a few mA: a mix of forward and reverse junctions
    return kernel(H, 3, seed, [Shockley(IS, NVT) for _ in range(n)], b_scale=3e-3)


def test_one_diode_matches_scalar_root() -> None:
    h = 1e-3  # 1 kΩ to the source
    k = Kernel([[h]], [[1.0]], [[1.0]], [[0.0]], [Shockley(IS, NVT)])
    q = np.array([-5e-3, -1e-6, 0.0, 1e-9, 1e-4, 2e-3, 1e-2])
    eq = k.solve(torch.tensor(q[:, None]), "newton", tol=1e-14)  # relative: ~1e-16 A here
    for qi, zi in zip(q, eq.z[:, 0].tolist()):
        truth = brentq(lambda z, qi=qi: h * z + _shockley_F(z) + qi, -3.0, 10.0,
                       xtol=1e-15, rtol=1e-15)
        assert abs(zi - truth) <= 1e-12
    # forward-biased at 10 mA: about 0.6 V across the junction
    assert -0.75 < float(eq.z[-1, 0]) < -0.5


def test_newton_matches_scipy_root() -> None:
    k = _shockley_kernel(5, 3)
    u = inputs(4, 3, 3)
    z = k.solve(u, "newton", tol=1e-14).z
    H = k.H.numpy()
    q = k.rhs(u).numpy()
    rng = np.random.default_rng(0)
    for i in range(4):
        def kcl(x: np.ndarray, i: int = i) -> np.ndarray:
            return H @ x + _shockley_F(x) + q[i]

        # hybr cannot cross the exponential from far away, so start it 50 mV off;
        # the system is strictly monotone, so its root is unique wherever it is found
        x0 = z[i].numpy() + 0.05 * rng.standard_normal(5)
        assert np.abs(kcl(z[i].numpy())).max() <= 1e-14  # KCL, evaluated in numpy
        sol = root(kcl, x0, jac=lambda x: H + np.diag(IS / NVT * np.exp(-x / NVT)),
                   method="hybr", tol=1e-14)
        # hybr may stop with "not making good progress" at round-off: judge its KCL error
        assert np.abs(kcl(sol.x)).max() <= 1e-15
        assert np.abs(z[i].numpy() - sol.x).max() <= 1e-9


def test_newton_agrees_with_pr_and_fb() -> None:
    for skew, seed in ((False, 1), (True, 2)):
        k = _shockley_kernel(8, seed, skew=skew)
        u = inputs(8, 3, seed)
        newton = k.solve(u, "newton", tol=1e-14)
        assert float(newton.residual.max()) <= 1e-14
        assert resolve_method("auto", k) == "newton"
        # the residual is KCL in amperes; through ‖H⁻¹‖ ~ 1 kΩ it bounds z to ~1e-10 V
        pr = k.solve(u, "pr", tol=1e-13)
        assert float((pr.z - newton.z).abs().max()) <= 1e-9
        fb = k.solve(u, "fb", tol=1e-13)
        assert float((fb.z - newton.z).abs().max()) <= 1e-9
        # both junction states occur
        assert bool((newton.z < -0.3).any()) and bool((newton.z > 0.3).any())


def test_newton_survives_large_drives_from_zero() -> None:
    # 100 mA into a 1 kΩ network would put 100 V on an unlimited junction guess
    k = _shockley_kernel(6, 4)
    u = 30.0 * inputs(16, 3, 4)
    eq = k.solve(u, "newton", tol=1e-12)
    assert bool(torch.isfinite(eq.z).all())
    assert float(eq.residual.max()) <= 1e-12


def test_newton_transpose_matches_finite_differences() -> None:
    n = 6
    H = resistor_H(n, 8)
    k = Kernel(H, torch.eye(n, dtype=DT), torch.eye(n, dtype=DT), torch.zeros(n, n, dtype=DT),
               [Shockley(IS, NVT) for _ in range(n)])
    u = 3e-3 * inputs(2, n, 8)
    solver = get_solver("newton", k, tol=1e-16)
    state = solver.init(k)
    z, _ = solver.compute(state, k, u)
    v = inputs(2, n, 9)
    eps = 1e-9  # amperes
    jac = torch.zeros(2, n, n, dtype=DT)
    for j in range(n):
        du = torch.zeros(n, dtype=DT)
        du[j] = eps
        jac[:, :, j] = (solver.compute(state, k, u + du)[0] - solver.compute(state, k, u - du)[0])
        jac[:, :, j] /= 2 * eps
    expected = torch.einsum("bij,bi->bj", jac, v)
    got = solver.transpose(state, k, z, v)
    assert float((got - expected).abs().max()) <= 1e-5 * float(expected.abs().max())
    # the generic (resolvent-derivative) adjoint of PR gives the same map
    pr = get_solver("pr", k)
    got_pr = pr.transpose(pr.init(k), k, z, v, u=u)
    assert float((got_pr - got).abs().max()) <= 1e-6 * float(got.abs().max())


def test_mixed_kernel_auto_agrees_with_pr() -> None:
    n = 9
    kinds = [Shockley(IS, NVT), Ideal(), PiecewiseLinear(0.6, 100.0)]
    elements = [kinds[i % 3] for i in range(n)]
    k = kernel(resistor_H(n, 6), 3, 6, elements, b_scale=3e-3)
    assert not k.smooth and not k.piecewise_linear
    assert resolve_method("auto", k) == "active_set"
    u = inputs(8, 3, 6)
    auto = k.solve(u, "auto", tol=1e-14)
    pr = k.solve(u, "pr", tol=1e-14)
    assert float((auto.z - pr.z).abs().max()) <= 1e-9
