"""Reduced solves: ``(A_FF + diag(g_F)) x_F = rhs_F`` for every sample, ``x = 0`` off ``F``.

``A`` (n, n) is shared by the batch; ``free`` (batch, n) selects each sample's
``F``. Only the ``|F|×|F|`` blocks are factorised: samples are sorted by
``|F|`` and factored in chunks padded to the chunk's largest ``|F|`` (padding
rows are identity rows, so they decouple and solve to 0), which costs about
``Σ |F_b|³`` rather than ``batch·n³``. Up to ``PAD_ALL`` elements the
arithmetic is too small to matter and the sorting and gathers dominate, so
every sample keeps all ``n`` rows instead, those off ``F`` made identity
rows: ``M = [F_i ∧ F_j] A_ij + diag(g_F, 1 off F)``, one batched
factorisation with no index bookkeeping.

``factor_reduced`` factors once; ``ReducedFactors.solve`` applies the inverse
or, with ``transpose``, that of ``A_FFᵀ + diag(g_F)``: the same Cholesky
factors when ``A`` is symmetric, the same LU factors solved as their adjoint
otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..kernels.equilibrium import SingularSystemError

#: Largest number of matrix entries one batched factorisation may hold at once
#: (2**25 float64 entries = 256 MiB); bigger batches are factored in chunks.
MAX_BATCH_ENTRIES = 2**25

#: at or below this many elements every sample is factored at full size: at
#: 32 elements and half of them free, 64 samples' Cholesky factors at full
#: size took about 120 µs longer than at the largest ``|F|``, and the sorting
#: and gathers saved about 300 µs (5–8 % of a training step at 64-32-10)
PAD_ALL = 32


@dataclass(frozen=True)
class _Chunk:
    """One padded, batched factorisation: samples ``rows`` (a slice for the
    full-size case), ``F``'s positions ``idx`` first and the ``valid`` ones
    among them (``None``: every element, in order, with ``mask`` the free set,
    ``None`` when all are free), and the factors: Cholesky ``L`` (symmetric),
    with the samples it refused (``lu_rows``) in ``LU``/``pivots``; or
    ``LU``/``pivots`` for all."""

    rows: Tensor | slice
    idx: Tensor | None
    valid: Tensor | None
    mask: Tensor | None
    L: Tensor | None
    LU: Tensor | None
    pivots: Tensor | None
    lu_rows: Tensor | None

    def full_size(self, r: Tensor, transpose: bool) -> Tensor:
        """The full-size chunk's solve: the identity rows off ``F`` see a zero
        right-hand side, so they solve to 0."""
        if self.mask is None:
            return self.solve(r, transpose)
        return self.solve(r.masked_fill(~self.mask, 0.0), transpose).masked_fill_(~self.mask, 0.0)

    def solve(self, r: Tensor, transpose: bool) -> Tensor:
        x = torch.empty_like(r)
        if self.L is not None:
            # two triangular solves: several times faster than cholesky_solve for batches
            y = torch.linalg.solve_triangular(self.L, r.unsqueeze(-1), upper=False)
            x = torch.linalg.solve_triangular(self.L.mT, y, upper=True).squeeze(-1)
        if self.LU is not None:
            assert self.pivots is not None
            rr = r if self.lu_rows is None else r[self.lu_rows]
            xl = torch.linalg.lu_solve(self.LU, self.pivots, rr.unsqueeze(-1),
                                       adjoint=transpose).squeeze(-1)
            if self.lu_rows is None:
                x = xl
            else:
                x[self.lu_rows] = xl
        return x


@dataclass(frozen=True)
class ReducedFactors:
    """``factor_reduced``'s factors for one ``(A, free, g)``."""

    shape: tuple[int, int]
    chunks: tuple[_Chunk, ...]

    def solve(self, rhs: Tensor, *, transpose: bool = False) -> Tensor:
        """``x_F = (A_FF + diag g_F)⁻¹ rhs_F`` (``A_FFᵀ`` with ``transpose``) per
        sample, 0 off ``F``; ``rhs`` (batch, n)."""
        if tuple(rhs.shape) != self.shape:
            raise ValueError(f"rhs must have shape {self.shape}, got {tuple(rhs.shape)}")
        if len(self.chunks) == 1 and self.chunks[0].rows == slice(0, self.shape[0]):
            return self.chunks[0].full_size(rhs, transpose)  # the whole batch at once
        out = torch.zeros_like(rhs)
        for c in self.chunks:
            if c.idx is None:
                out[c.rows] = c.full_size(rhs[c.rows], transpose)
                continue
            assert c.valid is not None
            r = torch.gather(rhs[c.rows], 1, c.idx).masked_fill_(~c.valid, 0.0)
            x = c.solve(r, transpose).masked_fill_(~c.valid, 0.0)
            block = torch.zeros((x.shape[0], self.shape[1]), dtype=rhs.dtype,
                                device=rhs.device)
            out[c.rows] = block.scatter_(1, c.idx, x)
        return out


def _factor(M: Tensor, symmetric: bool) -> tuple[Tensor | None, Tensor | None,
                                                 Tensor | None, Tensor | None]:
    """``(L, LU, pivots, lu_rows)`` of a batch of matrices ``M`` (see ``_Chunk``)."""
    if symmetric:
        L, info = torch.linalg.cholesky_ex(M)
        bad = info != 0
        if not bool(bad.any()):
            return L, None, None, None
        rows = torch.nonzero(bad).squeeze(1)
        LU, pivots = _lu(M[rows])
        return L, LU, pivots, rows
    LU, pivots = _lu(M)
    return None, LU, pivots, None


def _lu(M: Tensor) -> tuple[Tensor, Tensor]:
    """LU factors of a batch; ``SingularSystemError`` when a matrix is singular."""
    LU, pivots, info = torch.linalg.lu_factor_ex(M)
    if bool((info > 0).any()):
        k = int(info[info > 0][0]) - 1
        raise SingularSystemError(f"a singular system (LU: U[{k},{k}] is 0)")
    return LU, pivots


def factor_reduced(A: Tensor, free: Tensor, g: Tensor, *,
                   symmetric: bool = False) -> ReducedFactors:
    """Factor ``A_FF + diag(g_F)`` for every sample (see the module docstring).

    Precondition: each block is non-singular (true when ``sym(A) ⪰ 0``,
    ``g ≥ 0`` and the margin is > 0). ``symmetric=True`` (``A = Aᵀ``) tries a
    Cholesky factorisation first (2× cheaper) and falls back to LU for the
    samples where it fails.
    """
    batch, n = free.shape
    chunks: list[_Chunk] = []
    if batch == 0 or n == 0:
        return ReducedFactors((batch, n), ())
    all_free = bool(free.all())
    if all_free or n <= PAD_ALL:
        # full size (every element free, or too few for sorting to pay):
        # no gather, one batched factorisation in chunks
        step = max(1, MAX_BATCH_ENTRIES // max(n * n, 1))
        for lo in range(0, batch, step):
            rows = slice(lo, min(lo + step, batch))
            if all_free:
                mask = None
                M = A.expand(rows.stop - lo, n, n).clone()
                M.diagonal(dim1=1, dim2=2).add_(g[rows])
            else:
                mask = free[rows]
                # [F_i ∧ F_j] A_ij as two float products (broadcast boolean
                # operations are several times slower at this size)
                keep = mask.to(A.dtype)
                M = (A * keep[:, :, None]).mul_(keep[:, None, :])
                M.diagonal(dim1=1, dim2=2).add_(torch.where(mask, g[rows], 1.0))
            chunks.append(_Chunk(rows, None, None, mask, *_factor(M, symmetric)))
        return ReducedFactors((batch, n), tuple(chunks))
    counts = free.sum(dim=1)
    order = torch.argsort(counts)
    counts_sorted = counts[order].tolist()  # one host sync: the chunk shapes need it
    start = 0
    while start < batch:
        kmax = counts_sorted[start]
        # grow the chunk while it fits the memory budget at its largest size
        stop = start + 1
        while stop < batch:
            k = counts_sorted[stop]
            if (stop - start + 1) * k * k > MAX_BATCH_ENTRIES:
                break
            kmax = k
            stop += 1
        rows_t = order[start:stop]
        start = stop
        if kmax == 0:
            continue
        f = free[rows_t]
        b = rows_t.numel()
        # positions of the free elements first (stable), then the clamped ones
        idx = torch.argsort((~f).to(torch.int8), dim=1, stable=True)[:, :kmax]
        valid = torch.arange(kmax, device=A.device) < counts[rows_t][:, None]
        # M = A[idx, idx] as two cheap gathers (rows, then columns)
        M = A.index_select(0, idx.reshape(-1)).view(b, kmax, n)
        M = torch.gather(M, 2, idx[:, None, :].expand(b, kmax, kmax))
        # padding rows/columns become identity rows, so they decouple and solve to 0
        M.masked_fill_(~(valid[:, :, None] & valid[:, None, :]), 0.0)
        diag = torch.where(valid, torch.gather(g[rows_t], 1, idx), 1.0)
        M.diagonal(dim1=1, dim2=2).add_(diag)
        chunks.append(_Chunk(rows_t, idx, valid, None, *_factor(M, symmetric)))
    return ReducedFactors((batch, n), tuple(chunks))


def solve_reduced(
    A: Tensor, free: Tensor, g: Tensor, rhs: Tensor, *, symmetric: bool = False
) -> Tensor:
    """Solve ``(A_FF + diag(g_F)) x_F = rhs_F`` for every sample; ``x = 0`` off
    ``F`` (``factor_reduced`` then one solve)."""
    return factor_reduced(A, free, g, symmetric=symmetric).solve(rhs)
