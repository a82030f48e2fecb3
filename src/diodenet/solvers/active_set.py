"""Primal–dual active set: the exact solver for piecewise-linear elements.

For ideal diodes the kernel equation is the linear complementarity problem
``w = Hz + q ≥ 0, z ≥ 0, zᵀw = 0``. The method is semismooth Newton on the
natural map ``R(z) = z - σ_α(z - α(Hz + q))``: at the current ``z`` every
element's resolvent is on one affine piece ``σ_α(x) = d x + c``
(``_common.Segments``), and the Newton step solves the kernel equation with
those pieces held fixed:

    clamped elements (d = 0):  z_k = c_k                (a blocking diode: z_k = 0)
    free elements (d > 0):     (H_FF + G) z_F = c_F/(d_F α) - q_F - H_FN z_N

i.e. one solve on the conducting set ``F`` only (``G`` holds the segments'
conductances, ``1/ron`` for a conducting PWL diode). If the pieces at the new
``z`` are those used, ``z`` solves the kernel equation exactly (to round-off),
and the sample is done. For M-matrices (resistor networks) this ends in a few
steps; for general monotone ``H`` (gyrators) active-set steps can cycle, so a
sample whose residual does not decrease is moved on by ``fallback``
Peaceman–Rachford iterations from its best point, then Newton resumes.

A Peaceman–Rachford warm start (cheap matrix products, run until the pieces
stop changing) first brings most samples to their final active set, so
usually one factorisation per sample finishes the job.

The same steps apply to smooth elements (``d`` in (0, 1), the tangent of the
resolvent), so the method also serves kernels that mix diodes kinds; for
those it stops at ``tol`` instead of at an exact active set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ._common import (
    check_z0,
    equilibrium_transpose,
    pieces,
    positive_int,
    positive_step,
    segments,
    solve_reduced,
    spectrum,
)
from .base import EquilibriumSolver, SolverState
from .peaceman_rachford import (
    PRState,
    StepAdapter,
    pr_blocks,
    pr_iterate,
    pr_state,
    pr_step,
)

if TYPE_CHECKING:
    from ..kernels.kernel import Kernel


@dataclass
class ActiveSetState:
    alpha: float  # classification step (ohms)
    symmetric: bool
    pr: PRState


def newton_cost(kernel: Kernel, free: Tensor) -> float:
    """Estimated cost of one active-set step, in PR iterations (both per sample).

    A PR iteration is a matrix product, ``2n²`` flops at full speed; the step
    factorises ``H_FF`` (``|F|³/3`` flops), and batched small factorisations
    run ~15× below matrix-product speed on CPUs (measured: ~3 vs ~45 GFLOP/s
    per core at n = 200). Hence ``2.5 |F|³/n²``, plus a fixed overhead.
    """
    n = max(kernel.n, 1)
    k = free.to(torch.float64).sum(dim=1)
    return 20.0 + 2.5 * float((k**3).mean()) / n**2


class ActiveSet(EquilibriumSolver):
    """Semismooth Newton / primal–dual active set (see the module docstring).

    Options: ``alpha`` (ohms, the step that classifies the pieces; default
    ``kernel.natural_step()``), ``warm_start`` (at most this many PR iterations
    before the first Newton step, default 500; 0 turns it off), ``settled``
    (the warm start ends once at most this fraction of samples changed a piece
    over 5 PR iterations, default 0.05), ``fallback`` (PR iterations
    when a sample stalls, default 50), ``patience`` (Newton steps without a
    new best residual that count as a stall, default 3). ``max_iter`` bounds the Newton steps
    (default 50). The iteration count returned is Newton steps plus PR steps.

    ``exact=False`` makes it a faster hybrid that stops at ``tol``:
    Peaceman–Rachford, switching to the exact active-set steps only when PR has
    spent as much as they are estimated to cost (see ``_warm_start``; the
    default ``warm_start`` cap is then 100000).
    """

    name = "active_set"

    def __init__(
        self,
        *,
        tol: float = 1e-10,
        atol: float = 0.0,
        max_iter: int | None = None,
        alpha: float | None = None,
        warm_start: int | None = None,
        settled: float = 0.05,
        fallback: int = 50,
        patience: int = 3,
        exact: bool = True,
    ) -> None:
        super().__init__(tol=tol, atol=atol, max_iter=max_iter)
        self.alpha = positive_step(alpha, "alpha")
        self.exact = bool(exact)
        if warm_start is None:
            # without exactness PR is the main solver, so its cap is large
            warm_start = 500 if self.exact else 100_000
        if isinstance(warm_start, bool) or not isinstance(warm_start, int) or warm_start < 0:
            raise ValueError(f"warm_start must be an integer >= 0, got {warm_start!r}")
        self.warm_start = warm_start
        if not 0.0 <= float(settled) <= 1.0:
            raise ValueError(f"settled must be a fraction in [0, 1], got {settled!r}")
        self.settled = float(settled)
        self.fallback = positive_int(fallback, "fallback")
        self.patience = positive_int(patience, "patience")
        if not self.exact:
            self.name = "active_set(exact=False)"
        self.max_iter = positive_int(50 if max_iter is None else max_iter, "max_iter")

    def _init(self, kernel: Kernel) -> ActiveSetState:
        alpha = self.alpha if self.alpha is not None else kernel.natural_step()
        spec = spectrum(kernel)
        return ActiveSetState(
            alpha=alpha, symmetric=spec.symmetric, pr=pr_state(kernel, pr_step(kernel))
        )

    def newton_step(self, state: ActiveSetState, kernel: Kernel, z: Tensor, q: Tensor) -> Tensor:
        """One active-set step from ``z`` (batch, n): the equilibrium on ``z``'s pieces."""
        seg = segments(kernel, z, q, state.alpha)
        # H_FN z_N: the clamped elements act as fixed sources on the free ones
        rhs = seg.source - q - seg.clamp @ kernel.H.T
        z_free = solve_reduced(kernel.H, seg.free, seg.g, rhs, symmetric=state.symmetric)
        return torch.where(seg.free, z_free, seg.clamp)

    def _warm_start(
        self, state: ActiveSetState, kernel: Kernel, u: Tensor, q: Tensor, z: Tensor
    ) -> tuple[Tensor, int, bool]:
        """PR until the pieces settle; returns ``(z, iterations, converged)``.

        Checked every 5 iterations; the PR step is re-picked once the free sets
        settle (``StepAdapter``). In exact mode it stops once no more than
        ``settled`` of the samples changed a piece over the last block (their
        Newton step will then most likely be exact), or every sample meets
        ``tol``, or it has cost as much as a Newton step (``newton_cost``), or
        after ``warm_start`` iterations. In ``exact=False`` mode it is the main solver: it returns
        as soon as every sample meets ``tol``, and hands over to Newton only
        once the PR iterations spent exceed the estimated cost of the exact
        finish (``newton_cost``) and the pieces have settled, or twice that
        regardless (the ski-rental rule: the total stays within a small factor,
        about 2-3×, of the cheaper of the two routes).
        """
        block = min(5, self.warm_start)
        last = pieces(kernel, z, q, state.alpha)[0]
        it = 0
        budget = newton_cost(kernel, last > 0)
        # Kernel.residual is the natural residual at the natural step for set-valued
        # elements: then the segments' own product w = Hz + q serves for both
        cheap_residual = not any(e.smooth for e in kernel.elements) and (
            state.alpha == kernel.natural_step()
        )
        adapter = StepAdapter(kernel, True)
        pr = state.pr
        blocks = pr_blocks(pr, kernel, q, z, block)
        while True:
            z = next(blocks)
            it += block
            slope, natural = pieces(kernel, z, q, state.alpha)
            changed = float((slope != last).any(dim=1).to(q.dtype).mean())
            last = slope
            budget = newton_cost(kernel, slope > 0)  # the free sets grow from z = 0
            new_pr = adapter.update(kernel, pr, slope > 0)
            if new_pr is not None:
                pr = new_pr
                blocks = pr_blocks(pr, kernel, q, z, block)
            res = natural if cheap_residual else kernel.residual(z, u)
            met = bool((res <= self.threshold(kernel, z, q)).all())
            if not self.exact:
                if met:
                    return z, it, True
                if (it >= budget and changed <= self.settled) or it >= 2 * budget:
                    break
            # exact mode: the pieces are (nearly) final once they stop changing, or
            # once PR meets tol; what is left is round-off flips at degenerate knees
            elif changed <= self.settled or met or it >= budget:
                break
            if it >= self.warm_start:
                break
        return z, it, False

    def _compute(
        self, solver_state: SolverState, kernel: Kernel, u: Tensor, z0: Tensor | None
    ) -> tuple[Tensor, int]:
        state: ActiveSetState = solver_state.data
        q = kernel.rhs(u)
        batch = u.shape[0]
        z = check_z0(kernel, z0, batch)
        iterations = 0
        if z is None:
            z = torch.zeros_like(q)
        if self.warm_start > 0 and (z0 is None or not self.exact):
            z, iterations, converged = self._warm_start(state, kernel, u, q, z)
            if converged:
                return z, iterations
        exact_pieces = kernel.piecewise_linear
        best_z = z.clone()
        best_res = kernel.residual(z, u)
        done = torch.zeros(batch, dtype=torch.bool, device=q.device)
        # consecutive Newton steps without a new best residual, per sample
        stall = torch.zeros(batch, dtype=torch.int64, device=q.device)
        for _ in range(self.max_iter):
            act = torch.nonzero(~done).squeeze(1)
            if act.numel() == 0:
                break
            iterations += 1
            za, qa, ua = z[act], q[act], u[act]
            z_new = self.newton_step(state, kernel, za, qa)
            res_new = kernel.residual(z_new, ua)
            limit = self.threshold(kernel, z_new, qa)
            finished = res_new <= 1e-3 * limit
            if not self.exact:
                finished |= res_new <= limit
            if exact_pieces:
                # same pieces at the new point: the piecewise-affine solve was exact
                before = segments(kernel, za, qa, state.alpha).slope
                after = segments(kernel, z_new, qa, state.alpha).slope
                finished |= (before == after).all(dim=1)
            improved = (res_new < best_res[act]) | finished
            best_z[act] = torch.where(improved[:, None], z_new, best_z[act])
            best_res[act] = torch.where(improved, res_new, best_res[act])
            done[act] = finished
            z[act] = z_new
            # the residual of active-set steps need not fall monotonically, so
            # only a run of `patience` steps without a new best counts as a stall
            stall[act] = torch.where(improved, 0, stall[act] + 1)
            stalled = act[stall[act] >= self.patience]
            if stalled.numel() > 0:
                # cycling or stagnation: move on with PR, which converges for m > 0
                q_stalled = q[stalled]

                def stalled_threshold(z: Tensor, qs: Tensor = q_stalled) -> Tensor:
                    return self.threshold(kernel, z, qs)

                zs, _, used = pr_iterate(
                    state.pr, kernel, u[stalled], q_stalled, best_z[stalled],
                    max_iter=self.fallback, check_every=self.fallback,
                    threshold=stalled_threshold,
                )
                iterations += used
                z[stalled] = zs
                stall[stalled] = 0
        return best_z, iterations

    def _transpose(
        self, state: ActiveSetState, kernel: Kernel, z: Tensor, v: Tensor, u: Tensor | None
    ) -> Tensor:
        """``(∂z/∂q)ᵀ v = -(H_FFᵀ + G)⁻¹ v_F`` on the free set, 0 on the clamped one.

        ``z`` is an equilibrium (batch, n); pass ``u`` to read the pieces from
        ``x = z - α(Hz + q)`` (exact), else they are read from ``z`` alone.
        """
        return equilibrium_transpose(kernel, z, v, u, state.alpha)
