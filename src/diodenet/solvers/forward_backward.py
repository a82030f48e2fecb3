"""Forward–backward splitting: the monDEQ iteration ``z ← σ_α(z - α(Hz + q))``.

For ideal diodes ``σ_α = ReLU`` and this is ``z ← ReLU(Wz + Ux + b)`` with
``W = I - αH``. The map is a contraction when
``α < 2m/‖H‖²`` (``m`` = λ_min(sym H)); for symmetric ``H`` any
``α < 2/λ_max`` works and ``α = 2/(λ_min + λ_max)`` gives the best linear
rate ``(κ - 1)/(κ + 1)``. Iteration counts grow like the condition number
``κ = λ_max/λ_min``: prefer ``'pr'`` or ``'active_set'`` unless ``κ`` is small.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from ._common import (
    check_z0,
    equilibrium_transpose,
    positive_int,
    positive_step,
    spectrum,
)
from .base import EquilibriumSolver, SolverState

if TYPE_CHECKING:
    from ..kernels.kernel import Kernel


@dataclass
class FBState:
    alpha: float  # step (ohms)
    W: Tensor  # I - αH, (n, n)


def fb_step(kernel: Kernel, alpha: float | None = None) -> float:
    """The automatic forward–backward step (ohms); see the module docstring."""
    if alpha is not None:
        return alpha
    spec = spectrum(kernel)
    with np.errstate(all="ignore"):
        if spec.symmetric:
            step = np.float64(2.0) / (spec.margin + spec.sym_max)
        elif spec.margin > 0:
            # minimises the contraction bound 1 - 2αm + α²‖H‖²
            step = np.float64(spec.margin) / np.float64(spec.norm) ** 2
        else:
            step = np.float64(1.0) / spec.norm  # m = 0: no guarantee; Kernel.solve reports
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"forward-backward has no step for this kernel (‖H‖ = {spec.norm:.1e} S, "
                         f"λ_min(sym H) = {spec.margin:.1e} S); pass alpha= or use another "
                         "method")
    return float(step)


class ForwardBackward(EquilibriumSolver):
    """``z ← σ_α(Wz - αq)``, ``W = I - αH``; residual checked every ``check_every`` steps.

    Options: ``alpha`` (ohms, default automatic), ``check_every`` (default 10;
    each check costs one residual, one ``Kernel.element_scale`` and one host
    synchronisation).
    ``max_iter`` defaults to 20000.
    """

    name = "fb"

    def __init__(
        self,
        *,
        tol: float = 1e-10,
        atol: float = 0.0,
        max_iter: int | None = None,
        alpha: float | None = None,
        check_every: int = 10,
    ) -> None:
        super().__init__(tol=tol, atol=atol, max_iter=max_iter)
        self.alpha = positive_step(alpha, "alpha")
        self.check_every = positive_int(check_every, "check_every")
        self.max_iter = positive_int(20000 if max_iter is None else max_iter, "max_iter")

    def _init(self, kernel: Kernel) -> FBState:
        alpha = fb_step(kernel, self.alpha)
        eye = torch.eye(kernel.n, dtype=kernel.dtype, device=kernel.device)
        return FBState(alpha=alpha, W=eye - alpha * kernel.H)

    def _compute(
        self, solver_state: SolverState, kernel: Kernel, u: Tensor, z0: Tensor | None
    ) -> tuple[Tensor, int]:
        state: FBState = solver_state.data
        q = kernel.rhs(u)
        z = check_z0(kernel, z0, u.shape[0])
        if z is None:
            z = torch.zeros_like(q)
        bias = -state.alpha * q
        WT = state.W.T
        sigma = kernel.resolvent_function()
        best_z = z
        # each sample's residual as a multiple of what it may keep (tolerance_ratio)
        best = torch.full((u.shape[0],), float("inf"), dtype=q.dtype, device=q.device)
        it = 0
        while it < self.max_iter:
            steps = min(self.check_every, self.max_iter - it)
            for _ in range(steps):
                z = sigma(torch.addmm(bias, z, WT), state.alpha)
            it += steps
            now = self.tolerance_ratio(kernel, z, q, kernel.element_residual(z, u, q))
            better = now < best
            best_z = torch.where(better[:, None], z, best_z)
            best = torch.where(better, now, best)
            if bool((best <= 1.0).all()):
                break
        return best_z, it

    def _transpose(
        self, state: FBState, kernel: Kernel, z: Tensor, v: Tensor, u: Tensor | None
    ) -> Tensor:
        """``(∂z/∂q)ᵀ v`` (see ``_common.equilibrium_transpose``)."""
        return equilibrium_transpose(kernel, z, v, u, kernel.natural_step())
