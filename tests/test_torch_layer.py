"""The PyTorch monDEQ layer: the Winston–Kolter convention against
``winston_kolter_weight``, implicit gradients against finite differences
(gradcheck), every forward solver against the kernel's exact active set, torch
idioms (float32, unbatched input, torch.compile), and the layer against the
circuit that realises it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from diodenet.kernels.equilibrium import ConvergenceError
from diodenet.kernels.extract import extract_kernel
from diodenet.kernels.kernel import Kernel
from diodenet.kernels.mondeq import winston_kolter_weight
from diodenet.torch import MonDEQLayer
from diodenet.torch._free_set import CheckSchedule, resolvent_inverse
from diodenet.torch.layer import _Equilibrium, _MonotoneH


def _layer(seed: int, *shape: int, **kw) -> MonDEQLayer:
    return MonDEQLayer(*shape, generator=torch.Generator().manual_seed(seed), **kw)


def test_convention_is_winston_kolter():
    layer = _layer(0, 3, 6, 2, dtype=torch.float64, margin=0.3)
    with torch.no_grad():
        W = winston_kolter_weight(0.3, layer.A, layer.S)
        torch.testing.assert_close(layer.W(), W, rtol=0, atol=1e-15)
        K = Kernel.from_winston_kolter(0.3, layer.A, layer.S, layer.U, layer.c, layer.W_out,
                                       torch.zeros(2, 3, dtype=torch.float64))
        torch.testing.assert_close(layer.to_kernel().H, K.H, rtol=0, atol=1e-15)
    # the layer's equilibrium is the reference fixed point z = ReLU(Wz + Ux + c)
    x = torch.randn(4, 3, dtype=torch.float64)
    z = layer.equilibrium(x).detach()
    fixed = torch.relu(z @ W.T + x @ layer.U.detach().T + layer.c.detach())
    torch.testing.assert_close(z, fixed, rtol=0, atol=10 * layer.tolerance(torch.float64))


@pytest.mark.parametrize("solver", ["auto", "pr", "active_set"])
def test_gradcheck_through_the_equilibrium(solver):
    layer = _layer(1, 3, 6, 2, dtype=torch.float64, solver=solver, tol=1e-13, max_iter=20000)
    H = layer.H().detach().clone().requires_grad_()
    q = torch.randn(3, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(5),
                    requires_grad=True)
    assert torch.autograd.gradcheck(lambda H, q: _Equilibrium.apply(H, q, layer), (H, q),
                                    eps=1e-6, atol=1e-7, rtol=1e-5)


def test_gradcheck_layer_parameters():
    layer = _layer(2, 2, 5, 2, dtype=torch.float64, tol=1e-13)
    x = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    params = dict(layer.named_parameters())

    def f(*values):
        return torch.func.functional_call(layer, dict(zip(params, values)), (x,))

    # the adjoint PR learns when to test its residual call by call, so two
    # backward calls may stop an iteration apart: equal within its tolerance
    assert torch.autograd.gradcheck(f, tuple(p.detach().clone().requires_grad_()
                                             for p in params.values()), eps=1e-6, atol=1e-6,
                                    nondet_tol=1e-10)


@pytest.mark.parametrize("solver", ["auto", "pr", "active_set"])
def test_solvers_agree_with_the_kernel_active_set(solver):
    layer = _layer(3, 4, 20, 3, dtype=torch.float64, solver=solver, margin=0.2)
    x = torch.randn(16, 4, dtype=torch.float64)
    y = layer(x).detach()
    exact = layer.to_kernel().solve(x, method="active_set", tol=1e-12)
    tol = layer.tolerance(torch.float64)
    torch.testing.assert_close(y, exact.y, rtol=0, atol=max(1e-10, 100 * tol))
    assert layer.stats is not None and layer.stats.method == solver
    assert layer.stats.iterations > 0 and layer.stats.residual <= tol
    assert f"solver='{solver}'" in repr(layer)


def test_step_inverse_is_kept_for_the_same_H_and_renewed_when_it_changes():
    """Calls on one ``H`` form ``(I + αH)⁻¹`` once; a parameter step forms it
    again, so PR answers for the new ``H`` (the kernel's exact active set)."""
    layer = _layer(4, 3, 12, 2, dtype=torch.float64, solver="pr", tol=1e-13, max_iter=20000)
    g = torch.Generator().manual_seed(8)
    xs = [torch.randn(8, 3, dtype=torch.float64, generator=g) for _ in range(3)]

    def check(x: torch.Tensor) -> None:
        exact = layer.to_kernel().solve(x, method="active_set", tol=1e-12)
        torch.testing.assert_close(layer(x).detach(), exact.y, rtol=0, atol=1e-10)

    with torch.no_grad():
        for x in xs:
            check(x)
        assert layer.inverses == 1
        layer.A.add_(0.3 * torch.randn(layer.A.shape, dtype=torch.float64, generator=g))
        check(xs[0])
        assert layer.inverses == 2
        layer.alpha = 0.5  # another step: another inverse, the same equilibrium
        check(xs[1])
        assert layer.inverses == 3
    # training: the backward of a call that reused the inverse is the same gradient
    layer.zero_grad()
    layer(xs[2]).square().sum().backward()
    kept = [p.grad.clone() for p in layer.parameters()]
    layer._inverse = None
    layer.zero_grad()
    layer(xs[2]).square().sum().backward()
    for a, b in zip(kept, (p.grad for p in layer.parameters())):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("solver", ["pr", "active_set"])
def test_backward_is_the_solvers_transpose(solver):
    """The layer's backward (free-set LU or PR reusing the forward's factors) gives
    the same adjoint as the equilibrium solvers' ``transpose`` on its kernel."""
    from diodenet.solvers import get_solver

    layer = _layer(4, 3, 12, 2, dtype=torch.float64, solver=solver, tol=1e-13, max_iter=20000)
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(5, 3, dtype=torch.float64, generator=gen)
    v = torch.randn(5, 12, dtype=torch.float64, generator=gen)
    q = (x @ layer.U.T + layer.c).detach().requires_grad_()
    z = _Equilibrium.apply(layer.H().detach(), q, layer)
    (lam,) = torch.autograd.grad((z * v).sum(), q)
    stats = layer.stats
    if solver == "active_set":  # the forward's free-set factors, solved transposed
        assert (stats.backward, stats.backward_iterations, stats.backward_residual) == \
            ("lu", 0, None)
    else:
        assert stats.backward_iterations > 0 and stats.backward_residual <= 1e-13
    kernel = layer.to_kernel()  # its q is -(Ux + c): the sign flips
    exact = get_solver("active_set", kernel)
    state = exact.init(kernel)
    z_exact = kernel.solve(x, solver=exact, state=state).z
    torch.testing.assert_close(z.detach(), z_exact, rtol=0, atol=1e-9)
    torch.testing.assert_close(lam, -exact.transpose(state, kernel, z_exact, v, x),
                               rtol=1e-7, atol=1e-9)


def test_float32_by_default_unbatched_and_errors():
    layer = _layer(4, 3, 8, 2)
    assert layer.A.dtype == torch.get_default_dtype() == torch.float32
    x = torch.randn(5, 3)
    y = layer(x)
    assert y.dtype == torch.float32 and y.shape == (5, 2)
    tol = layer.tolerance(torch.float32)
    torch.testing.assert_close(layer(x[0]), y[0], rtol=0, atol=10 * tol)
    y.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())
    assert layer.to_kernel().dtype == torch.float32
    with pytest.raises(ValueError, match="input contains NaN or inf"):
        layer(torch.full((1, 3), float("nan")))
    # a finite input whose iterates overflow float32 says so (it read "residual nan")
    with pytest.raises(ConvergenceError, match=r"iterates overflowed torch\.float32"):
        _layer(0, 3, 5, 2)(torch.full((1, 3), 1e38))
    # non-finite weights are named before any iteration, not found as a NaN residual
    for name, message in (("U", "Ux \\+ c is not finite"), ("c", "Ux \\+ c is not finite"),
                          ("A", "H = .* is not finite"), ("S", "H = .* is not finite")):
        broken = _layer(4, 3, 8, 2)
        with torch.no_grad():
            getattr(broken, name).view(-1)[0] = float("inf")
        with pytest.raises(ValueError, match=message):
            broken(x)
    with pytest.raises(ValueError, match="unknown solver"):
        MonDEQLayer(3, 8, 2, solver="newton")
    with pytest.raises(ConvergenceError, match="residual"):
        _layer(4, 3, 8, 2, solver="pr", max_iter=5, tol=1e-9)(x)


def test_torch_compile_returns(tmp_path):
    # a fresh interpreter with a timeout: a compile that hangs must fail, not stall the suite
    script = textwrap.dedent("""
        import torch
        from diodenet.torch import MonDEQLayer
        layer = MonDEQLayer(3, 8, 2, generator=torch.Generator().manual_seed(0))
        x = torch.randn(4, 3)
        eager = layer(x)
        compiled = torch.compile(layer, backend="eager")
        out = compiled(x)
        out.sum().backward()
        tol = layer.tolerance(torch.float32)  # both solves stop within it
        assert torch.allclose(out, eager, rtol=0, atol=20 * tol), (out, eager)
        assert layer.A.grad is not None
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-2000:]
    # what reads the data (the input check, the solver) is outside the traced graph
    assert "Graph break" not in run.stderr, run.stderr[-2000:]


def test_layer_equals_its_circuit():
    g = torch.Generator().manual_seed(1)
    layer = MonDEQLayer(2, 5, 2, generator=g, dtype=torch.float64, solver="active_set")
    x = torch.randn(6, 2, dtype=torch.float64, generator=g)
    y = layer(x).detach()
    c = layer.to_circuit()
    K = extract_kernel(c, ["vu1", "vu2"], ["y1", "y2"])
    eq = K.solve(x, method="active_set", tol=1e-13)
    torch.testing.assert_close(eq.y, y, rtol=1e-9, atol=1e-10)


def test_layer_trains():
    g = torch.Generator().manual_seed(2)
    layer = MonDEQLayer(2, 8, 1, generator=g)
    x = torch.randn(64, 2, generator=g)
    t = (x[:, :1] * x[:, 1:]).abs()
    opt = torch.optim.Adam(layer.parameters(), lr=0.05)
    first = None
    for _ in range(25):
        opt.zero_grad()
        loss = ((layer(x) - t) ** 2).mean()
        first = first if first is not None else float(loss.detach())
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.5 * first


def test_trained_layer_netlist_predicts_the_same(ngspice_available):
    import numpy as np

    from diodenet.circuits import Circuit
    from diodenet.simulators.builtin import BuiltinSimulator
    from diodenet.simulators.ngspice import NgspiceSimulator
    from diodenet.training import load_dataset

    data = load_dataset("iris", seed=0)
    layer = _layer(6, 4, 6, 3, dtype=torch.float64, solver="active_set", margin=0.5)
    x = torch.as_tensor(data.x_train)
    y = torch.as_tensor(data.y_train)
    opt = torch.optim.Adam(layer.parameters(), lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(layer(x), y).backward()
        opt.step()
    xs = np.concatenate([data.x_test, data.x_train])
    with torch.no_grad():
        pred = layer(torch.as_tensor(xs)).argmax(1).numpy()
    assert (pred[: len(data.y_test)] == data.y_test).mean() > 0.85
    circuit = Circuit.from_spice(layer.to_circuit().to_spice())
    names = [f"vu{i + 1}" for i in range(4)]

    def classes(points):
        cols = [points.nodes.index(f"y{j + 1}") for j in range(3)]
        return points.voltages[:, cols].argmax(1)

    builtin = classes(BuiltinSimulator(circuit).operating_points(xs, names))
    np.testing.assert_array_equal(builtin, pred)
    with NgspiceSimulator(circuit) as sim:
        spice = classes(sim.operating_points(xs, names))
    assert (spice == pred).mean() >= 0.99


@pytest.mark.parametrize("alpha, spread", [(1.0, 0.5), (1.0, 3.0), (1e4, 3.0)])
def test_resolvent_inverse_is_accurate_to_round_off(alpha, spread):
    # the last case makes I + αH ill-conditioned enough (condition 224) that
    # squaring it, as normal equations would, misses by 8e-4 in float32 (and
    # about cond² ε = 1e-11 in float64); the LU inverse must stay within 10 n ε.
    # Checked in float64 against I + αH itself.
    g = torch.Generator().manual_seed(3)
    n = 60
    A = torch.randn(n, n, generator=g, dtype=torch.float64) * spread / n ** 0.5
    S = torch.randn(n, n, generator=g, dtype=torch.float64) * 0.3 / n ** 0.5
    H = 0.1 * torch.eye(n, dtype=torch.float64) + A.T @ A - S + S.T
    w = torch.randn(n, 5, generator=g, dtype=torch.float64)
    for dtype in (torch.float32, torch.float64):
        Hd = H.to(dtype)
        M = torch.eye(n, dtype=torch.float64) + alpha * Hd.double()
        V = resolvent_inverse(Hd, alpha)
        assert V.dtype == dtype
        miss = float(((M @ (V.double() @ w) - w).norm(dim=0) / w.norm(dim=0)).max())
        assert miss <= 10 * n * torch.finfo(dtype).eps, (dtype, miss)


def test_resolvent_inverse_refuses_a_singular_matrix():
    # I + αH = 0: LAPACK reports the zero pivot and torch's inverse names it
    with pytest.raises(torch.linalg.LinAlgError, match="singular"):
        resolvent_inverse(-torch.eye(3, dtype=torch.float64), 1.0)


def test_check_schedule_follows_the_iteration_count_down_and_up():
    s = CheckSchedule()
    assert next(s.blocks()) == 2  # nothing learnt yet
    # passed at 12 with a residual far below tol: try one fewer next time
    s.record([(10, 0.5), (12, 0.01)], tol=0.1)
    assert s.count == 11 and s.rate == pytest.approx(0.02 ** 0.5)
    blocks = s.blocks()
    assert [next(blocks) for _ in range(3)] == [11, 1, 1]
    # passed just under tol: stay
    s.record([(11, 0.09)], tol=0.1)
    assert s.count == 11
    # needed two more than predicted: the count rises to what was needed
    s.record([(11, 0.4), (12, 0.2), (13, 0.099)], tol=0.1)
    assert s.count == 13


def test_H_and_its_derivatives_equal_the_plain_expression():
    # H's own autograd Function (one product in its backward) against autograd
    # through mI + AᵀA - S + Sᵀ, to second order
    layer = _layer(4, 3, 6, 2, dtype=torch.float64, margin=0.3)
    A, S = (p.detach().clone().requires_grad_() for p in (layer.A, layer.S))

    def plain(A, S):
        return 0.3 * torch.eye(6, dtype=torch.float64) + A.T @ A - S + S.T

    def ours(A, S):
        return _MonotoneH.apply(A, S, 0.3)

    assert torch.allclose(ours(A, S), plain(A, S), rtol=1e-14, atol=1e-14)
    G = torch.randn(6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for a, b in zip(torch.autograd.grad((ours(A, S) * G).sum(), (A, S)),
                    torch.autograd.grad((plain(A, S) * G).sum(), (A, S))):
        assert torch.allclose(a, b, rtol=1e-13, atol=1e-13)
    assert torch.autograd.gradgradcheck(ours, (A, S))


def _adjoint_misses(H: torch.Tensor, z: torch.Tensor, g: torch.Tensor, lam: torch.Tensor):
    """Per sample: how far ``λ`` is from the exact ``H_FF⁻ᵀ g_F`` (a dense solve
    per free set), relative, and whether it vanishes off ``F``."""
    misses, off = [], []
    for zs, gs, ls in zip(z, g, lam):
        F = zs > 0
        exact = torch.linalg.solve(H[F][:, F].T, gs[F])
        misses.append(float((ls[F] - exact).abs().max() / exact.abs().max()))
        off.append(bool((ls[~F] == 0).all()))
    return torch.tensor(misses), all(off)


def test_backward_tol_sets_the_adjoint_accuracy():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(16, 4, generator=gen, dtype=torch.float64)
    g = torch.randn(16, 12, generator=gen, dtype=torch.float64)
    misses = {}
    for backward_tol in (1e-2, 1e-12):
        layer = _layer(5, 4, 12, 2, dtype=torch.float64, solver="pr", tol=1e-12,
                       backward_tol=backward_tol, max_iter=20000)
        assert f"backward_tol={backward_tol:.1e}" in repr(layer)
        H = layer.H().detach()
        q = torch.nn.functional.linear(x, layer.U, layer.c).detach().requires_grad_()
        z = _Equilibrium.apply(H, q, layer)
        z.backward(g)
        assert layer.stats.backward.startswith("pr")
        assert layer.stats.backward_residual <= backward_tol
        assert layer.stats.backward == f"pr ({layer.stats.backward_iterations} iterations)"
        misses[backward_tol], zero_off_F = _adjoint_misses(H, z.detach(), g, q.grad)
        assert zero_off_F
    # H here is well conditioned: the error is within a few times the residual bound
    assert misses[1e-12].max() <= 1e-9
    assert misses[1e-2].max() <= 0.1
    assert misses[1e-2].max() >= 1e-8  # it stopped early: the looser bound was used


def test_backward_tol_is_checked():
    with pytest.raises(ValueError, match="backward_tol must be > 0"):
        MonDEQLayer(3, 4, 2, backward_tol=0.0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.complex64])
def test_low_precision_and_complex_dtypes_are_refused(dtype):
    with pytest.raises(ValueError, match="needs dtype float32 or float64"):
        MonDEQLayer(3, 4, 2, dtype=dtype)
    if dtype.is_complex:
        return  # torch warns that complex modules are experimental
    converted = MonDEQLayer(3, 4, 2).to(dtype)  # the nn.Module way round
    with pytest.raises(ValueError, match="needs dtype float32 or float64"):
        converted(torch.randn(2, 3).to(dtype))


@pytest.mark.parametrize("sizes, name", [((3, 0, 2), "hidden"), ((0, 4, 2), "in_features"),
                                         ((3, 4, 0), "out_features"), ((3, 4.0, 2), "hidden")])
def test_sizes_are_checked(sizes, name):
    with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
        MonDEQLayer(*sizes)


def test_second_derivatives_are_refused_not_wrong():
    """The implicit backward is not itself differentiable: asking for a gradient
    to differentiate again is an error (a second derivative once came back
    as -6.55 where finite differences give -13.3)."""
    layer = MonDEQLayer(3, 4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with pytest.raises(RuntimeError, match=r"second derivatives \(create_graph=True\)"):
        torch.autograd.grad((layer(x) ** 2).sum(), layer.U, create_graph=True)
    (g,) = torch.autograd.grad((layer(x) ** 2).sum(), layer.U)  # first order: as before
    assert torch.isfinite(g).all()


def test_an_input_of_another_float_dtype_is_refused_as_linear_refuses_it():
    layer = MonDEQLayer(3, 4, 2, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"input dtype torch\.float64 is not the layer's"):
        layer(torch.randn(2, 3, dtype=torch.float64))
    assert layer(torch.randn(2, 3)).dtype == torch.float32
    assert layer([[1, 2, 3]]).dtype == torch.float32  # integers and lists are converted


@pytest.mark.parametrize("solver", ["auto", "pr", "active_set"])
def test_training_goes_on_after_a_validation_pass_under_inference_mode(solver: str) -> None:
    """The layer keeps (I + αH)⁻¹ between calls; one formed under
    ``torch.inference_mode()`` was reused by the next training step, and
    autograd refuses to save an inference tensor. The gradient after such a
    pass must equal a fresh layer's with the same weights."""
    torch.manual_seed(0)
    layer = MonDEQLayer(2, 8, 1, solver=solver, dtype=torch.float64)
    x = torch.randn(16, 2, dtype=torch.float64)
    with torch.inference_mode():
        layer(x)
    layer(x).sum().backward()
    fresh = MonDEQLayer(2, 8, 1, solver=solver, dtype=torch.float64)
    fresh.load_state_dict(layer.state_dict())
    fresh(x).sum().backward()
    for (name, p), q in zip(layer.named_parameters(), fresh.parameters()):
        assert p.grad is not None and q.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-9, atol=1e-12, msg=name)
