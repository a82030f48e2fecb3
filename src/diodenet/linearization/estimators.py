"""Gradient estimators: four ways to get ``∂L/∂g`` for the programmed conductances.

All share one call, ``estimator(hw, u, loss) -> Gradient``:

* ``hl``, hardware linearization: one forward and one adjoint settle per
  sample on ``hw`` (``hardware_gradient``): ``∂L/∂g_k = -Σ (i_k/g_k) v̂_k``.
* ``eqprop``, equilibrium propagation: a free settle and nudged settles
  with the currents ``∓β ∂L/∂y`` injected into the outputs (the total energy
  ``E + βL``); with the power ``p_k = i_k v_k`` in each device,

      one-sided:  ∂L/∂g_k ≈ Σ (p_k(β) - p_k(0)) / (2β g_k)
      symmetric:  ∂L/∂g_k ≈ Σ (p_k(β) - p_k(-β)) / (4β g_k)

  (errors ``O(β)`` and ``O(β²)``). For a nominal device ``p_k = g_k v_k²``,
  the familiar ``(v_β² - v_0²)/2β``; with the measured power it is the
  gradient for the programmed ``g_k`` on an instance too. ``β`` (A·V) is set
  per batch so the largest nudge current is ``beta × mean(g) × max|y|``.
* ``fd``: central differences of the loss through ``hw`` itself, each
  programmed conductance stepped by ``±step`` relative (2 settles per
  sample per device: small circuits only), and each input likewise.
* ``model``: the gradient of the *nominal* circuit (``hw.circuit`` at the
  programmed conductances) computed on a builtin digital twin, whatever
  ``hw`` really is: what training a model of the device gives.

``make_estimator(name)`` builds one by name; ``ESTIMATORS`` lists them, and
``NUDGES`` the two ways eqprop nudges (``make_estimator(..., nudge=...)``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import torch

from .builtin import BuiltinHardware
from .gradient import Gradient, Loss, hardware_gradient, loss_gradient
from .hardware import Hardware, Measurement

ESTIMATORS = ("hl", "eqprop", "fd", "model")

#: how ``eqprop`` nudges: both ways (``+β`` and ``-β``) or one way against the free phase
NUDGES = ("symmetric", "one-sided")


class GradientEstimator(ABC):
    """``__call__(hw, u, loss)``: the loss (summed over samples) and its
    gradient ``dL_dg`` (k,) with respect to ``hw``'s programmed conductances."""

    name: ClassVar[str]

    @abstractmethod
    def __call__(self, hw: Hardware, inputs: np.ndarray, loss: Loss) -> Gradient: ...


class HardwareLinearization(GradientEstimator):
    """One forward and one adjoint settle per sample (exact)."""

    name = "hl"

    def __call__(self, hw: Hardware, inputs: np.ndarray, loss: Loss) -> Gradient:
        return hardware_gradient(hw, inputs, loss)


def device_power(hw: Hardware, m: Measurement) -> np.ndarray:
    """``p_k = i_k v_k`` (batch, k) in each device (W); ``g_k v_k²`` when the
    hardware reports no currents."""
    if m.branch_currents is None:
        return hw.conductances() * m.branch_voltages**2
    return m.branch_currents * m.branch_voltages


class EquilibriumPropagation(GradientEstimator):
    """Nudged settles with ``∓β ∂L/∂y`` injected into the outputs.

    ``beta``: the relative nudge (dimensionless, > 0); ``symmetric``: nudge
    both ways (``+β`` and ``-β``) instead of comparing with the free phase.
    """

    name = "eqprop"

    def __init__(self, beta: float = 0.01, symmetric: bool = True) -> None:
        if not (np.isfinite(beta) and beta > 0):
            raise ValueError(f"eqprop nudge beta must be > 0, got {beta}")
        self.beta, self.symmetric = float(beta), bool(symmetric)

    def __call__(self, hw: Hardware, inputs: np.ndarray, loss: Loss) -> Gradient:
        before = hw.settles
        u = np.asarray(inputs, dtype=np.float64)
        free = hw.settle(u)
        L, g_y = loss_gradient(loss, free.outputs)
        g = hw.conductances()
        peak = float(np.abs(g_y).max())
        v_ref = max(float(np.abs(free.outputs).max()), 1e-3)
        beta = self.beta * float(g.mean()) * v_ref / peak if peak > 0 else 0.0
        if beta == 0.0:  # a zero loss gradient: nothing to nudge
            k = len(hw.trainable)
            return Gradient(L, np.zeros(k), np.zeros_like(u), free.outputs, free,
                            hw.settles - before, trainable=list(hw.trainable),
                            inputs=list(hw.inputs))
        plus = hw.settle_injected(u, -beta * g_y)
        if self.symmetric:
            minus = hw.settle_injected(u, beta * g_y)
            dp = device_power(hw, plus) - device_power(hw, minus)
            dL_dg = dp.sum(axis=0) / (4 * beta * g)
            def dL_du() -> np.ndarray:
                return -(plus.input_responses - minus.input_responses) / (2 * beta)
        else:
            dp = device_power(hw, plus) - device_power(hw, free)
            dL_dg = dp.sum(axis=0) / (2 * beta * g)
            def dL_du() -> np.ndarray:
                return -(plus.input_responses - free.input_responses) / beta
        return Gradient(L, dL_dg, dL_du, free.outputs, free, hw.settles - before,
                        trainable=list(hw.trainable), inputs=list(hw.inputs))


class FiniteDifferences(GradientEstimator):
    """Central differences through ``hw``: ``(L(g_k(1+h)) - L(g_k(1-h))) / 2h g_k``
    for each programmed conductance, and for the inputs the outputs'
    differences chained with the exact ``∂L/∂y``:
    ``∂L/∂u_sj = Σ_p ∂L/∂y_sp (y_sp(u_j + δ_j) - y_sp(u_j - δ_j)) / 2δ_j``,
    ``δ_j = h·max|u_j|`` (samples settle independently, so one column's step
    serves the whole batch)."""

    name = "fd"

    def __init__(self, step: float = 1e-5) -> None:
        if not (np.isfinite(step) and 0 < step < 0.5):
            raise ValueError(f"finite-difference step must be in (0, 0.5), got {step}")
        self.step = float(step)

    def __call__(self, hw: Hardware, inputs: np.ndarray, loss: Loss) -> Gradient:
        before = hw.settles
        u = np.asarray(inputs, dtype=np.float64)
        g0 = hw.conductances()
        out = np.zeros_like(g0)
        h = self.step

        def value() -> float:
            return float(loss(torch.as_tensor(hw.settle(u).outputs)))

        try:
            for k in range(len(g0)):
                vals = []
                for sgn in (1.0, -1.0):
                    g = g0.copy()
                    g[k] *= 1.0 + sgn * h
                    hw.set_conductances(g)
                    vals.append(value())
                out[k] = (vals[0] - vals[1]) / (2.0 * h * g0[k])
        finally:
            hw.set_conductances(g0)
        m = hw.settle(u)
        L, g_y = loss_gradient(loss, m.outputs)
        dL_du = np.zeros_like(u)
        # a column of zeros steps by the batch's largest input, or by h itself
        fallback = float(np.abs(u).max()) if u.size and np.abs(u).max() > 0 else 1.0
        for j in range(u.shape[1]):
            col = float(np.abs(u[:, j]).max())
            delta = h * (col if col > 0 else fallback)
            ys = []
            for sgn in (1.0, -1.0):
                stepped = u.copy()
                stepped[:, j] += sgn * delta
                ys.append(np.asarray(hw.settle(stepped).outputs))
            dL_du[:, j] = (g_y * (ys[0] - ys[1])).sum(axis=1) / (2.0 * delta)
        return Gradient(L, out, dL_du, m.outputs, m, hw.settles - before,
                        trainable=list(hw.trainable), inputs=list(hw.inputs))


class ModelGradient(GradientEstimator):
    """The nominal circuit's gradient, on a builtin digital twin of ``hw.circuit``."""

    name = "model"

    def __init__(self) -> None:
        self._twins: dict[int, BuiltinHardware] = {}

    def twin(self, hw: Hardware) -> BuiltinHardware:
        """The builtin twin of ``hw``'s nominal circuit, at its programmed conductances."""
        t = self._twins.get(id(hw))
        if t is None:
            t = self._twins[id(hw)] = BuiltinHardware(hw.circuit, hw.inputs, hw.outputs)
        g = hw.conductances()
        if not np.array_equal(t.conductances(), g):
            t.set_conductances(g)
        return t

    def __call__(self, hw: Hardware, inputs: np.ndarray, loss: Loss) -> Gradient:
        return hardware_gradient(self.twin(hw), inputs, loss)


def make_estimator(name: str, *, beta: float = 0.01, symmetric: bool = True,
                   step: float = 1e-5, nudge: str | None = None) -> GradientEstimator:
    """The estimator called ``name`` (one of ``ESTIMATORS``). ``nudge`` (one
    of ``NUDGES``), when given, says how eqprop nudges in place of ``symmetric``."""
    key = str(name).strip().lower()
    if nudge is not None:
        if nudge not in NUDGES:
            raise ValueError(f"unknown eqprop nudge {nudge!r}; known: {', '.join(NUDGES)}")
        symmetric = nudge == "symmetric"
    if key == "hl":
        return HardwareLinearization()
    if key == "eqprop":
        return EquilibriumPropagation(beta, symmetric)
    if key == "fd":
        return FiniteDifferences(step)
    if key == "model":
        return ModelGradient()
    raise ValueError(f"unknown gradient estimator {name!r}; known: {', '.join(ESTIMATORS)}")
