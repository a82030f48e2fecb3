"""The DC law of ngspice's level-1 diode junction, ``i_j(v_j)`` and its slope.

With ``vte = N·Vt`` and the effective (temperature-, AREA- and M-scaled)
parameters of a ``ShockleyDiode``:

* forward, ``v >= -3 vte``: ``Is (e^{v/vte} - 1)``, plus the recombination
  current ``Isr (e^{v/(NR Vt)} - 1) ((1 - v/VJ)² + 0.005)^{M/2}``; with a knee
  ``Ikf > 0`` the sum ``i`` becomes ``i / (1 + sqrt(i/Ikf))``;
* reverse, ``-BV <= v < -3 vte``: ``-Is (1 + (3 vte / (e v))³)`` (ngspice's
  cubic tail; ngspice 39 has no recombination term there); with ``Ikr > 0``,
  ``i / (1 + sqrt(-i/Ikr))``;
* breakdown, ``v < -BV'``: ``-Is e^{-(BV' + v)/(NBV Vt)}``, where ``BV'`` is
  the voltage at which ngspice matches the breakdown current ``IBV``
  (``breakdown_voltage``; ``NBV`` defaults to ``N``).

``gmin`` (ngspice's 1e-12 S by default) is added in parallel, as ngspice does.
"""

from __future__ import annotations

import math

import numpy as np

from .diode_models import GMIN, ShockleyDiode, thermal_voltage

#: ngspice's relative tolerance when it matches IBV (its reltol default)
_BV_RELTOL = 1e-3
#: the largest exponent ``junction_current`` evaluates (e^700 is about 1e304):
#: past it the current is capped, and no longer the junction's law
EXP_LIMIT = 700.0


def breakdown_voltage(model: ShockleyDiode) -> float | None:
    """``BV'``: the junction voltage where the breakdown law takes over, matched to
    ``IBV`` the way ngspice's temperature update does (``None``: no breakdown)."""
    if model.bv is None:
        return None
    vt = thermal_voltage(model.temp)
    bv, csat, cbv = model.bv, model.is_, model.ibv
    nbv = model.nbv if model.nbv is not None else model.n
    if cbv < csat * bv / vt:
        return bv
    xbv = bv - nbv * vt * math.log(1 + cbv / csat)
    for _ in range(25):
        xbv = bv - nbv * vt * math.log(cbv / csat + 1 - xbv / vt)
        xcbv = csat * (math.exp((bv - xbv) / (nbv * vt)) - 1 + xbv / vt)
        if abs(xcbv - cbv) <= _BV_RELTOL * cbv:
            break
    return xbv


def junction_current(
    model: ShockleyDiode, v: float, gmin: float = GMIN, bv: float | None = None
) -> tuple[float, float]:
    """``(i, di/dv)`` of the junction at ``v`` volts (anode side positive);
    ``bv`` is ``breakdown_voltage(model)`` (computed when not given)."""
    vt = thermal_voltage(model.temp)
    vte = model.n * vt
    csat = model.is_
    if bv is None:
        bv = breakdown_voltage(model)

    def recombination(x: float) -> tuple[float, float]:
        if model.isr == 0:
            return 0.0, 0.0
        vtr = model.nr * vt
        e = math.exp(x / vtr)
        base = 1 - x / model.vj
        t1 = base * base + 0.005
        gen = t1 ** (model.m / 2)
        dgen = -model.m * base / model.vj * t1 ** (model.m / 2 - 1)
        i = model.isr * (e - 1)
        return i * gen, model.isr * e / vtr * gen + i * dgen

    if v >= -3 * vte:
        e = math.exp(min(v / vte, EXP_LIMIT))
        i, g = csat * (e - 1), csat * e / vte
        ir, gr = recombination(v)
        i, g = i + ir, g + gr
        if model.ikf > 0 and i > 1e-18:
            s = math.sqrt(i / model.ikf)
            g = ((1 + s) * g - i * g / (2 * s * model.ikf)) / (1 + 2 * s + i / model.ikf)
            i = i / (1 + s)
    else:  # (ngspice 39 adds no recombination current below -3 vte)
        if bv is None or v >= -bv:
            arg = (3 * vte / (v * math.e)) ** 3
            i, g = -csat * (1 + arg), csat * 3 * arg / v
        else:
            vtb = (model.nbv if model.nbv is not None else model.n) * vt
            e = math.exp(min(-(bv + v) / vtb, EXP_LIMIT))
            i, g = -csat * e, csat * e / vtb
        if model.ikr > 0 and i < -1e-18:
            s = math.sqrt(-i / model.ikr)
            g = ((1 + s) * g + i * g / (2 * s * model.ikr)) / (1 + 2 * s - i / model.ikr)
            i = i / (1 + s)
    return i + gmin * v, g + gmin


def within_law(model: ShockleyDiode, v: float, bv: float | None) -> bool:
    """Whether ``junction_current`` at ``v`` is the junction's law, not its cap on
    the exponential (forward, or past breakdown ``bv``, ``breakdown_voltage``'s)."""
    vt = thermal_voltage(model.temp)
    if v / (model.n * vt) > EXP_LIMIT:
        return False
    vtb = (model.nbv if model.nbv is not None else model.n) * vt
    return bv is None or -(bv + v) / vtb <= EXP_LIMIT


def junction_current_array(
    model: ShockleyDiode, v: np.ndarray, gmin: float = GMIN, bv: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``junction_current`` elementwise over an array of junction voltages (the
    same law, branch for branch; the scalar form serves Newton's per-diode
    steps, this one a batch of measured operating points)."""
    v = np.asarray(v, dtype=float)
    vt = thermal_voltage(model.temp)
    vte = model.n * vt
    csat = model.is_
    if bv is None:
        bv = breakdown_voltage(model)
    forward = v >= -3 * vte
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        vf = np.where(forward, v, 0.0)
        e = np.exp(np.minimum(vf / vte, EXP_LIMIT))
        i_f, g_f = csat * (e - 1), csat * e / vte
        if model.isr > 0:
            vtr = model.nr * vt
            er = np.exp(vf / vtr)
            base = 1 - vf / model.vj
            t1 = base * base + 0.005
            gen = t1 ** (model.m / 2)
            dgen = -model.m * base / model.vj * t1 ** (model.m / 2 - 1)
            ir = model.isr * (er - 1)
            i_f, g_f = i_f + ir * gen, g_f + model.isr * er / vtr * gen + ir * dgen
        if model.ikf > 0:
            knee = i_f > 1e-18
            s = np.sqrt(np.where(knee, i_f, 1.0) / model.ikf)
            g_k = ((1 + s) * g_f - i_f * g_f / (2 * s * model.ikf)) / (1 + 2 * s + i_f / model.ikf)
            i_f, g_f = np.where(knee, i_f / (1 + s), i_f), np.where(knee, g_k, g_f)
        vr = np.where(forward, -1.0, v)
        arg = (3 * vte / (vr * math.e)) ** 3
        i_r, g_r = -csat * (1 + arg), csat * 3 * arg / vr
        if bv is not None:
            vtb = (model.nbv if model.nbv is not None else model.n) * vt
            past = vr < -bv
            eb = np.exp(np.minimum(-(bv + vr) / vtb, EXP_LIMIT))
            i_r, g_r = np.where(past, -csat * eb, i_r), np.where(past, csat * eb / vtb, g_r)
        if model.ikr > 0:
            knee = i_r < -1e-18
            s = np.sqrt(np.where(knee, -i_r, 1.0) / model.ikr)
            g_k = ((1 + s) * g_r + i_r * g_r / (2 * s * model.ikr)) / (1 + 2 * s - i_r / model.ikr)
            i_r, g_r = np.where(knee, i_r / (1 + s), i_r), np.where(knee, g_k, g_r)
    return np.where(forward, i_f, i_r) + gmin * v, np.where(forward, g_f, g_r) + gmin
