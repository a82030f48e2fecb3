"""Training in the loop: time per epoch and final accuracy, builtin vs ngspice.

Every run uses the defaults of ``diodenet train --dataset NAME --hardware HW``
(the same ``RunConfig`` defaults), so the table is what a new user gets.
Next to it: the yardstick, a same-size MLP (one hidden ReLU layer with as
many units as the circuit has diode neurons) trained by backprop
(scikit-learn's MLPClassifier, Adam) on the same split.

Rows: moons/builtin, moons/ngspice, digits/builtin, and with
``--ngspice-digits`` digits/ngspice (long: ~10⁴ ngspice analyses per epoch
plus re-programming 4,800 resistors per minibatch).

Run: .venv/bin/python benchmarks/training.py [--ngspice-digits] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile

from diodenet.training.session import RunConfig, load_data, mlp_yardstick, run_training
from diodenet.utils import limit_threads


def row(dataset: str, hardware: str, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        s = run_training(RunConfig(dataset=dataset, hardware=hardware), out, workers=workers,
                         progress=False, plots=False)
    cfg = s["config"]
    return {
        "dataset": dataset, "hardware": hardware, "hidden": cfg["hidden"],
        "epochs": s["epochs"], "s_per_epoch": s["seconds"] / s["epochs"],
        "train": s["train_accuracy"], "test": s["test_accuracy"],
        "mlp": mlp_yardstick(load_data(RunConfig(**cfg)), cfg["hidden"], cfg["seed"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ngspice-digits", action="store_true", help="also digits on ngspice")
    ap.add_argument("--workers", type=int, default=1, help="ngspice worker processes")
    ap.add_argument("--only", choices=["moons", "digits"], default=None)
    args = ap.parse_args()
    limit_threads()
    runs = [("moons", "builtin"), ("moons", "ngspice"), ("digits", "builtin")]
    if args.ngspice_digits:
        runs.append(("digits", "ngspice"))
    if args.only:
        runs = [r for r in runs if r[0] == args.only]
    print("| dataset | hardware | hidden | epochs | s/epoch | train acc | test acc "
          "| MLP (backprop) test acc |")
    print("|---|---|---|---|---|---|---|---|")
    for dataset, hardware in runs:
        r = row(dataset, hardware, args.workers)
        print(f"| {r['dataset']} | {r['hardware']} | {r['hidden']} | {r['epochs']} "
              f"| {r['s_per_epoch']:.1f} | {100 * r['train']:.1f}% | {100 * r['test']:.1f}% "
              f"| {100 * r['mlp']:.1f}% |", flush=True)


if __name__ == "__main__":
    main()
