"""``NgspiceSimulator``: batches of operating points and small-signal analyses of one
circuit in ngspice, in this process or on a pool of worker processes.

Typical use::

    with NgspiceSimulator(circuit, workers=2) as sim:
        op = sim.operating_points(u, sources=["v1", "v2"])      # u: (batch, 2) volts
        op.voltage("out")                                       # (batch,) volts
        ss = sim.small_signal(u, ["v1", "v2"], drive={sim.port("out"): g_y})
        ss.voltage("n3")                                        # linearized response

Sign conventions are SPICE's: ``current("v1")`` is the current that flows
*into* v1's ``+`` node and through the source (so a source delivering power
reads negative).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ...circuits.netlist.writer import ControlledConductance, IdealSwitch
from .engine import Task
from .errors import NgspiceError
from .netlist_edit import RESERVED, NetlistSpec
from .pool import DEFAULT_CHUNK_TIMEOUT, ExecutorRunner, InProcessRunner, NgspicePool
from .readback import assemble, sensitivity_key, sensitivity_output
from .results import OperatingPoints, SmallSignal

METHODS = ("sweep", "op")


class NgspiceSimulator:
    """Device-level simulation of one circuit in ngspice.

    Parameters
    ----------
    circuit:
        A :class:`diodenet.circuits.Circuit`, or SPICE netlist text (title line
        first), which diodenet's safe reader parses into one (a ``NetlistError``
        for anything it refuses; analysis cards are ignored). ngspice receives
        what ``ngspice_netlist`` writes for the circuit, never the text itself;
        names ngspice could misread are aliased there and every result carries
        the circuit's own names.
    options:
        ``.options`` overriding the defaults ``reltol=1e-6 abstol=1e-15 vntol=1e-9``
        and the netlist's own.
    workers:
        1 runs in this process; N > 1 starts a persistent pool of N processes.
    executor:
        Any ``concurrent.futures.Executor`` to run on instead, or an
        :class:`NgspicePool` shared by several simulators (neither is shut down by
        :meth:`close`).
    chunk_size:
        Rows per task (one dc sweep each).
    method:
        ``"sweep"`` (default): each chunk is one dc sweep over a sample counter
        that drives the sources from tables, every point an independent operating
        point for its own row (see ``netlist_edit``); ``"op"``: ``alter`` the
        sources and run ``op`` once per row.
    ports:
        Node names or (n1, n2) pairs where small-signal currents may be injected;
        drive them through :meth:`port`.
    progress:
        Show a tqdm progress bar for batches (per call overridable).
    recycle_after:
        Rows per worker before the pool replaces its workers (memory hygiene).
    chunk_timeout:
        Seconds a pool's batch may go without a chunk finishing before the
        workers are killed and ``NgspiceWorkerError`` is raised (a stopped or
        hung worker); ``workers > 1`` only.
    conductances:
        Extra conductances set by node voltages (``ControlledConductance``), for
        the linearized circuits of the ngspice hardware.
    ideal_switch:
        Write ideal diodes as this switch (``IdealSwitch``, a piecewise-linear
        B-source that ngspice solves in a few Newton iterations) instead of the
        Shockley stand-in ``IDEAL_STANDIN``; other diodes are unchanged.

    Worker processes start with ``forkserver``, so a script that uses
    ``workers > 1`` needs the ``if __name__ == "__main__":`` guard. A simulator
    is not thread-safe: call it from one thread at a time (in-process
    simulators share the process's one libngspice).
    """

    def __init__(
        self,
        circuit: Any,
        *,
        options: dict[str, object] | None = None,
        workers: int = 1,
        executor: Executor | NgspicePool | None = None,
        chunk_size: int = 1000,
        method: str = "sweep",
        ports: Sequence[str | tuple[str, str]] = (),
        progress: bool = False,
        recycle_after: int = 200_000,
        conductances: Sequence[ControlledConductance] = (),
        ideal_switch: IdealSwitch | None = None,
        chunk_timeout: float = DEFAULT_CHUNK_TIMEOUT,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        if executor is not None and workers != 1:
            raise ValueError("give either workers or executor, not both")
        if isinstance(circuit, str):
            # netlist text is data: diodenet's reader parses it, then the writer
            # writes what ngspice receives (never the text itself)
            from ...circuits.netlist import parse_netlist

            circuit = parse_netlist(circuit)
        if not hasattr(circuit, "elements") or not hasattr(circuit, "nodes"):
            raise ValueError("circuit must be a Circuit or netlist text")
        preferred_nodes = list(circuit.nodes)
        preferred_branches = [e.name for e in circuit if e.name[:1] in ("v", "e", "h")]
        port_pairs = tuple(
            (p.lower(), "0") if isinstance(p, str) else (str(p[0]).lower(), str(p[1]).lower())
            for p in ports
        )
        self.spec = NetlistSpec.from_circuit(circuit, options, port_pairs, conductances,
                                             ideal_switch)
        self._preferred_nodes = preferred_nodes
        self._preferred_branches = preferred_branches
        self.chunk_size = chunk_size
        self.method = method
        self.progress = progress
        self._owns_runner = executor is None
        if isinstance(executor, NgspicePool):
            self._runner: Any = executor  # shared pool: several simulators, one set of workers
        elif executor is not None:
            self._runner = ExecutorRunner(executor)
        elif workers == 1:
            self._runner = InProcessRunner()
        else:
            self._runner = NgspicePool(workers, recycle_after=recycle_after,
                                       chunk_timeout=chunk_timeout)

    @classmethod
    def from_netlist(cls, text: str, **kwargs: Any) -> NgspiceSimulator:
        """A simulator for SPICE netlist text (same keywords as the constructor)."""
        return cls(text, **kwargs)

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Stop the worker pool this simulator started (a pool or executor passed in
        is left running for its owner)."""
        if self._owns_runner:
            self._runner.close()

    def __enter__(self) -> NgspiceSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pool(self) -> NgspicePool | None:
        """The worker pool, when ``workers > 1`` or one was passed in."""
        return self._runner if isinstance(self._runner, NgspicePool) else None

    # ------------------------------------------------------------ parameters
    def set_conductances(self, values: Mapping[str, float]) -> None:
        """Set resistor conductances (siemens, > 0) by resistor name.

        Takes effect from the next call; workers reload the circuit once (sweeps
        write the values into each chunk's netlist anyway).
        """
        if not isinstance(values, Mapping):
            raise ValueError("set_conductances takes {resistor name: siemens}, got "
                             f"{type(values).__name__}")
        g = np.fromiter(values.values(), dtype=float, count=len(values))
        bad = np.flatnonzero(~(g > 0) | ~np.isfinite(g))
        if bad.size:
            name = list(values)[int(bad[0])]
            raise ValueError(f"{name}: conductance must be positive and finite, "
                             f"got {g[bad[0]]}")
        self.spec = self.spec.with_resistances(list(values), 1.0 / g)

    def port(self, n1: str, n2: str = "0") -> str:
        """Element name to use in ``drive`` for the port ``(n1, n2)`` given at
        construction: a current source injecting into ``n1`` (out of ``n2``)."""
        names = self.spec.names
        pair = (names.node(n1), names.node(n2))
        if pair not in self.spec.ports:
            requested = [(names.user_node(a), names.user_node(b)) for a, b in self.spec.ports]
            raise ValueError(
                f"port {(n1.lower(), n2.lower())} was not requested; ports are {requested}"
            )
        return NetlistSpec.port_name(*pair)

    # ------------------------------------------------------------ analyses
    def _prepare(self, inputs: Any, sources: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
        names = tuple(self.spec.check_sources(list(sources)))
        u = np.asarray(inputs, dtype=float)
        if u.ndim == 1 and len(names) > 0 and u.shape[0] == len(names):
            u = u[None, :]
        if u.ndim != 2 or u.shape[1] != len(names):
            raise ValueError(
                f"inputs must have shape (batch, {len(names)}) for sources {list(names)}, "
                f"got {u.shape}"
            )
        if not np.all(np.isfinite(u)):
            raise ValueError("inputs must be finite")
        return u, names

    def _chunks(self, n: int) -> list[tuple[int, int]]:
        size = self.chunk_size
        workers = getattr(self._runner, "workers", 1)
        if workers > 1:
            size = max(1, min(size, math.ceil(n / workers)))
        return [(a, min(a + size, n)) for a in range(0, n, size)]

    def _run(self, tasks: list[Task], total: int, progress: bool | None) -> list[dict]:
        show = self.progress if progress is None else progress
        with tqdm(total=total, disable=not show, unit="op", desc="ngspice") as bar:
            results = self._run_tasks(tasks, bar.update)
        return [r for r, _pid in results]

    def _run_tasks(self, tasks: list[Task], on_done: Any) -> list[Any]:
        """The runner's results; an ``NgspiceError`` comes back with the circuit's
        names in place of the aliases ngspice saw (``trouble with ddnxa_2``)."""
        try:
            return self._runner.run(tasks, on_done)
        except NgspiceError as exc:
            names = self.spec.names
            if not names.aliases:
                raise
            raise type(exc)(names.user_text(exc.base_message),
                            [names.user_text(ln) for ln in exc.lines], exc.sample) from exc

    @property
    def source_names(self) -> list[str]:
        """The netlist's top-level independent sources, in netlist order."""
        names = self.spec.names
        return [names.user_element(n) for n in self.spec.top_level if n[:1] in ("v", "i")]

    def operating_points(
        self,
        u: Any = None,
        sources: Sequence[str] | None = None,
        *,
        progress: bool | None = None,
        inputs: Any = None,
    ) -> OperatingPoints:
        """DC operating points for a batch.

        ``u``: (batch, len(sources)) source values (volts for V sources,
        amperes for I sources), in the order of ``sources`` (default: every
        independent source, :attr:`source_names`); other sources keep their
        netlist values. ``u=None``: one operating point at the netlist's values.
        The same call as ``BuiltinSimulator.operating_points``; ``inputs`` is
        the former name of ``u`` and still works.
        Raises NgspiceConvergenceError naming the failing sample, NgspiceError
        when ngspice rejects the netlist, NgspiceWorkerError when a worker dies.
        """
        if inputs is not None:
            if u is not None:
                raise TypeError("give u or its old name inputs, not both")
            u = inputs
        if u is None:
            u, sources = np.zeros((1, 0)), []
        elif sources is None:
            sources = self.source_names
        u, names = self._prepare(u, sources)
        if len(u) == 0:
            raise ValueError("inputs is empty: need at least one row")
        tasks = [
            Task("op", self.spec, names, u[a:b], offset=a, method=self.method)
            for a, b in self._chunks(len(u))
        ]
        return assemble(self._run(tasks, len(u), progress), len(u), self.spec,
                        self._preferred_nodes, self._preferred_branches)

    def small_signal(
        self,
        inputs: Any,
        sources: Sequence[str],
        drive: Mapping[str, float | np.ndarray],
        *,
        frequency: float = 1.0,
        progress: bool | None = None,
    ) -> SmallSignal:
        """Linearized circuit at each sample's operating point, driven by ``drive``.

        For sample k: sources take ``inputs[k]``, ngspice finds the operating
        point, then runs ``.ac`` at ``frequency`` Hz with source (or port) ``name``
        at AC amplitude ``drive[name][k]`` (a scalar applies to all samples) and
        every other independent source zeroed (V: short, I: open). Returns the
        real parts: node voltages (V per unit drive) and branch currents.
        Diode capacitances make a tiny imaginary part at 1 Hz (see ``max_imag``).
        """
        u, names = self._prepare(inputs, sources)
        if not drive:
            raise ValueError("drive is empty: name at least one source or port to drive")
        amps = []
        for name, a in drive.items():
            key = name.lower()
            if not key.startswith(f"i{RESERVED}port_"):
                key = self.spec.names.element(key)
                if key[:1] not in ("v", "i"):
                    raise ValueError(f"cannot drive {name!r}: not a source or requested port")
            if key not in self.spec.top_level and not any(
                key == NetlistSpec.port_name(*p) for p in self.spec.ports
            ):
                raise ValueError(f"cannot drive {name!r}: not a source or requested port")
            arr = np.broadcast_to(np.asarray(a, dtype=float), (len(u),)).copy()
            amps.append((key, arr))
        if not frequency > 0:
            raise ValueError(f"frequency must be > 0 Hz, got {frequency}")
        tasks = [
            Task("ac", self.spec, names, u[a:b], offset=a,
                 drive=tuple((k, v[a:b]) for k, v in amps), frequency=frequency)
            for a, b in self._chunks(len(u))
        ]
        return assemble(self._run(tasks, len(u), progress), len(u), self.spec,
                        self._preferred_nodes, self._preferred_branches, SmallSignal)

    def sensitivity(
        self, inputs_row: Any, sources: Sequence[str], output: str
    ) -> dict[str, float]:
        """ngspice's DC sensitivity analysis ``sens <output>`` at one input vector.

        ``output`` is ``v(node)``, ``v(n1,n2)`` or ``i(vsource)``; a bare node name
        means ``v(node)``. Returns every vector ngspice reports: ``rK`` is
        ∂output/∂R_K (V/Ω), ``rK_m`` the derivative w.r.t. the multiplier, ``vK``
        w.r.t. the source value. For validation only, never as a gradient: ngspice
        39 misreports on larger circuits. Measured on the benchmark network (20
        nodes, 30 R, 10 D), ``sens v(n5)`` gave 0 for 23 of 30 resistors whose
        finite-difference sensitivity is up to 3e-5 V/Ω, and a non-zero ``r1_m``
        for a resistor with none (``ngspice -b`` prints the same, so it is ngspice,
        not this binding); on an 8-resistor network all 8 matched. Use
        :meth:`small_signal` (an adjoint) for derivatives.
        """
        u, names = self._prepare(inputs_row, sources)
        if len(u) != 1:
            raise ValueError("sensitivity takes one input vector")
        out = sensitivity_output(output, self.spec, self._preferred_nodes)
        task = Task("sens", self.spec, names, u, output=out)
        (res, _pid), = self._run_tasks([task], lambda _n: None)
        return {sensitivity_key(k, self.spec): float(v[0]) for k, v in res.items()}
