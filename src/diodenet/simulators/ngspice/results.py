"""What ``NgspiceSimulator`` returns: a batch's operating points
(``OperatingPoints``: node voltages, branch currents) and small-signal
responses (``SmallSignal``: the real parts of ``.ac`` phasors at a low
frequency). Units: volts against ground, amperes with SPICE's sign."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class OperatingPoints:
    """Solutions for a batch: ``voltages[k, j]`` is V(``nodes[j]``) (volts, vs ground)
    for sample k; ``currents[k, j]`` is the branch current (amperes) of element
    ``branches[j]`` (voltage sources, E/H elements: SPICE's ``name#branch``)."""

    nodes: list[str]
    voltages: np.ndarray
    branches: list[str]
    currents: np.ndarray
    backend: str = "ngspice"

    def __len__(self) -> int:
        return self.voltages.shape[0]

    @property
    def sources(self) -> list[str]:
        """Independent voltage sources with a branch current (as the built-in simulator)."""
        return [b for b in self.branches if b.startswith("v")]

    @property
    def source_currents(self) -> np.ndarray:
        """(batch, len(sources)) currents of :attr:`sources`, SPICE's sign."""
        cols = [self.branches.index(b) for b in self.sources]
        return self.currents[:, cols]

    def as_dicts(self) -> list[dict[str, float]]:
        """One ``{node: volts}`` per sample (the CLI's JSON)."""
        return [{n: float(v) for n, v in zip(self.nodes, row)} for row in self.voltages]

    def voltage(self, node: str) -> np.ndarray:
        """V(node) for every sample; ground (``"0"``) gives zeros."""
        node = str(node).lower()
        if node in ("0", "gnd"):
            return np.zeros(len(self))
        try:
            return self.voltages[:, self.nodes.index(node)]
        except ValueError:
            raise KeyError(f"no node {node!r}; nodes are {self.nodes}") from None

    def branch_voltage(self, n1: str, n2: str) -> np.ndarray:
        """V(n1) - V(n2) for every sample (a resistor's branch voltage)."""
        return self.voltage(n1) - self.voltage(n2)

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
