"""Peaceman–Rachford splitting of ``0 ∈ (Hz + q) + F(z)``.

With the linear part ``A(z) = Hz + q`` and the elements ``F``, PR iterates the
composition of reflected resolvents ``s ← (2J_{αF} - I)(2J_{αA} - I) s``:

    x = J_{αA}(s) = V (s - αq),    V = (I + αH)⁻¹   (factored once, in ``init``)
    y = J_{αF}(2x - s) = σ_α(2x - s)
    s ← s + 2(y - x)

and ``y`` converges to the equilibrium. This is the monDEQ reference's PR
loop written for the kernel (``V`` is its ``Winv`` with ``W = I - αH``). PR
converges for every ``α > 0`` when ``H`` is strongly monotone (margin
``m > 0``): ``2J_{αA} - I`` is then a contraction. For symmetric ``H`` its
linear rate is ``max |1 - αλ|/(1 + αλ)`` over the eigenvalues ``λ`` of
``H``, smallest at ``α = 1/√(λ_min λ_max)``; the automatic step uses that
(with ``‖H‖`` for ``λ_max`` when ``H`` has a skew, gyrator part).

A warm start ``z0`` enters as ``s = z0 + α(H z0 + q)``, the ``s`` whose
iteration is stationary when ``z0`` is the equilibrium.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ._common import (
    check_z0,
    equilibrium_transpose,
    positive_int,
    positive_step,
    resolvent,
    spectrum,
)
from .base import EquilibriumSolver

if TYPE_CHECKING:
    from ..kernels.kernel import Kernel


@dataclass
class PRState:
    alpha: float  # step (ohms)
    VT: Tensor  # ((I + αH)⁻¹)ᵀ, (n, n)
    RT: Tensor  # (2V - I)ᵀ: the reflected resolvent (Cayley operator) of αH, (n, n)


def pr_step(kernel: Kernel, alpha: float | None = None) -> float:
    """The automatic Peaceman–Rachford step (ohms): ``1/√(m ‖H‖)``, see the module docstring."""
    if alpha is not None:
        return alpha
    spec = spectrum(kernel)
    top = spec.sym_max if spec.symmetric else spec.norm
    low = max(spec.margin, 1e-6 * top)
    if not top > 0:
        return kernel.natural_step()
    return 1.0 / math.sqrt(low * top)


def pr_state(kernel: Kernel, alpha: float) -> PRState:
    eye = torch.eye(kernel.n, dtype=kernel.dtype, device=kernel.device)
    V = torch.linalg.inv(eye + alpha * kernel.H)
    return PRState(alpha=alpha, VT=V.T.contiguous(), RT=(2.0 * V - eye).T.contiguous())


def pr_blocks(state: PRState, kernel: Kernel, q: Tensor, z: Tensor, block: int) -> Iterator[Tensor]:
    """PR from ``z``: yields the iterate ``y`` after every ``block`` iterations, forever."""
    alpha = state.alpha
    s = z + alpha * (z @ kernel.H.T + q)
    # 2x - s = (2V - I)s - 2αVq: one fused product per iteration; and
    # s + 2(y - x) = 2y - (2x - s), so x itself is never formed
    bias = -2.0 * alpha * (q @ state.VT)
    sigma = resolvent(kernel)
    while True:
        for _ in range(block):
            r = torch.addmm(bias, s, state.RT)
            y = sigma(r, alpha)
            s = torch.sub(y, r, alpha=0.5).mul_(2.0)  # 2y - r
        yield y


def pr_iterate(
    state: PRState,
    kernel: Kernel,
    u: Tensor,
    q: Tensor,
    z: Tensor,
    *,
    max_iter: int,
    check_every: int,
    tol: float,
) -> tuple[Tensor, Tensor, int]:
    """Run PR from ``z`` until every sample's residual is ``<= tol`` or ``max_iter``.

    Returns the best iterate per sample, its residual (A) and the iterations used.
    """
    best_z = z
    best_res = kernel.residual(z, u)
    it = 0
    blocks = pr_blocks(state, kernel, q, z, check_every)
    while it < max_iter and not bool((best_res <= tol).all()):
        if max_iter - it < check_every:
            blocks = pr_blocks(state, kernel, q, best_z, max_iter - it)
        y = next(blocks)
        it += min(check_every, max_iter - it)
        res = kernel.residual(y, u)
        better = res < best_res
        best_z = torch.where(better[:, None], y, best_z)
        best_res = torch.minimum(res, best_res)
    return best_z, best_res, it


class PeacemanRachford(EquilibriumSolver):
    """Peaceman–Rachford splitting; residual checked every ``check_every`` steps.

    Options: ``alpha`` (ohms, default automatic), ``check_every`` (default 5;
    each check costs one ``Kernel.residual`` and one host synchronisation).
    ``max_iter`` defaults to 5000.
    """

    name = "pr"

    def __init__(
        self,
        *,
        tol: float = 1e-10,
        max_iter: int | None = None,
        alpha: float | None = None,
        check_every: int = 5,
    ) -> None:
        super().__init__(tol=tol, max_iter=max_iter)
        self.alpha = positive_step(alpha, "alpha")
        self.check_every = positive_int(check_every, "check_every")
        self.max_iter = positive_int(5000 if max_iter is None else max_iter, "max_iter")

    def init(self, kernel: Kernel) -> PRState:
        return pr_state(kernel, pr_step(kernel, self.alpha))

    def compute(
        self, state: PRState, kernel: Kernel, u: Tensor, z0: Tensor | None = None
    ) -> tuple[Tensor, int]:
        q = kernel.rhs(u)
        z = check_z0(kernel, z0, u.shape[0])
        if z is None:
            z = torch.zeros_like(q)
        z, _, it = pr_iterate(
            state, kernel, u, q, z,
            max_iter=self.max_iter, check_every=self.check_every, tol=self.tol,
        )
        return z, it

    def transpose(
        self, state: PRState, kernel: Kernel, z: Tensor, v: Tensor, u: Tensor | None = None
    ) -> Tensor:
        """``(∂z/∂q)ᵀ v`` (see ``_common.equilibrium_transpose``)."""
        return equilibrium_transpose(kernel, z, v, u, kernel.natural_step())
