"""Activation functions induced by circuit elements (the kernel's nonlinearities).

A monotone one-port ``i = f(v)`` behind a series resistor ``r`` driven by a
voltage ``x`` settles where ``x = v + r i``. Its two activations, in volts,
are the resolvents ``σ_Y(x) = v`` (admittance form) and ``σ_Z(x) = r i``
(impedance form), and ``σ_Y + σ_Z = x`` (Moreau). See :mod:`.oneport` for
the conventions, :mod:`.closed_forms` for the diode elements (ReLU, forward
drop, on-resistance, clamp, Zener, the Shockley "diode ReLU"), and
:mod:`.numerical` for user-supplied I–V curves (a callable or a table).
"""

from .base import Ideal, Nonlinearity, PiecewiseLinear, Shockley
from .closed_forms import (
    ClampPort,
    IdealDiodePort,
    PWLDiodePort,
    ShockleyPort,
    ZenerPort,
    diode_relu,
    diode_relu_current,
    port_from_model,
)
from .junction import SpiceJunction
from .lambertw import lambertw0, lambertw0_exp, log_lambertw0_exp
from .numerical import FunctionPort, TablePort
from .oneport import OnePort, OnePortNonlinearity

__all__ = [
    "ClampPort",
    "FunctionPort",
    "Ideal",
    "IdealDiodePort",
    "Nonlinearity",
    "OnePort",
    "OnePortNonlinearity",
    "PWLDiodePort",
    "PiecewiseLinear",
    "Shockley",
    "ShockleyPort",
    "SpiceJunction",
    "TablePort",
    "ZenerPort",
    "diode_relu",
    "diode_relu_current",
    "lambertw0",
    "lambertw0_exp",
    "log_lambertw0_exp",
    "port_from_model",
]
