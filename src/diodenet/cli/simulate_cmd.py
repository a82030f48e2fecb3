"""``diodenet simulate``, ``diodenet check`` and ``diodenet kernel``."""

from __future__ import annotations

import click
import numpy as np

from ._io import (
    check_positive,
    dump_json,
    load_circuit,
    read_csv_matrix,
    require_finite,
    split_names,
)
from .main import UserError, cli, user_errors


def _run_backend(backend: str, circuit, names, values, workers: int):
    if backend == "builtin":
        from ..simulators.builtin import BuiltinSimulator

        return BuiltinSimulator(circuit).operating_points(values, names)
    from ..simulators.ngspice import NgspiceSimulator

    # a progress bar (stderr) for long batches: ngspice runs ~5-20k points/s
    long_batch = values is not None and len(values) >= 5000
    with NgspiceSimulator(circuit, workers=workers, progress=long_batch) as sim:
        return sim.operating_points(values, names)


def _circuit_voltages(circuit, ops) -> tuple[list[str], np.ndarray]:
    """``(nodes, voltages)`` for the circuit's own nodes only, in the circuit's order.

    ngspice also reports nodes inside the subcircuits the writer uses for
    transformers and gyrators (e.g. ``xt.mid``); the built-in simulator does
    not. Both backends must print the same nodes. ``+ 0.0`` turns -0.0
    (from negating an exact zero) into 0.0 so it never prints as ``-0``.
    """
    nodes = [n for n in circuit.nodes if n in ops.nodes]
    cols = [ops.nodes.index(n) for n in nodes]
    return nodes, np.asarray(ops.voltages)[:, cols] + 0.0


@cli.command()
@click.argument("netlist", type=click.Path(dir_okay=False))
@click.option("--inputs", "inputs_csv", type=click.Path(dir_okay=False),
              help="CSV whose header names sources; each row is one operating point "
                   "and overrides those sources' DC values (volts or amperes).")
@click.option("--backend", type=click.Choice(["builtin", "ngspice"]), default="builtin",
              show_default=True, help="builtin: our exact kernel solver; ngspice: device level.")
@click.option("--workers", type=int, default=1, show_default=True,
              help="ngspice worker processes.")
@click.option("--include", "includes", multiple=True, type=click.Path(dir_okay=False),
              help="A file the netlist may .include (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def simulate(netlist: str, inputs_csv: str | None, backend: str, workers: int,
             includes: tuple[str, ...], as_json: bool) -> None:
    """DC operating point(s) of NETLIST: every node voltage, in volts.

    \b
    Example:
      diodenet simulate net.cir --inputs inputs.csv --json
    JSON: {"backend": ..., "operating_points": [{"<node>": volts, ...}, ...]}
    (node names lower-case, ground left out).
    """
    check_positive(workers=workers)
    circuit = load_circuit(netlist, includes)
    names, values = (None, None)
    if inputs_csv:
        names, values = read_csv_matrix(inputs_csv)
    with user_errors():
        ops = _run_backend(backend, circuit, names, values, workers)
    nodes, voltages = _circuit_voltages(circuit, ops)
    require_finite({"V": dict(zip(nodes, voltages.T))}, f"the {backend} solution")
    if as_json:
        points = [{n: float(v) for n, v in zip(nodes, row)} for row in voltages]
        click.echo(dump_json({"backend": backend, "operating_points": points}))
        return
    click.echo(f"backend: {backend}   ({len(voltages)} operating point(s), volts)")
    width = max((len(n) for n in nodes), default=4)
    for i, row in enumerate(voltages):
        if len(voltages) > 1:
            click.echo(f"-- sample {i}")
        for node, v in zip(nodes, row):
            click.echo(f"  V({node}){' ' * (width - len(node))} = {v: .9g}")


@cli.command()
@click.argument("netlist", type=click.Path(dir_okay=False))
@click.option("--inputs", "inputs_csv", type=click.Path(dir_okay=False),
              help="CSV of source values, as for `simulate`.")
@click.option("--include", "includes", multiple=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def check(netlist: str, inputs_csv: str | None, includes: tuple[str, ...], as_json: bool) -> None:
    """Run NETLIST on both backends and report the largest node-voltage difference.

    The built-in simulator uses the exact diode models of the netlist; ngspice
    uses its device models (ideal and PWL diodes become near-ideal Shockley
    models), so a difference of a few millivolts is expected with ideal diodes
    and ~1e-9 V with Shockley diodes.
    """
    circuit = load_circuit(netlist, includes)
    names, values = (None, None)
    if inputs_csv:
        names, values = read_csv_matrix(inputs_csv)
    with user_errors():
        a = _run_backend("builtin", circuit, names, values, 1)
        b = _run_backend("ngspice", circuit, names, values, 1)
    nodes, va = _circuit_voltages(circuit, a)
    nodes_b, vb = _circuit_voltages(circuit, b)
    require_finite({"V": dict(zip(nodes, va.T))}, "the builtin solution")
    require_finite({"V": dict(zip(nodes_b, vb.T))}, "the ngspice solution")
    if nodes_b != nodes:
        raise UserError(f"the backends report different nodes: {nodes} vs {nodes_b}")
    if not nodes:
        raise UserError("the circuit has no node besides ground: nothing to compare")
    diff = np.abs(va - vb)
    sample, node = np.unravel_index(int(np.argmax(diff)), diff.shape)
    result = {
        "max_abs_difference_volts": float(diff.max()),
        "node": nodes[node], "sample": int(sample),
        "builtin": float(va[sample, node]),
        "ngspice": float(vb[sample, node]),
        "samples": int(diff.shape[0]),
    }
    if as_json:
        click.echo(dump_json(result))
    else:
        click.echo(
            f"largest |builtin - ngspice| = {result['max_abs_difference_volts']:.3e} V "
            f"at node {result['node']!r}, sample {result['sample']} "
            f"(builtin {result['builtin']:.9g} V, ngspice {result['ngspice']:.9g} V)"
        )


@cli.command()
@click.argument("netlist", type=click.Path(dir_okay=False))
@click.option("--inputs", "inputs", required=True,
              help="Comma-separated source names forming u, e.g. v1,v2.")
@click.option("--outputs", "outputs", required=True,
              help="Comma-separated node names forming y, e.g. n3,n4.")
@click.option("--include", "includes", multiple=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def kernel(netlist: str, inputs: str, outputs: str, includes: tuple[str, ...],
           as_json: bool) -> None:
    """The equilibrium-network kernel of NETLIST: 0 ∈ Hz + F(z) + Bu + b, y = -Cz - Du - d.

    z holds each diode junction's reverse voltage (V); H is in siemens, B in
    siemens (voltage inputs) or dimensionless (current inputs). The margin is
    the smallest eigenvalue of sym(H), the monDEQ's monotonicity parameter.
    """
    from ..kernels.extract import extract_kernel

    circuit = load_circuit(netlist, includes)
    with user_errors():
        K = extract_kernel(circuit, split_names(inputs), split_names(outputs))
    data = {
        "H": K.H.tolist(), "B": K.B.tolist(), "C": K.C.tolist(), "D": K.D.tolist(),
        "b": K.b.tolist(), "d": K.d.tolist(),
        # no diodes: the margin is +inf, which JSON cannot hold; null instead
        "margin": K.margin if np.isfinite(K.margin) else None,
        "elements": K.element_names, "inputs": K.input_names, "outputs": K.output_names,
    }
    require_finite({k: data[k] for k in ("H", "B", "C", "D", "b", "d")}, "the kernel")
    if as_json:
        click.echo(dump_json(data))
        return
    np.set_printoptions(precision=6, suppress=False, linewidth=100)
    click.echo(f"kernel of {netlist}: n={K.n} diodes ({', '.join(K.element_names or [])}), "
               f"m={K.m} inputs, p={K.p} outputs, margin={K.margin:.6g} S")
    for name in ("H", "B", "C", "D", "b", "d"):
        click.echo(f"{name} =\n{np.array(data[name])}")
    if K.n and K.margin <= 0:
        raise UserError("the kernel has margin 0: its equilibrium may not be unique")
