"""scikit-learn estimators whose model is a trained resistor–diode circuit.

``CircuitClassifier`` builds a ``training.build_network`` circuit (differential
inputs, ``hidden`` diode neurons, one differential output pair per class) and
trains its conductances in the loop (``training.Trainer``: hardware
linearization on the built-in simulator or ngspice). ``predict`` settles the
circuit and takes the largest output voltage; ``predict_proba`` is
``softmax(y / temperature)``, the distribution the cross-entropy loss trains.

``CircuitRegressor`` trains the same kind of circuit, one differential output
pair per target, as a ``torch.CircuitLayer`` on the squared error of the
standardised targets.

Features should be standardised (e.g. ``StandardScaler`` first in a
``Pipeline``): the input sources apply ``scale`` volts per feature unit.

``sklearn.utils.estimator_checks.check_estimator`` passes (scikit-learn 1.9:
54 of 55 checks; ``check_array_api_input`` is skipped by scikit-learn itself
unless ``SCIPY_ARRAY_API=1``: the estimator converts input to NumPy float64 and
makes no array-API claim). The test suite runs it on a small configuration
(``hidden=4, epochs=3, lr=0.1``) to stay fast.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .linearization import HARDWARES, Hardware, make_hardware
from .training.architectures import build_network
from .training.checkpoint import TrainState
from .training.conductances import ConductanceRange
from .training.config import TrainConfig
from .training.trainer import Trainer
from .utils.numbers import is_real, is_whole


class _FittedCircuit:
    """What the classifier and the regressor share once fitted: the trained
    circuit's hardware, built on first use after ``fit`` (or after unpickling:
    an ngspice hardware holds a shared library, so it is never pickled) from
    ``network_``, ``hardware_name_`` and ``conductances_``; its output voltages;
    its netlist."""

    hardware: str  # each estimator's parameters
    random_state: Any
    hidden: Any
    network_: Any
    hardware_name_: str
    conductances_: np.ndarray

    def _hw(self) -> Hardware:
        hw = self.__dict__.get("_hardware")
        if hw is None:
            net = self.network_
            hw = make_hardware(self.hardware_name_, net.circuit, net.inputs, net.outputs)
            hw.set_conductances(self.conductances_)
            self.__dict__["_hardware"] = hw
        return hw

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_hardware", None)
        return state

    def _draw_seed(self) -> int:
        """The fit's seed from ``random_state`` as scikit-learn reads it: an int
        as it is, a ``RandomState`` drawn from, ``None`` numpy's global one."""
        rs = self.random_state
        if is_whole(rs):
            if rs < 0:
                raise ValueError(f"random_state must be >= 0, got {rs}")
            return int(rs)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _check_hardware(self) -> None:
        if self.hardware not in HARDWARES:
            raise ValueError(f"unknown hardware {self.hardware!r}; known: {', '.join(HARDWARES)}")

    def _hidden(self) -> int:
        """``hidden`` as a count of neurons (2.5 is refused, not truncated)."""
        h = self.hidden
        if not (is_real(h) and float(h).is_integer() and h >= 1):
            raise ValueError(f"hidden must be a whole number of neurons >= 1, got {h!r}")
        return int(h)

    def output_voltages(self, X: Any) -> np.ndarray:
        """The circuit's output voltages (n_samples, one per class or target), V."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        hw = self._hw()
        outs = [hw.settle(self.network_.encode(X[i:i + 1024])).outputs
                for i in range(0, len(X), 1024)]
        return np.concatenate(outs) if outs else np.zeros((0, len(self.network_.outputs)))

    def to_spice(self) -> str:
        """The trained circuit as a SPICE netlist."""
        check_is_fitted(self)
        c = self.network_.circuit.copy()
        c.set_conductances(dict(zip([r.name for r in c.trainable_resistors],
                                    np.asarray(self.conductances_).tolist())))
        return c.to_spice()


class CircuitClassifier(_FittedCircuit, ClassifierMixin, BaseEstimator):
    """A classifier that is a resistor–diode circuit trained by hardware linearization.

    Parameters
    ----------
    hidden:
        diode neurons (hidden nodes).
    hardware:
        ``"builtin"`` (diodenet's exact solver) or ``"ngspice"`` (device level);
        the one that ran is ``hardware_name_`` after ``fit``.
    epochs, batch_size, lr, optimizer, param, schedule, momentum:
        training (``training.TrainConfig``): ``optimizer`` ``"adam"``/``"sgd"``,
        ``param`` ``"log"``/``"linear"`` conductance parametrisation,
        ``schedule`` ``"cosine"``/``"step"``/``"constant"``.
    loss:
        ``"ce"`` (cross-entropy of ``softmax(y/T)``) or ``"mse"``.
    temperature:
        ``T`` in volts (default ``0.05 × scale``).
    recurrent, sparsity, diode, activation, scale:
        the circuit (``training.build_network``); ``scale`` in volts per feature unit.
    g_min, g_max, levels:
        conductance range (S) and optional quantisation levels.
    random_state:
        seed of the initial conductances and the minibatch order: an int, a
        ``numpy.random.RandomState`` to draw one from, or ``None`` (numpy's
        global state), as in scikit-learn.
    """

    def __init__(
        self,
        hidden: int = 16,
        *,
        hardware: str = "builtin",
        epochs: int = 20,
        batch_size: int = 32,
        lr: float = 0.05,
        optimizer: str = "adam",
        param: str = "log",
        loss: str = "ce",
        temperature: float | None = None,
        schedule: str = "cosine",
        momentum: float = 0.9,
        recurrent: str = "none",
        sparsity: float = 0.2,
        diode: str = "ideal",
        activation: str = "relu",
        scale: float = 10.0,
        g_min: float = 1e-6,
        g_max: float = 1e-3,
        levels: int | None = None,
        random_state: int | np.random.RandomState | None = 0,
    ) -> None:
        self.hidden = hidden
        self.hardware = hardware
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.param = param
        self.loss = loss
        self.temperature = temperature
        self.schedule = schedule
        self.momentum = momentum
        self.recurrent = recurrent
        self.sparsity = sparsity
        self.diode = diode
        self.activation = activation
        self.scale = scale
        self.g_min = g_min
        self.g_max = g_max
        self.levels = levels
        self.random_state = random_state

    # ---------------------------------------------------------------- helpers
    def _config(self, epochs: int, schedule: str) -> TrainConfig:
        T = self.temperature if self.temperature is not None else 0.05 * self.scale
        return TrainConfig(
            epochs=epochs, batch_size=self.batch_size, lr=self.lr, optimizer=self.optimizer,
            param=self.param, loss=self.loss, temperature=T, schedule=schedule,
            momentum=self.momentum, seed=self._seed_, g_min=self.g_min,
            g_max=self.g_max, levels=self.levels,
        ).validate()

    def _start(self, X: np.ndarray, y: np.ndarray, classes: np.ndarray | None) -> None:
        self._check_hardware()
        self._seed_ = self._draw_seed()
        self._encoder = LabelEncoder().fit(y if classes is None else classes)
        self.classes_ = self._encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes to train, got 1 class "
                f"({self.classes_[0]!r})"
            )
        g_range = ConductanceRange(self.g_min, self.g_max, self.levels)
        self.network_ = build_network(
            X.shape[1], len(self.classes_), self._hidden(), recurrent=self.recurrent,
            sparsity=self.sparsity, diode=self.diode, g_range=g_range, scale=self.scale,
            activation=self.activation, seed=self._seed_,
        )
        self.hardware_name_ = self.hardware
        self.__dict__.pop("_hardware", None)
        self.conductances_ = np.asarray(self.network_.circuit.conductances(
            [r.name for r in self.network_.circuit.trainable_resistors]))
        self._state: TrainState | None = None
        self.n_iter_ = 0

    def _train(self, X: np.ndarray, y: np.ndarray, config: TrainConfig) -> None:
        hw = self._hw()
        trainer = Trainer(hw, self.network_.encode, len(self.classes_), X,
                          self._encoder.transform(y), config, progress=False)
        state = self._state
        if state is not None:
            # keep the optimiser's moments across partial_fit calls; a fresh epoch count
            state = TrainState(0, state.theta, state.opt, state.theta.copy(), float("inf"),
                               -1, 0, False)
        result = trainer.run(state)
        self.conductances_ = np.asarray(result.conductances)
        self._state = trainer.last_state
        self.n_iter_ += result.epochs
        self.train_history_ = result.history

    # ---------------------------------------------------------------- the API
    def fit(self, X: Any, y: Any) -> CircuitClassifier:
        """Train a new circuit on ``(X, y)`` for ``epochs`` epochs."""
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self._start(X, y, None)
        self._train(X, y, self._config(int(self.epochs), self.schedule))
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> CircuitClassifier:
        """One epoch on ``(X, y)`` at the constant rate ``lr``, continuing the
        circuit (and the optimiser's state) of earlier calls. ``classes`` (all
        labels) is required on the first call."""
        first = not hasattr(self, "classes_")
        X, y = validate_data(self, X, y, dtype=np.float64, reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be given on the first call to partial_fit")
            self._start(X, y, np.asarray(classes))
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)),
                                                        self.classes_):
            # scikit-learn's convention: the classes are fixed by the first call
            raise ValueError(f"classes={np.unique(np.asarray(classes)).tolist()} differs from "
                             f"the first call's classes_ {self.classes_.tolist()}")
        elif not np.isin(y, self.classes_).all():
            raise ValueError(f"y holds labels not in classes_ {self.classes_.tolist()}")
        self._train(X, y, self._config(1, "constant"))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """``softmax(y / temperature)`` of the output voltages."""
        v = self.output_voltages(X)
        T = self.temperature if self.temperature is not None else 0.05 * self.scale
        logits = v / T
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The class of the largest output voltage."""
        v = self.output_voltages(X)
        return self.classes_[v.argmax(axis=1)]



class CircuitRegressor(_FittedCircuit, RegressorMixin, BaseEstimator):
    """A regressor that is a resistor–diode circuit trained by hardware linearization.

    The circuit is a ``training.build_network`` network with one differential
    output pair per target. It is trained as a ``torch.CircuitLayer`` with
    ``torch.optim.Adam`` on the mean squared error of the standardised targets:
    ``predict`` is ``mean_ + std_ · v / output_scale`` where ``v`` is the
    circuit's output voltage. Features should be standardised first.

    Parameters
    ----------
    hidden, hardware, recurrent, sparsity, diode, activation, scale, g_min, g_max:
        as for ``CircuitClassifier``.
    epochs, batch_size, lr:
        Adam on the layer's conductance parameters, a fixed rate.
    output_scale:
        volts per standard deviation of a target (default ``0.1 × scale``).
    random_state:
        seed of the initial conductances and the minibatch order: an int, a
        ``numpy.random.RandomState`` to draw one from, or ``None`` (numpy's
        global state), as in scikit-learn.
    """

    def __init__(
        self,
        hidden: int = 16,
        *,
        hardware: str = "builtin",
        epochs: int = 20,
        batch_size: int = 32,
        lr: float = 0.05,
        output_scale: float | None = None,
        recurrent: str = "none",
        sparsity: float = 0.2,
        diode: str = "ideal",
        activation: str = "relu",
        scale: float = 10.0,
        g_min: float = 1e-6,
        g_max: float = 1e-3,
        random_state: int | np.random.RandomState | None = 0,
    ) -> None:
        self.hidden = hidden
        self.hardware = hardware
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.output_scale = output_scale
        self.recurrent = recurrent
        self.sparsity = sparsity
        self.diode = diode
        self.activation = activation
        self.scale = scale
        self.g_min = g_min
        self.g_max = g_max
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _volts(self) -> float:
        return self.output_scale if self.output_scale is not None else 0.1 * self.scale

    def fit(self, X: Any, y: Any) -> CircuitRegressor:
        """Train a new circuit on ``(X, y)`` for ``epochs`` epochs."""
        import torch

        from .torch import CircuitLayer

        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True)
        self._check_hardware()
        # the classifier's checks of epochs, batch_size and lr (through its TrainConfig)
        TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr).validate()
        if self.output_scale is not None and not (math.isfinite(self.output_scale)
                                                  and self.output_scale > 0):
            raise ValueError(f"output_scale must be a voltage > 0, got {self.output_scale!r}")
        seed = self._draw_seed()
        y2 = y.reshape(len(y), -1)
        self._y_1d = y.ndim == 1
        with np.errstate(over="ignore", invalid="ignore"):
            self.mean_ = y2.mean(axis=0)
            std = y2.std(axis=0)
        if not (np.isfinite(self.mean_).all() and np.isfinite(std).all()):
            raise ValueError("y is too large to standardise (its mean or spread overflows)")
        self.std_ = np.where(std > 0, std, 1.0)
        g_range = ConductanceRange(self.g_min, self.g_max, None)
        self.network_ = build_network(
            X.shape[1], y2.shape[1], self._hidden(), recurrent=self.recurrent,
            sparsity=self.sparsity, diode=self.diode, g_range=g_range, scale=self.scale,
            activation=self.activation, seed=seed,
        )
        self.hardware_name_ = self.hardware
        self.__dict__.pop("_hardware", None)
        net = self.network_
        layer = CircuitLayer(make_hardware(self.hardware, net.circuit, net.inputs, net.outputs),
                             g_min=self.g_min, g_max=self.g_max, dtype=torch.float64)
        try:
            opt = torch.optim.Adam(layer.parameters(), lr=self.lr)
            u = torch.as_tensor(net.encode(X))
            t = torch.as_tensor((y2 - self.mean_) / self.std_)
            volts = self._volts()
            rng = np.random.default_rng(seed)
            bs = int(self.batch_size)
            history = []
            for _ in range(int(self.epochs)):
                order = rng.permutation(len(X))
                total = 0.0
                for i in range(0, len(X), bs):
                    idx = torch.as_tensor(order[i:i + bs])
                    opt.zero_grad()
                    loss = ((layer(u[idx]) / volts - t[idx]) ** 2).mean()
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                history.append(total / len(X))
            self.conductances_ = layer.conductances().detach().numpy().copy()
            # the layer's hardware serves predict, programmed with the final step's values
            layer.hardware.set_conductances(self.conductances_)
            self.__dict__["_hardware"] = layer.hardware
        except BaseException:
            layer.close()
            raise
        self.n_iter_ = int(self.epochs)
        self.loss_curve_ = history
        return self

    def predict(self, X: Any) -> np.ndarray:
        """``mean_ + std_ · v / output_scale`` of the output voltages ``v``."""
        check_is_fitted(self)
        pred = self.mean_ + self.std_ * self.output_voltages(X) / self._volts()
        return pred[:, 0] if self._y_1d else pred

