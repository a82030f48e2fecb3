"""Free-set solves on the CPU: one factorisation per sample, dense LAPACK or sparse LU.

An exact active-set step solves, for each sample ``b`` with conducting set
``F_b``, ``(H_FF + diag(g_F)) x_F = r_F`` (``x = 0`` off ``F``). Samples have
different ``F``, so batching them means padding and masking; on a CPU a loop
over samples that gathers each block once is cheaper:

* dense kernels: ``H[F, F]`` is one ``numpy`` gather into a fresh array, which
  LAPACK's ``potrf`` (Cholesky, symmetric ``H``) factors in place, no copy or
  triangle extraction; ``getrf`` (LU) when ``H`` is not symmetric or the
  Cholesky finds it indefinite;
* sparse kernels (few entries per row): the block is cut out of the CSR
  arrays and factored by SuperLU (``scipy.sparse.linalg.splu``) with a
  fill-reducing ordering: ``O(nnz + fill)`` instead of ``|F|³/3``.

Which one runs is the cost model of ``prefer_sparse``. Preconditions: every
block non-singular (``sym(H) ≻ 0`` on ``F`` and ``g ≥ 0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..kernels.equilibrium import SingularSystemError
from ..utils.versions import version


@dataclass
class Layout:
    """``H`` in the forms the factorisations read: dense (C order) and CSR."""

    dense: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    symmetric: bool

    @property
    def n(self) -> int:
        return self.dense.shape[0]

    @property
    def density(self) -> float:
        return self.data.size / max(self.n * self.n, 1)


def dense_cost(k: int) -> float:
    """Seconds for one ``k×k`` dense Cholesky solve with its gather (measured, one core)."""
    return 6e-5 + 1.8e-11 * k**3


def sparse_cost(layout: Layout, k: int) -> float:
    """Seconds for one SuperLU solve of a ``k×k`` block of ``H`` (measured, one core):
    a fixed cost plus a cost per stored entry that grows with the fill."""
    entries = k + layout.density * k * k
    return 1.2e-4 + 2.5e-7 * entries * (1.0 + 0.1 * layout.density * k)


def prefer_sparse(layout: Layout, k: int) -> bool:
    """Sparse LU for a ``k×k`` block when the cost model says it is cheaper."""
    return k >= 48 and sparse_cost(layout, k) < dense_cost(k)


def factor_cost(layout: Layout, k: int) -> float:
    """Seconds for the cheaper of the two routes on a ``k×k`` block."""
    return min(dense_cost(k), sparse_cost(layout, k)) if k >= 48 else dense_cost(k)


def sweep_cost(layout: Layout) -> float:
    """Seconds for one projected Gauss–Seidel sweep of one sample (measured, one core:
    1.3-2.7 ns per stored entry of ``H``, the more the larger ``H``)."""
    return 2e-7 + 2e-9 * layout.data.size


def pr_iteration_cost(n: int) -> float:
    """Seconds for one batched Peaceman–Rachford iteration of one sample: a dense
    product (~20 GFLOP/s measured on one core, with the elementwise work and the
    periodic residual checks) plus a fixed share of the batch's overhead."""
    return 4e-7 + 2.0 * n * n / 2e10


def gauss_seidel_pays(layout: Layout) -> bool:
    """Whether sweeps beat PR iterations as the iterative method for this ``H``.

    Measured on circuit and trained kernels, PR needs about 2.5× the iterations of
    projected Gauss–Seidel to the same residual, but each of its iterations runs at
    matrix-product speed: PGS wins on sparse kernels (a few % dense), PR on dense ones.
    """
    return sweep_cost(layout) < 2.5 * pr_iteration_cost(layout.n)


def _submatrix(indptr, indices, data, F, pos):
    """CSR arrays of ``H[F, F]`` (``pos[j]`` = position of column ``j`` in ``F``, or -1)."""
    k = F.size
    count = 0
    for a in range(k):
        r = F[a]
        for p in range(indptr[r], indptr[r + 1]):
            if pos[indices[p]] >= 0:
                count += 1
    sub_ptr = np.zeros(k + 1, dtype=np.int64)
    sub_idx = np.empty(count, dtype=np.int64)
    sub_val = np.empty(count, dtype=np.float64)
    c = 0
    for a in range(k):
        r = F[a]
        for p in range(indptr[r], indptr[r + 1]):
            j = pos[indices[p]]
            if j >= 0:
                sub_idx[c] = j
                sub_val[c] = data[p]
                c += 1
        sub_ptr[a + 1] = c
    return sub_ptr, sub_idx, sub_val


_COMPILED: list[Any] = []


def submatrix(indptr, indices, data, F, pos):
    """``_submatrix``, compiled by numba on first use when it is installed (the
    import is deferred so that importing diodenet does not pay for numba)."""
    if not _COMPILED:
        from ._sweeps import HAVE_NUMBA

        if HAVE_NUMBA:
            import numba

            _COMPILED.append(numba.njit(cache=True)(_submatrix))
        else:
            _COMPILED.append(_submatrix)
    return _COMPILED[0](indptr, indices, data, F, pos)


def _dense_factor(block: Any, symmetric: bool) -> tuple[str, Any]:
    """A dense block's factors, ``block()`` being a fresh copy of it: Cholesky
    where it is symmetric positive definite, LU otherwise (or when the Cholesky
    finds it indefinite)."""
    from scipy.linalg import lapack

    if symmetric:
        # a symmetric C-ordered block is also its Fortran-ordered self: potrf
        # factors it in place (no copy, no triangle extraction)
        c, info = lapack.dpotrf(block().T, lower=1, overwrite_a=1, clean=0)
        if info == 0:
            return "cholesky", c
    lu, piv, info = lapack.dgetrf(block())
    if info > 0:  # an exactly singular block
        raise SingularSystemError(f"a singular system (getrf: U[{info - 1},{info - 1}] is 0)")
    if info < 0:
        raise np.linalg.LinAlgError(f"getrf: argument {-info} is invalid")
    return "lu", (lu, piv)


@dataclass
class FreeSetFactors:
    """Per sample: the free set ``F`` (indices) and the factors of
    ``H_FF + diag g_F`` (``("cholesky", c)``, ``("lu", (lu, piv))`` or
    ``("splu", SuperLU)``); ``solve`` applies them in either orientation, so a
    forward step's factors serve the adjoint at the same point."""

    blocks: list[tuple[np.ndarray, str, Any]]
    sparse_used: int

    def solve(self, rhs: np.ndarray, *, transpose: bool = False) -> np.ndarray:
        from scipy.linalg import lapack

        x = np.zeros_like(rhs)
        for b, (F, kind, f) in enumerate(self.blocks):
            if F.size == 0:
                continue
            r = rhs[b, F]
            if kind == "cholesky":
                x[b, F], info = lapack.dpotrs(f, r, lower=1)
                if info != 0:
                    raise np.linalg.LinAlgError(f"potrs failed (info {info})")
            elif kind == "lu":
                x[b, F], info = lapack.dgetrs(*f, r, trans=1 if transpose else 0)
                if info != 0:
                    raise np.linalg.LinAlgError(f"getrs failed (info {info})")
            else:
                x[b, F] = f.solve(r, trans="T" if transpose else "N")
        return x


def factor_free_sets(layout: Layout, free: np.ndarray, g: np.ndarray) -> FreeSetFactors:
    """Factors of ``H_FF + diag g_F`` for every sample (``FreeSetFactors``):
    SuperLU where ``prefer_sparse`` says the block is sparse enough, LAPACK
    otherwise (``_dense_factor``)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.linalg import splu

    batch, n = free.shape
    pos = np.full(n, -1, dtype=np.int64)
    blocks: list[tuple[np.ndarray, str, Any]] = []
    sparse_used = 0
    for b in range(batch):
        F = np.flatnonzero(free[b])
        k = F.size
        if k == 0:
            blocks.append((F, "none", None))
            continue
        if prefer_sparse(layout, k):
            sparse_used += 1
            pos[F] = np.arange(k)
            ptr, idx, val = submatrix(layout.indptr, layout.indices, layout.data, F, pos)
            pos[F] = -1
            S = csr_matrix((val, idx, ptr), shape=(k, k))
            S = S + _diag(g[b, F]) if bool(np.any(g[b, F])) else S
            try:
                lu = splu(S.tocsc(), permc_spec="MMD_AT_PLUS_A" if layout.symmetric
                          else "COLAMD", options={"SymmetricMode": layout.symmetric})
            except RuntimeError as exc:  # SuperLU: "Factor is exactly singular"
                raise SingularSystemError(f"a singular system (SuperLU: {exc})") from None
            blocks.append((F, "splu", lu))
            continue

        def block(F: np.ndarray = F, gF: np.ndarray = g[b, F]) -> np.ndarray:
            A = layout.dense[np.ix_(F, F)]
            A[np.diag_indices(F.size)] += gF
            return A

        blocks.append((F, *_dense_factor(block, layout.symmetric)))
    return FreeSetFactors(blocks, sparse_used)


#: at or below this many elements one padded, batched factorisation
#: (``_reduced.factor_reduced``) beats a loop over the samples
SMALL = 40


def solve_switched(kernel: Any, free: Any, g: Any, rhs: Any, *, transpose: bool = False,
                   memory: dict | None = None, applied: dict | None = None,
                   rows: Any = None) -> Any:
    """``x`` (batch, n) tensor with ``(H_FF + diag g_F) x_F = rhs_F`` per sample
    (``H_FFᵀ`` with ``transpose``), 0 off ``F``: by the Woodbury identity when the
    kernel carries a diagonal-plus-low-rank form of ``H`` (``Kernel.low_rank``);
    otherwise, on the CPU and above ``SMALL`` elements, one LAPACK or SuperLU
    factorisation per sample (``factor_free_sets``, in float64), else the padded
    batched solve. Each route's factors are kept for the next solve at the same
    point (``kept_factors``). ``free``/``g``/``rhs`` are tensors; ``memory`` (a solver
    state's) counts the SuperLU factorisations in ``"sparse_factorisations"``.
    ``applied``: where the Woodbury route answers every sample, receives its
    self-check's product as ``"Hx"`` (see ``solve_low_rank``). ``rows``: a
    (batch,) bool mask of the samples of a batch that ``free`` and ``g`` are
    (see ``kept_factors``)."""
    import torch

    from ._low_rank import factor_low_rank, solve_low_rank

    form = kernel.low_rank()
    if form is not None:
        factors = kept_factors(kernel, ("woodbury", form, rhs.dtype), free, g,
                               lambda: factor_low_rank(form, free, g, rhs.dtype), rows)
        found: dict = {}
        x, ok = solve_low_rank(form, free, g, rhs, transpose=transpose, factors=factors,
                               applied=found)
        if bool(ok.all()):
            if applied is not None:
                applied.update(found)
            return x
        rest = torch.nonzero(~ok).squeeze(1)  # the few the identity cannot take: densely
        x[rest] = _solve_switched_dense(kernel, free[rest], g[rest], rhs[rest], transpose,
                                        memory)
        return x
    return _solve_switched_dense(kernel, free, g, rhs, transpose, memory, rows)


def kept_factors(kernel: Any, key: tuple[Any, ...], free: Any, g: Any, make: Any,
                 rows: Any = None) -> Any:
    """``make()``'s factorisation of the switched system at ``(free, g)``, kept on
    ``kernel`` for the next solve at the same point: a forward step's last
    factorisation then serves the adjoint settle at the operating point it
    found (one orientation's factors solve the other). ``key`` starts with the
    kind of factorisation (one is kept per kind, so a dense fallback for a few
    samples does not evict the batch's Woodbury factors) and names what else
    they depend on (compared by identity for objects, by value for ints and
    strings); ``H`` and its version are always part of it.

    ``rows``: ``free`` and ``g`` are the samples of a batch that this (batch,)
    bool mask selects (a step on the samples not yet settled). Where the
    kept factors are of a batch that size and can be merged (a
    ``merged(rows, part)`` method), the part's are folded into them, so that
    the adjoint at the answer finds every sample's; they are never replaced
    by a part's. (Factors are per sample, so a merged set stays the
    factorisation of its own free sets and ``g``, sample by sample.)"""
    import torch

    full = (kernel.H, version(kernel.H), *key)
    kept = kernel.__dict__.setdefault("_switched_factors", {})
    hit = kept.get(key[0])
    same = hit is not None and len(hit[0]) == len(full) \
        and all(a is b or (isinstance(a, int | str) and a == b) for a, b in zip(hit[0], full))
    if rows is None and same and hit[1].shape == free.shape and torch.equal(hit[1], free) \
            and torch.equal(hit[2], g):
        return hit[3]
    factors = make()
    if rows is None:
        kept[key[0]] = (full, free.clone(), g.clone(), factors)
    elif same and hasattr(hit[3], "merged") and hit[1].shape[0] == rows.shape[0]:
        merged = hit[3].merged(rows, factors)
        if merged is not None:
            batch_free, batch_g = hit[1].clone(), hit[2].clone()
            batch_free[rows], batch_g[rows] = free, g
            kept[key[0]] = (full, batch_free, batch_g, merged)
    return factors


def _solve_switched_dense(kernel: Any, free: Any, g: Any, rhs: Any, transpose: bool,
                          memory: dict | None, rows: Any = None) -> Any:
    import torch

    from ._reduced import factor_reduced
    from .gauss_seidel import is_symmetric

    if kernel.device.type == "cpu" and kernel.n > SMALL:
        def make() -> FreeSetFactors:
            f = factor_free_sets(layout_of(kernel), free.numpy(), g.to(torch.float64).numpy())
            if memory is not None:
                memory["sparse_factorisations"] = \
                    memory.get("sparse_factorisations", 0) + f.sparse_used
            return f

        factors = kept_factors(kernel, ("per_sample",), free, g, make, rows)
        x = factors.solve(rhs.to(torch.float64).numpy(), transpose=transpose)
        return torch.from_numpy(x).to(rhs.dtype)
    symmetric = is_symmetric(kernel)
    factors = kept_factors(kernel, ("reduced", rhs.dtype), free, g,
                           lambda: factor_reduced(kernel.H, free, g, symmetric=symmetric), rows)
    return factors.solve(rhs, transpose=transpose)


def _diag(values: np.ndarray):
    from scipy.sparse import diags

    return diags(values, format="csr")


def layout_of(kernel) -> Layout:
    """The ``Layout`` of a CPU kernel's ``H`` (cached on the kernel)."""
    import torch

    from .gauss_seidel import csr_of, is_symmetric

    def compute() -> Layout:
        dense = np.ascontiguousarray(kernel.H.detach().to("cpu", torch.float64).numpy())
        indptr, indices, data, _ = csr_of(kernel)
        return Layout(dense, indptr, indices, data, is_symmetric(kernel))

    return kernel._cached("layout", compute)
