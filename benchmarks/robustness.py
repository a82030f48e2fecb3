"""Accuracy under device variation: offline deployment vs in-situ fine-tuning.

One network is trained on the nominal circuit (builtin simulator, hardware
linearization, ``diodenet train``'s defaults). For each resistor tolerance
(log-normal σ) and read noise off/on, its conductances are deployed to
seeded physical instances (``devices.InstanceHardware``) and the test
accuracy measured: (a) offline, as deployed, on ``--instances`` instances;
then, at the tolerances ``--in-situ-tolerances``, on the first
``--in-situ-instances`` of them, fine-tuned in situ for ``--in-situ-epochs``
epochs (on ``--samples`` training samples, default all) with (b) hl,
(c) eqprop, (d) model (the nominal twin's gradient). Printed: mean ± spread
(standard deviation over instances) of each, side by side, and the drop from
the nominal accuracy; a figure of accuracy against tolerance is written to
``--figure``; the static power per inference of the trained network too.

"Read noise on" is ``--noise`` V rms on every reported voltage plus a
``--adc-bits`` ADC over ±2·scale (20 V at the default scale of 10 V).

Run (a few minutes on 2 shared cores):
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/robustness.py
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from diodenet.devices import DeviceSpec
from diodenet.devices.robustness import robustness
from diodenet.training.session import RunConfig


def limit_threads() -> None:
    """One BLAS/torch thread (the benchmark's circuits are small; 2 shared cores)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


def stats(values: list[float]) -> str:
    if not values:
        return "–"
    v = 100 * np.asarray(values)
    return f"{v.mean():.2f} ± {v.std():.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--tolerances", default="0,0.02,0.05,0.1,0.2")
    ap.add_argument("--instances", type=int, default=10)
    ap.add_argument("--in-situ-instances", type=int, default=2)
    ap.add_argument("--in-situ-epochs", type=int, default=1)
    ap.add_argument("--in-situ-tolerances", default="0.1,0.2",
                    help="tolerances at which to fine-tune in situ ('all': every one)")
    ap.add_argument("--samples", type=int, default=None, help="training samples used in situ")
    ap.add_argument("--estimators", default="hl,eqprop,model")
    ap.add_argument("--noise", type=float, default=0.01, help="read noise when on (V rms)")
    ap.add_argument("--adc-bits", type=int, default=10)
    ap.add_argument("--lr", type=float, default=None, help="in-situ learning rate")
    ap.add_argument("--figure", default="docs/benchmarks/robustness.png")
    ap.add_argument("--json", dest="json_path", default=None)
    args = ap.parse_args()
    limit_threads()
    t_start = time.perf_counter()
    cfg = RunConfig(dataset=args.dataset)
    scale = cfg.scale
    estimators = [e for e in args.estimators.split(",") if e]
    tolerances = [float(t) for t in args.tolerances.split(",")]
    in_situ_at = tolerances if args.in_situ_tolerances == "all" else \
        [float(t) for t in args.in_situ_tolerances.split(",")]
    quiet = None
    base = robustness(cfg, DeviceSpec(), instances=1, epochs=0, log=quiet)
    g = base["conductances"]
    nominal = base["nominal"]
    print(f"dataset {base['dataset']}: nominal test accuracy {100 * nominal:.2f}% "
          f"(trained in {base['seconds']:.0f} s); static power {base['power_w']:.3g} W per "
          f"inference = {base['power_w'] * 1e-6:.3g} J at a 1 µs settle")
    print(f"offline on {args.instances} instances; in situ at tolerance "
          f"{', '.join(f'{100 * t:g}%' for t in in_situ_at)} on {args.in_situ_instances}, "
          f"{args.in_situ_epochs} epoch(s) on {args.samples or 'all'} training samples; "
          "test accuracy % mean ± std over instances")
    head = ["tolerance", "read noise", "offline", *[f"in situ {e}" for e in estimators],
            "offline drop", "hl drop"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    rows = []
    for noise in (False, True):
        for tol in tolerances:
            spec = DeviceSpec(tolerance=tol, read_noise=args.noise if noise else 0.0,
                              adc_bits=args.adc_bits if noise else None, full_scale=2 * scale)
            t0 = time.perf_counter()
            off = robustness(cfg, spec, instances=args.instances, epochs=0, log=quiet,
                             nominal_conductances=g)
            ins: dict[str, Any] = {"in_situ": {e: [] for e in estimators}}  # as robustness()
            if any(abs(tol - t) < 1e-12 for t in in_situ_at):
                ins = robustness(cfg, spec, instances=args.in_situ_instances,
                                 epochs=args.in_situ_epochs, estimators=estimators, log=quiet,
                                 nominal_conductances=g, samples=args.samples, lr=args.lr)
            row = {"tolerance": tol, "noise": noise, "offline": off["offline"],
                   "in_situ": ins["in_situ"], "power_w": off["power_w"],
                   "seconds": time.perf_counter() - t0}
            rows.append(row)
            hl = ins["in_situ"].get("hl", [])
            cells = [f"{100 * tol:g}%", f"{1e3 * args.noise:g} mV + {args.adc_bits}-bit ADC"
                     if noise else "off", stats(off["offline"]),
                     *[stats(ins["in_situ"][e]) for e in estimators],
                     f"{100 * (nominal - np.mean(off['offline'])):+.2f}",
                     f"{100 * (nominal - np.mean(hl)):+.2f}" if hl else "–"]
            print("| " + " | ".join(cells) + " |", flush=True)
    print(f"total {time.perf_counter() - t_start:.0f} s")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({"nominal": nominal, "rows": rows,
                                                    "power_w": base["power_w"]}, indent=1))
    if args.figure:
        plot(rows, nominal, estimators, args.figure, base["dataset"])
        print(f"figure: {args.figure}")


def plot(rows: list[dict], nominal: float, estimators: list[str], path: str,
         dataset: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, noise in zip(axes, (False, True)):
        sel = [r for r in rows if r["noise"] == noise]
        series = [("offline", [(r["tolerance"], r["offline"]) for r in sel])]
        series += [(f"in situ {e}", [(r["tolerance"], r["in_situ"][e]) for r in sel
                                     if r["in_situ"][e]]) for e in estimators]
        for label, pts in series:
            tol = [100 * t for t, _ in pts]
            mean = [100 * np.mean(v) for _, v in pts]
            sd = [100 * np.std(v) for _, v in pts]
            ax.errorbar(tol, mean, yerr=sd, marker="o", capsize=3, label=label)
        ax.axhline(100 * nominal, color="k", ls="--", lw=1, label="nominal")
        ax.set_xlabel("resistor tolerance σ (%)")
        ax.set_title(f"{dataset}, read noise {'on' if noise else 'off'}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    axes[1].legend(loc="lower left")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
