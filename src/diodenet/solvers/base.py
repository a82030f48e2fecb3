"""The equilibrium-solver interface (after Lineax/Optimistix).

A solver is a small object with three steps:

* ``init(kernel) -> state``: everything that depends only on the kernel and
  can be reused across batches (step sizes, factorisations);
* ``compute(state, kernel, u, z0=None) -> (z, iterations)``: solve
  ``0 ∈ H z + F(z) + B u + b`` for a batch ``u`` (batch, m);
* ``transpose(state, kernel, z, v, u=None) -> w``: the adjoint of the
  linearised equilibrium map at ``z``: ``w = (∂z/∂q)ᵀ v`` where
  ``q = B u + b``. (Used by implicit differentiation.)

Solvers never check convergence themselves against the caller's meaning of
success: ``Kernel.solve`` computes the inclusion residual and decides.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from torch import Tensor

if TYPE_CHECKING:
    from ..kernels.kernel import Kernel


class EquilibriumSolver(ABC):
    name: str = "solver"

    def __init__(self, *, tol: float = 1e-10, max_iter: int | None = None) -> None:
        if not tol > 0:
            raise ValueError(f"tol must be > 0, got {tol}")
        self.tol = float(tol)
        # every solver bounds its iterations; each states (and sets) its own default
        self.max_iter: int = 1000 if max_iter is None else int(max_iter)

    @abstractmethod
    def init(self, kernel: Kernel) -> Any:
        """Precompute what depends on the kernel only."""

    @abstractmethod
    def compute(
        self, state: Any, kernel: Kernel, u: Tensor, z0: Tensor | None = None
    ) -> tuple[Tensor, int]:
        """Solve for a batch; return ``(z, iterations)``."""

    def transpose(
        self, state: Any, kernel: Kernel, z: Tensor, v: Tensor, u: Tensor | None = None
    ) -> Tensor:
        """``(∂z/∂q)ᵀ v`` at the equilibrium ``z`` (batch, n) for ``v`` (batch, n).

        ``u`` (the inputs ``z`` was solved for) pins each element's piece at a
        knee; solvers that can do without it accept ``None``.
        """
        raise NotImplementedError(f"{self.name} has no adjoint")
