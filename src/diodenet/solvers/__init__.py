"""Equilibrium solvers for the kernel equation ``0 ∈ Hz + F(z) + Bu + b``.

One solver per file, all behind ``EquilibriumSolver`` (init / compute / transpose).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import EquilibriumSolver

if TYPE_CHECKING:
    from ..kernels.kernel import Kernel

METHODS = ("auto", "pr", "fb", "active_set", "newton")


def get_solver(method: str, kernel: Kernel, **options: object) -> EquilibriumSolver:
    """The solver for ``method`` (one of ``METHODS``)."""
    raise NotImplementedError("solvers are being written")


__all__ = ["METHODS", "EquilibriumSolver", "get_solver"]
