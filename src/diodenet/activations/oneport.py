"""Monotone one-ports and the activations they induce.

Conventions (SPICE's, SI units):

* A one-port has a **forward voltage** ``v`` (volts, + terminal minus −
  terminal) and a **current** ``i`` (amperes, into the + terminal). Its I–V
  relation ``i ∈ f(v)`` is maximal monotone: a non-decreasing graph, possibly
  with vertical pieces (an ideal diode conducts any ``i >= 0`` at ``v = 0``).
* The *activation circuit*: a voltage source ``x`` (volts) drives a series
  resistor ``r`` (ohms) into the one-port. Kirchhoff's voltage law,
  ``x = v + r i``, has exactly one solution ``(v, i)`` because ``f`` is
  monotone; its Norton twin (a current ``x / r`` into ``r`` in parallel with
  the element) has the same solution.

The two activations, both in **volts**, are the two resolvents::

    σ_Y(x) = (I + r f)⁻¹(x)        = v      admittance form (element voltage)
    σ_Z(x) = (I + (1/r) f⁻¹)⁻¹(x)  = r · i  impedance form (current × r)

``f`` is the element's admittance relation (current from voltage) and
``f⁻¹`` its impedance relation (voltage from current); they are inverse
monotone operators, so Moreau's identity ``σ_Y(x) + σ_Z(x) = x`` holds (it
is KVL). ``series_current`` gives ``i = σ_Z(x) / r`` in amperes.

Small signal: at the operating point the element's conductance is
``g = di/dv`` (siemens), so ``dσ_Y/dx = 1 / (1 + r g)`` and
``dσ_Z/dx = r g / (1 + r g)`` (``g = ∞`` for a conducting ideal diode).

Kernel convention (``diodenet.activations.base``): the kernel variable of a
diode is its *reverse* voltage ``z = -v`` and ``F(z) = -f(-z)``, so the
kernel resolvent is ``σ_α(x) = -σ_Y(-x)`` with ``r = α``;
:meth:`OnePort.as_nonlinearity` returns that :class:`Nonlinearity`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor

from .base import Nonlinearity

__all__ = ["OnePort", "OnePortNonlinearity", "check_resistance"]


def check_resistance(r: float | Tensor) -> None:
    """Precondition of every activation: the series resistance ``r > 0`` (ohms)."""
    if isinstance(r, Tensor):
        if not bool((r > 0).all()) or not bool(torch.isfinite(r).all()):
            raise ValueError("series resistance r must be finite and > 0 ohms")
    elif not (float(r) > 0 and float(r) < float("inf")):
        raise ValueError(f"series resistance r must be finite and > 0 ohms, got {r}")


def as_tensor(x: Tensor | float, like: Tensor | None = None) -> Tensor:
    """``x`` as a floating tensor (float64 unless ``x`` already is floating)."""
    if isinstance(x, Tensor):
        return x if torch.is_floating_point(x) else x.to(torch.float64)
    dtype = like.dtype if like is not None else torch.float64
    return torch.as_tensor(x, dtype=dtype)


class OnePort(ABC):
    """A one-port with a maximal monotone I–V relation ``i ∈ f(v)``.

    Subclasses implement both resolvents independently (so that the Moreau
    identity is a check, not a definition) and the small-signal conductance.
    """

    name: str = "one-port"
    #: f is a function (single-valued, differentiable almost everywhere).
    smooth: ClassVar[bool] = False
    #: f is piecewise affine.
    piecewise_linear: ClassVar[bool] = False
    #: Which resolvent the design table calls "the activation" of this
    #: element: "impedance" (r·i, e.g. the diode ReLU) or "admittance"
    #: (the element voltage, e.g. the clamp's clip).
    activation_form: ClassVar[str] = "impedance"

    # -- the element --------------------------------------------------------

    def current(self, v: Tensor) -> Tensor:
        """``i = f(v)`` in amperes at forward voltage ``v`` (volts).

        Raises ValueError for a set-valued relation (an ideal diode at 0 V
        carries any current >= 0).
        """
        raise ValueError(f"{self.name}: the I-V relation is set-valued, i = f(v) is undefined")

    @abstractmethod
    def conductance(self, v: Tensor) -> Tensor:
        """Small-signal conductance ``g = di/dv`` (siemens) at forward voltage ``v``.

        ``inf`` on a vertical piece of the graph (a conducting ideal diode).
        """

    # -- the activations ----------------------------------------------------

    @abstractmethod
    def admittance_activation(self, x: Tensor, r: float | Tensor) -> Tensor:
        """``σ_Y(x) = (I + r f)⁻¹(x)``: the element voltage (V) for applied ``x`` (V)."""

    @abstractmethod
    def impedance_activation(self, x: Tensor, r: float | Tensor) -> Tensor:
        """``σ_Z(x) = r · i`` (V): the series current scaled by ``r``, for applied ``x`` (V)."""

    def activation(self, x: Tensor, r: float | Tensor) -> Tensor:
        """The form the design table lists for this element (see ``activation_form``)."""
        if self.activation_form == "admittance":
            return self.admittance_activation(x, r)
        return self.impedance_activation(x, r)

    def series_current(self, x: Tensor, r: float | Tensor) -> Tensor:
        """Current ``i`` (amperes) through ``r`` and the element, for applied ``x`` (V)."""
        return self.impedance_activation(x, r) / as_tensor(r, as_tensor(x))

    def operating_point(self, x: Tensor, r: float | Tensor) -> tuple[Tensor, Tensor]:
        """``(v, i)``: element voltage (V) and current (A) of the activation circuit."""
        return self.admittance_activation(x, r), self.series_current(x, r)

    def small_signal_conductance(self, x: Tensor, r: float | Tensor) -> Tensor:
        """The element's conductance ``g`` (S) at the operating point for applied ``x``."""
        with torch.no_grad():
            return self.conductance(self.admittance_activation(x, r))

    def admittance_derivative(self, x: Tensor, r: float | Tensor) -> Tensor:
        """``dσ_Y/dx = 1 / (1 + r g)`` with ``g`` the operating-point conductance."""
        rg = as_tensor(r, as_tensor(x)) * self.small_signal_conductance(x, r)
        return torch.where(torch.isinf(rg), torch.zeros_like(rg), 1.0 / (1.0 + rg))

    def impedance_derivative(self, x: Tensor, r: float | Tensor) -> Tensor:
        """``dσ_Z/dx = r g / (1 + r g)`` with ``g`` the operating-point conductance."""
        rg = as_tensor(r, as_tensor(x)) * self.small_signal_conductance(x, r)
        return torch.where(torch.isinf(rg), torch.ones_like(rg), rg / (1.0 + rg))

    # -- use in a kernel ----------------------------------------------------

    def as_nonlinearity(self) -> Nonlinearity:
        """This element as a kernel relation ``F(z) = -f(-z)`` (reverse voltage ``z``)."""
        return OnePortNonlinearity(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class OnePortNonlinearity(Nonlinearity):
    """Adapter: a :class:`OnePort` in the kernel's reverse-voltage convention.

    ``F(z) = -f(-z)``; resolvent ``σ_α(x) = -σ_Y(-x)`` with series resistance
    ``α``; ``F'(z) = f'(-z)``. Exactly at a knee of a piecewise-linear
    element (a set of measure zero) ``resolvent_derivative`` takes the
    blocking piece, as autograd of relu does; ``Ideal`` and ``PiecewiseLinear``
    in ``base`` take the conducting piece. Both are valid affine pieces there.
    """

    def __init__(self, port: OnePort) -> None:
        if not isinstance(port, OnePort):
            raise ValueError(f"expected a OnePort, got {type(port).__name__}")
        self.port = port
        self.name = port.name
        self.smooth = port.smooth
        self.piecewise_linear = port.piecewise_linear

    def resolvent(self, x: Tensor, alpha: float | Tensor) -> Tensor:
        check_resistance(alpha)
        return -self.port.admittance_activation(-x, alpha)

    def resolvent_derivative(self, x: Tensor, alpha: float | Tensor) -> Tensor:
        check_resistance(alpha)
        return self.port.admittance_derivative(-x, alpha)

    def value(self, z: Tensor) -> Tensor:
        return -self.port.current(-z)

    def derivative(self, z: Tensor) -> Tensor:
        if not self.smooth:
            return super().derivative(z)
        return self.port.conductance(-z)

    def __repr__(self) -> str:
        return f"OnePortNonlinearity({self.port!r})"


# --------------------------------------------------------------------------
# Guarded Newton for s + r f(s) = x (used by FunctionPort)
# --------------------------------------------------------------------------


def _midpoint(lo: Tensor, hi: Tensor) -> Tensor:
    """Bisection point, taken in asinh coordinates so that a bracket spanning
    many decades (an exponential's ``x - r f(x)`` can be -1e70) shrinks in
    a few dozen steps; falls back to the arithmetic midpoint."""
    mid = torch.sinh(0.5 * (torch.asinh(lo) + torch.asinh(hi)))
    arith = lo + 0.5 * (hi - lo)
    ok = (mid > lo) & (mid < hi) & torch.isfinite(mid)
    return torch.where(ok, mid, arith)


def newton_resolvent(
    current: Callable[[Tensor], Tensor],
    conductance: Callable[[Tensor], Tensor],
    x: Tensor,
    r: Tensor,
    max_iter: int = 500,
) -> Tensor:
    """Solve ``s + r f(s) = x`` for a monotone function ``f`` (no autograd).

    Bracket: with ``c = x - r f(x)``, the root lies between ``x`` and ``c``
    (``g(s) = s + r f(s) - x`` is increasing, ``g(x) = r f(x)`` and
    ``g(c) = r (f(c) - f(x))`` has the opposite sign). Newton steps are taken
    when they stay inside the bracket and at least halve the previous step
    (Numerical Recipes' ``rtsafe`` rule); otherwise the bracket is bisected.
    Raises ValueError when the bracket test fails (``f`` is not monotone
    there) and RuntimeError when it does not converge.
    """
    eps = torch.finfo(x.dtype).eps
    fx = current(x)
    # An exponential's f(x) may overflow: any finite far point keeps the bracket.
    big = torch.finfo(x.dtype).max / 16
    c = torch.nan_to_num(x - r * fx, nan=0.0, posinf=big, neginf=-big)
    lo = torch.minimum(x, c)
    hi = torch.maximum(x, c)
    rf_lo = r * current(lo)
    rf_hi = r * current(hi)
    g_lo = lo + rf_lo - x
    g_hi = hi + rf_hi - x
    slack = 8 * eps * (x.abs() + lo.abs() + hi.abs() + rf_lo.abs() + rf_hi.abs() + 1.0)
    if not bool(((g_lo <= slack) & (g_hi >= -slack)).all()):
        bad = x[~((g_lo <= slack) & (g_hi >= -slack))].flatten()[0].item()
        raise ValueError(f"the I-V relation is not monotone: no bracketed resolvent at x = {bad}")
    s = x.clone()
    dx_old = hi - lo
    for _ in range(max_iter):
        i = current(s)
        g = s + r * i - x
        lo = torch.where(g < 0, s, lo)
        hi = torch.where(g > 0, s, hi)
        tol = 4 * eps * (s.abs() + x.abs() + (r * i).abs() + 1e-300)
        width_done = (hi - lo) <= 4 * eps * (s.abs() + 1e-300)
        done = ((g.abs() <= tol) & torch.isfinite(g)) | width_done
        if bool(done.all()):
            return s
        step = g / (1.0 + r * conductance(s))
        s_newton = s - step
        use_newton = (
            (s_newton > lo) & (s_newton < hi) & torch.isfinite(s_newton)
            & (step.abs() <= 0.5 * dx_old.abs())
        )
        s_new = torch.where(use_newton, s_newton, _midpoint(lo, hi))
        s_new = torch.where(done, s, s_new)
        dx_old = torch.where(done, dx_old, s_new - s)
        s = s_new
    raise RuntimeError(f"resolvent did not converge in {max_iter} iterations")
