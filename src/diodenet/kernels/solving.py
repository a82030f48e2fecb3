"""``Kernel.solve``: pick or check the solver, solve, and judge convergence.

Convergence is per element: a sample has converged when every element's
residual (``Kernel.element_residual``) is at most ``atol + tol · s_k``, ``s_k``
the element's own current scale (``Kernel.element_scale``), so a circuit whose
conductances are all multiplied by a constant converges in the same places,
and a high-impedance part is not judged by the currents of a stiff part beside
it. A solve that does not get there raises ``ConvergenceError`` naming the
worst element's residual, its allowance and its scale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .equilibrium import ConvergenceError, Equilibrium, SingularSystemError
from .residuals import worst

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
    # a solver that measured the residual at the very z it returns hands it on, with
    # its tolerance ratio (EquilibriumSolver.tolerance_ratio)
    known = state.memory.pop("residual", None)
    q = kernel.rhs(u)
    if known is not None and known[0] is z:
        res, ratio = known[1], known[2]
    else:
        r = kernel.element_residual(z, u, q)
        res, ratio = worst(r), solver.tolerance_ratio(kernel, z, q, r)
    converged = ratio <= 1.0
    eq = Equilibrium(
        z=z, y=kernel.outputs(z, u), iterations=iterations, residual=res,
        converged=converged, method=str(state.memory.get("method", solver.name)),
    )
    if raise_on_failure and not eq.all_converged:
        raise ConvergenceError(_failure(kernel, solver, eq, u, q), eq)
    return eq


def _failure(kernel: Kernel, solver: EquilibriumSolver, eq: Equilibrium, u: Tensor,
             q: Tensor) -> str:
    """What ``ConvergenceError`` says: the worst element (residual over allowance) of
    the worst sample, its residual and what it was allowed, and the largest residual
    of a failed sample."""
    bad_rows = ~eq.converged
    z = eq.z
    r = kernel.element_residual(z, u, q)
    scale = kernel.element_scale(z, q)
    allowed = kernel.allowance(z, q, solver.tol, solver.atol)
    # r/allowed, NaN (a residual that is not a number) as the worst of all
    rel = torch.nan_to_num(r / allowed, nan=torch.inf)
    per_sample = torch.where(bad_rows, rel.amax(dim=1), -1.0)
    row = int(torch.argmax(per_sample))
    k = int(torch.argmax(rel[row]))
    r_k, allowed_k, s_k = float(r[row, k]), float(allowed[row, k]), float(scale[row, k])
    label = f"element {k}" + (f" ({kernel.element_names[k]})" if kernel.element_names else "")
    relative = r_k / s_k if s_k > 0 else float("inf")
    largest = float(torch.where(bad_rows, eq.residual, -1.0).max())
    return (f"{eq.method} did not converge: residual {r_k:.3e} A > {allowed_k:.3e} A allowed "
            f"(relative residual {relative:.3e} > tol {solver.tol:.1e} of the current scale "
            f"{s_k:.3e} A of {label}; atol {solver.atol:.1e} A) in {int(bad_rows.sum())} of "
            f"{z.shape[0]} samples after {eq.iterations} iterations; their largest residual "
            f"is {largest:.3e} A")
