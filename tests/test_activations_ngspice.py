"""Closed-form activations against ngspice DC sweeps of the activation circuit.

Circuit: ``vx in 0`` (the applied voltage x), ``r1 in n`` (the series
resistor r), the element from ``n`` to ground. ngspice's ``v(n)`` is the
admittance form σ_Y(x) and ``-r * i(vx)`` the impedance form σ_Z(x).
Run through the real ``ngspice -b`` binary; gmin is set to 1e-30 S so that
the junctions' parallel gmin does not hide pA currents.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from diodenet.activations import (
    ClampPort,
    IdealDiodePort,
    OnePort,
    PWLDiodePort,
    ShockleyPort,
    ZenerPort,
)

# ngspice 39 computes kT/q from CODATA 2014 constants at TNOM = 27 C.
NGSPICE_VT = 1.38064852e-23 * 300.15 / 1.6021766208e-19
R = 1e3
OPTIONS = ".options reltol=1e-9 abstol=1e-18 vntol=1e-12 gmin=1e-30"
# A near-ideal diode: N = 1e-5 makes nVt = 0.26 uV.
IDEAL_N, IDEAL_IS = 1e-5, 1e-14


def dc_sweep(tmp_path: Path, element_lines: str, models: str,
             start: float, stop: float, step: float) -> tuple[np.ndarray, ...]:
    """x, v(n), and the series current (A) from an ngspice DC sweep of vx."""
    out = tmp_path / "sweep.txt"
    netlist = f"""activation circuit
{OPTIONS}
vx in 0 dc 0
r1 in n {R!r}
{element_lines}
{models}
.dc vx {start!r} {stop!r} {step!r}
.control
run
wrdata {out} v(n) i(vx)
quit 0
.endc
.end
"""
    path = tmp_path / "circuit.cir"
    path.write_text(netlist)
    proc = subprocess.run(["ngspice", "-b", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = np.loadtxt(out)
    expected_rows = round((stop - start) / step) + 1
    assert data.shape == (expected_rows, 4), proc.stdout
    return data[:, 0], data[:, 1], -data[:, 3]


def near_ideal_bound(x: np.ndarray, n_diodes: int) -> float:
    """Largest deviation (V) of the N = 1e-5 model from an ideal diode.

    Conducting, the junction drops nVt ln(1 + i/Is) (i <= max|x|/r); blocking,
    it leaks at most 1.05 Is (ngspice's reverse model), which moves both
    forms by r Is per diode; ngspice's reltol 1e-9 adds 1e-9 |x|; 1 % margin.
    With r = 1 kΩ and |x| <= 5 V: 7.0e-6 V (the junction drop at 5 mA).
    """
    nvt = IDEAL_N * NGSPICE_VT
    i_max = np.abs(x).max() / R
    return 1.01 * (nvt * math.log1p(i_max / IDEAL_IS) + n_diodes * 1.05 * R * IDEAL_IS
                   + 1e-9 * np.abs(x).max())


IDEAL_MODEL = f".model dideal D(IS={IDEAL_IS!r} N={IDEAL_N!r})"

PWL_CASES = [
    ("ideal diode", IdealDiodePort(), "d1 n 0 dideal", 1),
    ("forward drop", PWLDiodePort(vf=0.7), "d1 n m dideal\nvf m 0 dc 0.7", 1),
    ("on-resistance", PWLDiodePort(ron=250.0), "d1 n m dideal\nron m 0 250", 1),
    ("drop and on-resistance", PWLDiodePort(vf=0.45, ron=80.0),
     "d1 n m dideal\nvf m k dc 0.45\nron k 0 80", 1),
    ("clamp", ClampPort(low=-1.0, high=2.0),
     "d1 n hb dideal\nvb hb 0 dc 2\nd2 la n dideal\nva la 0 dc -1", 2),
    # Zener: forward diode with 0.6 V drop and 50 ohm; breakdown diode to -3.3 V with 20 ohm.
    ("zener", ZenerPort(bv=3.3, vf=0.6, ron=50.0, rz=20.0),
     "d1 n m1 dideal\nvf m1 m2 dc 0.6\nron m2 0 50\n"
     "d2 m3 n dideal\nvbv m3 m4 dc -3.3\nrz m4 0 20", 2),
]


@pytest.mark.ngspice
@pytest.mark.parametrize(("label", "port", "lines", "n_diodes"), PWL_CASES,
                         ids=[c[0] for c in PWL_CASES])
def test_pwl_closed_forms_match_ngspice(ngspice_available: None, tmp_path: Path, label: str,
                                        port: OnePort, lines: str, n_diodes: int) -> None:
    x, v, i = dc_sweep(tmp_path, lines, IDEAL_MODEL, -5.0, 5.0, 0.01)
    xt = torch.tensor(x)
    sigma_y = port.admittance_activation(xt, R).numpy()
    sigma_z = port.impedance_activation(xt, R).numpy()
    bound = near_ideal_bound(x, n_diodes)
    assert bound < 1e-5  # the comparison is meaningful at the 10 uV level
    assert np.abs(v - sigma_y).max() <= bound, label
    assert np.abs(R * i - sigma_z).max() <= bound, label
    # The element really switches in the sweep (not a trivially flat curve).
    assert sigma_z.max() - sigma_z.min() > 1.0


SHOCKLEY_CASES = [
    ("1e-14 A junction", ShockleyPort(is_=1e-14, nvt=NGSPICE_VT), "IS=1e-14 N=1"),
    ("1N4148-like", ShockleyPort(is_=2.52e-9, nvt=1.752 * NGSPICE_VT, rs=0.568),
     "IS=2.52n N=1.752 RS=0.568"),
]


@pytest.mark.ngspice
@pytest.mark.parametrize(("label", "port", "params"), SHOCKLEY_CASES,
                         ids=[c[0] for c in SHOCKLEY_CASES])
def test_diode_relu_matches_ngspice(ngspice_available: None, tmp_path: Path, label: str,
                                    port: ShockleyPort, params: str) -> None:
    x, v, i = dc_sweep(tmp_path, "d1 n 0 dm", f".model dm D({params})", -3.0, 5.0, 0.01)
    xt = torch.tensor(x)
    sigma_y = port.admittance_activation(xt, R).numpy()
    current = port.series_current(xt, R).numpy()
    # Element voltage: 1e-6 relative everywhere (1 fV floor at x = 0).
    assert np.all(np.abs(v - sigma_y) <= 1e-6 * np.abs(v) + 1e-15), label
    # Current: 1e-6 relative in forward bias. Below -3 nVt ngspice replaces
    # Is (e^{v/nVt} - 1) by -Is (1 + (3 nVt/(e v))^3), which differs from
    # the Shockley law by < 0.5 % of Is (10 fA here): checked absolutely.
    forward = sigma_y > 3 * port.nvt
    assert forward.sum() > 100
    assert np.all(np.abs(current - i)[forward] <= 1e-6 * np.abs(i)[forward]), label
    assert np.abs(current - i)[~forward].max() <= 5e-3 * port.is_, label


@pytest.mark.ngspice
def test_design_example_vs_ngspice(ngspice_available: None, tmp_path: Path) -> None:
    """The diode ReLU's worked example (R = 1 kΩ, Is = 1e-14 A, nV_T = 25.85 mV),
    at 0.7 V and 2 V."""
    nvt = 0.02585
    n = nvt / NGSPICE_VT  # emission coefficient that gives nV_T = 25.85 mV in ngspice
    x, _, i = dc_sweep(tmp_path, "d1 n 0 dm", f".model dm D(IS=1e-14 N={n!r})", 0.7, 2.0, 1.3)
    ours = ShockleyPort(is_=1e-14, nvt=nvt).series_current(torch.tensor(x), R).numpy()
    np.testing.assert_allclose(ours, i, rtol=1e-6)
    np.testing.assert_allclose(ours, [103.8e-6, 1.338e-3], rtol=5e-4)
