"""Cascades of resistor–diode networks: feedforward and other asymmetric designs.

A single resistor–diode network is reciprocal, so its ``W`` is symmetric.
Stages joined by *unilateral* buffers are not: stage ``s`` drives the inputs
of stage ``s+1`` through voltage buffers of gain ``a_s`` (VCVS), which do not
load it. The composite weight matrix is block lower-triangular, a deep
feedforward ReLU network when each stage is one layer::

    u_1 = x,    y_s = stage_s(u_s),    u_{s+1} = a_s · y_s,    y = y_S

Training measures each stage on its own hardware:

* forward: settle the stages in order;
* backward: drive the last stage's linearized adjoint with ``∂L/∂y``; its
  input-port response is ``∂L/∂u_S``, so ``∂L/∂y_{S-1} = a_{S-1} ∂L/∂u_S``
  drives the previous stage, and so on. Each stage yields ``∂L/∂g`` for its
  own resistors by ``-v·v̂``.

``to_circuit`` builds the whole cascade as one netlist with E elements as
the buffers, which any ``Hardware`` can run as a single (non-reciprocal)
circuit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..circuits import Circuit, Element, VoltageSource
from ..linearization import Hardware, hardware_gradient
from ..linearization.gradient import Loss, loss_gradient
from ..linearization.hardware import Drive, output_port


@dataclass
class CascadeGradient:
    """``loss``, ``dL_dg`` (one array per stage, in each stage's
    ``trainable`` order), ``dL_du`` (batch, m of stage 1), ``outputs``."""

    loss: float
    dL_dg: list[np.ndarray]
    dL_du: np.ndarray
    outputs: np.ndarray
    settles: int


class Cascade:
    """Stages (each a ``Hardware``) joined by unilateral buffers.

    ``gains[s]`` is the buffer gain from stage ``s``'s outputs to stage
    ``s+1``'s inputs (a scalar, or one per connection). Stage ``s`` must have
    as many outputs as stage ``s+1`` has inputs.
    """

    def __init__(self, stages: Sequence[Hardware], gains: Sequence[float] | None = None) -> None:
        if not stages:
            raise ValueError("a cascade needs at least one stage")
        self.stages = list(stages)
        gains = [1.0] * (len(stages) - 1) if gains is None else list(gains)
        if len(gains) != len(stages) - 1:
            raise ValueError(f"expected {len(stages) - 1} buffer gains, got {len(gains)}")
        for s in range(len(stages) - 1):
            n_out, n_in = len(stages[s].outputs), len(stages[s + 1].inputs)
            if n_out != n_in:
                raise ValueError(
                    f"stage {s} has {n_out} outputs but stage {s + 1} has {n_in} inputs"
                )
        self.gains = [np.asarray(g, dtype=float) for g in gains]

    def forward(self, inputs: np.ndarray) -> list:
        """Settle every stage in order; one measurement per stage."""
        ms, u = [], np.asarray(inputs, dtype=float)
        for s, hw in enumerate(self.stages):
            m = hw.settle(u)
            ms.append(m)
            if s < len(self.gains):
                u = m.outputs * self.gains[s]
        return ms

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        return self.forward(inputs)[-1].outputs

    def gradient(self, inputs: np.ndarray, loss: Loss) -> CascadeGradient:
        """Backward through the stages by their linearized adjoints."""
        if len(self.stages) == 1:
            g = hardware_gradient(self.stages[0], inputs, loss)
            return CascadeGradient(g.loss, [g.dL_dg], g.dL_du, g.outputs, g.settles)
        before = sum(hw.settles for hw in self.stages)
        ms = self.forward(inputs)
        L, g_y = loss_gradient(loss, ms[-1].outputs)
        grads: list[np.ndarray] = [np.zeros(0)] * len(self.stages)
        for s in range(len(self.stages) - 1, -1, -1):
            hw, m = self.stages[s], ms[s]
            drive: Drive = {output_port(j): g_y[:, j] for j in range(g_y.shape[1])}
            adj = hw.settle_linearized(m, drive, adjoint=True)
            grads[s] = hw.conductance_gradient(m, adj)  # i_k/g_k on a physical instance
            g_u = adj.input_responses
            if s > 0:
                g_y = g_u * self.gains[s - 1]
        return CascadeGradient(
            loss=L, dL_dg=grads, dL_du=g_u, outputs=ms[-1].outputs,
            settles=sum(hw.settles for hw in self.stages) - before,
        )

    def to_circuit(
        self, title: str = "cascade"
    ) -> tuple[Circuit, list[str], list[tuple[str, str]]]:
        """One circuit: stage ``s``'s elements renamed ``<name>.s<s>`` and
        nodes ``s<s>.<node>``; stage ``s+1``'s input sources replaced by E
        buffers driven by stage ``s``'s outputs. Returns ``(circuit, inputs,
        outputs)`` naming the first stage's input sources and the last
        stage's outputs (node names or ``(pos, neg)`` pairs)."""
        out = Circuit(title)
        for s, hw in enumerate(self.stages):
            circuit = getattr(hw, "circuit", None)
            if not isinstance(circuit, Circuit):
                raise ValueError(f"stage {s} does not expose its circuit")

            def node(n: str, s: int = s) -> str:
                return n if n == "0" else f"s{s}.{n}"

            for e in circuit:
                if s > 0 and e.name in self.stages[s].inputs:
                    if not isinstance(e, VoltageSource):
                        raise ValueError(f"stage {s} input {e.name!r} must be a voltage source")
                    j = self.stages[s].inputs.index(e.name)
                    p, n = self.stages[s - 1].outputs[j]
                    gain = float(np.broadcast_to(self.gains[s - 1], (j + 1,))[j])
                    out.add_vcvs(f"e{e.name}.s{s}", node(e.pos), node(e.neg),
                                 node(p, s - 1), node(n, s - 1), gain)
                    continue
                out.add(_renamed(e, s, node))
        first = [f"{name}.s0" for name in self.stages[0].inputs]
        last = len(self.stages) - 1
        outputs = [(f"s{last}.{p}" if p != "0" else p, f"s{last}.{n}" if n != "0" else n)
                   for p, n in self.stages[-1].outputs]
        return out, first, outputs


def _renamed(e: Element, s: int, node) -> Element:
    changes: dict[str, object] = {"name": f"{e.name}.s{s}"}
    for f in e.node_fields:
        changes[f] = node(getattr(e, f))
    if hasattr(e, "control"):
        changes["control"] = f"{e.control}.s{s}"
    if hasattr(e, "model_name"):
        changes["model_name"] = f"{e.model_name}.s{s}"
    return e.replace(**changes)
