"""monDEQ views of a kernel (Winston & Kolter, NeurIPS 2020).

For any step ``α > 0`` (ohms) the kernel equation ``0 ∈ Hz + F(z) + Bu + b``
is the fixed point of forward–backward splitting, which for ideal diodes is
the ReLU monDEQ::

    z = ReLU(W z + U x + c),   W = I - αH,  U = -αB,  c = -αb
    y = W_out z + D_out x + y0, W_out = -C, D_out = -D, y0 = -d

The equilibrium does not depend on ``α``; the split into "weights" and
"activation" does. Winston & Kolter parametrise ``W`` so that it is
monotone by construction::

    W = (1 - m) I - AᵀA + S - Sᵀ     (I - W = mI + AᵀA - S + Sᵀ ⪰ mI)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..activations import Nonlinearity
from .kernel import ArrayLike, Kernel


@dataclass
class MonDEQ:
    """``z = σ(W z + U x + b)``, ``y = W_out z + D x + y0`` at step ``alpha``.

    Iterating it yields ``(W, U, b, W_out, D)``, the five matrices the
    monDEQ literature names; ``y0`` and ``alpha`` ride along.
    """

    W: Tensor
    U: Tensor
    b: Tensor
    W_out: Tensor
    D: Tensor
    y0: Tensor
    alpha: float

    def __iter__(self) -> Iterator[Tensor]:
        return iter((self.W, self.U, self.b, self.W_out, self.D))

    def fixed_point_residual(self, z: Tensor, x: Tensor) -> Tensor:
        """``max |z - ReLU(W z + U x + b)|`` per sample (ideal diodes)."""
        return (z - torch.clamp_min(z @ self.W.T + x @ self.U.T + self.b, 0.0)).abs().amax(1)


def to_mondeq(kernel: Kernel, alpha: float | None = None) -> MonDEQ:
    """The monDEQ of ``kernel`` at step ``alpha`` (default ``kernel.natural_step()``).

    Precondition: every element is an ideal diode (``σ_α`` = ReLU), else the
    ReLU monDEQ has another fixed point."""
    if not kernel.all_ideal:
        kinds = sorted({type(e).__name__ for e in kernel.elements})
        raise ValueError(f"to_mondeq needs ideal diodes (a ReLU monDEQ); this kernel has "
                         f"{'/'.join(kinds)} elements")
    alpha = kernel.natural_step() if alpha is None else float(alpha)
    if not (alpha > 0 and math.isfinite(alpha)):
        raise ValueError(f"alpha must be a finite step > 0, got {alpha}")
    eye = torch.eye(kernel.n, dtype=kernel.dtype, device=kernel.device)
    return MonDEQ(
        W=eye - alpha * kernel.H, U=-alpha * kernel.B, b=-alpha * kernel.b,
        W_out=-kernel.C, D=-kernel.D, y0=-kernel.d, alpha=alpha,
    )


def from_mondeq(
    W: ArrayLike,
    U: ArrayLike,
    b: ArrayLike,
    W_out: ArrayLike,
    D: ArrayLike,
    *,
    alpha: float = 1.0,
    y0: ArrayLike | None = None,
    elements: Sequence[Nonlinearity] | None = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Kernel:
    """The kernel of a monDEQ: ``H = (I - W)/α``, ``B = -U/α``, ``b = -b/α``,
    ``C = -W_out``, ``D = -D``. Raises ``ValueError`` unless ``I - W`` is
    monotone (the monDEQ condition)."""
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    W = torch.as_tensor(W, dtype=dtype, device=device)
    eye = torch.eye(W.shape[0], dtype=dtype, device=device)
    to = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    return Kernel(
        (eye - W) / alpha, -to(U) / alpha, -to(W_out), -to(D), elements,
        b=-to(b) / alpha, d=None if y0 is None else -to(y0), dtype=dtype, device=device,
    )


def winston_kolter_weight(m: float, A: ArrayLike, S: ArrayLike) -> Tensor:
    """``W = (1 - m) I - AᵀA + S - Sᵀ``: monotone with margin ≥ ``m`` by construction."""
    if not m > 0:
        raise ValueError(f"monotonicity margin m must be > 0, got {m}")
    A = torch.as_tensor(A)
    S = torch.as_tensor(S, dtype=A.dtype)
    n = A.shape[1]
    if S.shape != (n, n):
        raise ValueError(f"S must have shape ({n}, {n}) to match A's columns, got {tuple(S.shape)}")
    eye = torch.eye(n, dtype=A.dtype)
    return (1 - m) * eye - A.T @ A + S - S.T


def from_winston_kolter(
    m: float,
    A: ArrayLike,
    S: ArrayLike,
    U: ArrayLike,
    b: ArrayLike,
    W_out: ArrayLike,
    D: ArrayLike,
    *,
    alpha: float = 1.0,
    dtype: torch.dtype = torch.float64,
    **kwargs: Any,
) -> Kernel:
    """The kernel of a Winston–Kolter monDEQ with ``W = (1-m)I - AᵀA + S - Sᵀ``;
    ``kwargs`` are ``from_mondeq``'s."""
    A = torch.as_tensor(A, dtype=dtype)
    W = winston_kolter_weight(m, A, torch.as_tensor(S, dtype=dtype))
    return from_mondeq(W, U, b, W_out, D, alpha=alpha, dtype=dtype, **kwargs)
