"""The diode's temperature dependence (SPICE's level-1 junction model).

A ``ShockleyDiode``'s values are those at its own ``temp`` (27 °C unless it
was read at another). At absolute temperature ``T`` from ``T_0`` (both in
kelvin), with ``V_t(T) = k T / q``::

    I_s(T)  = I_s  · (T/T_0)^(XTI/N)  · exp((T/T_0 - 1) · EG / (N  V_t(T)))
    I_sr(T) = I_sr · (T/T_0)^(XTI/NR) · exp((T/T_0 - 1) · EG / (NR V_t(T)))

and ``VJ`` (which shapes the recombination current) follows ngspice's
``TLEVC = 0`` law; ``N``, ``NR``, ``NBV``, ``BV`` and ``R_s`` do not change
(SPICE's defaults ``TCV = TRS = 0``), but every emission coefficient now
multiplies ``V_t(T)``: the model at ``T`` carries ``temp = T``. This is the
netlist reader's own ngspice transcription (``netlist.models.diode_instance``),
so a device at a temperature and a netlist read at that temperature are one
model; the tests compare it with ngspice's own ``.options temp=``.
"""

from __future__ import annotations

import math

from ..circuits import ShockleyDiode
from ..circuits.netlist.models import diode_instance

KELVIN = 273.15


def shockley_at_temperature(model: ShockleyDiode, celsius: float, *, eg: float = 1.11,
                            xti: float = 3.0) -> ShockleyDiode:
    """``model`` (its values those at ``model.temp``) operating at ``celsius`` (°C).

    Preconditions: ``celsius > -273.15``; ``eg`` (eV) and ``xti`` finite.
    """
    if not (math.isfinite(celsius) and celsius > -KELVIN):
        raise ValueError(f"temperature must be above -273.15 °C, got {celsius}")
    values = {"is": model.is_, "n": model.n, "rs": model.rs, "ibv": model.ibv,
              "cjo": model.cjo, "m": model.m, "tt": model.tt, "ikf": model.ikf,
              "ikr": model.ikr, "isr": model.isr, "nr": model.nr, "vj": model.vj,
              "eg": eg, "xti": xti}
    if model.bv is not None:
        values["bv"] = model.bv
    if model.nbv is not None:
        values["nbv"] = model.nbv
    hot = diode_instance(values, celsius, model.temp)
    assert isinstance(hot, ShockleyDiode)  # no piecewise-linear parameters given
    return hot
