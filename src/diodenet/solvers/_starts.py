"""The starts of the active set's exact steps, and what they keep between batches.

Each start brings most samples to their final conducting set, so that one
exact step (a factorisation per sample, or one batched Woodbury step)
usually finishes: the last batch's answer for the samples whose ``q`` hardly
moved (``recall``), projected Jacobi sweeps where exact steps are cheap
(``_jacobi_start``, from the recalled answers where there are some),
projected Gauss–Seidel within the exact step's cost (``_gauss_seidel_start``)
or Peaceman–Rachford until the pieces settle (``_warm_start``).
``ActiveSetStarts`` holds them for ``active_set.ActiveSet``, which picks one
(see its module docstring).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ._common import pieces
from ._factor import factor_cost, layout_of, sweep_cost
from .base import EquilibriumSolver
from .gauss_seidel import PGSState, run_pgs
from .peaceman_rachford import PRState, StepAdapter, pr_blocks, pr_state, pr_step

if TYPE_CHECKING:
    from ..kernels.kernel import Kernel


#: a sample whose q moved by at most this fraction since the last batch starts from
#: that batch's answer (its pieces are most likely still right)
RECALL = 0.05


def recall(memory: dict, q: Tensor) -> Tensor | None:
    """Samples of ``q`` (batch, n) close to the last batch's, as a bool mask, or ``None``.

    Training solves the same inputs again after a small change of the kernel
    (re-programmed conductances, a nudged output): the conducting sets then
    mostly stay, and the exact step from the last answer is usually final.
    The answer is checked exactly as from any other start. Used on M-matrices
    only (resistor networks), where the steps end from any start.
    """
    last = memory.get("q")
    if last is None or last.shape != q.shape or last.device != q.device or q.shape[1] == 0:
        return None
    bound = RECALL * memory["q_scale"]  # remember's, with q
    # a new batch (training's usual case) is told apart on one column: a sample
    # whose first entry moved more than the bound is not close
    if not bool(((q[:, 0] - last[:, 0]).abs() <= bound).any()):
        return None
    close = (q - last).abs().amax(dim=1) <= bound
    return close if bool(close.any()) else None


def remember(memory: dict, q: Tensor, z: Tensor) -> None:
    """Keep this batch's ``q`` and answer ``z`` for ``recall``."""
    memory["q"] = q.detach().clone()
    memory["q_scale"] = memory["q"].abs().amax(dim=1) if q.shape[1] else None
    memory["z"] = z.detach().clone()


#: the most projected Jacobi sweeps before the exact steps (``_jacobi_start``;
#: each costs one product with H, a small fraction of a step)
JACOBI_SWEEPS = 8


@dataclass
class ActiveSetState:
    alpha: float  # classification step (ohms)
    pgs: PGSState | None  # the Gauss–Seidel warm start, where it applies
    jacobi: bool  # exact steps start from Jacobi sweeps (``ActiveSet._jacobi_applies``)
    pr_data: PRState | None = None  # made on first use (it costs an n×n inverse)

    def pr(self, kernel: Kernel) -> PRState:
        if self.pr_data is None:
            self.pr_data = pr_state(kernel, pr_step(kernel))
        return self.pr_data


def newton_cost(kernel: Kernel, free: Tensor) -> float:
    """Estimated cost of one active-set step, in PR iterations (both per sample).

    A PR iteration is a matrix product, ``2n²`` flops at full speed; the step
    factorises ``H_FF`` (``|F|³/3`` flops), and batched small factorisations
    run ~15× below matrix-product speed on CPUs (measured: ~3 vs ~45 GFLOP/s
    per core at n = 200). Hence ``2.5 |F|³/n²``, plus a fixed overhead. With a
    diagonal-plus-low-rank ``H`` of rank ``r`` the step is ``O(|F| r²)`` instead.
    """
    n = max(kernel.n, 1)
    k = free.to(torch.float64).sum(dim=1)
    form = kernel.low_rank()
    if form is not None:  # a batched Woodbury step: a few (r, r) products per sample
        return 5.0 + 2.5 * form.rank**2 * float(k.mean()) / n**2
    return 20.0 + 2.5 * float((k**3).mean()) / n**2


class ActiveSetStarts(EquilibriumSolver):
    """The starts ``ActiveSet`` takes before its exact steps (its options:
    ``exact``, ``warm_start``, ``settled``, with the base's ``tol``/``atol``)."""

    exact: bool
    warm_start: int
    settled: float

    def _jacobi_start(self, kernel: Kernel, q: Tensor,
                      z: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Projected Jacobi sweeps ``z ← max(0, z - diag(H)⁻¹(Hz + q))`` from
        ``z`` (default 0) until the conducting set repeats (at most
        ``JACOBI_SWEEPS``); for the kernels of ``_jacobi_applies``. Returns
        ``z`` and its pieces ``z > 0`` (the blocking diodes, free in the exact
        step)."""
        inv_d = 1.0 / kernel.H.diagonal()
        if z is None:
            z = torch.clamp_min(-q * inv_d, 0.0)  # the first sweep, from z = 0
        else:
            z = torch.addcmul(z, kernel.apply_H(z).add_(q), inv_d, value=-1.0).clamp_min_(0.0)
        on = z > 0
        for _ in range(JACOBI_SWEEPS - 1):
            # through the low-rank form where the kernel has one: O(n r), not O(n²)
            z = torch.addcmul(z, kernel.apply_H(z).add_(q), inv_d, value=-1.0).clamp_min_(0.0)
            now = z > 0
            if torch.equal(now, on):
                break
            on = now
        return z, on

    def _gauss_seidel_start(
        self, state: ActiveSetState, kernel: Kernel, q: Tensor, z: Tensor | None
    ) -> tuple[Tensor, int, Tensor]:
        """Projected Gauss–Seidel within a budget: ``(z, sweeps, met)`` where ``met``
        flags the samples that reached the caller's tolerance.

        The budget is what the exact finish would cost (one factorisation of a
        block of about n/2, ``_factor.factor_cost``) in sweeps (``sweep_cost``):
        the exact mode spends at most that to land on the final pieces (to a
        residual of 1e-9 of each element's current scale); ``exact=False`` spends up to
        twice that on reaching ``tol`` itself (the ski-rental rule), and the
        samples still short of it get the exact finish.
        """
        layout = layout_of(kernel)
        assert state.pgs is not None
        budget = factor_cost(layout, max(kernel.n // 2, 1)) / sweep_cost(layout)
        if self.exact:
            tol, atol, cap = min(self.tol, 1e-9), self.atol, budget
        else:
            tol, atol, cap = self.tol, self.atol, 2.0 * budget
        cap = int(max(10, min(cap, self.warm_start)))
        # met against the sweeps' own tolerance: in exact mode one at least as tight
        z, sweeps, ratio = run_pgs(state.pgs, kernel, q, z, tol=tol, atol=atol, max_sweeps=cap)
        met = (ratio <= 1.0).to(q.device)
        return z, int(sweeps.max()) if sweeps.numel() else 0, met

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
        # Kernel.element_residual is the natural residual at the natural step for
        # set-valued elements: then the segments' own product w = Hz + q serves for both
        cheap_residual = not kernel.any_smooth and (
            state.alpha == kernel.natural_step()
        )
        adapter = StepAdapter(kernel, True)
        pr = state.pr(kernel)
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
            res = natural if cheap_residual else kernel.element_residual(z, u, q)
            met = bool((self.tolerance_ratio(kernel, z, q, res) <= 1.0).all())
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
