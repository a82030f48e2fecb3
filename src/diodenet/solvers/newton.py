"""Damped Newton for smooth elements (Shockley diodes), as SPICE solves ``.op``.

Solves ``G(z) = H z + F(z) + q = 0`` (KCL at every element's port, amperes)
with the Jacobian ``H + diag(F'(z))`` (``F'`` = each junction's small-signal
conductance). Each step is limited per element by ``element.limit`` (SPICE's
``pnjlim``: a forward junction voltage moves at most logarithmically, so the
exponential cannot overflow) and then damped: the step is halved until
``‖G‖₂`` decreases (at most ``backtrack`` halvings; when none decreases
the full limited step is taken, as SPICE does, so the iteration cannot stall).

Precondition: every element is smooth (``Nonlinearity.smooth``). Set-valued
elements (ideal or PWL diodes) have no Jacobian: use ``'active_set'`` or
``'auto'``, which covers mixed kernels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..kernels.resolvents import apply_grouped
from ._common import check_z0, positive_int, spectrum
from ._reduced import solve_reduced
from .base import EquilibriumSolver, SolverState

if TYPE_CHECKING:
    from ..kernels.kernel import Kernel


@dataclass
class NewtonState:
    symmetric: bool


def require_smooth(kernel: Kernel, method: str) -> None:
    """Raise ``ValueError`` naming the first element that is not smooth."""
    for k, e in enumerate(kernel.elements):
        if not e.smooth:
            label = kernel.element_names[k] if kernel.element_names else f"element {k}"
            raise ValueError(
                f"{method} needs smooth elements, but {label} is not smooth: {e!r} "
                f"({e.name}) is set-valued or piecewise linear; use method 'active_set' or 'auto'"
            )


def element_values(kernel: Kernel, z: Tensor) -> tuple[Tensor, Tensor]:
    """``F(z)`` and ``F'(z)`` (batch, n), one call per group of equal elements."""
    groups = kernel.element_groups()
    return apply_grouped(groups, "value", z), apply_grouped(groups, "derivative", z)


def limit(kernel: Kernel, z_new: Tensor, z_old: Tensor) -> Tensor:
    """Each element's Newton step limiting (``Nonlinearity.limit``)."""
    return apply_grouped(kernel.element_groups(), "limit", z_new, z_old)


class Newton(EquilibriumSolver):
    """Damped, junction-limited Newton (see the module docstring).

    Options: ``backtrack`` (halvings per step, default 8). ``max_iter``
    defaults to 200. Starts from ``z0`` or from ``z = 0`` (every junction
    unbiased). Convergence is tested every step, element by element: ``|G_k(z)|``
    against the tolerance on the element's current scale (``tolerance_ratio``).
    """

    name = "newton"

    def __init__(
        self, *, tol: float = 1e-10, atol: float = 0.0, max_iter: int | None = None,
        backtrack: int = 8,
    ) -> None:
        super().__init__(tol=tol, atol=atol, max_iter=max_iter)
        self.backtrack = positive_int(backtrack, "backtrack")
        self.max_iter = positive_int(200 if max_iter is None else max_iter, "max_iter")

    def _init(self, kernel: Kernel) -> NewtonState:
        require_smooth(kernel, "newton")
        return NewtonState(symmetric=spectrum(kernel).symmetric)

    def _kcl(self, kernel: Kernel, z: Tensor, q: Tensor) -> tuple[Tensor, Tensor]:
        F, dF = element_values(kernel, z)
        return z @ kernel.H.T + q + F, dF

    def _compute(
        self, solver_state: SolverState, kernel: Kernel, u: Tensor, z0: Tensor | None
    ) -> tuple[Tensor, int]:
        require_smooth(kernel, "newton")
        state: NewtonState = solver_state.data
        q = kernel.rhs(u)
        batch, n = q.shape
        z = check_z0(kernel, z0, batch)
        if z is None:
            z = torch.zeros_like(q)
        G, dF = self._kcl(kernel, z, q)
        merit = torch.linalg.vector_norm(G, dim=1)
        everyone = torch.ones(batch, n, dtype=torch.bool, device=q.device)
        it = 0
        while it < self.max_iter:
            done = self.tolerance_ratio(kernel, z, q, G.abs()) <= 1.0
            if bool(done.all()):
                break
            it += 1
            step = -solve_reduced(kernel.H, everyone, dF, G, symmetric=state.symmetric)
            target = limit(kernel, z + step, z)
            t = torch.ones(batch, 1, dtype=q.dtype, device=q.device)
            z_try, G_try, dF_try, merit_try = z, G, dF, merit
            pending = ~done
            for _ in range(self.backtrack):
                cand = z + t * (target - z)
                G_c, dF_c = self._kcl(kernel, cand, q)
                merit_c = torch.linalg.vector_norm(G_c, dim=1)
                ok = pending & torch.isfinite(merit_c) & (merit_c < merit)
                z_try = torch.where(ok[:, None], cand, z_try)
                G_try = torch.where(ok[:, None], G_c, G_try)
                dF_try = torch.where(ok[:, None], dF_c, dF_try)
                merit_try = torch.where(ok, merit_c, merit_try)
                pending = pending & ~ok
                if not bool(pending.any()):
                    break
                t = torch.where(pending[:, None], 0.5 * t, t)
            # no decrease at any step length: take the full limited step, as SPICE
            # does (the merit of a junction-limited iteration need not fall monotonically)
            if bool(pending.any()):
                G_c, dF_c = self._kcl(kernel, target, q)
                merit_c = torch.linalg.vector_norm(G_c, dim=1)
                fallback = pending & torch.isfinite(merit_c)
                z_try = torch.where(fallback[:, None], target, z_try)
                G_try = torch.where(fallback[:, None], G_c, G_try)
                dF_try = torch.where(fallback[:, None], dF_c, dF_try)
                merit_try = torch.where(fallback, merit_c, merit_try)
            z, G, dF, merit = z_try, G_try, dF_try, merit_try
        return z, it

    def _transpose(
        self, state: NewtonState, kernel: Kernel, z: Tensor, v: Tensor, u: Tensor | None
    ) -> Tensor:
        """``(∂z/∂q)ᵀ v = -(H + diag F'(z))⁻ᵀ v`` at an equilibrium ``z``."""
        if z.shape != v.shape or z.ndim != 2 or z.shape[1] != kernel.n:
            raise ValueError(
                f"z and v must both have shape (batch, n={kernel.n}), got "
                f"{tuple(z.shape)} and {tuple(v.shape)}"
            )
        _, dF = element_values(kernel, z)
        everyone = torch.ones_like(z, dtype=torch.bool)
        return -solve_reduced(kernel.H.T, everyone, dF, v, symmetric=state.symmetric)
