"""``MonDEQLayer``: a ReLU monDEQ that is a resistor–diode circuit.

The Winston–Kolter parametrisation, in kernel units (step ``α = 1``)::

    W = (1 - m) I - AᵀA + S - Sᵀ        I - W = H = m I + AᵀA - S + Sᵀ ⪰ m I
    z = ReLU(W z + U x + c)     ⇔   0 ∈ H z + N₊(z) - (U x + c)
    y = W_out z + d

the same convention as ``Kernel.from_winston_kolter`` and the monDEQ
reference: one ``(A, S)`` gives one model everywhere in diodenet.

Forward: the equilibrium by ``solver`` (``_free_set``): ``"pr"``
(Peaceman–Rachford to ``tol``), ``"active_set"`` (exact: PR until the free
sets settle, then active-set steps on the free set) or ``"auto"`` (PR to
``tol``, finishing with active-set steps if PR is slow). Backward: implicit
differentiation on the free set ``F = {z > 0}`` only. With
``λ_F = H_FF⁻ᵀ (∂L/∂z)_F`` and ``λ_N = 0``::

    ∂L/∂H = -λ zᵀ,      ∂L/∂(U x + c) = λ

``λ`` reuses what the forward factored: the LU factors of ``H_FF`` from its
last active-set step (two triangular solves per sample), or else
``V = (I + αH)⁻¹`` from its PR iterations, for PR on the adjoint restricted to
``F`` (``_free_set.adjoint_pr``), to ``backward_tol`` (default: ``tol``):
``‖(H_FFᵀ λ_F - (∂L/∂z)_F)‖_∞ ≤ backward_tol · ‖(∂L/∂z)_F‖_∞`` per sample.

``tol`` is relative: the natural residual ``max_k |z_k - ReLU(z_k - w_k)|``
(``w = Hz - Ux - c``) is at most ``tol · max(1, ‖Ux + c‖_∞)``; by default
``1000 ε`` of the dtype for ``"active_set"`` (round-off) and ``√ε`` for
``"pr"``/``"auto"``. A miss raises ``ConvergenceError`` with the residual.
After each call ``layer.stats`` holds the solver's ``iterations``,
``residual`` (relative, worst sample) and ``method``.

Reuse: ``(I + αH)⁻¹`` depends on ``H`` only, so the layer keeps it and every
later call with the same ``H`` (evaluation, or several batches between two
optimiser steps) skips the inversion; a changed parameter gives a new ``H``
and a new inverse (``layer.inverses`` counts them).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..kernels.equilibrium import ConvergenceError, Equilibrium
from ..kernels.kernel import Kernel, all_finite
from ._free_set import CheckSchedule, FreeSetLU, adjoint_pr, solve

if TYPE_CHECKING:
    from ..circuits import Circuit

SOLVERS = ("auto", "pr", "active_set")


@dataclass
class SolverStats:
    """What the last forward's equilibrium solve did, and the backward after it:
    ``backward`` says how the adjoint was solved (``"lu"``: the forward's
    factors, exact; ``"pr (k iterations)"``), ``backward_iterations`` and
    ``backward_residual`` (relative, worst sample) are PR's."""

    method: str
    iterations: int
    residual: float
    backward: str | None = None
    backward_iterations: int | None = None
    backward_residual: float | None = None


class _Equilibrium(torch.autograd.Function):
    """``z`` solving ``0 ∈ H z + N₊(z) - q`` (batch), differentiable in ``H`` and ``q``."""

    @staticmethod
    def forward(ctx, H: Tensor, q: Tensor, layer: MonDEQLayer) -> Tensor:
        Hd, qd = H.detach(), q.detach()
        tol = layer.tolerance(q.dtype)
        sol = solve(Hd, qd, method=layer.solver, tol=tol, max_iter=layer.max_iter,
                    alpha=layer.alpha, schedule=layer._schedules[0], V=layer._kept_inverse(Hd))
        layer._keep_inverse(Hd, sol.V)
        layer.stats = SolverStats(sol.method, sol.iterations, sol.worst)
        if not sol.worst <= tol:
            eq = Equilibrium(z=sol.z, y=sol.z, iterations=sol.iterations, residual=sol.residual,
                             converged=sol.residual <= tol, method=sol.method)
            why = ""
            if not math.isfinite(sol.worst):  # finite data (checked) whose iterates overflowed
                why = (f": the iterates overflowed {q.dtype} (|Ux + c| up to "
                       f"{float(qd.abs().max()):.1e}, the largest {q.dtype} is "
                       f"{torch.finfo(q.dtype).max:.1e}); scale the input down or use float64")
            raise ConvergenceError(
                f"MonDEQLayer ({sol.method}) did not converge: relative residual "
                f"{sol.worst:.3e} > tol {tol:.1e} after {sol.iterations} iterations{why}",
                eq,
            )
        ctx.lu, ctx.layer, ctx.tol = sol.lu, layer, layer.backward_tolerance(q.dtype)
        ctx.save_for_backward(Hd, sol.z, sol.V, sol.R)
        return sol.z

    @staticmethod
    def backward(ctx, grad_z: Tensor) -> tuple[Tensor, Tensor, None]:
        if torch.is_grad_enabled():  # create_graph=True: a gradient of this gradient
            raise RuntimeError("MonDEQLayer's implicit gradient is not itself differentiable: "
                               "second derivatives (create_graph=True) are not supported")
        H, z, V, R = ctx.saved_tensors
        layer: MonDEQLayer = ctx.layer
        lu: FreeSetLU | None = ctx.lu
        free = z > 0
        if lu is not None and bool((lu.free == free).all()):
            lam = lu.solve(grad_z.masked_fill(~free, 0.0), adjoint=True)
            used, it, worst = "lu", 0, None
        else:
            lam, it, worst = adjoint_pr(H, V, R, free, grad_z, alpha=layer.alpha, tol=ctx.tol,
                                        max_iter=layer.max_iter_adjoint,
                                        schedule=layer._schedules[1])
            if not worst <= ctx.tol:
                raise ConvergenceError(
                    f"MonDEQLayer backward did not converge: relative residual {worst:.3e} "
                    f"> tol {ctx.tol:.1e} after {it} iterations", None)  # type: ignore[arg-type]
            used = f"pr ({it} iterations)"
        if layer.stats is not None:
            layer.stats.backward = used
            layer.stats.backward_iterations, layer.stats.backward_residual = it, worst
        return -(lam.T @ z), lam, None


class _MonotoneH(torch.autograd.Function):
    """``H = mI + AᵀA - S + Sᵀ``, its gradient in one matrix product:
    ``∂L/∂A = A(G + Gᵀ)``, ``∂L/∂S = Gᵀ - G`` for ``G = ∂L/∂H`` (autograd
    through ``A.T @ A`` would take two)."""

    @staticmethod
    def forward(ctx, A: Tensor, S: Tensor, margin: float) -> Tensor:
        ctx.save_for_backward(A)
        base = S.T - S
        base.diagonal().add_(margin)
        return torch.addmm(base, A.T, A)

    @staticmethod
    def backward(ctx, G: Tensor) -> tuple[Tensor, Tensor, None]:
        # differentiable operations: H's second derivatives come for free
        (A,) = ctx.saved_tensors
        sym = G + G.T
        # Gᵀ - G as sym - 2G: one read of G transposed, not two (41 → 13 µs at 200)
        return A @ sym, torch.add(sym, G, alpha=-2.0), None


def _check_dtype(dtype: torch.dtype) -> None:
    # the resolvent's LU and the free-set factorisations exist in these only
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"MonDEQLayer needs dtype float32 or float64, got {dtype}")


@torch.compiler.disable
def _refuse_non_finite(x: Tensor, q: Tensor, H: Tensor) -> None:
    # host syncs on the data: outside what torch.compile traces, like the solver.
    # q = Ux + c and H carry the input and every parameter the solve reads, so
    # two sums of (batch, hidden) and (hidden, hidden) entries check them all
    if not all_finite(q):
        if not all_finite(x):
            raise ValueError("input contains NaN or inf")
        raise ValueError("Ux + c is not finite: U or c contain NaN or inf, or it overflows")
    if not all_finite(H):
        raise ValueError("H = mI + AᵀA - S + Sᵀ is not finite: A or S contain NaN or inf, "
                         "or AᵀA overflows")


@torch.compiler.disable
def _equilibrium(H: Tensor, q: Tensor, layer: MonDEQLayer) -> Tensor:
    # data-dependent loops and host syncs: the solver runs eagerly under torch.compile
    return _Equilibrium.apply(H, q, layer)


class MonDEQLayer(nn.Module):
    """A ReLU monDEQ ``z = ReLU(W z + U x + c)``, ``y = W_out z + d`` (see the module docstring).

    Parameters
    ----------
    in_features, hidden, out_features:
        sizes of ``x``, ``z`` and ``y``.
    margin:
        the monotonicity margin ``m > 0`` (kernel units).
    solver:
        ``"auto"``, ``"pr"`` or ``"active_set"`` (the forward's method).
    tol:
        relative residual bound (default: set by the dtype and solver).
    backward_tol:
        the adjoint's relative residual bound when PR solves it (default:
        ``tol``), like torchdeq's ``b_tol`` next to its ``f_tol``.
    max_iter:
        PR iterations (``"pr"``) or active-set steps (others).
    alpha:
        the Peaceman–Rachford step (kernel units; the reference's default 1).
    dtype, device:
        of the parameters (default: torch's default dtype, the CPU).
    """

    def __init__(
        self,
        in_features: int,
        hidden: int,
        out_features: int,
        *,
        margin: float = 0.5,
        solver: str = "auto",
        tol: float | None = None,
        backward_tol: float | None = None,
        max_iter: int | None = None,
        alpha: float = 1.0,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        for name, size in (("in_features", in_features), ("hidden", hidden),
                           ("out_features", out_features)):
            if not (isinstance(size, numbers.Integral) and size >= 1):
                raise ValueError(f"{name} must be a positive integer, got {size!r}")
        if not margin > 0:
            raise ValueError(f"margin must be > 0, got {margin}")
        if solver not in SOLVERS:
            raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
        for name, value in (("tol", tol), ("backward_tol", backward_tol)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value}")
        if not (math.isfinite(alpha) and alpha > 0):
            raise ValueError(f"alpha must be a finite step > 0, got {alpha}")
        dtype = dtype or torch.get_default_dtype()
        _check_dtype(dtype)
        self.margin, self.solver, self.tol, self.alpha = float(margin), solver, tol, float(alpha)
        self.backward_tol = backward_tol
        self.max_iter = int(max_iter) if max_iter is not None else (
            2000 if solver == "pr" else 50)
        self.max_iter_adjoint = max(self.max_iter, 2000)
        g = generator
        scale = hidden ** -0.5

        def rand(*shape: int) -> Tensor:
            return torch.randn(*shape, generator=g, dtype=dtype).to(device)

        self.A = nn.Parameter(rand(hidden, hidden) * scale * 0.5)
        self.S = nn.Parameter(rand(hidden, hidden) * scale * 0.1)
        self.U = nn.Parameter(rand(hidden, in_features) * in_features ** -0.5)
        self.c = nn.Parameter(torch.zeros(hidden, dtype=dtype, device=device))
        self.W_out = nn.Parameter(rand(out_features, hidden) * scale)
        self.d = nn.Parameter(torch.zeros(out_features, dtype=dtype, device=device))
        self.stats: SolverStats | None = None
        # when the forward and the adjoint PR test their residuals, learnt call by call
        self._schedules = (CheckSchedule(), CheckSchedule())
        #: how many times ``(I + αH)⁻¹`` was formed: once per distinct ``H``
        #: (parameters and ``alpha``), kept for every later call on the same one
        self.inverses = 0
        self._inverse: tuple[Tensor, float, Tensor] | None = None

    def _kept_inverse(self, H: Tensor) -> Tensor | None:
        """The kept ``(I + αH)⁻¹`` if it was formed for this very ``H`` and ``α``
        (and not under ``torch.inference_mode()`` unless that is on now: autograd
        may not save an inference tensor, so a training step after a validation
        pass makes its own)."""
        kept = self._inverse
        if (kept is None or kept[1] != self.alpha or kept[0].shape != H.shape
                or kept[0].dtype != H.dtype or kept[0].device != H.device
                or (kept[2].is_inference() and not torch.is_inference_mode_enabled())
                or not torch.equal(kept[0], H)):
            return None
        return kept[2]

    def _keep_inverse(self, H: Tensor, V: Tensor) -> None:
        if self._inverse is None or self._inverse[2] is not V:
            self._inverse = (H.clone(), self.alpha, V)
            self.inverses += 1

    def tolerance(self, dtype: torch.dtype) -> float:
        """The relative residual bound used for ``dtype``."""
        if self.tol is not None:
            return self.tol
        eps = torch.finfo(dtype).eps
        return 1e3 * eps if self.solver == "active_set" else math.sqrt(eps)

    def backward_tolerance(self, dtype: torch.dtype) -> float:
        """The adjoint's relative residual bound used for ``dtype``."""
        return self.backward_tol if self.backward_tol is not None else self.tolerance(dtype)

    def H(self) -> Tensor:
        """``I - W = mI + AᵀA - S + Sᵀ``."""
        return _MonotoneH.apply(self.A, self.S, self.margin)

    def W(self) -> Tensor:
        """``W = (1 - m)I - AᵀA + S - Sᵀ`` (the monDEQ's recurrent weight)."""
        n = self.A.shape[0]
        return torch.eye(n, dtype=self.A.dtype, device=self.A.device) - self.H()

    def equilibrium(self, x: Tensor) -> Tensor:
        """The hidden state ``z``: (batch, hidden), or (hidden,) for an unbatched ``x``."""
        _check_dtype(self.U.dtype)  # also after a .half() or .to(torch.bfloat16)
        x = torch.as_tensor(x, device=self.U.device)
        if not x.is_floating_point():
            x = x.to(self.U.dtype)
        single = x.ndim == 1
        if single:
            x = x.unsqueeze(0)
        if x.ndim != 2 or x.shape[1] != self.U.shape[1]:
            raise ValueError(f"expected input (batch, {self.U.shape[1]}), got {tuple(x.shape)}")
        if x.is_floating_point() and x.dtype != self.U.dtype:  # as nn.Linear refuses it
            raise ValueError(f"input dtype {x.dtype} is not the layer's {self.U.dtype}; "
                             "convert one (x.to(...) or layer.to(...))")
        q = F.linear(x.to(self.U.dtype), self.U, self.c)
        H = self.H()
        _refuse_non_finite(x, q, H)
        z = _equilibrium(H, q, self)
        return z.squeeze(0) if single else z

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(self.equilibrium(x), self.W_out, self.d)

    def to_kernel(self) -> Kernel:
        """The kernel ``0 ∈ Hz + N₊(z) + Bu + b``, ``y = -Cz - Du - d`` of this layer
        (same dtype and device as the parameters)."""
        with torch.no_grad():
            m = self.U.shape[1]
            dev = self.U.device
            return Kernel(self.H(), -self.U, -self.W_out,
                          torch.zeros(self.W_out.shape[0], m, dtype=self.U.dtype, device=dev),
                          b=-self.c, d=-self.d, dtype=self.U.dtype, device=dev,
                          monotone_tol=1e-6 if self.U.dtype == torch.float32 else 1e-10)

    def to_circuit(self, **kwargs: Any) -> Circuit:
        """A resistor/transformer/gyrator/diode circuit realising this layer
        (``diodenet.kernels.realize``); its inputs are ``vu1..``, outputs ``y1..``.
        Kernel units are taken as siemens (α = 1 Ω)."""
        from ..kernels.realize import realize

        return realize(self.to_kernel().to("cpu", torch.float64), **kwargs)

    def extra_repr(self) -> str:
        tol = self.tolerance(self.A.dtype)
        backward = ("" if self.backward_tol is None
                    else f", backward_tol={self.backward_tol:.1e}")
        return (f"in_features={self.U.shape[1]}, hidden={self.A.shape[0]}, "
                f"out_features={self.W_out.shape[0]}, margin={self.margin:g}, "
                f"solver={self.solver!r}, tol={tol:.1e}{backward}, dtype={self.A.dtype}")
