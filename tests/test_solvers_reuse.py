"""Solver state reuse, stale-state refusal, and tolerances relative to the circuit's scale.

Truths: a fresh solve of the same kernel, the brute-force LCP, and the same circuit with
every conductance scaled (voltages unchanged, currents scaled alike).
"""

from __future__ import annotations

import pytest
import torch

from diodenet.kernels import Kernel
from diodenet.solvers import CachedSolver, get_solver
from test_solvers_kernels import DT, inputs, kernel, lcp_brute_force, monotone_H, resistor_H


def test_state_reused_across_batches_equals_fresh_solves() -> None:
    k = kernel(resistor_H(30, 4), 5, 4)
    solver = get_solver("active_set", k)
    state = solver.init(k)
    for seed in range(3):
        u = inputs(16, 5, 10 + seed)
        reused = k.solve(u, solver=solver, state=state)
        fresh = k.solve(u, "active_set")
        assert float((reused.z - fresh.z).abs().max()) <= 1e-12
        assert reused.method == "active_set"
    # the instance may also come as the method
    assert k.solve(inputs(4, 5, 0), solver, state=state).all_converged


def test_stale_state_is_refused() -> None:
    k = kernel(resistor_H(12, 5), 3, 5)
    solver = get_solver("pr", k)
    state = solver.init(k)
    u = inputs(4, 3, 5)
    k.solve(u, solver=solver, state=state)
    # new conductances, new kernel: the old factorisation must not answer for it
    k2 = Kernel(2.0 * k.H, k.B, k.C, k.D)
    with pytest.raises(ValueError, match="does not match the kernel"):
        k2.solve(u, solver=solver, state=state)
    # the same conductances edited in place
    with torch.no_grad():
        k.H[0, 0] += 1e-4
    with pytest.raises(ValueError, match="does not match the kernel"):
        k.solve(u, solver=solver, state=state)
    with pytest.raises(ValueError, match="does not match the kernel"):
        solver.transpose(state, k, torch.zeros(4, 12, dtype=DT), torch.zeros(4, 12, dtype=DT))
    # a state from another solver
    other = get_solver("fb", k)
    with pytest.raises(ValueError, match="made by solver 'fb'"):
        k.solve(u, solver=solver, state=other.init(k))
    with pytest.raises(ValueError, match="belong to the solver instance"):
        k.solve(u, solver=solver, tol=1e-3)
    with pytest.raises(ValueError, match="needs the solver="):
        k.solve(u, state=state)


def test_cached_solver_reinitialises_only_when_the_kernel_changes() -> None:
    k = kernel(resistor_H(20, 6), 4, 6)
    cache = CachedSolver("active_set")
    u = inputs(8, 4, 6)
    for _ in range(3):
        cache.solve(k, u)
    assert cache.inits == 1
    k2 = Kernel(1.5 * k.H, k.B, k.C, k.D)
    eq = cache.solve(k2, u)
    assert cache.inits == 2
    q = k2.rhs(u)
    for i in range(2):
        # brute force on the small leading block is not possible; compare with a fresh solve
        assert torch.allclose(eq.z[i], k2.solve(u[i:i + 1], "active_set").z[0], atol=1e-12)
    assert q.shape == (8, 20)


def _scaled(k: Kernel, c: float) -> Kernel:
    return Kernel(c * k.H, c * k.B, k.C, k.D, k.elements, b=c * k.b)


@pytest.mark.parametrize("method", ["auto", "active_set", "pr", "fb"])
@pytest.mark.parametrize("c", [1e3, 1e-3])
def test_scaling_every_conductance_changes_no_answer_and_no_decision(
    method: str, c: float
) -> None:
    base = kernel(resistor_H(25, 8), 4, 8)
    u = inputs(12, 4, 8)
    for tol, max_iter in ((1e-10, None), (1e-13, 7)):  # one that converges, one that fails
        if method in ("auto", "active_set") and max_iter is not None:
            continue  # their decisions at a small max_iter are tested through pr/fb
        options = {} if max_iter is None else {"max_iter": max_iter}
        a = base.solve(u, method, tol=tol, raise_on_failure=False, **options)
        b = _scaled(base, c).solve(u, method, tol=tol, raise_on_failure=False, **options)
        assert torch.equal(a.converged, b.converged)
        assert a.iterations == b.iterations
        assert float((a.z - b.z).abs().max()) <= 1e-9 * float(a.z.abs().max())
        if max_iter is not None:
            # far from round-off, residuals are currents: they scale with the conductances
            assert not bool(a.converged.any())
            ratio = b.residual / a.residual
            assert torch.allclose(ratio, torch.full_like(ratio, c), rtol=1e-6)


def test_brute_force_agreement_survives_scaling() -> None:
    for c in (1e3, 1e-3):
        k = _scaled(kernel(resistor_H(6, 9), 3, 9), c)
        u = inputs(5, 3, 9)
        z = k.solve(u, "active_set").z
        q = k.rhs(u)
        for i in range(5):
            assert torch.allclose(z[i], lcp_brute_force(k.H, q[i]), rtol=0, atol=1e-10)


def test_large_high_current_kernel_solves_exactly() -> None:
    """n = 1568 diodes with ampere-scale currents (the size of a 1568-1024 deep resistive
    network's layer): an absolute 1e-12 A tolerance sits below its round-off, the
    relative one does not."""
    n = 1568
    g = torch.Generator().manual_seed(0)
    rows = torch.randint(0, n, (6 * n,), generator=g)
    cols = torch.randint(0, n, (6 * n,), generator=g)
    G = torch.zeros(n, n, dtype=DT)
    G[rows, cols] = 0.5 + torch.rand(6 * n, generator=g, dtype=DT)  # 0.5-1.5 S branches
    G = torch.triu(G, 1)
    G = G + G.T
    H = torch.diag(G.sum(1) + 0.1) - G
    k = kernel(H, 8, 0)
    u = inputs(2, 8, 0)
    eq = k.solve(u, "active_set", tol=1e-12)
    scale = k.residual_scale(eq.z, k.rhs(u))
    assert bool((eq.residual <= 1e-12 * scale).all())
    assert float(scale.min()) > 1.0  # amperes: a circuit where absolute 1e-12 A was round-off
    assert int((eq.z > 0).sum()) > 0 and int((eq.z == 0).sum()) > 0


def test_gyrator_kernel_state_reuse_and_transpose() -> None:
    k = kernel(monotone_H(10, 3, skew=1.0), 3, 3)
    solver = get_solver("active_set", k)
    state = solver.init(k)
    u = inputs(4, 3, 3)
    z = k.solve(u, solver=solver, state=state).z
    w = solver.transpose(state, k, z, torch.ones_like(z), u)
    assert w.shape == z.shape and bool(torch.isfinite(w).all())


@pytest.mark.parametrize("n", [30, 120])
def test_next_batch_starts_from_the_last_answer_and_stays_exact(n: int) -> None:
    k = kernel(resistor_H(n, 12), 4, 12)
    u = inputs(16, 4, 12)
    solver = get_solver("active_set", k)
    state = solver.init(k)
    first = k.solve(u, solver=solver, state=state)
    # the same inputs nudged by 1 % (as after a small re-programming): one exact step
    nudged = 1.01 * u
    again = k.solve(nudged, solver=solver, state=state)
    fresh = k.solve(nudged, "active_set")
    assert again.iterations <= 2 < first.iterations
    assert float((again.z - fresh.z).abs().max()) <= 1e-12 * float(fresh.z.abs().max())
    # unrelated inputs are not recalled: the answer is still the fresh one
    other = inputs(16, 4, 99)
    assert torch.allclose(k.solve(other, solver=solver, state=state).z,
                          k.solve(other, "active_set").z, atol=1e-12)


def test_state_refused_after_the_elements_change() -> None:
    from diodenet.activations import PiecewiseLinear

    k = kernel(resistor_H(5, 13), 2, 13)
    solver = get_solver("active_set", k)
    state = solver.init(k)
    k.elements = (*k.elements[:2], PiecewiseLinear(0.6, 0.0), *k.elements[3:])  # a diode swapped
    with pytest.raises(ValueError, match="does not match the kernel"):
        k.solve(inputs(2, 2, 13), solver=solver, state=state)


def test_kernel_without_elements_solves_twice_with_one_state() -> None:
    k = Kernel(torch.zeros(0, 0, dtype=DT), torch.zeros(0, 2, dtype=DT),
               torch.zeros(1, 0, dtype=DT), torch.ones(1, 2, dtype=DT))
    cache = CachedSolver("active_set")
    for _ in range(2):
        eq = cache.solve(k, inputs(3, 2, 0))
        assert eq.z.shape == (3, 0) and eq.all_converged


def test_builtin_hardware_and_simulator_factor_once_per_programmed_kernel() -> None:
    """The callers that solve one kernel again and again keep one solver state:
    one ``init`` for many batches, a new one only when the conductances change,
    and the answer after a change is that of hardware built fresh for them."""
    import numpy as np

    from diodenet.linearization import BuiltinHardware
    from diodenet.simulators.builtin import BuiltinSimulator
    from diodenet.training.architectures import build_network

    net = build_network(2, 2, 6, recurrent="dense", seed=3)
    hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
    rng = np.random.default_rng(0)
    batches = [net.encode(rng.normal(size=(16, 2))) for _ in range(3)]
    for u in batches:
        hw.settle(u)
    assert hw._solver.inits == 1
    g = hw.conductances() * rng.uniform(0.5, 1.5, hw.conductances().shape)
    hw.set_conductances(g)
    after = hw.settle(batches[0]).outputs
    assert hw._solver.inits == 2
    fresh = BuiltinHardware(net.circuit, net.inputs, net.outputs)
    fresh.set_conductances(g)
    expect = fresh.settle(batches[0]).outputs
    assert np.abs(after - expect).max() <= 1e-12 * np.abs(expect).max()

    sim = BuiltinSimulator(net.circuit)
    for u in batches:
        sim.solve(sim.input_matrix(u, net.inputs))
    assert sim._solver is not None and sim._solver.inits == 1


def test_rhs_is_recomputed_after_any_in_place_edit() -> None:
    """``Kernel.rhs`` keeps the last ``q = Bu + b``; an in-place edit of ``u``,
    ``B``, ``b`` or of the returned ``q`` itself gives the product afresh."""
    g = torch.Generator().manual_seed(3)
    H = torch.eye(4, dtype=torch.float64) * 2
    K = Kernel(H, torch.randn(4, 3, generator=g, dtype=torch.float64),
               torch.zeros(1, 4, dtype=torch.float64), torch.zeros(1, 3, dtype=torch.float64),
               b=torch.randn(4, generator=g, dtype=torch.float64))
    u = torch.randn(5, 3, generator=g, dtype=torch.float64)

    def fresh() -> torch.Tensor:
        return u.clone() @ K.B.T.clone() + K.b.clone()

    q = K.rhs(u)
    assert K.rhs(u) is q
    for edit in (lambda: u.mul_(2.0), lambda: K.B.add_(1.0), lambda: K.b.sub_(0.5),
                 lambda: K.rhs(u).zero_()):
        edit()
        torch.testing.assert_close(K.rhs(u), fresh(), rtol=1e-15, atol=0)
    assert K.rhs(u.clone()) is not K.rhs(u)
