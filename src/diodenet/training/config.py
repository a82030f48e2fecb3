"""What ``Trainer`` runs with: ``TrainConfig`` and the optimiser and rate schedule it names.

The step is ``torch.optim`` (``Adam``, fused, with β = (0.9, 0.999), ε = 1e-8, or
``SGD`` with ``momentum``) on ``θ`` as a float64 tensor, and the per-epoch
rate is ``torch.optim.lr_scheduler`` (``cosine``: ``CosineAnnealingLR`` down
to ``0.05·lr`` over the run; ``step``: ``StepLR`` halving every third of the
run; ``constant``); ``learning_rate`` is the same schedule written out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..linearization import ESTIMATORS, NUDGES
from ..utils.numbers import is_whole
from .conductances import ConductanceRange
from .losses import LOSSES

OPTIMIZERS = ("adam", "sgd")
PARAMS = ("log", "linear")
SCHEDULES = ("cosine", "step", "constant")


@dataclass
class TrainConfig:
    """Hyper-parameters of ``Trainer``, and the defaults ``RunConfig`` (what
    ``diodenet train`` runs) starts from.

    ``temperature`` in volts (default 0.1 V; ``RunConfig`` sets ``0.05 ×
    scale``, 0.5 V at the default scale); ``patience`` in epochs (0: no
    early stopping); ``val_fraction`` of the train split held out for early
    stopping (0: monitor the training loss); ``momentum`` for SGD; ``g_min``/
    ``g_max`` in siemens, ``levels`` log-spaced quantisation levels (``None``:
    full precision). ``gradient`` names the estimator (``ESTIMATORS``);
    ``beta`` and ``nudge`` (``"symmetric"`` or ``"one-sided"``) set eqprop's.
    """

    epochs: int = 30
    batch_size: int = 32
    lr: float = 0.05
    optimizer: str = "adam"
    param: str = "log"
    loss: str = "ce"
    temperature: float = 0.1
    schedule: str = "cosine"
    patience: int = 0
    val_fraction: float = 0.0
    momentum: float = 0.9
    seed: int = 0
    g_min: float = 1e-6
    g_max: float = 1e-3
    levels: int | None = None
    gradient: str = "hl"
    beta: float = 0.01
    nudge: str = "symmetric"
    train_gains: bool = False
    gain_min: float = 0.1
    gain_max: float = 10.0

    def validate(self) -> TrainConfig:
        for name in ("epochs", "batch_size", "patience"):
            value = getattr(self, name)
            if not is_whole(value):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"learning rate must be > 0, got {self.lr}")
        for value, known, what in ((self.optimizer, OPTIMIZERS, "optimizer"),
                                   (self.param, PARAMS, "parametrisation"),
                                   (self.loss, LOSSES, "loss"),
                                   (self.schedule, SCHEDULES, "schedule"),
                                   (self.gradient, ESTIMATORS, "gradient estimator"),
                                   (self.nudge, NUDGES, "eqprop nudge")):
            if value not in known:
                raise ValueError(f"unknown {what} {value!r}; known: {', '.join(known)}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.patience < 0:
            raise ValueError("patience must be >= 0")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a voltage > 0, got {self.temperature}")
        self.g_range  # noqa: B018 - validates the range
        if not (0 < self.gain_min < self.gain_max and math.isfinite(self.gain_max)):
            raise ValueError(f"buffer gain range: need 0 < gain_min ({self.gain_min}) < "
                             f"gain_max ({self.gain_max}), both finite")
        return self

    @property
    def g_range(self) -> ConductanceRange:
        return ConductanceRange(self.g_min, self.g_max, self.levels)


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """The schedule: cosine from ``lr`` down to ``0.05·lr``; step halves every
    third of the run; constant."""
    E = config.epochs
    if config.schedule == "cosine":
        return config.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * epoch / E)))
    if config.schedule == "step":
        return config.lr * 0.5 ** (epoch // max(1, E // 3))
    return config.lr


def make_optimizer(config: TrainConfig, theta: torch.Tensor) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimiser ``config.optimizer`` names, over ``theta``.

    Adam is torch's fused implementation: the same update rule (to round-off)
    in one pass over ``θ`` instead of one per operation, about 3× faster at
    the 204k conductances of an MNIST classifier (0.40 against 1.15 ms per
    step on one thread)."""
    if config.optimizer == "adam":
        return torch.optim.Adam([theta], lr=config.lr, betas=(0.9, 0.999), eps=1e-8,
                                fused=theta.device.type in ("cpu", "cuda"))
    return torch.optim.SGD([theta], lr=config.lr, momentum=config.momentum)


def make_scheduler(
    config: TrainConfig, optimizer: torch.optim.Optimizer
) -> torch.optim.lr_scheduler.LRScheduler:
    """The per-epoch schedule ``learning_rate`` describes, as a torch scheduler."""
    sched = torch.optim.lr_scheduler
    E = config.epochs
    if config.schedule == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=E, eta_min=0.05 * config.lr)
    if config.schedule == "step":
        return sched.StepLR(optimizer, step_size=max(1, E // 3), gamma=0.5)
    return sched.ConstantLR(optimizer, factor=1.0, total_iters=0)
