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
steps. On other kernels (diodes in both orientations, gyrators) plain steps
can cycle: for ideal diodes the steps become block principal pivots with
Murty's least-index safeguard (``_pivots``, with Lemke's method supplying
the pieces where the least-index flips would crawl), which end in finitely
many steps whenever ``sym(H) ≻ 0``; for other elements a sample whose residual
does not decrease is moved on by ``fallback`` Peaceman–Rachford iterations
from its best point, then Newton resumes.

A warm start (``_starts``) first brings most samples to their final active
set, so usually one factorisation per sample finishes the job: projected Gauss–Seidel
(``gauss_seidel``; O(nnz) sweeps, for symmetric ``H`` and PWL elements on the
CPU) or else Peaceman–Rachford (matrix products, run until the pieces stop
changing). Where each exact step is cheap (``H`` diagonal plus low rank,
``kernels.low_rank``, or at most ``SMALL`` elements) no PR warm start is run;
an ideal-diode resistor network (an M-matrix) then starts from a few
projected Jacobi sweeps, ``z ← max(0, z - diag(H)⁻¹(Hz + q))``, until the
conducting set stops changing (measured on digits and MNIST networks: 2 to 5
sweeps, after which one Newton step finishes, against 2 to 3 from ``z = 0``;
at 32 elements they replace a PR warm start of about 2.5 ms per batch).
On the CPU each sample's free block is gathered once and factored
by LAPACK (dense) or SuperLU (sparse), whichever the cost model of
``_factor`` prefers; elsewhere (GPU) a batched, padded factorisation runs.

The same steps apply to smooth elements (``d`` in (0, 1), the tangent of the
resolvent), so the method also serves kernels that mix diodes kinds; for
those it stops at ``tol`` instead of at an exact active set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..kernels.residuals import worst
from ._common import (
    check_z0,
    equilibrium_transpose,
    ideal_segments,
    pieces,
    positive_int,
    positive_step,
    segments,
)
from ._factor import SMALL, gauss_seidel_pays, layout_of, solve_switched
from ._pivots import Pivots
from ._starts import ActiveSetStarts, ActiveSetState, recall, remember
from .base import SolverState
from .gauss_seidel import is_symmetric, pgs_state
from .peaceman_rachford import pr_iterate

if TYPE_CHECKING:
    from ..kernels.kernel import Kernel


def is_m_matrix(kernel: Kernel) -> bool:
    """``H`` symmetric with no positive off-diagonal entry (cached): a resistor network."""

    facts = kernel.entry_facts()
    return bool(facts["symmetric"] and facts["off_nonpositive"])


class ActiveSet(ActiveSetStarts):
    """Semismooth Newton / primal–dual active set (see the module docstring).

    Options: ``alpha`` (ohms, the step that classifies the pieces; default
    ``kernel.natural_step()``), ``warm_start`` (at most this many PR iterations
    before the first Newton step, default 500; 0 turns it off), ``settled``
    (the warm start ends once at most this fraction of samples changed a piece
    over 5 PR iterations, default 0.05), ``fallback`` (PR iterations
    when a sample stalls, default 50), ``patience`` (Newton steps without a
    new best residual that count as a stall, default 3); the last two do not
    apply where ideal diodes pivot (a kernel that is not an M-matrix, see
    ``_pivots``).
    ``max_iter`` bounds the Newton steps (default 50, or ``4n`` where that is
    more when the steps pivot: single pivots may need a few steps per element). The iteration
    count returned is Newton steps plus PR steps.

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
        self.steps_given = max_iter is not None
        self.max_iter = positive_int(50 if max_iter is None else max_iter, "max_iter")

    def _init(self, kernel: Kernel) -> ActiveSetState:
        alpha = self.alpha if self.alpha is not None else kernel.natural_step()
        pgs = None
        jacobi = self._jacobi_applies(kernel)
        # on a dense kernel PR's matrix products are the cheaper iteration; with
        # cheap exact steps, or the Jacobi start, there is no warm start to build
        if kernel.device.type == "cpu" and not self._cheap_steps(kernel) and not jacobi and \
                kernel.piecewise_linear and kernel.n and is_symmetric(kernel) and \
                gauss_seidel_pays(layout_of(kernel)):
            try:
                pgs = pgs_state(kernel, self.name)
            except ValueError:  # an element PGS cannot take, or a zero diagonal
                pgs = None
        return ActiveSetState(alpha=alpha, pgs=pgs, jacobi=jacobi)

    def _cheap_steps(self, kernel: Kernel) -> bool:
        """Exact steps on a diagonal-plus-low-rank ``H`` cost a few PR iterations
        each, so no PR or Gauss–Seidel warm start precedes them (measured on
        MNIST-size kernels: 40 % faster); they start from Jacobi sweeps where
        ``_jacobi_applies``, else from ``z = 0``."""
        return self.exact and kernel.low_rank() is not None

    def _jacobi_applies(self, kernel: Kernel) -> bool:
        """Whether exact steps start from projected Jacobi sweeps: ideal diodes on
        an M-matrix with a positive diagonal (where the sweeps converge), and
        steps cheap enough that PR or Gauss–Seidel would cost more than they
        save (a diagonal-plus-low-rank ``H``, or at most ``SMALL`` elements, one
        batched solve)."""
        return self.exact and kernel.all_ideal and kernel.n > 0 and \
            (kernel.n <= SMALL or kernel.low_rank() is not None) and \
            is_m_matrix(kernel) and bool(kernel.entry_facts()["diagonal_positive"])

    def newton_step(
        self, state: ActiveSetState, kernel: Kernel, z: Tensor, q: Tensor,
        memory: dict | None = None, free: Tensor | None = None, rows: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """One active-set step from ``z`` (batch, n): the equilibrium on ``z``'s pieces,
        the pieces' slopes it used, the natural residual of every element at
        ``z`` (``Segments``)
        and, where the solve formed it, the answer's product with ``H`` (else
        ``None``). ``memory`` counts the sparse factorisations. ``free``: for
        ideal diodes, the pieces to solve on if the caller knows them (the
        Jacobi sweeps' repeated set); the residual at ``z`` is then not
        measured (inf). ``rows``: a bool mask of the samples of the batch that
        ``z`` holds (``None``: all of it), so that their factors join the
        batch's (``kept_factors``)."""
        if free is not None and kernel.all_ideal:
            seg = ideal_segments(free, torch.full_like(q, torch.inf), z)
        else:
            seg = segments(kernel, z, q, state.alpha)
        # H_FN z_N: the clamped elements act as fixed sources on the free ones
        rhs = seg.source - q
        if not kernel.all_ideal:
            rhs = rhs - kernel.apply_H(seg.clamp)
        applied: dict = {}
        z_free = solve_switched(kernel, seg.free, seg.g, rhs, memory=memory, applied=applied,
                                rows=rows)
        Hz = applied.get("Hx")
        if Hz is not None and kernel.all_ideal:
            # g = 0 and the clamped z are 0: the Woodbury route's answer (0 off the
            # free set) is the step's, and its self-check formed that answer's x Hᵀ
            return z_free, seg.slope, seg.natural, Hz
        return torch.where(seg.free, z_free, seg.clamp), seg.slope, seg.natural, None

    def _compute(
        self, solver_state: SolverState, kernel: Kernel, u: Tensor, z0: Tensor | None
    ) -> tuple[Tensor, int]:
        state: ActiveSetState = solver_state.data
        memory = solver_state.memory
        q = kernel.rhs(u)
        batch = u.shape[0]
        z = check_z0(kernel, z0, batch)
        # from any start the steps end on an M-matrix; elsewhere (gyrators, ports with a
        # zero margin) a recalled start can cycle, so only resistor networks recall
        recalled = recall(memory, q) if z is None and is_m_matrix(kernel) else None
        iterations = 0
        start = ""
        done = torch.zeros(batch, dtype=torch.bool, device=q.device)
        cold = torch.ones_like(done) if recalled is None else ~recalled
        jacobi = z is None and self.warm_start > 0 and state.jacobi
        if self.warm_start > 0 and (z0 is None or not self.exact) and bool(cold.any()) \
                and not self._cheap_steps(kernel) and not jacobi:
            idx = torch.nonzero(cold).squeeze(1)
            zc = None if z is None else z[idx]
            if state.pgs is not None:
                zc, iterations, met = self._gauss_seidel_start(state, kernel, q[idx], zc)
                start = "pgs"
                if not self.exact:
                    done[idx] = met
            else:
                zc, iterations, converged = self._warm_start(
                    state, kernel, u[idx], q[idx], torch.zeros_like(q[idx]) if zc is None else zc
                )
                start = "pr"
                if converged and recalled is None:
                    memory["method"] = "pr" if not self.exact else self.name
                    remember(memory, q, zc)
                    return zc, iterations
                done[idx] = converged
            if z is None:
                z = torch.zeros_like(q)
            z[idx] = zc
        if recalled is not None:
            if z is None:
                z = torch.zeros_like(q)
            z[recalled] = memory["z"][recalled]
        free0 = None
        if jacobi:
            # from the recalled answers, where there are some: after a re-programming
            # their pieces are a few flips off, which the sweeps correct (measured on
            # layered networks: one exact step per batch, against 1.4-1.8 from the
            # recalled answers alone)
            z, free0 = self._jacobi_start(kernel, q, z)
        if z is None:
            z = torch.zeros_like(q)
        z, steps, used = self._newton(state, kernel, u, q, z, done, memory, free0)
        remember(memory, q, z)
        if self.exact:
            memory["method"] = self.name
        else:
            memory["method"] = "+".join(
                ([start] if start else []) + (["active_set"] if steps else [])
            ) or self.name
        return z, iterations + used

    def _newton(
        self, state: ActiveSetState, kernel: Kernel, u: Tensor, q: Tensor, z: Tensor,
        done: Tensor, memory: dict, free0: Tensor | None = None,
    ) -> tuple[Tensor, int, int]:
        """Active-set steps on the samples not ``done``: ``(z, steps, iterations)``.
        ``free0``: the first step's pieces for every sample, if known (see
        ``newton_step``); the start's residual is then taken as inf, so the
        first step's answer is the best so far."""
        batch = u.shape[0]
        exact_pieces = kernel.piecewise_linear
        # at the natural step, the natural residual of set-valued elements is
        # Kernel.element_residual
        cheap_residual = not kernel.any_smooth and (
            state.alpha == kernel.natural_step()
        )
        best_z = z.clone()
        # the best point's residual in amperes (progress is judged on it, as the stall
        # rescue was tuned: the ratio of a high-impedance element can rise while
        # Newton steps on a smooth element make steady progress), and as a multiple
        # of what it may keep (tolerance_ratio; handed on to Kernel.solve)
        best_res = torch.zeros(batch, dtype=q.dtype, device=q.device)
        best = torch.zeros_like(best_res)
        todo = torch.nonzero(~done).squeeze(1)
        # the start's residual: the first step's segments hold it when it is natural
        from_first_step = todo.numel() == batch and cheap_residual
        if free0 is not None:  # the first step's answer is the best so far
            best, best_res = torch.full_like(best, torch.inf), torch.full_like(best, torch.inf)
            from_first_step = False
        elif todo.numel() == batch and not cheap_residual:
            r = kernel.element_residual(z, u, q)
            best, best_res = self.tolerance_ratio(kernel, z, q, r), worst(r)
        elif todo.numel() and not from_first_step:
            zt, qt = z[todo], q[todo]
            r = kernel.element_residual(zt, u[todo], qt)
            best[todo], best_res[todo] = self.tolerance_ratio(kernel, zt, qt, r), worst(r)
        # consecutive Newton steps without a new best residual, per sample
        stall = torch.zeros(batch, dtype=torch.int64, device=q.device)
        last = torch.full_like(best, torch.inf)  # the last step's ratio (smooth elements)
        steps = iterations = 0
        # on an M-matrix (a resistor network) the steps end in finitely many, at most
        # n, though the residual may rise on the way: no stall rescue is needed
        m_matrix = is_m_matrix(kernel)
        patience = max(self.patience, kernel.n + 1) if m_matrix else self.patience
        # ideal diodes on any other kernel: block pivots with Murty's safeguard
        # (``_pivots``), finite where PR's rescue can crawl; PR stays for the rest
        pivots = Pivots(kernel.H, q) if kernel.all_ideal and not m_matrix \
            else None
        max_steps = self.max_iter
        if pivots is not None:
            if not self.steps_given:  # single pivots may need a few steps per element
                max_steps = max(max_steps, 4 * kernel.n)
            patience = max_steps + 1
        for _ in range(max_steps):
            act = torch.nonzero(~done).squeeze(1)
            if act.numel() == 0:
                break
            steps += 1
            iterations += 1
            whole = act.numel() == batch  # the usual first step: views, not gathers
            za, qa = (z, q) if whole else (z[act], q[act])
            free = free0 if whole and steps == 1 else None
            if pivots is not None and pivots.free is not None:
                free = pivots.free if whole else pivots.free[act]
            z_new, before, start_r, Hz = self.newton_step(
                state, kernel, za, qa, memory, free, None if whole else ~done)
            if from_first_step:
                best, best_res = self.tolerance_ratio(kernel, za, qa, start_r), worst(start_r)
                from_first_step = False
            after, natural = pieces(kernel, z_new, qa, state.alpha, Hz)
            r_new = natural if cheap_residual else kernel.element_residual(
                z_new, u if whole else u[act], qa)
            now, res_new = self.tolerance_ratio(kernel, z_new, qa, r_new), worst(r_new)
            finished = now <= 1e-3
            if not self.exact:
                finished |= now <= 1.0
            if exact_pieces:
                # same pieces at the new point: the piecewise-affine solve was exact
                finished |= (before == after).all(dim=1)
            else:
                # within tol, a step that did not lower the ratio has met the floor of
                # the tangents (taken through σ_α at the stiffest element's step α, they
                # hold a high-impedance smooth element to ~ε/(α H_kk), not to ε)
                finished |= (now <= 1.0) & (now >= (last if whole else last[act]))
                if whole:
                    last = now
                else:
                    last[act] = now
            if pivots is not None:
                # a piece within round-off of its knee is right either way: were it
                # counted, the least-index rule could flip it back and forth for ever
                w = kernel.apply_H(z_new).add_(qa)
                knee = torch.sub(z_new, w, alpha=state.alpha).abs() <= state.alpha * max(
                    self.tol, 1e3 * torch.finfo(q.dtype).eps) * kernel.element_scale(z_new, qa)
                finished |= pivots.next(act, whole, before > 0, after > 0, knee)
            # the residual of active-set steps need not fall monotonically, so
            # only a run of `patience` steps without a new best counts as a stall
            if whole:  # every sample stepped: whole tensors, no scatters
                improved = (res_new < best_res) | finished
                best_z = torch.where(improved[:, None], z_new, best_z)
                best = torch.where(improved, now, best)
                best_res = torch.where(improved, res_new, best_res)
                done, z = finished, z_new
                stall = torch.where(improved, 0, stall + 1)
                stalled = torch.nonzero(stall >= patience).squeeze(1)
            else:
                improved = (res_new < best_res[act]) | finished
                best_z[act] = torch.where(improved[:, None], z_new, best_z[act])
                best[act] = torch.where(improved, now, best[act])
                best_res[act] = torch.where(improved, res_new, best_res[act])
                done[act] = finished
                z[act] = z_new
                stall[act] = torch.where(improved, 0, stall[act] + 1)
                stalled = act[stall[act] >= patience]
            if stalled.numel() > 0:
                # cycling or stagnation: move on with PR, which converges for m > 0
                q_stalled = q[stalled]

                def stalled_ratio(z: Tensor, r: Tensor, qs: Tensor = q_stalled) -> Tensor:
                    return self.tolerance_ratio(kernel, z, qs, r)

                zs, _, used = pr_iterate(
                    state.pr(kernel), kernel, u[stalled], q_stalled, best_z[stalled],
                    max_iter=self.fallback, check_every=self.fallback, ratio=stalled_ratio,
                )
                iterations += used
                z[stalled] = zs
                stall[stalled] = 0
        if cheap_residual and todo.numel() == batch:
            # best_res is the natural residual of every sample of best_z (Kernel.residual)
            # and best its tolerance ratio: Kernel.solve need not compute them again
            memory["residual"] = (best_z, best_res, best)
        return best_z, steps, iterations

    def _transpose(
        self, state: ActiveSetState, kernel: Kernel, z: Tensor, v: Tensor, u: Tensor | None
    ) -> Tensor:
        """``(∂z/∂q)ᵀ v = -(H_FFᵀ + G)⁻¹ v_F`` on the free set, 0 on the clamped one.

        ``z`` is an equilibrium (batch, n); pass ``u`` to read the pieces from
        ``x = z - α(Hz + q)`` (exact), else they are read from ``z`` alone.
        """
        return equilibrium_transpose(kernel, z, v, u, state.alpha)
