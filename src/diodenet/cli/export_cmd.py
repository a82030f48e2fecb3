"""``diodenet export``: a trained model as a netlist for ``ngspice -b``."""

from __future__ import annotations

from pathlib import Path

import click

from ._io import dump_json
from .main import cli, user_errors


@cli.command()
@click.argument("model_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Netlist file (default: MODEL_DIR/export.cir).")
@click.option("--sample", type=int, default=0, show_default=True,
              help="Test sample whose encoded features the input sources hold.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def export(model_dir: Path, out_file: Path | None, sample: int, as_json: bool) -> None:
    """Write the model trained in MODEL_DIR (a `diodenet train` output) as one
    netlist that runs unmodified in `ngspice -b`: the whole circuit (a cascade
    with E-element buffers), its trained conductances and gains, the inputs
    set to one test sample, `.op` and a `.print` of the outputs.

    \b
    Example:
      diodenet train --dataset moons --hidden 16,8 --out runs/deep
      diodenet export runs/deep && ngspice -b runs/deep/export.cir
    """
    from ..training.checkpoint import atomic_write_text
    from ..training.export import export_netlist

    with user_errors():
        ex = export_netlist(model_dir, sample=sample)
        path = out_file or model_dir / "export.cir"
        atomic_write_text(path, ex.netlist)
    if ex.note:
        click.echo(f"note: {ex.note}", err=True)
    if not ex.finished:
        click.echo(f"note: {model_dir} has not finished training: exporting its best epoch "
                   f"so far ({ex.epoch})", err=True)
    if as_json:
        click.echo(dump_json({"netlist": str(path), "sample": ex.sample, "epoch": ex.epoch,
                              "finished": ex.finished,
                              "outputs": [list(o) for o in ex.outputs],
                              "expected": ex.expected.tolist(), "expected_backend": "builtin"}))
        return
    click.echo(f"netlist: {path} (run it with: ngspice -b {path})")
    click.echo(f"trained epoch {ex.epoch} (the run's best); test sample {ex.sample}; "
               "builtin simulator's outputs (V): "
               + ", ".join(f"{v:.6g}" for v in ex.expected))
