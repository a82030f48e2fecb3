"""Hardware linearization: gradients measured on the circuit itself."""

from .builtin import BuiltinHardware
from .estimators import ESTIMATORS, GradientEstimator, make_estimator
from .factory import HARDWARES, make_hardware
from .gradient import (
    Gradient,
    adjoint_gradient,
    hardware_gradient,
    loss_gradient,
    mse_loss,
    programmed_branch_voltages,
)
from .hardware import Drive, Hardware, Measurement, output_port
from .ngspice import NgspiceHardware
from .power import energy_per_inference, source_power

__all__ = [
    "ESTIMATORS",
    "HARDWARES",
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
    "mse_loss",
    "output_port",
    "programmed_branch_voltages",
    "source_power",
]
