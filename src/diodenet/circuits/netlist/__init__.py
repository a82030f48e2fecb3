"""ngspice netlists: a reader that treats the file as data, and a writer.

* ``parse_netlist(text, includes=None)`` / ``read_netlist(path, includes=())``
  return a ``Circuit``; anything refused raises ``NetlistError`` with ``.line``
  and ``.problem``. Things accepted but dropped raise ``NetlistWarning``.
* ``write_netlist(circuit)`` returns a netlist that ngspice runs and that
  ``parse_netlist`` reads back equal to ``circuit``.
"""

from .errors import NetlistError, NetlistWarning
from .expressions import ExpressionError, evaluate, parse_number
from .load import parse_netlist, read_netlist
from .writer import (
    GYRATOR_SUBCKT,
    IDEAL_STANDIN,
    TRANSFORMER_SUBCKT,
    spice_diode_model,
    write_netlist,
)

__all__ = [
    "GYRATOR_SUBCKT",
    "IDEAL_STANDIN",
    "TRANSFORMER_SUBCKT",
    "ExpressionError",
    "NetlistError",
    "NetlistWarning",
    "evaluate",
    "parse_netlist",
    "parse_number",
    "read_netlist",
    "spice_diode_model",
    "write_netlist",
]
