"""The public surface: names importable from ``diodenet``, one call shape for
both simulators, gradients that carry their names, ``python -m diodenet``.

The truths are closed forms on a voltage divider ``V1 -> R1 -> out -> R2 -> 0``:
``V(out) = u g1 / (g1 + g2)``, and for ``L = ½ (V(out) - t)²``,
``∂L/∂g1 = (y - t) u g2 / (g1 + g2)²``, ``∂L/∂g2 = -(y - t) u g1 / (g1 + g2)²``.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import diodenet

G1, G2 = 1e-3, 4e-4
U = np.array([[1.0], [-2.5], [3.0]])


def _divider() -> diodenet.Circuit:
    c = diodenet.Circuit("divider")
    c.add_voltage_source("V1", "in", "0", dc=0.0)
    c.add_resistor("R1", "in", "out", conductance=G1)
    c.add_resistor("R2", "out", "0", conductance=G2)
    return c


def test_every_public_name_resolves_to_the_object_its_package_defines():
    from diodenet import cascades, kernels, linearization, simulators, solvers, training
    from diodenet import torch as dn_torch

    for name in diodenet.__all__:
        assert getattr(diodenet, name) is not None, name
    assert diodenet.Kernel is kernels.Kernel
    assert diodenet.extract_kernel is kernels.extract_kernel
    assert diodenet.realize is kernels.realize
    assert diodenet.BuiltinHardware is linearization.BuiltinHardware
    assert diodenet.NgspiceHardware is linearization.NgspiceHardware
    assert diodenet.hardware_gradient is linearization.hardware_gradient
    assert diodenet.BuiltinSimulator is simulators.BuiltinSimulator
    assert diodenet.NgspiceSimulator is simulators.NgspiceSimulator
    assert diodenet.get_solver is solvers.get_solver
    assert diodenet.run_training is training.run_training
    assert diodenet.Cascade is cascades.Cascade
    assert diodenet.MonDEQLayer is dn_torch.MonDEQLayer
    assert diodenet.CircuitLayer is dn_torch.CircuitLayer
    from diodenet.estimators import CircuitClassifier, CircuitRegressor

    assert diodenet.CircuitClassifier is CircuitClassifier
    assert diodenet.CircuitRegressor is CircuitRegressor
    with pytest.raises(AttributeError):
        diodenet.no_such_name  # noqa: B018


def test_import_diodenet_does_not_load_torch():
    code = "import sys, diodenet; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_python_m_diodenet_is_the_command_line():
    out = subprocess.run([sys.executable, "-m", "diodenet", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"diodenet, version {diodenet.__version__}"


def test_package_ships_type_information():
    assert (Path(diodenet.__file__).parent / "py.typed").is_file()


def test_builtin_simulator_call_shape_and_old_names():
    sim = diodenet.BuiltinSimulator(_divider())
    expected = U[:, 0] * G1 / (G1 + G2)
    new = sim.operating_points(U, sources=["v1"])
    old = sim.operating_points(values=U, names=["v1"])
    assert new.voltages[:, new.nodes.index("out")] == pytest.approx(expected, rel=1e-12)
    assert old.voltages[:, old.nodes.index("out")] == pytest.approx(expected, rel=1e-12)
    with pytest.raises(TypeError):
        sim.operating_points(U, values=U)


def test_ngspice_simulator_call_shape_and_old_name(ngspice_available):
    expected = U[:, 0] * G1 / (G1 + G2)
    with diodenet.NgspiceSimulator(_divider()) as sim:
        new = sim.operating_points(U, sources=["v1"])
        old = sim.operating_points(inputs=U, sources=["v1"])
    assert new.voltage("out") == pytest.approx(expected, rel=1e-9)
    assert old.voltage("out") == pytest.approx(expected, rel=1e-9)


def test_gradient_carries_resistor_and_input_names():
    t = np.full((len(U), 1), 0.2)
    hw = diodenet.BuiltinHardware(_divider(), ["v1"], ["out"])
    g = diodenet.hardware_gradient(hw, U, diodenet.sse_loss(t))
    y = U[:, 0] * G1 / (G1 + G2)
    err = y - t[:, 0]
    by_r = g.by_resistor()
    assert list(by_r) == g.trainable == ["r1", "r2"]
    assert by_r["r1"] == pytest.approx(np.sum(err * U[:, 0] * G2 / (G1 + G2) ** 2), rel=1e-9)
    assert by_r["r2"] == pytest.approx(-np.sum(err * U[:, 0] * G1 / (G1 + G2) ** 2), rel=1e-9)
    # ∂L/∂u = (y - t) g1 / (g1 + g2) per sample
    assert g.inputs == ["v1"]
    assert g.by_input()["v1"] == pytest.approx(err * G1 / (G1 + G2), rel=1e-9)


def test_old_mse_loss_name_is_sse_loss_with_a_warning():
    from diodenet import linearization

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = linearization.mse_loss
    assert old is linearization.sse_loss
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
