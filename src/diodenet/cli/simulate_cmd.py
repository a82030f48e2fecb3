"""``diodenet simulate``, ``diodenet compare`` (hidden alias ``check``) and ``diodenet kernel``."""

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
    not. Both backends must print the same nodes, and a backend that leaves one of
    the circuit's nodes out is an error, never a shorter answer. ``+ 0.0`` turns -0.0
    (from negating an exact zero) into 0.0 so it never prints as ``-0``.
    """
    missing = [n for n in circuit.nodes if n not in ops.nodes]
    if missing:
        raise UserError(f"the backend reported no voltage for {len(missing)} of the "
                        f"circuit's {len(circuit.nodes)} nodes (first: {missing[0]!r})")
    nodes = list(circuit.nodes)
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
@netlist_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def simulate(netlist: str, inputs_csv: str | None, backend: str, workers: int,
             as_json: bool) -> None:
    """DC operating point(s) of NETLIST: every node voltage, in volts.

    \b
    Example:
      diodenet simulate net.cir --inputs inputs.csv --json
    JSON: {"backend": ..., "route": ..., "operating_points": [{"<node>": volts, ...}, ...]}
    (node names lower-case, ground left out). The builtin's route is "kernel"
    (the exact kernel solver) or "nodal" (Newton on the full MNA, for diodes
    with IKF/ISR/IKR, breakdown, or circuits without a kernel).
    """
    check_positive(workers=workers)
    circuit = load_circuit(netlist)
    names, values = (None, None)
    if inputs_csv:
        names, values = read_csv_matrix(inputs_csv)
    with user_errors(netlist):
        ops = _run_backend(backend, circuit, names, values, workers)
    nodes, voltages = _circuit_voltages(circuit, ops)
    require_finite({"V": dict(zip(nodes, voltages.T))}, f"the {backend} solution")
    if as_json:
        points = [{n: float(v) for n, v in zip(nodes, row)} for row in voltages]
        route = getattr(ops, "route", None)
        click.echo(dump_json({"backend": backend, "route": route, "operating_points": points}))
        return
    route = f" ({ops.route} route)" if getattr(ops, "route", None) else ""
    click.echo(f"backend: {backend}{route}   ({len(voltages)} operating point(s), volts)")
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
@netlist_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def compare(netlist: str, inputs_csv: str | None, as_json: bool) -> None:
    """Compare the builtin simulator with ngspice running NETLIST itself.

    ngspice runs the user's own cards (includes inlined, .control blocks and
    analysis cards removed, the title replaced by a comment; nothing else
    rewritten), so any parameter diodenet modelled differently shows up. The
    largest node-voltage difference is reported. Ideal and PWL diodes (which
    ngspice does not have) differ by millivolts; Shockley circuits by ~1e-9 V.
    `diodenet check` is the old name of this command.
    """
    circuit = load_circuit(netlist)
    names, values = (None, None)
    if inputs_csv:
        names, values = read_csv_matrix(inputs_csv)
    with user_errors(netlist):
        from ..circuits.netlist.deck import user_file_simulator

        a = _run_backend("builtin", circuit, names, values, 1)
        with user_file_simulator(netlist, circuit, **_deck_options()) as sim:
            b = sim.operating_points(values, names)
    nodes, va = _circuit_voltages(circuit, a)
    nodes_b, vb = _circuit_voltages(circuit, b)
    require_finite({"V": dict(zip(nodes, va.T))}, "the builtin solution")
    require_finite({"V": dict(zip(nodes_b, vb.T))}, "the ngspice solution")
    if nodes_b != nodes:
        raise UserError(f"the backends report different nodes: {nodes} vs {nodes_b}")
    if not nodes:
        raise UserError(f"{netlist}: the circuit has no node besides ground: nothing to compare")
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


def _deck_options() -> dict:
    from ._io import _META

    includes, include_dir, _ = click.get_current_context().meta.get(_META, ((), None, False))
    return {"includes": includes, "include_dir": include_dir}


# the command's former name, kept working but out of --help
cli.add_command(click.Command("check", callback=compare.callback, params=compare.params,
                              help=compare.help, hidden=True))


@cli.command()
@click.argument("netlist", type=click.Path(dir_okay=False))
@click.option("--inputs", "inputs", required=True,
              help="Comma-separated source names forming u, e.g. v1,v2.")
@click.option("--outputs", "outputs", required=True,
              help="Comma-separated node names forming y, e.g. n3,n4.")
@netlist_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def kernel(netlist: str, inputs: str, outputs: str, as_json: bool) -> None:
    """The equilibrium-network kernel of NETLIST: 0 ∈ Hz + F(z) + Bu + b, y = -Cz - Du - d.

    z holds each diode junction's reverse voltage (V); H is in siemens, B in
    siemens (voltage inputs) or dimensionless (current inputs). The margin is
    the smallest eigenvalue of sym(H), the monDEQ's monotonicity parameter.
    """
    from ..kernels.extract import extract_kernel

    circuit = load_circuit(netlist)
    with user_errors(netlist):
        K = extract_kernel(circuit, split_names(inputs), split_names(outputs, "--outputs"))
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
