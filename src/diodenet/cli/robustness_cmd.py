"""``diodenet robustness``: nominal training deployed to imperfect instances, and in situ."""

from __future__ import annotations

import math

import click

from ._io import check_non_negative, check_positive, dump_json, si
from .main import UserError, cli, user_errors


def _fraction(what: str):
    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> float:
        from ..devices import parse_fraction

        if value is None:
            return 0.0
        try:
            return parse_fraction(value, what)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    return convert


def _frac_option(name: str, what: str, help: str):
    return click.option(name, default=None, callback=_fraction(what), help=help)


@cli.command()
@click.option("--dataset", default="digits", show_default=True,
              help="moons, circles, xor, iris, digits (or mnist where available).")
@click.option("--hidden", type=int, default=None, help="Hidden neurons (default per dataset).")
@click.option("--epochs", type=int, default=None, help="Nominal training epochs.")
@click.option("--in-situ-epochs", type=int, default=2, show_default=True,
              help="Fine-tuning epochs on each instance, per estimator (0: deploy only).")
@click.option("--lr", type=float, default=None,
              help="In-situ learning rate (default: a fifth of the nominal one, 0.01).")
@click.option("--instances", type=int, default=5, show_default=True,
              help="Seeded physical instances (seeds --first-seed, --first-seed+1, ...).")
@click.option("--first-seed", type=int, default=0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the data split, network and nominal training.")
@click.option("--hardware", type=click.Choice(["builtin", "ngspice"]), default="builtin",
              show_default=True, help="What settles each instance's own netlist "
                                      "(nominal training always runs on builtin).")
@click.option("--gradients", default="hl,eqprop,model", show_default=True,
              help="In-situ estimators, comma-separated: hl, eqprop, fd, model.")
@click.option("--beta", type=float, default=0.01, show_default=True,
              help="eqprop nudge (relative).")
@click.option("--nudge", type=click.Choice(["symmetric", "one-sided"]), default="symmetric",
              show_default=True, help="eqprop nudges both ways or one way.")
@click.option("--levels", type=int, default=None,
              help="Quantisation levels of the programmed conductances (default: none).")
@_frac_option("--tolerance", "tolerance",
              "Resistor tolerance σ per device, e.g. 0.1 or 10% (default 0).")
@click.option("--distribution", type=click.Choice(["lognormal", "gaussian"]),
              default="lognormal", show_default=True, help="Of the tolerance factor.")
@_frac_option("--write-noise", "write noise",
              "Programming error σ, redrawn on every write: g·(1+ε) (default 0).")
@_frac_option("--stuck-open", "stuck-open fraction", "Fraction of devices stuck open.")
@_frac_option("--stuck-at-bound", "stuck-at-bound fraction",
              "Fraction stuck at --g-bounds' low or high end.")
@click.option("--g-bounds", default=None,
              help="Physical conductance range LO,HI in S (default unbounded).")
@_frac_option("--diode-spread", "diode spread",
              "σ of each Shockley diode's IS (log-normal), N and RS (relative).")
@click.option("--wire-resistance", type=float, default=0.0, show_default=True,
              help="Ohms per crossbar wire segment (small networks: every device adds nodes).")
@click.option("--read-noise", type=float, default=0.0, show_default=True,
              help="Additive read noise on every reported voltage, V rms.")
@click.option("--adc-bits", type=int, default=None, help="ADC resolution (default: none).")
@click.option("--full-scale", type=float, default=None,
              help="ADC full scale ±V (default: 2 × --scale).")
@click.option("--temperature", type=float, default=None,
              help="Diode temperature, °C (default: nominal 27 °C).")
@click.option("--diode", type=click.Choice(["ideal", "pwl", "shockley"]), default="ideal",
              show_default=True)
@click.option("--scale", type=float, default=10.0, show_default=True,
              help="Volts per feature unit; bias rails at ±scale.")
@click.option("--settle-time", type=float, default=1e-6, show_default=True,
              help="Stated settle time (s) for energy per inference = power × time.")
@click.option("--progress/--no-progress", default=False, show_default=True,
              help="Progress bars on stderr.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"nominal", "offline", "in_situ", "power_w"} as JSON.')
def robustness(dataset, hidden, epochs, in_situ_epochs, lr, instances, first_seed, seed,
               hardware, gradients, beta, nudge, levels, tolerance, distribution, write_noise,
               stuck_open, stuck_at_bound, g_bounds, diode_spread, wire_resistance, read_noise,
               adc_bits, full_scale, temperature, diode, scale, settle_time, progress,
               as_json) -> None:
    """Train a classifier on the nominal circuit, deploy it to seeded physical
    instances (resistor tolerance, programming noise, stuck devices, diode
    spread, wires, read noise, ADC, temperature) and fine-tune in situ on each
    with each gradient estimator.

    \b
    Example:
      diodenet robustness --dataset digits --tolerance 10% --instances 5 --json
    \b
    JSON (accuracies as fractions, power in W): {"nominal": acc, "offline":
    [acc per instance], "in_situ": {"hl": [...], "eqprop": [...], "model": [...]},
    "power_w": mean static power per inference}. Progress goes to stderr.
    """
    from ..devices import DeviceSpec
    from ..devices.robustness import robustness as run
    from ..linearization import ESTIMATORS
    from ..training.session import RunConfig
    from ..utils import limit_threads

    # checked before the nominal training, which takes minutes
    check_positive(instances=instances, lr=lr, beta=beta, scale=scale, settle_time=settle_time)
    check_non_negative(in_situ_epochs=in_situ_epochs, first_seed=first_seed, seed=seed)
    names = [g.strip().lower() for g in gradients.split(",") if g.strip()]
    unknown = [g for g in names if g not in ESTIMATORS]
    if unknown:
        raise UserError(f"unknown gradient estimator {unknown[0]!r}; known: "
                        f"{', '.join(ESTIMATORS)}")
    bounds = (0.0, math.inf)
    if g_bounds:
        try:
            lo, hi = (float(v) for v in g_bounds.split(","))
        except ValueError:
            raise UserError(f"--g-bounds must be LO,HI in siemens, got {g_bounds!r}") from None
        bounds = (lo, hi)
    limit_threads()
    with user_errors():
        spec = DeviceSpec(
            tolerance=tolerance, distribution=distribution, write_noise=write_noise,
            g_bounds=bounds, stuck_open=stuck_open, stuck_at_bound=stuck_at_bound,
            diode_is=diode_spread, diode_n=diode_spread, diode_rs=diode_spread,
            wire_resistance=wire_resistance, read_noise=read_noise, adc_bits=adc_bits,
            full_scale=full_scale if full_scale is not None else 2 * scale,
            temperature=temperature,
        )
        cfg = RunConfig(dataset=dataset, hidden=hidden, epochs=epochs, seed=seed, diode=diode,
                        scale=scale, beta=beta, nudge=nudge, levels=levels)
        cfg.resolved().train_config()
        result = run(cfg, spec, instances=instances, epochs=in_situ_epochs, estimators=names,
                     hardware=hardware, lr=lr, first_seed=first_seed, settle_time=settle_time,
                     log=lambda msg: click.echo(msg, err=True), progress=progress)
    if as_json:
        # which simulator ran what: the nominal training always on the builtin one
        click.echo(dump_json({"dataset": result["dataset"], "nominal_hardware": "builtin",
                              "hardware": result["hardware"], "instances": result["instances"],
                              **{k: result[k] for k in ("nominal", "offline", "in_situ",
                                                        "power_w")}}))
        return

    def stats(values: list[float]) -> str:
        if not values:
            return "-"
        mean = sum(values) / len(values)
        sd = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
        return f"{100 * mean:.2f}% ± {100 * sd:.2f} (min {100 * min(values):.2f}%)"

    r = result
    click.echo(f"dataset: {r['dataset']}; nominal training on builtin, instances on "
               f"{r['hardware']} ({r['instances']} seeded)")
    click.echo(f"nominal test accuracy:   {100 * r['nominal']:.2f}%")
    click.echo(f"deployed (offline):      {stats(r['offline'])}")
    for name, values in r["in_situ"].items():
        click.echo(f"in situ {name:<7} ({r['epochs']} ep): {stats(values)}")
    click.echo(f"static power: {si(r['power_w'], 'W')} per inference; energy "
               f"{si(r['energy_j'], 'J')} at a {si(r['settle_time_s'], 's')} settle")
