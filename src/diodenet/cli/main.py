"""The ``diodenet`` command line.

Each command lives in its own module under ``diodenet.cli`` and registers
itself on ``cli``; the imports at the bottom of this file load them.
Errors the user can fix (a bad netlist, a bad CSV, a solver that did not
converge) are printed as one ``Error: ...`` line with exit code 2, never a
traceback: raise ``click.ClickException`` or use ``user_errors()``.
"""

from __future__ import annotations

import click

from .._version import __version__
from .errors import UserError, user_errors

__all__ = ["UserError", "cli", "main", "user_errors"]


class _Group(click.Group):
    """A command line click refuses (an unknown option, a value of the wrong
    kind, a missing argument, a directory for a file) is one ``Error: ...``
    line with exit code 2, like every other input error, instead of click's
    usage block; it ends by naming the ``--help`` to read."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            param = getattr(exc, "param", None)
            a_file = isinstance(getattr(param, "type", None), click.Path) and not isinstance(
                exc, click.MissingParameter)  # a file that is not one: the name says it all
            if a_file or exc.ctx is None:
                raise UserError(exc.format_message()) from None
            raise UserError(f"{exc.format_message()} (see '{exc.ctx.command_path} --help')"
                            ) from None


@click.group(cls=_Group,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="diodenet")
def cli() -> None:
    """diodenet: neural networks that are resistor-diode circuits.

    A resistor-diode network settles to the equilibrium of a ReLU monotone
    operator network (0 ∈ Hz + F(z) + Bu + b, y = -Cz - Du - d); its gradient
    is measured on the circuit itself (hardware linearization:
    dL/dg = -v·v̂ for every resistor).

    
    A typical session:
      diodenet demo                                  # the main job, end to end
      diodenet train --dataset moons --out runs/m    # train a circuit in the loop
      diodenet netlist check runs/m/model.cir        # what was built
      diodenet simulate runs/m/model.cir --backend ngspice
      diodenet kernel net.cir --inputs v1,v2 --outputs out --json

    Units are SI (V, A, Ω, S). Every command says which simulator ran
    (builtin: diodenet's exact solver; ngspice: device level).
    Run `diodenet COMMAND --help` for each command.
    """


def main() -> None:
    cli()


# Command modules register themselves on `cli` (one line each).
from . import activations_cmd as _activations_cmd  # noqa: E402, F401
from . import demo as _demo  # noqa: E402, F401
from . import export_cmd as _export_cmd  # noqa: E402, F401
from . import gradient_cmd as _gradient_cmd  # noqa: E402, F401
from . import netlist_cmd as _netlist_cmd  # noqa: E402, F401
from . import robustness_cmd as _robustness_cmd  # noqa: E402, F401
from . import simulate_cmd as _simulate_cmd  # noqa: E402, F401
from . import train_cmd as _train_cmd  # noqa: E402, F401
