"""Hardware linearization: gradients measured on the circuit itself."""

from __future__ import annotations

import warnings
from typing import Any

from .builtin import BuiltinHardware
from .estimators import ESTIMATORS, NUDGES, GradientEstimator, make_estimator
from .factory import HARDWARES, make_hardware
from .gradient import (
    Gradient,
    adjoint_gradient,
    hardware_gradient,
    loss_gradient,
    sse_loss,
)
from .hardware import Drive, Hardware, Measurement, output_port
from .ngspice import NgspiceHardware
from .power import energy_per_inference, source_power

__all__ = [
    "ESTIMATORS",
    "HARDWARES",
    "NUDGES",
    "BuiltinHardware",
    "Drive",
    "Gradient",
    "GradientEstimator",
    "Hardware",
    "Measurement",
    "NgspiceHardware",
    "adjoint_gradient",
    "energy_per_inference",
    "hardware_gradient",
    "loss_gradient",
    "make_estimator",
    "make_hardware",
    "output_port",
    "source_power",
    "sse_loss",
]


def __getattr__(name: str) -> Any:
    if name == "mse_loss":  # the old name of sse_loss, kept for one release
        warnings.warn("diodenet.linearization.mse_loss is a sum of squared errors and is "
                      "now called sse_loss; the old name will be removed",
                      DeprecationWarning, stacklevel=2)
        return sse_loss
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
