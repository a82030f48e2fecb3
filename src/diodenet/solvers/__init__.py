"""Equilibrium solvers for the kernel equation ``0 ∈ Hz + F(z) + Bu + b``.

One solver per file, all behind ``EquilibriumSolver`` (init / compute / transpose):

* ``'fb'``: forward–backward splitting, the monDEQ iteration (``forward_backward``);
* ``'pr'``: Peaceman–Rachford splitting (``peaceman_rachford``);
* ``'pgs'``: projected Gauss–Seidel, exact coordinate descent for reciprocal
  networks with ideal/PWL diodes (``gauss_seidel``);
* ``'active_set'``: primal–dual active set / semismooth Newton, exact for
  piecewise-linear elements (``active_set``);
* ``'newton'``: damped, junction-limited Newton for smooth elements (``newton``);
* ``'auto'``: ``newton`` when every element is smooth; otherwise the active set
  as a hybrid that stops at ``tol`` (``ActiveSet(exact=False)``), whose cost
  model (``_factor``, measured on one core) picks the iteration by size,
  density and symmetry (Gauss–Seidel sweeps on sparse reciprocal kernels, PR's
  matrix products on dense or non-reciprocal ones) and hands the samples still
  short of ``tol`` to the exact steps once the iteration has spent what those
  are estimated to cost. ``Equilibrium.method`` says what ran (``'pgs'``,
  ``'pr'``, ``'pgs+active_set'``, ...). Ask for ``'active_set'`` for the exact
  answer (residual at round-off), which the built-in simulator and hardware use.

``CachedSolver`` keeps one solver state for callers that solve a kernel again
and again (``reuse``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .active_set import ActiveSet
from .base import EquilibriumSolver, SolverState
from .forward_backward import ForwardBackward
from .gauss_seidel import ProjectedGaussSeidel
from .newton import Newton
from .peaceman_rachford import PeacemanRachford
from .reuse import CachedSolver

if TYPE_CHECKING:
    from ..kernels.kernel import Kernel

METHODS = ("auto", "pr", "fb", "pgs", "active_set", "newton")

_SOLVERS: dict[str, type[EquilibriumSolver]] = {
    "pr": PeacemanRachford,
    "fb": ForwardBackward,
    "pgs": ProjectedGaussSeidel,
    "active_set": ActiveSet,
    "newton": Newton,
}


def resolve_method(method: str, kernel: Kernel) -> str:
    """The method ``'auto'`` stands for on ``kernel`` (others pass through, validated)."""
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"unknown solver method {method!r}; choose one of {', '.join(METHODS)}")
    if method != "auto":
        return method
    if kernel.n > 0 and kernel.smooth:
        return "newton"
    return "active_set"


def get_solver(method: str, kernel: Kernel, **options: Any) -> EquilibriumSolver:
    """The solver for ``method`` (one of ``METHODS``) configured with ``options``.

    ``options`` are the solver's keyword arguments (``tol``, ``max_iter`` and
    the method's own, e.g. ``alpha``); an option the method does not take
    raises ``ValueError`` naming it.
    """
    name = resolve_method(method, kernel)
    if method == "auto" and name == "active_set":
        options.setdefault("exact", False)
    try:
        solver = _SOLVERS[name](**options)
    except TypeError as exc:
        raise ValueError(f"solver {name!r} does not take these options: {exc}") from None
    return solver


__all__ = [
    "METHODS",
    "ActiveSet",
    "CachedSolver",
    "EquilibriumSolver",
    "ForwardBackward",
    "Newton",
    "PeacemanRachford",
    "ProjectedGaussSeidel",
    "SolverState",
    "get_solver",
    "resolve_method",
]
