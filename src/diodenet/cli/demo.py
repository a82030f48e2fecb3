"""``diodenet demo`` (what ``make demo`` runs): the main job, end to end.

1. train a classifier on moons in the loop, with the built-in simulator as
   the hardware (ideal diodes, inputs at ±10 V per feature unit);
2. export the trained circuit as a SPICE netlist;
3. swap every ideal diode for a real 1N4148 model (``D1N4148``: ≈0.3–0.6 V
   forward drop at µA–mA) and re-simulate the test set in ngspice. The 10 V
   scale keeps the drop small next to the signals, so most of the accuracy
   survives the swap;
4. fine-tune a few epochs with ngspice itself as the hardware (every
   operating point and every adjoint experiment a device-level simulation),
   which recovers what the swap lost;
5. write the figures and say where everything is.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import click
import numpy as np

from ._io import dump_json
from .main import cli, user_errors


def _accuracy(hw, net, x: np.ndarray, y: np.ndarray) -> float:
    from ..training.session import predictor

    return float(np.mean(predictor(hw, net)(x) == y))


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="demo-output",
              show_default=True, help="Output directory.")
@click.option("--epochs", type=int, default=15, show_default=True,
              help="Epochs of in-the-loop training on the built-in hardware.")
@click.option("--finetune-epochs", type=int, default=2, show_default=True,
              help="Epochs of fine-tuning with ngspice as the hardware.")
@click.option("--workers", type=int, default=1, show_default=True,
              help="ngspice worker processes.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--progress/--no-progress", default=None,
              help="Progress bars on stderr (default: when stderr is a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def demo(out_dir: str, epochs: int, finetune_epochs: int, workers: int, seed: int,
         progress: bool | None, as_json: bool) -> None:
    """Run the main job: train a circuit in the loop and check it in ngspice.

    \b
    JSON: {"builtin_test_accuracy", "ngspice_test_accuracy_before_finetune",
           "ngspice_test_accuracy", "netlist", "plots", ...}
    """
    from ..linearization import make_hardware
    from ..training.session import RunConfig, build_single, load_data, run_training
    from ..utils.threads import limit_threads
    from ._io import check_non_negative, check_positive

    check_positive(epochs=epochs, workers=workers)
    check_non_negative(finetune_epochs=finetune_epochs, seed=seed)

    limit_threads()
    out = Path(out_dir)
    say = (lambda msg: None) if as_json else click.echo
    t_all = time.perf_counter()
    with user_errors():
        cfg = RunConfig(dataset="moons", hardware="builtin", epochs=epochs, seed=seed).resolved()
        data = load_data(cfg)
        net = build_single(cfg, data)
        # (1) in-the-loop training, built-in simulator as the hardware
        say(f"[1/5] training on moons ({len(data.y_train)} train / {len(data.y_test)} test), "
            f"{cfg.hidden} diode neurons, {len(net.circuit.trainable_resistors)} resistors, "
            "hardware: builtin (ideal diodes) ...")
        trained = run_training(cfg, out / "builtin", progress=progress, overwrite=True,
                               title="moons, builtin hardware (ideal diodes)")
        paths = {"netlist": trained["netlist"], **trained["plots"]}
        say(f"      builtin test accuracy {100 * trained['test_accuracy']:.1f}% "
            f"({trained['seconds']:.1f} s); netlist {paths['netlist']}")
        # (2) the trained circuit with real diodes, (3) re-simulated in ngspice
        real = net.with_diodes("shockley")
        real.circuit.set_conductances(trained["conductances"])
        real_netlist = out / "model_1n4148.cir"
        real.circuit.title = "diodenet moons classifier with 1N4148 diodes"
        real.circuit.write(real_netlist)
        say("[2/5] exported; [3/5] swapping ideal diodes for D1N4148 and re-simulating "
            "in ngspice ...")
        with make_hardware("ngspice", real.circuit, real.inputs, real.outputs,
                           workers=workers) as ng:
            before = _accuracy(ng, real, data.x_test, data.y_test)
        say(f"      ngspice test accuracy with 1N4148 diodes, before fine-tuning: "
            f"{100 * before:.1f}%")
        # (4) fine-tune with ngspice in the loop, from the trained conductances
        after, ng_paths = before, {}
        if finetune_epochs > 0:
            say(f"[4/5] fine-tuning {finetune_epochs} epoch(s) with ngspice as the hardware ...")
            ft_cfg = replace(cfg, hardware="ngspice", diode="shockley", epochs=finetune_epochs,
                             lr=0.01, schedule="constant")
            tuned = run_training(ft_cfg, out / "ngspice", workers=workers, progress=progress,
                                 overwrite=True, title="moons, ngspice hardware (1N4148)",
                                 initial_conductances=trained["conductances"])
            after = tuned["test_accuracy"]
            ng_paths = {"netlist": tuned["netlist"], **tuned["plots"]}
            say(f"      ngspice test accuracy after fine-tuning: {100 * after:.1f}%")
        # (5) the figures were written by each run
        say("[5/5] figures written")
    plots = {f"builtin_{k}": v for k, v in paths.items() if k != "netlist"}
    plots.update({f"ngspice_{k}": v for k, v in ng_paths.items() if k != "netlist"})
    figures = {
        "builtin_test_accuracy": trained["test_accuracy"],
        "ngspice_test_accuracy_before_finetune": before,
        "ngspice_test_accuracy": after,
        "netlist": paths["netlist"],
        "netlist_1n4148": str(real_netlist),
        "netlist_finetuned": ng_paths.get("netlist"),
        "plots": plots,
        "seconds": time.perf_counter() - t_all,
    }
    if as_json:
        click.echo(dump_json(figures))
        return
    click.echo("")
    click.echo(f"built-in hardware (ideal diodes):     {100 * trained['test_accuracy']:.1f}% test")
    click.echo(f"ngspice, 1N4148, before fine-tuning: {100 * before:.1f}% test")
    click.echo(f"ngspice, 1N4148, after fine-tuning:  {100 * after:.1f}% test")
    click.echo(f"netlists: {paths['netlist']} (ideal), {real_netlist} (1N4148), "
               f"{ng_paths.get('netlist')} (fine-tuned in ngspice)")
    click.echo("figures: " + ", ".join(plots.values()))
    click.echo(f"metrics: {out / 'builtin' / 'metrics.jsonl'}, {out / 'ngspice' / 'metrics.jsonl'}"
               f"   ({figures['seconds']:.0f} s in all)")
