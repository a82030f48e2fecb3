"""What a kernel solve returns (``Equilibrium``) and what it raises when a solver
stops short of its tolerance (``ConvergenceError``, carrying what it reached)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import Tensor


@dataclass
class Equilibrium:
    """The solution of a batch of kernel equations.

    ``z`` (batch, n) and ``y`` (batch, p) are the equilibrium and its outputs;
    ``residual`` (batch,) is the largest inclusion residual of each sample's
    elements, in amperes (see ``Kernel.residual``), ``converged`` (batch,)
    whether every element's residual is within its tolerance (relative to its
    own current scale, ``Kernel.allowance``), ``iterations`` what the solver
    used, ``method`` which ran.
    """

    z: Tensor
    y: Tensor
    iterations: int
    residual: Tensor
    converged: Tensor
    method: str

    @property
    def all_converged(self) -> bool:
        return bool(self.converged.all())


class SingularSystemError(np.linalg.LinAlgError):
    """A solver met a singular system: the kernel's equilibrium need not exist,
    or be unique (``λ_min(sym H)`` at 0). A ``LinAlgError``, as numpy's solvers
    raise it, and so a ``ValueError``."""


class ConvergenceError(RuntimeError):
    """A solver stopped before the tolerance; carries the equilibrium it reached."""

    def __init__(self, message: str, equilibrium: Equilibrium) -> None:
        super().__init__(message)
        self.equilibrium = equilibrium
