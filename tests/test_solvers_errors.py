"""Clear errors: every failed precondition or failed solve says what went wrong."""

from __future__ import annotations

import pytest
import torch

from diodenet.kernels import ConvergenceError, Kernel
from diodenet.solvers import METHODS, get_solver
from test_solvers_kernels import DT, inputs, kernel, monotone_H, resistor_H


def _k() -> Kernel:
    return kernel(resistor_H(6, 0), 2, 0)


def test_non_monotone_H_is_rejected() -> None:
    H = -torch.eye(3, dtype=DT) + 0.1 * torch.ones(3, 3, dtype=DT)
    with pytest.raises(ValueError, match="not monotone"):
        Kernel(H, torch.ones(3, 1, dtype=DT), torch.ones(1, 3, dtype=DT), torch.zeros(1, 1))


@pytest.mark.parametrize("method", ["fb", "pr", "active_set", "auto"])
def test_wrong_input_shape(method: str) -> None:
    with pytest.raises(ValueError, match=r"u must have shape \(batch, m=2\)"):
        _k().solve(torch.zeros(4, 3, dtype=DT), method)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_and_inf_inputs(bad: float) -> None:
    u = inputs(4, 2, 0)
    u[1, 0] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        _k().solve(u)


def test_bad_warm_start() -> None:
    k = _k()
    u = inputs(4, 2, 0)
    with pytest.raises(ValueError, match=r"z0 must have shape \(batch=4, n=6\)"):
        k.solve(u, "pr", z0=torch.zeros(4, 5, dtype=DT))
    z0 = torch.zeros(4, 6, dtype=DT)
    z0[0, 0] = float("nan")
    with pytest.raises(ValueError, match="z0 contains NaN"):
        k.solve(u, "active_set", z0=z0)


@pytest.mark.parametrize("method", ["fb", "pr", "active_set"])
def test_non_convergence_raises_with_the_residual(method: str) -> None:
    k = kernel(monotone_H(30, 1, skew=2.0), 4, 1)
    u = inputs(8, 4, 1)
    options = {"warm_start": 0} if method == "active_set" else {}
    message = r"residual \d\.\d+e[-+]\d+ A > .* allowed \(relative residual .* > tol 1\.0e-14"
    with pytest.raises(ConvergenceError, match=message) as info:
        k.solve(u, method, tol=1e-14, max_iter=1, **options)
    eq = info.value.equilibrium
    assert not eq.all_converged
    assert float(eq.residual.max()) > 1e-14
    # the message's number is the worst residual of the equilibrium it carries
    assert f"{float(eq.residual.max()):.3e}" in str(info.value)


def test_non_convergence_flagged_when_not_raising() -> None:
    k = kernel(monotone_H(30, 1, skew=2.0), 4, 1)
    u = inputs(8, 4, 1)
    eq = k.solve(u, "pr", tol=1e-14, max_iter=2, raise_on_failure=False)
    assert not bool(eq.converged.any())
    assert bool((eq.residual > 1e-14).all())
    # the same solve given room converges, and the flags say so
    ok = k.solve(u, "pr", tol=1e-10, raise_on_failure=False)
    assert bool(ok.converged.all())


def test_newton_on_ideal_diodes_names_the_element() -> None:
    k = _k()
    with pytest.raises(ValueError, match=r"element 0 is not smooth: Ideal\(\) \(ideal diode\)"):
        k.solve(inputs(2, 2, 0), "newton")
    named = Kernel(k.H, k.B, k.C, k.D, element_names=[f"d{i}" for i in range(6)])
    with pytest.raises(ValueError, match=r"d0 is not smooth.*'active_set' or 'auto'"):
        named.solve(inputs(2, 2, 0), "newton")


def test_unknown_method_lists_the_methods() -> None:
    with pytest.raises(ValueError, match="unknown solver method 'lu'") as info:
        _k().solve(inputs(2, 2, 0), "lu")
    for name in METHODS:
        assert name in str(info.value)


def test_bad_options() -> None:
    k = _k()
    u = inputs(2, 2, 0)
    with pytest.raises(ValueError, match="alpha must be a finite step > 0"):
        k.solve(u, "pr", alpha=-1.0)
    with pytest.raises(ValueError, match="check_every must be an integer >= 1"):
        k.solve(u, "fb", check_every=0)
    with pytest.raises(ValueError, match="max_iter must be an integer >= 1"):
        k.solve(u, "pr", max_iter=0)
    with pytest.raises(ValueError, match="does not take these options"):
        k.solve(u, "fb", warm_start=3)
    with pytest.raises(ValueError, match="tol must be > 0"):
        get_solver("pr", k, tol=0.0)
    with pytest.raises(ValueError, match="tol and atol must be finite and >= 0"):
        get_solver("pr", k, tol=-1.0)


def test_transpose_shape_errors() -> None:
    k = _k()
    solver = get_solver("active_set", k)
    state = solver.init(k)
    z = torch.zeros(3, 6, dtype=DT)
    with pytest.raises(ValueError, match=r"z and v must both have shape \(batch, n=6\)"):
        solver.transpose(state, k, z, torch.zeros(3, 5, dtype=DT))


def test_kernels_own_their_data_and_check_their_settings() -> None:
    """From the solvers audit: a kernel built from numpy arrays shared their
    memory, so doubling H through the array left pgs answering the old kernel
    with converged=True; a PWL kernel's to_mondeq had another fixed point
    (residual 0.33 at the kernel's exact z); float32 kernels at the default
    tol 1e-10 refused their own exact answers; monotone_tol=nan switched the
    monotonicity check off; complex H lost its imaginary part."""
    import numpy as np
    import torch

    from diodenet.activations import PiecewiseLinear
    from diodenet.kernels import Kernel

    rng = np.random.default_rng(3)
    n = 6
    G = np.triu(rng.uniform(0, 1, (n, n)), 1)
    G = G + G.T
    H = -G
    np.fill_diagonal(H, G.sum(1) + 0.1)
    B = rng.standard_normal((n, 2))
    u = rng.standard_normal((8, 2))
    k = Kernel(H, B, np.ones((1, n)), np.zeros((1, 2)))
    before = k.solve(u, "pgs").z.clone()
    H *= 2.0  # the caller's array, edited after the kernel was made
    assert torch.equal(k.solve(u, "pgs").z, before)
    with pytest.raises(ValueError, match="to_mondeq needs ideal diodes"):
        Kernel(H, B, np.ones((1, n)), np.zeros((1, 2)), [PiecewiseLinear(0.3, 0.1)] * n).to_mondeq()
    with pytest.raises(ValueError, match="alpha must be a finite step"):
        k.to_mondeq(alpha=float("inf"))
    k32 = Kernel(H, B, np.ones((1, n)), np.zeros((1, 2)), dtype=torch.float32)
    assert k32.solve(u, "active_set").all_converged
    for bad in (float("nan"), -1.0):
        with pytest.raises(ValueError, match="monotone_tol must be >= 0"):
            Kernel(H, B, np.ones((1, n)), np.zeros((1, 2)), monotone_tol=bad)
    with pytest.raises(ValueError, match="H must be real"):
        Kernel(np.array([[1 + 5j]]), [[1.0]], [[1.0]], [[0.0]])


def test_singular_systems_and_missing_arrays_are_named() -> None:
    """A kernel with no equilibrium (a diode with no conductance pulled
    negative), a lossless gyrator pair, H = 0 under fb and None arrays ended in
    torch's or numpy's errors, a ZeroDivisionError or a TypeError."""
    import numpy as np

    from diodenet.kernels import SingularSystemError

    k = Kernel([[1.0, 0.0], [0.0, 0.0]], [[1.0], [1.0]], np.ones((1, 2)), np.zeros((1, 1)))
    for method in ("active_set", "auto"):
        with pytest.raises(SingularSystemError, match=r"met a singular system .* need not exist"):
            k.solve([[-1.0]], method)
    g = Kernel([[0.0, 1.0], [-1.0, 0.0]], [[1.0], [-1.0]], np.ones((1, 2)), np.zeros((1, 1)))
    with pytest.raises(SingularSystemError):
        g.solve([[-1.0]], "active_set")
    with pytest.raises(ValueError, match="forward-backward has no step"):
        Kernel([[0.0]], [[1.0]], [[1.0]], [[0.0]]).solve([[1.0]], "fb")
    with pytest.raises(ValueError, match="H is required, got None"):
        Kernel(None, [[1.0]], [[1.0]], [[0.0]])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="u must be an array of real numbers"):
        Kernel([[1.0]], [[1.0]], [[1.0]], [[0.0]]).solve(None)  # type: ignore[arg-type]


def test_a_cached_solver_instance_takes_no_options() -> None:
    """CachedSolver(instance, tol=...) ran the instance's own tol silently."""
    from diodenet.solvers import CachedSolver

    with pytest.raises(ValueError, match="options tol belong to the solver instance"):
        CachedSolver(get_solver("pr", _k()), tol=1e-3)
