"""The whole cascade as one circuit, and measurements on it.

Every stage's elements are renamed ``<name>_s<s>`` (nodes ``s<s>_<node>``).
A stage input driven by buffer ``b`` becomes a 0 V sense source (the input's
own name, an ammeter) in series with the E element ``ebuf<t>_<i>`` of gain
``a_b``, controlled by the source stage's output pair; the output buffers
``eout<j>`` drive nodes ``y<j>`` (each loaded by 1 MΩ, which an ideal E
element does not notice). The sense sources are inputs of the one-circuit
hardware held at 0 V: in an adjoint settle their responses are exactly the
``λ_b = ∂L/∂u_t[i]`` the buffer-gain gradients need.

Its MNA is the block lower-triangular (with feedback: general) coupling of
the stages' MNAs; the adjoint network of the linearized whole (every VCVS
reversed into a CCCS, Director–Rohrer) is measured in one settle.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..circuits import Circuit, Element, VoltageSource
from ..linearization import Drive, Hardware, Measurement, output_port
from .measurement import CascadeMeasurement

if TYPE_CHECKING:
    from .cascade import Cascade

#: load on each output buffer (Ω): gives the output node a DC path; an ideal
#: E element drives it unchanged
OUTPUT_LOAD = 1e6


def _node(s: int, n: str) -> str:
    return n if n == "0" else f"s{s}_{n}"


def _renamed(e: Element, s: int) -> Element:
    changes: dict[str, object] = {"name": f"{e.name}_s{s}"}
    for f in e.node_fields:
        changes[f] = _node(s, getattr(e, f))
    for attr in ("control", "model_name"):  # names that refer to other cards
        value = getattr(e, attr, None)
        if value:
            changes[attr] = f"{value}_s{s}"
    return e.replace(**changes)


def whole_circuit(cascade: Cascade, title: str = "cascade"
                  ) -> tuple[Circuit, list[str], list[str], list[tuple[str, str]]]:
    """``(circuit, external inputs, sense sources (buffer order), outputs)``;
    ``outputs`` lists every stage's outputs in stage order, then ``y<j>``."""
    out = Circuit(title)
    by_input = {(b.dst, b.input): k for k, b in enumerate(cascade.buffers)}
    senses: list[str] = [""] * len(cascade.buffers)
    for s, hw in enumerate(cascade.stages):
        circuit = getattr(hw, "circuit", None)
        if not isinstance(circuit, Circuit):
            raise ValueError(f"stage {s} does not expose its circuit")
        index = {name: i for i, name in enumerate(hw.inputs)}
        for e in circuit:
            k = by_input.get((s, index.get(e.name, -1)))
            if k is None:
                out.add(_renamed(e, s))
                continue
            if not isinstance(e, VoltageSource):
                raise ValueError(f"stage {s} input {e.name!r} must be a voltage source "
                                 "to be driven by a buffer")
            b = cascade.buffers[k]
            p, n = cascade.stages[b.src].outputs[b.output]
            mid = f"s{s}_{e.name}_buf"
            senses[k] = out.add_voltage_source(f"{e.name}_s{s}", _node(s, e.pos), mid, 0.0).name
            out.add_vcvs(f"ebuf{s}_{b.input}", mid, _node(s, e.neg),
                         _node(b.src, p), _node(b.src, n), b.gain)
    ext = [f"{cascade.stages[0].inputs[i]}_s0" for i in cascade._external]
    outputs: list[tuple[str, str]] = []
    for s, hw in enumerate(cascade.stages):
        outputs += [(_node(s, p), _node(s, n)) for p, n in hw.outputs]
    last = len(cascade.stages) - 1
    for j, (p, n) in enumerate(cascade.stages[-1].outputs):
        out.add_vcvs(f"eout{j}", f"y{j}", "0", _node(last, p), _node(last, n),
                     float(cascade._output_gains[j]))
        out.add_resistor(f"rload{j}", f"y{j}", "0", resistance=OUTPUT_LOAD, trainable=False)
        outputs.append((f"y{j}", "0"))
    return out, ext, senses, outputs


@dataclass
class WholeCircuit:
    """The one-circuit hardware of a cascade and how its columns map back."""

    cascade: Any
    hw: Hardware
    n_external: int
    n_stage_outputs: list[int]
    n_diodes: list[int]

    def _split(self, u: np.ndarray, mw: Measurement) -> CascadeMeasurement:
        c = self.cascade
        cols = np.cumsum([0, *self.n_stage_outputs])
        resp_ext = mw.input_responses[:, :self.n_external]
        resp_sense = mw.input_responses[:, self.n_external:]
        branches = c._split(mw.branch_voltages)
        d_edges = np.cumsum([0, *self.n_diodes])
        ms = []
        outs = [mw.outputs[:, cols[s]:cols[s + 1]] for s in range(len(c.stages))]
        for s, hw in enumerate(c.stages):
            batch = len(u)
            inputs = np.zeros((batch, len(hw.inputs)))
            responses = np.zeros((batch, len(hw.inputs)))
            if s == 0:
                inputs[:, c._external] = u
                responses[:, c._external] = resp_ext
            for k, b in enumerate(c.buffers):
                if b.dst == s:
                    inputs[:, b.input] = b.gain * outs[b.src][:, b.output]
                    responses[:, b.input] = resp_sense[:, k]
            sl = slice(d_edges[s], d_edges[s + 1])
            ms.append(Measurement(
                inputs=inputs, outputs=outs[s], branch_voltages=branches[s],
                input_responses=responses, conducting=mw.conducting[:, sl],
                diode_conductance=mw.diode_conductance[:, sl],
                linearized=mw.linearized, adjoint=mw.adjoint,
            ))
        m = c._join(u, ms)
        m.outputs = mw.outputs[:, cols[-1]:]  # what the output buffers drive, measured
        m.whole = mw
        return m

    def settle(self, u: np.ndarray) -> CascadeMeasurement:
        """One settle of the whole circuit (senses held at 0 V)."""
        n_sense = len(self.hw.inputs) - self.n_external
        mw = self.hw.settle(np.hstack([u, np.zeros((len(u), n_sense))]))
        return self._split(u, mw)

    def _joined(self, m: CascadeMeasurement) -> Measurement:
        if m.whole is not None:
            return m.whole
        sense = np.column_stack([m.stages[b.dst].input_responses[:, b.input]
                                 for b in self.cascade.buffers]) \
            if self.cascade.buffers else np.zeros((m.batch, 0))
        n_sense = len(self.hw.inputs) - self.n_external
        return Measurement(
            inputs=np.hstack([m.inputs, np.zeros((m.batch, n_sense))]),
            outputs=np.hstack([*(ms.outputs for ms in m.stages), m.outputs]),
            branch_voltages=m.branch_voltages,
            input_responses=np.hstack([m.input_responses, sense]),
            conducting=m.conducting, diode_conductance=m.diode_conductance,
        )

    def adjoint(self, m: CascadeMeasurement, g_y: np.ndarray) -> CascadeMeasurement:
        """The whole linearized cascade's adjoint network driven by ``g_y`` at
        the output nodes ``y<j>``, measured in one settle."""
        base = sum(self.n_stage_outputs)
        drive: Drive = {output_port(base + j): g_y[:, j] for j in range(g_y.shape[1])}
        a = self.hw.settle_linearized(self._joined(m), drive, adjoint=True)
        return CascadeMeasurement(
            inputs=np.zeros((m.batch, self.n_external)), outputs=a.outputs[:, base:],
            branch_voltages=a.branch_voltages,
            input_responses=a.input_responses[:, :self.n_external],
            conducting=m.conducting, diode_conductance=m.diode_conductance,
            linearized=True, adjoint=True, buffer_values=a.input_responses[:, self.n_external:],
        )


def build_whole(cascade: Cascade,
                make: Callable[[Circuit, list[str], list], Hardware] | None = None
                ) -> WholeCircuit:
    """The one-circuit hardware (``make(circuit, inputs, outputs)``; default
    ``BuiltinHardware``) of ``cascade``."""
    from ..linearization import BuiltinHardware

    circuit, ext, senses, outputs = whole_circuit(cascade)
    # the buffers make the whole H non-symmetric and, with gains, not monotone;
    # feedforward it is block-triangular with monotone diagonal blocks (a
    # P-matrix problem: one solution), and its linearized MNA is what matters
    make = make or (lambda c, i, o: BuiltinHardware(c, i, o, monotone_tol=math.inf))
    hw = make(circuit, [*ext, *senses], outputs)
    if list(hw.trainable) != list(cascade.trainable):
        raise ValueError("the whole cascade's trainable resistors do not match its stages'")
    return WholeCircuit(
        cascade, hw, len(ext), [len(s.outputs) for s in cascade.stages],
        [len(s.circuit.diodes) for s in cascade.stages],
    )
