"""Circuits and netlists: the element model, the diode models and the ngspice netlist
reader/writer."""

from .circuit import GROUND, Circuit, CircuitError
from .diode_models import D1N4148, THERMAL_VOLTAGE, IdealDiode, PWLDiode, ShockleyDiode
from .elements import (
    CCCS,
    CCVS,
    VCCS,
    VCVS,
    CurrentSource,
    Diode,
    Element,
    Gyrator,
    Inductor,
    Resistor,
    Transformer,
    VoltageSource,
)

__all__ = [
    "CCCS", "CCVS", "D1N4148", "GROUND", "THERMAL_VOLTAGE", "VCCS", "VCVS", "Circuit",
    "CircuitError", "CurrentSource", "Diode", "Element", "Gyrator", "IdealDiode", "Inductor",
    "PWLDiode", "Resistor", "ShockleyDiode", "Transformer", "VoltageSource",
]
