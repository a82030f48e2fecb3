"""PyTorch modules: a monDEQ layer that is a resistor–diode circuit.

``MonDEQLayer`` holds a Winston–Kolter parametrisation (all in kernel units,
``α = 1``)::

    H = m I + AᵀA + S - Sᵀ        (monotone with margin ≥ m by construction)
    0 ∈ H z + N₊(z) - (U x + c)   ⇔   z = ReLU((I - H) z + U x + c)
    y = W_out z + d

The forward pass solves the kernel equation exactly (active set); the
backward pass differentiates the equilibrium implicitly. At the solution the
free set ``F = {z > 0}`` satisfies ``H_FF z_F = (Ux + c)_F`` and ``z_N = 0``,
so with ``λ`` solving ``H_FFᵀ λ_F = ∂L/∂z_F`` (``λ_N = 0``)::

    ∂L/∂H = -λ zᵀ,     ∂L/∂(Ux + c) = λ

Only ideal diodes (ReLU) are supported here. ``to_kernel()`` and
``to_circuit()`` hand the trained layer to the rest of diodenet, e.g. to run
it in ngspice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from ..kernels.kernel import Kernel

if TYPE_CHECKING:
    from ..circuits import Circuit


class _Equilibrium(torch.autograd.Function):
    """``z`` solving ``0 ∈ H z + N₊(z) - q`` (batch), differentiable in ``H`` and ``q``."""

    @staticmethod
    def forward(ctx, H: Tensor, q: Tensor, tol: float) -> Tensor:
        m = q.shape[1]
        kernel = Kernel(H.detach(), torch.eye(m, dtype=H.dtype, device=H.device),
                        torch.zeros(0, m, dtype=H.dtype, device=H.device),
                        torch.zeros(0, m, dtype=H.dtype, device=H.device),
                        dtype=H.dtype, device=H.device, monotone_tol=1e-8)
        z = kernel.solve(-q.detach(), method="active_set", tol=tol).z
        ctx.save_for_backward(H, z)
        return z

    @staticmethod
    def backward(ctx, grad_z: Tensor) -> tuple[Tensor, Tensor, None]:
        H, z = ctx.saved_tensors
        free = (z > 0).to(H.dtype)  # (batch, n)
        # (J Hᵀ J + (I - J)) λ = J g: H_FFᵀ on the free set, identity elsewhere
        A = free[:, :, None] * H.T[None] * free[:, None, :] + torch.diag_embed(1 - free)
        lam = torch.linalg.solve(A, (free * grad_z).unsqueeze(-1)).squeeze(-1)
        grad_H = -(lam.T @ z)
        return grad_H, lam, None


class MonDEQLayer(nn.Module):
    """A ReLU monDEQ ``z = ReLU((I - H) z + U x + c)``, ``y = W_out z + d``.

    Parameters
    ----------
    in_features, hidden, out_features:
        sizes of ``x``, ``z`` and ``y``.
    margin:
        the monotonicity margin ``m > 0`` (kernel units).
    tol:
        the equilibrium solver's tolerance.
    """

    def __init__(
        self,
        in_features: int,
        hidden: int,
        out_features: int,
        *,
        margin: float = 0.5,
        tol: float = 1e-11,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not margin > 0:
            raise ValueError(f"margin must be > 0, got {margin}")
        self.margin = float(margin)
        self.tol = tol
        scale = hidden ** -0.5

        def randn(*shape: int) -> Tensor:
            return torch.randn(*shape, generator=generator, dtype=dtype, device=device)

        self.A = nn.Parameter(randn(hidden, hidden) * scale * 0.5)
        self.S = nn.Parameter(randn(hidden, hidden) * scale * 0.1)
        self.U = nn.Parameter(randn(hidden, in_features) * in_features ** -0.5)
        self.c = nn.Parameter(torch.zeros(hidden, dtype=dtype, device=device))
        self.W_out = nn.Parameter(randn(out_features, hidden) * scale)
        self.d = nn.Parameter(torch.zeros(out_features, dtype=dtype, device=device))

    def H(self) -> Tensor:
        n = self.A.shape[0]
        eye = torch.eye(n, dtype=self.A.dtype, device=self.A.device)
        return self.margin * eye + self.A.T @ self.A + self.S - self.S.T

    def equilibrium(self, x: Tensor) -> Tensor:
        """The hidden state ``z`` (batch, hidden)."""
        if not torch.isfinite(x).all():
            raise ValueError("input contains NaN or inf")
        q = x @ self.U.T + self.c
        return _Equilibrium.apply(self.H(), q, self.tol)

    def forward(self, x: Tensor) -> Tensor:
        return self.equilibrium(x) @ self.W_out.T + self.d

    def to_kernel(self) -> Kernel:
        """The kernel ``0 ∈ Hz + N₊(z) + Bu + b``, ``y = -Cz - Du - d`` of this layer."""
        with torch.no_grad():
            m = self.U.shape[1]
            return Kernel(self.H(), -self.U, -self.W_out,
                          torch.zeros(self.W_out.shape[0], m, dtype=self.U.dtype),
                          b=-self.c, d=-self.d, dtype=self.U.dtype)

    def to_circuit(self, **kwargs: Any) -> Circuit:
        """A resistor/transformer/gyrator/diode circuit realising this layer
        (``diodenet.kernels.realize``); its inputs are ``vu1..``, outputs ``y1..``.
        Kernel units are taken as siemens (α = 1 Ω)."""
        from ..kernels.realize import realize

        return realize(self.to_kernel(), **kwargs)
