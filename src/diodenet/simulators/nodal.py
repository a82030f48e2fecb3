"""The built-in simulator's second route: damped Newton on the full MNA.

The kernel route (``builtin``) needs every junction to be a port of a linear
network and a plain Shockley (or ideal/PWL) relation. Circuits outside that
(diodes with ``IKF``/``ISR``/``IKR``, a junction in breakdown, parallel
Shockley diodes that close loops of voltage sources, circuits whose reduced
network is singular although the full one is not) are solved here, the way
SPICE solves them: unknowns ``x = [node voltages; branch currents]``, KCL and
branch equations ``f(x) = 0`` with every junction's ngspice law
(``circuits.junction``, ``gmin`` in parallel), and Newton steps
``J dx = -f`` damped so that no junction voltage rises by more than SPICE's
``pnjlim`` allows (``.options rshunt``: a conductance from every node to
ground, as ngspice adds it). As in ngspice, the first step linearizes every
junction at its critical voltage rather than at the 0 V the nodes start
from: where a circuit has several operating points that start picks the
one ngspice finds. If plain Newton stalls, gmin stepping (1e-3 S down to the
circuit's gmin) and then source stepping are tried.

Ideal and PWL diodes (which have no smooth law) are first replaced by
Shockley stand-ins (a soft knee for ideal diodes, the ngspice writer's for
PWL ones); from that solution each one is
taken on (a ``vf`` source in series with ``ron``) or off (open), the circuit
with those states is solved exactly (least squares where on-diodes close a
loop, so the loop current is the smallest that fits), and states that violate
``i >= 0`` (on) or ``v <= vf`` (off) are flipped, worst first, until every
diode is consistent: the exact operating point of the ideal circuit.

Convergence: ``|dx| <= vntol + reltol·|x|`` for the voltages and the KCL
residual below ``abstol + reltol·(largest current in the circuit)``, with
``reltol = 1e-10``, ``vntol = 1e-12`` V, ``abstol = 1e-16`` A by default. A
failure raises ``ValueError`` with the residual.
"""

from __future__ import annotations

import math

import numpy as np

from ..circuits import (
    CCCS,
    CCVS,
    VCCS,
    VCVS,
    Circuit,
    CurrentSource,
    Diode,
    Resistor,
    ShockleyDiode,
    VoltageSource,
)
from ..circuits.diode_models import GMIN, IdealDiode, PWLDiode, thermal_voltage
from ..circuits.junction import breakdown_voltage, junction_current, within_law
from ..circuits.netlist.writer import spice_diode_model

MAX_ITERATIONS = 300


class NodalError(ValueError):
    """The nodal route cannot solve this circuit (the message says why)."""


class NodalNewton:
    """Operating points of ``circuit`` by Newton on its full MNA (see the module)."""

    def __init__(self, circuit: Circuit, *, reltol: float = 1e-10, vntol: float = 1e-12,
                 abstol: float = 1e-16, least_squares: bool = False) -> None:
        self.circuit = circuit
        self.least_squares = least_squares
        self.exact: list[Diode] = []  # ideal and PWL diodes (see the module docstring)
        self._states: dict[tuple[bool, ...], NodalNewton] = {}
        self.reltol, self.vntol, self.abstol = reltol, vntol, abstol
        self.gmin = float(circuit.options.get("gmin", GMIN))
        # ngspice's .options rshunt: a resistor from every node to ground
        rshunt = float(circuit.options.get("rshunt", 0.0))
        self.gshunt = 1.0 / rshunt if rshunt > 0 else 0.0
        nodes = list(circuit.nodes)
        self.node_names = list(nodes)
        self.diodes: list[tuple[Diode, ShockleyDiode, float | None]] = []
        for e in circuit:
            if isinstance(e, Diode):
                model = e.model
                if isinstance(model, IdealDiode | PWLDiode):
                    # only a first guess of the on/off states: a soft knee converges
                    # fast, and the state iteration corrects what it gets wrong
                    self.exact.append(e)
                    model = (ShockleyDiode(is_=1e-14, n=0.1) if isinstance(model, IdealDiode)
                             else spice_diode_model(model))
                self.diodes.append((e, model, breakdown_voltage(model)))
                if model.rs > 0:
                    nodes.append(f"{e.name}#junction")
            elif not isinstance(e, Resistor | VoltageSource | CurrentSource | VCVS | VCCS
                                | CCCS | CCVS):
                raise NodalError(f"{e.name}: the nodal route does not model a {e.kind}")
        self.index = {n: k for k, n in enumerate(nodes)}
        self.branches = [e.name for e in circuit if isinstance(e, VoltageSource | VCVS | CCVS)]
        self.sources = [e.name for e in circuit if isinstance(e, VoltageSource)]
        self.n_nodes = len(nodes)
        self.size = self.n_nodes + len(self.branches)
        self.branch = {b: self.n_nodes + k for k, b in enumerate(self.branches)}
        for e in circuit:
            if isinstance(e, CCCS | CCVS) and e.control not in self.branch:
                raise NodalError(f"{e.name}: controlling source {e.control!r} not found")

    def _node(self, name: str) -> int:
        return -1 if name == "0" else self.index[name]

    def _system(
        self, x: np.ndarray, values: dict[str, float], gshunt: float, scale: float,
        at: list[float] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """``f(x)``, ``J(x)`` and the largest element current (for tolerances).
        ``at``: the junction voltages to linearize each diode at instead of
        ``x``'s (SPICE's first iteration, see ``_junction_start``)."""
        f = np.zeros(self.size)
        J = np.zeros((self.size, self.size))
        biggest = 0.0
        self._roundoff = 0.0  # the KCL residual that rounding alone leaves
        # a junction past junction_current's cap on its exponential (forward, or
        # past breakdown): there the law is no longer the diode's, so no answer converges
        self._beyond_law = False

        def v(node: int) -> float:
            return 0.0 if node < 0 else x[node]

        def add(row: int, col: int, value: float) -> None:
            if row >= 0 and col >= 0:
                J[row, col] += value

        def inject(row: int, value: float) -> None:
            if row >= 0:
                f[row] += value

        def conductance(a: int, b: int, g: float) -> None:
            i = g * (v(a) - v(b))
            self._roundoff = max(self._roundoff, g * max(abs(v(a)), abs(v(b))))
            inject(a, i)
            inject(b, -i)
            add(a, a, g)
            add(a, b, -g)
            add(b, a, -g)
            add(b, b, g)

        gshunt += self.gshunt  # gmin stepping and rshunt: a shunt on every node
        for k in range(self.n_nodes):
            if gshunt:
                f[k] += gshunt * x[k]
                J[k, k] += gshunt
        for e in self.circuit:
            if isinstance(e, Resistor):
                a, b = self._node(e.n1), self._node(e.n2)
                conductance(a, b, e.g)
                biggest = max(biggest, abs(e.g * (v(a) - v(b))))
            elif isinstance(e, CurrentSource):
                value = scale * values.get(e.name, e.dc)
                inject(self._node(e.pos), value)
                inject(self._node(e.neg), -value)
                biggest = max(biggest, abs(value))
            elif isinstance(e, VCCS):
                a, b = self._node(e.pos), self._node(e.neg)
                c, d_ = self._node(e.cpos), self._node(e.cneg)
                i = e.gm * (v(c) - v(d_))
                inject(a, i)
                inject(b, -i)
                for row, sign in ((a, 1.0), (b, -1.0)):
                    add(row, c, sign * e.gm)
                    add(row, d_, -sign * e.gm)
            elif isinstance(e, CCCS):
                a, b = self._node(e.pos), self._node(e.neg)
                k = self.branch[e.control]
                inject(a, e.gain * x[k])
                inject(b, -e.gain * x[k])
                add(a, k, e.gain)
                add(b, k, -e.gain)
            elif isinstance(e, VoltageSource | VCVS | CCVS):
                a, b = self._node(e.pos), self._node(e.neg)
                k = self.branch[e.name]
                inject(a, x[k])
                inject(b, -x[k])
                add(a, k, 1.0)
                add(b, k, -1.0)
                f[k] = v(a) - v(b)
                add(k, a, 1.0)
                add(k, b, -1.0)
                biggest = max(biggest, abs(x[k]))
                if isinstance(e, VCVS):
                    c, d_ = self._node(e.cpos), self._node(e.cneg)
                    f[k] -= e.gain * (v(c) - v(d_))
                    add(k, c, -e.gain)
                    add(k, d_, e.gain)
                elif isinstance(e, CCVS):
                    f[k] -= e.rm * x[self.branch[e.control]]
                    J[k, self.branch[e.control]] -= e.rm
                else:
                    f[k] -= scale * values.get(e.name, e.dc)
        for k, (d, model, bv) in enumerate(self.diodes):
            a, c = self._node(d.anode), self._node(d.cathode)
            j = self.index[f"{d.name}#junction"] if model.rs > 0 else a
            if model.rs > 0:
                conductance(a, j, 1.0 / model.rs)
            vd = float(v(j) - v(c))
            if at is not None:  # the tangent at at[k], evaluated at vd
                i, g = junction_current(model, at[k], self.gmin, bv)
                i += g * (vd - at[k])
            else:
                if not within_law(model, vd, bv):
                    self._beyond_law = True
                i, g = junction_current(model, vd, self.gmin, bv)
            inject(j, i)
            inject(c, -i)
            add(j, j, g)
            add(j, c, -g)
            add(c, j, -g)
            add(c, c, g)
            biggest = max(biggest, abs(i))
        return f, J, biggest

    def _limit(self, x: np.ndarray, dx: np.ndarray, at: list[float] | None = None) -> float:
        """The step fraction that keeps every junction within SPICE's pnjlim: on
        its forward voltage, and, as ngspice does past breakdown, on the voltage
        beyond ``-BV'`` (the breakdown law is the same exponential, mirrored).
        ``at``: the junction voltages the step was linearized at, if not ``x``'s
        (the limit is taken from them, as SPICE limits from its stored state)."""
        alpha = 1.0
        for k, (d, model, bv) in enumerate(self.diodes):
            a, c = self._node(d.anode), self._node(d.cathode)
            j = self.index[f"{d.name}#junction"] if model.rs > 0 else a
            # Python floats: an overflow is inf, without numpy's warning
            now = float((x[j] if j >= 0 else 0.0) - (x[c] if c >= 0 else 0.0))
            new = now + float((dx[j] if j >= 0 else 0.0) - (dx[c] if c >= 0 else 0.0))
            old = now if at is None else at[k]
            vt = thermal_voltage(model.temp)
            limited = _pnjlim(new, old, model.n * vt, model.is_)
            if bv is not None:  # w = -(v + BV'): the breakdown junction's forward voltage
                vtb = (model.nbv if model.nbv is not None else model.n) * vt
                w = -bv - limited
                w_limited = _pnjlim(w, -bv - old, vtb, model.is_)
                # only a step that was limited comes back: -bv - (-bv - v) need not be v,
                # and a junction pinned by a source would then see its round-off
                # "limited" and every step cut to the floor
                if w_limited != w:
                    limited = -bv - w_limited
            if new != now and limited != new:
                alpha = min(alpha, max((limited - now) / (new - now), 1e-6))
        return alpha

    def _newton(self, x: np.ndarray, values: dict[str, float], gshunt: float,
                scale: float, iterations: int = MAX_ITERATIONS,
                at: list[float] | None = None) -> tuple[np.ndarray, bool, float]:
        """Damped Newton from ``x``; ``at``: the first step's junction voltages
        (``_junction_start``), else ``x``'s. ``(x, converged, KCL residual)``."""
        residual = math.inf
        for iteration in range(iterations):
            first = at if iteration == 0 else None
            f, J, biggest = self._system(x, values, gshunt, scale, first)
            try:
                dx = np.linalg.solve(J, -f)
            except np.linalg.LinAlgError:
                if not self.least_squares:
                    if iteration > 0:  # the topology was fine where Newton started
                        raise NodalError("Newton met a singular Jacobian (a junction driven "
                                         "to an extreme voltage)") from None
                    raise NodalError("the circuit's MNA is singular (a floating node, a loop "
                                     "of voltage sources, or a current source with nowhere "
                                     "to go)") from None
                dx = np.linalg.lstsq(J, -f, rcond=None)[0]
            if not np.all(np.isfinite(dx)):
                raise NodalError("the circuit's MNA is singular (non-finite Newton step)")
            x = x + self._limit(x, dx, first) * dx
            if first is not None:
                continue  # f was the tangents', not x's: no convergence to judge
            kcl = np.abs(f[: self.n_nodes]).max(initial=0.0)
            residual = kcl
            small = np.all(np.abs(dx[: self.n_nodes])
                           <= self.vntol + self.reltol * np.abs(x[: self.n_nodes]))
            floor = 64 * np.finfo(float).eps * self._roundoff
            volts = float(np.abs(x[: self.n_nodes]).max(initial=0.0))
            kvl = np.abs(f[self.n_nodes:]).max(initial=0.0)  # branch equations (V)
            if small and kcl <= self.abstol + self.reltol * biggest * 10 + floor \
                    and kvl <= 1e3 * self.vntol + self.reltol * volts and not self._beyond_law:
                return x, True, residual
        return x, False, residual

    def _operating_point(self, values: dict[str, float], guess: bool = False) -> np.ndarray:
        x0 = np.zeros(self.size)
        if self.least_squares and not self.diodes:
            # linear: one least-squares step solves it, or nothing does
            x, ok, residual = self._newton(x0, values, 0.0, 1.0, iterations=4)
            if not ok:
                raise NodalError(f"no solution (least-squares KCL residual {residual:.3g} A)")
            return x
        x, ok, residual = self._newton(x0, values, 0.0, 1.0, at=self._junction_start())
        if guess and not ok:
            return x  # a first guess of the diode states is all that is needed
        if not ok:  # gmin stepping
            x = x0
            for gshunt in [10.0 ** -k for k in range(3, 13)] + [0.0]:
                x, ok, residual = self._newton(x, values, gshunt, 1.0)
            if not ok:  # source stepping
                x = x0
                for scale in np.linspace(0.05, 1.0, 20):
                    x, ok, residual = self._newton(x, values, 0.0, float(scale))
        if not ok:
            hint = ("; with ideal or PWL diodes this means a current source has nowhere to "
                    "go" if self.exact and any(isinstance(e, CurrentSource)
                                               for e in self.circuit) else "")
            raise NodalError(f"Newton did not converge (KCL residual {residual:.3g} A after "
                             f"gmin and source stepping){hint}")
        return x

    def _junction_start(self) -> list[float]:
        """Each junction's voltage for Newton's first step: SPICE's critical
        voltage ``n·Vt·ln(n·Vt/(√2 Is))``, where ngspice puts every diode not
        marked ``off`` before its first iteration (its ``MODEINITJCT``), while
        the nodes start at 0 V. Where a circuit has several operating points
        (positive feedback through a controlled source), the start decides
        which one Newton finds; from 0 V it found 0 V where ngspice finds the
        conducting one."""
        start = []
        for _, model, _ in self.diodes:
            vte = model.n * thermal_voltage(model.temp)
            start.append(vte * math.log(vte / (math.sqrt(2) * model.is_)))
        return start

    def solve(self, values: dict[str, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(node voltages, voltage-source currents)`` for source values ``values``
        (by name; the netlist's elsewhere)."""
        values = values or {}
        x = self._operating_point(values, guess=bool(self.exact))
        if self.exact:
            return self._exact(x, values)
        v = x[: len(self.node_names)]
        i = np.array([x[self.branch[s]] for s in self.sources])
        return v, i

    # ------------------------------------------------------- ideal and PWL
    def _with_states(self, on: tuple[bool, ...]) -> NodalNewton:
        if on not in self._states:
            c = Circuit(self.circuit.title)
            c.options = dict(self.circuit.options)
            states = dict(zip((d.name for d in self.exact), on))
            for e in self.circuit:
                if e.name not in states:
                    c.add(e)
                elif states[e.name]:
                    d = e
                    assert isinstance(d, Diode) and isinstance(d.model, IdealDiode | PWLDiode)
                    vf, ron = (d.model.vf, d.model.ron) if isinstance(d.model, PWLDiode) \
                        else (0.0, 0.0)
                    mid = f"{d.name}#on" if ron > 0 else d.cathode
                    c.add(VoltageSource(f"v#{d.name}", d.anode, mid, vf))
                    if ron > 0:
                        c.add(Resistor(f"r#{d.name}", mid, d.cathode, resistance=ron))
            self._states[on] = NodalNewton(c, reltol=self.reltol, vntol=self.vntol,
                                           abstol=self.abstol, least_squares=True)
        return self._states[on]

    def _exact(self, standin: np.ndarray, values: dict[str, float]
               ) -> tuple[np.ndarray, np.ndarray]:
        scale_i = max((abs(standin[k]) for k in range(self.n_nodes, self.size)), default=0.0)
        scale_v = float(np.abs(standin[: self.n_nodes]).max(initial=0.0))
        # the stand-in's conducting diodes start on (current above 1e-6 of the scale)
        on, drawn = [], []
        for d, model, bv in self.diodes:
            if d in self.exact:
                j = self.index[f"{d.name}#junction"] if model.rs > 0 else self._node(d.anode)
                c = self._node(d.cathode)
                vj = (standin[j] if j >= 0 else 0.0) - (standin[c] if c >= 0 else 0.0)
                i, _ = junction_current(model, vj, 0.0, bv)
                on.append(i > 1e-6 * max(scale_i, 1e-9))
                drawn.append(i)
        tol_v = 1e-9 * max(scale_v, 1.0)
        seen: set[tuple[bool, ...]] = set()
        for _ in range(4 * len(self.exact) + 4):
            state = tuple(on)
            seen.add(state)
            sub = self._with_states(state)
            try:
                x = sub._operating_point(values)
            except NodalError:
                # no solution with these states (on-diodes forced by sources, or a
                # current with nowhere to go): turn off the weakest conducting diode
                candidates = [k for k in range(len(on)) if on[k]]
                if not candidates:
                    off = [d.name for d in self.exact]
                    raise NodalError(
                        f"no operating point: with {', '.join(off)} blocking, KCL cannot "
                        "hold (a current source with nowhere to go)") from None
                on[min(candidates, key=lambda k: drawn[k])] = False
                if tuple(on) in seen:
                    break
                continue
            currents = dict(zip(sub.sources, (x[sub.branch[s]] for s in sub.sources)))
            tol_i = 1e-9 * max(scale_i, max((abs(i) for i in currents.values()), default=0.0),
                               1e-12)
            worst, flip = 0.0, -1
            for k, d in enumerate(self.exact):
                if on[k]:
                    bad = -currents[f"v#{d.name}"] / tol_i
                else:
                    vf = d.model.vf if isinstance(d.model, PWLDiode) else 0.0
                    a, c = sub.index.get(d.anode, -1), sub.index.get(d.cathode, -1)
                    va = x[a] if a >= 0 else (standin[self._node(d.anode)]
                                              if d.anode != "0" else 0.0)
                    vc = x[c] if c >= 0 else (standin[self._node(d.cathode)]
                                              if d.cathode != "0" else 0.0)
                    bad = (va - vc - vf) / tol_v
                if bad > 1.0 and bad > worst:
                    worst, flip = bad, k
            if flip < 0:
                volts = np.array([x[sub.index[n]] if n in sub.index else standin[self.index[n]]
                                  for n in self.node_names])
                return volts, np.array([currents[s] for s in self.sources])
            on[flip] = not on[flip]
            if tuple(on) in seen:
                break
        raise NodalError("no consistent on/off state of the ideal and PWL diodes: the "
                         "circuit has no operating point (a diode forward-biased by voltage "
                         "sources alone, or a current source with nowhere to go)")


def _pnjlim(new: float, old: float, vt: float, i_s: float) -> float:
    """SPICE's ``pnjlim``: ``new`` limited to a logarithmic step from ``old``
    above the junction's critical voltage ``vt·ln(vt/(√2 Is))``."""
    vcrit = vt * math.log(vt / (math.sqrt(2) * i_s))
    if new <= vcrit or abs(new - old) <= 2 * vt:
        return new
    if old > 0:
        arg = 1 + (new - old) / vt
        return old + vt * math.log(arg) if arg > 0 else vcrit
    return vt * math.log(new / vt)
