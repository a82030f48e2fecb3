"""The principal branch of the Lambert W function, in torch, overflow-safe.

``W₀(a)`` is the solution ``w >= -1`` of ``w e^w = a`` for ``a >= -1/e``.
torch has no Lambert W, so it is computed here by Halley's iteration from a
good initial guess, with a custom autograd rule from the implicit derivative::

    dW/da = W / (a (1 + W)) = 1 / (e^W (1 + W))

The diode ReLU needs ``W₀(e^t)`` with ``t`` up to ~4e4 (``x = 1 kV`` over
``nV_T = 26 mV``), far beyond ``exp``'s range in float32 (``t > 88``) and
float64 (``t > 709``). :func:`log_lambertw0_exp` works in the log domain:
``u = log W₀(e^t)`` solves ``u + e^u = t``, a smooth, convex, increasing
equation that never overflows (``e^u = W <= t``) and never underflows to a
wrong answer (``u -> t`` as ``t -> -∞``). Its derivative is
``du/dt = 1 / (1 + e^u)``.

All functions keep the input's dtype (float32 or float64) and device.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["lambertw0", "lambertw0_exp", "log_lambertw0_exp"]

# Halley converges cubically; from the guesses below 5 steps reach float64
# round-off for every t (checked against scipy over t in [-1e3, 1e5]).
_HALLEY_STEPS = 5


def _log_w_exp(t: Tensor) -> Tensor:
    """Solve ``u + e^u = t`` for ``u`` (no autograd)."""
    # Initial guess: W(z) ~ z/(1+z) for small z = e^t (exact to first order as
    # t -> -∞), and the asymptotic series t - log t + log t / t for large t.
    small = t - torch.nn.functional.softplus(t)
    tt = torch.clamp_min(t, 1.0)
    lt = torch.log(tt)
    large = torch.log(tt - lt + lt / tt)
    u = torch.where(t <= 1.0, small, large)
    for _ in range(_HALLEY_STEPS):
        eu = torch.exp(u)
        g = u + eu - t
        dg = 1.0 + eu
        # Halley: u <- u - 2 g g' / (2 g'^2 - g g''), with g'' = e^u.
        u = u - 2.0 * g * dg / (2.0 * dg * dg - g * eu)
    return u


class _LogLambertWExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, t: Tensor) -> Tensor:
        u = _log_w_exp(t)
        ctx.save_for_backward(u)
        return u

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (u,) = ctx.saved_tensors
        # du/dt = 1/(1 + e^u) = sigmoid(-u): finite for every u.
        return grad * torch.sigmoid(-u)


def log_lambertw0_exp(t: Tensor) -> Tensor:
    """``u = log W₀(e^t)``, the solution of ``u + e^u = t``, for any finite ``t``.

    Overflow-safe in float32 and float64; differentiable with
    ``du/dt = 1 / (1 + W₀(e^t))``. Precondition: ``t`` is a floating tensor.
    """
    if not torch.is_floating_point(t):
        raise ValueError("log_lambertw0_exp needs a floating-point tensor")
    return _LogLambertWExp.apply(t)


def lambertw0_exp(t: Tensor) -> Tensor:
    """``W₀(e^t)`` for any finite ``t`` without forming ``e^t`` (overflow-safe)."""
    return torch.exp(log_lambertw0_exp(t))


def _w_direct(a: Tensor) -> Tensor:
    """Halley on ``w e^w = a`` for ``-1/e <= a <= e`` (no autograd)."""
    # Branch-point series near a = -1/e (p = sqrt(2(1 + e a))), and
    # log1p(a) (1 - log1p(log1p(a)) / (2 + log1p(a))) elsewhere (Winitzki).
    p = torch.sqrt(torch.clamp_min(2.0 * (1.0 + math.e * a), 0.0))
    near_branch = -1.0 + p - p * p / 3.0 + 11.0 / 72.0 * p**3
    la = torch.log1p(torch.clamp_min(a, -0.25))
    regular = la * (1.0 - torch.log1p(la) / (2.0 + la))
    w = torch.where(a < -0.25, near_branch, regular)
    for _ in range(2 * _HALLEY_STEPS):
        ew = torch.exp(w)
        f = w * ew - a
        wp1 = w + 1.0
        denom = ew * wp1 - (w + 2.0) * f / (2.0 * wp1)
        step = f / denom
        # At the branch point itself w = -1 and the step is 0/0: keep w.
        w = torch.where(torch.isfinite(step), w - step, w)
    return w


class _LambertW0(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a: Tensor) -> Tensor:
        big = a > math.e
        # Large arguments through the log domain (never overflows).
        w_big = torch.exp(_log_w_exp(torch.log(torch.where(big, a, torch.ones_like(a)))))
        w = torch.where(big, w_big, _w_direct(torch.where(big, torch.zeros_like(a), a)))
        ctx.save_for_backward(w)
        return w

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (w,) = ctx.saved_tensors
        # dW/da = 1/(e^W (1 + W)); exp(-W) avoids overflow for large W.
        return grad * torch.exp(-w) / (1.0 + w)


def lambertw0(a: Tensor) -> Tensor:
    """Principal branch ``W₀(a)``: the solution ``w >= -1`` of ``w e^w = a``.

    Precondition: ``a >= -1/e`` (ValueError otherwise). Differentiable with
    ``dW/da = 1 / (e^W (1 + W))`` (infinite at the branch point ``a = -1/e``).
    """
    if not torch.is_floating_point(a):
        raise ValueError("lambertw0 needs a floating-point tensor")
    # Allow one rounding step below -1/e (the branch point is not representable).
    floor = -math.exp(-1.0) * (1.0 + 4.0 * torch.finfo(a.dtype).eps)
    if bool((a < floor).any()):
        raise ValueError("lambertw0: argument must be >= -1/e (principal branch domain)")
    return _LambertW0.apply(torch.clamp_min(a, -math.exp(-1.0)))
