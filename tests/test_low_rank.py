"""``H`` as a diagonal plus a low-rank term: the form a layered network's kernel
carries, checked against an independent extraction and against dense solves."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import diodenet.kernels.programming as programming
from diodenet.kernels import extract_kernel
from diodenet.kernels.low_rank import DiagonalPlusLowRank
from diodenet.linearization import BuiltinHardware, hardware_gradient
from diodenet.solvers._factor import solve_switched
from diodenet.solvers._low_rank import solve_low_rank
from diodenet.solvers.active_set import ActiveSet
from diodenet.training.architectures import build_network
from diodenet.training.losses import make_loss

torch.set_num_threads(1)


def _hardware(diode: str = "ideal", **kwargs) -> tuple[BuiltinHardware, object]:
    net = build_network(12, 3, 16, scale=10.0, seed=4, diode=diode, **kwargs)
    return BuiltinHardware(net.circuit, net.inputs, net.outputs), net


def _dense_switched(H: torch.Tensor, free: torch.Tensor, g: torch.Tensor,
                    rhs: torch.Tensor) -> torch.Tensor:
    """The switched system solved one sample at a time, the plain way."""
    x = torch.zeros_like(rhs)
    for b in range(rhs.shape[0]):
        F = torch.nonzero(free[b]).squeeze(1)
        A = H[F][:, F] + torch.diag(g[b, F])
        x[b, F] = torch.linalg.solve(A, rhs[b, F])
    return x


@pytest.mark.parametrize("diode", ["ideal", "pwl", "shockley"])
def test_a_layered_kernel_carries_its_form_equal_to_an_independent_extraction(diode):
    hw, net = _hardware(diode)
    form = hw.kernel.low_rank()
    assert form is not None
    assert form.rank == 6  # the hidden diodes meet only through the 3 output pairs
    H = extract_kernel(net.circuit, net.inputs, net.outputs).H
    assert float((form.dense() - H).abs().max()) <= 1e-12 * float(H.abs().max())
    # re-programming re-derives it for the new conductances
    rng = np.random.default_rng(0)
    g = hw.conductances() * np.exp(rng.uniform(-1, 1, len(hw.trainable)))
    hw.set_conductances(g)
    H = extract_kernel(hw.circuit, net.inputs, net.outputs).H
    assert float((hw.kernel.low_rank().dense() - H).abs().max()) <= 1e-12 * float(H.abs().max())


@pytest.mark.parametrize("transpose", [False, True])
def test_the_woodbury_solve_equals_dense_solves(transpose):
    hw, _ = _hardware()
    form, H = hw.kernel.low_rank(), hw.kernel.H
    gen = torch.Generator().manual_seed(1)
    free = torch.rand(40, H.shape[0], generator=gen) < 0.6
    g = torch.where(torch.rand(free.shape, generator=gen) < 0.3,
                    torch.rand(free.shape, generator=gen, dtype=H.dtype), 0.0)
    rhs = torch.randn(free.shape, generator=gen, dtype=H.dtype)
    x, ok = solve_low_rank(form, free, g, rhs, transpose=transpose)
    assert bool(ok.all())
    truth = _dense_switched(H.T if transpose else H, free, g, rhs)
    assert float((x - truth).abs().max()) <= 1e-10 * float(truth.abs().max())


def test_one_factorisation_solves_a_nonsymmetric_form_both_ways():
    """A form whose H is not symmetric (U ≠ V, K not symmetric): the factors of
    one orientation solve the other, against dense solves of H and Hᵀ."""
    from diodenet.solvers._low_rank import factor_low_rank

    gen = torch.Generator().manual_seed(7)
    n, r = 30, 4
    dt = torch.float64
    U, V = torch.randn(n, r, generator=gen, dtype=dt), torch.randn(n, r, generator=gen, dtype=dt)
    K = torch.randn(r, r, generator=gen, dtype=dt) + 3 * torch.eye(r, dtype=dt)
    form = DiagonalPlusLowRank(5 + torch.rand(n, generator=gen, dtype=dt), U, K,
                               torch.linalg.inv(K), V)
    H = form.dense()
    assert float((H - H.T).abs().max()) > 1.0
    free = torch.rand(16, n, generator=gen) < 0.7
    g = torch.rand(free.shape, generator=gen, dtype=dt)
    rhs = torch.randn(free.shape, generator=gen, dtype=dt)
    factors = factor_low_rank(form, free, g, dt)
    for transpose in (False, True):
        x, ok = solve_low_rank(form, free, g, rhs, transpose=transpose, factors=factors)
        assert bool(ok.all())
        truth = _dense_switched(H.T if transpose else H, free, g, rhs)
        assert float((x - truth).abs().max()) <= 1e-10 * float(truth.abs().max())


def _switched_problem(seed: int, batch: int):
    """The hardware, and random free sets (60 % free), zero g and right-hand sides."""
    hw, _ = _hardware()
    gen = torch.Generator().manual_seed(seed)
    free = torch.rand(batch, hw.kernel.n, generator=gen) < 0.6
    g = torch.zeros(free.shape, dtype=hw.kernel.dtype)
    rhs = torch.randn(free.shape, generator=gen, dtype=hw.kernel.dtype)
    return hw, free, g, rhs


def test_kept_factors_serve_both_orientations_and_only_their_own_point():
    """A switched solve keeps its factorisation on the kernel: the transposed
    solve at the same (free, g) reuses it, and another g, another free set or a
    re-programmed kernel does not. Every answer against dense solves."""
    hw, free, g, rhs = _switched_problem(seed=5, batch=24)
    k = hw.kernel

    def check(free: torch.Tensor, g: torch.Tensor, transpose: bool) -> None:
        x = solve_switched(hw.kernel, free, g, rhs, transpose=transpose)
        H = hw.kernel.H
        truth = _dense_switched(H.T if transpose else H, free, g, rhs)
        assert float((x - truth).abs().max()) <= 1e-10 * float(truth.abs().max())

    check(free, g, False)
    kept = k.__dict__["_switched_factors"]["woodbury"][3]
    check(free, g, True)
    assert k.__dict__["_switched_factors"]["woodbury"][3] is kept  # reused, transposed
    g2 = g.clone()
    g2[0, torch.nonzero(free[0])[0, 0]] = 0.5
    check(free, g2, True)  # another g: factored anew
    assert k.__dict__["_switched_factors"]["woodbury"][3] is not kept
    free2 = free.clone()
    free2[3] = ~free2[3]
    check(free2, g2, False)  # another free set
    hw.set_conductances(hw.conductances() * 1.5)  # a new kernel: nothing kept
    assert "_switched_factors" not in hw.kernel.__dict__
    check(free2, g2, True)


@pytest.mark.parametrize("mergeable", [True, False])
def test_a_step_on_some_samples_joins_its_factors_to_the_batch(mergeable, monkeypatch):
    """A later active-set step solves only the samples not yet settled; their
    factors are folded into the batch's, so the adjoint at the answer (each
    sample at its last step's set) needs no new factorisation. Where they
    cannot be merged, the adjoint factors anew. Every answer against dense
    solves."""
    import diodenet.solvers._factor as factor_module
    import diodenet.solvers._low_rank as low_rank

    hw, free, g, rhs = _switched_problem(seed=6, batch=24)
    k, H = hw.kernel, hw.kernel.H
    if not mergeable:
        monkeypatch.setattr(low_rank.WoodburyFactors, "merged", lambda self, rows, part: None)
    solve_switched(k, free, g, rhs)
    rows = torch.zeros(24, dtype=torch.bool)
    rows[[2, 5, 17]] = True
    later = free.clone()
    later[rows] = torch.rand(3, k.n, generator=torch.Generator().manual_seed(8)) < 0.6
    assert not torch.equal(later, free)
    x = solve_switched(k, later[rows], g[rows], rhs[rows], rows=rows)
    truth = _dense_switched(H, later[rows], g[rows], rhs[rows])
    assert float((x - truth).abs().max()) <= 1e-10 * float(truth.abs().max())
    # a part of a batch of another size is not folded into these (nor fails)
    other = torch.zeros(30, dtype=torch.bool)
    other[[1, 29]] = True
    part = solve_switched(k, free[:2], g[:2], rhs[:2], rows=other)
    truth = _dense_switched(H, free[:2], g[:2], rhs[:2])
    assert float((part - truth).abs().max()) <= 1e-10 * float(truth.abs().max())
    made, dense = [], []
    factor = low_rank.factor_low_rank
    monkeypatch.setattr(low_rank, "factor_low_rank", lambda *a: made.append(1) or factor(*a))
    fallback = factor_module._solve_switched_dense
    monkeypatch.setattr(factor_module, "_solve_switched_dense",
                        lambda *a: dense.append(1) or fallback(*a))
    x = solve_switched(k, later, g, rhs, transpose=True)
    truth = _dense_switched(H.T, later, g, rhs)
    assert float((x - truth).abs().max()) <= 1e-10 * float(truth.abs().max())
    assert len(made) == (0 if mergeable else 1) and not dense  # every sample by Woodbury


@pytest.mark.parametrize("transpose", [False, True])
def test_the_woodbury_route_hands_on_its_product_with_h(transpose):
    """The self-check's product, handed to the active-set step for its next
    pieces, is the answer times H (Hᵀ transposed) on every element, dense."""
    hw, free, g, rhs = _switched_problem(seed=8, batch=16)
    k = hw.kernel
    applied: dict = {}
    x = solve_switched(k, free, g, rhs, transpose=transpose, applied=applied)
    truth = x @ (k.H if transpose else k.H.T)
    assert float((applied["Hx"] - truth).abs().max()) <= 1e-12 * float(truth.abs().max())
    # a sample the identity cannot take goes dense: no product is handed on
    g[1, torch.nonzero(free[1])[0, 0]] = -k.low_rank().delta[torch.nonzero(free[1])[0, 0]]
    applied = {}
    solve_switched(k, free, g, rhs, transpose=transpose, applied=applied)
    assert "Hx" not in applied


def test_a_sample_the_identity_cannot_take_is_solved_densely():
    hw, _ = _hardware()
    k = hw.kernel
    form = k.low_rank()
    n = k.n
    free = torch.ones(3, n, dtype=torch.bool)
    g = torch.zeros(3, n, dtype=k.dtype)
    g[1, 0] = -form.delta[0]  # a zero on D: Woodbury is undefined there
    rhs = torch.randn(3, n, generator=torch.Generator().manual_seed(2), dtype=k.dtype)
    _, ok = solve_low_rank(form, free, g, rhs)
    assert ok.tolist() == [True, False, True]
    x = solve_switched(k, free, g, rhs)
    truth = _dense_switched(k.H, free, g, rhs)
    assert float((x - truth).abs().max()) <= 1e-9 * float(truth.abs().max())


@pytest.mark.parametrize("diode", ["ideal", "shockley"])
def test_the_hardware_answers_the_same_with_and_without_the_form(monkeypatch, diode):
    hw, net = _hardware(diode)
    rng = np.random.default_rng(3)
    u = net.encode(rng.normal(size=(32, 12)))
    loss = make_loss("ce", rng.integers(0, 3, 32), 0.5, 3)
    with_form = hardware_gradient(hw, u, loss)
    monkeypatch.setattr(programming, "_low_rank_columns", lambda coupling, n: None)
    plain_hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
    assert plain_hw.kernel.low_rank() is None
    plain = hardware_gradient(plain_hw, u, loss)
    np.testing.assert_array_equal(with_form.measurement.conducting, plain.measurement.conducting)
    for a, b in ((with_form.outputs, plain.outputs), (with_form.dL_dg, plain.dL_dg),
                 (with_form.dL_du, plain.dL_du)):
        assert np.abs(a - b).max() <= 1e-10 * np.abs(b).max()


def test_products_with_h_through_the_form_equal_the_dense_product():
    """``apply_H`` multiplies through the form (rank 6 of 16): the same ``z Hᵀ`` as
    the dense product with an independently extracted ``H``, and the dense
    product again once an edit drops the form."""
    hw, net = _hardware()
    k = hw.kernel
    assert k.low_rank() is not None and 2 * k.low_rank().rank < k.n
    H = extract_kernel(net.circuit, net.inputs, net.outputs).H
    z = torch.randn(9, k.n, generator=torch.Generator().manual_seed(3), dtype=H.dtype)
    truth = z @ H.T
    assert float((k.apply_H(z) - truth).abs().max()) <= 1e-12 * float(truth.abs().max())
    k.H.mul_(2.0)
    assert k.low_rank() is None
    assert torch.allclose(k.apply_H(z), 2.0 * truth, rtol=1e-12, atol=0.0)


def test_the_residual_a_solve_reports_is_that_of_its_answer():
    """The active set hands Kernel.solve the residual it measured at the answer
    (so it is not computed twice): it equals Kernel.residual recomputed there."""
    hw, net = _hardware()
    u = torch.as_tensor(net.encode(np.random.default_rng(5).uniform(0, 1, (11, 12))))
    k = hw.kernel
    state = ActiveSet().init(k)
    eq = k.solve(u, solver=ActiveSet(), state=state)
    assert "residual" not in state.memory  # taken, not left for a later solve
    assert torch.equal(eq.residual, k.residual(eq.z, u))


@pytest.mark.parametrize("kwargs", [{"recurrent": "dense"}, {"activation": "clamp"}])
def test_diodes_that_meet_directly_get_no_form(kwargs):
    hw, _ = _hardware(**kwargs)
    assert hw.kernel.low_rank() is None


def test_a_wrong_form_is_refused_and_an_edited_kernel_drops_its_form():
    hw, _ = _hardware()
    k = hw.kernel
    form = k.low_rank()
    wrong = DiagonalPlusLowRank(form.delta * 1.001, form.U, form.K, form.K_inv, form.V)
    with pytest.raises(ValueError, match="not H"):
        k.set_low_rank(wrong)
    assert k.low_rank() is form
    k.H.mul_(2.0)  # an in-place edit: the form no longer stands for H
    assert k.low_rank() is None


@pytest.mark.parametrize("k, with_B0", [(4, True), (4, False), (0, True), (0, False)])
def test_a_factored_input_coupling_answers_as_the_dense_one(k, with_B0):
    """``B = L R + B0`` kept factored: the same ``q``, ``B`` formed on demand,
    an in-place edit of a factor seen by the next ``rhs``; also with no
    low-rank part (``k = 0``: a layered network's inputs reach no free row)
    and without ``B0``."""
    from diodenet.kernels.kernel import FactoredB, Kernel

    gen = torch.Generator().manual_seed(5)
    n, m, p = 6, 9, 2
    H = torch.eye(n, dtype=torch.float64) * 2.0
    L, R = torch.randn(n, k, generator=gen, dtype=torch.float64), \
        torch.randn(k, m, generator=gen, dtype=torch.float64)
    B0 = torch.randn(n, m, generator=gen, dtype=torch.float64) if with_B0 else \
        torch.zeros(n, m, dtype=torch.float64)
    C, D = torch.randn(p, n, dtype=torch.float64), torch.randn(p, m, dtype=torch.float64)
    b = torch.randn(n, generator=gen, dtype=torch.float64)
    factored = Kernel(H, FactoredB(L, R, B0 if with_B0 else None), C, D, b=b)
    dense = Kernel(H, L @ R + B0, C, D, b=b)
    u = torch.randn(5, m, generator=gen, dtype=torch.float64)
    assert factored.m == m
    torch.testing.assert_close(factored.rhs(u), dense.rhs(u), rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(factored.factored_input(u), u @ R.T)
    assert dense.factored_input(u) is None
    L.mul_(2.0)  # the factors are the kernel's own tensors: the edit is seen
    torch.testing.assert_close(factored.rhs(u), u @ (L @ R + B0).T + b)
    torch.testing.assert_close(factored.B, L @ R + B0)
    torch.testing.assert_close(factored.solve(u).z, Kernel(H, L @ R + B0, C, D, b=b).solve(u).z)
    with pytest.raises(ValueError, match="factored B"):
        Kernel(H, FactoredB(L, R[:, :2], B0), C, D)


def test_a_float32_hardware_keeps_its_shortcuts_and_answers_as_float64():
    """Tolerances follow the dtype: float32 converges, keeps the low-rank form
    and the block elimination, and agrees with float64 to float32 precision."""
    net = build_network(64, 10, 128, scale=10.0, seed=0)
    rng = np.random.default_rng(0)
    u = net.encode(rng.normal(size=(16, 64)))
    loss = make_loss("ce", rng.integers(0, 10, 16), 0.5, 10)
    out = {}
    for dtype in (torch.float64, torch.float32):
        hw = BuiltinHardware(net.circuit, net.inputs, net.outputs, dtype=dtype)
        assert hw.kernel.low_rank() is not None
        out[dtype] = hardware_gradient(hw, u, loss)
    ref, low = out[torch.float64], out[torch.float32]
    assert np.abs(low.outputs - ref.outputs).max() <= 1e-4 * np.abs(ref.outputs).max()
    assert np.abs(low.dL_dg - ref.dL_dg).max() <= 1e-4 * np.abs(ref.dL_dg).max()


def test_steps_from_the_jacobi_start_end_on_the_complementarity_solution():
    hw, net = _hardware()
    k = hw.kernel
    u = k.check_inputs(net.encode(np.random.default_rng(5).normal(size=(64, 12))))
    q = k.rhs(u)
    start, pieces = ActiveSet()._jacobi_start(k, q)
    assert bool((start >= 0).all())  # ideal diodes on an M-matrix
    assert torch.equal(pieces, start > 0)  # the first exact step's free set
    z = k.solve(u, method="active_set").z
    w = z @ k.H.T + q  # the LCP: z ≥ 0, w ≥ 0, z ⊙ w = 0
    scale = float(q.abs().max())
    assert float(z.min()) >= 0.0
    assert float(w.min()) >= -1e-12 * scale
    assert float((z * w).abs().max()) <= 1e-12 * scale * float(z.abs().max())
    # the conducting set differs from the start's in few places, if any
    assert float(((z > 0) != (start > 0)).float().mean()) < 0.1


@pytest.mark.parametrize("guess", ["all-blocking", "all-conducting", "random"])
def test_a_wrong_first_guess_of_the_pieces_still_ends_on_the_solution(guess, monkeypatch):
    """The Jacobi sweeps' pieces are only the first exact step's guess: the
    step is checked at its answer, and further steps follow where the pieces
    were wrong. Any guess ends on the LCP solution of the unpatched solve."""
    hw, net = _hardware()
    k = hw.kernel
    u = k.check_inputs(net.encode(np.random.default_rng(6).normal(size=(64, 12))))
    truth = k.solve(u, method="active_set").z
    original = ActiveSet._jacobi_start
    gen = torch.Generator().manual_seed(0)

    def wrong(self, kernel, q, z=None):
        z, pieces = original(self, kernel, q, z)
        bad = {"all-blocking": torch.ones_like(pieces), "all-conducting": torch.zeros_like(pieces),
               "random": torch.rand(pieces.shape, generator=gen) < 0.5}[guess]
        assert not torch.equal(bad, pieces)
        return z, bad

    monkeypatch.setattr(ActiveSet, "_jacobi_start", wrong)
    z = k.solve(u, method="active_set").z
    q = k.rhs(u)
    w = z @ k.H.T + q
    scale = float(q.abs().max())
    assert float(z.min()) >= 0.0 and float(w.min()) >= -1e-12 * scale
    assert float((z - truth).abs().max()) <= 1e-10 * float(truth.abs().max())


def test_a_batch_solved_again_after_a_reprogramming_takes_one_exact_step(monkeypatch):
    """The same inputs after a small re-programming (1 %): the solver recalls
    its last answers, and the Jacobi sweeps start from them, correcting the
    pieces that flipped, so one exact step finishes each batch (from the
    recalled answers alone it took 1.4 to 1.8); every answer equals a solve
    from scratch."""
    net = build_network(64, 10, 128, scale=10.0, seed=0)
    hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
    rng = np.random.default_rng(0)
    u = net.encode(rng.normal(size=(64, 64)))
    g0 = hw.conductances()
    hw.settle(u)
    steps: list[int] = []
    step = ActiveSet.newton_step
    monkeypatch.setattr(ActiveSet, "newton_step",
                        lambda self, *a, **k: steps.append(1) or step(self, *a, **k))
    for _ in range(4):
        hw.set_conductances(g0 * (1 + 0.01 * rng.random(len(g0))))
        y = hw.settle(u).outputs
        k = hw.kernel
        ut = k.check_inputs(u)
        fresh = k.outputs(k.solve(ut, method="active_set").z, ut).numpy()
        assert float(np.abs(y - fresh).max()) <= 1e-12 * float(np.abs(fresh).max())
    assert len(steps) == 4 + 4  # one per settle, and one per solve from scratch


def test_a_network_whose_inputs_reach_some_hidden_nodes_only_has_the_extracted_kernel():
    """Input resistors removed at random: the re-programmed drive of the
    hidden nodes (held by their diodes' ports: scattered rather than
    reshaped) and the whole kernel equal an independent extraction, before
    and after new conductances."""
    net = build_network(12, 3, 16, scale=10.0, seed=4)
    c = net.circuit
    rng = np.random.default_rng(7)
    inputs_to_hidden = [r.name for r in c.resistors
                        if r.n1.startswith(("xp", "xn")) or r.n2.startswith(("xp", "xn"))]
    for name in rng.choice(inputs_to_hidden, size=len(inputs_to_hidden) // 3, replace=False):
        c.remove(str(name))
    hw = BuiltinHardware(c, net.inputs, net.outputs)
    ports = hw._programmer.ports
    assert ports is not None
    plan = ports.pu_plan
    assert plan is not None and len(plan.at) < plan.su_rows.size
    for step in range(2):
        K = extract_kernel(hw.circuit, net.inputs, net.outputs)
        for name in ("H", "B", "C", "D", "b", "d"):
            ours, truth = getattr(hw.kernel, name), getattr(K, name)
            scale = max(float(truth.abs().max()), 1e-300)
            assert float((ours - truth).abs().max()) <= 1e-12 * scale, (step, name)
        hw.set_conductances(hw.conductances() * np.exp(rng.uniform(-1, 1, len(hw.trainable))))



def test_a_symmetric_form_is_factored_by_cholesky_and_an_indefinite_one_by_lu():
    """A reciprocal network's form (V = -U, K symmetric positive definite) gives
    a positive definite Woodbury system, which Cholesky factors; a symmetric
    form with an indefinite K gives an indefinite one, which Cholesky refuses
    and LU takes. Both against dense solves, in both orientations."""
    from diodenet.solvers._low_rank import factor_low_rank

    hw, _ = _hardware()
    gen = torch.Generator().manual_seed(3)
    dt = torch.float64
    n, r = 30, 4
    U = torch.randn(n, r, generator=gen, dtype=dt)
    K = torch.diag(torch.tensor([1.0, 2.0, -1.5, 3.0], dtype=dt))  # symmetric, indefinite
    synthetic = DiagonalPlusLowRank(5 + torch.rand(n, generator=gen, dtype=dt), U, K,
                                    torch.linalg.inv(K), -U)
    for form, route in ((hw.kernel.low_rank(), "cholesky"), (synthetic, "lu")):
        assert form.symmetric
        H = form.dense()
        free = torch.rand(20, H.shape[0], generator=gen) < 0.7
        g = torch.rand(free.shape, generator=gen, dtype=dt) * float(form.delta.min())
        rhs = torch.randn(free.shape, generator=gen, dtype=dt)
        factors = factor_low_rank(form, free, g, dt)
        assert (factors.pivots is None) == (route == "cholesky")
        for transpose in (False, True):
            x, ok = solve_low_rank(form, free, g, rhs, transpose=transpose, factors=factors)
            assert bool(ok.all())
            truth = _dense_switched(H.T if transpose else H, free, g, rhs)
            assert float((x - truth).abs().max()) <= 1e-10 * float(truth.abs().max())
