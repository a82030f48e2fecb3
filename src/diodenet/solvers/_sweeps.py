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

Each sample runs on its own until every element's inclusion residual (the
natural one at the step ``alpha``, exactly ``Kernel.element_residual``) is at
most ``atol + tol·s_k``, ``s_k = Σ_j |H_kj||z_j| + |q_k|`` its own current
scale (``Kernel.element_scale``), plus the round-off ``roundoff · Σ_j |H_kj| ·
max|z|`` (``Kernel.allowance``); it is evaluated (one product with ``H``)
only when a sweep moved no element's current by more than that (with ``s_k``
bounded below as the sweep went: ``|q_k| + |H_kk z_k|`` and the off-diagonal
terms' sum as one, which on a resistor network with ``z >= 0`` is ``s_k``).
The residual reported per sample is the largest ``r_k`` over its allowance:
at most 1 once converged.
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


#: the least normal float64: what an element may keep where ``atol + tol·s_k`` is 0
TINY = 2.2250738585072014e-308


def _zmax(z):
    m = 0.0
    for k in range(z.shape[0]):
        if abs(z[k]) > m:
            m = abs(z[k])
    return m


def _natural(z: float, w: float, lo: float, g: float, alpha: float) -> float:
    """``|z - σ(z - αw)| / α`` piece by piece, without forming ``z - αw`` where
    it would round the port current ``w`` away: ``|w|`` on the identity piece,
    ``|z - lo|/α`` on a clamp, ``|w + g(z - lo)| / (1 + αg)`` on a sloped one."""
    if z - alpha * w >= lo:
        return abs(w)
    if math.isinf(g):
        return abs(z - lo) / alpha
    return abs(w + g * (z - lo)) / (1.0 + alpha * g)


def _residual(indptr, indices, data, rows, lo, g, q, z, alpha, tol, atol, roundoff):
    n = z.shape[0]
    floor = roundoff * _zmax(z)
    worst = 0.0
    for k in range(n):
        w = q[k]
        a = abs(q[k])
        for p in range(indptr[k], indptr[k + 1]):
            t = data[p] * z[indices[p]]
            w += t
            a += abs(t)
        r = _natural(z[k], w, lo[k], g[k], alpha) / max(atol + tol * a + floor * rows[k], TINY)
        if r > worst:
            worst = r
    return worst


def _pgs(indptr, indices, data, rows, diag, lo, g, q, z, tol, atol, roundoff, alpha,
         max_sweeps, sweeps, residual):
    batch, n = z.shape
    for b in range(batch):
        qb = q[b]
        zb = z[b]
        done = 0
        res = math.inf
        zmax = _zmax(zb)
        while done < max_sweeps:
            moved = False  # some element's current moved by more than its allowance
            floor = roundoff * zmax  # of the last sweep's voltages: a test, not the test
            zmax = 0.0
            for k in range(n):
                w = qb[k]
                for p in range(indptr[k], indptr[k + 1]):
                    w += data[p] * zb[indices[p]]
                h = diag[k]
                # a lower bound of s_k: the off-diagonal terms' sum taken as one (exact
                # when they share a sign, as on a resistor network with z >= 0)
                hz = h * zb[k]
                a = abs(qb[k]) + abs(hz) + abs(w - qb[k] - hz)
                new = _sigma(zb[k] - w / h, lo[k], g[k], h)
                if abs(new - zb[k]) * h > atol + tol * a + floor * rows[k]:
                    moved = True
                zb[k] = new
                if abs(new) > zmax:
                    zmax = abs(new)
            done += 1
            if not moved or done == max_sweeps:
                res = _residual(indptr, indices, data, rows, lo, g, qb, zb, alpha, tol, atol,
                                roundoff)
                if res <= 1.0:
                    break
        sweeps[b] = done
        residual[b] = res


_pgs_compiled: Any = None
if HAVE_NUMBA:
    _sigma = numba.njit(cache=True, inline="always")(_sigma)
    _natural = numba.njit(cache=True, inline="always")(_natural)
    _zmax = numba.njit(cache=True, inline="always")(_zmax)
    _residual = numba.njit(cache=True)(_residual)
    _pgs_compiled = numba.njit(cache=True)(_pgs)


def pgs_sweeps(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, rows: np.ndarray,
    diag: np.ndarray, lo: np.ndarray, g: np.ndarray, q: np.ndarray, z: np.ndarray, *,
    tol: float, atol: float, roundoff: float, alpha: float, max_sweeps: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Projected Gauss–Seidel in place on ``z`` (batch, n); returns per-sample
    ``(sweeps, ratio)``, ``ratio`` the largest residual over what its element
    may keep (see the module docstring; inf where it was not evaluated)."""
    batch = z.shape[0]
    sweeps = np.zeros(batch, dtype=np.int64)
    residual = np.full(batch, np.inf)
    if batch == 0 or z.shape[1] == 0:
        residual[:] = 0.0
        return sweeps, residual
    if _pgs_compiled is not None:
        _pgs_compiled(indptr, indices, data, rows, diag, lo, g, q, z, tol, atol, roundoff,
                      alpha, max_sweeps, sweeps, residual)
    else:
        _pgs_numpy(indptr, indices, data, rows, diag, lo, g, q, z, tol, atol, roundoff,
                   alpha, max_sweeps, sweeps, residual)
    return sweeps, residual


def _sigma_vec(x: np.ndarray, lo: float, g: float, h: float) -> np.ndarray:
    below = lo if math.isinf(g) else (h * x + g * lo) / (h + g)
    return np.where(x >= lo, x, below)


def _natural_vec(z: np.ndarray, w: np.ndarray, lo: float, g: float,
                 alpha: float) -> np.ndarray:
    """``_natural`` over a batch."""
    below = np.abs(z - lo) / alpha if math.isinf(g) else np.abs(w + g * (z - lo)) / (1 + alpha * g)
    return np.where(z - alpha * w >= lo, np.abs(w), below)


def _pgs_numpy(indptr, indices, data, rows, diag, lo, g, q, z, tol, atol, roundoff, alpha,
               max_sweeps, sweeps, residual) -> None:
    """The same sweeps vectorised over the batch (a Python loop over coordinates)."""
    batch, n = z.shape
    entries = [(indices[indptr[k]:indptr[k + 1]], data[indptr[k]:indptr[k + 1]])
               for k in range(n)]
    active = np.arange(batch)
    done = 0
    while active.size and done < max_sweeps:
        za, qa = z[active], q[active]
        moved = np.zeros(active.size)
        floor = roundoff * np.abs(za).max(axis=1)
        for k, (cols, vals) in enumerate(entries):
            w = qa[:, k] + za[:, cols] @ vals
            hz = diag[k] * za[:, k]
            a = np.abs(qa[:, k]) + np.abs(hz) + np.abs(w - qa[:, k] - hz)
            new = _sigma_vec(za[:, k] - w / diag[k], lo[k], g[k], diag[k])
            allowed = np.maximum(atol + tol * a + floor * rows[k], TINY)
            moved = np.maximum(moved, np.abs(new - za[:, k]) * diag[k] / allowed)
            za[:, k] = new
        z[active] = za
        done += 1
        sweeps[active] = done
        check = (moved <= 1.0) | (done == max_sweeps)
        if check.any():
            idx = active[check]
            zi, qi = z[idx], q[idx]
            w = qi + _csr_matmul(indptr, indices, data, zi)
            a = np.abs(qi) + _csr_matmul(indptr, indices, np.abs(data), np.abs(zi))
            r = np.stack([_natural_vec(zi[:, k], w[:, k], lo[k], g[k], alpha)
                          for k in range(n)], 1)
            allowed = atol + tol * a + roundoff * np.abs(zi).max(axis=1)[:, None] * rows
            res = (r / np.maximum(allowed, TINY)).max(axis=1)
            residual[idx] = res
            finished = np.zeros(active.size, dtype=bool)
            finished[np.flatnonzero(check)[res <= 1.0]] = True
            active = active[~finished]


def _csr_matmul(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
                z: np.ndarray) -> np.ndarray:
    """``z @ Hᵀ`` for a CSR ``H`` (rows of ``z`` are samples)."""
    from scipy.sparse import csr_matrix

    n = indptr.size - 1
    return np.asarray((csr_matrix((data, indices, indptr), shape=(n, n)) @ z.T).T)
