"""Hardware linearization: gradients measured on the circuit itself."""

from .builtin import BuiltinHardware
from .factory import HARDWARES, make_hardware
from .gradient import Gradient, adjoint_gradient, hardware_gradient, loss_gradient, mse_loss
from .hardware import Drive, Hardware, Measurement, output_port
from .ngspice import NgspiceHardware

__all__ = [
    "HARDWARES",
    "BuiltinHardware",
    "Drive",
    "Gradient",
    "Hardware",
    "Measurement",
    "NgspiceHardware",
    "adjoint_gradient",
    "hardware_gradient",
    "loss_gradient",
    "make_hardware",
    "mse_loss",
    "output_port",
]
