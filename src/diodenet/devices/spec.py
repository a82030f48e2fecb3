"""``DeviceSpec``: what is imperfect about a physical instance, and by how much.

Every field defaults to *ideal*: ``DeviceSpec()`` describes a circuit that is
exactly its nominal netlist. Units are SI; relative spreads are fractions
(``0.05`` = 5 %). ``parse_fraction`` reads ``"5%"`` or ``0.05``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ..utils.numbers import is_real

DISTRIBUTIONS = ("lognormal", "gaussian")

#: conductance (S) of a stuck-open device: an open that the solvers still stamp
OPEN_CONDUCTANCE = 1e-12

#: the nominal temperature (°C) the diode models are stated at (SPICE's TNOM)
NOMINAL_TEMPERATURE = 27.0


def parse_fraction(value: str | float, what: str = "value") -> float:
    """``"5%"`` -> 0.05, ``"0.05"`` -> 0.05, ``0.05`` -> 0.05. Raises
    ``ValueError`` naming ``what`` for text that is not a number, or a
    negative or non-finite result."""
    text = str(value).strip()
    try:
        out = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
    except ValueError:
        raise ValueError(f"{what} must be a fraction like 0.05 or a percentage like 5%, "
                         f"got {value!r}") from None
    if not (math.isfinite(out) and out >= 0):
        raise ValueError(f"{what} must be finite and >= 0, got {value!r}")
    return out


@dataclass(frozen=True)
class DeviceSpec:
    """Non-idealities of a physical instance (all off by default).

    Resistors (each trainable one is a programmable device):

    * ``tolerance``: relative spread σ of each device's conductance, drawn once
      per instance: ``g_dev = g · f`` with ``f = exp(σ z)`` (``"lognormal"``)
      or ``f = max(1 + σ z, 0.01)`` (``"gaussian"``), ``z ~ N(0, 1)``;
    * ``write_noise``: relative σ of the programming error redrawn on *every*
      write: ``g_actual = g_dev · (1 + ε)``, ``ε ~ N(0, write_noise²)``
      (the trainer's own ``levels`` quantisation happens before the write);
    * ``g_bounds``: ``(lo, hi)`` in S, the range a device can physically reach
      (programmed values are clipped into it; default unbounded);
    * ``stuck_open`` / ``stuck_at_bound``: fractions of devices that ignore
      writes, stuck open (``OPEN_CONDUCTANCE``) or at ``lo`` or ``hi``
      (half each; needs finite ``g_bounds``).

    Diodes: ``diode_is`` (log-normal σ of ``IS``), ``diode_n`` and
    ``diode_rs`` (relative σ of ``N`` and ``RS``) per Shockley device;
    ``diode_vf`` (σ in V of ``vf``) per PWL device. Ideal diodes have no spread.

    Interconnect: ``wire_resistance`` (Ω per crossbar segment, see
    ``devices.wires``), written as real resistors in the physical netlist.

    Readout: ``read_noise`` (V rms, additive, Gaussian) and an ADC of
    ``adc_bits`` bits over ``±full_scale`` volts on every voltage reported,
    forward and linearized; currents are read through a transimpedance
    ``1/g_read`` (Ω) into the same ADC (``g_read`` S; default ``hi`` of
    ``g_bounds``, else 1e-3 S).

    ``temperature`` (°C): the diodes' operating temperature (``None``: the
    nominal 27 °C), through the SPICE diode temperature model
    (``devices.temperature``) with ``eg`` (eV) and ``xti``.
    """

    tolerance: float = 0.0
    distribution: str = "lognormal"
    write_noise: float = 0.0
    g_bounds: tuple[float, float] = (0.0, math.inf)
    stuck_open: float = 0.0
    stuck_at_bound: float = 0.0
    diode_is: float = 0.0
    diode_n: float = 0.0
    diode_rs: float = 0.0
    diode_vf: float = 0.0
    wire_resistance: float = 0.0
    read_noise: float = 0.0
    adc_bits: int | None = None
    full_scale: float = 10.0
    g_read: float | None = None
    temperature: float | None = None
    eg: float = 1.11
    xti: float = 3.0

    def __post_init__(self) -> None:
        for name in ("tolerance", "write_noise", "stuck_open", "stuck_at_bound", "diode_is",
                     "diode_n", "diode_rs", "diode_vf", "wire_resistance", "read_noise"):
            v = getattr(self, name)
            if not (is_real(v) and math.isfinite(v) and v >= 0):
                raise ValueError(f"device spec: {name} must be finite and >= 0, got {v!r}")
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(f"device spec: unknown distribution {self.distribution!r}; "
                             f"known: {', '.join(DISTRIBUTIONS)}")
        if self.stuck_open + self.stuck_at_bound > 1:
            raise ValueError("device spec: stuck_open + stuck_at_bound must be <= 1")
        if not (isinstance(self.g_bounds, tuple | list) and len(self.g_bounds) == 2):
            raise ValueError(f"device spec: g_bounds must be a pair (lo, hi) in S, "
                             f"got {self.g_bounds!r}")
        lo, hi = (float(b) for b in self.g_bounds)
        if not (0 <= lo < hi) or math.isnan(hi):
            raise ValueError(f"device spec: g_bounds must be 0 <= lo < hi (S), got {self.g_bounds}")
        if self.stuck_at_bound > 0 and not math.isfinite(hi):
            raise ValueError("device spec: stuck_at_bound needs finite g_bounds (lo, hi)")
        if self.adc_bits is not None and (int(self.adc_bits) != self.adc_bits
                                          or not 2 <= self.adc_bits <= 32):
            raise ValueError(f"device spec: adc_bits must be an integer in 2..32, "
                             f"got {self.adc_bits!r}")
        if not (math.isfinite(self.full_scale) and self.full_scale > 0):
            raise ValueError(f"device spec: full_scale must be a voltage > 0, "
                             f"got {self.full_scale!r}")
        if self.g_read is not None and not (math.isfinite(self.g_read) and self.g_read > 0):
            raise ValueError(f"device spec: g_read must be > 0 S, got {self.g_read!r}")
        if self.temperature is not None and not (math.isfinite(self.temperature)
                                                 and self.temperature > -273.15):
            raise ValueError(f"device spec: temperature must be above -273.15 °C, "
                             f"got {self.temperature!r}")
        # silicon's band gap is 1.11 eV and XTI 3 (2 for Schottky): past a few eV
        # or XTI ~10 the saturation current's temperature law overflows
        if not (math.isfinite(self.eg) and 0 < self.eg <= 10):
            raise ValueError(f"device spec: eg must be a band gap in (0, 10] eV, got {self.eg!r}")
        if not (math.isfinite(self.xti) and 0 <= self.xti <= 50):
            raise ValueError(f"device spec: xti must be in [0, 50], got {self.xti!r}")

    @property
    def ideal_resistors(self) -> bool:
        lo, hi = self.g_bounds
        return (self.tolerance == 0 and self.write_noise == 0 and self.stuck_open == 0
                and self.stuck_at_bound == 0 and lo == 0 and math.isinf(hi))

    @property
    def ideal_diodes(self) -> bool:
        return (self.diode_is == 0 and self.diode_n == 0 and self.diode_rs == 0
                and self.diode_vf == 0 and self.temperature in (None, NOMINAL_TEMPERATURE))

    @property
    def ideal_readout(self) -> bool:
        return self.read_noise == 0 and self.adc_bits is None

    @property
    def ideal(self) -> bool:
        """True when an instance of this spec is exactly the nominal circuit."""
        return (self.ideal_resistors and self.ideal_diodes and self.ideal_readout
                and self.wire_resistance == 0)

    @property
    def read_conductance(self) -> float:
        """``g_read`` (S): the transimpedance ``1/g_read`` that reads currents."""
        if self.g_read is not None:
            return float(self.g_read)
        hi = self.g_bounds[1]
        return float(hi) if math.isfinite(hi) else 1e-3

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["g_bounds"] = [float(b) if math.isfinite(b) else None for b in self.g_bounds]
        return d
