"""One solver and its state kept for a caller that solves a kernel again and again.

``Kernel.solve(u, solver=s, state=st)`` is the explicit form: a stale ``st``
(conductances changed) raises ``ValueError``. ``CachedSolver`` is for callers
whose kernel changes on purpose (training re-programs conductances): it keeps
the state while the kernel's ``fingerprint`` holds, runs ``init`` again when it
does not, and hands the new state what the old one remembered (the last
batch's conducting sets), which only ever saves work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import Tensor

from .base import EquilibriumSolver, SolverState

if TYPE_CHECKING:
    from ..kernels.equilibrium import Equilibrium
    from ..kernels.kernel import Kernel


class CachedSolver:
    """``solve(kernel, u)`` with ``init`` run once per distinct kernel.

    ``method`` and ``options`` are those of ``get_solver`` (``tol`` relative,
    ``atol`` amperes, ...); ``inits`` counts the factorisations done.
    """

    def __init__(self, method: str | EquilibriumSolver = "auto", **options: Any) -> None:
        if isinstance(method, EquilibriumSolver) and options:
            raise ValueError(f"options {', '.join(options)} belong to the solver instance; "
                             "set them when making it (get_solver(method, kernel, ...))")
        self.method = method
        self.options = options
        self.solver: EquilibriumSolver | None = None
        self.state: SolverState | None = None
        self.inits = 0

    def state_for(self, kernel: Kernel) -> tuple[EquilibriumSolver, SolverState]:
        """The solver and a state valid for ``kernel`` (re-initialised if it changed)."""
        from . import get_solver

        if self.solver is None:
            if isinstance(self.method, EquilibriumSolver):
                self.solver = self.method
            else:
                self.solver = get_solver(self.method, kernel, **dict(self.options))
        if self.state is None or self.state.fingerprint != kernel.fingerprint():
            memory = self.state.memory if self.state is not None else {}
            self.state = self.solver.init(kernel)
            self.state.memory.update(memory)
            self.inits += 1
        return self.solver, self.state

    def solve(
        self, kernel: Kernel, u: Any, *, z0: Tensor | None = None, raise_on_failure: bool = True
    ) -> Equilibrium:
        """``kernel.solve(u)`` with the kept solver and state."""
        solver, state = self.state_for(kernel)
        return kernel.solve(
            u, solver=solver, state=state, z0=z0, raise_on_failure=raise_on_failure
        )
