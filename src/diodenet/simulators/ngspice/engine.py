"""The per-process side of the ngspice backend: one :class:`Engine` per process
drives that process's libngspice. Pool workers and the in-process simulator run
the same code, through :func:`run_task`.

Each task is a chunk of input vectors; its results are plain dicts of numpy
arrays keyed by ngspice's own (lower-case) vector names, e.g. ``"out"`` for
V(out) and ``"v1#branch"`` for the current through ``v1`` (SPICE sign: from
its ``+`` node through the source to its ``-`` node).
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import numpy as np

from .binding import get_ngspice
from .errors import NgspiceConvergenceError, NgspiceError
from .netlist_edit import RESERVED, NetlistSpec


@dataclass(frozen=True)
class Task:
    """One chunk of work. ``inputs`` is (rows, len(sources)); ``offset`` is the
    index of row 0 in the caller's batch (for error messages).

    kind: ``"op"`` (operating points), ``"ac"`` (small signal; ``drive`` maps
    source or port names to per-row amplitudes), ``"sens"`` (``output`` names
    the output variable, e.g. ``v(out)``).
    """

    kind: str
    spec: NetlistSpec
    sources: tuple[str, ...]
    inputs: np.ndarray
    offset: int = 0
    method: str = "sweep"
    drive: tuple[tuple[str, np.ndarray], ...] = ()
    frequency: float = 1.0
    output: str = ""


def _is_result_vector(name: str) -> bool:
    low = name.lower()
    if low in ("v-sweep", "i-sweep", "frequency", "time", "temp-sweep", "res-sweep"):
        return False
    base = low.split("#")[0]
    return not (RESERVED in base and (base.startswith(RESERVED) or base[1:].startswith(RESERVED)))


class Engine:
    """Drives this process's ngspice. Keeps the base circuit loaded between tasks
    and remembers which sources it altered, so a later task starts clean."""

    def __init__(self) -> None:
        self.ng = get_ngspice()
        self.loaded: str | None = None  # key of the loaded base circuit (None: other)
        self.validated: set[str] = set()  # structure keys ngspice has accepted
        self.altered: set[str] = set()
        self.ac_driven: set[str] = set()
        self.points = 0  # operating points solved by this process

    # ------------------------------------------------------------ loading
    def ensure_base(self, spec: NetlistSpec, sources: tuple[str, ...] = ()) -> None:
        """Load ``spec``'s base netlist unless it is loaded with nothing stale altered."""
        stale = (self.altered - set(sources)) or self.ac_driven
        if self.loaded != spec.key or stale:
            self.ng.load(spec.base_lines())
            self.loaded = spec.key
            self.altered = set()
            self.ac_driven = set()
            self.validated.add(spec.structure_key)

    def _alter_sources(self, sources: tuple[str, ...], row: np.ndarray) -> None:
        for name, value in zip(sources, row):
            self.ng.command(f"alter {name} dc={float(value)!r}")
        self.altered.update(sources)

    def _read(self, plot: str) -> dict[str, np.ndarray]:
        vecs = {k: v for k, v in self.ng.vectors(plot).items() if _is_result_vector(k)}
        self.ng.destroy_plots()
        return vecs

    # ------------------------------------------------------------ analyses
    def operating_points(self, task: Task) -> dict[str, np.ndarray]:
        """Operating points for every row: one ``dc`` sweep over the rows
        (``method="sweep"``), or ``alter`` + ``op`` per row (``method="op"``).

        A sweep that does not converge is redone row by row with cold ``op``
        runs, which either succeed or name the failing row.
        """
        spec, inputs = task.spec, np.asarray(task.inputs, dtype=float)
        if spec.structure_key not in self.validated:
            # a clear error for a netlist ngspice rejects; re-programmed
            # resistances (positive, finite) cannot make it reject one
            self.ensure_base(spec)
        if task.method == "sweep" and len(task.sources) > 0:
            try:
                return self._sweep(task)
            except NgspiceConvergenceError:
                pass  # fall through: pinpoint the row
        return self._op_rows(task, inputs)

    def _sweep(self, task: Task) -> dict[str, np.ndarray]:
        rows = np.asarray(task.inputs, dtype=float)
        n = len(rows)
        order = neighbour_order(rows)
        padded = rows[order] if n >= 2 else np.vstack([rows, rows])
        self.loaded = None
        self.ng.load(task.spec.sweep_lines(list(task.sources), padded.tolist()))
        plot = self.ng.analysis(f"dc v{RESERVED}idx 0 {len(padded) - 1} 1")
        vecs = self._read(plot)
        if any(len(v) != len(padded) for v in vecs.values()):
            raise NgspiceConvergenceError(
                f"the sweep returned {min(len(v) for v in vecs.values())} of {len(padded)} points"
            )
        self.points += n
        back = np.empty_like(order)
        back[order] = np.arange(n)
        return {k: np.real(v[:n])[back] for k, v in vecs.items()}

    def _op_rows(self, task: Task, inputs: np.ndarray) -> dict[str, np.ndarray]:
        self.ensure_base(task.spec, task.sources)
        out: dict[str, list[float]] = {}
        rows = inputs if len(inputs) else np.zeros((1, 0))
        for k, row in enumerate(rows):
            self._alter_sources(task.sources, row)
            try:
                plot = self.ng.analysis("op")
            except NgspiceError as exc:
                raise exc.with_sample(task.offset + k) from None
            for name, v in self._read(plot).items():
                out.setdefault(name, []).append(float(np.real(v[0])))
            self.points += 1
        return {k: np.asarray(v) for k, v in out.items()}

    def small_signal(self, task: Task) -> dict[str, np.ndarray]:
        """Per row: operating point at the row's inputs, then ``ac lin 1 f f`` with
        the ``drive`` sources at their AC amplitudes and every other source at 0.
        Returns real parts; ``"__max_imag__"`` holds the largest |imaginary part|."""
        spec, inputs = task.spec, np.asarray(task.inputs, dtype=float)
        self.ensure_base(spec, task.sources)
        out: dict[str, list[float]] = {}
        max_imag = np.zeros(len(inputs))
        names = [d[0] for d in task.drive]
        for k, row in enumerate(inputs):
            self._alter_sources(task.sources, row)
            for name, amps in task.drive:
                self.ng.command(f"alter @{name}[acmag]={float(amps[k])!r}")
            self.ac_driven.update(names)
            f = float(task.frequency)
            try:
                plot = self.ng.analysis(f"ac lin 1 {f!r} {f!r}")
            except NgspiceError as exc:
                raise exc.with_sample(task.offset + k) from None
            vecs = self._read(plot)
            for name, v in vecs.items():
                out.setdefault(name, []).append(float(np.real(v[0])))
                max_imag[k] = max(max_imag[k], float(np.abs(np.imag(v[0]))))
            self.points += 1
        res = {k: np.asarray(v) for k, v in out.items()}
        res["__max_imag__"] = max_imag
        return res

    def sensitivity(self, task: Task) -> dict[str, np.ndarray]:
        """ngspice's DC sensitivity ``sens <output>`` for each row, every vector it makes
        (e.g. ``r1`` = ∂output/∂R1 in V/Ω, ``r1_m``, ``r1:wf``, ``v1``)."""
        spec, inputs = task.spec, np.asarray(task.inputs, dtype=float)
        self.ensure_base(spec, task.sources)
        out: dict[str, list[float]] = {}
        for k, row in enumerate(inputs):
            self._alter_sources(task.sources, row)
            try:
                plot = self.ng.analysis(f"sens {task.output.lower()}")
            except NgspiceError as exc:
                raise exc.with_sample(task.offset + k) from None
            for name, v in self.ng.vectors(plot).items():
                out.setdefault(name, []).append(float(np.real(v[0])))
            self.ng.destroy_plots()
        return {k: np.asarray(v) for k, v in out.items()}


def neighbour_order(rows: np.ndarray) -> np.ndarray:
    """A visiting order for a sweep's rows: a greedy nearest-neighbour path
    (Euclidean distance of the source values) from row 0.

    Each point of a dc sweep starts Newton from the previous point's solution,
    so a nearby predecessor saves iterations; the answers do not depend on the
    order (every point is the operating point of its own row). Measured on
    784-128 and 64-128 training batches: 5-9 % fewer Newton iterations, results
    equal to 1e-13 V. Costs O(n² · sources), small against n sweep points.
    """
    n = len(rows)
    order = np.arange(n)
    if n < 3:
        return order
    scale = float(np.abs(rows).max())
    x = rows / scale if scale > 0 else rows  # one scale for all: the same path, no overflow
    sq = np.einsum("ij,ij->i", x, x)
    dist = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    remaining = np.arange(1, n)
    for k in range(1, n):
        # chosen among the rows not yet visited, so the order is a permutation
        pick = int(np.argmin(dist[order[k - 1], remaining]))
        order[k] = remaining[pick]
        remaining = np.delete(remaining, pick)
    return order


_ENGINE: Engine | None = None
_IN_POOL_WORKER = False


def engine() -> Engine:
    """This process's engine (created on first use)."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Engine()
    return _ENGINE


def run_task(task: Task) -> tuple[dict[str, np.ndarray], int]:
    """Run one task in this process; returns (vectors, pid). Picklable by reference,
    so any ``concurrent.futures.Executor`` can run it."""
    eng = engine()
    if _IN_POOL_WORKER and eng.ng.exited is not None:
        # This worker's libngspice asked to exit and cannot be reloaded in-process:
        # end the worker so the pool replaces it (the caller sees a dead worker).
        os._exit(70)
    if task.kind == "op":
        res = eng.operating_points(task)
    elif task.kind == "ac":
        res = eng.small_signal(task)
    elif task.kind == "sens":
        res = eng.sensitivity(task)
    else:
        raise ValueError(f"unknown task kind {task.kind!r}")
    return res, os.getpid()


def worker_initializer() -> None:
    """Set up a pool worker before its libngspice loads.

    * SIGINT is ignored: on Ctrl-C the parent stops the workers itself, so the
      terminal shows one clean interrupt instead of a traceback per worker.
    * One OpenMP thread per worker (unless OMP_NUM_THREADS is set): Debian's
      libngspice is built with OpenMP and by default spreads one process over
      every core (measured here: 23k op/s with 2 threads vs 13k with 1), so N
      workers with default threads would oversubscribe the cores.
    """
    global _IN_POOL_WORKER
    _IN_POOL_WORKER = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
