"""Diode models: what a ``Diode`` element's junction is (ideal, piecewise
linear or Shockley), with the thermal voltage ngspice 39 uses.

``IdealDiode``: ``i ≥ 0``, ``v ≤ 0``, ``i·v = 0``. ``PWLDiode``: an ideal
diode behind a forward drop ``vf`` and an on-resistance ``ron``.
``ShockleyDiode``: SPICE's level-1 ``D`` model (DC parameters, with the
capacitances a netlist may carry). Units are SI; temperatures in degrees
Celsius, as in SPICE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

# Thermal voltage kT/q at 300.15 K (ngspice's default TNOM is 27 C), with the
# CODATA 2014 constants ngspice 39 uses, so our Shockley diodes and ngspice's
# agree to ~1e-9 instead of ~3e-5.
BOLTZMANN = 1.38064852e-23
ELEMENTARY_CHARGE = 1.6021766208e-19
THERMAL_VOLTAGE = BOLTZMANN * 300.15 / ELEMENTARY_CHARGE
#: 0 degrees Celsius in kelvin (ngspice's CONSTCtoK).
KELVIN = 273.15


#: ngspice's default conductance across every junction (``.options gmin``), S.
GMIN = 1e-12


def thermal_voltage(temp: float = 27.0) -> float:
    """kT/q (volts) at ``temp`` degrees Celsius, with ngspice 39's constants."""
    return BOLTZMANN * (temp + KELVIN) / ELEMENTARY_CHARGE


def _finite(value: float, what: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return value


@dataclass(frozen=True)
class IdealDiode:
    """Ideal diode: ``i >= 0``, ``v <= 0``, ``i*v = 0`` (a short when on, open when off).

    Its relation is the normal cone of the half-line, whose resolvent is ReLU.
    """

    kind: ClassVar[str] = "ideal"


@dataclass(frozen=True)
class PWLDiode:
    """Piecewise-linear diode: an ideal diode in series with a forward drop
    ``vf`` (volts) and an on-resistance ``ron`` (ohms).

    ``i = max(0, v - vf) / ron`` (for ``ron > 0``); ``ron = 0`` is an ideal
    diode with an offset.
    """

    vf: float = 0.7
    ron: float = 0.0
    kind: ClassVar[str] = "pwl"

    def __post_init__(self) -> None:
        _finite(self.vf, "PWL diode forward voltage vf")
        if _finite(self.ron, "PWL diode on-resistance ron") < 0:
            raise ValueError(f"PWL diode on-resistance ron must be >= 0, got {self.ron}")


@dataclass(frozen=True)
class ShockleyDiode:
    """Shockley diode, SPICE level 1 DC parameters (ngspice's ``D`` model).

    ``i = is_ * (exp(v_j / (n * vt)) - 1)`` across the junction, with the
    junction in series with ``rs`` ohms and ``vt = kT/q`` at ``temp`` degrees
    Celsius. ``bv``/``ibv``/``nbv`` (reverse breakdown, optional) follow SPICE
    (``nbv=None``: the emission coefficient ``n``, as in ngspice).
    The high-injection knee ``ikf`` (``ikr`` reverse; 0: none) divides the
    current by ``1 + sqrt(i/ikf)``; the recombination current
    ``isr * (exp(v_j / (nr vt)) - 1) * ((1 - v_j/vj)^2 + 0.005)^(m/2)`` adds to
    it (see ``diodenet.circuits.junction`` for the full DC law ngspice uses).
    Every value is the effective one at ``temp`` for this instance: the
    netlist reader applies temperature scaling, AREA and M before building it.
    Capacitance parameters (``cjo``, ``tt``) are kept for netlist fidelity;
    they do not affect DC or the linearization.
    """

    is_: float = 1e-14
    n: float = 1.0
    rs: float = 0.0
    bv: float | None = None
    ibv: float = 1e-3
    cjo: float = 0.0
    m: float = 0.5
    tt: float = 0.0
    ikf: float = 0.0
    ikr: float = 0.0
    isr: float = 0.0
    nr: float = 1.0
    vj: float = 1.0
    nbv: float | None = None
    temp: float = 27.0
    kind: ClassVar[str] = "shockley"

    def __post_init__(self) -> None:
        if _finite(self.is_, "saturation current Is") <= 0:
            raise ValueError(f"saturation current Is must be > 0, got {self.is_}")
        if _finite(self.n, "emission coefficient N") <= 0:
            raise ValueError(f"emission coefficient N must be > 0, got {self.n}")
        if _finite(self.rs, "series resistance Rs") < 0:
            raise ValueError(f"series resistance Rs must be >= 0, got {self.rs}")
        if self.bv is not None and _finite(self.bv, "breakdown voltage BV") <= 0:
            raise ValueError(f"breakdown voltage BV must be > 0, got {self.bv}")
        for name, value in (("IKF", self.ikf), ("IKR", self.ikr), ("ISR", self.isr)):
            if _finite(value, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        for name, value in (("NR", self.nr), ("VJ", self.vj), ("NBV", self.nbv or 1.0)):
            if _finite(value, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if _finite(self.temp, "temperature") <= -KELVIN:
            raise ValueError(f"temperature must be above -273.15 C, got {self.temp}")

    @property
    def nvt(self) -> float:
        """Emission coefficient times thermal voltage, ``n*kT/q`` (volts)."""
        if self.temp == 27.0:
            return self.n * THERMAL_VOLTAGE
        return self.n * thermal_voltage(self.temp)

    @property
    def plain(self) -> bool:
        """Only ``is_``, ``n``, ``rs`` (and ``bv``) shape its DC curve: no knee or
        recombination current, which the kernel route's Shockley relation lacks."""
        return self.ikf == 0 and self.ikr == 0 and self.isr == 0


DiodeModel = IdealDiode | PWLDiode | ShockleyDiode

#: A 1N4148-like small-signal diode that ngspice accepts.
D1N4148 = ShockleyDiode(is_=2.52e-9, n=1.752, rs=0.568, cjo=4e-12, m=0.4, tt=20e-9)
