"""Circuits and netlists: the element model and the ngspice netlist reader/writer."""

from .circuit import GROUND, Circuit, CircuitError
from .elements import (
    CCCS,
    CCVS,
    D1N4148,
    THERMAL_VOLTAGE,
    VCCS,
    VCVS,
    CurrentSource,
    Diode,
    Element,
    Gyrator,
    IdealDiode,
    Inductor,
    PWLDiode,
    Resistor,
    ShockleyDiode,
    Transformer,
    VoltageSource,
)

__all__ = [
    "CCCS", "CCVS", "D1N4148", "GROUND", "THERMAL_VOLTAGE", "VCCS", "VCVS", "Circuit",
    "CircuitError", "CurrentSource", "Diode", "Element", "Gyrator", "IdealDiode", "Inductor",
    "PWLDiode", "Resistor", "ShockleyDiode", "Transformer", "VoltageSource",
]
