"""Compiled inner loops of projected Gauss–Seidel (numba), with a numpy fallback.

Every element ``k`` is a PWL relation given by ``lo_k`` (= ``-vf``, the knee)
and ``g_k`` (= ``1/ron``, ``inf`` for an ideal knee): ``σ`` of a step
``1/h`` is::

    σ(x) = x                          x >= lo
         = (h x + g lo)/(h + g)       x <  lo   (g finite)
         = lo                         x <  lo   (g = inf)

The sweep visits ``k = 0..n-1`` and sets ``z_k`` to the exact minimiser of the
energy along coordinate ``k`` (for symmetric ``H``): with ``w_k = (Hz + q)_k``,
``z_k ← σ_{1/H_kk}(z_k - w_k/H_kk)``. ``H`` is in CSR form, so sparse and
dense kernels share the loop (a dense one simply has every entry stored).

Each sample runs on its own until its inclusion residual (the natural one at
the step ``alpha``, exactly ``Kernel.residual``) is at most
``atol + tol·(‖H‖_∞ ‖z‖_∞ + ‖q‖_∞)``; it is evaluated (one product with
``H``) only when a sweep moved no coordinate's current by more than that.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

numba: Any

try:  # numba compiles the loops; without it the numpy fallback runs (slower, same answers)
    if os.environ.get("DIODENET_NO_NUMBA"):
        raise ImportError("disabled by DIODENET_NO_NUMBA")
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised through DIODENET_NO_NUMBA in the tests
    numba = None
    HAVE_NUMBA = False


def _sigma(x: float, lo: float, g: float, h: float) -> float:
    if x >= lo:
        return x
    if math.isinf(g):
        return lo
    return (h * x + g * lo) / (h + g)


def _residual(indptr, indices, data, lo, g, q, z, alpha):
    n = z.shape[0]
    worst = 0.0
    for k in range(n):
        w = q[k]
        for p in range(indptr[k], indptr[k + 1]):
            w += data[p] * z[indices[p]]
        s = _sigma(z[k] - alpha * w, lo[k], g[k], 1.0 / alpha)
        r = abs(z[k] - s) / alpha
        if r > worst:
            worst = r
    return worst


def _pgs(indptr, indices, data, diag, lo, g, q, z, tol, atol, hinf, alpha,
         max_sweeps, sweeps, residual):
    batch, n = z.shape
    for b in range(batch):
        qb = q[b]
        zb = z[b]
        qmax = 0.0
        for k in range(n):
            if abs(qb[k]) > qmax:
                qmax = abs(qb[k])
        done = 0
        res = math.inf
        while done < max_sweeps:
            moved = 0.0
            zmax = 0.0
            for k in range(n):
                w = qb[k]
                for p in range(indptr[k], indptr[k + 1]):
                    w += data[p] * zb[indices[p]]
                h = diag[k]
                new = _sigma(zb[k] - w / h, lo[k], g[k], h)
                step = abs(new - zb[k]) * h
                if step > moved:
                    moved = step
                zb[k] = new
                if abs(new) > zmax:
                    zmax = abs(new)
            done += 1
            limit = atol + tol * (hinf * zmax + qmax)
            if moved <= limit or done == max_sweeps:
                res = _residual(indptr, indices, data, lo, g, qb, zb, alpha)
                if res <= limit:
                    break
        sweeps[b] = done
        residual[b] = res


_pgs_compiled: Any = None
if HAVE_NUMBA:
    _sigma = numba.njit(cache=True, inline="always")(_sigma)
    _residual = numba.njit(cache=True)(_residual)
    _pgs_compiled = numba.njit(cache=True)(_pgs)


def pgs_sweeps(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, diag: np.ndarray,
    lo: np.ndarray, g: np.ndarray, q: np.ndarray, z: np.ndarray, *, tol: float, atol: float,
    hinf: float, alpha: float, max_sweeps: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Projected Gauss–Seidel in place on ``z`` (batch, n); returns per-sample
    ``(sweeps, residual)`` (see the module docstring)."""
    batch = z.shape[0]
    sweeps = np.zeros(batch, dtype=np.int64)
    residual = np.full(batch, np.inf)
    if batch == 0 or z.shape[1] == 0:
        residual[:] = 0.0
        return sweeps, residual
    if _pgs_compiled is not None:
        _pgs_compiled(indptr, indices, data, diag, lo, g, q, z, tol, atol, hinf, alpha,
                      max_sweeps, sweeps, residual)
    else:
        _pgs_numpy(indptr, indices, data, diag, lo, g, q, z, tol, atol, hinf, alpha,
                   max_sweeps, sweeps, residual)
    return sweeps, residual


def _sigma_vec(x: np.ndarray, lo: float, g: float, h: float) -> np.ndarray:
    below = lo if math.isinf(g) else (h * x + g * lo) / (h + g)
    return np.where(x >= lo, x, below)


def _pgs_numpy(indptr, indices, data, diag, lo, g, q, z, tol, atol, hinf, alpha,
               max_sweeps, sweeps, residual) -> None:
    """The same sweeps vectorised over the batch (a Python loop over coordinates)."""
    batch, n = z.shape
    rows = [(indices[indptr[k]:indptr[k + 1]], data[indptr[k]:indptr[k + 1]]) for k in range(n)]
    active = np.arange(batch)
    qmax = np.abs(q).max(axis=1)
    done = 0
    while active.size and done < max_sweeps:
        za, qa = z[active], q[active]
        moved = np.zeros(active.size)
        for k, (cols, vals) in enumerate(rows):
            w = qa[:, k] + za[:, cols] @ vals
            new = _sigma_vec(za[:, k] - w / diag[k], lo[k], g[k], diag[k])
            moved = np.maximum(moved, np.abs(new - za[:, k]) * diag[k])
            za[:, k] = new
        z[active] = za
        done += 1
        sweeps[active] = done
        limit = atol + tol * (hinf * np.abs(za).max(axis=1) + qmax[active])
        check = (moved <= limit) | (done == max_sweeps)
        if check.any():
            idx = active[check]
            w = q[idx] + _csr_matmul(indptr, indices, data, z[idx])
            x = z[idx] - alpha * w
            s = np.stack([_sigma_vec(x[:, k], lo[k], g[k], 1.0 / alpha) for k in range(n)], 1)
            res = np.abs(z[idx] - s).max(axis=1) / alpha
            residual[idx] = res
            finished = np.zeros(active.size, dtype=bool)
            finished[np.flatnonzero(check)[res <= limit[check]]] = True
            active = active[~finished]


def _csr_matmul(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                z: np.ndarray) -> np.ndarray:
    """``z @ Hᵀ`` for a CSR ``H`` (rows of ``z`` are samples)."""
    from scipy.sparse import csr_matrix

    n = indptr.size - 1
    return np.asarray((csr_matrix((data, indices, indptr), shape=(n, n)) @ z.T).T)
