"""diodenet: neural networks that are electrical circuits.

A resistor-diode network driven by sources settles to the fixed point of a
ReLU monotone operator equilibrium network (monDEQ)::

    0 ∈ H z + F(z) + B u,     y = -C z - D u

and its gradient can be measured on the circuit itself by hardware
linearization: dL/dg_k = -v_k * v̂_k.
"""

from ._version import __version__
from .circuits import (
    D1N4148,
    Circuit,
    CircuitError,
    IdealDiode,
    PWLDiode,
    ShockleyDiode,
)

__all__ = [
    "D1N4148", "Circuit", "CircuitError", "IdealDiode", "PWLDiode", "ShockleyDiode",
    "__version__",
]
