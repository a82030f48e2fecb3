"""Peaceman–Rachford splitting of ``0 ∈ (Hz + q) + F(z)``.

With the linear part ``A(z) = Hz + q`` and the elements ``F``, PR iterates the
composition of reflected resolvents ``s ← (2J_{αF} - I)(2J_{αA} - I) s``:

    x = J_{αA}(s) = V (s - αq),    V = (I + αH)⁻¹   (factored once, in ``init``)
    y = J_{αF}(2x - s) = σ_α(2x - s)
    s ← s + 2(y - x)

and ``y`` converges to the equilibrium. This is the monDEQ reference's PR
loop written for the kernel (``V`` is its ``Winv`` with ``W = I - αH``). PR
converges for every ``α > 0`` when ``H`` is strongly monotone (margin
``m > 0``): ``2J_{αA} - I`` is then a contraction. For symmetric ``H`` its
linear rate is ``max |1 - αλ|/(1 + αλ)`` over the eigenvalues ``λ`` of
``H``, smallest at ``α = 1/√(λ_min λ_max)``; the automatic step uses that
(with ``‖H‖`` for ``λ_max`` when ``H`` has a skew, gyrator part).

A warm start ``z0`` enters as ``s = z0 + α(H z0 + q)``, the ``s`` whose
iteration is stationary when ``z0`` is the equilibrium.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ._common import (
    check_z0,
    equilibrium_transpose,
    pieces,
    positive_int,
    positive_step,
    spectrum,
)
from .base import EquilibriumSolver, SolverState

if TYPE_CHECKING:
    from ..kernels.kernel import Kernel


@dataclass
class PRState:
    alpha: float  # step (ohms)
    VT: Tensor  # ((I + αH)⁻¹)ᵀ, (n, n)
    RT: Tensor  # (2V - I)ᵀ: the reflected resolvent (Cayley operator) of αH, (n, n)


def pr_step(kernel: Kernel, alpha: float | None = None) -> float:
    """The automatic Peaceman–Rachford step (ohms): ``1/√(m ‖H‖)``, see the module docstring."""
    if alpha is not None:
        return alpha
    spec = spectrum(kernel)
    top = spec.sym_max if spec.symmetric else spec.norm
    low = max(spec.margin, 1e-6 * top)
    if not top > 0:
        return kernel.natural_step()
    return 1.0 / math.sqrt(low * top)


def pr_state(kernel: Kernel, alpha: float) -> PRState:
    eye = torch.eye(kernel.n, dtype=kernel.dtype, device=kernel.device)
    V = torch.linalg.inv(eye + alpha * kernel.H)
    return PRState(alpha=alpha, VT=V.T.contiguous(), RT=(2.0 * V - eye).T.contiguous())


def pr_blocks(state: PRState, kernel: Kernel, q: Tensor, z: Tensor, block: int) -> Iterator[Tensor]:
    """PR from ``z``: yields the iterate ``y`` after every ``block`` iterations, forever."""
    alpha = state.alpha
    s = z + alpha * (z @ kernel.H.T + q)
    # 2x - s = (2V - I)s - 2αVq: one fused product per iteration; and
    # s + 2(y - x) = 2y - (2x - s), so x itself is never formed
    bias = -2.0 * alpha * (q @ state.VT)
    sigma = kernel.resolvent_function()
    while True:
        for _ in range(block):
            r = torch.addmm(bias, s, state.RT)
            y = sigma(r, alpha)
            s = torch.sub(y, r, alpha=0.5).mul_(2.0)  # 2y - r
        yield y


def lanczos_extremes(A: Tensor, steps: int = 40) -> tuple[float, float]:
    """Estimates of λ_min and λ_max of a symmetric ``A`` by Lanczos (reorthogonalised).

    ``steps`` matrix–vector products; Ritz values lie inside the spectrum, so
    λ_min is over- and λ_max under-estimated, the more so the fewer steps.
    Up to 256 rows the exact extremes (``eigvalsh``) cost less and are returned.
    """
    k = A.shape[0]
    if k <= 256:  # measured: below this LAPACK's whole spectrum is the cheaper answer
        ev = torch.linalg.eigvalsh(A)
        return float(ev[0]), float(ev[-1])
    steps = min(steps, k)
    gen = torch.Generator(device="cpu").manual_seed(1)
    v = (torch.rand(k, generator=gen, dtype=A.dtype) + 0.5).to(A.device)
    Q = torch.zeros(steps, k, dtype=A.dtype, device=A.device)
    T = torch.zeros(steps, steps, dtype=A.dtype)
    Q[0] = v / torch.linalg.vector_norm(v)
    m = steps
    for j in range(steps):
        w = A @ Q[j]
        # full reorthogonalisation: k is small next to the solve, and it keeps Ritz values honest
        w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        T[j, j] = float(Q[j] @ (A @ Q[j]))
        if j + 1 < steps:
            beta = float(torch.linalg.vector_norm(w))
            if beta <= 1e-12 * max(abs(float(T[j, j])), 1e-300):
                m = j + 1
                break
            T[j, j + 1] = T[j + 1, j] = beta
            Q[j + 1] = w / beta
    ev = torch.linalg.eigvalsh(T[:m, :m])
    return float(ev[0]), float(ev[-1])


class StepAdapter:
    """Re-picks the PR step once the conducting sets have settled.

    PR's linear rate is set by the spectrum of ``H`` on the *free* elements
    (the conducting diodes): ``H_FF``, whose λ_min is often far above the
    margin of ``H`` because blocking diodes pin their nodes (Cauchy
    interlacing). Once at most a fraction ``settled`` of all (sample, element)
    pairs changed between free and clamped over a block, Lanczos on ``H_FF``
    of the median sample gives ``α = 1/√(λ_min λ_max)``; if it differs from
    the current step by more than 1.5×, PR restarts from the current iterate
    with it (one new inverse). Only for symmetric ``H`` (reciprocal
    networks); at most once per solve.
    """

    def __init__(self, kernel: Kernel, enabled: bool, settled: float = 0.01) -> None:
        self.enabled = enabled and kernel.n > 2 and spectrum(kernel).symmetric
        self.settled = settled
        self.last: Tensor | None = None

    def update(self, kernel: Kernel, state: PRState, free: Tensor) -> PRState | None:
        """A new state to restart PR with, or ``None`` to go on."""
        if not self.enabled:
            return None
        last, self.last = self.last, free
        if last is None or float((free != last).to(torch.float32).mean()) > self.settled:
            return None
        self.enabled = False
        counts = free.sum(dim=1)
        F = free[torch.argsort(counts)[counts.numel() // 2]]
        if int(F.sum()) < 2:
            return None
        idx = torch.nonzero(F).squeeze(1)
        lmin, lmax = lanczos_extremes(kernel.H[idx][:, idx])
        if not (lmin > 0 and lmax > 0):
            return None
        alpha = 1.0 / math.sqrt(lmin * lmax)
        if 1 / 1.5 < alpha / state.alpha < 1.5:
            return None
        return pr_state(kernel, alpha)


def pr_iterate(
    state: PRState,
    kernel: Kernel,
    u: Tensor,
    q: Tensor,
    z: Tensor,
    *,
    max_iter: int,
    check_every: int,
    ratio: Callable[[Tensor, Tensor], Tensor],
    adapt: bool = False,
) -> tuple[Tensor, Tensor, int]:
    """Run PR from ``z`` until every sample's ``ratio(z, r) <= 1`` or ``max_iter``.

    ``ratio`` takes an iterate and its element residuals (batch, n; amperes)
    to each sample's residual as a multiple of what it may keep
    (``EquilibriumSolver.tolerance_ratio``). ``adapt``: re-pick the step
    once the free sets settle (``StepAdapter``). Returns the best iterate per
    sample (least ratio), its ratio and the iterations used.
    """
    best_z = z
    best = ratio(z, kernel.element_residual(z, u, q))
    it = 0
    alpha_nat = kernel.natural_step()
    # at the natural step, the natural residual of set-valued elements is
    # Kernel.element_residual
    cheap = not kernel.any_smooth
    adapter = StepAdapter(kernel, adapt)
    blocks = pr_blocks(state, kernel, q, z, check_every)
    while it < max_iter and not bool((best <= 1.0).all()):
        if max_iter - it < check_every:
            blocks = pr_blocks(state, kernel, q, best_z, max_iter - it)
        y = next(blocks)
        it += min(check_every, max_iter - it)
        slope, natural = pieces(kernel, y, q, alpha_nat)
        now = ratio(y, natural if cheap else kernel.element_residual(y, u, q))
        better = now < best
        best_z = torch.where(better[:, None], y, best_z)
        best = torch.where(better, now, best)
        new_state = adapter.update(kernel, state, slope > 0)
        if new_state is not None:
            state = new_state
            blocks = pr_blocks(state, kernel, q, y, check_every)
    return best_z, best, it


class PeacemanRachford(EquilibriumSolver):
    """Peaceman–Rachford splitting; residual checked every ``check_every`` steps.

    Options: ``alpha`` (ohms, default automatic), ``check_every`` (default 5;
    each check costs one residual, one ``Kernel.element_scale`` and one host
    synchronisation),
    ``adapt`` (re-pick the step from the conducting set once it settles,
    ``StepAdapter``; default on unless ``alpha`` is given).
    ``max_iter`` defaults to 5000.
    """

    name = "pr"

    def __init__(
        self,
        *,
        tol: float = 1e-10,
        atol: float = 0.0,
        max_iter: int | None = None,
        alpha: float | None = None,
        check_every: int = 5,
        adapt: bool | None = None,
    ) -> None:
        super().__init__(tol=tol, atol=atol, max_iter=max_iter)
        self.alpha = positive_step(alpha, "alpha")
        # a step the user chose is kept
        self.adapt = self.alpha is None if adapt is None else bool(adapt)
        self.check_every = positive_int(check_every, "check_every")
        self.max_iter = positive_int(5000 if max_iter is None else max_iter, "max_iter")

    def _init(self, kernel: Kernel) -> PRState:
        return pr_state(kernel, pr_step(kernel, self.alpha))

    def _compute(
        self, solver_state: SolverState, kernel: Kernel, u: Tensor, z0: Tensor | None
    ) -> tuple[Tensor, int]:
        state: PRState = solver_state.data
        q = kernel.rhs(u)
        z = check_z0(kernel, z0, u.shape[0])
        if z is None:
            z = torch.zeros_like(q)
        z, _, it = pr_iterate(
            state, kernel, u, q, z,
            max_iter=self.max_iter, check_every=self.check_every,
            ratio=lambda z, r: self.tolerance_ratio(kernel, z, q, r), adapt=self.adapt,
        )
        return z, it

    def _transpose(
        self, state: PRState, kernel: Kernel, z: Tensor, v: Tensor, u: Tensor | None
    ) -> Tensor:
        """``(∂z/∂q)ᵀ v`` (see ``_common.equilibrium_transpose``)."""
        return equilibrium_transpose(kernel, z, v, u, kernel.natural_step())
