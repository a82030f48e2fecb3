"""Hardware linearization: the loss gradient from two experiments per sample.

1. ``settle(u)``: outputs ``y`` and each trainable resistor's branch voltage ``v_k``;
2. the loss gradient ``g_y = ∂L/∂y`` is computed digitally;
3. ``settle_linearized(drive = g_y into the outputs, adjoint=True)``: the
   adjoint of the linearized circuit, driven by currents ``g_y``; measure
   each branch voltage ``v̂_k`` and each input port's response.

Then, by Tellegen's theorem::

    ∂L/∂g_k = -Σ_samples v_k · v̂_k        (g_k: conductance, S)
    ∂L/∂u_i = ĵ_i                    (adjoint current through input voltage source i)
            = V̂(neg_i) - V̂(pos_i)    (adjoint voltage across input current source i)

which is what ``Measurement.input_responses`` holds.

On hardware whose devices are not at the programmed conductances (a
physical instance: ``g_actual,k = g_k · f_k``), the measurement carries each
device's current ``i_k = g_actual,k v_k`` and the gradient with respect to
the *programmed* ``g_k`` follows without knowing ``f_k``::

    ∂L/∂g_k = f_k · ∂L/∂g_actual,k = -(i_k / g_k) · v̂_k

(``Hardware.conductance_gradient``), which equals finite differences of the
programmed values through the instance.

and, on request, the Jacobian ``∂y/∂u`` from one linearized settle per input
(drive input ``i`` with 1, read the outputs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .hardware import Drive, Hardware, Measurement, output_port

Loss = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Gradient:
    """What ``hardware_gradient`` measured.

    ``loss`` (the loss callable's value on the batch), ``dL_dg`` (k,): one
    ``∂L/∂g`` per trainable resistor (units of L per siemens), named by
    ``trainable``; ``dL_du`` (batch, m), columns named by ``inputs``;
    ``outputs`` (batch, p) in volts; optionally ``jacobian`` (batch, p, m);
    and ``settles`` (the experiments used). ``by_resistor()`` and
    ``by_input()`` give the same numbers keyed by name.
    """

    loss: float
    dL_dg: np.ndarray
    # ∂L/∂u, or how to read it: training never asks for it, and reading the input
    # ports' responses off a large circuit costs as much as the gradient itself
    _dL_du: np.ndarray | Callable[[], np.ndarray] = field(repr=False)
    outputs: np.ndarray
    measurement: Measurement
    settles: int
    jacobian: np.ndarray | None = None
    trainable: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)

    @property
    def dL_du(self) -> np.ndarray:
        """``∂L/∂u`` (batch, m), read from the input ports on first access."""
        if callable(self._dL_du):
            self._dL_du = self._dL_du()
        return self._dL_du

    def by_resistor(self) -> dict[str, float]:
        """``{resistor name: ∂L/∂g}``, in ``trainable`` order."""
        return {name: float(v) for name, v in zip(self.trainable, self.dL_dg, strict=True)}

    def by_input(self) -> dict[str, np.ndarray]:
        """``{input source name: ∂L/∂u per sample (batch,)}``."""
        return {name: self.dL_du[:, i] for i, name in enumerate(self.inputs)}


def sse_loss(targets: np.ndarray | torch.Tensor) -> Loss:
    """Half the sum of squared errors, ``L = Σ_samples ½‖y - t‖²`` (volts²).

    A sum over the batch, not a mean: ``∂L/∂y = y - t`` per sample, so a
    gradient measured on a batch is the sum of the per-sample gradients.
    (``diodenet.training.mse_loss`` is the batch *mean* against class targets.)
    """
    t = torch.as_tensor(np.asarray(targets, dtype=np.float64))

    def loss(y: torch.Tensor) -> torch.Tensor:
        if t.shape != y.shape:  # broadcasting would compare other pairs, silently
            raise ValueError(f"targets of shape {tuple(t.shape)} for outputs of shape "
                             f"{tuple(y.shape)}: give one row per sample, one column per output")
        return 0.5 * ((y - t.to(y.dtype)) ** 2).sum()

    return loss


def loss_gradient(loss: Loss, y: np.ndarray) -> tuple[float, np.ndarray]:
    """``(L, ∂L/∂y)`` on the digital side: in closed form where the loss gives
    one (``value_and_gradient``, as diodenet's losses do), else by autograd."""
    closed_form = getattr(loss, "value_and_gradient", None)
    if closed_form is not None:
        value_f, g_np = closed_form(y)
    else:
        yt = torch.tensor(y, dtype=torch.float64, requires_grad=True)
        value = loss(yt)
        if value.ndim != 0:
            raise ValueError("the loss must return a scalar (sum over samples)")
        (g,) = torch.autograd.grad(value, yt)
        value_f, g_np = float(value.detach()), g.numpy()
    # the drive of the adjoint settle: a NaN here is the loss's (its targets?),
    # and would otherwise be reported as the circuit's inputs
    if not (math.isfinite(value_f) and np.isfinite(g_np).all()):
        raise ValueError("the loss or its gradient ∂L/∂y is not finite at these outputs "
                         "(NaN or inf in the targets?)")
    return value_f, g_np


def adjoint_gradient(
    hw: Hardware, measurement: Measurement, g_y: np.ndarray
) -> tuple[np.ndarray, Measurement]:
    """``(∂L/∂g, the adjoint measurement)`` from one adjoint settle around ``measurement``.

    ``g_y`` (batch, p) is ``∂L/∂y``; it is injected as currents into the
    output ports of the adjoint linearized circuit, and with the adjoint branch
    voltages ``v̂``: ``∂L/∂g_k = -Σ_samples v_k v̂_k`` (k,); ``∂L/∂u`` (batch, m)
    is the input ports' response, the measurement's ``input_responses``. ``hw``
    must still hold the conductances the measurement was taken with.
    """
    drive: Drive = {output_port(j): g_y[:, j] for j in range(g_y.shape[1])}
    adj = hw.settle_linearized(measurement, drive, adjoint=True)
    return hw.conductance_gradient(measurement, adj), adj


def hardware_gradient(
    hw: Hardware, inputs: np.ndarray, loss: Loss, *, jacobian: bool = False
) -> Gradient:
    """The gradient of ``loss(y(u))`` with respect to every trainable
    conductance and every input, measured on ``hw`` (one forward and one
    adjoint settle per sample; plus one per input for the Jacobian)."""
    before = hw.settles
    m = hw.settle(np.asarray(inputs, dtype=np.float64))
    L, g_y = loss_gradient(loss, m.outputs)
    dL_dg, adj = adjoint_gradient(hw, m, g_y)
    J = None
    if jacobian:
        J = np.zeros((m.batch, m.outputs.shape[1], len(hw.inputs)))
        for i, name in enumerate(hw.inputs):
            lin = hw.settle_linearized(m, {name: np.ones(m.batch)})
            J[:, :, i] = lin.outputs
    # the hardware's own name lists, not copies: they are fixed when it is built,
    # and copying 200,000 names cost 1 ms per training step
    return Gradient(
        loss=L, dL_dg=dL_dg, _dL_du=lambda: adj.input_responses, outputs=m.outputs, measurement=m,
        settles=hw.settles - before, jacobian=J, trainable=hw.trainable, inputs=hw.inputs,
    )
