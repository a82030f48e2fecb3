"""Hardware linearization: the loss gradient from two experiments per sample.

1. ``settle(u)``: outputs ``y`` and each trainable resistor's branch voltage ``v_k``;
2. the loss gradient ``g_y = ∂L/∂y`` is computed digitally;
3. ``settle_linearized(drive = g_y into the outputs, adjoint=True)``: the
   adjoint of the linearized circuit, driven by currents ``g_y``; measure
   each branch voltage ``v̂_k`` and each input port's response.

Then, by Tellegen's theorem (design notes §3)::

    ∂L/∂g_k = -Σ_samples v_k · v̂_k        (g_k: conductance, S)
    ∂L/∂u_i = ĵ_i                    (adjoint current through input voltage source i)
            = V̂(neg_i) - V̂(pos_i)    (adjoint voltage across input current source i)

which is what ``Measurement.input_responses`` holds.

and, on request, the Jacobian ``∂y/∂u`` from one linearized settle per input
(drive input ``i`` with 1, read the outputs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .hardware import Hardware, Measurement, output_port

Loss = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Gradient:
    """``loss`` (summed over samples), ``dL_dg`` (k,) in ``hw.trainable``
    order, ``dL_du`` (batch, m), ``outputs`` (batch, p), optionally
    ``jacobian`` (batch, p, m), and ``settles`` (experiments used)."""

    loss: float
    dL_dg: np.ndarray
    dL_du: np.ndarray
    outputs: np.ndarray
    measurement: Measurement
    settles: int
    jacobian: np.ndarray | None = None


def mse_loss(targets: np.ndarray | torch.Tensor) -> Loss:
    """``L = Σ_samples ½‖y - t‖²`` (volts²)."""
    t = torch.as_tensor(np.asarray(targets, dtype=np.float64))

    def loss(y: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((y - t.to(y.dtype)) ** 2).sum()

    return loss


def loss_gradient(loss: Loss, y: np.ndarray) -> tuple[float, np.ndarray]:
    """``(L, ∂L/∂y)`` by autograd on the digital side."""
    yt = torch.tensor(y, dtype=torch.float64, requires_grad=True)
    value = loss(yt)
    if value.ndim != 0:
        raise ValueError("the loss must return a scalar (sum over samples)")
    (g,) = torch.autograd.grad(value, yt)
    return float(value.detach()), g.numpy()


def hardware_gradient(
    hw: Hardware, inputs: np.ndarray, loss: Loss, *, jacobian: bool = False
) -> Gradient:
    """The gradient of ``loss(y(u))`` with respect to every trainable
    conductance and every input, measured on ``hw`` (one forward and one
    adjoint settle per sample; plus one per input for the Jacobian)."""
    before = hw.settles
    m = hw.settle(np.asarray(inputs, dtype=np.float64))
    L, g_y = loss_gradient(loss, m.outputs)
    drive = {output_port(j): g_y[:, j] for j in range(g_y.shape[1])}
    adj = hw.settle_linearized(m, drive, adjoint=True)
    dL_dg = hw.conductance_gradient(m, adj)
    dL_du = adj.input_responses
    J = None
    if jacobian:
        J = np.zeros((m.batch, m.outputs.shape[1], len(hw.inputs)))
        for i, name in enumerate(hw.inputs):
            lin = hw.settle_linearized(m, {name: np.ones(m.batch)})
            J[:, :, i] = lin.outputs
    return Gradient(
        loss=L, dL_dg=dL_dg, dL_du=dL_du, outputs=m.outputs, measurement=m,
        settles=hw.settles - before, jacobian=J,
    )
