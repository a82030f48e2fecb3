"""``diodenet netlist check``: validate an ngspice netlist as untrusted data."""

from __future__ import annotations

from pathlib import Path

import click

from ._io import dump_json, read_circuit
from .main import cli


@cli.group()
def netlist() -> None:
    """Read, check and write ngspice netlists."""


@netlist.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option(
    "--include", "includes", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
    help="A file that the netlist's .include/.lib cards may read (repeatable). "
    "Includes of any other file are refused.",
)
@click.option("--include-dir", "include_dir", type=click.Path(file_okay=False),
              help="A folder whose files the netlist may include (relative names only).")
@click.option("--quiet", "-q", is_flag=True, help="Do not print notes.")
def check(file: Path, as_json: bool, includes: tuple[Path, ...], include_dir: str | None,
          quiet: bool) -> None:
    """Validate FILE, an ngspice netlist, and summarise it.

    The netlist is treated as data, never as code. Checked:

    \b
    - cards: R C L K D V I E F G H elements, X instances of .subckt
      (flattened), .model (type D), .param expressions, .options, .temp,
      .global, .end; at DC capacitors are open and inductors shorts;
    - skipped with a note: .control blocks, analysis cards, text after .end;
    - refused: shell escapes, .include/.lib of a file not given with
      --include or inside --include-dir, out-of-scope elements (Q, M, J, B,
      S, W, A, T, O, ...), unknown cards;
    - duplicate element names, non-positive resistances, malformed
      numbers and expressions (e.g. 10kOhm, {a*3} are fine);
    - topology: a current source or an ideal/PWL diode whose terminal
      leads nowhere else (a resistor's dangling end only carries no
      current), a subnetwork with no DC path to ground, a loop of voltage
      sources and inductors alone, a missing controlling source.

    Analysis cards (.op, .dc, .tran, ...) are ignored with a note. Prints the
    title, the node and element counts, elements by kind and the number of
    trainable elements. On a problem: one line `Error: FILE: line N:
    problem` and exit code 2.
    """
    circuit, notes = read_circuit(file, includes, include_dir)
    summary = circuit.summary()
    if as_json:
        click.echo(dump_json({"file": str(file), **summary, "notes": notes}))
        return
    click.echo(f"{file}: ok")
    click.echo(f"  title:     {summary['title']}")
    click.echo(f"  nodes:     {summary['nodes']}")
    click.echo(f"  elements:  {summary['elements']}")
    by_kind = summary["by_kind"]
    assert isinstance(by_kind, dict)
    for kind, count in by_kind.items():
        click.echo(f"    {kind + ':':<16}{count}")
    click.echo(f"  trainable: {summary['trainable']}")
    for note in notes if not quiet else []:
        click.echo(note, err=True)
