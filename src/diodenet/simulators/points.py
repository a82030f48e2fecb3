"""Reading a batch of operating points by name: what both simulators' results share."""

from __future__ import annotations

import numpy as np


class NodeVoltages:
    """``voltage(node)`` and ``branch_voltage(n1, n2)`` over ``nodes`` and
    ``voltages`` (batch, len(nodes)), volts against ground."""

    nodes: list[str]
    voltages: np.ndarray

    def __len__(self) -> int:
        return self.voltages.shape[0]

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
