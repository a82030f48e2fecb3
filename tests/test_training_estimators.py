"""The trainer's gradient estimator, chosen by name in ``TrainConfig`` and by
``diodenet train --gradient/--nudge``: the gradient the trainer steps with is
the named estimator's, and each runs from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from diodenet.cli.main import cli
from diodenet.devices import DeviceSpec, InstanceHardware
from diodenet.linearization import ESTIMATORS, NUDGES, make_estimator
from diodenet.linearization.estimators import EquilibriumPropagation
from diodenet.training import TrainConfig, Trainer, build_network, load_dataset
from diodenet.training.losses import make_loss


@pytest.mark.parametrize("gradient, nudge", [("hl", "symmetric"), ("eqprop", "symmetric"),
                                             ("eqprop", "one-sided"), ("fd", "symmetric"),
                                             ("model", "symmetric")])
def test_trainer_steps_with_the_named_estimator(gradient: str, nudge: str):
    """On a varied instance (every estimator differs there), the trainer's
    ∂L/∂θ equals g · the named estimator's ∂L/∂g on the same batch."""
    data = load_dataset("xor", seed=0)
    net = build_network(data.n_features, data.n_classes, 2, scale=10.0, seed=0)
    x, y = data.x_train[:6], data.y_train[:6]
    cfg = TrainConfig(epochs=1, batch_size=6, gradient=gradient, nudge=nudge, beta=0.05,
                      temperature=0.5)
    spec = DeviceSpec(tolerance=0.2)

    def hw() -> InstanceHardware:
        return InstanceHardware(net.circuit, net.inputs, net.outputs, spec, seed=1)

    tr = Trainer(hw(), net.encode, data.n_classes, x, y, cfg, progress=False)
    if gradient == "eqprop":
        assert isinstance(tr.estimator, EquilibriumPropagation)
        assert tr.estimator.symmetric == (nudge == "symmetric") and tr.estimator.beta == 0.05
    theta = tr._to_theta(tr.hw.conductances())
    loss, g_theta = tr.gradient(theta, x, y)
    ref_hw = hw()
    g = ref_hw.conductances()
    ref = make_estimator(gradient, beta=0.05, symmetric=nudge == "symmetric")(
        ref_hw, net.encode(x), make_loss("ce", y, 0.5, data.n_classes))
    np.testing.assert_allclose(g_theta, ref.dL_dg * g, rtol=1e-12, atol=1e-15)
    assert loss == pytest.approx(ref.loss, rel=1e-12)


def test_one_sided_and_symmetric_nudges_differ():
    """The two nudges are different estimates of the same gradient."""
    data = load_dataset("xor", seed=0)
    net = build_network(data.n_features, data.n_classes, 2, scale=10.0, seed=0)
    x, y = data.x_train[:6], data.y_train[:6]
    loss = make_loss("ce", y, 0.5, data.n_classes)
    hw = InstanceHardware(net.circuit, net.inputs, net.outputs, DeviceSpec(tolerance=0.2))
    one = make_estimator("eqprop", beta=0.05, nudge="one-sided")(hw, net.encode(x), loss).dL_dg
    sym = make_estimator("eqprop", beta=0.05, nudge="symmetric")(hw, net.encode(x), loss).dL_dg
    assert not np.allclose(one, sym, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown eqprop nudge"):
        make_estimator("eqprop", nudge="both")
    with pytest.raises(ValueError, match="unknown eqprop nudge"):
        TrainConfig(nudge="both").validate()


@pytest.mark.parametrize("gradient", ESTIMATORS)
def test_train_cli_runs_each_estimator(gradient: str, tmp_path):
    nudges = NUDGES if gradient == "eqprop" else NUDGES[:1]
    for nudge in nudges:
        out = tmp_path / f"{gradient}-{nudge}"
        r = CliRunner().invoke(cli, ["train", "--dataset", "xor", "--hidden", "2", "--epochs",
                                     "1", "--gradient", gradient, "--nudge", nudge, "--out",
                                     str(out), "--no-progress", "--json"])
        assert r.exit_code == 0, r.output
        summary = json.loads(r.stdout)
        assert 0.0 <= summary["test_accuracy"] <= 1.0
        saved = json.loads((out / "config.json").read_text())
        assert (saved["gradient"], saved["nudge"]) == (gradient, nudge)
