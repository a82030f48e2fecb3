"""Device-level simulation in ngspice through our own ctypes binding to libngspice.

* :class:`NgspiceSimulator`: batches of operating points and small-signal
  (``.ac``) analyses of one circuit, in-process or on a worker pool;
* :func:`get_ngspice` / :class:`Ngspice`: the process's one libngspice instance;
* :func:`batch_operating_point`: the ``ngspice -b`` subprocess route (reference).
"""

from .batch import batch_operating_point
from .binding import Ngspice, find_library, get_ngspice
from .cards import DEFAULT_OPTIONS
from .errors import NgspiceConvergenceError, NgspiceError, NgspiceLibraryNotFound
from .netlist_edit import NetlistSpec
from .pool import NgspicePool, NgspiceWorkerError
from .results import OperatingPoints, SmallSignal
from .simulator import NgspiceSimulator

__all__ = [
    "DEFAULT_OPTIONS",
    "NetlistSpec",
    "Ngspice",
    "NgspiceConvergenceError",
    "NgspiceError",
    "NgspiceLibraryNotFound",
    "NgspicePool",
    "NgspiceSimulator",
    "NgspiceWorkerError",
    "OperatingPoints",
    "SmallSignal",
    "batch_operating_point",
    "find_library",
    "get_ngspice",
]
