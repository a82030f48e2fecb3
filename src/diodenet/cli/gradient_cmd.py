"""``diodenet gradient`` and ``diodenet linearize``: hardware linearization from the shell."""

from __future__ import annotations

import click
import numpy as np

from ._io import (
    check_positive,
    dump_json,
    load_circuit,
    netlist_options,
    read_csv_matrix,
    require_finite,
    split_names,
)
from .main import UserError, cli, user_errors

_backend = click.option(
    "--backend", type=click.Choice(["builtin", "ngspice"]), default="builtin", show_default=True,
    help="Which hardware runs the experiments: diodenet's exact solver, or ngspice.")
_outputs = click.option(
    "--outputs", required=True, help="Comma-separated output node names (voltages to ground).")
_inputs = click.option(
    "--inputs", "inputs_csv", required=True, type=click.Path(dir_okay=False),
    help="CSV whose header names the input sources; one sample per row (V or A).")


@cli.command()
@click.argument("netlist", type=click.Path(dir_okay=False))
@_inputs
@_outputs
@click.option("--targets", "targets_csv", required=True, type=click.Path(dir_okay=False),
              help="CSV whose header names the output nodes; one target row per sample (V).")
@_backend
@click.option("--workers", type=int, default=1, show_default=True, help="ngspice workers.")
@netlist_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def gradient(netlist: str, inputs_csv: str, outputs: str, targets_csv: str, backend: str,
             workers: int, as_json: bool) -> None:
    """Loss gradient of NETLIST measured by hardware linearization.

    The loss is L = Σ_samples ½‖y - t‖² (V²), y the output node voltages. Per
    sample: one settle, then one settle of the adjoint linearized circuit driven
    by currents ∂L/∂y at the outputs; ∂L/∂g_k = -Σ v_k·v̂_k for every trainable
    resistor (V²/S) and ∂L/∂u for every input (V for voltage inputs).

    \b
    JSON: {"backend", "loss", "dL_dg": {"<resistor>": value}, "dL_du": [[...] per sample]}
    """
    from ..linearization import hardware_gradient, make_hardware, sse_loss

    check_positive(workers=workers)
    circuit = load_circuit(netlist)
    in_names, u = read_csv_matrix(inputs_csv, "inputs")
    out_names = split_names(outputs, "--outputs")
    t_names, t = read_csv_matrix(targets_csv, "targets")
    if sorted(t_names) != sorted(out_names):
        raise UserError(f"{targets_csv}: the header {t_names} must name the outputs "
                        f"{out_names}")
    t = t[:, [t_names.index(n) for n in out_names]]
    if len(t) != len(u):
        raise UserError(f"{inputs_csv} has {len(u)} rows but {targets_csv} has {len(t)}: "
                        "one target row per input row")
    with user_errors(netlist):
        hw = make_hardware(backend, circuit, in_names, out_names, workers=workers)
        try:
            g = hardware_gradient(hw, u, sse_loss(t))
        finally:
            hw.close()
    data = {
        "backend": hw.name, "loss": g.loss,
        "dL_dg": g.by_resistor(),
        "dL_du": g.dL_du.tolist(), "inputs": in_names, "settles": g.settles,
    }
    require_finite(data)
    if as_json:
        click.echo(dump_json(data))
        return
    click.echo(f"backend: {hw.name}   samples: {len(u)}   settles: {g.settles}   "
               f"loss: {g.loss:.9g} V²")
    click.echo("dL/dg (V²/S) per trainable resistor:")
    for name, v in data["dL_dg"].items():
        click.echo(f"  {name:>12s}  {v: .9g}")
    click.echo(f"dL/du per sample (columns {', '.join(in_names)}):")
    for row in g.dL_du:
        click.echo("  " + "  ".join(f"{x: .6g}" for x in row))


@cli.command()
@click.argument("netlist", type=click.Path(dir_okay=False))
@_inputs
@_outputs
@_backend
@click.option("--workers", type=int, default=1, show_default=True, help="ngspice workers.")
@netlist_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def linearize(netlist: str, inputs_csv: str, outputs: str, backend: str, workers: int,
              as_json: bool) -> None:
    """Jacobian ∂y/∂u of NETLIST at each sample's operating point.

    Each column is one settle of the linearized circuit (conducting diodes
    shorted, blocking ones open, smooth diodes at their small-signal
    conductance) driven by a unit value at one input.

    \b
    JSON: {"backend", "inputs", "outputs", "jacobian": [[[dy_i/du_j ...] ...] per sample]}
    """
    from ..linearization import hardware_gradient, make_hardware, sse_loss

    check_positive(workers=workers)
    circuit = load_circuit(netlist)
    in_names, u = read_csv_matrix(inputs_csv, "inputs")
    out_names = split_names(outputs, "--outputs")
    with user_errors(netlist):
        hw = make_hardware(backend, circuit, in_names, out_names, workers=workers)
        try:
            g = hardware_gradient(hw, u, sse_loss(np.zeros((len(u), len(out_names)))),
                                  jacobian=True)
        finally:
            hw.close()
    assert g.jacobian is not None
    data = {"backend": hw.name, "inputs": in_names, "outputs": out_names,
            "jacobian": g.jacobian.tolist()}
    require_finite(data)
    if as_json:
        click.echo(dump_json(data))
        return
    click.echo(f"backend: {hw.name}   Jacobian dy/du (V/V or V/A), rows {out_names}, "
               f"columns {in_names}")
    for k, J in enumerate(g.jacobian):
        click.echo(f"-- sample {k}")
        for row in J:
            click.echo("  " + "  ".join(f"{x: .6g}" for x in row))
