"""The equilibrium-solver interface (after Lineax/Optimistix).

A solver is a small, immutable-in-use object with three steps:

* ``init(kernel) -> SolverState``: everything that depends only on the
  kernel and can be reused across batches (step sizes, factorisations,
  sparse structure), stamped with the kernel's ``fingerprint``;
* ``compute(state, kernel, u, z0=None) -> (z, iterations)``: solve
  ``0 ∈ H z + F(z) + B u + b`` for a batch ``u`` (batch, m);
* ``transpose(state, kernel, z, v, u=None) -> w``: the adjoint of the
  linearised equilibrium map at ``z``: ``w = (∂z/∂q)ᵀ v`` where
  ``q = B u + b``. (Used by implicit differentiation.)

Subclasses implement ``_init``, ``_compute`` and (optionally) ``_transpose``;
the public methods check that the state still belongs to the kernel, so a
state factored for old conductances raises ``ValueError`` instead of
answering for a circuit that no longer exists.

Tolerances are relative to each element's own current scale: a sample has
converged when every element's inclusion residual ``r_k`` (amperes,
``Kernel.element_residual``) is at most ``atol + tol · s_k`` with
``s_k = Σ_j |H_kj||z_j| + |q_k|`` (amperes, ``Kernel.element_scale``), so a
high-impedance part of a circuit is held to its own small currents and not to
those of a stiff part beside it. Multiplying every conductance by a constant
multiplies both sides alike, so no decision moves. ``Kernel.solve`` makes the
final decision; solvers use ``tolerance_ratio`` for their own stopping tests.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torch import Tensor

if TYPE_CHECKING:
    from ..kernels.kernel import Kernel


@dataclass
class SolverState:
    """What ``init`` computed for one kernel, reusable across ``compute`` calls.

    ``fingerprint`` identifies the kernel (``Kernel.fingerprint``); ``data``
    is the solver's own (factorisations, steps); ``memory`` carries what one
    solve leaves for the next (e.g. the last batch's conducting sets as a
    warm start); it never changes an answer, only the work to reach it.
    """

    solver: str
    fingerprint: tuple[Any, ...]
    data: Any
    memory: dict[str, Any] = field(default_factory=dict)


class EquilibriumSolver(ABC):
    """Base class: ``init`` / ``compute`` / ``transpose`` (see the module docstring).

    ``tol`` (dimensionless, relative to ``Kernel.element_scale``) and
    ``atol`` (amperes) set the stopping test ``r_k <= atol + tol · s_k`` for
    every element ``k``; at least one must be > 0.
    """

    name: str = "solver"

    def __init__(
        self, *, tol: float = 1e-10, atol: float = 0.0, max_iter: int | None = None
    ) -> None:
        tol, atol = float(tol), float(atol)
        if not (math.isfinite(tol) and tol >= 0 and math.isfinite(atol) and atol >= 0):
            raise ValueError(f"tol and atol must be finite and >= 0, got tol={tol}, atol={atol}")
        if not (tol > 0 or atol > 0):
            raise ValueError(f"tol must be > 0 (or atol > 0), got tol={tol}, atol={atol}")
        self.tol = tol
        self.atol = atol
        # every solver bounds its iterations; each states (and sets) its own default
        self.max_iter: int = 1000 if max_iter is None else int(max_iter)

    # ------------------------------------------------------------ public API
    def init(self, kernel: Kernel) -> SolverState:
        """Precompute what depends on the kernel only (see ``SolverState``)."""
        return SolverState(self.name, kernel.fingerprint(), self._init(kernel))

    def compute(
        self, state: SolverState, kernel: Kernel, u: Tensor, z0: Tensor | None = None
    ) -> tuple[Tensor, int]:
        """Solve for a batch ``u`` (batch, m) already checked by ``Kernel.check_inputs``;
        return ``(z, iterations)``. Raises ``ValueError`` if ``state`` is not this
        kernel's."""
        self.check_state(state, kernel)
        return self._compute(state, kernel, u, z0)

    def transpose(
        self, state: SolverState, kernel: Kernel, z: Tensor, v: Tensor, u: Tensor | None = None
    ) -> Tensor:
        """``(∂z/∂q)ᵀ v`` at the equilibrium ``z`` (batch, n) for ``v`` (batch, n).

        ``u`` (the inputs ``z`` was solved for) pins each element's piece at a
        knee; solvers that can do without it accept ``None``.
        """
        self.check_state(state, kernel)
        return self._transpose(state.data, kernel, z, v, u)

    def check_state(self, state: SolverState, kernel: Kernel) -> None:
        """``ValueError`` unless ``state`` came from this solver's ``init`` on this kernel."""
        if not isinstance(state, SolverState):
            raise ValueError(
                f"state must be what {self.name}.init(kernel) returned, got {type(state).__name__}"
            )
        if state.solver != self.name:
            raise ValueError(f"state was made by solver {state.solver!r}, not {self.name!r}")
        if state.fingerprint != kernel.fingerprint():
            raise ValueError(
                "solver state does not match the kernel: its H, elements or size changed "
                "since init (e.g. new conductances); call init(kernel) again"
            )

    def tolerance_ratio(self, kernel: Kernel, z: Tensor, q: Tensor, r: Tensor) -> Tensor:
        """Each sample's residual as a multiple of what the tolerance allows ((batch,)):
        ``max_k r_k / allowance_k`` for the element residuals ``r`` (batch, n;
        amperes, ``Kernel.element_residual``) at ``z``, ``allowance`` being
        ``atol + tol · s_k`` (``Kernel.element_scale``) and the round-off of
        an exact answer (``Kernel.allowance``). At most 1: converged.

        An element with ``s_k = 0`` (no drive and no voltage on any element it
        touches) has ``w_k`` computed as an exact 0, so its residual is exactly 0
        at an answer, and a ratio of 0; nothing is divided by zero.
        """
        if kernel.n == 0:
            return r.new_zeros(r.shape[0])
        return (r / kernel.allowance(z, q, self.tol, self.atol)).amax(dim=1)

    # --------------------------------------------------------- subclass hooks
    @abstractmethod
    def _init(self, kernel: Kernel) -> Any:
        """The solver's kernel-only data (``SolverState.data``)."""

    @abstractmethod
    def _compute(
        self, state: SolverState, kernel: Kernel, u: Tensor, z0: Tensor | None
    ) -> tuple[Tensor, int]:
        """Solve a batch with a checked ``state``."""

    def _transpose(
        self, data: Any, kernel: Kernel, z: Tensor, v: Tensor, u: Tensor | None
    ) -> Tensor:
        raise NotImplementedError(f"{self.name} has no adjoint")
