"""diodenet: neural networks that are electrical circuits.

A resistor-diode network driven by sources settles to the fixed point of a
ReLU monotone operator equilibrium network (monDEQ)::

    0 ∈ H z + F(z) + B u + b,     y = -C z - D u - d

and its gradient can be measured on the circuit itself by hardware
linearization: ``∂L/∂g_k = -v_k · v̂_k`` for every resistor ``k``.

The names most programs need are importable from here::

    from diodenet import Circuit, extract_kernel, BuiltinHardware, hardware_gradient

The circuit classes load at once; everything that needs torch (kernels,
solvers, simulators, hardwares, training) loads on first use, so
``import diodenet`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .circuits import (
    D1N4148,
    Circuit,
    CircuitError,
    IdealDiode,
    PWLDiode,
    ShockleyDiode,
)

# name -> the module that defines it (loaded on first access)
_LAZY: dict[str, str] = {
    "Kernel": "diodenet.kernels",
    "Equilibrium": "diodenet.kernels",
    "ConvergenceError": "diodenet.kernels",
    "extract_kernel": "diodenet.kernels",
    "realize": "diodenet.kernels",
    "BuiltinSimulator": "diodenet.simulators",
    "NgspiceSimulator": "diodenet.simulators",
    "Hardware": "diodenet.linearization",
    "Measurement": "diodenet.linearization",
    "BuiltinHardware": "diodenet.linearization",
    "NgspiceHardware": "diodenet.linearization",
    "Gradient": "diodenet.linearization",
    "hardware_gradient": "diodenet.linearization",
    "make_hardware": "diodenet.linearization",
    "sse_loss": "diodenet.linearization",
    "get_solver": "diodenet.solvers",
    "Cascade": "diodenet.cascades",
    "CircuitLayer": "diodenet.torch",
    "MonDEQLayer": "diodenet.torch",
    "RunConfig": "diodenet.training",
    "TrainConfig": "diodenet.training",
    "run_training": "diodenet.training",
    "CircuitClassifier": "diodenet.estimators",
    "CircuitRegressor": "diodenet.estimators",
}

if TYPE_CHECKING:
    from .cascades import Cascade
    from .estimators import CircuitClassifier, CircuitRegressor
    from .kernels import ConvergenceError, Equilibrium, Kernel, extract_kernel, realize
    from .linearization import (
        BuiltinHardware,
        Gradient,
        Hardware,
        Measurement,
        NgspiceHardware,
        hardware_gradient,
        make_hardware,
        sse_loss,
    )
    from .simulators import BuiltinSimulator, NgspiceSimulator
    from .solvers import get_solver
    from .torch import CircuitLayer, MonDEQLayer
    from .training import RunConfig, TrainConfig, run_training


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'diodenet' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "D1N4148",
    "BuiltinHardware",
    "BuiltinSimulator",
    "Cascade",
    "Circuit",
    "CircuitClassifier",
    "CircuitError",
    "CircuitLayer",
    "CircuitRegressor",
    "ConvergenceError",
    "Equilibrium",
    "Gradient",
    "Hardware",
    "IdealDiode",
    "Kernel",
    "Measurement",
    "MonDEQLayer",
    "NgspiceHardware",
    "NgspiceSimulator",
    "PWLDiode",
    "RunConfig",
    "ShockleyDiode",
    "TrainConfig",
    "__version__",
    "extract_kernel",
    "get_solver",
    "hardware_gradient",
    "make_hardware",
    "realize",
    "run_training",
    "sse_loss",
]
