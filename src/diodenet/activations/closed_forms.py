"""Closed-form activations of diode one-ports.

Every element here is a :class:`~diodenet.activations.oneport.OnePort`:
applied voltage ``x`` (V) behind a series resistor ``r`` (Ω). Both resolvents
are written out independently, in volts (``σ_Y``: element voltage;
``σ_Z``: ``r · i``). With ``relu(y) = max(y, 0)``:

* ideal diode:
  ``σ_Z = relu(x)``, ``σ_Y = min(x, 0)``;
* diode + forward drop ``vf``:
  ``σ_Z = relu(x - vf)``, ``σ_Y = min(x, vf)``;
* diode + on-resistance ``ron`` (and drop ``vf``):
  ``σ_Z = relu(x - vf) / (1 + ron/r)``, ``σ_Y = min(x, vf) + relu(x - vf) ron/(r + ron)``;
* clamp, ideal diodes to bias sources ``a < b``:
  ``σ_Z = relu(x - b) - relu(a - x)``, ``σ_Y = clip(x, a, b)``;
* Zener (``vf``/``ron`` forward, breakdown ``-bv``/``rz`` reverse):
  ``σ_Z = relu(x - vf)/(1 + ron/r) - relu(-bv - x)/(1 + rz/r)``,
  ``σ_Y = clip(x, -bv, vf) + relu(x - vf) ron/(r + ron) - relu(-bv - x) rz/(r + rz)``;
* Shockley diode ``Is (e^{v_j/nVt} - 1)`` with series ``rs``:
  ``σ_Z = r i`` with ``i = diode_relu_current(x, r + rs)``, ``σ_Y = v_j + rs i``.

The usual "activation" of each element is ``σ_Z`` for the diodes and the Zener,
and ``σ_Y`` (the clamped node voltage) for the clamp; ``activation()``
returns that one.

Diode ReLU (Shockley junction, saturation current ``Is`` (A), ``nVt`` (V),
series resistance ``R = r + rs`` (Ω)): ``x = v_j + R i`` with
``i = Is (e^{v_j/nVt} - 1)`` gives::

    i(x) = (nVt/R) W₀((Is R/nVt) exp((x + Is R)/nVt)) - Is        (amperes)
    di/dx = 1 / (R + nVt/(i + Is))

evaluated in the log domain (``u = log W``, ``t = log(Is R/nVt) + (x + Is R)/nVt``,
``v_j = nVt (u + log(nVt/(Is R)))``), so it is finite for any finite ``x``
in float32 and float64.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from ..circuits.diode_models import THERMAL_VOLTAGE, IdealDiode, PWLDiode, ShockleyDiode
from .base import Ideal, Nonlinearity, PiecewiseLinear, Shockley
from .lambertw import log_lambertw0_exp
from .oneport import OnePort, as_tensor, check_resistance

__all__ = [
    "ClampPort",
    "IdealDiodePort",
    "PWLDiodePort",
    "ShockleyPort",
    "ZenerPort",
    "diode_relu",
    "diode_relu_current",
    "port_from_model",
]

_INF = float("inf")


def _finite(value: float, what: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return value


def _nonneg(value: float, what: str) -> float:
    if _finite(value, what) < 0:
        raise ValueError(f"{what} must be >= 0, got {value!r}")
    return float(value)


class _TwoSidedPWL(OnePort):
    """``i = relu(v - high)/r_high - relu(low - v)/r_low``; a zero resistance
    is a vertical piece (ideal conduction), ``low = -inf`` no reverse branch.
    Precondition: ``low < high``."""

    piecewise_linear: ClassVar[bool] = True

    def __init__(self, low: float, high: float, r_low: float, r_high: float) -> None:
        if not low < high:
            raise ValueError(f"{self.name}: the blocking interval needs low < high, "
                             f"got low={low}, high={high}")
        self.low, self.high = float(low), float(high)
        self.r_low, self.r_high = float(r_low), float(r_high)
        self.smooth_graph = r_high > 0 and (r_low > 0 or low == -_INF)

    def current(self, v: Tensor) -> Tensor:
        if not self.smooth_graph:
            return super().current(v)
        v = as_tensor(v)
        i = torch.relu(v - self.high) / self.r_high
        if self.low > -_INF:
            i = i - torch.relu(self.low - v) / self.r_low
        return i

    def conductance(self, v: Tensor) -> Tensor:
        v = as_tensor(v)
        on_hi = 1.0 / self.r_high if self.r_high > 0 else _INF
        g = torch.where(v > self.high, torch.full_like(v, on_hi), torch.zeros_like(v))
        if self.r_high == 0:
            g = torch.where(v == self.high, torch.full_like(v, on_hi), g)
        if self.low > -_INF:
            on_lo = 1.0 / self.r_low if self.r_low > 0 else _INF
            g = torch.where(v < self.low, torch.full_like(v, on_lo), g)
            if self.r_low == 0:
                g = torch.where(v == self.low, torch.full_like(v, on_lo), g)
        return g

    def small_signal_conductance(self, x: Tensor, r: float | Tensor) -> Tensor:
        # Decide the piece from x (an ideal diode's voltage sits on its knee).
        x = as_tensor(x)
        on_hi = 1.0 / self.r_high if self.r_high > 0 else _INF
        g = torch.where(x > self.high, torch.full_like(x, on_hi), torch.zeros_like(x))
        if self.low > -_INF:
            on_lo = 1.0 / self.r_low if self.r_low > 0 else _INF
            g = torch.where(x < self.low, torch.full_like(x, on_lo), g)
        return g + 0.0 * as_tensor(r, x)

    def impedance_activation(self, x: Tensor, r: float | Tensor) -> Tensor:
        check_resistance(r)
        x = as_tensor(x)
        z = torch.relu(x - self.high) * (r / (r + self.r_high))
        if self.low > -_INF:
            z = z - torch.relu(self.low - x) * (r / (r + self.r_low))
        return z

    def admittance_activation(self, x: Tensor, r: float | Tensor) -> Tensor:
        check_resistance(r)
        x = as_tensor(x)
        lo = self.low if self.low > -_INF else None
        y = torch.clamp(x, min=lo, max=self.high)
        y = y + torch.relu(x - self.high) * (self.r_high / (r + self.r_high))
        if lo is not None:
            y = y - torch.relu(self.low - x) * (self.r_low / (r + self.r_low))
        return y


class IdealDiodePort(_TwoSidedPWL):
    """Ideal diode: ``i >= 0``, ``v <= 0``, ``i v = 0``. ``σ_Z = relu``, ``σ_Y = min(x, 0)``."""

    name = "ideal diode"

    def __init__(self) -> None:
        super().__init__(-_INF, 0.0, 0.0, 0.0)

    def as_nonlinearity(self) -> Nonlinearity:
        return Ideal()


class PWLDiodePort(_TwoSidedPWL):
    """Ideal diode in series with a forward drop ``vf`` (V) and an on-resistance ``ron`` (Ω).

    ``i = relu(v - vf) / ron`` (``ron = 0``: vertical at ``v = vf``);
    ``σ_Z(x) = relu(x - vf) / (1 + ron/r)``.
    """

    def __init__(self, vf: float = 0.0, ron: float = 0.0) -> None:
        self.vf = _finite(vf, "forward voltage vf")
        self.ron = _nonneg(ron, "on-resistance ron")
        self.name = f"diode (vf={self.vf:g} V, ron={self.ron:g} ohm)"
        super().__init__(-_INF, self.vf, 0.0, self.ron)

    def as_nonlinearity(self) -> Nonlinearity:
        return PiecewiseLinear(vf=self.vf, ron=self.ron)

    def __repr__(self) -> str:
        return f"PWLDiodePort(vf={self.vf!r}, ron={self.ron!r})"


class ClampPort(_TwoSidedPWL):
    """Diode clamp: one ideal diode to a bias source ``high`` (V), one from ``low`` (V).

    The node voltage is held in ``[low, high]``: ``f`` is the normal cone of
    that interval, ``σ_Y(x) = clip(x, low, high)`` (the clamp's activation) and
    ``σ_Z(x) = relu(x - high) - relu(low - x)``. Precondition ``low < high``.
    """

    activation_form: ClassVar[str] = "admittance"

    def __init__(self, low: float = -1.0, high: float = 1.0) -> None:
        self.name = f"clamp [{low:g}, {high:g}] V"
        super().__init__(_finite(low, "clamp low"), _finite(high, "clamp high"), 0.0, 0.0)

    def __repr__(self) -> str:
        return f"ClampPort(low={self.low!r}, high={self.high!r})"


class ZenerPort(_TwoSidedPWL):
    """Zener-style diode: forward conduction above ``vf`` (on-resistance ``ron``),
    reverse breakdown below ``-bv`` (Zener resistance ``rz``); blocks in between.

    ``i = relu(v - vf)/ron - relu(-bv - v)/rz`` (zero resistances are vertical
    pieces). Two-sided activation ``σ_Z(x) = relu(x-vf)/(1+ron/r) - relu(-bv-x)/(1+rz/r)``.
    Precondition: ``-bv < vf``.
    """

    def __init__(self, bv: float = 5.0, vf: float = 0.0, ron: float = 0.0, rz: float = 0.0) -> None:
        self.bv = _finite(bv, "breakdown voltage bv")
        self.vf = _finite(vf, "forward voltage vf")
        self.ron = _nonneg(ron, "on-resistance ron")
        self.rz = _nonneg(rz, "Zener resistance rz")
        self.name = f"Zener (bv={self.bv:g} V)"
        super().__init__(-self.bv, self.vf, self.rz, self.ron)

    def __repr__(self) -> str:
        return f"ZenerPort(bv={self.bv!r}, vf={self.vf!r}, ron={self.ron!r}, rz={self.rz!r})"


# --------------------------------------------------------------------------
# Shockley diode: the diode ReLU
# --------------------------------------------------------------------------


class _Expm1(torch.autograd.Function):
    """``expm1`` whose derivative is ``exp(a)``: torch's own uses ``expm1(a) + 1``,
    which rounds to 0 for ``a < -37`` (a reverse-biased junction's conductance)."""

    @staticmethod
    def forward(ctx, a: Tensor) -> Tensor:
        ctx.save_for_backward(a)
        return torch.expm1(a)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (a,) = ctx.saved_tensors
        return grad * torch.exp(a)


def _expm1(a: Tensor) -> Tensor:
    return _Expm1.apply(a)


def _check_shockley(is_: float, nvt: float) -> None:
    if not (math.isfinite(is_) and is_ > 0):
        raise ValueError(f"saturation current Is must be > 0 A, got {is_}")
    if not (math.isfinite(nvt) and nvt > 0):
        raise ValueError(f"n*Vt must be > 0 V, got {nvt}")


def _diode_relu_parts(x: Tensor, r_total: Tensor | float, is_: float,
                      nvt: float) -> tuple[Tensor, Tensor]:
    """``(i, v_j)``: current (A) and junction voltage (V) of a Shockley junction
    in series with ``r_total`` driven by ``x`` (log-domain Lambert W)."""
    c = torch.log(nvt / (as_tensor(r_total, x) * is_))  # log(nVt/(Is R)), dimensionless
    t = (x + r_total * is_) / nvt - c
    u = log_lambertw0_exp(t)  # log W
    w = torch.exp(u)
    v_j = nvt * (u + c)
    # one Newton step on v_j + R Is expm1(v_j/nVt) = x: u + c cancels to an
    # absolute error of about ε·|c|·nVt (1e-17 V), all of v_j near 0 V (a
    # junction driven by 1e-18 A of round-off came out at exactly 0, short of
    # any per-element tolerance); the residual, with expm1, is accurate
    # relative to itself. Where exp overflows (far forward) the closed form stands
    e = torch.exp(v_j / nvt)
    step = (v_j + r_total * is_ * torch.expm1(v_j / nvt) - x) / (1.0 + (r_total * is_ / nvt) * e)
    v_j = torch.where(torch.isfinite(step), v_j - step, v_j)
    # i = Is expm1(v_j/nVt) is exact for small W; (nVt/R) W - Is for large W.
    # Clamping in the unused branch keeps its value (and gradient) finite.
    i_small = is_ * _expm1(torch.minimum(v_j / nvt, c))
    i_large = (nvt / r_total) * w - is_
    i = torch.where(w > 1.0, i_large, i_small)
    return i, v_j


def diode_relu_current(x: Tensor, r: float | Tensor, is_: float = 1e-14,
                       nvt: float = THERMAL_VOLTAGE) -> Tensor:
    """Diode ReLU current (amperes) at applied voltage ``x`` (V) through ``r`` (Ω):

    ``i = (nVt/r) W₀((Is r/nVt) exp((x + Is r)/nVt)) - Is``; ``di/dx = 1/(r + nVt/(i + Is))``.
    Overflow-safe for any finite ``x``; differentiable (autograd).
    """
    check_resistance(r)
    _check_shockley(is_, nvt)
    x = as_tensor(x)
    return _diode_relu_parts(x, r, is_, nvt)[0]


def diode_relu(x: Tensor, r: float | Tensor, is_: float = 1e-14,
               nvt: float = THERMAL_VOLTAGE) -> Tensor:
    """Diode ReLU in volts: ``r · diode_relu_current(x, r)`` (slope → 1 for large x)."""
    return as_tensor(r, as_tensor(x)) * diode_relu_current(x, r, is_, nvt)


class ShockleyPort(OnePort):
    """Shockley diode ``i = Is (exp(v_j/nVt) - 1)``, junction in series with ``rs`` (Ω).

    ``is_`` in amperes, ``nvt`` = emission coefficient × thermal voltage (V).
    The one-port voltage is ``v = v_j + rs i``.
    """

    smooth: ClassVar[bool] = True
    name = "Shockley diode"

    def __init__(self, is_: float = 1e-14, nvt: float = THERMAL_VOLTAGE, rs: float = 0.0) -> None:
        _check_shockley(float(is_), float(nvt))
        self.is_, self.nvt = float(is_), float(nvt)
        self.rs = _nonneg(rs, "series resistance rs")

    def current(self, v: Tensor) -> Tensor:
        v = as_tensor(v)
        if self.rs == 0:
            # Exact Shockley law (overflows to inf beyond ~700 nVt, as the law does).
            return self.is_ * _expm1(v / self.nvt)
        return _diode_relu_parts(v, self.rs, self.is_, self.nvt)[0]

    def conductance(self, v: Tensor) -> Tensor:
        v = as_tensor(v)
        if self.rs == 0:
            return (self.is_ / self.nvt) * torch.exp(v / self.nvt)
        i = self.current(v)
        return 1.0 / (self.rs + self.nvt / (i + self.is_))

    def small_signal_conductance(self, x: Tensor, r: float | Tensor) -> Tensor:
        # From the current (never overflows): g = 1/(rs + nVt/(i + Is)).
        with torch.no_grad():
            i = self.series_current(x, r)
        return 1.0 / (self.rs + self.nvt / (i + self.is_))

    def impedance_activation(self, x: Tensor, r: float | Tensor) -> Tensor:
        check_resistance(r)
        x = as_tensor(x)
        return r * _diode_relu_parts(x, r + self.rs, self.is_, self.nvt)[0]

    def admittance_activation(self, x: Tensor, r: float | Tensor) -> Tensor:
        check_resistance(r)
        x = as_tensor(x)
        i, v_j = _diode_relu_parts(x, r + self.rs, self.is_, self.nvt)
        return v_j + self.rs * i

    def as_nonlinearity(self) -> Nonlinearity:
        if self.rs == 0:
            return Shockley(is_=self.is_, nvt=self.nvt)
        return super().as_nonlinearity()

    def __repr__(self) -> str:
        return f"ShockleyPort(is_={self.is_!r}, nvt={self.nvt!r}, rs={self.rs!r})"


def port_from_model(model: IdealDiode | PWLDiode | ShockleyDiode) -> OnePort:
    """The one-port of a circuit diode model (``diodenet.circuits.elements``).

    SPICE breakdown (``bv``) of a Shockley model is not represented: use
    :class:`ZenerPort` for a breakdown diode.
    """
    if isinstance(model, IdealDiode):
        return IdealDiodePort()
    if isinstance(model, PWLDiode):
        return PWLDiodePort(vf=model.vf, ron=model.ron)
    if isinstance(model, ShockleyDiode):
        if model.bv is not None:
            raise ValueError("port_from_model: breakdown (bv) is not modelled; use ZenerPort")
        return ShockleyPort(is_=model.is_, nvt=model.nvt, rs=model.rs)
    raise ValueError(f"not a diode model: {type(model).__name__}")
