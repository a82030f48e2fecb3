"""The built-in DC simulator: operating points through the circuit's kernel,
or by nodal Newton when the kernel route cannot solve the circuit.

Kernel route: ``extract_kernel`` with every independent source as an input
(so any of them can be overridden per sample), solve the kernel equation with
the exact active-set method (ideal/PWL diodes) or Newton (Shockley diodes),
then rebuild every node voltage from ``(z, u)``. A circuit without diodes is a
single linear solve. Pure torch: batched, float64 by default, any device.

Nodal route (``simulators.nodal``): damped Newton on the full MNA with
ngspice's complete level-1 junction law, for Shockley circuits the kernel
route does not model (``IKF``/``ISR``/``IKR``, a junction in breakdown) or
cannot reduce (a singular reduced network). ``OperatingPoints.route`` says
which route ran.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..circuits import Circuit, ShockleyDiode
from ..kernels.equilibrium import Equilibrium
from ..kernels.extract import CircuitKernel, extract_kernel
from ..kernels.kernel import Kernel
from ..kernels.mna import unmodelled_options
from ..solvers import METHODS
from ..solvers.reuse import CachedSolver
from ..utils.numbers import is_real
from .nodal import NodalError, NodalNewton
from .points import NodeVoltages

#: (element index, diode name, BV, nVt)
BreakdownLimits = list[tuple[int, str, float, float]]


def breakdown_limits(circuit: Circuit, kernel: Kernel) -> BreakdownLimits:
    """``(element index, diode name, BV, nVt)`` for every diode with a breakdown voltage.

    Reverse breakdown (BV) is not in the kernel's Shockley relation. Rather
    than return a wrong operating point, ``check_breakdown`` refuses any sample
    whose junction comes within ``BREAKDOWN_GUARD``·nVt of -BV, where SPICE's
    breakdown current IBV·exp(-(BV - z)/nVt) is still below IBV·e^-30 ≈ 1e-13·IBV.
    """
    names = kernel.element_names or []
    return [
        (names.index(d.name), d.name, float(d.model.bv), d.model.nvt)
        for d in circuit.diodes
        if isinstance(d.model, ShockleyDiode) and d.model.bv is not None and d.name in names
    ]


def check_breakdown(limits: BreakdownLimits, z: Tensor) -> None:
    """Raise ``ValueError`` naming the diode when a junction's reverse voltage
    ``z`` (batch, n) reaches the breakdown region of ``breakdown_limits``."""
    for k, name, bv, nvt in limits:
        reverse = z[:, k]
        if bool((reverse > bv - BREAKDOWN_GUARD * nvt).any()):
            sample = int(torch.argmax(reverse))
            raise ValueError(
                f"{name}: reverse voltage {float(reverse[sample]):.6g} V (sample {sample}) "
                f"reaches the breakdown region of BV={bv:g} V, which the built-in "
                "simulator does not model; use the ngspice backend"
            )


def exact_method(kernel: Kernel, method: str | None = None) -> str:
    """``method``, or the exact one for ``kernel``: Newton when every element
    is smooth, else the active set (exact for ideal and PWL diodes)."""
    if method is not None:
        return method
    return "newton" if kernel.n and kernel.smooth else "active_set"


def not_unique(kernel: Kernel) -> str:
    """Why ``kernel``'s equilibrium may not be unique, or ``""``.

    With ideal or PWL diodes (flat pieces of ``F``) the equilibrium is unique
    when ``sym(H) ≻ 0``. A margin ``λ_min(sym H)`` at round-off leaves room for
    a family of equilibria: e.g. a node held only by blocking diodes, at any
    voltage between their other terminals. ngspice picks one with the ``gmin``
    it puts across every junction; the nodal route does the same.
    """
    if kernel.n == 0 or kernel.smooth:
        return ""
    scale = float(kernel.H.abs().max())
    if kernel.margin > 1e-12 * max(scale, 1e-300):
        return ""
    return (f"the kernel is not strictly monotone (λ_min(sym H) = {kernel.margin:.1e} S), "
            "so its equilibrium need not be unique (antiparallel ideal diodes, or a node "
            "held only by blocking diodes)")


#: how many nVt below BV a junction's reverse voltage may come before the
#: built-in simulator refuses (breakdown current < IBV·e^-30 there)
BREAKDOWN_GUARD = 30.0


@dataclass
class OperatingPoints(NodeVoltages):
    """A batch of DC operating points.

    ``voltages`` (batch, len(nodes)) in volts, ground left out;
    ``source_currents`` (batch, len(sources)) in amperes for the voltage
    sources, SPICE's sign (from ``+`` through the source to ``-``).
    """

    nodes: list[str]
    voltages: np.ndarray
    sources: list[str]
    source_currents: np.ndarray
    backend: str
    route: str = "kernel"

    def current(self, source: str) -> np.ndarray:
        """The current of voltage source ``source`` for every sample (SPICE's sign)."""
        name = str(source).lower()
        try:
            return self.source_currents[:, self.sources.index(name)]
        except ValueError:
            raise KeyError(f"no branch current for {name!r}; have {self.sources}") from None


class BuiltinSimulator:
    """DC operating points of ``circuit`` by the kernel route.

    Parameters
    ----------
    circuit:
        any circuit the netlist reader accepts (ideal, PWL or Shockley diodes,
        sources, controlled sources, transformers, gyrators).
    route:
        ``"kernel"`` or ``"nodal"`` to force a route; ``None`` (default): the
        kernel route, and the nodal route when the kernel route cannot solve
        the circuit (``OperatingPoints.route`` says which ran).
    method, tol:
        passed to ``Kernel.solve`` (``tol`` relative to each element's current
        scale, see ``Kernel.element_scale``); the default is ``exact_method``.
    """

    backend = "builtin"

    def __init__(
        self,
        circuit: Circuit,
        *,
        method: str | None = None,
        tol: float = 1e-12,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
        route: str | None = None,
    ) -> None:
        if route not in (None, "kernel", "nodal"):
            raise ValueError(f"route must be 'kernel', 'nodal' or None, got {route!r}")
        if not dtype.is_floating_point or dtype.is_complex:
            raise ValueError(f"dtype must be a real floating-point dtype, got {dtype}")
        # checked here: a bad setting must not read as "no kernel" and quietly
        # send the circuit to the nodal route
        if method is not None and method not in METHODS:
            raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
        if not (is_real(tol) and math.isfinite(tol) and tol > 0):
            raise ValueError(f"tol must be a relative tolerance > 0, got {tol!r}")
        # a copy, as NgspiceSimulator keeps: the kernel is built from it once, and an
        # edit of the caller's circuit afterwards must not half-reach this simulator
        circuit = circuit.copy()
        self.circuit = circuit
        self._route = route
        self.method = method
        self.tol = tol
        self.source_names = [s.name for s in circuit.sources]
        self.nodal: NodalNewton | None = None
        self.fallback_reason = ""
        self.kernel: CircuitKernel | None = None
        unmodelled = [f"{d.name}: IKF/IKR/ISR are outside the kernel's Shockley relation"
                      for d in circuit.diodes
                      if isinstance(d.model, ShockleyDiode) and not d.model.plain]
        unmodelled += unmodelled_options(circuit)
        if route == "nodal" or (route is None and unmodelled):
            self.fallback_reason = unmodelled[0] if unmodelled else "asked for"
            self.nodal = NodalNewton(circuit)
        else:
            try:
                self.kernel = extract_kernel(circuit, self.source_names, dtype=dtype,
                                             device=device)
            except (ValueError, np.linalg.LinAlgError) as exc:
                if route == "kernel":
                    raise
                self.fallback_reason = str(exc)
                try:
                    self.nodal = NodalNewton(circuit)
                except NodalError:
                    raise exc from None
            else:
                reason = not_unique(self.kernel)
                if reason and route is None:
                    try:
                        self.nodal = NodalNewton(circuit)
                    except NodalError:
                        pass  # the kernel's answer stands: one equilibrium of several
                    else:
                        self.kernel = None
                        self.fallback_reason = (f"{reason}; the nodal route picks ngspice's "
                                                "(gmin across every junction)")
        dev = self.kernel.device if self.kernel is not None else device
        self.defaults = torch.tensor([s.dc for s in circuit.sources], dtype=dtype, device=dev)
        self.dtype = dtype
        self._breakdown = breakdown_limits(circuit, self.kernel) if self.kernel is not None else []
        self.route = "kernel" if self.kernel is not None else "nodal"
        # one factorisation/state for every batch solved on this circuit
        self._solver = (CachedSolver(exact_method(self.kernel, self.method), tol=self.tol)
                        if self.kernel is not None else None)

    def input_matrix(
        self, values: np.ndarray | Tensor | None = None, names: Sequence[str] | None = None
    ) -> Tensor:
        """All source values per sample: the netlist's, with ``names`` overridden."""
        names = list(self.source_names) if names is None else [n.lower() for n in names]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"source names repeat: {', '.join(repeated)}")
        unknown = [n for n in names if n not in self.source_names]
        if unknown:
            raise ValueError(
                f"{unknown[0]!r} is not an independent source of the circuit "
                f"(sources: {', '.join(self.source_names) or 'none'})"
            )
        if values is None:
            return self.defaults.reshape(1, -1)
        values_t = torch.as_tensor(values, dtype=self.dtype, device=self.defaults.device)
        if not bool(torch.isfinite(values_t).all()):
            raise ValueError("inputs must be finite (NaN or inf given)")
        if values_t.ndim == 1:
            values_t = values_t.reshape(1, -1)
        if values_t.ndim != 2:
            raise ValueError(f"inputs must be (batch, {len(names)}), got shape "
                             f"{tuple(values_t.shape)}")
        if values_t.shape[1] != len(names):
            raise ValueError(
                f"inputs have {values_t.shape[1]} columns but {len(names)} source names"
            )
        u = self.defaults.repeat(values_t.shape[0], 1)
        for j, name in enumerate(names):
            u[:, self.source_names.index(name)] = values_t[:, j]
        return u

    def solve(self, u: Tensor) -> Equilibrium:
        if self.kernel is None or self._solver is None:
            raise ValueError(f"no kernel for this circuit ({self.fallback_reason})")
        return self._solver.solve(self.kernel, u)

    def check_breakdown(self, eq: Equilibrium) -> None:
        """Raise ``ValueError`` when a junction reaches breakdown (see ``check_breakdown``)."""
        check_breakdown(self._breakdown, eq.z)

    def operating_points(
        self,
        u: np.ndarray | Tensor | None = None,
        sources: Sequence[str] | None = None,
        *,
        values: np.ndarray | Tensor | None = None,
        names: Sequence[str] | None = None,
    ) -> OperatingPoints:
        """Operating points, one per row of ``u`` (batch, len(sources)).

        ``sources`` name the columns (default: every independent source, in
        netlist order); the other sources keep their netlist values.
        ``u=None``: one operating point at the netlist's values. The same
        call as ``NgspiceSimulator.operating_points``. ``values``/``names``
        are the former names of ``u``/``sources`` and still work.
        """
        if values is not None or names is not None:
            if u is not None or sources is not None:
                raise TypeError("give u/sources or their old names values/names, not both")
            u, sources = values, names
        u = self.input_matrix(u, sources)
        if self.kernel is not None:
            try:
                eq = self.solve(u)
                self.check_breakdown(eq)
            except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
                if self._route == "kernel":
                    raise
                reason = str(exc).split(", which")[0]
                # torch's "input matrix is singular" says nothing a user can act
                # on; the nodal route's own refusal below names the real reason
                self.fallback_reason = "" if reason.startswith("torch.") else reason
                self.nodal = NodalNewton(self.circuit)
            else:
                v = self.kernel.node_voltages(eq.z, u)
                j = self.kernel.source_currents(eq.z, u)
                return OperatingPoints(
                    nodes=list(self.kernel.node_names),
                    voltages=v.detach().cpu().numpy(),
                    sources=list(self.kernel.source_names),
                    source_currents=j.detach().cpu().numpy(),
                    backend=self.backend,
                    route="kernel",
                )
        assert self.nodal is not None
        rows = u.detach().cpu().numpy()
        volts, amps = [], []
        for row in rows:
            try:
                vv, ii = self.nodal.solve(dict(zip(self.source_names, row.tolist())))
            except NodalError as exc:
                raise ValueError(f"nodal route: {exc}"
                                 + (f" (kernel route: {self.fallback_reason})"
                                    if self.fallback_reason else "")) from None
            volts.append(vv)
            amps.append(ii)
        return OperatingPoints(
            nodes=list(self.nodal.node_names),
            voltages=np.array(volts).reshape(len(rows), len(self.nodal.node_names)),
            sources=list(self.nodal.sources),
            source_currents=np.array(amps).reshape(len(rows), len(self.nodal.sources)),
            backend=self.backend,
            route="nodal",
        )
