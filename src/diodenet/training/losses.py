"""Losses on the output voltages ``y`` (volts), computed on the digital side.

Each factory returns a callable ``loss(y) -> scalar`` (torch), the *mean*
over the batch, as ``hardware_gradient`` expects (it differentiates the
callable with autograd to get ``g_y = ∂L/∂y``, then measures the rest on the
circuit).

* cross-entropy with a temperature ``T`` (volts): ``logits = y / T``,
  ``L = mean_i [logsumexp(y_i / T) - y_{i,c_i} / T]``;
* MSE against ``±T`` targets: ``t_ic = +T`` for the true class, ``-T``
  otherwise, ``L = mean_i ½‖y_i - t_i‖²`` (V²).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

LOSSES = ("ce", "mse")

Loss = Callable[[torch.Tensor], torch.Tensor]


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be a finite voltage > 0, got {temperature}")
    return t


def cross_entropy_loss(labels: np.ndarray, temperature: float, n_classes: int) -> Loss:
    """Mean cross-entropy of ``softmax(y / T)`` against integer ``labels``."""
    T = _check_temperature(temperature)
    lab = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    if lab.numel() and (int(lab.min()) < 0 or int(lab.max()) >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")

    def loss(y: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(y / T, lab, reduction="mean")

    return loss


def mse_targets(labels: np.ndarray, n_classes: int, temperature: float) -> np.ndarray:
    """``+T`` for the true class, ``-T`` for the others (volts), shape (batch, classes)."""
    T = _check_temperature(temperature)
    t = -T * np.ones((len(labels), n_classes))
    t[np.arange(len(labels)), np.asarray(labels, dtype=int)] = T
    return t


def mse_loss(labels: np.ndarray, temperature: float, n_classes: int) -> Loss:
    """Mean ``½‖y - t‖²`` against ``mse_targets`` (V²)."""
    t = torch.as_tensor(mse_targets(labels, n_classes, temperature))

    def loss(y: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((y - t.to(y.dtype)) ** 2).sum() / max(1, y.shape[0])

    return loss


def make_loss(kind: str, labels: np.ndarray, temperature: float, n_classes: int) -> Loss:
    """``kind`` is ``"ce"`` (cross-entropy) or ``"mse"``."""
    if kind == "ce":
        return cross_entropy_loss(labels, temperature, n_classes)
    if kind == "mse":
        return mse_loss(labels, temperature, n_classes)
    raise ValueError(f"unknown loss {kind!r}; known: {', '.join(LOSSES)}")
