"""Choosing a hardware by name (what ``--hardware``/``--backend`` select)."""

from __future__ import annotations

from collections.abc import Sequence

from ..circuits import Circuit
from ..circuits.outputs import OutputSpec
from .builtin import BuiltinHardware
from .hardware import Hardware
from .ngspice import NgspiceHardware

#: the hardwares by name: diodenet's exact solver, and ngspice (device level)
HARDWARES = ("builtin", "ngspice")


def make_hardware(
    kind: str,
    circuit: Circuit,
    inputs: Sequence[str],
    outputs: Sequence[OutputSpec],
    *,
    workers: int = 1,
) -> Hardware:
    """``"builtin"`` or ``"ngspice"`` hardware for ``circuit``. Never
    substitutes one for the other: an unknown name is a ``ValueError``."""
    if kind == "builtin":
        return BuiltinHardware(circuit, inputs, outputs)
    if kind == "ngspice":
        return NgspiceHardware(circuit, inputs, outputs, workers=workers)
    raise ValueError(f"unknown hardware {kind!r}; known: {', '.join(HARDWARES)}")
