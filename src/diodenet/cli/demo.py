"""``diodenet demo``: the main job (placeholder until the training issue lands)."""

from __future__ import annotations

import click

from .main import cli


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def demo(as_json: bool) -> None:
    """Run the main job: train a circuit in the loop and check it in ngspice."""
    msg = "diodenet demo: the end-to-end training demo is not built yet (see the training issue)."
    if as_json:
        import json

        click.echo(json.dumps({"status": "placeholder", "message": msg}))
    else:
        click.echo(msg)
