"""Imperfect hardware: seeded physical instances of a nominal circuit.

``DeviceSpec`` states the non-idealities (resistor tolerance, programming
noise, bounds, stuck devices, diode spread, crossbar wires, read noise, ADC,
temperature); ``Instance`` draws one realisation from a seed;
``InstanceHardware`` runs it behind the ``Hardware`` interface, on the
builtin simulator or ngspice, while the trainer sees only the nominal
conductances it programs and what the readout reports. ``robustness``
trains nominally, deploys to instances and fine-tunes in situ.
"""

from .hardware import InstanceHardware, InstanceMeasurement
from .instance import Instance
from .spec import DISTRIBUTIONS, NOMINAL_TEMPERATURE, OPEN_CONDUCTANCE, DeviceSpec, parse_fraction
from .temperature import shockley_at_temperature
from .wires import lay_out_crossbar

__all__ = [
    "DISTRIBUTIONS", "NOMINAL_TEMPERATURE", "OPEN_CONDUCTANCE", "DeviceSpec", "Instance",
    "InstanceHardware", "InstanceMeasurement", "lay_out_crossbar", "parse_fraction",
    "shockley_at_temperature",
]
