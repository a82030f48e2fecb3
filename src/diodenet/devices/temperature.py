"""The diode's temperature dependence (SPICE's level-1 junction model).

At absolute temperature ``T`` (the model's parameters are stated at
``T_nom`` = 300.15 K, 27 °C)::

    V_t(T)  = k T / q
    I_s(T)  = I_s · (T/T_nom)^(XTI/N) · exp((T/T_nom - 1) · EG / (N V_t(T)))

``N`` and ``R_s`` do not change (SPICE's defaults ``TRS1 = 0``). diodenet's
Shockley diode uses ``V_t`` at ``T_nom``, so a diode at ``T`` is written as the
*equivalent* model at ``T_nom``: ``N' = N T/T_nom`` (then ``N' V_t(T_nom) =
N V_t(T)``) and ``I_s' = I_s(T)``. Both simulators then run the same junction
law; the test compares it with ngspice's own ``.options temp=``.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..circuits import ShockleyDiode
from ..circuits.diode_models import BOLTZMANN, ELEMENTARY_CHARGE
from .spec import NOMINAL_TEMPERATURE

KELVIN = 273.15


def shockley_at_temperature(model: ShockleyDiode, celsius: float, *, eg: float = 1.11,
                            xti: float = 3.0) -> ShockleyDiode:
    """The ``T_nom``-referred model of ``model`` operating at ``celsius`` (°C).

    Preconditions: ``celsius > -273.15``; ``eg`` (eV) and ``xti`` finite.
    """
    if not (math.isfinite(celsius) and celsius > -KELVIN):
        raise ValueError(f"temperature must be above -273.15 °C, got {celsius}")
    t_nom = NOMINAL_TEMPERATURE + KELVIN
    t = celsius + KELVIN
    ratio = t / t_nom
    vt = BOLTZMANN * t / ELEMENTARY_CHARGE
    is_t = model.is_ * ratio ** (xti / model.n) * math.exp((ratio - 1) * eg / (model.n * vt))
    return replace(model, is_=is_t, n=model.n * ratio)
