"""The ``Hardware`` interface: what training may ask of a circuit.

Physical hardware offers two experiments, and so does every backend:

* ``settle(inputs)``: apply the inputs, let the circuit reach its DC operating
  point, and measure the outputs, every nonlinear element's state and the
  branch voltage ``v_k`` of every trainable resistor;
* ``settle_linearized(measurement, drive, adjoint=...)``: the *linearized*
  circuit around that operating point (conducting ideal diodes shorted,
  blocking ones opened, smooth diodes replaced by their small-signal
  conductance ``g_d``; every independent source zeroed), driven at chosen
  ports, and measure the same quantities.

Ports a drive may name (``Drive`` keys):

* an input source name (``"v1"``): that source's small-signal value (V or A);
* ``("out", j)``: a current (A) injected *into* output ``j`` (for a
  difference output ``V(p) - V(n)``: into ``p`` and out of ``n``).

With ``adjoint=True`` the experiment runs on the adjoint network (Director &
Rohrer): reciprocal elements stay, gyrators reverse, a VCVS becomes a CCCS
driving the other way. For a resistor–diode network it is the same circuit.

Gradient code (``hardware_gradient``) uses only these two calls.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from ..circuits import Circuit, Resistor

#: a drive: port -> (batch,) small-signal amplitudes
Drive = Mapping[str | tuple[str, int], np.ndarray]


@dataclass
class Measurement:
    """What one settle measured, per sample (first axis = batch).

    ``inputs`` (batch, m): what was applied (the small-signal drive values of
    the inputs, for a linearized settle). ``outputs`` (batch, p) in volts.
    ``branch_voltages`` (batch, k): ``V(n1) - V(n2)`` of each trainable
    resistor, in ``Hardware.trainable`` order. ``input_responses`` (batch, m):
    the current through each input voltage source (SPICE's sign, from ``+``
    through the source to ``-``, A) or ``V(neg) - V(pos)`` across each input
    current source (V): the quantity conjugate to the input, so that an
    adjoint settle's responses are ``∂L/∂u``. ``conducting`` (batch, n)
    and ``diode_conductance`` (batch, n, S): each diode's state and its
    small-signal conductance (``inf``/``0`` for an ideal diode on/off).

    Optional, where the backend measures them: ``power`` (batch,) the static
    power (W) the sources deliver at a forward operating point
    (``linearization.power``); ``branch_currents`` (batch, k) the current (A)
    through each trainable device, for hardware whose devices are not at the
    conductances the trainer programmed (``devices.InstanceHardware``).
    """

    inputs: np.ndarray
    outputs: np.ndarray
    branch_voltages: np.ndarray
    input_responses: np.ndarray
    conducting: np.ndarray
    diode_conductance: np.ndarray
    linearized: bool = False
    adjoint: bool = False
    power: np.ndarray | None = None
    branch_currents: np.ndarray | None = None

    @property
    def batch(self) -> int:
        return int(self.outputs.shape[0])


class LazyMeasurement(Measurement):
    """A ``Measurement`` whose costly readings may be given as callables, called
    on first use and kept: ``branch_voltages``, ``input_responses``, ``power``
    and ``branch_currents``. On a large circuit most settles (evaluation,
    a forward pass) read none of them, and ``branch_voltages`` alone is
    ``batch × resistors`` numbers. A callable must answer for the circuit that
    was measured, whatever the hardware does in between."""

    _LAZY = ("branch_voltages", "input_responses", "power", "branch_currents")
    _lazy: dict[str, Any]  # each field's value, or the callable that reads it

    def __init__(
        self,
        inputs: np.ndarray,
        outputs: np.ndarray,
        branch_voltages: np.ndarray | Callable[[], np.ndarray],
        input_responses: np.ndarray | Callable[[], np.ndarray],
        conducting: np.ndarray,
        diode_conductance: np.ndarray,
        linearized: bool = False,
        adjoint: bool = False,
        power: np.ndarray | Callable[[], np.ndarray | None] | None = None,
        branch_currents: np.ndarray | Callable[[], np.ndarray] | None = None,
    ) -> None:
        # the dataclass fields, so dataclasses.replace works (it reads them all)
        self.inputs, self.outputs = inputs, outputs
        self.conducting, self.diode_conductance = conducting, diode_conductance
        self.linearized, self.adjoint = linearized, adjoint
        for key, value in zip(self._LAZY, (branch_voltages, input_responses, power,
                                           branch_currents)):
            self._set(key, value)

    def _set(self, key: str, value: Any) -> None:
        self.__dict__.setdefault("_lazy", {})[key] = value  # the first set makes the store

    def _get(self, key: str) -> Any:
        v = self._lazy.get(key)
        if callable(v):
            v = self._lazy[key] = v()
        return v

    @property
    def branch_voltages(self) -> np.ndarray:
        return self._get("branch_voltages")

    @branch_voltages.setter
    def branch_voltages(self, value: np.ndarray | Callable[[], np.ndarray]) -> None:
        self._set("branch_voltages", value)

    @property
    def input_responses(self) -> np.ndarray:
        return self._get("input_responses")

    @input_responses.setter
    def input_responses(self, value: np.ndarray | Callable[[], np.ndarray]) -> None:
        self._set("input_responses", value)

    @property
    def power(self) -> np.ndarray | None:
        return self._get("power")

    @power.setter
    def power(self, value: np.ndarray | Callable[[], np.ndarray | None] | None) -> None:
        self._set("power", value)

    @property
    def branch_currents(self) -> np.ndarray | None:
        return self._get("branch_currents")

    @branch_currents.setter
    def branch_currents(self, value: np.ndarray | Callable[[], np.ndarray] | None) -> None:
        self._set("branch_currents", value)


class Hardware(ABC):
    """A circuit that training can settle, linearize and re-program.

    Attributes every backend sets: ``name`` (``"builtin"``/``"ngspice"``),
    ``circuit`` (its own copy of the network), ``inputs`` (source names, the
    columns of ``u``), ``outputs`` (``(pos, neg)`` node pairs, from node names
    or pairs by ``parse_output``),
    ``trainable`` (resistor names), and ``settles`` (experiments run so far,
    forward and linearized). ``runs_its_circuit`` says whether ``circuit`` is
    what settles: not for a physical instance of imperfect devices, whose
    ``circuit`` is the nominal design.
    """

    name: str = "hardware"
    runs_its_circuit: bool = True
    circuit: Circuit
    inputs: list[str]
    outputs: list[tuple[str, str]]
    trainable: list[str]
    settles: int = 0

    @abstractmethod
    def settle(self, inputs: np.ndarray) -> Measurement:
        """Operating points for ``inputs`` (batch, len(self.inputs))."""

    @abstractmethod
    def settle_linearized(
        self, measurement: Measurement, drive: Drive, *, adjoint: bool = False
    ) -> Measurement:
        """The linearized circuit around ``measurement``'s operating points."""

    def conductance_gradient(self, forward: Measurement, adjoint: Measurement) -> np.ndarray:
        """``∂L/∂g_k = -Σ_samples v_k · v̂_k`` (Tellegen) from a forward settle and
        the adjoint settle driven by ``∂L/∂y``; a backend may compute it without
        forming the (batch, k) branch voltages. Where the forward measurement
        reports device currents (devices not at their programmed values),
        ``v_k`` is ``i_k / g_k`` with the programmed ``g_k``."""
        v = forward.branch_voltages if forward.branch_currents is None \
            else forward.branch_currents / self.conductances()
        return -(v * adjoint.branch_voltages).sum(axis=0)

    def settle_injected(self, inputs: np.ndarray, currents: np.ndarray) -> Measurement:
        """Operating points for ``inputs`` with currents (batch, len(outputs))
        in amperes injected into the output ports (equilibrium propagation's
        nudged phase). Optional: a backend without it raises ``NotImplementedError``."""
        raise NotImplementedError(
            f"the {self.name} hardware cannot inject currents into its outputs; "
            "wrap it as devices.InstanceHardware (DeviceSpec() is the nominal circuit)"
        )

    def conductances(self) -> np.ndarray:
        """Conductances (S) of the trainable resistors, in ``trainable`` order."""
        return np.array([self.circuit.element(n, Resistor).g for n in self.trainable])

    def set_conductances(self, g: np.ndarray) -> None:
        """Program new conductances (S), in ``trainable`` order.

        Raises ``ValueError`` unless there is one finite, positive value per
        trainable resistor. The backend's ``_reprogram`` hook then updates
        whatever it derived from the circuit.
        """
        g = self._checked_conductances(g)
        elements = self.circuit.elements
        for name, value in zip(self.trainable, (1.0 / g).tolist()):  # Python floats
            r = elements[name]
            assert isinstance(r, Resistor)
            r.resistance = value  # validated above; same topology
        self._reprogram(g)

    def _checked_conductances(self, g: np.ndarray) -> np.ndarray:
        """``g`` as a float vector, one finite positive value per trainable resistor."""
        if isinstance(g, dict):
            raise ValueError("conductances are an array in trainable order (hw.trainable); "
                             "by name: hw.set_conductances([d[n] for n in hw.trainable])")
        g = np.asarray(g, dtype=float).reshape(-1)
        if g.shape != (len(self.trainable),):
            raise ValueError(f"expected {len(self.trainable)} conductances, got {g.shape}")
        if not np.all(np.isfinite(g)) or np.any(g <= 0):
            raise ValueError("conductances must be finite and > 0 (S)")
        return g

    @abstractmethod
    def _reprogram(self, g: np.ndarray) -> None:
        """Apply conductances already written into ``self.circuit``."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release workers or libraries (no-op by default)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def output_port(j: int) -> tuple[str, int]:
    """The drive key for a current injected into output ``j``."""
    return ("out", j)


class NodeMeasurement(LazyMeasurement):
    """A ``LazyMeasurement`` that also keeps every node's voltage
    (``node_voltages``, batch × columns, a tensor or an array), from which a
    backend reads its branch voltages and forms ``∂L/∂g`` without the
    (batch, resistors) matrix. ``node_order``: the node named by each column,
    where the layout varies between measurements (ngspice reports its own
    order, and a linearized circuit has nodes of its own); ``None`` where it
    is the backend's fixed layout."""

    def __init__(self, *args: Any, node_voltages: Any = None,
                 node_order: tuple[str, ...] | None = None, **kwargs: Any) -> None:
        # a dataclasses.replace of it drops node_voltages and is read field by field
        super().__init__(*args, **kwargs)
        self.node_voltages = node_voltages
        self.node_order = node_order


def check_drive(drive: Drive, inputs: Sequence[str], n_outputs: int, batch: int) -> None:
    """Raise ``ValueError`` for unknown ports or wrong shapes."""
    for key, value in drive.items():
        if isinstance(key, tuple):
            if key[0] != "out" or not 0 <= int(key[1]) < n_outputs:
                raise ValueError(f"unknown output port {key!r} (have {n_outputs} outputs)")
        elif key not in inputs:
            raise ValueError(f"unknown drive port {key!r}: not an input ({', '.join(inputs)})")
        if np.shape(value) not in ((batch,), ()):
            raise ValueError(f"drive {key!r} must have shape ({batch},), got {np.shape(value)}")
