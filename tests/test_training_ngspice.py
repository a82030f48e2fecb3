"""Training with ngspice: the exported netlist is the trained circuit, and the
trainer's gradient measured in ngspice agrees with the built-in one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diodenet.circuits import Circuit
from diodenet.linearization import BuiltinHardware, NgspiceHardware
from diodenet.simulators.ngspice import NgspiceSimulator
from diodenet.training.architectures import build_network
from diodenet.training.config import TrainConfig
from diodenet.training.datasets import load_dataset
from diodenet.training.session import RunConfig, run_training
from diodenet.training.trainer import Trainer

torch.set_num_threads(1)


def test_exported_netlist_resimulated_in_ngspice(tmp_path: Path, ngspice_available) -> None:
    """Train briefly with 1N4148 diodes on the built-in hardware, read model.cir
    back and run it in ngspice: its outputs match the built-in hardware's."""
    cfg = RunConfig(dataset="xor", hidden=4, epochs=1, batch_size=100, diode="shockley",
                    scale=5.0, seed=1)
    run_training(cfg, tmp_path, progress=False, plots=False)
    circuit = Circuit.read(tmp_path / "model.cir")
    data = load_dataset("xor", seed=1)
    net = build_network(2, 2, 4, diode="shockley", scale=5.0, seed=1)
    x = data.x_test[:40]
    u = net.encode(x)
    ops = NgspiceSimulator(circuit).operating_points(u, net.inputs)
    y_ng = np.column_stack([ops.voltage(p) - ops.voltage(n) for p, n in net.outputs])
    hw = BuiltinHardware(circuit, net.inputs, net.outputs)
    y_builtin = hw.settle(u).outputs
    assert np.abs(y_ng - y_builtin).max() < 1e-5
    # and the trained conductances differ from the initial ones (it is the trained circuit)
    assert not np.allclose(hw.conductances(), BuiltinHardware(
        net.circuit, net.inputs, net.outputs).conductances())


def test_trainer_gradient_in_ngspice_matches_builtin(ngspice_available) -> None:
    rng = np.random.default_rng(0)
    net = build_network(2, 2, 3, diode="shockley", scale=5.0, seed=2)
    x = rng.normal(size=(8, 2))
    y = rng.integers(0, 2, 8)
    cfg = TrainConfig(temperature=0.25)
    grads = []
    hw_b = BuiltinHardware(net.circuit, net.inputs, net.outputs)
    with NgspiceHardware(net.circuit, net.inputs, net.outputs) as hw_n:
        for hw in (hw_b, hw_n):
            tr = Trainer(hw, net.encode, 2, x, y, cfg, progress=False)
            grads.append(tr.gradient(tr._to_theta(hw.conductances()), x, y))
    (lb, gb), (ln, gn) = grads
    assert ln == pytest.approx(lb, rel=1e-6)
    assert np.abs(gn - gb).max() <= 1e-4 * np.abs(gb).max()
    assert np.abs(gb).max() > 1e-3


def test_demo_end_to_end(tmp_path: Path, ngspice_available) -> None:
    """`diodenet demo --json` (short): the reported before-fine-tuning accuracy
    is what the exported 1N4148 netlist gives when re-run in ngspice directly."""
    import json

    from click.testing import CliRunner

    from diodenet.cli.main import cli

    res = CliRunner().invoke(cli, ["demo", "--json", "--out", str(tmp_path), "--epochs", "3",
                                   "--finetune-epochs", "1"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["builtin_test_accuracy"] >= 0.85
    assert out["ngspice_test_accuracy"] >= 0.85
    for p in [out["netlist"], out["netlist_1n4148"], *out["plots"].values()]:
        assert Path(p).stat().st_size > 0
    circuit = Circuit.read(out["netlist_1n4148"])
    assert {d.model.kind for d in circuit.diodes} == {"shockley"}
    data = load_dataset("moons", seed=0)
    net = build_network(2, 2, 16, scale=10.0, seed=0)
    ops = NgspiceSimulator(circuit).operating_points(net.encode(data.x_test), net.inputs)
    y = np.column_stack([ops.voltage(p) - ops.voltage(n) for p, n in net.outputs])
    acc = float(np.mean(y.argmax(axis=1) == data.y_test))
    assert acc == pytest.approx(out["ngspice_test_accuracy_before_finetune"], abs=1e-12)
