"""The cascade settled stage by stage: Gauss–Seidel sweeps over its stages.

Each stage is settled (or measured linearized, or on its adjoint) on its
own hardware, driven by what the buffers hold. Forward, stage ``t``'s input
``i`` is ``a_b y_s[j]`` (``a_b δy_s[j]`` linearized); on the adjoint, stage
``s``'s outputs are driven by the ``a_b λ_b`` of every buffer it feeds, plus
``o ⊙ ∂L/∂y`` at the last stage, and each buffer's ``λ_b`` is the response at
the input it drives. Without feedback one sweep (in stage order, reversed for
the adjoint) is exact; with feedback the sweeps repeat until the buffers
settle (``Cascade._settled``). The one-circuit way is ``whole.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..linearization import Measurement, output_port
from ..linearization.hardware import Drive
from .measurement import CascadeMeasurement

if TYPE_CHECKING:
    from .cascade import Cascade


def stage_inputs(c: Cascade, s: int, u_ext: np.ndarray, values: dict[int, np.ndarray],
                 batch: int) -> np.ndarray:
    """Stage ``s``'s inputs: the external ``u_ext`` (stage 0) and the value
    each buffer driving it holds (``values``, by buffer index; 0 if unset)."""
    u = np.zeros((batch, len(c.stages[s].inputs)))
    if s == 0:
        u[:, c._external] = u_ext
    for k, b in enumerate(c.buffers):
        if b.dst == s:
            u[:, b.input] = values.get(k, 0.0)
    return u


def settle_stages(c: Cascade, u: np.ndarray) -> CascadeMeasurement:
    """Forward sweeps: every stage settled in order, each buffer then holding
    ``a_b y_s[j]``, until the loop settles."""
    batch = u.shape[0]
    values: dict[int, np.ndarray] = {}  # buffer index -> the value it holds (V)
    ms: list[Measurement] = []
    for _ in range(c.max_sweeps if c.has_feedback else 1):
        ms = []
        change = 0.0
        for s, hw in enumerate(c.stages):
            m = hw.settle(stage_inputs(c, s, u, values, batch))
            ms.append(m)
            for k, b in enumerate(c.buffers):
                if b.src == s:
                    new = b.gain * m.outputs[:, b.output]
                    change = max(change, float(np.abs(new - values.get(k, 0.0)).max(
                        initial=0.0)))
                    values[k] = new
        scale = max(1.0, max((float(np.abs(v).max(initial=0.0)) for v in values.values()),
                             default=0.0))
        if c._settled(change, scale, "feedback"):
            break
    else:
        raise RuntimeError(
            f"the cascade's feedback loop did not settle in {c.max_sweeps} sweeps "
            f"(last change {change:.3g} V, loop-gain bound {c.loop_gain:.3g})"
        )
    return c._join(u, ms)


def adjoint_stages(c: Cascade, m: CascadeMeasurement, g_y: np.ndarray) -> CascadeMeasurement:
    """Reverse sweeps: stage ``s``'s adjoint is driven at its outputs by what
    every buffer it feeds passes back (``a_b λ_b``) plus, for the last
    stage, ``o ⊙ ∂L/∂y``."""
    batch, S = m.batch, len(c.stages)
    lam = np.zeros((batch, len(c.buffers)))
    adj: list[Measurement | None] = [None] * S
    for _ in range(c._sweeps()):
        change = 0.0
        for s in range(S - 1, -1, -1):
            gy = np.zeros((batch, len(c.stages[s].outputs)))
            if s == S - 1:
                gy += g_y * c._output_gains
            for k, b in enumerate(c.buffers):
                if b.src == s:
                    gy[:, b.output] += b.gain * lam[:, k]
            drive: Drive = {output_port(j): gy[:, j] for j in range(gy.shape[1])}
            a = c.stages[s].settle_linearized(m.stages[s], drive, adjoint=True)
            adj[s] = a
            for k, b in enumerate(c.buffers):
                if b.dst == s:
                    new = a.input_responses[:, b.input]
                    change = max(change, float(np.abs(new - lam[:, k]).max(initial=0.0)))
                    lam[:, k] = new
        scale = max(1e-300, float(np.abs(lam).max(initial=0.0)))
        if c._settled(change, scale, "adjoint"):
            break
    else:
        raise RuntimeError(f"the cascade's adjoint loop did not settle in {c.max_sweeps} "
                           f"sweeps (last change {change:.3g})")
    done = [a for a in adj if a is not None]
    return CascadeMeasurement(
        inputs=np.zeros((batch, len(c.inputs))), outputs=done[-1].outputs,
        branch_voltages=np.hstack([a.branch_voltages for a in done]),
        input_responses=done[0].input_responses[:, c._external],
        conducting=m.conducting, diode_conductance=m.diode_conductance,
        linearized=True, adjoint=True, stages=done, buffer_values=lam,
        last_outputs=done[-1].outputs,
    )


def linearized_stages(c: Cascade, m: CascadeMeasurement, du: np.ndarray) -> CascadeMeasurement:
    """Forward sweeps of the linearized stages: ``δu_t[i] = a_b δy_s[j]``."""
    batch = m.batch
    values: dict[int, np.ndarray] = {}
    lins: list[Measurement] = []
    for _ in range(c._sweeps()):
        lins, change = [], 0.0
        for s, hw in enumerate(c.stages):
            u = stage_inputs(c, s, du, values, batch)
            drive: Drive = {name: u[:, i] for i, name in enumerate(hw.inputs)}
            lin = hw.settle_linearized(m.stages[s], drive)
            lins.append(lin)
            for k, b in enumerate(c.buffers):
                if b.src == s:
                    new = b.gain * lin.outputs[:, b.output]
                    change = max(change, float(np.abs(new - values.get(k, 0.0)).max(
                        initial=0.0)))
                    values[k] = new
        scale = max(1e-300, max((float(np.abs(v).max(initial=0.0)) for v in values.values()),
                                default=0.0))
        if c._settled(change, scale, "linearized"):
            break
    out = c._join(du, lins)
    out.linearized = True
    return out
