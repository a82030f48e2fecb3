"""Hardware linearization: gradients measured on the circuit itself."""

from .builtin import BuiltinHardware
from .gradient import Gradient, hardware_gradient, loss_gradient, mse_loss
from .hardware import Drive, Hardware, Measurement, output_port
from .ngspice import NgspiceHardware

__all__ = [
    "BuiltinHardware", "Drive", "Gradient", "Hardware", "Measurement", "NgspiceHardware",
    "hardware_gradient",
    "loss_gradient", "mse_loss", "output_port",
]
