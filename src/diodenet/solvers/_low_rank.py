"""Switched solves on a diagonal-plus-low-rank ``H`` (``kernels.low_rank``), batched.

``(H_FF + diag g_F) x_F = rhs_F`` per sample, ``x = 0`` off ``F``, by the
Woodbury identity with ``D = diag(δ_F + g_F)``::

    x_F = D⁻¹ (rhs_F - U_F y),    (K⁻¹ + V_Fᵀ D⁻¹ U_F) y = V_Fᵀ D⁻¹ rhs_F

one (r, r) system per sample; ``V_Fᵀ D⁻¹ U_F = Σ_{i∈F} v_i u_iᵀ / d_i`` for
the whole batch is one product with the (n, r·r) table of ``v_i u_iᵀ``. A
sample whose ``D`` has a zero, or whose answer misses its own equations by
more than ``rtol`` of their scale (Woodbury can cancel badly when ``D`` is
tiny next to ``U K Vᵀ``), is flagged and left for the caller's dense route.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..kernels.low_rank import DiagonalPlusLowRank


def solve_low_rank(
    form: DiagonalPlusLowRank, free: Tensor, g: Tensor, rhs: Tensor, *,
    transpose: bool = False, rtol: float | None = None,
) -> tuple[Tensor, Tensor]:
    """``(x, ok)``: ``x`` (batch, n) solves the switched system of ``H`` (``Hᵀ``
    with ``transpose``) on each sample's free set, ``ok`` (batch,) marks the
    samples it is trustworthy for (see the module docstring; ``rtol`` defaults
    to 1e-10, or ``1e3·ε`` of a coarser dtype)."""
    if rtol is None:
        rtol = max(1e-10, 1e3 * torch.finfo(rhs.dtype).eps)
    if transpose:
        form = form.T
    dt = rhs.dtype
    U, V = form.U.to(dt), form.V.to(dt)
    r = form.rank
    d = form.delta.to(dt) + g
    usable = free & (d != 0)
    inv_d = torch.where(usable, d, torch.inf).reciprocal_()  # 0 off the usable free set
    b = torch.where(free, rhs, 0.0)
    M = torch.addmm(form.K_inv.to(dt).reshape(1, r * r), inv_d, form.outer.to(dt))
    y, info = torch.linalg.solve_ex(M.reshape(-1, r, r), (b * inv_d) @ V)
    x = inv_d * torch.addmm(b, y, U.T, alpha=-1.0)
    # check each answer against its own equations: (D + U_F K V_Fᵀ) x_F = rhs_F
    dx = d * x
    Ax = torch.where(free, torch.addmm(dx, x @ V, form.KtUt.to(dt)), 0.0)
    scale = torch.maximum(b.abs().amax(dim=1), dx.abs().amax(dim=1))
    miss = (Ax - b).abs().amax(dim=1)
    # an inf in x makes the miss inf or NaN (where the scale may be inf too)
    ok = (info == 0) & (usable == free).all(dim=1) & (miss <= rtol * scale) \
        & torch.isfinite(miss)
    return x, ok
