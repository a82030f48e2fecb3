"""The ``diodenet`` command line."""

from __future__ import annotations

import click

from .._version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="diodenet")
def cli() -> None:
    """diodenet: neural networks that are resistor-diode circuits.

    A resistor-diode network settles to the equilibrium of a ReLU monotone
    operator network; its gradient is measured on the circuit itself
    (hardware linearization). Run `diodenet COMMAND --help` for each command.
    """


def main() -> None:
    cli()
