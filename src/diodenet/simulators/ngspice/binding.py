"""A small ctypes binding to ngspice's shared library (libngspice, "shared ngspice").

Only the documented C API is used (ngspice manual, chapter "shared ngspice"):
``ngSpice_Init``, ``ngSpice_Circ``, ``ngSpice_Command``, ``ngGet_Vec_Info``,
``ngSpice_CurPlot``, ``ngSpice_AllVecs``, ``ngSpice_running``.

The library keeps global state, so there is **one instance per process**
(:func:`get_ngspice`); run several processes for parallelism (see ``pool.py``).

Hygiene:

* analyses run synchronously (``op``, ``dc``, ``ac``, ``run``), never ``bg_run``,
  so the background-thread callback only records state;
* ``destroy all`` after every analysis, because plots pile up and slow every
  later command;
* ``remcirc`` before another circuit is loaded;
* the ``ControlledExit`` callback never ends the Python process: it marks the
  instance unusable, and later calls raise :class:`NgspiceError`;
* every ``ngSpice_Command`` leaves ~0.22 KB of control structures behind
  (measured on ngspice 39); ``ngSpice_Command(NULL)`` frees them, so the
  binding calls it every ``RESET_CONTROL_EVERY`` commands. The pool still
  recycles its workers against whatever else grows.

Isolation: ngspice runs the init scripts ``spinit`` (from ``$SPICE_SCRIPTS``
or its install) and ``.spiceinit`` (from the working directory, else from the
home directory in the password database, not ``$HOME``) when it starts, and
either may hold any command. ``ngSpice_Init`` therefore runs in a private,
empty directory (mode 0700) that holds only our own two empty-of-commands
files, with ``SPICE_SCRIPTS`` and ``HOME`` pointing there: ngspice finds our
``.spiceinit`` in its working directory and never looks for the user's
(measured with strace on ngspice 39: the only files it opens are those two).
Afterwards every command is checked (``guard.check_command``) and every
netlist (``guard.check_netlist_lines``) before ngspice sees it.

Errors ngspice prints become :class:`NgspiceError` (rejected input) or
:class:`NgspiceConvergenceError` (the analysis did not converge), carrying
ngspice's own message lines.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .errors import (
    NgspiceConvergenceError,
    NgspiceError,
    NgspiceLibraryNotFound,
    is_convergence_line,
    is_error_line,
    raise_on_errors,
)
from .guard import check_command, check_netlist_lines

SETUP_HINT = (
    "run `make setup` (or `make test`) as root, which apt-installs `ngspice libngspice0`; "
    "or `sudo apt-get install -y ngspice libngspice0`; "
    "or set NGSPICE_LIBRARY_PATH to a libngspice.so"
)


#: What our private init files say (ngspice reads them as scripts).
_INIT_TEXT = "* diodenet: no start-up commands\n"

#: Free ngspice's per-command control memory after this many commands.
RESET_CONTROL_EVERY = 64




class _VectorInfo(ctypes.Structure):
    # struct vector_info from sharedspice.h
    _fields_ = [
        ("v_name", ctypes.c_char_p),
        ("v_type", ctypes.c_int),
        ("v_flags", ctypes.c_short),
        ("v_realdata", ctypes.POINTER(ctypes.c_double)),
        ("v_compdata", ctypes.POINTER(ctypes.c_double)),  # ngcomplex_t = {double re, im}
        ("v_length", ctypes.c_int),
    ]


_VF_REAL = 1
_VF_COMPLEX = 2

_SendChar = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p)
_SendStat = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p)
_ControlledExit = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_int, ctypes.c_bool, ctypes.c_bool, ctypes.c_int, ctypes.c_void_p
)
_SendData = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p
)
_SendInitData = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)
_BGThreadRunning = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_bool, ctypes.c_int, ctypes.c_void_p)


@contextlib.contextmanager
def _private_start() -> Iterator[None]:
    """Run the block in a fresh private directory that holds only our own
    ``spinit`` and ``.spiceinit``, with ``SPICE_SCRIPTS`` and ``HOME`` pointing
    there; restore the working directory and environment afterwards.

    Changing directory is process-wide; the block is ``ngSpice_Init`` only,
    under the module's instance lock.
    """
    tmp = tempfile.mkdtemp(prefix="diodenet-ngspice-")
    saved = {k: os.environ.get(k) for k in ("SPICE_SCRIPTS", "HOME")}
    cwd = os.getcwd()
    try:
        for name in ("spinit", ".spiceinit"):
            with open(os.path.join(tmp, name), "w") as fh:
                fh.write(_INIT_TEXT)
        os.environ["SPICE_SCRIPTS"] = tmp
        os.environ["HOME"] = tmp
        os.chdir(tmp)
        yield
    finally:
        os.chdir(cwd)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(tmp, ignore_errors=True)


def find_library() -> str:
    """Path (or soname) of libngspice: ``$NGSPICE_LIBRARY_PATH``, then
    ``ctypes.util.find_library("ngspice")``, then ``libngspice.so.0``.

    Raises :class:`NgspiceLibraryNotFound` naming the setup command when none loads.
    """
    env = os.environ.get("NGSPICE_LIBRARY_PATH")
    if env:
        if not Path(env).is_file():
            raise NgspiceLibraryNotFound(
                f"NGSPICE_LIBRARY_PATH={env} is not a file; {SETUP_HINT}"
            )
        return env
    candidates = [ctypes.util.find_library("ngspice"), "libngspice.so.0"]
    for cand in candidates:
        if not cand:
            continue
        try:
            ctypes.CDLL(cand, mode=ctypes.RTLD_GLOBAL)
        except OSError:
            continue
        return cand
    raise NgspiceLibraryNotFound(f"libngspice not found; {SETUP_HINT}")


class Ngspice:
    """The process's one ngspice instance. Get it with :func:`get_ngspice`.

    ``history`` keeps the most recent ``history_lines`` lines ngspice printed.
    Not thread-safe across threads that issue commands concurrently; calls are
    serialised with a lock.
    """

    def __init__(self, library: str | None = None, history_lines: int = 2000) -> None:
        path = library or find_library()
        try:
            self._lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        except OSError as exc:
            raise NgspiceLibraryNotFound(f"cannot load {path}: {exc}; {SETUP_HINT}") from exc
        self.library_path = path
        self.history: deque[str] = deque(maxlen=history_lines)
        self._capture: list[str] | None = None
        self._lock = threading.RLock()
        self.exited: str | None = None  # set when ngspice asked to exit
        self.bg_running = False
        self.analyses = 0
        self._commands = 0
        self._declare()
        # Keep the callbacks referenced: ngspice calls them until the process ends.
        self._cb = (
            _SendChar(self._on_char),
            _SendStat(self._on_stat),
            _ControlledExit(self._on_exit),
            _SendData(0),  # NULL: no per-point data callback (we read vectors)
            _SendInitData(0),
            _BGThreadRunning(self._on_bg),
        )
        with _private_start():
            rc = self._lib.ngSpice_Init(*self._cb, None)
        if rc != 0:
            raise NgspiceError(f"ngSpice_Init returned {rc}", list(self.history))
        # No .spiceinit surprises in the output; keep numeric output precise.
        self.command("set nomoremode")

    # ------------------------------------------------------------ callbacks
    def _declare(self) -> None:
        lib = self._lib
        lib.ngSpice_Init.argtypes = [
            _SendChar, _SendStat, _ControlledExit, _SendData, _SendInitData,
            _BGThreadRunning, ctypes.c_void_p,
        ]
        lib.ngSpice_Init.restype = ctypes.c_int
        lib.ngSpice_Command.argtypes = [ctypes.c_char_p]
        lib.ngSpice_Command.restype = ctypes.c_int
        lib.ngSpice_Circ.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        lib.ngSpice_Circ.restype = ctypes.c_int
        lib.ngGet_Vec_Info.argtypes = [ctypes.c_char_p]
        lib.ngGet_Vec_Info.restype = ctypes.POINTER(_VectorInfo)
        lib.ngSpice_CurPlot.argtypes = []
        lib.ngSpice_CurPlot.restype = ctypes.c_char_p
        lib.ngSpice_AllVecs.argtypes = [ctypes.c_char_p]
        lib.ngSpice_AllVecs.restype = ctypes.POINTER(ctypes.c_char_p)
        lib.ngSpice_running.argtypes = []
        lib.ngSpice_running.restype = ctypes.c_bool

    def _on_char(self, text: bytes, ident: int, user: int) -> int:
        line = text.decode("utf-8", "replace") if text else ""
        self.history.append(line)
        if self._capture is not None:
            self._capture.append(line)
        return 0

    def _on_stat(self, text: bytes, ident: int, user: int) -> int:
        return 0

    def _on_exit(self, status: int, unload: bool, quit_: bool, ident: int, user: int) -> int:
        # ngspice wants to exit (a `quit`, or an error it cannot recover from).
        # Never let that end the Python process: remember it and refuse later use.
        self.exited = f"ngspice requested exit with status {status}"
        return 0

    def _on_bg(self, not_running: bool, ident: int, user: int) -> int:
        self.bg_running = not not_running
        return 0

    # ------------------------------------------------------------ commands
    def _check_alive(self) -> None:
        if self.exited is not None:
            raise NgspiceError(
                f"this process's ngspice is unusable ({self.exited}); start a new process"
            )

    def command(self, cmd: str, *, check: bool = True) -> list[str]:
        """Run one ngspice command synchronously; return the lines it printed.

        With ``check``, lines ngspice wrote to stderr that read as errors raise
        :class:`NgspiceError` (or :class:`NgspiceConvergenceError`). Only
        ``guard.ALLOWED_COMMANDS`` with plain arguments are sent (``check_command``).
        """
        check_command(cmd)
        with self._lock:
            self._check_alive()
            self._capture = captured = list[str]()
            try:
                rc = self._lib.ngSpice_Command(cmd.encode())
                self._commands += 1
                if self._commands % RESET_CONTROL_EVERY == 0:
                    # ngSpice_Command(NULL) frees the control structures every
                    # command leaves behind (~0.22 KB each, measured); without
                    # it a million `alter`+`op` samples would grow by ~1.6 GB.
                    self._lib.ngSpice_Command(None)
            finally:
                self._capture = None
            if self.exited is not None:
                raise NgspiceError(f"ngspice exited while running {cmd!r}", captured)
            if check:
                raise_on_errors(cmd, captured)
                if rc != 0:
                    raise NgspiceError(f"ngspice command {cmd!r} failed (rc={rc})", captured)
            return captured

    def load(self, lines: Sequence[str]) -> list[str]:
        """Load a netlist (title line first, ``.end`` last) after ``remcirc``-ing the
        current circuit. Raises :class:`NgspiceError` when ngspice rejects it, and
        ValueError for lines that are not a netlist (``check_netlist_lines``)."""
        check_netlist_lines(lines)
        with self._lock:
            self._check_alive()
            self.remove_circuit()
            arr = (ctypes.c_char_p * (len(lines) + 1))()
            for k, line in enumerate(lines):
                arr[k] = line.encode()
            arr[len(lines)] = None
            self._capture = captured = list[str]()
            try:
                rc = self._lib.ngSpice_Circ(arr)
            finally:
                self._capture = None
            if self.exited is not None:
                raise NgspiceError("ngspice exited while loading the netlist", captured)
            bad = [ln for ln in captured if is_error_line(ln)]
            if rc != 0 or bad or not self.has_circuit():
                if self.has_circuit():
                    self.remove_circuit()
                raise NgspiceError("ngspice rejected the netlist", bad or captured)
            return captured

    def has_circuit(self) -> bool:
        """Whether a circuit is loaded (asks ngspice for its circuit list)."""
        out = self.command("listing param", check=False)
        return not any("no circuit" in ln.lower() for ln in out)

    def remove_circuit(self) -> None:
        """``remcirc`` every loaded circuit and ``destroy all`` plots."""
        with self._lock:
            self.command("destroy all", check=False)
            for _ in range(64):
                out = self.command("remcirc", check=False)
                if any("no circuit" in ln.lower() for ln in out) or not self.has_circuit():
                    break

    def analysis(self, cmd: str) -> str:
        """Run an analysis command (``op``, ``dc ...``, ``ac ...``, ``tf ...``, ``sens ...``)
        synchronously; return the name of the plot it made.

        Device names in analysis commands must be lower case (ngspice quirk).
        Raises :class:`NgspiceConvergenceError` when it does not converge.
        """
        with self._lock:
            before = self.current_plot()
            out = self.command(cmd, check=False)
            self.analyses += 1
            after = self.current_plot()
            conv = [ln for ln in out if is_convergence_line(ln)]
            if conv:
                raise NgspiceConvergenceError(f"ngspice {cmd!r} did not converge", conv)
            raise_on_errors(cmd, out)
            if after == before or after in ("", "const"):
                raise NgspiceError(f"ngspice {cmd!r} produced no results", out)
            return after

    # ------------------------------------------------------------ vectors
    def current_plot(self) -> str:
        raw = self._lib.ngSpice_CurPlot()
        return raw.decode() if raw else ""

    def vector_names(self, plot: str | None = None) -> list[str]:
        """Names of the vectors of a plot (default: the current one)."""
        ptr = self._lib.ngSpice_AllVecs((plot or self.current_plot()).encode())
        names = []
        k = 0
        while ptr and ptr[k]:
            names.append(ptr[k].decode())
            k += 1
        return names

    def vector(self, name: str) -> np.ndarray:
        """A copy of a vector (real float64, or complex128 for complex vectors).

        ``name`` may be ``plot.vec``. Raises :class:`NgspiceError` when it is absent.
        """
        with self._lock:
            info = self._lib.ngGet_Vec_Info(name.encode())
            if not info:
                raise NgspiceError(f"ngspice has no vector {name!r}")
            v = info.contents
            n = v.v_length
            if v.v_realdata:
                return np.ctypeslib.as_array(v.v_realdata, shape=(n,)).copy()
            if v.v_compdata:
                pairs = np.ctypeslib.as_array(v.v_compdata, shape=(2 * n,))
                return (pairs[0::2] + 1j * pairs[1::2]).astype(np.complex128)
            return np.empty(0)

    def vectors(self, plot: str | None = None) -> dict[str, np.ndarray]:
        """All vectors of a plot, by lower-case name."""
        plot = plot or self.current_plot()
        return {n.lower(): self.vector(f"{plot}.{n}") for n in self.vector_names(plot)}

    def destroy_plots(self) -> None:
        """``destroy all``: drop every plot (they slow every later command)."""
        self.command("destroy all", check=False)




_INSTANCE: Ngspice | None = None
_INSTANCE_PID: int | None = None
_INSTANCE_LOCK = threading.Lock()


def get_ngspice() -> Ngspice:
    """This process's one ngspice instance (created on first use).

    A forked child does not inherit a usable instance: it creates its own.
    """
    global _INSTANCE, _INSTANCE_PID
    with _INSTANCE_LOCK:
        if _INSTANCE is None or os.getpid() != _INSTANCE_PID:
            _INSTANCE = Ngspice()
            _INSTANCE_PID = os.getpid()
        return _INSTANCE
