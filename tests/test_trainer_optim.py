"""The trainer's optimisers are torch.optim's: the same trajectories as the
update rules written out plainly (Adam, SGD with momentum; cosine and step
schedules), and checkpoints that hold their state_dicts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from diodenet.linearization import BuiltinHardware
from diodenet.training import TrainConfig, Trainer, build_network, learning_rate
from diodenet.training.checkpoint import load_checkpoint


def _pseudo_gradient(theta: np.ndarray) -> np.ndarray:
    # deterministic, nonlinear in θ, with mixed signs and scales
    k = np.arange(1, theta.size + 1)
    return np.cos(3.0 * theta + k) + 0.1 * theta * (k % 3)


def _plain(config: TrainConfig, theta: np.ndarray, n_batches: int) -> np.ndarray:
    """The numpy update rules the trainer used before torch.optim, written out."""
    lo, hi = math.log(config.g_min), math.log(config.g_max)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    t = 0
    for e in range(config.epochs):
        lr = learning_rate(config, e)
        for _ in range(n_batches):
            g = _pseudo_gradient(theta)
            t += 1
            if config.optimizer == "adam":
                m = 0.9 * m + 0.1 * g
                v = 0.999 * v + 0.001 * g**2
                theta = theta - lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
            else:
                m = config.momentum * m + g
                theta = theta - lr * m
            theta = np.clip(theta, lo, hi)  # the projection onto [g_min, g_max] (log θ)
    return theta


@pytest.mark.parametrize("optimizer, schedule", [("adam", "cosine"), ("sgd", "step"),
                                                  ("adam", "constant")])
def test_torch_optim_matches_the_plain_update_rules(tmp_path, optimizer, schedule):
    net = build_network(2, 2, 2, seed=0)
    hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
    x = np.random.default_rng(0).normal(size=(12, 2))
    y = (x[:, 0] > 0).astype(int)
    config = TrainConfig(epochs=4, batch_size=4, lr=0.05, optimizer=optimizer,
                         schedule=schedule, seed=1)
    trainer = Trainer(hw, net.encode, 2, x, y, config, out_dir=tmp_path, progress=False)
    theta0 = trainer.initial_state().theta.copy()
    trainer.gradient = lambda theta, xb, yb: (0.0, _pseudo_gradient(theta))  # type: ignore
    trainer.run()
    state = load_checkpoint(tmp_path)["state"]
    expected = _plain(config, theta0, n_batches=3)
    np.testing.assert_allclose(np.array(state["theta"]), expected, rtol=1e-12, atol=1e-12)
    lrs = [row["lr"] for row in state["history"]]
    np.testing.assert_allclose(lrs, [learning_rate(config, e) for e in range(4)], rtol=1e-12)
    # the checkpoint holds the optimiser's and the schedule's state_dicts
    assert "__dict__" in state["opt"] and "__dict__" in state["scheduler"]


def test_adam_is_fused_on_the_cpu():
    # the fused kernel is what makes a step at MNIST size cheap; its update rule
    # is checked against the plain one above
    import torch

    from diodenet.training.config import make_optimizer

    opt = make_optimizer(TrainConfig(), torch.zeros(3, dtype=torch.float64))
    assert opt.defaults["fused"] is True
