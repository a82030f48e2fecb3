"""``H`` as a diagonal plus a low-rank term: diodes that meet only through a few nodes.

In a layered network a hidden diode's node is tied to the inputs (sources), to
its own diode and to the ``r`` output nodes; two hidden diodes see each other
only through those outputs. With ``G`` the MNA of the linear part, ``o`` the
free unknowns that neither a diode nor a diode's neighbour touches, and ``a``
the rest, the block-inverse identity
``(G_aa)⁻¹ = (G⁻¹)_aa - (G⁻¹)_ao ((G⁻¹)_oo)⁻¹ (G⁻¹)_oa`` gives::

    H = P G⁻¹ S_z = Δ + U K Vᵀ,    U = (P G⁻¹)_{:,o},  Vᵀ = (G⁻¹ S_z)_{o,:},
                                     K = ((G⁻¹)_oo)⁻¹,   Δ = P_a G_aa⁻¹ S_a

and ``Δ`` is diagonal exactly when the diodes couple through ``o`` alone.
Then the switched system on a free set ``F`` (``D = diag(δ_F + g_F)``) is
solved by the Woodbury identity::

    (D + U_F K V_Fᵀ)⁻¹ = D⁻¹ - D⁻¹ U_F (K⁻¹ + V_Fᵀ D⁻¹ U_F)⁻¹ V_Fᵀ D⁻¹

at ``O(|F| r² + r³)`` per sample, batched, where a factorisation of each
sample's ``H_FF`` costs ``O(|F|³)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor


@dataclass(frozen=True)
class DiagonalPlusLowRank:
    """``H = diag(delta) + U K Vᵀ`` with ``U``, ``V`` (n, r), ``K`` and its
    inverse ``K_inv`` (r, r)."""

    delta: Tensor
    U: Tensor
    K: Tensor
    K_inv: Tensor
    V: Tensor

    @property
    def rank(self) -> int:
        return self.K.shape[0]

    def dense(self) -> Tensor:
        """The (n, n) matrix it stands for."""
        return torch.diag(self.delta) + self.U @ self.K @ self.V.T

    @cached_property
    def T(self) -> DiagonalPlusLowRank:
        """The form of ``Hᵀ = diag(delta) + V Kᵀ Uᵀ`` (kept, like ``outer``)."""
        return DiagonalPlusLowRank(self.delta, self.V, self.K.T, self.K_inv.T, self.U)

    @cached_property
    def outer(self) -> Tensor:
        """(n, r·r): row ``i`` is ``v_i u_iᵀ`` flattened (``V_Fᵀ D⁻¹ U_F`` of a
        batch is one product with it)."""
        n, r = self.U.shape
        return (self.V[:, :, None] * self.U[:, None, :]).reshape(n, r * r)

    @cached_property
    def symmetric(self) -> bool:
        """Whether ``U K Vᵀ`` is symmetric by its factors: ``V = ±U`` and ``K = Kᵀ``
        (exactly; a reciprocal network's form is built so)."""
        return (torch.equal(self.V, -self.U) or torch.equal(self.V, self.U)) and \
            torch.equal(self.K_inv, self.K_inv.mT)

    @cached_property
    def KtUt(self) -> Tensor:
        """(r, n): ``Kᵀ Uᵀ``, so that ``(x V) Kᵀ Uᵀ`` is ``U K Vᵀ x`` for samples as rows."""
        return self.K.T @ self.U.T


def from_partition(H: Tensor, U: Tensor, G_inv_oo: Tensor, Vt: Tensor,
                   K: Tensor | None = None) -> DiagonalPlusLowRank:
    """The form with ``U = (P G⁻¹)_{:,o}``, ``Vᵀ = (G⁻¹ S_z)_{o,:}`` and
    ``(G⁻¹)_oo`` (see the module docstring); ``delta`` is read off ``H``'s
    diagonal. Whether it *is* ``H`` is for ``Kernel.set_low_rank`` to check.
    ``K = ((G⁻¹)_oo)⁻¹`` is formed here unless given (it is ``G`` itself when
    ``o`` is every unknown). Raises ``ValueError`` if ``(G⁻¹)_oo`` is singular."""
    if K is None:
        K, info = torch.linalg.inv_ex(G_inv_oo)
        if int(info) != 0 or not bool(torch.isfinite(K).all()):
            raise ValueError("the low-rank block (G⁻¹)_oo is singular")
    delta = H.diagonal() - ((U @ K) * Vt.T).sum(1)
    return DiagonalPlusLowRank(delta, U, K, G_inv_oo, Vt.T.contiguous())
