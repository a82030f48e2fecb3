"""``InstanceHardware``: a physical instance behind the ``Hardware`` interface.

The trainer sees the *nominal* circuit: ``conductances()`` returns what it
programmed, ``set_conductances(g)`` writes ``g``. Underneath, each write goes
through ``Instance.program`` (tolerance, programming noise, bounds, stuck
devices) into the instance's own netlist (drawn diodes, temperature, crossbar
wires), which a builtin or ngspice hardware settles. Every reported voltage
then passes the readout (read noise, ADC); so do currents, through a
transimpedance ``1/g_read``.

What a measurement reports (``InstanceMeasurement``):

* ``outputs``, ``branch_voltages`` (across each device), ``input_responses``,
  and ``branch_currents`` (through each device), all read out;
* ``power``: the sources' static power (W), as a supply meter reads it;
* ``physical``: the exact operating point, which the hardware itself
  linearizes around (a physical circuit linearizes at its true state, not at
  what its ADC reported).

A linearized experiment is *auto-ranged*: its drive is scaled per sample so
the largest reported quantity sits at half the ADC's full scale, read out,
and scaled back (a linear circuit's response scales with its drive), as an
instrument picks its excitation amplitude.

With ``DeviceSpec()`` (everything ideal) every number is the inner
hardware's, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..circuits import Circuit, VoltageSource
from ..circuits.outputs import OutputSpec, parse_output
from ..linearization import BuiltinHardware, Hardware, Measurement, NgspiceHardware
from ..linearization.hardware import Drive, LazyMeasurement
from .instance import Instance
from .spec import DeviceSpec

BACKENDS = ("builtin", "ngspice")


class InstanceMeasurement(LazyMeasurement):
    """A ``Measurement`` plus the exact physical operating point behind it.

    What the readout reports (noise, ADC) of the branch voltages, the input
    responses and the branch currents is drawn when first read: evaluation
    reads only the outputs, and the rest is ``batch × resistors`` numbers."""

    def __init__(self, *args: Any, physical: Measurement | None = None,
                 nudged: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.physical, self.nudged = physical, nudged


class InstanceHardware(Hardware):
    """Hardware that runs a physical ``Instance`` of ``circuit``.

    Parameters
    ----------
    circuit, inputs, outputs:
        the nominal network and its ports (as ``BuiltinHardware``).
    spec, seed:
        the instance to draw (``DeviceSpec()``: the nominal circuit itself);
        or pass ``instance`` drawn already.
    backend:
        ``"builtin"`` or ``"ngspice"``: what settles the instance's netlist.
    backend_options:
        passed to the backend's constructor (e.g. ngspice ``options``, ``method``).
    """

    #: ``circuit`` is the nominal design; the instance's devices are what settle
    runs_its_circuit = False

    def __init__(
        self,
        circuit: Circuit,
        inputs: Sequence[str],
        outputs: Sequence[OutputSpec],
        spec: DeviceSpec | None = None,
        *,
        seed: int = 0,
        instance: Instance | None = None,
        backend: str = "builtin",
        **backend_options: Any,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown hardware {backend!r}; known: {', '.join(BACKENDS)}")
        self.circuit = circuit.copy()
        self.inputs = [s.strip().lower() for s in inputs]
        self.outputs = [parse_output(o) for o in outputs]
        self.trainable = [r.name for r in self.circuit.trainable_resistors]
        self.instance = instance if instance is not None else Instance(self.circuit, spec, seed)
        self.spec = self.instance.spec
        self.name = backend
        self.backend = backend
        self.settles = 0
        self._options = backend_options
        self._g_actual = self.instance.program(self.conductances())
        self.physical = self.instance.physical_circuit(self.circuit, self._g_actual)
        self._voltage_input = [isinstance(self.circuit[n], VoltageSource) for n in self.inputs]
        self._inner: Hardware = self._make(self.physical, self.inputs)
        self._nudged: Hardware | None = None
        self._stale: set[str] = set()

    def _make(self, circuit: Circuit, inputs: Sequence[str]) -> Hardware:
        cls = BuiltinHardware if self.backend == "builtin" else NgspiceHardware
        return cls(circuit, inputs, self.outputs, **self._options)

    def __repr__(self) -> str:
        return f"InstanceHardware({self.backend}, seed={self.instance.seed}, {self.spec})"

    # ------------------------------------------------------------ program
    def _reprogram(self, g: np.ndarray) -> None:
        # one write of every device; the backends take it when next used
        self._g_actual = self.instance.program(g)
        self._stale = {"inner", "nudged"}

    def actual_conductances(self) -> np.ndarray:
        """What the devices hold now (S), in ``trainable`` order (the trainer never sees this)."""
        return self._g_actual.copy()

    def _backend(self, nudged: bool) -> Hardware:
        if nudged and self._nudged is None:
            c = self.physical.copy()
            names = []
            for j, (p, n) in enumerate(self.outputs):
                name = f"inudge{j}"
                if name in c:
                    raise ValueError(f"the circuit already has an element named {name!r}")
                # dc flows through the source from n to p: it is injected into p
                names.append(c.add_current_source(name, n, p, 0.0).name)
            self._nudged = self._make(c, [*self.inputs, *names])
            self._nudged.set_conductances(self._g_actual)
        key = "nudged" if nudged else "inner"
        hw = self._nudged if nudged else self._inner
        assert hw is not None
        if key in self._stale:
            hw.set_conductances(self._g_actual)
            self._stale.discard(key)
        return hw

    def close(self) -> None:
        self._inner.close()
        if self._nudged is not None:
            self._nudged.close()

    # ------------------------------------------------------------ readout
    def read_voltage(self, x: np.ndarray) -> np.ndarray:
        """Voltages (V) as the readout reports them: ``Q(x + n)``, ``n ~ N(0,
        read_noise²)``, ``Q`` the ADC: ``b = adc_bits`` bits over ``±full_scale``
        (``LSB = 2 FS / 2^b``), rounded to the nearest of its ``2^b`` codes, from
        ``-FS`` to ``FS - LSB`` (two's complement: ``+FS`` itself is no code)."""
        s = self.spec
        if s.ideal_readout:
            return x
        y = np.asarray(x, dtype=float)
        if s.read_noise:
            y = y + s.read_noise * self.instance.read_rng.standard_normal(y.shape)
        if s.adc_bits is not None:
            half = 2 ** (int(s.adc_bits) - 1)
            lsb = s.full_scale / half
            y = np.clip(np.rint(y / lsb), -half, half - 1) * lsb
        return y

    def read_current(self, i: np.ndarray) -> np.ndarray:
        """Currents (A) read as the voltage across a transimpedance ``1/g_read``."""
        if self.spec.ideal_readout:
            return i
        g = self.spec.read_conductance
        return self.read_voltage(np.asarray(i) / g) * g

    def _read_responses(self, r: np.ndarray) -> np.ndarray:
        if self.spec.ideal_readout:
            return r
        out = np.empty_like(r)
        for j, is_v in enumerate(self._voltage_input):
            out[:, j] = self.read_current(r[:, j]) if is_v else self.read_voltage(r[:, j])
        return out

    def _report(self, m: Measurement, nudged: bool) -> InstanceMeasurement:
        k = len(self.inputs)
        # devices at their programmed values (ideal resistors): the branch
        # voltages say everything, and the gradient stays bit-exact
        at_programmed = self.spec.ideal_resistors
        g_actual = self._g_actual  # replaced, never edited, by a re-programming

        def currents() -> np.ndarray:
            return self.read_current(m.branch_voltages * g_actual)

        return InstanceMeasurement(
            inputs=m.inputs[:, :k],
            outputs=self.read_voltage(m.outputs),
            branch_voltages=lambda: self.read_voltage(m.branch_voltages),
            input_responses=lambda: self._read_responses(m.input_responses[:, :k]),
            conducting=m.conducting, diode_conductance=m.diode_conductance,
            linearized=m.linearized, adjoint=m.adjoint, power=lambda: m.power,
            branch_currents=None if m.linearized or at_programmed else currents,
            physical=m, nudged=nudged,
        )

    # ------------------------------------------------------------ settle
    def settle(self, inputs: np.ndarray) -> InstanceMeasurement:
        u = np.asarray(inputs, dtype=float)
        m = self._backend(False).settle(u)
        self.settles += m.batch
        return self._report(m, False)

    def settle_injected(self, inputs: np.ndarray, currents: np.ndarray) -> InstanceMeasurement:
        u = np.atleast_2d(np.asarray(inputs, dtype=float))
        i = np.asarray(currents, dtype=float).reshape(u.shape[0], len(self.outputs))
        m = self._backend(True).settle(np.hstack([u, i]))
        self.settles += m.batch
        return self._report(m, True)

    def conductance_gradient(self, forward: Measurement, adjoint: Measurement) -> np.ndarray:
        """``-Σ (i_k/g_k) v̂_k`` from the reported currents; an exact readout of
        devices at their programmed values asks the backend (its own route)."""
        fp, ap = getattr(forward, "physical", None), getattr(adjoint, "physical", None)
        if forward.branch_currents is None and self.spec.ideal_readout \
                and fp is not None and ap is not None:
            return self._backend(bool(getattr(forward, "nudged", False))) \
                .conductance_gradient(fp, ap)
        return super().conductance_gradient(forward, adjoint)

    def settle_linearized(
        self, measurement: Measurement, drive: Drive, *, adjoint: bool = False
    ) -> InstanceMeasurement:
        phys = getattr(measurement, "physical", None)
        if phys is None:
            raise ValueError("linearize around a measurement this InstanceHardware made")
        nudged = bool(getattr(measurement, "nudged", False))
        m = self._backend(nudged).settle_linearized(phys, drive, adjoint=adjoint)
        self.settles += m.batch
        if not self.spec.ideal_readout:
            m = self._auto_range(m)
        else:
            m = self._report(m, nudged)
        return m

    def _auto_range(self, m: Measurement) -> InstanceMeasurement:
        """Read a linear response at the drive amplitude that puts its
        largest quantity at half full scale, then scale it back."""
        k = len(self.inputs)
        r = m.input_responses[:, :k]
        g = self.spec.read_conductance
        as_volts = np.where(np.array(self._voltage_input, dtype=bool), np.abs(r) / g, np.abs(r)) \
            if k else np.zeros((m.batch, 0))
        peak = np.max(np.hstack([np.abs(m.outputs), np.abs(m.branch_voltages), as_volts,
                                 np.full((m.batch, 1), 1e-300)]), axis=1)
        a = (0.5 * self.spec.full_scale / peak)[:, None]
        scaled = replace(m, outputs=m.outputs * a, branch_voltages=m.branch_voltages * a,
                         input_responses=r * a)
        out = self._report(scaled, False)
        out.outputs, out.branch_voltages = out.outputs / a, out.branch_voltages / a
        out.input_responses = out.input_responses / a
        out.physical = m
        return out
