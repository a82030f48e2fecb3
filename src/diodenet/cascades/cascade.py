"""Cascades of resistor–diode networks: feedforward and other asymmetric designs.

A single resistor–diode network is reciprocal, so its ``W`` is symmetric.
Stages joined by *unilateral* buffers are not: a buffer (a VCVS of gain
``a_b``) sets input ``i`` of stage ``t`` to ``a_b`` times output ``j`` of stage
``s`` without loading stage ``s``::

    u_t[i] = a_b · y_s[j]          (one buffer b per driven input)
    y      = o ⊙ y_S               (output buffers of gains o)

With every buffer running forward (``s < t``) the composite weight matrix is
block lower-triangular: a deep feedforward ReLU network when each stage is one
layer. A buffer running backward (``t ≤ s``) closes a loop: a recurrent
asymmetric network, admitted only when ``well_posedness`` certifies it
(``feedback.py``).

The cascade is itself a :class:`~diodenet.linearization.Hardware`:

* ``settle``: the stages settled in order (Gauss–Seidel sweeps until the
  loop converges when there is feedback; ``stages.py``), or the whole cascade
  as one circuit (``forward="whole"``: one netlist, one analysis per chunk;
  ``whole.py``);
* ``settle_linearized(adjoint=True)`` driven at the outputs, two ways:

  - ``backward="stages"``: stage ``S``'s linearized adjoint driven by ``o ⊙
    ∂L/∂y``; its input-port response is ``∂L/∂u_S``, and each buffer passes
    ``a_b ∂L/∂u_t[i]`` to the output port of its source stage, down to stage 1;
  - ``backward="single"``: the whole linearized cascade measured at once on
    its adjoint network (every buffer reversed, Director–Rohrer).

Both give ``v̂`` for every resistor (``∂L/∂g_k = -Σ v_k v̂_k``) and, for every
buffer, the adjoint response ``λ_b = ∂L/∂u_t[i]`` at the input it drives, so
``∂L/∂a_b = Σ_samples λ_b · y_s[j]`` and ``∂L/∂o_j = Σ (∂L/∂y_j) y_S[j]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..circuits import Circuit
from ..linearization import Hardware, Measurement, loss_gradient, output_port
from ..linearization.gradient import Loss
from ..linearization.hardware import Drive, check_drive
from ..utils.numbers import is_real, is_whole
from .buffers import Buffer, buffers_of
from .feedback import IllPosedCascade, check_well_posed
from .measurement import CascadeGradient, CascadeMeasurement
from .stages import adjoint_stages, linearized_stages, settle_stages
from .whole import WholeCircuit, build_whole

if TYPE_CHECKING:
    import torch

FORWARD = ("stages", "whole")
BACKWARD = ("stages", "single")


class Cascade(Hardware):
    """Stages (each a ``Hardware``) joined by unilateral buffers.

    Either ``gains`` (one entry per consecutive pair: a scalar or one per
    connection, stage ``s``'s output ``j`` driving stage ``s+1``'s input
    ``j``), or ``buffers`` (any :class:`Buffer` list; every input of a later
    stage must be driven by exactly one buffer; stage 0's undriven inputs are
    the cascade's inputs). ``output_gains`` scale the last stage's outputs
    (default 1). ``forward``/``backward`` choose how it settles (see the
    module docstring); ``whole`` makes the one-circuit hardware (default
    ``BuiltinHardware``). ``tol`` (V, relative to the signal scale) and
    ``max_sweeps`` bound the Gauss–Seidel sweeps of a loop.
    """

    name = "cascade"

    def __init__(
        self,
        stages: Sequence[Hardware],
        gains: Sequence[float | Sequence[float]] | None = None,
        *,
        buffers: Sequence[Buffer] | None = None,
        output_gains: Sequence[float] | float | None = None,
        forward: str = "stages",
        backward: str = "stages",
        whole: Callable[[Circuit, list[str], list], Hardware] | None = None,
        tol: float = 1e-12,
        max_sweeps: int = 2000,
    ) -> None:
        if not stages:
            raise ValueError("a cascade needs at least one stage")
        if forward not in FORWARD or backward not in BACKWARD:
            raise ValueError(f"forward must be one of {FORWARD} and backward one of {BACKWARD}")
        if not (is_real(tol) and 0 < tol < 1):
            raise ValueError(f"tol must be a number in (0, 1) (relative to the signal scale), "
                             f"got {tol!r}")
        if not (is_whole(max_sweeps) and max_sweeps >= 1):
            raise ValueError(f"max_sweeps must be a whole number >= 1, got {max_sweeps!r}")
        instances = [s for s, hw in enumerate(stages) if not hw.runs_its_circuit]
        if instances and (forward == "whole" or backward == "single"):
            raise ValueError(
                f"stage {instances[0]} runs a physical instance that its nominal circuit does "
                "not describe, so the cascade cannot be settled or measured as one circuit: "
                "use forward='stages' and backward='stages'")
        self.stages = list(stages)
        self.forward_mode, self.backward_mode = forward, backward
        self.tol, self.max_sweeps = float(tol), int(max_sweeps)
        self.buffers = buffers_of(self.stages, gains, buffers)
        n_out = len(self.stages[-1].outputs)
        given = np.asarray(1.0 if output_gains is None else output_gains, dtype=float)
        if given.ndim > 1 or given.size not in (1, n_out):
            raise ValueError(f"output_gains: one gain or one per output ({n_out}), got "
                             f"{given.size}")
        o = np.broadcast_to(given, (n_out,)).copy()
        self._output_gains = o
        self._check_gains(self.gains)
        driven = {(b.dst, b.input) for b in self.buffers}
        self._external = [i for i in range(len(self.stages[0].inputs)) if (0, i) not in driven]
        self.inputs = [f"{self.stages[0].inputs[i]}_s0" for i in self._external]
        self.outputs = [(f"y{j}", "0") for j in range(n_out)]
        self.trainable = [f"{n}_s{s}" for s, hw in enumerate(self.stages) for n in hw.trainable]
        self._sizes = [len(hw.trainable) for hw in self.stages]
        self._make_whole = whole
        self._whole: WholeCircuit | None = None
        self._whole_settles = 0
        self.has_feedback = any(b.feedback for b in self.buffers)
        if self.has_feedback:
            self.loop_gain = check_well_posed(self)
        else:
            self.loop_gain = 0.0

    # ------------------------------------------------------------ parameters
    @property
    def gain_names(self) -> list[str]:
        """``e<dst>_<input>`` per buffer (the E element driving that stage input),
        then ``eout<j>`` per output buffer."""
        return ([f"e{b.dst}_{b.input}" for b in self.buffers]
                + [f"eout{j}" for j in range(len(self._output_gains))])

    @property
    def gains(self) -> np.ndarray:
        """Every buffer gain (V/V) in ``gain_names`` order."""
        return np.concatenate([[b.gain for b in self.buffers], self._output_gains])

    def set_gains(self, gains: np.ndarray) -> None:
        """Program new buffer gains (``gain_names`` order); finite and nonzero."""
        a = np.asarray(gains, dtype=float).reshape(-1)
        if a.shape != (len(self.buffers) + len(self._output_gains),):
            raise ValueError(f"expected {len(self.gain_names)} gains, got {a.shape}")
        self._check_gains(a)
        nb = len(self.buffers)
        self.buffers = [Buffer(b.src, b.output, b.dst, b.input, float(g))
                        for b, g in zip(self.buffers, a[:nb])]
        self._output_gains = a[nb:].copy()
        if self._whole is not None:
            self._whole_settles += self._whole.hw.settles
            self._whole.hw.close()
            self._whole = None  # rebuilt with the new E gains when next needed
        if self.has_feedback:
            self.loop_gain = check_well_posed(self)

    @staticmethod
    def _check_gains(a: np.ndarray) -> None:
        if not np.all(np.isfinite(a)) or np.any(a == 0):
            raise ValueError("buffer gains must be finite and nonzero (V/V)")

    def conductances(self) -> np.ndarray:
        return np.concatenate([hw.conductances() for hw in self.stages])

    def set_conductances(self, g: np.ndarray) -> None:
        g = np.asarray(g, dtype=float).reshape(-1)
        if g.shape != (len(self.trainable),):
            raise ValueError(f"expected {len(self.trainable)} conductances, got {g.shape}")
        before = self.conductances() if self.has_feedback else None
        self._program_stages(g)
        if before is not None:  # the loop-gain bound depends on the conductances too
            try:
                self.loop_gain = check_well_posed(self)
            except IllPosedCascade:
                self._program_stages(before)  # all or nothing
                raise

    def _program_stages(self, g: np.ndarray) -> None:
        for hw, part in zip(self.stages, self._split(g)):
            hw.set_conductances(part)
        if self._whole is not None:
            self._whole.hw.set_conductances(g)

    def _reprogram(self, g: np.ndarray) -> None:  # pragma: no cover - set_conductances is whole
        pass

    def _split(self, flat: np.ndarray) -> list[np.ndarray]:
        return np.split(np.asarray(flat), np.cumsum(self._sizes)[:-1], axis=-1)

    @property
    def settles(self) -> int:  # type: ignore[override]
        w = self._whole.hw.settles if self._whole is not None else 0
        return sum(hw.settles for hw in self.stages) + w + self._whole_settles

    @property
    def circuit(self) -> Circuit:  # type: ignore[override]
        """The whole cascade as one circuit (E elements as buffers), with the
        conductances and gains programmed now."""
        from .whole import whole_circuit

        return whole_circuit(self)[0]

    @property
    def whole(self) -> WholeCircuit:
        """The whole cascade as one circuit and its hardware (built on demand)."""
        if self._whole is None:
            self._whole = build_whole(self, self._make_whole)
        return self._whole

    def close(self) -> None:
        for hw in self.stages:
            hw.close()
        if self._whole is not None:
            self._whole.hw.close()

    # ------------------------------------------------------------ forward
    def settle(self, inputs: np.ndarray) -> CascadeMeasurement:
        u = np.asarray(inputs, dtype=float)
        if u.ndim == 1:
            u = u[None, :]
        if u.ndim != 2 or u.shape[1] != len(self.inputs):
            raise ValueError(f"expected inputs of shape (batch, {len(self.inputs)}), got {u.shape}")
        if self.forward_mode == "whole":
            return self.whole.settle(u)
        return settle_stages(self, u)

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        """The outputs (V) for ``inputs``: ``settle(inputs).outputs``."""
        return self.settle(inputs).outputs

    def _join(self, u: np.ndarray, ms: list[Measurement]) -> CascadeMeasurement:
        first = ms[0]
        controls = np.column_stack(
            [ms[b.src].outputs[:, b.output] for b in self.buffers]
        ) if self.buffers else np.zeros((len(u), 0))
        return CascadeMeasurement(
            inputs=u, outputs=ms[-1].outputs * self._output_gains,
            branch_voltages=np.hstack([m.branch_voltages for m in ms]),
            input_responses=first.input_responses[:, self._external],
            conducting=np.hstack([m.conducting for m in ms]),
            diode_conductance=np.hstack([m.diode_conductance for m in ms]),
            stages=ms, buffer_values=controls, last_outputs=ms[-1].outputs,
        )

    # ------------------------------------------------------------ linearized
    def settle_linearized(
        self, measurement: Measurement, drive: Drive, *, adjoint: bool = False,
        backward: str | None = None,
    ) -> CascadeMeasurement:
        if not isinstance(measurement, CascadeMeasurement):
            raise ValueError("a cascade linearizes around its own measurement (Cascade.settle)")
        batch = measurement.batch
        check_drive(drive, self.inputs, len(self.outputs), batch)
        if adjoint:
            if not all(isinstance(k, tuple) for k in drive):
                raise ValueError("a cascade's adjoint is driven at its output ports only")
            g_y = np.zeros((batch, len(self.outputs)))
            for key, value in drive.items():
                g_y[:, int(key[1])] = np.broadcast_to(value, (batch,))
            mode = backward or self.backward_mode
            if mode not in BACKWARD:
                raise ValueError(f"backward must be one of {BACKWARD}, got {mode!r}")
            if mode == "single":
                return self.whole.adjoint(measurement, g_y)
            return adjoint_stages(self, measurement, g_y)
        if any(isinstance(k, tuple) for k in drive):
            raise ValueError("a cascade's linearized (non-adjoint) settle is driven at its inputs")
        du = np.zeros((batch, len(self.inputs)))
        for key, value in drive.items():
            du[:, self.inputs.index(str(key))] = np.broadcast_to(value, (batch,))
        return linearized_stages(self, measurement, du)

    def _sweeps(self) -> int:
        return self.max_sweeps if self.has_feedback else 1

    def _settled(self, change: float, scale: float, loop: str) -> bool:
        """Whether a sweep changed the buffers by at most ``tol`` of their
        scale (always, without feedback: one sweep is exact); a sweep whose
        values are no longer finite raises (``inf <= tol · inf`` must not pass)."""
        if not (math.isfinite(change) and math.isfinite(scale)):
            raise RuntimeError(f"the cascade's {loop} loop diverged: a buffer's value is no "
                               f"longer finite (loop-gain bound {self.loop_gain:.3g})")
        return not self.has_feedback or change <= self.tol * scale

    # ------------------------------------------------------------ gradient
    def gradient(self, inputs: np.ndarray, loss: Loss, *, backward: str | None = None
                 ) -> CascadeGradient:
        """``∂L/∂g`` for every stage's resistors and ``∂L/∂a`` for every buffer
        gain, from one forward settle and one adjoint measurement."""
        before = self.settles
        m = self.settle(inputs)
        L, g_y = loss_gradient(loss, m.outputs)
        drive: Drive = {output_port(j): g_y[:, j] for j in range(g_y.shape[1])}
        adj = self.settle_linearized(m, drive, adjoint=True, backward=backward)
        if adj.stages:  # stage by stage: each stage's own Tellegen sum
            dL_dg = np.concatenate([hw.conductance_gradient(f, a) for hw, f, a
                                    in zip(self.stages, m.stages, adj.stages)])
        else:
            dL_dg = self.conductance_gradient(m, adj)
        assert m.buffer_values is not None and adj.buffer_values is not None
        assert m.last_outputs is not None
        dL_da = np.concatenate([(m.buffer_values * adj.buffer_values).sum(axis=0),
                                (g_y * m.last_outputs).sum(axis=0)])
        return CascadeGradient(
            loss=L, dL_dg=self._split(dL_dg), dL_du=adj.input_responses, outputs=m.outputs,
            settles=self.settles - before, dL_da=dL_da,
        )

    def to_mlp(self) -> torch.nn.Sequential:
        """The equivalent ``nn.Sequential`` of ``Linear`` and ``ReLU`` layers
        (float64) of a cascade of layer stages, such as ``from_mlp`` builds:
        ``from_mlp(m).to_mlp()`` gives ``m`` back. Any other cascade is refused
        with a ``ValueError`` saying why (see ``cascades.mlp.to_mlp``)."""
        from .mlp import to_mlp

        return to_mlp(self)

    def to_circuit(self, title: str = "cascade") -> tuple[Circuit, list[str], list]:
        """``(circuit, inputs, outputs)``: the whole cascade as one circuit (stage
        ``s``'s elements renamed ``<name>_s<s>``, nodes ``s<s>_<node>``; each
        buffered input a 0 V sense source in series with an E element; output
        buffers driving nodes ``y<j>``). ``inputs`` are the external sources,
        ``outputs`` the ``y<j>`` nodes."""
        from .whole import whole_circuit

        c, ext, _, outs = whole_circuit(self, title)
        return c, ext, outs[-len(self.outputs):]
