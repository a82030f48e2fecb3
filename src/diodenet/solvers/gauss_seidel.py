"""Projected Gauss–Seidel: exact coordinate descent on the network's energy.

For a reciprocal network (symmetric ``H``) and PWL elements the equilibrium
minimises ``E(z) = ½zᵀHz + qᵀz + Σ_k Φ_k(z_k)`` (``∂Φ_k = F_k``; for an ideal
diode the indicator of ``z_k ≥ 0``, making it the QP ``min ½zᵀHz + qᵀz,
z ≥ 0``). Minimising ``E`` exactly along one coordinate, with the others held,
is one resolvent: ``z_k ← σ_{1/H_kk}(z_k - (Hz + q)_k / H_kk)``. Sweeping
``k = 0..n-1`` is projected Gauss–Seidel (the coordinate descent of deep
resistive networks); it never increases ``E`` and converges linearly for
``H ≻ 0``. Each sweep costs one pass over the stored entries of ``H``, so a
sparse kernel sweeps in ``O(nnz)``; samples stop one by one.

Preconditions (``ValueError`` otherwise): symmetric ``H`` with a positive
diagonal, and ideal or PWL elements (``Ideal``, ``PiecewiseLinear``).
The loops are compiled with numba when it is installed (``_sweeps``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from ..kernels.residuals import ROUNDOFF
from ._common import check_z0, equilibrium_transpose, positive_int
from .base import EquilibriumSolver, SolverState

if TYPE_CHECKING:
    from ..kernels.kernel import Kernel


@dataclass
class PGSState:
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    rows: np.ndarray  # Σ_j |H_kj| per row (Kernel.allowance's round-off term)
    diag: np.ndarray
    lo: np.ndarray  # knee of each element's resolvent (-vf)
    g: np.ndarray  # on-conductance 1/ron (inf: ideal knee)
    alpha: float  # the natural step (Kernel.residual's)
    density: float  # stored entries / n²


def is_symmetric(kernel: Kernel) -> bool:
    """``H = Hᵀ`` to round-off (cached on the kernel)."""

    return bool(kernel.entry_facts()["symmetric"])


def pwl_parameters(kernel: Kernel, method: str) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, g)`` per element (see ``_sweeps``); ``ValueError`` naming a non-PWL element."""
    from ..activations import Ideal, PiecewiseLinear

    lo = np.zeros(kernel.n)
    g = np.full(kernel.n, np.inf)
    for k, e in enumerate(kernel.elements):
        if type(e) is Ideal:
            continue
        if isinstance(e, PiecewiseLinear):
            lo[k] = -e.vf
            g[k] = np.inf if e.ron == 0 else 1.0 / e.ron
            continue
        label = kernel.element_names[k] if kernel.element_names else f"element {k}"
        raise ValueError(
            f"{method} needs ideal or PWL diodes, but {label} is {e!r} ({e.name}); "
            "use method 'newton' (smooth) or 'active_set'"
        )
    return lo, g


def csr_of(kernel: Kernel) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """``H`` as CSR arrays (numpy float64) and its density (stored entries / n²), cached."""

    def compute() -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        from scipy.sparse import csr_matrix

        H = kernel.H.detach().to("cpu", torch.float64).numpy()
        M = csr_matrix(H)
        n = max(kernel.n, 1)
        return (M.indptr.astype(np.int64), M.indices.astype(np.int64), M.data.copy(),
                M.nnz / (n * n))

    return kernel._cached("csr", compute)


def pgs_state(kernel: Kernel, method: str) -> PGSState:
    """Check the preconditions and lay ``H`` out for the sweeps."""
    if not is_symmetric(kernel):
        raise ValueError(
            f"{method} needs a reciprocal network (symmetric H); this kernel has a skew "
            "(gyrator) part: use method 'active_set' or 'pr'"
        )
    lo, g = pwl_parameters(kernel, method)
    diag = kernel.H.diagonal().detach().to("cpu", torch.float64).numpy().copy()
    if kernel.n and not bool((diag > 0).all()):
        k = int(np.argmin(diag))
        raise ValueError(f"{method} needs H_kk > 0 for every element; H[{k},{k}] = {diag[k]:g}")
    indptr, indices, data, density = csr_of(kernel)
    rows = np.asarray(kernel.entry_facts()["abs_rows"], dtype=np.float64)
    return PGSState(indptr, indices, data, rows, diag, lo, g, kernel.natural_step(), density)


def run_pgs(
    state: PGSState, kernel: Kernel, q: Tensor, z: Tensor | None, *, tol: float, atol: float,
    max_sweeps: int,
) -> tuple[Tensor, Tensor, Tensor]:
    """Sweeps from ``z`` (default 0) on ``q`` (batch, n) until every element's residual
    is within its allowance (``Kernel.allowance``); returns ``(z, sweeps,
    ratio)``, ``ratio`` each sample's largest residual over its allowance (at
    most 1: converged; see ``_sweeps``)."""
    from ._sweeps import pgs_sweeps

    qn = q.detach().to("cpu", torch.float64).numpy()
    zn = (np.zeros_like(qn) if z is None
          else z.detach().to("cpu", torch.float64).numpy().copy())
    qn = np.ascontiguousarray(qn)
    zn = np.ascontiguousarray(zn)
    sweeps, residual = pgs_sweeps(
        state.indptr, state.indices, state.data, state.rows, state.diag, state.lo, state.g,
        qn, zn, tol=tol, atol=atol, roundoff=ROUNDOFF * torch.finfo(kernel.dtype).eps,
        alpha=state.alpha, max_sweeps=max_sweeps,
    )
    z_out = torch.from_numpy(zn).to(dtype=kernel.dtype, device=kernel.device)
    return z_out, torch.from_numpy(sweeps), torch.from_numpy(residual)


class ProjectedGaussSeidel(EquilibriumSolver):
    """Projected Gauss–Seidel / exact coordinate descent (see the module docstring).

    ``max_iter`` bounds the sweeps per sample (default 20000); the iteration
    count returned is the most sweeps any sample used.
    """

    name = "pgs"

    def __init__(
        self, *, tol: float = 1e-10, atol: float = 0.0, max_iter: int | None = None
    ) -> None:
        super().__init__(tol=tol, atol=atol, max_iter=max_iter)
        self.max_iter = positive_int(20000 if max_iter is None else max_iter, "max_iter")

    def _init(self, kernel: Kernel) -> PGSState:
        return pgs_state(kernel, self.name)

    def _compute(
        self, solver_state: SolverState, kernel: Kernel, u: Tensor, z0: Tensor | None
    ) -> tuple[Tensor, int]:
        q = kernel.rhs(u)
        z = check_z0(kernel, z0, u.shape[0])
        z, sweeps, _ = run_pgs(solver_state.data, kernel, q, z, tol=self.tol, atol=self.atol,
                               max_sweeps=self.max_iter)
        return z, int(sweeps.max()) if sweeps.numel() else 0

    def _transpose(
        self, state: PGSState, kernel: Kernel, z: Tensor, v: Tensor, u: Tensor | None
    ) -> Tensor:
        """``(∂z/∂q)ᵀ v`` (see ``_common.equilibrium_transpose``)."""
        return equilibrium_transpose(kernel, z, v, u, kernel.natural_step())
