"""The monDEQ layer's equilibrium: Peaceman–Rachford, then exact steps on the free set.

Problem (kernel units, ideal diodes): find ``z`` with

    w = H z - q ≥ 0,   z ≥ 0,   zᵀ w = 0      ⇔   z = ReLU(z - α(Hz - q))  (any α > 0)

* ``pr``: Peaceman–Rachford with ``V = (I + αH)⁻¹``: ``r = (2V - I)s + 2αVq``,
  ``z = ReLU(r)``, ``s ← 2z - r = |r|``; the natural residual is checked
  every few iterations.
* an *active-set step* on the free set ``F = {z - α(Hz - q) > 0}``:
  ``z_F = H_FF⁻¹ q_F``, ``z_N = 0``. When the new point has the same free set the
  step was exact (round-off residual). The LU factors of ``H_FF`` are kept:
  the backward pass ``λ_F = H_FF⁻ᵀ (∂L/∂z)_F`` reuses them, so the whole
  gradient costs two triangular solves per sample.

* the adjoint ``λ_F = H_FF⁻ᵀ g_F`` without an LU (after ``pr``): Peaceman–Rachford
  on the free set with the forward's ``V`` (``adjoint_pr``).

Batched: each sample has its own free set; the ``H_FF`` blocks are gathered,
padded with identity rows and factored together (``solvers._reduced``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..solvers._reduced import ReducedFactors, factor_reduced


@dataclass
class FreeSetLU:
    """LU factors of ``H_FF`` for every sample (``solvers._reduced``, padded
    batches sorted by ``|F|``), and the free set they are of."""

    free: Tensor  # (batch, n) bool: the free set the factors are of
    factors: ReducedFactors

    @classmethod
    def factor(cls, H: Tensor, free: Tensor) -> FreeSetLU:
        return cls(free, factor_reduced(H, free, H.new_zeros(free.shape)))

    def solve(self, r: Tensor, *, adjoint: bool = False) -> Tensor:
        """``x_F = H_FF⁻¹ r_F`` (``H_FF⁻ᵀ`` with ``adjoint``), ``x = 0`` off ``F``."""
        return self.factors.solve(r, transpose=adjoint)


def natural_residual(H: Tensor, q: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
    """``(max_k |z_k - ReLU(z_k - w_k)|, free set)`` per sample, ``w = Hz - q`` (α = 1)."""
    x = z - (z @ H.T - q)
    return (z - x.clamp_min(0.0)).abs().amax(dim=1), x > 0


@dataclass
class Solution:
    z: Tensor
    lu: FreeSetLU | None  # factors of the last active-set step, if one ran
    V: Tensor  # (I + αH)⁻¹, for the adjoint iteration
    iterations: int
    residual: Tensor
    method: str


def schedule(first: int | None, check_every: int):
    """Iterations between residual checks: ``first`` (a previous call's count, so
    a similar problem is checked once, when it is likely done), then ``check_every``."""
    yield max(1, first) if first else check_every
    while True:
        yield check_every


def _pr_blocks(V: Tensor, q: Tensor, alpha: float, blocks):
    """PR from ``z = 0``: yields ``(z, iterations in the block)`` at every check."""
    n = V.shape[0]
    eye = torch.eye(n, dtype=V.dtype, device=V.device)
    RT = (2.0 * V - eye).T
    bias = 2.0 * alpha * (q @ V.T)
    s = torch.zeros_like(q)
    for block in blocks:
        for _ in range(block - 1):
            # s ← 2 ReLU(r) - r = |r|: two operations per iteration
            s = torch.addmm(bias, s, RT).abs_()
        r = torch.addmm(bias, s, RT)
        s = r.abs()
        yield r.clamp_min(0.0), block


def solve(
    H: Tensor, q: Tensor, *, method: str, tol: float, max_iter: int, alpha: float,
    check_every: int = 2, first_check: int | None = None, V: Tensor | None = None,
) -> Solution:
    """Solve the LCP for every row of ``q`` (see the module docstring).

    ``V``: ``(I + αH)⁻¹`` if the caller kept it from an earlier call on the same
    ``H`` and ``α`` (formed here otherwise).

    ``tol`` bounds the natural residual relative to ``max(1, ‖q‖_∞)`` per sample.
    ``pr``: PR to ``tol`` (at most ``max_iter`` iterations). ``active_set``: PR
    until the free sets settle, then active-set steps until every free set
    repeats (exact; at most ``max_iter`` steps). ``auto``: PR to ``tol``, handing
    over to active-set steps if PR has not met it after 200 iterations.
    Returns the best point reached; the caller decides what a miss means.
    """
    n = H.shape[0]
    scale = q.abs().amax(dim=1).clamp_min(1.0)
    eye = torch.eye(n, dtype=H.dtype, device=H.device)
    if V is None:
        V = torch.linalg.inv(eye + alpha * H)
    z = torch.zeros_like(q)
    it = 0
    last_free = None
    pr_cap = {"pr": max_iter, "auto": 200, "active_set": 200}[method]
    res, free = natural_residual(H, q, z)
    first = 5 if method == "active_set" else first_check
    blocks = _pr_blocks(V, q, alpha, schedule(first, 5 if method == "active_set" else check_every))
    while it < pr_cap:
        z, done = next(blocks)
        it += done
        res, free = natural_residual(H, q, z)
        if method != "active_set" and bool((res <= tol * scale).all()):
            return Solution(z, None, V, it, res / scale, method)
        if method == "active_set":
            # the free sets have settled when at most 1 % of samples changed one
            if last_free is not None and float(
                (free != last_free).any(dim=1).to(torch.float32).mean()
            ) <= 0.01:
                break
            last_free = free
    if method == "pr":
        return Solution(z, None, V, it, res / scale, method)
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
    return Solution(best_z, lu, V, it, best_res / scale, method)


def adjoint_pr(
    H: Tensor, V: Tensor, free: Tensor, g: Tensor, *, alpha: float, tol: float,
    max_iter: int, check_every: int = 2, first_check: int | None = None,
) -> tuple[Tensor, int, float]:
    """``λ`` with ``(Hᵀλ)_F = g_F``, ``λ_N = 0``, by Peaceman–Rachford on the free set.

    The splitting of ``0 ∈ (Hᵀλ - g) + N_S(λ)``, ``S = {λ_N = 0}`` (whose
    resolvent is the projection onto ``S``), reuses the forward's
    ``V = (I + αH)⁻¹``: ``r = (2Vᵀ - I)s + 2αVᵀg``, ``λ = P_S r``, ``s ← 2λ - r``.
    Stops when ``‖(Hᵀλ - g)_F‖_∞ ≤ tol · ‖g_F‖_∞`` for every sample.
    Returns ``(λ, iterations, worst relative residual)``.
    """
    n = H.shape[0]
    eye = torch.eye(n, dtype=H.dtype, device=H.device)
    R = 2.0 * V - eye
    g = g.masked_fill(~free, 0.0)
    bias = 2.0 * alpha * (g @ V)
    keep = free.to(g.dtype)
    flip = 2.0 * keep - 1.0  # s ← 2 P_S r - r: r on F, -r off F
    # linear in g: relative to g itself (a zero row is solved by λ = 0)
    scale = g.abs().amax(dim=1).clamp_min(torch.finfo(g.dtype).tiny)
    s = torch.zeros_like(g)
    lam = torch.zeros_like(g)
    it, worst = 0, float("inf")
    for block in schedule(first_check, check_every):
        if it >= max_iter:
            break
        for _ in range(block):
            s = torch.addmm(bias, s, R).mul_(flip)
        lam = s * keep
        it += block
        res = ((lam @ H - g) * keep).abs().amax(dim=1) / scale
        worst = float(res.max()) if res.numel() else 0.0
        if worst <= tol:
            break
    return lam, it, worst
