"""``Kernel.solve``: pick or check the solver, solve, and judge convergence.

Convergence is per sample: ``residual <= atol + tol · residual_scale``, the
scale being the circuit's own current scale (``Kernel.residual_scale``), so a
circuit whose conductances are all multiplied by a constant converges in the
same places. A solve that does not get there raises ``ConvergenceError``
naming the residual, the allowance and the scale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .equilibrium import ConvergenceError, Equilibrium, SingularSystemError

if TYPE_CHECKING:
    from ..solvers.base import EquilibriumSolver, SolverState
    from .kernel import ArrayLike, Kernel


def default_tol(dtype: torch.dtype) -> float:
    """1e-10 in float64; ``1e3·ε`` of a coarser dtype (1.2e-4 in float32), which
    an exact answer's round-off would otherwise miss."""
    return max(1e-10, 1e3 * torch.finfo(dtype).eps)


def solve_kernel(
    kernel: Kernel,
    u: ArrayLike,
    method: str | EquilibriumSolver = "auto",
    *,
    solver: EquilibriumSolver | None = None,
    state: SolverState | None = None,
    tol: float | None = None,
    atol: float | None = None,
    max_iter: int | None = None,
    z0: Tensor | None = None,
    raise_on_failure: bool = True,
    **options: object,
) -> Equilibrium:
    """``kernel.solve(u, ...)`` (see ``Kernel.solve`` for the arguments)."""
    from ..solvers import METHODS, EquilibriumSolver, get_solver

    u = kernel.check_inputs(u)
    if isinstance(method, EquilibriumSolver):
        if solver is not None and solver is not method:
            raise ValueError("pass the solver once: as method or as solver=, not both")
        solver = method
    if solver is not None:
        if not isinstance(solver, EquilibriumSolver):
            raise ValueError(
                f"solver must be an EquilibriumSolver, got {type(solver).__name__}"
            )
        named = (("tol", tol), ("atol", atol), ("max_iter", max_iter))
        given = [k for k, v in named if v is not None]
        if given or options:
            raise ValueError(
                f"options {', '.join(given + list(options))} belong to the solver instance; "
                "set them when making it (get_solver(method, kernel, ...))"
            )
    else:
        if state is not None:
            raise ValueError("state= needs the solver= that made it")
        if not isinstance(method, str):  # (a solver given as method became solver=)
            raise ValueError(f"unknown solver method {method!r}; choose one of "
                             f"{', '.join(METHODS)}")
        solver = get_solver(
            method, kernel, tol=default_tol(kernel.dtype) if tol is None else tol,
            atol=0.0 if atol is None else atol, max_iter=max_iter, **options,
        )
    if state is None:
        state = solver.init(kernel)
    try:
        z, iterations = solver.compute(state, kernel, u, z0=z0)
    except SingularSystemError as exc:  # raised where a factorisation met it
        raise SingularSystemError(
            f"{solver.name} met {exc}: the kernel's equilibrium need not exist or be "
            f"unique (λ_min(sym H) = {kernel.margin:.1e} S)") from None
    # a solver that measured Kernel.residual at the very z it returns hands it on
    known = state.memory.pop("residual", None)
    res = known[1] if known is not None and known[0] is z else kernel.residual(z, u)
    scale = kernel.residual_scale(z, kernel.rhs(u))
    converged = res <= solver.atol + solver.tol * scale
    eq = Equilibrium(
        z=z, y=kernel.outputs(z, u), iterations=iterations, residual=res,
        converged=converged, method=str(state.memory.get("method", solver.name)),
    )
    if raise_on_failure and not eq.all_converged:
        bad_rows = ~converged
        worst = int(torch.argmax(torch.where(bad_rows, res, -1.0)))
        worst_res, worst_scale = float(res[worst]), float(scale[worst])
        rel = worst_res / worst_scale if worst_scale > 0 else float("inf")
        bad = int(bad_rows.sum())
        raise ConvergenceError(
            f"{eq.method} did not converge: residual {worst_res:.3e} A > "
            f"{solver.atol + solver.tol * worst_scale:.3e} A allowed (relative residual "
            f"{rel:.3e} > tol {solver.tol:.1e} of the circuit's current scale "
            f"{worst_scale:.3e} A; atol {solver.atol:.1e} A) in {bad} of {u.shape[0]} "
            f"samples after {iterations} iterations",
            eq,
        )
    return eq
