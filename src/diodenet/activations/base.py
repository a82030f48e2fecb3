"""Nonlinear one-ports as maximal monotone relations: the kernel's ``F``.

A kernel ``0 ∈ H z + F(z) + B u`` has one scalar relation ``F_k`` per nonlinear
element. diodenet keeps each relation in the *kernel variable* ``z``:

* for a diode extracted from a circuit, ``z`` is its **reverse voltage**
  ``V(cathode) - V(anode)`` (admittance form) and ``F(z) = -i(-z)`` where
  ``i(v)`` is the diode current at forward voltage ``v``;
* an ideal diode is then ``F = N₊``, the normal cone of ``[0, ∞)``.

What the solvers need from a relation:

* ``resolvent(x, alpha)``: ``σ_α(x) = (I + αF)⁻¹(x)``, the activation
  (ReLU for the ideal diode, for every ``α > 0``);
* ``resolvent_derivative(x, alpha)``: ``dσ_α/dx`` (for set-valued knees the
  convention is the derivative of the *open* side, e.g. ``0`` for ReLU at ``0``);
* for smooth relations, ``value(z)`` = ``F(z)`` and ``derivative(z)`` = ``F'(z)``,
  the small-signal conductance; and ``limit(z_new, z_old)`` to keep Newton
  from overshooting an exponential (SPICE's junction-voltage limiting).

Preconditions: every relation is maximal monotone (a non-decreasing graph);
``alpha > 0``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor

from ..circuits.diode_models import THERMAL_VOLTAGE


def _check_alpha(alpha: float | Tensor) -> None:
    if isinstance(alpha, Tensor):
        if not bool((alpha > 0).all()):
            raise ValueError("resolvent step alpha must be > 0")
    elif not alpha > 0:
        raise ValueError(f"resolvent step alpha must be > 0, got {alpha}")


class Nonlinearity(ABC):
    """A scalar maximal monotone relation ``F`` (one nonlinear element)."""

    #: True when F is piecewise affine (an exact active-set solve applies).
    piecewise_linear: bool = False
    #: True when F is a differentiable function (Newton applies).
    smooth: bool = False
    name: str = "nonlinearity"

    @abstractmethod
    def resolvent(self, x: Tensor, alpha: float | Tensor) -> Tensor:
        """``σ_α(x) = (I + αF)⁻¹(x)``."""

    @abstractmethod
    def resolvent_derivative(self, x: Tensor, alpha: float | Tensor) -> Tensor:
        """``dσ_α/dx`` at ``x``."""

    def value(self, z: Tensor) -> Tensor:
        """``F(z)`` for a smooth relation."""
        raise ValueError(f"{self.name} is not a smooth relation: F(z) is set-valued")

    def derivative(self, z: Tensor) -> Tensor:
        """``F'(z)``: the element's small-signal conductance (smooth relations)."""
        raise ValueError(f"{self.name} is not a smooth relation")

    def limit(self, z_new: Tensor, z_old: Tensor) -> Tensor:
        """Newton step limiting (identity unless the relation is exponential)."""
        return z_new

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(vars(self).items()))))


class Ideal(Nonlinearity):
    """Ideal diode, ``F = N₊``: ``z >= 0``, and ``F(0) = (-∞, 0]``. ``σ_α = ReLU``."""

    piecewise_linear = True
    name = "ideal diode"

    def resolvent(self, x: Tensor, alpha: float | Tensor) -> Tensor:
        _check_alpha(alpha)
        return torch.clamp_min(x, 0.0)

    def resolvent_derivative(self, x: Tensor, alpha: float | Tensor) -> Tensor:
        return (x > 0).to(x.dtype)


class PiecewiseLinear(Nonlinearity):
    """A PWL diode in admittance form: forward drop ``vf`` (V), on-resistance ``ron`` (Ω).

    In the reverse-voltage variable ``z``: ``F(z) = min(0, z + vf) / ron``; for
    ``ron = 0`` it is the normal cone of ``[-vf, ∞)``. Resolvent::

        σ_α(x) = x                                    if x >= -vf
               = (x - α vf / ron) / (1 + α / ron)     otherwise   (ron > 0)
               = -vf                                  otherwise   (ron = 0)
    """

    piecewise_linear = True
    name = "PWL diode"

    def __init__(self, vf: float = 0.7, ron: float = 0.0) -> None:
        if not math.isfinite(vf):
            raise ValueError(f"forward voltage vf must be finite, got {vf}")
        if not (math.isfinite(ron) and ron >= 0):
            raise ValueError(f"on-resistance ron must be finite and >= 0, got {ron}")
        self.vf = float(vf)
        self.ron = float(ron)

    def resolvent(self, x: Tensor, alpha: float | Tensor) -> Tensor:
        _check_alpha(alpha)
        if self.ron == 0:
            return torch.clamp_min(x, -self.vf)
        on = (x - alpha * self.vf / self.ron) / (1 + alpha / self.ron)
        return torch.where(x >= -self.vf, x, on)

    def resolvent_derivative(self, x: Tensor, alpha: float | Tensor) -> Tensor:
        slope = 0.0 if self.ron == 0 else 1.0 / (1.0 + alpha / self.ron)
        return torch.where(x > -self.vf, torch.ones_like(x), torch.zeros_like(x) + slope)

    def __repr__(self) -> str:
        return f"PiecewiseLinear(vf={self.vf!r}, ron={self.ron!r})"


class Shockley(Nonlinearity):
    """Shockley junction in admittance form (reverse voltage ``z``).

    ``i(v) = Is (exp(v / nVt) - 1)`` at forward voltage ``v = -z``, so::

        F(z)  = Is (1 - exp(-z / nVt))
        F'(z) = (Is / nVt) exp(-z / nVt)     (= small-signal conductance g_d)

    The resolvent ``s + α F(s) = x`` has a closed form through Lambert W
    (see :mod:`diodenet.activations.closed_forms`).
    """

    smooth = True
    name = "Shockley diode"

    def __init__(self, is_: float = 1e-14, nvt: float = THERMAL_VOLTAGE) -> None:
        if not (math.isfinite(is_) and is_ > 0):
            raise ValueError(f"saturation current Is must be > 0, got {is_}")
        if not (math.isfinite(nvt) and nvt > 0):
            raise ValueError(f"n*Vt must be > 0, got {nvt}")
        self.is_ = float(is_)
        self.nvt = float(nvt)
        # SPICE's critical voltage for junction limiting
        self.vcrit = self.nvt * math.log(self.nvt / (math.sqrt(2.0) * self.is_))

    def value(self, z: Tensor) -> Tensor:
        return -self.is_ * torch.expm1(-z / self.nvt)

    def derivative(self, z: Tensor) -> Tensor:
        return (self.is_ / self.nvt) * torch.exp(-z / self.nvt)

    def limit(self, z_new: Tensor, z_old: Tensor) -> Tensor:
        """SPICE ``pnjlim`` on the forward voltage ``v = -z``."""
        v_new, v_old = -z_new, -z_old
        big_step = (v_new > self.vcrit) & ((v_new - v_old).abs() > 2 * self.nvt)
        arg = 1 + (v_new - v_old) / self.nvt
        limited_pos = v_old + self.nvt * torch.log(torch.clamp_min(arg, 1e-300))
        limited = torch.where(
            v_old > 0,
            torch.where(arg > 0, limited_pos, torch.full_like(v_new, self.vcrit)),
            self.nvt * torch.log(torch.clamp_min(v_new / self.nvt, 1e-300)),
        )
        return -torch.where(big_step, limited, v_new)

    def resolvent(self, x: Tensor, alpha: float | Tensor) -> Tensor:
        """Closed form through Lambert W (exact, overflow-safe, differentiable).

        ``s + αF(s) = x`` is the diode in series with ``α`` ohms driven by
        ``-x`` in forward voltage: ``s = -v_j`` where ``v_j`` is the junction
        voltage of :func:`diodenet.activations.diode_relu_current`.
        """
        _check_alpha(alpha)
        # Imported here: closed_forms imports this module.
        from .closed_forms import _diode_relu_parts

        return -_diode_relu_parts(-x, alpha, self.is_, self.nvt)[1]

    def resolvent_derivative(self, x: Tensor, alpha: float | Tensor) -> Tensor:
        s = self.resolvent(x, alpha)
        return 1.0 / (1.0 + alpha * self.derivative(s))

    def __repr__(self) -> str:
        return f"Shockley(is_={self.is_!r}, nvt={self.nvt!r})"
