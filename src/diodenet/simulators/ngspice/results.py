"""What ``NgspiceSimulator`` returns: a batch's operating points
(``OperatingPoints``: node voltages, branch currents) and small-signal
responses (``SmallSignal``: the real parts of ``.ac`` phasors at a low
frequency). Units: volts against ground, amperes with SPICE's sign."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..points import NodeVoltages


@dataclass
class OperatingPoints(NodeVoltages):
    """Solutions for a batch: ``voltages[k, j]`` is V(``nodes[j]``) (volts, vs ground)
    for sample k; ``currents[k, j]`` is the branch current (amperes) of element
    ``branches[j]`` (voltage sources, E/H elements: SPICE's ``name#branch``)."""

    nodes: list[str]
    voltages: np.ndarray
    branches: list[str]
    currents: np.ndarray
    backend: str = "ngspice"

    @property
    def sources(self) -> list[str]:
        """Independent voltage sources with a branch current (as the built-in simulator)."""
        return [b for b in self.branches if b.startswith("v")]

    @property
    def source_currents(self) -> np.ndarray:
        """(batch, len(sources)) currents of :attr:`sources`, SPICE's sign."""
        cols = [self.branches.index(b) for b in self.sources]
        return self.currents[:, cols]

    def current(self, element: str) -> np.ndarray:
        """Branch current of ``element`` (e.g. ``"v1"``) for every sample."""
        name = str(element).lower()
        try:
            return self.currents[:, self.branches.index(name)]
        except ValueError:
            raise KeyError(f"no branch current for {name!r}; have {self.branches}") from None


@dataclass
class SmallSignal(OperatingPoints):
    """Small-signal (linearized) response: real parts of the ``.ac`` phasors at a low
    frequency. ``max_imag[k]`` is the largest imaginary part seen for sample k
    (near 0: the circuit is resistive at that frequency)."""

    max_imag: np.ndarray = field(default_factory=lambda: np.zeros(0))
