"""Training in the loop: accuracy, the gradient the trainer uses, quantisation, datasets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diodenet.linearization import BuiltinHardware
from diodenet.training.architectures import ConductanceRange, build_network
from diodenet.training.config import TrainConfig
from diodenet.training.datasets import load_dataset
from diodenet.training.losses import make_loss
from diodenet.training.trainer import Trainer, batch_order

torch.set_num_threads(1)


def _trainer(net, data, **cfg):
    hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
    config = TrainConfig(**cfg)
    return Trainer(hw, net.encode, data.n_classes, data.x_train, data.y_train, config,
                   test=(data.x_test, data.y_test), progress=False)


def test_moons_training_beats_chance_clearly() -> None:
    data = load_dataset("moons", seed=0)
    net = build_network(2, 2, 16, scale=10.0, seed=0)
    tr = _trainer(net, data, epochs=4, batch_size=32, lr=0.05, temperature=0.5)
    before = tr.evaluate(data.x_test, data.y_test)[1]
    result = tr.run()
    assert result.test_accuracy >= 0.85, result.history
    assert result.test_accuracy > before
    # conductances stay in the physical range
    assert np.all(result.conductances >= 1e-6 * (1 - 1e-12))
    assert np.all(result.conductances <= 1e-3 * (1 + 1e-12))
    # every epoch counts its settles: forward + adjoint per sample, plus evaluation
    n_fit, n_test = len(data.y_train), len(data.y_test)
    assert all(m["settles"] == 2 * n_fit + n_fit + n_test for m in result.history)
    # when the last epoch is the best (by train loss), its evaluation is the
    # result's: the run does not settle everything once more
    losses = [m["train_loss"] for m in result.history]
    extra = 0 if losses[-1] == min(losses) else n_fit + n_test
    assert result.settles == sum(m["settles"] for m in result.history) + extra
    # ... and the result's accuracies are its conductances measured afresh
    tr.hw.set_conductances(result.conductances)
    assert tr.evaluate(data.x_train, data.y_train)[1] == result.train_accuracy
    assert tr.evaluate(data.x_test, data.y_test)[1] == result.test_accuracy


@pytest.mark.parametrize("param", ["log", "linear"])
def test_projection_is_the_conductance_box(param: str) -> None:
    """A step's projection of θ is the projection of its conductances onto
    [g_min, g_max], mapped back to θ (the definition, written out)."""
    net = build_network(2, 2, 3, scale=1.0, seed=5)
    hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
    rng = np.random.default_rng(0)
    tr = Trainer(hw, net.encode, 2, rng.normal(size=(4, 2)), np.array([0, 1, 0, 1]),
                 TrainConfig(param=param, g_min=2e-6, g_max=5e-4), progress=False)
    g = np.exp(rng.uniform(math.log(1e-7), math.log(1e-2), 500))  # in range and out of it
    theta = np.log(g) if param == "log" else g / 5e-4
    box = np.clip(g, 2e-6, 5e-4)
    expected = np.log(box) if param == "log" else box / 5e-4
    projected = tr._project(theta)
    np.testing.assert_allclose(projected, expected, rtol=1e-15, atol=0)
    assert ((g < 2e-6) | (g > 5e-4)).sum() > 100  # both bounds were exercised
    assert np.array_equal(projected[(g > 2e-6) & (g < 5e-4)], theta[(g > 2e-6) & (g < 5e-4)])


@pytest.mark.parametrize("param", ["log", "linear"])
def test_trainer_gradient_matches_finite_differences(param: str) -> None:
    """∂L/∂θ from the hardware (Tellegen) vs central differences of the loss
    computed from forward settles only."""
    rng = np.random.default_rng(3)
    net = build_network(2, 2, 3, scale=1.0, seed=5)
    hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
    x = rng.normal(size=(6, 2))
    y = rng.integers(0, 2, 6)
    cfg = TrainConfig(param=param, temperature=0.05)
    tr = Trainer(hw, net.encode, 2, x, y, cfg, progress=False)
    theta = tr._to_theta(hw.conductances())
    _, grad = tr.gradient(theta, x, y)
    loss = make_loss("ce", y, 0.05, 2)

    def L(th: np.ndarray) -> float:
        tr.program(th)
        return float(loss(torch.as_tensor(hw.settle(net.encode(x)).outputs)))

    h = 1e-6 if param == "log" else 1e-7
    checked = 0
    for k in rng.choice(len(theta), 12, replace=False):
        tp, tm = theta.copy(), theta.copy()
        tp[k] += h
        tm[k] -= h
        fd = (L(tp) - L(tm)) / (2 * h)
        assert fd == pytest.approx(grad[k], rel=1e-4, abs=1e-7 * max(1.0, abs(grad).max()))
        checked += abs(fd) > 1e-6
    assert checked >= 3  # the check is not vacuous


def test_quantised_training_programs_only_grid_values() -> None:
    data = load_dataset("xor", seed=1, n_samples=120)
    net = build_network(2, 2, 4, seed=1, g_range=ConductanceRange(1e-6, 1e-3, 8))
    tr = _trainer(net, data, epochs=1, batch_size=40, levels=8)
    result = tr.run()
    grid = np.geomspace(1e-6, 1e-3, 8)
    programmed = tr.hw.conductances()
    assert np.allclose(programmed, result.conductances)
    assert np.all(np.min(np.abs(np.log(programmed[:, None] / grid[None, :])), axis=1) < 1e-12)


def test_conductance_range_quantize_and_clip() -> None:
    r = ConductanceRange(1e-6, 1e-3, 4)  # 1e-6, 1e-5, 1e-4, 1e-3
    q = r.quantize(np.array([1e-9, 2e-6, 4e-6, 9e-4, 1.0]))
    assert np.allclose(q, [1e-6, 1e-6, 1e-5, 1e-3, 1e-3])
    g = r.random(1000, np.random.default_rng(0))
    assert g.min() >= 1e-6 and g.max() <= 1e-3
    # log-uniform: the median sits near the geometric mean of the range
    assert abs(math.log10(np.median(g)) + 4.5) < 0.2


def test_batch_order_depends_only_on_seed_and_epoch() -> None:
    a = batch_order(7, 3, 50)
    assert np.array_equal(a, batch_order(7, 3, 50))
    assert sorted(a.tolist()) == list(range(50))
    assert not np.array_equal(a, batch_order(7, 4, 50))
    assert not np.array_equal(a, batch_order(8, 3, 50))


@pytest.mark.parametrize("name,features,classes,total", [
    ("moons", 2, 2, 1000), ("circles", 2, 2, 1000), ("xor", 2, 2, 400),
    ("iris", 4, 3, 150), ("digits", 64, 10, 1797),
])
def test_datasets_split_and_standardise_on_train_only(name, features, classes, total) -> None:
    d = load_dataset(name, seed=0)
    assert d.n_features == features and d.n_classes == classes
    assert len(d.y_train) + len(d.y_test) == total
    assert len(d.y_test) == pytest.approx(0.25 * total, abs=classes)
    # standardised with the train statistics: train exactly, test only roughly
    used = d.std != 1.0
    assert np.allclose(d.x_train.mean(axis=0), 0, atol=1e-12)
    assert np.allclose(d.x_train.std(axis=0)[used], 1, atol=1e-12)
    assert set(np.unique(d.y_test)) == set(range(classes))


def test_network_is_positively_homogeneous_with_ideal_diodes() -> None:
    """Scaling inputs and rails by a scales every output by a (the ReLU network
    is positively homogeneous): an independent closed-form check of the builder."""
    x = np.random.default_rng(0).normal(size=(20, 2))
    outs = []
    for scale in (1.0, 7.0):
        net = build_network(2, 3, 5, scale=scale, seed=2, recurrent="dense")
        hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
        outs.append(hw.settle(net.encode(x)).outputs)
    assert np.allclose(7.0 * outs[0], outs[1], rtol=1e-9, atol=1e-12)


def test_hidden_neuron_is_relu_of_weighted_average() -> None:
    """With no outputs loading it, V(h) = ReLU(Σ g_j V_j / Σ g_j) (the neuron's closed form)."""
    net = build_network(1, 1, 1, scale=1.0, seed=4)
    c = net.circuit.copy()
    for name in [r.name for r in c.resistors if r.name.startswith("ro")]:
        c.remove(name)
    hw = BuiltinHardware(c, net.inputs, [("h0", "0")])
    x = np.linspace(-3, 3, 13)[:, None]
    v = hw.settle(net.encode(x)).outputs[:, 0]
    g = {r.n1: r.g for r in c.resistors if r.name.startswith("rh0_")}
    volts = {"xp0": x[:, 0], "xn0": -x[:, 0], "bp": 1.0, "bn": -1.0}
    avg = sum(g[n] * volts[n] for n in g) / sum(g.values())
    assert np.allclose(v, np.maximum(avg, 0.0), atol=1e-9)


def test_early_stopping_on_validation_split_keeps_best_epoch() -> None:
    data = load_dataset("xor", seed=2, n_samples=160)
    net = build_network(2, 2, 4, seed=2)
    # a learning rate so small that the validation loss cannot improve by 1e-6 relative
    tr = _trainer(net, data, epochs=10, batch_size=60, lr=1e-12, patience=2, val_fraction=0.25)
    assert len(tr.y_val) == 30 and len(tr.y_fit) == 90
    result = tr.run()
    assert result.epochs == 3  # epoch 1 sets the best, then 2 epochs without improvement
    assert all(m["val_loss"] is not None for m in result.history)


def test_sgd_in_conductance_space_lowers_the_loss() -> None:
    data = load_dataset("moons", seed=0, n_samples=200)
    net = build_network(2, 2, 8, scale=10.0, seed=0)
    tr = _trainer(net, data, epochs=3, batch_size=25, lr=0.02, optimizer="sgd",
                  param="linear", temperature=0.5, schedule="step")
    before = tr.evaluate(tr.x_fit, tr.y_fit)[0]
    result = tr.run()
    assert result.history[-1]["train_loss"] < 0.9 * before


def test_learning_rate_schedules() -> None:
    from diodenet.training.config import learning_rate

    cos = TrainConfig(epochs=10, lr=1.0, schedule="cosine")
    assert learning_rate(cos, 0) == pytest.approx(1.0)
    assert learning_rate(cos, 5) == pytest.approx(0.05 + 0.95 * 0.5)
    step = TrainConfig(epochs=9, lr=1.0, schedule="step")
    assert [learning_rate(step, e) for e in (0, 2, 3, 6)] == [1.0, 1.0, 0.5, 0.25]
    assert learning_rate(TrainConfig(lr=0.3, schedule="constant"), 7) == 0.3


def test_evaluation_holds_one_batch_of_measurements_at_a_time() -> None:
    """A measurement may carry batch × resistors branch voltages (833 MB per
    batch of 512 at 784-128 on ngspice); evaluation keeps only the outputs
    (the last batch's measurement lives until the next one is returned)."""
    import gc
    import weakref

    data = load_dataset("moons", seed=0)
    net = build_network(2, 2, 4, scale=10.0, seed=0)
    tr = _trainer(net, data)
    live: list[weakref.ref] = []
    settle = tr.hw.settle

    def watched(u):
        gc.collect()
        assert all(ref() is None for ref in live[:-1]), "an earlier batch's measurement is alive"
        m = settle(u)
        live.append(weakref.ref(m))
        return m

    tr.hw.settle = watched
    loss, acc = tr.evaluate(data.x_train, data.y_train, batch=100)
    assert len(live) == math.ceil(len(data.y_train) / 100) >= 3
    tr.hw.settle = settle
    assert (loss, acc) == tr.evaluate(data.x_train, data.y_train)
