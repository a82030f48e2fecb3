"""Training in the loop over the ``Hardware`` interface.

The trainer only ever calls its gradient estimator (``hl``, the default:
``hardware_gradient``, one forward and one adjoint settle per sample; or
``eqprop``, ``fd``, ``model``: ``linearization.estimators``), ``hw.settle``
(evaluation, which also reports static power), ``hw.conductances``
and ``hw.set_conductances``; it never looks inside the hardware, so the same
loop drives the built-in simulator, ngspice, or a physical board.

Parameters ``θ`` (one per trainable resistor):

* ``param="log"``: ``θ = ln(g / 1 S)``, ``∂L/∂θ = g · ∂L/∂g``: multiplicative
  updates, natural for conductances spanning three decades;
* ``param="linear"``: ``θ = g / g_max`` (dimensionless), ``∂L/∂θ = g_max ∂L/∂g``.

After every step ``θ`` is projected back into ``[g_min, g_max]``; the
hardware is programmed with ``quantize(g(θ))`` (straight-through when
quantised). ``set_conductances`` runs once per minibatch.

The step is ``torch.optim`` on ``θ`` as a float64 tensor, with a per-epoch
rate schedule (``training.config``: ``make_optimizer``, ``make_scheduler``);
checkpoints hold both ``state_dict``s (``training.checkpoint.TrainState``).

Determinism: the minibatch order of epoch ``e`` is a permutation drawn from
``numpy.random.default_rng([seed, e])``, so a run resumed from the checkpoint
of epoch ``e`` repeats exactly what an uninterrupted run does.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..linearization import Hardware, make_estimator
from .checkpoint import TrainState, atomic_write_text, load_checkpoint, save_checkpoint
from .config import TrainConfig, make_optimizer, make_scheduler
from .losses import make_loss

METRICS = "metrics.jsonl"


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (MiB; Linux counts KiB, macOS bytes)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def batch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The minibatch order of ``epoch``: a function of ``(seed, epoch)`` only."""
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n)


@dataclass
class TrainResult:
    history: list[dict[str, Any]]
    conductances: np.ndarray
    train_accuracy: float
    test_accuracy: float
    epochs: int
    seconds: float
    settles: int
    power_w: float | None = None


class Trainer:
    """Minibatch training of ``hw`` on ``(x_fit, y_fit)`` (encoded by ``encode``).

    ``encode(x) -> u`` maps features to the hardware's input values (volts);
    ``test`` is an optional ``(x, y)`` evaluated every epoch; ``out_dir``
    receives ``metrics.jsonl`` and ``checkpoint.json`` after every epoch;
    ``on_batch(epoch, batch)`` is called after each step (tests raise from it
    to simulate a crash); ``progress`` forces a tqdm bar on stderr (default:
    only when stderr is a TTY); ``metrics_extra`` is written into every
    ``metrics.jsonl`` line (the session states the dataset's feature map).
    """

    def __init__(
        self,
        hw: Hardware,
        encode: Callable[[np.ndarray], np.ndarray],
        n_classes: int,
        x_train: np.ndarray,
        y_train: np.ndarray,
        config: TrainConfig,
        *,
        test: tuple[np.ndarray, np.ndarray] | None = None,
        out_dir: str | Path | None = None,
        on_batch: Callable[[int, int], None] | None = None,
        progress: bool | None = None,
        extra_state: dict[str, Any] | None = None,
        metrics_extra: dict[str, Any] | None = None,
    ) -> None:
        self.hw, self.encode, self.n_classes = hw, encode, n_classes
        self.config = config.validate()
        x_train, y_train = _checked_data(x_train, y_train, n_classes, "training")
        if test is not None:
            test = _checked_data(*test, n_classes, "test")
        self.g_range = config.g_range
        n = len(y_train)
        n_val = round(config.val_fraction * n)
        # the validation split is a fixed function of the seed, like the batches
        perm = np.random.default_rng([int(config.seed), 10**6]).permutation(n)
        fit, val = np.sort(perm[n_val:]), np.sort(perm[:n_val])
        if fit.size == 0:
            raise ValueError(f"no sample left to fit: {n} training samples, of which "
                             f"val_fraction={config.val_fraction} keeps {n_val} to validate")
        self.x_fit, self.y_fit = x_train[fit], y_train[fit]
        self.x_val, self.y_val = x_train[val], y_train[val]
        self.x_train, self.y_train = x_train, y_train
        self.test = test
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.on_batch = on_batch
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.extra_state = extra_state or {}
        self.estimator = make_estimator(config.gradient, beta=config.beta,
                                        nudge=config.nudge)
        #: mean static power (W) per inference of the last ``evaluate``
        self.last_power: float | None = None
        self.metrics_extra = metrics_extra or {}
        if config.train_gains and not hasattr(hw, "set_gains"):
            raise ValueError("train_gains needs a cascade (two or more hidden layers)")

    # ------------------------------------------------------- parametrisation
    # With ``train_gains`` (a cascade), θ ends with one entry per buffer gain:
    # ``ln|a|`` clipped to ``[gain_min, gain_max]``, each gain keeping its sign.
    @property
    def n_gains(self) -> int:
        """How many buffer gains ``θ`` carries after the conductances."""
        return len(self.hw.gains) if self.config.train_gains else 0  # type: ignore[attr-defined]

    def _to_theta(self, g: np.ndarray) -> np.ndarray:
        g = self.g_range.clip(g)
        theta = np.log(g) if self.config.param == "log" else g / self.g_range.g_max
        if self.n_gains:
            a = np.abs(self.hw.gains)  # type: ignore[attr-defined]
            theta = np.concatenate([theta, np.log(np.clip(a, self.config.gain_min,
                                                          self.config.gain_max))])
        return theta

    def _split_theta(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = len(theta) - self.n_gains
        return theta[:k], theta[k:]

    def _to_g(self, theta: np.ndarray) -> np.ndarray:
        theta = self._split_theta(theta)[0]
        g = np.exp(theta) if self.config.param == "log" else theta * self.g_range.g_max
        return self.g_range.clip(g)

    def _to_gains(self, theta: np.ndarray) -> np.ndarray:
        c = self.config
        signs = np.sign(self.hw.gains)  # type: ignore[attr-defined]
        return signs * np.clip(np.exp(self._split_theta(theta)[1]), c.gain_min, c.gain_max)

    def _project(self, theta: np.ndarray) -> np.ndarray:
        """``θ`` with its conductances projected onto ``[g_min, g_max]``."""
        if not self.n_gains:
            # θ is monotone in g, so the box maps to a box in θ: clipping there
            # skips an exp and a log per resistor at every step (2 ms at MNIST size)
            lo, hi = self._to_theta(np.array([self.g_range.g_min, self.g_range.g_max]))
            return np.clip(theta, lo, hi)
        g = self._to_g(theta)
        base = np.log(g) if self.config.param == "log" else g / self.g_range.g_max
        return np.concatenate([base, np.log(np.abs(self._to_gains(theta)))])

    def program(self, theta: np.ndarray) -> np.ndarray:
        """Program ``hw`` with the (quantised) conductances of ``theta`` (and,
        with ``train_gains``, its buffer gains); return the conductances."""
        g = self.g_range.quantize(self._to_g(theta))
        self.hw.set_conductances(g)
        if self.n_gains:
            self.hw.set_gains(self._to_gains(theta))  # type: ignore[attr-defined]
        return g

    # ---------------------------------------------------------------- steps
    def optimizers(
        self, state: TrainState
    ) -> tuple[torch.Tensor, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """``θ`` as a tensor, its optimiser and schedule, restored from ``state``."""
        theta = torch.tensor(state.theta, dtype=torch.float64)
        opt = make_optimizer(self.config, theta)
        if state.opt:
            opt.load_state_dict(state.opt)
        sched = make_scheduler(self.config, opt)
        if state.scheduler:
            sched.load_state_dict(state.scheduler)
        return theta, opt, sched

    def _step(self, state: TrainState, theta: torch.Tensor, opt: torch.optim.Optimizer,
              grad_theta: np.ndarray) -> None:
        theta.grad = torch.as_tensor(grad_theta, dtype=torch.float64)
        opt.step()
        with torch.no_grad():
            theta.copy_(torch.as_tensor(self._project(theta.numpy())))
        state.theta = theta.numpy().copy()

    def gradient(self, theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """``(L, ∂L/∂θ)`` of the mean loss on ``(x, y)``, by the configured
        gradient estimator (``hl``: measured on the hardware)."""
        g = self.program(theta)
        loss = make_loss(self.config.loss, y, self.config.temperature, self.n_classes)
        scale = g if self.config.param == "log" else self.g_range.g_max
        if self.n_gains:
            cg = self.hw.gradient(self.encode(x), loss)  # type: ignore[attr-defined]
            # ∂L/∂ln|a| = a ∂L/∂a
            return cg.loss, np.concatenate([cg.flat_dL_dg * scale,
                                            cg.dL_da * self.hw.gains])  # type: ignore[attr-defined]
        grad = self.estimator(self.hw, self.encode(x), loss)
        return grad.loss, grad.dL_dg * scale

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch: int = 512) -> tuple[float, float]:
        """``(mean loss, accuracy)`` with the conductances currently programmed."""
        if len(y) == 0:
            return float("nan"), float("nan")
        # keep each batch's outputs and power only: a measurement may also hold
        # batch × resistors branch voltages (833 MB per batch at 784-128)
        outs, powers = [], []
        for i in range(0, len(y), batch):
            m = self.hw.settle(self.encode(x[i:i + batch]))
            outs.append(m.outputs)
            if m.power is not None:
                powers.append(m.power)
        out = np.concatenate(outs)
        self.last_power = float(np.concatenate(powers).mean()) if powers else None
        import torch

        L = make_loss(self.config.loss, y, self.config.temperature, self.n_classes)
        loss = float(L(torch.as_tensor(out)))
        return loss, float(np.mean(out.argmax(axis=1) == y))

    # ------------------------------------------------------------ the loop
    def initial_state(self) -> TrainState:
        theta = self._to_theta(self.hw.conductances())
        return TrainState(0, theta, {}, theta.copy(), math.inf, -1, 0, False)

    def checkpoint(self, state: TrainState) -> None:
        if self.out_dir is None:
            return
        # the minibatch RNG is a pure function of (seed, epoch); its state for
        # the next epoch is stored for inspection, resume re-derives it
        rng = np.random.default_rng([int(self.config.seed), state.epoch]).bit_generator.state
        # the best epoch's values are the run's result (what model.cir holds and
        # the reported accuracy measured); the current ones are where it resumes
        best = state.best_theta
        save_checkpoint(self.out_dir, {
            "state": state.to_json(), "config": asdict(self.config),
            "conductances": self.g_range.quantize(self._to_g(state.theta)).tolist(),
            "best_conductances": self.g_range.quantize(self._to_g(best)).tolist(),
            "trainable": list(self.hw.trainable), "hardware": self.hw.name,
            **({"gains": self._to_gains(state.theta).tolist(),
                "best_gains": self._to_gains(best).tolist(),
                "gain_names": list(self.hw.gain_names)}  # type: ignore[attr-defined]
               if self.n_gains else {}),
            "rng": {"seed": self.config.seed, "epoch": state.epoch, "state": rng},
            **self.extra_state,
        })

    def resume_state(self, state: TrainState | None = None) -> TrainState:
        """``state``, or the one in ``out_dir``'s checkpoint (read when not
        given); rewrites ``metrics.jsonl`` to match it (lines of an epoch that
        never reached its checkpoint go)."""
        assert self.out_dir is not None
        if state is None:
            state = TrainState.from_json(load_checkpoint(self.out_dir)["state"])
        import json

        atomic_write_text(self.out_dir / METRICS,
                          "".join(json.dumps(m) + "\n" for m in state.history))
        return state

    def run(self, state: TrainState | None = None) -> TrainResult:
        """Train from ``state`` (default: the hardware's current conductances)."""
        import json

        from tqdm.auto import tqdm

        c = self.config
        state = state or self.initial_state()
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if state.epoch == 0:
                atomic_write_text(self.out_dir / METRICS, "")
        n = len(self.y_fit)
        n_batches = max(1, math.ceil(n / c.batch_size))
        t_start = time.perf_counter()
        settles_start = self.hw.settles
        bar = tqdm(total=(c.epochs - state.epoch) * n_batches, disable=not self.progress,
                   file=sys.stderr, unit="batch", leave=False)
        theta, opt, sched = self.optimizers(state)
        self.last_state = state
        try:
            while state.epoch < c.epochs and not state.stopped:
                e = state.epoch
                t0, s0 = time.perf_counter(), self.hw.settles
                lr = float(opt.param_groups[0]["lr"])
                order = batch_order(c.seed, e, n)
                losses = []
                for b in range(n_batches):
                    idx = order[b * c.batch_size:(b + 1) * c.batch_size]
                    loss, g_theta = self.gradient(state.theta, self.x_fit[idx], self.y_fit[idx])
                    if not np.all(np.isfinite(g_theta)):
                        raise RuntimeError(f"non-finite gradient in epoch {e + 1}, batch {b}")
                    self._step(state, theta, opt, g_theta)
                    losses.append(loss * len(idx))
                    bar.update(1)
                    bar.set_postfix(epoch=e + 1, loss=f"{loss:.4f}")
                    if self.on_batch is not None:
                        self.on_batch(e, b)
                self.program(state.theta)
                train_loss, train_acc = self.evaluate(self.x_fit, self.y_fit)
                val_loss, val_acc = self.evaluate(self.x_val, self.y_val)
                test_loss, test_acc = (self.evaluate(*self.test) if self.test is not None
                                       else (float("nan"), float("nan")))
                power = self.last_power
                monitored = val_loss if len(self.y_val) else train_loss
                improved = (not math.isfinite(state.best_value)
                            or monitored < state.best_value - 1e-6 * abs(state.best_value))
                if improved:
                    state.best_value, state.best_epoch, state.wait = monitored, e + 1, 0
                    state.best_theta = state.theta.copy()
                else:
                    state.wait += 1
                    if c.patience and state.wait >= c.patience:
                        state.stopped = True
                metrics = {
                    "epoch": e + 1, "lr": lr, "batch_loss": float(np.sum(losses) / n),
                    "train_loss": train_loss, "train_accuracy": train_acc,
                    "val_loss": val_loss if len(self.y_val) else None,
                    "val_accuracy": val_acc if len(self.y_val) else None,
                    "test_loss": test_loss if self.test is not None else None,
                    "test_accuracy": test_acc if self.test is not None else None,
                    "settles": self.hw.settles - s0,
                    "power_w": power,
                    "seconds": time.perf_counter() - t0,
                    "peak_rss_mb": peak_rss_mb(),
                    **self.metrics_extra,
                }
                state.history.append(metrics)
                state.epoch = e + 1
                sched.step()
                state.opt, state.scheduler = opt.state_dict(), sched.state_dict()
                if self.out_dir is not None:
                    with open(self.out_dir / METRICS, "a") as fh:
                        fh.write(json.dumps(metrics) + "\n")
                self.checkpoint(state)
        finally:
            bar.close()
        # the best monitored epoch's conductances are the result
        state.theta = state.best_theta.copy()
        g = self.program(state.theta)
        last = state.history[-1] if state.history else None
        if (last is not None and state.best_epoch == last["epoch"] == state.epoch
                and len(self.y_val) == 0 and self.test is not None):
            # the last epoch was the best and measured these very conductances on
            # the whole train split and the test split (one more settle of
            # everything: half an ngspice run at MNIST size)
            train_acc, test_acc = last["train_accuracy"], last["test_accuracy"]
            self.last_power = last["power_w"]
        else:
            _, train_acc = self.evaluate(self.x_train, self.y_train)
            test_acc = self.evaluate(*self.test)[1] if self.test is not None else float("nan")
        return TrainResult(state.history, g, train_acc, test_acc, state.epoch,
                           time.perf_counter() - t_start, self.hw.settles - settles_start,
                           self.last_power)


def _checked_data(x: np.ndarray, y: np.ndarray, n_classes: int,
                  what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` as arrays: one row of features and one whole-number class in
    ``[0, n_classes)`` per sample; ``ValueError`` naming the problem otherwise
    (a float label was truncated, and its accuracy read as 0)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y)
    if y.ndim != 1 or x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"{what} data: expected features (n, k) and labels (n,), got "
                         f"{x.shape} and {y.shape}")
    if y.size and not (np.issubdtype(y.dtype, np.integer) or np.array_equal(y, np.round(y))):
        raise ValueError(f"{what} labels must be class indices 0..{n_classes - 1}, "
                         f"got {float(y[np.flatnonzero(y != np.round(y))[0]])!r}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{what} labels must be class indices 0..{n_classes - 1}, got "
                         f"{int(y.min() if y.min() < 0 else y.max())}")
    return x, y

