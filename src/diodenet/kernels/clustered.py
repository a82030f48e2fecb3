"""Solves with the free block ``G_ff`` of a re-stamped MNA: LU, division or block elimination.

``DenseLU`` factors ``G_ff`` as it is (``O(F³)``). ``DiagonalFactor`` takes a
``G_ff`` whose pattern is diagonal (free nodes joined to no other free node,
such as a layered network's outputs once its hidden nodes are held by their
diodes' ports): a solve is one division per row, exact to rounding, where
LAPACK's triangular solves on a 20 × 20 block with 150 right-hand sides cost
30–60 µs each on one core. In a layered network most
free unknowns fall into small clusters joined only through a few *coupling*
unknowns: each hidden node with its diode's port is a cluster of two, and
clusters meet only at the output nodes. Ordering the unknowns as clusters
``a`` then coupling ``o``::

    G = [[A_aa, A_ao], [A_oa, A_oo]],    A_aa = blockdiag(A_1, …, A_c)

and with the Schur complement ``S = A_oo - A_oa A_aa⁻¹ A_ao`` (``r × r``)::

    G x = b:   y = A_aa⁻¹ b_a,   x_o = S⁻¹ (b_o - A_oa y),   x_a = y - (A_aa⁻¹ A_ao) x_o
    Gᵀ x = b:  y = A_aa⁻ᵀ b_a,   x_o = S⁻ᵀ (b_o - A_aoᵀ y),  x_a = y - (A_aa⁻ᵀ A_oaᵀ) x_o

``ClusterPlan`` finds the clusters once from the pattern; ``factor`` inverts
the small blocks (batched by size) and factors ``S``: ``O(Σ s³ + |a| r² + r³)``
instead of ``O(F³)``. It has no pivoting across clusters, so every
factorisation is checked on a probe and refused (``ValueError``) if it does
not reproduce ``G`` (to 1e-9, or ``1e4·ε`` of a coarser dtype); the caller
then uses ``DenseLU``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components
from torch import Tensor

from .kernel import all_finite

#: clusters above this size make block elimination no cheaper than LU
MAX_CLUSTER = 8
#: below this many unknowns one LU is the cheaper route (measured: 0.7 vs 1.2 ms
#: a re-programming at 84 unknowns, 5.4 vs 4.0 ms at 276)
MIN_SIZE = 200


class DenseLU:
    """``G`` (F, F) factored by LU with partial pivoting."""

    def __init__(self, G: Tensor) -> None:
        self.lu, self.piv, info = torch.linalg.lu_factor_ex(G)
        if int(info) != 0:
            raise ValueError("the circuit's linear part became singular at these conductances")

    def solve(self, rhs: Tensor, transpose: bool = False) -> Tensor:
        """``G⁻¹ rhs`` (``G⁻ᵀ rhs`` with ``transpose``) for ``rhs`` (F, k)."""
        if rhs.shape[1] == 0:
            return rhs
        return torch.linalg.lu_solve(self.lu, self.piv, rhs, adjoint=transpose)


class DiagonalFactor:
    """``G`` (F, F) with a diagonal pattern: ``G⁻¹ rhs = rhs / diag(G)`` per row.

    Precondition (the caller's, from the pattern): ``G``'s off-diagonal entries
    are structurally zero. Raises ``ValueError`` if a diagonal entry is zero or
    not finite (a free node with no conductance: ``G`` is singular)."""

    def __init__(self, G: Tensor) -> None:
        d = G.diagonal()
        if not all_finite(d) or not float(d.abs().min()) > 0.0:
            raise ValueError("the circuit's linear part became singular at these conductances")
        self.d = d.contiguous()[:, None]

    def solve(self, rhs: Tensor, transpose: bool = False) -> Tensor:
        """``G⁻¹ rhs`` for ``rhs`` (F, k); ``Gᵀ = G``, so ``transpose`` changes nothing."""
        return rhs / self.d


@dataclass
class ClusterPlan:
    """Where the clusters and the coupling unknowns are (see the module docstring)."""

    a: Tensor  # cluster unknowns, cluster by cluster, the clusters of one size together
    o: Tensor  # coupling unknowns
    groups: list[Tensor]  # per cluster size s: (c, s), the unknowns of its c clusters
    probe: Tensor  # a fixed random vector each factorisation is checked on

    @classmethod
    def of(cls, rows: np.ndarray, cols: np.ndarray, size: int, coupling: np.ndarray,
           min_size: int = MIN_SIZE) -> ClusterPlan | None:
        """The plan for a matrix of pattern ``(rows, cols)`` and ``size`` unknowns,
        with ``coupling`` as ``o``; ``None`` if a cluster exceeds ``MAX_CLUSTER``
        or there would be nothing to gain (fewer than ``min_size`` unknowns)."""
        if size < min_size:
            return None
        in_o = np.zeros(size, dtype=bool)
        in_o[coupling] = True
        a = np.flatnonzero(~in_o)
        if a.size == 0 or coupling.size >= a.size:
            return None
        pos = np.full(size, -1, dtype=np.int64)
        pos[a] = np.arange(a.size)
        keep = ~in_o[rows] & ~in_o[cols]
        graph = sp.coo_matrix((np.ones(int(keep.sum())), (pos[rows[keep]], pos[cols[keep]])),
                              shape=(a.size, a.size))
        n_clusters, label = connected_components(graph, directed=False)
        sizes = np.bincount(label, minlength=n_clusters)
        if sizes.max() > MAX_CLUSTER:
            return None
        # clusters ordered by size, then label: each size's clusters are one slice of a
        order = np.lexsort((label, sizes[label]))
        a = a[order]
        groups = [torch.as_tensor(a[sizes[label[order]] == s].reshape(-1, s))
                  for s in np.unique(sizes)]
        probe = torch.randn(size, generator=torch.Generator().manual_seed(0),
                            dtype=torch.float64)
        return cls(torch.as_tensor(a), torch.as_tensor(np.asarray(coupling, dtype=np.int64)),
                   groups, probe)

    def to(self, device: torch.device) -> ClusterPlan:
        """The plan with its index tensors on ``device`` (that of the matrices)."""
        return ClusterPlan(self.a.to(device), self.o.to(device),
                           [g.to(device) for g in self.groups], self.probe.to(device))

    def factor(self, G: Tensor, symmetric: bool | None = None) -> ClusteredFactor:
        """Factor ``G`` (F, F); ``ValueError`` if a block or ``S`` is singular or
        the factorisation does not reproduce ``G`` on a probe. ``symmetric``:
        whether ``G = Gᵀ`` exactly, if the caller knows (compared otherwise)."""
        return ClusteredFactor(self, G, symmetric)


def _block_products(M: Tensor, X: Tensor) -> Tensor:
    """``M[i] @ X[i]`` for blocks ``M`` (c, s, s) and ``X`` (c, s, k).

    Batched GEMM on tiny blocks is slow for a few dozen columns (measured at
    c = 128, s = 2: 137 µs at k = 64 against 49 µs as ``s`` broadcast products),
    so beyond a handful of columns the products are summed term by term."""
    if X.shape[2] <= 8:
        return M @ X
    out = M[:, :, 0, None] * X[:, None, 0, :]
    for j in range(1, M.shape[2]):
        out.addcmul_(M[:, :, j, None], X[:, None, j, :])
    return out


class ClusteredFactor:
    """``G`` by block elimination over a ``ClusterPlan`` (same ``solve`` as ``DenseLU``)."""

    def __init__(self, plan: ClusterPlan, G: Tensor, symmetric: bool | None = None) -> None:
        self.plan = plan
        a, o = plan.a, plan.o
        self.inverses = []
        for rows in plan.groups:
            blocks = G[rows[:, :, None], rows[:, None, :]]  # (c, s, s), one gather
            inv, info = torch.linalg.inv_ex(blocks)
            if bool((info != 0).any()) or not bool(torch.isfinite(inv).all()):
                raise ValueError("a cluster's block is singular")
            self.inverses.append(inv)
        self.A_ao, self.A_oa = G[a[:, None], o[None, :]], G[o[:, None], a[None, :]]
        self.Y = self._blocks(self.A_ao, False)  # A_aa⁻¹ A_ao
        # a reciprocal network's G is symmetric (resistors, and ports stamped as
        # ±1 pairs): then A_aa⁻ᵀ A_oaᵀ is Y itself, and one direction is checked
        if symmetric is None:
            symmetric = bool(torch.equal(G, G.T))
        self.Z = self.Y if symmetric else self._blocks(self.A_oa.T, True)  # A_aa⁻ᵀ A_oaᵀ
        S = G[o[:, None], o[None, :]] - self.A_oa @ self.Y
        self.S = DenseLU(S) if o.numel() else None
        # one probe column per direction: products with a vector (GEMV) cost a
        # sixth of those with two columns at this size
        probe = plan.probe.to(G.dtype).to(G.device)
        rtol = max(1e-9, 1e4 * torch.finfo(G.dtype).eps)
        for transpose in (False,) if symmetric else (False, True):
            Gp = ((G.T if transpose else G) @ probe)[:, None]
            miss = float((self.solve(Gp, transpose)[:, 0] - probe).abs().max())
            if not miss <= rtol * float(probe.abs().max()):
                raise ValueError("block elimination lost accuracy on this matrix")

    def _blocks(self, X: Tensor, transpose: bool) -> Tensor:
        """``A_aa⁻¹ X`` (``A_aa⁻ᵀ X``) for ``X`` (|a|, k), ``a`` in plan order:
        each cluster size is one slice of the rows."""
        k = X.shape[1]
        parts, start = [], 0
        for rows, inv in zip(self.plan.groups, self.inverses):
            M = inv.transpose(1, 2) if transpose else inv
            c, s = rows.shape
            parts.append(_block_products(M, X[start:start + c * s].reshape(c, s, k))
                         .reshape(c * s, k))
            start += c * s
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def solve(self, rhs: Tensor, transpose: bool = False) -> Tensor:
        """``G⁻¹ rhs`` (``G⁻ᵀ rhs`` with ``transpose``) for ``rhs`` (F, k)."""
        a, o = self.plan.a, self.plan.o
        y = self._blocks(rhs.index_select(0, a), transpose)
        out = torch.empty_like(rhs)
        if self.S is None:
            out[a] = y
            return out
        coupling = self.A_oa if not transpose else self.A_ao.T
        x_o = self.S.solve(torch.addmm(rhs.index_select(0, o), coupling, y, alpha=-1.0),
                           transpose)
        out[a] = torch.addmm(y, self.Z if transpose else self.Y, x_o, alpha=-1.0)
        out[o] = x_o
        return out
