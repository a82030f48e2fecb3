"""Trained networks with Shockley diodes (the diode ReLU) vs ideal diodes (ReLU).

For moons and digits, two networks are trained in the loop on the built-in
hardware with the same defaults as ``diodenet train`` (same seed, same
initial conductances, same minibatches), one with ideal diodes (activation
ReLU) and one with the 1N4148-like Shockley model ``D1N4148`` (activation:
the smooth, right-shifted "diode ReLU", a forward drop
of ≈0.3–0.6 V at the µA–mA currents of 1 µS–1 mS resistors and 10 V signals).

Printed per dataset: test accuracy of each, the seconds per epoch (a
Shockley kernel needs Newton iterations instead of an exact active-set
solve), and the transfer figure: the ideal-trained circuit's accuracy when
its diodes are swapped for 1N4148s without retraining.

Run: .venv/bin/python benchmarks/activation_networks.py [--only moons|digits]
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from diodenet.linearization import BuiltinHardware
from diodenet.training.session import RunConfig, build_single, load_data, run_training
from diodenet.utils import limit_threads


def trained(dataset: str, diode: str) -> tuple[dict, RunConfig]:
    with tempfile.TemporaryDirectory() as out:
        s = run_training(RunConfig(dataset=dataset, diode=diode), out, progress=False,
                         plots=False)
        import json
        from pathlib import Path

        g = json.loads((Path(out) / "checkpoint.json").read_text())["state"]["best_theta"]
    s["log_g"] = np.array(g)
    return s, RunConfig(**s["config"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["moons", "digits"], default=None)
    args = ap.parse_args()
    limit_threads()
    print("| dataset | ideal diodes (ReLU) test acc | s/epoch | Shockley 1N4148 (diode ReLU) "
          "test acc | s/epoch | ideal-trained, diodes swapped for 1N4148 |")
    print("|---|---|---|---|---|---|")
    for dataset in [args.only] if args.only else ["moons", "digits"]:
        ideal, cfg = trained(dataset, "ideal")
        shockley, _ = trained(dataset, "shockley")
        data = load_data(cfg)
        real = build_single(cfg, data).with_diodes("shockley")  # one hidden layer
        hw = BuiltinHardware(real.circuit, real.inputs, real.outputs)
        hw.set_conductances(np.exp(ideal["log_g"]))
        pred = hw.settle(real.encode(data.x_test)).outputs.argmax(axis=1)
        swapped = float(np.mean(pred == data.y_test))
        print(f"| {dataset} | {100 * ideal['test_accuracy']:.1f}% "
              f"| {ideal['seconds'] / ideal['epochs']:.1f} "
              f"| {100 * shockley['test_accuracy']:.1f}% "
              f"| {shockley['seconds'] / shockley['epochs']:.1f} | {100 * swapped:.1f}% |",
              flush=True)


if __name__ == "__main__":
    main()
