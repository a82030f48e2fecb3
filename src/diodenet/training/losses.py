"""Losses on the output voltages ``y`` (volts), computed on the digital side.

Each factory returns a callable ``loss(y) -> scalar`` (torch), the *mean*
over the batch (``hardware_gradient`` takes any scalar loss: it needs ``g_y
= ∂L/∂y``, then measures the rest on the circuit). Labels are one whole class
number per sample; ``y`` has one row per label and one column per class. Both losses here also give
``value_and_gradient(y)`` on an array in closed form, which
``loss_gradient`` uses instead of autograd (a tenth of the time: it runs at
every training step, and at every sweep of an equilibrium-propagation
nudge).

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


class ClosedFormLoss:
    """A loss that is a torch expression when called (differentiable, for any
    caller) and has its value and gradient in closed form on an array:
    ``value_and_gradient(y) -> (L, ∂L/∂y)``."""

    def __init__(self, expression: Loss,
                 closed_form: Callable[[np.ndarray], tuple[float, np.ndarray]]) -> None:
        self._expression, self._closed_form = expression, closed_form

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        return self._expression(y)

    def value_and_gradient(self, y: np.ndarray) -> tuple[float, np.ndarray]:
        return self._closed_form(np.asarray(y, dtype=np.float64))


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not np.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be a finite voltage > 0, got {temperature}")
    return t


def _checked_labels(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """``labels`` as a 1-D int64 array, one whole class number in ``0..n_classes-1``
    per sample (a column of labels, a fractional one or -1 are refused: they
    broadcast, truncate or index from the end)."""
    if not (isinstance(n_classes, int | np.integer) and n_classes >= 1):
        raise ValueError(f"n_classes must be an integer >= 1, got {n_classes!r}")
    lab = np.asarray(labels)
    if lab.ndim != 1:
        raise ValueError(f"labels must be one class number per sample (1-D), got shape "
                         f"{lab.shape}")
    if lab.size and not (np.issubdtype(lab.dtype, np.integer)
                         or (np.issubdtype(lab.dtype, np.floating)
                             and np.all(np.isfinite(lab)) and np.all(lab == np.round(lab)))):
        raise ValueError("labels must be whole class numbers")
    lab = lab.astype(np.int64)
    if lab.size and (int(lab.min()) < 0 or int(lab.max()) >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    return lab


def _check_outputs(shape: tuple[int, ...], n: int, n_classes: int) -> None:
    if tuple(shape) != (n, n_classes):
        raise ValueError(f"the loss takes outputs of shape ({n}, {n_classes}) (one row per "
                         f"label, one column per class), got {tuple(shape)}")


def cross_entropy_loss(labels: np.ndarray, temperature: float, n_classes: int) -> Loss:
    """Mean cross-entropy of ``softmax(y / T)`` against integer ``labels``
    (one per row of ``y``, which has ``n_classes`` columns)."""
    T = _check_temperature(temperature)
    labels_np = _checked_labels(labels, n_classes)
    lab = torch.as_tensor(labels_np)

    def loss(y: torch.Tensor) -> torch.Tensor:
        _check_outputs(y.shape, len(labels_np), n_classes)
        return torch.nn.functional.cross_entropy(y / T, lab, reduction="mean")

    def closed_form(y: np.ndarray) -> tuple[float, np.ndarray]:
        _check_outputs(y.shape, len(labels_np), n_classes)
        # L = mean(logsumexp(z) - z_c), z = y / T;  ∂L/∂y = (softmax(z) - onehot) / (T N)
        z = y / T
        zmax = z.max(axis=1, keepdims=True)
        lse = zmax + np.log(np.exp(z - zmax).sum(axis=1, keepdims=True))
        rows = np.arange(len(y))
        n = max(len(y), 1)
        value = float((lse[:, 0] - z[rows, labels_np]).sum() / n)
        g = np.exp(z - lse)
        g[rows, labels_np] -= 1.0
        return value, g / (T * n)

    return ClosedFormLoss(loss, closed_form)


def mse_targets(labels: np.ndarray, n_classes: int, temperature: float) -> np.ndarray:
    """``+T`` for the true class, ``-T`` for the others (volts), shape (batch, classes)."""
    T = _check_temperature(temperature)
    lab = _checked_labels(labels, n_classes)
    t = -T * np.ones((len(lab), n_classes))
    t[np.arange(len(lab)), lab] = T
    return t


def mse_loss(labels: np.ndarray, temperature: float, n_classes: int) -> Loss:
    """Mean ``½‖y - t‖²`` against ``mse_targets`` (V²)."""
    t_np = mse_targets(labels, n_classes, temperature)
    t = torch.as_tensor(t_np)

    def loss(y: torch.Tensor) -> torch.Tensor:
        _check_outputs(y.shape, len(t_np), n_classes)
        return 0.5 * ((y - t.to(y.dtype)) ** 2).sum() / max(1, y.shape[0])

    def closed_form(y: np.ndarray) -> tuple[float, np.ndarray]:
        _check_outputs(y.shape, len(t_np), n_classes)
        r = (y - t_np) / max(1, len(y))  # ∂L/∂y
        return float(0.5 * (r * (y - t_np)).sum()), r

    return ClosedFormLoss(loss, closed_form)


def make_loss(kind: str, labels: np.ndarray, temperature: float, n_classes: int) -> Loss:
    """``kind`` is ``"ce"`` (cross-entropy) or ``"mse"``."""
    if kind == "ce":
        return cross_entropy_loss(labels, temperature, n_classes)
    if kind == "mse":
        return mse_loss(labels, temperature, n_classes)
    raise ValueError(f"unknown loss {kind!r}; known: {', '.join(LOSSES)}")
