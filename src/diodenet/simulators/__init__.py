"""Simulators: DC operating points of a circuit, by two independent routes.

* :class:`BuiltinSimulator`: diodenet's own, through the circuit's kernel and an
  exact equilibrium solver (pure torch, batched);
* :class:`NgspiceSimulator`: device level, in ngspice through diodenet's ctypes
  binding to libngspice (``diodenet.simulators.ngspice``).

Both take ``operating_points(u, sources=...)``: ``u`` of shape (batch,
len(sources)) overrides those sources' DC values (volts or amperes), the
others keep the netlist's. Each result says which simulator ran (``backend``).

The names load on first use: ngspice's worker processes import
``diodenet.simulators.ngspice`` without paying for torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "BuiltinSimulator": "diodenet.simulators.builtin",
    "OperatingPoints": "diodenet.simulators.builtin",
    "NgspiceSimulator": "diodenet.simulators.ngspice",
}

if TYPE_CHECKING:
    from .builtin import BuiltinSimulator, OperatingPoints
    from .ngspice import NgspiceSimulator


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'diodenet.simulators' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = ["BuiltinSimulator", "NgspiceSimulator", "OperatingPoints"]
