"""Switched solves on a diagonal-plus-low-rank ``H`` (``kernels.low_rank``), batched.

``(H_FF + diag g_F) x_F = rhs_F`` per sample, ``x = 0`` off ``F``, by the
Woodbury identity with ``D = diag(δ_F + g_F)``::

    x_F = D⁻¹ (rhs_F - U_F y),    (K⁻¹ + V_Fᵀ D⁻¹ U_F) y = V_Fᵀ D⁻¹ rhs_F

one (r, r) system per sample; ``V_Fᵀ D⁻¹ U_F = Σ_{i∈F} v_i u_iᵀ / d_i`` for
the whole batch is one product with the (n, r·r) table of ``v_i u_iᵀ``. When
``H`` is symmetric through its form (``V = ±U``, ``K`` symmetric) that system
is symmetric, and positive definite where ``H_FF + diag g_F``, ``D`` and
``K`` are (the block matrix ``[[D, U_F], [U_Fᵀ, ∓K⁻¹]]`` has ``±M`` and
``H_FF + diag g_F`` as its Schur complements; count the inertia): it is
factored by Cholesky (half the time of LU at r = 20), and by LU where
Cholesky refuses it. A
sample whose ``D`` has a zero, or whose answer misses its own equations by
more than ``rtol`` of their scale (Woodbury can cancel badly when ``D`` is
tiny next to ``U K Vᵀ``), is flagged and left for the caller's dense route.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..kernels.low_rank import DiagonalPlusLowRank
from ..kernels.solving import default_tol


@dataclass(frozen=True)
class WoodburyFactors:
    """The Woodbury step's factorisations at one ``(free, g)`` (the caller
    keeps which): ``d = δ + g``, ``inv_d = 1/d`` on the usable free set (0
    elsewhere) and the LU factors of each sample's ``M = K⁻¹ + V_Fᵀ D⁻¹ U_F``.
    ``Hᵀ``'s matrix is ``Mᵀ``, so the same factors solve both orientations (a
    forward step and the adjoint settle at the same operating point)."""

    d: Tensor
    inv_d: Tensor
    usable: Tensor
    LU: Tensor  # the Cholesky factor L (M = L Lᵀ) when ``pivots`` is None
    pivots: Tensor | None
    info: Tensor
    factored: Tensor  # (batch,) bool: M factored and D invertible on the whole free set

    def merged(self, rows: Tensor, part: WoodburyFactors) -> WoodburyFactors | None:
        """These factors with the samples of ``rows`` (a bool mask or indices)
        replaced by ``part``'s (factors of those samples alone); ``None`` where
        one is Cholesky's and the other LU's."""
        if (self.pivots is None) != (part.pivots is None):
            return None

        def put(whole: Tensor, some: Tensor) -> Tensor:
            whole = whole.clone()
            whole[rows] = some
            return whole

        return WoodburyFactors(
            put(self.d, part.d), put(self.inv_d, part.inv_d), put(self.usable, part.usable),
            put(self.LU, part.LU),
            None if self.pivots is None or part.pivots is None else put(self.pivots, part.pivots),
            put(self.info, part.info), put(self.factored, part.factored))

    def solve(self, rhs: Tensor, transpose: bool) -> Tensor:
        """``M⁻¹ rhs`` (``M⁻ᵀ`` with ``transpose``) per sample, ``rhs`` (batch, r)."""
        b = rhs.unsqueeze(-1)
        if self.pivots is None:  # symmetric: one orientation
            y = torch.linalg.solve_triangular(self.LU, b, upper=False)
            return torch.linalg.solve_triangular(self.LU.mT, y, upper=True).squeeze(-1)
        return torch.linalg.lu_solve(self.LU, self.pivots, b, adjoint=transpose).squeeze(-1)


def factor_low_rank(form: DiagonalPlusLowRank, free: Tensor, g: Tensor,
                    dtype: torch.dtype) -> WoodburyFactors:
    """Factor the switched system of ``form``'s ``H`` on each sample's free set."""
    r = form.rank
    d = form.delta.to(dtype) + g
    usable = free & (d != 0)
    inv_d = torch.where(usable, d, torch.inf).reciprocal_()  # 0 off the usable free set
    M = torch.addmm(form.K_inv.to(dtype).reshape(1, r * r), inv_d, form.outer.to(dtype))
    M = M.reshape(-1, r, r)
    if form.symmetric:
        L, info = torch.linalg.cholesky_ex(M)
        if not bool(info.any()):
            return WoodburyFactors(d, inv_d, usable, L, None, info, (usable == free).all(dim=1))
    LU, pivots, info = torch.linalg.lu_factor_ex(M)
    return WoodburyFactors(d, inv_d, usable, LU, pivots, info,
                           (info == 0) & (usable == free).all(dim=1))


def solve_low_rank(
    form: DiagonalPlusLowRank, free: Tensor, g: Tensor, rhs: Tensor, *,
    transpose: bool = False, rtol: float | None = None,
    factors: WoodburyFactors | None = None, applied: dict | None = None,
) -> tuple[Tensor, Tensor]:
    """``(x, ok)``: ``x`` (batch, n) solves the switched system of ``H`` (``Hᵀ``
    with ``transpose``) on each sample's free set, ``ok`` (batch,) marks the
    samples it is trustworthy for (see the module docstring; ``rtol`` defaults
    to 1e-10, or ``1e3·ε`` of a coarser dtype). ``factors``: this ``form``'s
    ``factor_low_rank`` at this ``(free, g)`` and ``rhs``'s dtype, if the caller
    kept them (made here otherwise). ``applied``: a dict that receives, as
    ``"Hx"``, the self-check's product ``x (D + U K Vᵀ)ᵀ`` on every element (not
    only the free ones): ``x Hᵀ`` itself where ``g = 0``, as for ideal diodes."""
    if rtol is None:
        rtol = default_tol(rhs.dtype)
    dt = rhs.dtype
    f = factors if factors is not None else factor_low_rank(form, free, g, dt)
    oriented = form.T if transpose else form
    U, V = oriented.U.to(dt), oriented.V.to(dt)
    b = torch.where(free, rhs, 0.0)
    y = f.solve((b * f.inv_d) @ V, transpose)
    x = f.inv_d * torch.addmm(b, y, U.T, alpha=-1.0)
    # check each answer against its own equations: (D + U_F K V_Fᵀ) x_F = rhs_F
    dx = f.d * x
    product = torch.addmm(dx, x @ V, oriented.KtUt.to(dt))
    if applied is not None:
        applied["Hx"] = product
    Ax = torch.where(free, product, 0.0)
    scale = torch.maximum(b.abs().amax(dim=1), dx.abs().amax(dim=1))
    miss = (Ax - b).abs().amax(dim=1)
    # an inf in x makes the miss inf or NaN (where the scale may be inf too)
    ok = f.factored & (miss <= rtol * scale) & torch.isfinite(miss)
    return x, ok
