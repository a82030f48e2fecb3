"""ngspice as hardware: every measurement is a device-level simulation.

``settle`` runs ``.op`` per sample (the simulator batches them). The
linearized experiment is the circuit at the same operating point with each
diode its small-signal conductance ``g_d`` (the slope of its DC law), every
source zeroed, and the drive applied as input sources' small-signal values
or currents injected at the output ports: one DC sweep of that linear
circuit per batch (``ngspice_linear``), or with ``linearization="ac"``
ngspice's own small-signal analysis (``.ac`` at a low frequency), whose
diode model ngspice 39 takes 0.4 % off its DC slope when ``ISR > 0``.
Ideal diodes are given to ngspice as switches (``IdealSwitch``: ``g_on`` when
conducting, ``g_off`` when blocking, ``g_on`` a million times the circuit's
largest conductance), PWL diodes as the same element with their knee and
slope (their exact law, with ``g_off`` across), unless
``ideal_diode="shockley"`` asks for the Shockley stand-ins (a device model
any SPICE runs; a PWL diode's matches it at 1 mA only). Either way ``g_d``
of a conducting diode is large and of a blocking one tiny, so the
small-signal circuit is the switched circuit up to ``g_network / g_d``.

The adjoint of a reciprocal network (resistors, diodes, transformers and
independent sources) is the network itself, so ``adjoint=True`` runs the same
experiment. A network with gyrators or voltage-controlled sources is measured
on its adjoint network (``ngspice_linear.adjoint_circuit``: gyrators
reversed, a VCVS turned into a CCCS driving the other way), linearized at the
same operating point. Current-controlled sources (F, H) have no adjoint here;
the backend says so instead of returning a wrong gradient (the built-in
hardware handles them).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..circuits import (
    GROUND,
    Circuit,
    CurrentSource,
    Diode,
    PWLDiode,
    Resistor,
    ShockleyDiode,
    Transformer,
    VoltageSource,
)
from ..circuits.diode_models import GMIN, IdealDiode
from ..circuits.netlist.writer import IdealSwitch
from ..circuits.outputs import OutputSpec, parse_output
from .hardware import Drive, Hardware, Measurement, NodeMeasurement, check_drive
from .ngspice_linear import linear_sweep_circuit, small_signal_conductances
from .node_gradient import CrossPlan, conductance_gradient, cross_plan
from .power import source_power

if TYPE_CHECKING:  # the ngspice package is imported when a hardware is made
    from ..simulators.ngspice import NgspicePool, OperatingPoints

RECIPROCAL = (Resistor, Diode, VoltageSource, CurrentSource, Transformer)


class NgspiceHardware(Hardware):
    """Hardware backed by ngspice (in this process, or ``workers`` processes).

    Same constructor as ``BuiltinHardware``, plus ``workers``, ``executor``,
    ngspice ``options`` (defaults: the simulator's tight tolerances) and the
    simulator's ``method`` (``"sweep"``, fast; ``"op"``, one ``.op`` per
    sample, for reference runs at extreme tolerances).

    ``ideal_diode``: how ngspice is given ideal and PWL diodes: ``"switch"``
    (default; ``IdealSwitch.for_circuit``, a piecewise-linear element that
    ngspice solves in about a fifth of the Newton iterations, and a PWL diode's
    exact law) or ``"shockley"`` (near-ideal junctions, ``IDEAL_STANDIN`` and a
    PWL diode's stand-in matched at 1 mA: device models any SPICE runs).
    """

    name = "ngspice"

    def __init__(
        self,
        circuit: Circuit,
        inputs: Sequence[str],
        outputs: Sequence[OutputSpec],
        *,
        workers: int = 1,
        executor: Executor | NgspicePool | None = None,
        options: dict[str, object] | None = None,
        method: str = "sweep",
        linearization: str = "sweep",
        ideal_diode: str = "switch",
        progress: bool = False,
    ) -> None:
        from ..simulators.ngspice import NgspicePool, NgspiceSimulator

        if linearization not in ("sweep", "ac"):
            raise ValueError(f"linearization must be 'sweep' or 'ac', got {linearization!r}")
        if ideal_diode not in ("switch", "shockley"):
            raise ValueError(f"ideal_diode must be 'switch' or 'shockley', got {ideal_diode!r}")
        self.linearization = linearization
        #: the keyword arguments that build this hardware again (for copies; a
        #: copy makes its own workers rather than sharing ``executor``)
        self.settings: dict[str, Any] = {
            "workers": workers, "options": dict(options) if options is not None else None,
            "method": method, "linearization": linearization, "ideal_diode": ideal_diode,
            "progress": progress}

        self.circuit = circuit.copy()
        self.inputs = [s.strip().lower() for s in inputs]
        if len(set(self.inputs)) != len(self.inputs):
            raise ValueError(f"inputs name a source twice: {self.inputs}")
        self.outputs = [parse_output(o) for o in outputs]
        trainable = self.circuit.trainable_resistors
        self.trainable = [r.name for r in trainable]
        # what is programmed, as an array: reading 200,000 resistors back out of
        # the circuit takes 0.2 s, and a torch layer asks at every step
        self._g = np.array([r.g for r in trainable], dtype=float)
        self.settles = 0
        # what each measurement reads, listed once (each list scans every element)
        self._diodes = self.circuit.diodes
        #: the switch ideal diodes are written as (None: the Shockley stand-in)
        self.ideal_switch = IdealSwitch.for_circuit(self.circuit) if ideal_diode == "switch" \
            and any(isinstance(d.model, IdealDiode | PWLDiode) for d in self._diodes) else None
        self._switch_warned = False  # whether the conductances outgrew the switch (once)
        self._knees = np.array([_knee_voltage(d) for d in self._diodes])
        # a switch conducts at any positive voltage: ">= 0" would count a
        # blocking switch at exactly 0 V (no current) as conducting
        self._strict = np.array([self.ideal_switch is not None
                                 and isinstance(d.model, IdealDiode | PWLDiode)
                                 for d in self._diodes], dtype=bool)
        self._sources = self.circuit.sources
        self._terminals = [(r.n1, r.n2) for r in
                           (self.circuit.element(n, Resistor) for n in self.trainable)]
        # one layout of the nodes the resistors touch, with each resistor's two
        # terminals in it (``_node_layout``), where those nodes sit in each node
        # order ngspice reported (the circuit and its linearized circuit each have
        # one), and the gradient's plan over the layout: each made on first use
        self._layout: tuple[str, ...] = ()
        self._ends: tuple[np.ndarray, np.ndarray] | None = None
        self._n_other = 0  # the layout's nodes before the held ones
        self._layout_cols: dict[tuple[str, ...], np.ndarray] = {}
        self._plan: CrossPlan | None = None
        self.reciprocal = all(isinstance(e, RECIPROCAL) for e in self.circuit)
        for name in self.inputs:
            if name not in self.circuit:
                raise ValueError(f"input {name!r} is not an element of the circuit")
            if not isinstance(self.circuit[name], VoltageSource | CurrentSource):
                raise ValueError(f"input {name!r} is not an independent source")
        nodes = {*self.circuit.nodes, "0"}
        for node in (n for pair in self.outputs for n in pair):
            if node not in nodes:
                raise ValueError(f"output node {node!r} is not a node of the circuit")
        # one set of worker processes serves both simulators
        self._pool = NgspicePool(workers) if executor is None and workers > 1 else None
        shared = executor if executor is not None else self._pool
        self.sim = NgspiceSimulator(
            self.circuit, executor=shared, options=options,
            ports=list(dict.fromkeys(self.outputs)), progress=progress, method=method,
            ideal_switch=self.ideal_switch,
        )
        self._ports = [self.sim.port(p, n) for p, n in self.outputs]
        self._gmin = float(str((options or {}).get("gmin", GMIN)))
        lin, ctrl, self._g_sources, self._drive_sources = linear_sweep_circuit(
            self.circuit, self.outputs, floor=self._gmin, ideal_switch=self.ideal_switch
        )
        self._linear = NgspiceSimulator(
            lin, executor=shared, options=options, progress=progress,
            conductances=ctrl,
        )
        # a non-reciprocal network measures its adjoint on the adjoint network
        self._adjoint = self._linear
        self._adjoint_error: str | None = None
        if not self.reciprocal:
            try:
                lin, ctrl, _, _ = linear_sweep_circuit(self.circuit, self.outputs, adjoint=True,
                                                       floor=self._gmin,
                                                       ideal_switch=self.ideal_switch)
                self._adjoint = NgspiceSimulator(
                    lin, executor=shared, options=options, progress=progress,
                    conductances=ctrl,
                )
            except ValueError as exc:
                self._adjoint_error = str(exc)
        self._check_switch_margins(self._g, stacklevel=3)

    def close(self) -> None:
        self.sim.close()
        self._linear.close()
        if self._adjoint is not self._linear:
            self._adjoint.close()
        if self._pool is not None:
            self._pool.close()

    def conductances(self) -> np.ndarray:
        return self._g.copy()

    def _check_switch_margins(self, g: np.ndarray, stacklevel: int) -> None:
        """Warn, once, where the switches' law moves ngspice's answers by more
        than about 1e-4 relative: ``g_on`` (written into the netlists when the
        hardware is made) within 1e4 of the largest conductance, or ``g_off``
        (ngspice's gmin, which a blocking switch leaks) within 1e4 of the
        smallest; the error is about ``g / g_on`` and ``g_off / g``."""
        switch = self.ideal_switch
        if switch is None or not g.size or self._switch_warned:
            return
        bound = IdealSwitch.RATIO / 100
        high, low = float(g.max()), float(g.min())
        problem = ""
        if switch.g_on < bound * high:
            problem = (f"reach {high:.3g} S, {switch.g_on / high:.3g} times below the ideal "
                       f"diodes' switch g_on = {switch.g_on:.3g} S (set when the hardware was "
                       f"made, {IdealSwitch.RATIO:.0e} times the largest conductance then): "
                       f"ngspice's answers are off by about {high / switch.g_on:.1e} relative; "
                       "make the hardware with conductances near those it will be programmed to")
        elif switch.g_off > 0 and low < bound * switch.g_off:
            problem = (f"go down to {low:.3g} S, {low / switch.g_off:.3g} times the ideal "
                       f"diodes' switch g_off = {switch.g_off:.3g} S (ngspice's gmin, which a "
                       f"blocking switch leaks): ngspice's answers are off by about "
                       f"{switch.g_off / low:.1e} relative")
        if problem:
            self._switch_warned = True
            warnings.warn(f"the conductances programmed {problem}", RuntimeWarning,
                          stacklevel=stacklevel)

    def _reprogram(self, g: np.ndarray) -> None:
        self._check_switch_margins(g, stacklevel=4)
        self._g = g.copy()
        values = dict(zip(self.trainable, g.tolist()))
        self.sim.set_conductances(values)
        self._linear.set_conductances(values)
        if self._adjoint is not self._linear:
            self._adjoint.set_conductances(values)

    # ------------------------------------------------------------ measure
    def _measure(self, res: OperatingPoints, applied: np.ndarray, *,
                 states: Measurement | None = None, adjoint: bool = False) -> Measurement:
        """A ``Measurement`` from ngspice's results. A forward settle derives each
        diode's state and ``g_d`` from its voltage; a linearized one (``states``
        given) carries those of the operating point it was linearized at. The
        branch voltages (batch × resistors), input responses and power are read
        from ngspice's node voltages on first use: evaluation reads none of
        the first two."""
        # every node's column once (a list lookup per node read is quadratic at
        # MNIST size); ground is the appended zero column
        column = {n: j for j, n in enumerate(res.nodes)}
        V = np.concatenate([res.voltages, np.zeros((len(applied), 1))], axis=1)
        ground = V.shape[1] - 1

        def col(node: str) -> int:
            node = node.lower()
            return ground if node in ("0", "gnd") else column[node]

        def v(node: str) -> np.ndarray:
            return V[:, col(node)]

        outputs = np.column_stack([v(p) - v(n) for p, n in self.outputs]) \
            if self.outputs else np.zeros((len(applied), 0))
        node_order = (*res.nodes, GROUND)  # V's columns
        ta, tb = self._node_layout()
        cols = self._layout_columns(node_order)

        def branch_voltages() -> np.ndarray:
            in_layout = V[:, cols]
            return in_layout[:, ta] - in_layout[:, tb]
        empty = np.zeros((len(applied), 0))

        def input_responses() -> np.ndarray:
            responses = []
            for name in self.inputs:
                e = self.circuit[name]
                if isinstance(e, VoltageSource):
                    responses.append(res.current(name))
                else:
                    assert isinstance(e, CurrentSource)  # checked in __init__
                    responses.append(v(e.neg) - v(e.pos))
            return np.column_stack(responses) if responses else empty

        if states is not None:
            conducting, g_d = states.conducting, states.diode_conductance
        else:
            diodes = self._diodes
            forward = np.column_stack([v(d.anode) - v(d.cathode) for d in diodes]) \
                if diodes else empty
            conducting = np.where(self._strict, forward > self._knees, forward >= self._knees)
            g_d = small_signal_conductances(self.circuit, forward, self._gmin, diodes=diodes,
                                            ideal_switch=self.ideal_switch) if diodes else empty
        return NodeMeasurement(
            inputs=applied, outputs=outputs, branch_voltages=branch_voltages,
            input_responses=input_responses, conducting=conducting, diode_conductance=g_d,
            linearized=states is not None, adjoint=adjoint,
            power=None if states is not None else lambda: source_power(
                self.circuit, v, res.current, self.inputs, applied, sources=self._sources),
            node_voltages=V, node_order=node_order,
        )

    # ------------------------------------------------------------ gradient
    def conductance_gradient(self, forward: Measurement, adjoint: Measurement) -> np.ndarray:
        """``∂L/∂g_k = -Σ_s (V_a - V_b)(V̂_a - V̂_b)`` from the two settles' node
        voltages (``node_gradient``: a product per block of node groups, no
        (batch, resistors) branch voltages), read in one layout of the nodes
        the resistors touch; the base class's formula where a measurement has
        no node voltages or reports device currents."""
        if not (isinstance(forward, NodeMeasurement) and isinstance(adjoint, NodeMeasurement)) \
                or forward.node_order is None or adjoint.node_order is None \
                or forward.branch_currents is not None:
            return super().conductance_gradient(forward, adjoint)
        plan = self._node_plan()
        V, W = self._in_layout(forward), self._in_layout(adjoint)
        return conductance_gradient(V, W, plan).numpy()

    def _node_layout(self) -> tuple[np.ndarray, np.ndarray]:
        """Each trainable resistor's two terminals in one layout of the nodes the
        resistors touch, [other nodes, nodes held by a source from ground,
        ground] (the held ones are a network's inputs and rails: the gradient's
        dense blocks are then inputs × hidden and hidden × outputs), made once.
        (The circuit's node names are canonical: lower case, ground ``GROUND``.)"""
        if self._ends is None:
            held = {n for e in self._sources if isinstance(e, VoltageSource)
                    for n, other in ((e.pos, e.neg), (e.neg, e.pos)) if other == GROUND}
            ends = self._terminals
            touched = list(dict.fromkeys(n for pair in ends for n in pair if n != GROUND))
            self._n_other = sum(n not in held for n in touched)
            self._layout = (*(n for n in touched if n not in held),
                            *(n for n in touched if n in held), GROUND)
            at = {n: j for j, n in enumerate(self._layout)}
            self._ends = (np.array([at[a] for a, _ in ends], dtype=np.int64),
                          np.array([at[b] for _, b in ends], dtype=np.int64))
        return self._ends

    def _layout_columns(self, node_order: tuple[str, ...]) -> np.ndarray:
        """Where the layout's nodes (``_node_layout``) sit in ``node_order``,
        found once per node order ngspice reported."""
        cols = self._layout_cols.get(node_order)
        if cols is None:
            self._node_layout()
            where = {n: j for j, n in enumerate(node_order)}
            cols = self._layout_cols[node_order] = np.array([where[n] for n in self._layout])
        return cols

    def _node_plan(self) -> CrossPlan:
        """The gradient's plan over the layout (``node_gradient.cross_plan``), made once."""
        if self._plan is None:
            ta, tb = self._node_layout()
            self._plan = cross_plan(torch.from_numpy(ta), torch.from_numpy(tb),
                                    torch.arange(self._n_other), len(self._layout) - 1)
        return self._plan

    def _in_layout(self, m: NodeMeasurement) -> torch.Tensor:
        """``m``'s node voltages in the layout of ``_node_layout``."""
        assert m.node_order is not None
        return torch.from_numpy(m.node_voltages[:, self._layout_columns(m.node_order)])

    def settle(self, inputs: np.ndarray) -> Measurement:
        u = np.asarray(inputs, dtype=float)
        if u.ndim == 1:
            u = u[None, :]
        op = self.sim.operating_points(u, self.inputs)
        self.settles += len(u)
        return self._measure(op, u)

    def settle_linearized(
        self, measurement: Measurement, drive: Drive, *, adjoint: bool = False
    ) -> Measurement:
        batch = measurement.batch
        check_drive(drive, self.inputs, len(self.outputs), batch)
        if adjoint and not self.reciprocal:
            if self._adjoint_error is not None:
                raise ValueError(self._adjoint_error)
            if not all(isinstance(k, tuple) for k in drive):
                raise ValueError(
                    "the ngspice hardware drives the adjoint of a non-reciprocal network "
                    "at its output ports only"
                )
            return self._linear_sweep(measurement, drive, adjoint)
        if self.linearization == "sweep":  # (a reciprocal network's adjoint is itself)
            return self._linear_sweep(measurement, drive, adjoint)
        spice_drive: dict[str, np.ndarray] = {}
        applied = np.zeros((batch, len(self.inputs)))
        for key, value in drive.items():
            arr = np.broadcast_to(np.asarray(value, dtype=float), (batch,)).copy()
            if isinstance(key, tuple):
                spice_drive[self._ports[int(key[1])]] = arr
            else:
                spice_drive[key] = arr
                applied[:, self.inputs.index(key)] = arr
        ss = self.sim.small_signal(measurement.inputs, self.inputs, spice_drive)
        self.settles += batch
        return self._measure(ss, applied, states=measurement, adjoint=adjoint)

    def _linear_sweep(self, measurement: Measurement, drive: Drive, adjoint: bool) -> Measurement:
        """The linearized circuit as one DC sweep: each sample's diode
        conductances, output-port currents and input sources' small-signal
        values (the inputs stay in the linear circuit, at 0 unless driven)."""
        batch = measurement.batch
        currents = np.zeros((batch, len(self.outputs)))
        applied = np.zeros((batch, len(self.inputs)))
        for key, value in drive.items():
            arr = np.broadcast_to(np.asarray(value, dtype=float), (batch,))
            if isinstance(key, tuple):
                currents[:, int(key[1])] = arr
            else:
                applied[:, self.inputs.index(key)] = arr
        driven = [j for j, name in enumerate(self.inputs) if name in drive]
        # each diode's gmin is a fixed resistor of the linear circuit (linear_sweep_circuit)
        values = np.hstack([measurement.diode_conductance - self._gmin, currents,
                            applied[:, driven]])
        sim = self._adjoint if adjoint else self._linear
        res = sim.operating_points(values, [*self._g_sources, *self._drive_sources,
                                            *(self.inputs[j] for j in driven)])
        self.settles += batch
        return self._measure(res, applied, states=measurement, adjoint=adjoint)


def _knee_voltage(d: Diode) -> float:
    """Forward voltage (V) above which a diode counts as conducting: where a
    Shockley junction carries 1 µA; 0 for ideal, ``vf`` for PWL diodes."""
    if isinstance(d.model, ShockleyDiode):
        return d.model.nvt * math.log(1e-6 / d.model.is_ + 1)  # at the model's temperature
    if isinstance(d.model, PWLDiode):
        return d.model.vf
    return 0.0
