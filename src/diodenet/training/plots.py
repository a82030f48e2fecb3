"""Training figures (matplotlib, Agg backend: files only, no display needed).

* ``plot_curves``: loss and accuracy per epoch;
* ``plot_decision_regions``: the class the circuit picks over a grid of 2-D
  inputs (each grid point is one settle of the hardware), with the data;
* ``plot_conductance_histogram``: the trained conductances on a log axis,
  with the physical range marked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Loss (left) and accuracy (right) per epoch; returns ``path``."""
    plt = _pyplot()
    ep = [m["epoch"] for m in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    for key, label in (("batch_loss", "minibatch mean"), ("train_loss", "train"),
                       ("val_loss", "validation"), ("test_loss", "test")):
        vals = [m.get(key) for m in history]
        if any(v is not None for v in vals):
            a1.plot(ep, [np.nan if v is None else v for v in vals], label=label)
    a1.set_xlabel("epoch")
    a1.set_ylabel("loss")
    a1.set_yscale("log")
    a1.legend()
    for key, label in (("train_accuracy", "train"), ("val_accuracy", "validation"),
                       ("test_accuracy", "test")):
        vals = [m.get(key) for m in history]
        if any(v is not None for v in vals):
            a2.plot(ep, [np.nan if v is None else 100 * v for v in vals], label=label)
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy (%)")
    a2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_decision_regions(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    path: str | Path,
    *,
    title: str = "",
    resolution: int = 80,
) -> Path:
    """Regions of ``predict(points) -> class indices`` over the data's box
    (standardised features), the points ``x`` coloured by label ``y``."""
    if x.shape[1] != 2:
        raise ValueError("decision regions need 2-D inputs")
    plt = _pyplot()
    lo, hi = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], resolution),
                         np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([g0.ravel(), g1.ravel()])
    z = predict(grid).reshape(g0.shape)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.contourf(g0, g1, z, alpha=0.3, cmap="coolwarm", levels=np.arange(z.max() + 2) - 0.5)
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="coolwarm", s=8, edgecolors="k", linewidths=0.2)
    ax.set_xlabel("x0 (standardised)")
    ax.set_ylabel("x1 (standardised)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_conductance_histogram(
    g: np.ndarray, g_min: float, g_max: float, path: str | Path, title: str = ""
) -> Path:
    """Histogram of conductances (S) on log-spaced bins, the range marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    bins = np.geomspace(g_min, g_max, 41)
    ax.hist(np.clip(g, g_min, g_max), bins=bins, color="tab:blue")
    ax.set_xscale("log")
    for v in (g_min, g_max):
        ax.axvline(v, color="k", ls="--", lw=0.8)
    ax.set_xlabel("conductance (S)")
    ax.set_ylabel("resistors")
    ax.set_title(title or f"{len(g)} trainable resistors")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
