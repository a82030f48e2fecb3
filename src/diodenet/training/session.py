"""One training run end to end: data, circuit, hardware, trainer, outputs.

``RunConfig`` is what ``diodenet train`` saves as ``config.json`` and what
``--resume`` reads back, so a resumed run rebuilds exactly the same dataset
split, circuit and hardware. The output directory holds ``config.json``,
``metrics.jsonl``, ``checkpoint.json``, ``model.cir`` (the trained circuit)
and the figures (``curves.png``, ``conductances.png``, ``regions.png`` for
2-D data).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..linearization import HARDWARES, Hardware, make_hardware
from ..utils.numbers import is_real, is_whole
from .architectures import CascadeNetwork, Network, build_network
from .checkpoint import (
    CHECKPOINT,
    CONFIG,
    CheckpointError,
    atomic_write_text,
    check_resumable,
    clean_stale_temporaries,
    read_json_object,
    run_lock,
)
from .config import TrainConfig
from .datasets import Dataset, load_csv, load_dataset
from .trainer import METRICS, Trainer, TrainResult, peak_rss_mb

NETLIST = "model.cir"

#: per-dataset defaults (hidden neurons, epochs, batch size, cross-entropy
#: temperature per volt of input scale) that reach the documented accuracies;
#: digits takes larger batches because re-programming its 4,800 resistors
#: (``set_conductances``) costs as much as a batch's gradient. MNIST's sharper
#: temperature (0.05 V at the default 10 V scale) was measured: 10 epochs reach
#: 94.6 % against 91.8 % at 0.5 V, 92.96 % at 0.25 V and 94.1 % at 0.1 V.
DATASET_DEFAULTS: dict[str, tuple[int, int, int, float]] = {
    "moons": (16, 15, 32, 0.05), "circles": (16, 15, 32, 0.05), "xor": (16, 15, 32, 0.05),
    "iris": (16, 30, 16, 0.05), "digits": (32, 10, 64, 0.05), "mnist": (128, 10, 64, 0.005),
}


#: the trainer's own defaults: RunConfig's training settings start from these
_TRAIN = TrainConfig()


@dataclass
class RunConfig:
    """A run: dataset (``dataset`` name or ``csv`` path), network and training
    settings; every ``diodenet train`` option is one of these fields, with the
    same default (a test checks the two against each other).

    The training settings are ``TrainConfig``'s fields, and their defaults are
    ``TrainConfig``'s, except three that depend on the run:
    ``hidden``/``epochs``/``batch_size`` ``None`` take ``DATASET_DEFAULTS``,
    and ``temperature`` ``None`` is the dataset's fraction of ``scale`` volts
    (``0.05 × scale``, ``0.005 × scale`` for MNIST: the output swing grows with
    the input scale). ``train_config()`` is the ``TrainConfig``.
    """

    dataset: str | None = "moons"
    csv: str | None = None
    label_column: str | None = None
    data_dir: str | None = None
    features: str | None = None
    hardware: str = "builtin"
    hidden: int | list[int] | None = None
    recurrent: str = "none"
    sparsity: float = 0.2
    diode: str = "ideal"
    activation: str = "relu"
    scale: float = 10.0
    epochs: int | None = None
    batch_size: int | None = None
    lr: float = _TRAIN.lr
    optimizer: str = _TRAIN.optimizer
    param: str = _TRAIN.param
    loss: str = _TRAIN.loss
    temperature: float | None = None
    schedule: str = _TRAIN.schedule
    patience: int = _TRAIN.patience
    val_fraction: float = _TRAIN.val_fraction
    momentum: float = _TRAIN.momentum
    seed: int = _TRAIN.seed
    g_min: float = _TRAIN.g_min
    g_max: float = _TRAIN.g_max
    levels: int | None = _TRAIN.levels
    test_fraction: float = 0.25
    sign: str = "+"
    bias: str = "rails"
    train_gains: bool = False
    gain_min: float = 0.1
    gain_max: float = 10.0
    gradient: str = "hl"
    beta: float = 0.01
    nudge: str = "symmetric"

    def resolved(self) -> RunConfig:
        """A copy with the defaults that depend on the dataset filled in."""
        if self.hardware not in HARDWARES:
            raise ValueError(f"unknown hardware {self.hardware!r}; known: {', '.join(HARDWARES)}")
        if self.train_gains and len(hidden_layers(self.hidden)) < 2:
            raise ValueError("train_gains trains the buffers of a cascade: give two or more "
                             "hidden layers (e.g. --hidden 64,32)")
        hidden, epochs, batch, per_volt = DATASET_DEFAULTS.get(
            (self.dataset or "").lower(), (16, 20, 32, 0.05))
        if not (isinstance(self.scale, int | float) and math.isfinite(self.scale)
                and self.scale > 0):
            raise ValueError(f"scale must be a voltage > 0, got {self.scale!r}")
        if self.scale > 1e100:  # powers go as scale²: past this they overflow to inf/NaN
            raise ValueError(f"scale must be at most 1e100 V, got {self.scale!r}")
        d = asdict(self)
        # None means "the default"; any value given (0 included) is kept and validated
        for key, default in (("hidden", hidden), ("epochs", epochs), ("batch_size", batch),
                             ("temperature", per_volt * self.scale)):
            if d[key] is None:
                d[key] = default
        if isinstance(d["hidden"], int) and d["hidden"] < 1:
            raise ValueError(f"hidden must be >= 1 neuron, got {d['hidden']}")
        if not (is_whole(self.seed) and 0 <= self.seed < 2**32):
            # the data split and the MLP yardstick seed numpy's RandomState
            raise ValueError(f"seed must be an integer in [0, 2**32 - 1], got {self.seed!r}")
        return RunConfig(**d)

    def train_config(self) -> TrainConfig:
        """The trainer's settings (validated); call it on a ``resolved()`` config."""
        names = {f.name for f in fields(TrainConfig)}
        return TrainConfig(**{k: v for k, v in asdict(self).items() if k in names}).validate()

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def load_data(cfg: RunConfig) -> Dataset:
    if cfg.csv:
        return load_csv(cfg.csv, label_column=cfg.label_column, seed=cfg.seed,
                        test_fraction=cfg.test_fraction, features=cfg.features)
    return load_dataset(cfg.dataset or "", seed=cfg.seed, test_fraction=cfg.test_fraction,
                        data_dir=cfg.data_dir, features=cfg.features)


def hidden_layers(hidden: int | list[int] | None) -> list[int]:
    """``hidden`` as a list of layer sizes (one stage each)."""
    return [int(h) for h in hidden] if isinstance(hidden, list) else [int(hidden or 16)]


def _per_stage(value: str) -> str | list[str]:
    """``"relu,clamp"`` -> one value per stage; ``"relu"`` -> every stage."""
    parts = [p.strip() for p in str(value).split(",")]
    return parts if len(parts) > 1 else parts[0]


def build(cfg: RunConfig, data: Dataset) -> Network | CascadeNetwork:
    tc = cfg.train_config()
    sizes = hidden_layers(cfg.hidden)
    return build_network(
        data.n_features, data.n_classes, sizes,  # a one-entry list is the single stage
        recurrent=_per_stage(cfg.recurrent), sparsity=cfg.sparsity,
        diode=_per_stage(cfg.diode), g_range=tc.g_range, scale=cfg.scale,
        activation=_per_stage(cfg.activation), sign=_per_stage(cfg.sign),
        bias=_per_stage(cfg.bias), seed=cfg.seed,
    )


def build_single(cfg: RunConfig, data: Dataset) -> Network:
    """``build`` for code that works on one stage; a hidden list is refused."""
    net = build(cfg, data)
    if not isinstance(net, Network):
        raise ValueError(f"hidden={cfg.hidden}: this command takes one hidden layer "
                         "(a single stage); cascades are trained with diodenet train")
    return net


def training_hardware(kind: str, net: Network | CascadeNetwork, *, workers: int = 1,
                      gradient: str = "hl") -> Hardware:
    """The hardware a training run measures on: ``linearization.make_hardware``
    for ``net``'s circuit; a cascade's stages on that hardware
    (``CascadeNetwork.hardware``); ``gradient="eqprop"`` needs output-current
    injection, so it runs the nominal circuit as an ideal
    ``devices.InstanceHardware`` (the same numbers)."""
    if isinstance(net, CascadeNetwork):
        if gradient != "hl":
            raise ValueError(f"a cascade is trained with --gradient hl, not {gradient!r}")
        return net.hardware(kind, workers=workers)
    if gradient == "eqprop":
        from ..devices import DeviceSpec, InstanceHardware

        options: dict[str, Any] = {"workers": workers} if kind == "ngspice" else {}
        return InstanceHardware(net.circuit, net.inputs, net.outputs, DeviceSpec(),
                                backend=kind, **options)
    return make_hardware(kind, net.circuit, net.inputs, net.outputs, workers=workers)


def predictor(hw: Hardware, net: Network | CascadeNetwork) -> Callable[[np.ndarray], np.ndarray]:
    """Features -> predicted class (argmax of the output voltages), by settling ``hw``."""

    def predict(x: np.ndarray) -> np.ndarray:
        out = [hw.settle(net.encode(x[i:i + 1024])).outputs for i in range(0, len(x), 1024)]
        return np.concatenate(out).argmax(axis=1)

    return predict


def mlp_yardstick(data: Dataset, hidden: int | list[int], seed: int = 0) -> float:
    """Test accuracy of a same-size MLP (hidden ReLU layers of ``hidden``
    units) trained by backprop (scikit-learn's ``MLPClassifier``, Adam)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("always", message="Training interrupted by user")
        mlp = MLPClassifier(tuple(hidden_layers(hidden)), max_iter=2000, random_state=seed)
        mlp.fit(data.x_train, data.y_train)
    # scikit-learn catches Ctrl-C in fit and keeps the half-trained network: that
    # is no yardstick, so the interrupt goes on
    if any("Training interrupted by user" in str(w.message) for w in caught):
        raise KeyboardInterrupt
    for w in caught:  # anything else is passed on as it came
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return float(mlp.score(data.x_test, data.y_test))


def write_outputs(out: Path, net: Network | CascadeNetwork, hw: Hardware, data: Dataset,
                  result: TrainResult, cfg: RunConfig, title: str = "", *,
                  figures: bool = True) -> dict[str, str]:
    """``model.cir`` and (``figures``) the figures; returns their paths by kind."""
    from .plots import plot_conductance_histogram, plot_curves, plot_decision_regions

    if isinstance(net, CascadeNetwork):  # the whole cascade, E-element buffers included
        trained = hw.circuit.copy()
    else:
        trained = net.circuit.copy()
    trained.set_conductances(dict(zip(hw.trainable, result.conductances)))
    trained.title = f"diodenet {data.name} classifier trained on {hw.name} hardware"
    netlist = out / NETLIST
    atomic_write_text(netlist, trained.to_spice())
    paths = {"netlist": str(netlist)}
    if not figures:
        return paths
    title = title or f"{data.name}, {hw.name} hardware"
    paths["curves"] = str(plot_curves(result.history, out / "curves.png", title))
    paths["conductances"] = str(plot_conductance_histogram(
        result.conductances, cfg.g_min, cfg.g_max, out / "conductances.png", title))
    if data.n_features == 2:
        x = np.concatenate([data.x_train, data.x_test])
        y = np.concatenate([data.y_train, data.y_test])
        paths["regions"] = str(plot_decision_regions(
            predictor(hw, net), x, y, out / "regions.png", title=title,
            resolution=80 if hw.name == "builtin" else 40))
    return paths


def run_training(
    cfg: RunConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    workers: int = 1,
    progress: bool | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    plots: bool = True,
    overwrite: bool = False,
    title: str = "",
    initial_conductances: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Train as ``cfg`` says, writing everything to ``out_dir``; with
    ``resume`` continue from ``out_dir``'s checkpoint (``cfg`` is then read
    from ``out_dir/config.json``; with a config but no checkpoint yet, the
    run starts from epoch 0 and the summary's ``note`` says so). Returns the
    summary ``diodenet train --json`` prints, plus ``conductances`` (siemens,
    by resistor name) and ``config``.

    A new run refuses a directory that already holds one (``config.json``,
    ``checkpoint.json`` or ``metrics.jsonl``) unless ``overwrite``, which
    deletes those files first. Stale temporary files of killed writes are
    removed on every start; the epoch-0 state is checkpointed before training.

    ``initial_conductances`` (siemens, by resistor name) start training from
    given values instead of the seeded initialisation (fine-tuning a trained
    circuit); ``title`` heads the figures.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a directory")
    if resume:
        cfg = saved_config(out)
    elif _holds_run(out) and not overwrite:
        raise ValueError(
            f"{out} already holds a training run ({', '.join(_holds_run(out))}): "
            f"continue it with --resume {out}, or replace it with --overwrite"
        )
    # every input is read and checked before anything in out is deleted
    try:
        cfg = cfg.resolved()
        tc = cfg.train_config()
        data = load_data(cfg)
        net = build(cfg, data)
    except ValueError as exc:
        if resume and not isinstance(exc, CheckpointError):  # config.json gave every setting
            raise CheckpointError(f"{out / CONFIG}: {exc}") from None
        raise
    if initial_conductances is not None:
        if isinstance(net, CascadeNetwork):
            raise ValueError("initial conductances are for single-stage networks")
        net.circuit.set_conductances(dict(initial_conductances))
    out.mkdir(parents=True, exist_ok=True)
    with run_lock(out):  # one run at a time writes a directory
        if not resume and _holds_run(out):
            if not overwrite:
                raise ValueError(f"{out} already holds a training run (written meanwhile)")
            for name in (CHECKPOINT, METRICS, NETLIST, CONFIG):
                (out / name).unlink(missing_ok=True)
        clean_stale_temporaries(out)
        return _run_in(out, cfg, tc, data, net, resume=resume, workers=workers,
                       progress=progress, on_batch=on_batch, plots=plots, title=title)


def _run_in(out: Path, cfg: RunConfig, tc: TrainConfig, data: Dataset,
            net: Network | CascadeNetwork, *, resume: bool, workers: int, progress: bool | None,
            on_batch: Callable[[int, int], None] | None, plots: bool,
            title: str) -> dict[str, Any]:
    """``run_training`` in ``out``, which this process now holds."""
    note = None
    if not resume:
        atomic_write_text(out / CONFIG, json.dumps(asdict(cfg), indent=2) + "\n")
    if resume and not (out / CHECKPOINT).exists():
        # killed before its first checkpoint: nothing to continue but the config
        note = (f"{out} has {CONFIG} but no {CHECKPOINT} yet (the run stopped before its "
                "first checkpoint): starting from epoch 0 with its config")
        resume = False
    with training_hardware(cfg.hardware, net, workers=workers, gradient=cfg.gradient) as hw:
        trainer = Trainer(hw, net.encode, data.n_classes, data.x_train, data.y_train, tc,
                          test=(data.x_test, data.y_test), out_dir=out, on_batch=on_batch,
                          progress=progress, metrics_extra={"features": data.features})
        if resume:
            state = trainer.resume_state(check_resumable(out, trainer))
        else:
            state = trainer.initial_state()
            trainer.checkpoint(state)  # epoch 0: a run killed from here on resumes
        result = trainer.run(state)
        paths = write_outputs(out, net, hw, data, result, cfg, title, figures=plots)
        conductances = dict(zip(hw.trainable, result.conductances.tolist()))
    summary: dict[str, Any] = {
        "hardware": cfg.hardware, "dataset": data.name, "features": data.features,
        "data_source": data.source, "n_features": data.n_features,
        "test_accuracy": result.test_accuracy, "train_accuracy": result.train_accuracy,
        "epochs": result.epochs, "seconds": result.seconds,
        "netlist": paths.get("netlist"),
        "split": {"train": len(data.y_train), "test": len(data.y_test)},
        "settles": result.settles, "peak_rss_mb": peak_rss_mb(), "power_w": result.power_w,
        "plots": {k: v for k, v in paths.items() if k != "netlist"},
        "conductances": conductances,
        "config": asdict(cfg),
    }
    if note:
        summary["note"] = note
    return summary


def _holds_run(out: Path) -> list[str]:
    """The run files ``out`` holds (empty: no run there)."""
    return [n for n in (CONFIG, CHECKPOINT, METRICS) if (out / n).exists()]


def saved_config(out: Path) -> RunConfig:
    """``out/config.json`` as a ``RunConfig``; one-line ``CheckpointError`` otherwise."""
    if not out.is_dir():
        raise CheckpointError(f"{out}: no such run directory (no {CONFIG})")
    path = out / CONFIG
    d = read_json_object(path, "run config")
    kinds = {f.name: f.type for f in fields(RunConfig)}
    for key, value in d.items():
        kind = str(kinds.get(key, ""))
        if key == "hidden":  # one layer size, or a list of them (a cascade)
            sizes = value if isinstance(value, list) and value else [value]
            if value is not None and not all(is_whole(h) for h in sizes):
                raise CheckpointError(f"{path}: damaged run config: 'hidden' is {value!r}, "
                                      "expected int or a list of int")
            continue
        parts = {p.strip() for p in kind.split("|")}
        if not parts <= {"str", "int", "float", "bool", "None"}:
            continue  # a richer field: RunConfig itself checks it
        ok = (value is None and "None" in parts) or (
            ("str" in parts and isinstance(value, str))
            or ("bool" in parts and isinstance(value, bool))
            or ("int" in parts and is_whole(value))
            or ("float" in parts and is_real(value)))
        if key in kinds and not ok:
            raise CheckpointError(f"{path}: damaged run config: {key!r} is {value!r}, "
                                  f"expected {kind.replace(' | ', ' or ')}")
    try:
        cfg = RunConfig.from_json(d)
        cfg.resolved().train_config()
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: damaged run config: {exc}") from None
    return cfg
