"""The monDEQ layer's equilibrium: Peaceman–Rachford, then exact steps on the free set.

Problem (kernel units, ideal diodes): find ``z`` with

    w = H z - q ≥ 0,   z ≥ 0,   zᵀ w = 0      ⇔   z = ReLU(z - α(Hz - q))  (any α > 0)

* ``pr``: Peaceman–Rachford with ``V = (I + αH)⁻¹``: ``r = (2V - I)s + 2αVq``,
  ``z = ReLU(r)``, ``s ← 2z - r``; the natural residual is checked every
  ``check_every`` iterations.
* an *active-set step* on the free set ``F = {z - α(Hz - q) > 0}``:
  ``z_F = H_FF⁻¹ q_F``, ``z_N = 0``. When the new point has the same free set the
  step was exact (round-off residual). The LU factors of ``H_FF`` are kept:
  the backward pass ``λ_F = H_FF⁻ᵀ (∂L/∂z)_F`` reuses them, so the whole
  gradient costs two triangular solves per sample.

Batched: each sample has its own free set; the ``H_FF`` blocks are gathered,
padded to the batch's largest ``|F|`` with identity rows, and factored together.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class FreeSetLU:
    """LU factors of ``H_FF`` for every sample (padded), and where ``F`` sits."""

    free: Tensor  # (batch, n) bool: the free set the factors are of
    idx: Tensor  # (batch, k): positions of F first, padding after
    valid: Tensor  # (batch, k) bool
    LU: Tensor  # (batch, k, k)
    pivots: Tensor  # (batch, k)

    @classmethod
    def factor(cls, H: Tensor, free: Tensor) -> FreeSetLU:
        batch = free.shape[0]
        counts = free.sum(dim=1)
        k = int(counts.max()) if batch else 0  # one host sync: the padded size
        idx = torch.argsort((~free).to(torch.int8), dim=1, stable=True)[:, :k]
        valid = torch.arange(k, device=H.device) < counts[:, None]
        M = H[idx[:, :, None], idx[:, None, :]]
        M = M.masked_fill(~(valid[:, :, None] & valid[:, None, :]), 0.0)
        M.diagonal(dim1=1, dim2=2).add_((~valid).to(H.dtype))
        LU, pivots = torch.linalg.lu_factor(M) if k else (M, idx.to(torch.int32))
        return cls(free, idx, valid, LU, pivots)

    def solve(self, r: Tensor, *, adjoint: bool = False) -> Tensor:
        """``x_F = H_FF⁻¹ r_F`` (``H_FF⁻ᵀ`` with ``adjoint``), ``x = 0`` off ``F``."""
        out = torch.zeros_like(r)
        if self.idx.shape[1] == 0:
            return out
        rr = torch.gather(r, 1, self.idx).masked_fill(~self.valid, 0.0)
        x = torch.linalg.lu_solve(self.LU, self.pivots, rr.unsqueeze(-1), adjoint=adjoint)
        x = x.squeeze(-1).masked_fill(~self.valid, 0.0)
        return out.scatter_(1, self.idx, x)


def natural_residual(H: Tensor, q: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
    """``(max_k |z_k - ReLU(z_k - w_k)|, free set)`` per sample, ``w = Hz - q`` (α = 1)."""
    x = z - (z @ H.T - q)
    return (z - x.clamp_min(0.0)).abs().amax(dim=1), x > 0


@dataclass
class Solution:
    z: Tensor
    lu: FreeSetLU | None
    iterations: int
    residual: Tensor
    method: str


def solve(
    H: Tensor, q: Tensor, *, method: str, tol: float, max_iter: int, alpha: float,
    check_every: int = 5,
) -> Solution:
    """Solve the LCP for every row of ``q`` (see the module docstring).

    ``tol`` bounds the natural residual relative to ``max(1, ‖q‖_∞)`` per sample.
    ``pr`` runs PR to ``tol``; ``active_set`` runs PR until the free sets
    settle, then active-set steps until every free set repeats (exact);
    ``auto`` does the same but stops as soon as every sample meets ``tol``.
    Returns the best point reached; the caller decides what a miss means.
    """
    n = H.shape[0]
    scale = q.abs().amax(dim=1).clamp_min(1.0)
    eye = torch.eye(n, dtype=H.dtype, device=H.device)
    V = torch.linalg.inv(eye + alpha * H)
    RT = (2.0 * V - eye).T
    bias = 2.0 * alpha * (q @ V.T)
    s = torch.zeros_like(q)
    z = torch.zeros_like(q)
    it = 0
    last_free = None
    pr_cap = max_iter if method == "pr" else max(check_every, min(max_iter, 200))
    res, free = natural_residual(H, q, z)
    while it < pr_cap:
        for _ in range(check_every):
            r = torch.addmm(bias, s, RT)
            z = r.clamp_min(0.0)
            s = 2.0 * z - r
        it += check_every
        res, free = natural_residual(H, q, z)
        if bool((res <= tol * scale).all()):
            return Solution(z, None, it, res / scale, method)
        if method != "pr":
            # the free sets have settled when at most 1 % of samples changed one
            if last_free is not None and float(
                (free != last_free).any(dim=1).to(torch.float32).mean()
            ) <= 0.01:
                break
            last_free = free
    if method == "pr":
        return Solution(z, None, it, res / scale, method)
    best_z, best_res, lu = z, res, None
    for _ in range(max_iter):
        it += 1
        step = FreeSetLU.factor(H, free)
        z_new = step.solve(q)
        res_new, free_new = natural_residual(H, q, z_new)
        best_z, best_res, lu = z_new, res_new, step
        same = bool((free_new == free).all())
        if same or (method == "auto" and bool((res_new <= tol * scale).all())):
            break
        free = free_new
    return Solution(best_z, lu, it, best_res / scale, method)
