"""Gradient benchmark: hardware linearization against the alternatives.

One fixed, seeded resistor–diode circuit (25 nodes, 100 trainable resistors,
8 1N4148 Shockley diodes, 4 voltage inputs, 2 voltage outputs), one batch, the
loss ``L = Σ_samples ½‖y − t‖²``, and for each backend (builtin, ngspice):

* **HL**, hardware linearization (``hardware_gradient``): one forward settle
  and one adjoint settle of the linearized circuit per sample, then
  ``∂L/∂g_k = −Σ v_k v̂_k``.
* **FD fwd**, forward differences: one base settle plus one settle per
  conductance (``P + 1`` settles per sample), ``g_k → g_k (1 + 1e-6)``.
* **FD ctr**, central differences: two settles per conductance (``2P``),
  ``g_k → g_k (1 ± 1e-4)``; the accuracy check of HL.
* **.sens** (ngspice only): one ngspice ``.sens v(out_j)`` analysis per sample
  and output; ``∂y_j/∂g_k = −R_k² ∂y_j/∂R_k``, then chained with ``∂L/∂y``.
* **EqProp** (Scellier & Bengio 2017): a free settle and a nudged settle of the
  full nonlinear circuit, sources on, with a current ``−β ḡ ∂L/∂y_j`` injected
  into output node ``j``. Derivation: the operating point minimises the
  co-content ``E(V) = Σ_k ½ g_k v_k² + Σ_diodes ∫ i dv`` over the free node
  voltages; ``F = E + β ḡ L`` is stationary where the element currents leaving
  output node ``j`` equal ``−β ḡ ∂L/∂y_j``, i.e. that current is injected.
  Since ``∂E/∂g_k = ½ v_k²``, ``dL/dg_k = lim (½ (v_k^β)² − ½ (v_k^0)²)/(β ḡ)``.
  ``β`` is dimensionless: ``ḡ`` (S) is the median trainable conductance, so the
  nudge moves the outputs by about ``β ∂L/∂y`` volts whatever the network's
  conductance level. "EqProp sym" nudges by ``±β`` (3 settles per sample), which
  cancels the O(β) bias (Laborieux et al. 2021).

Errors are ``max_k |ĝ_k − g_k^HL| / max_k |g_k^HL|`` against the same backend's
HL gradient over the same samples. Speed is best-of-repeats wall time
(samples per second) on whatever else the machine is doing: noisy.

Run: .venv/bin/python benchmarks/gradients.py [--quick] [--batch 64] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import numpy as np

from diodenet import D1N4148, Circuit
from diodenet.linearization import (
    BuiltinHardware,
    Hardware,
    NgspiceHardware,
    hardware_gradient,
    loss_gradient,
    sse_loss,
)

INPUTS = ["v1", "v2", "v3", "v4"]
OUTPUTS = ["n24", "n18"]

T = TypeVar("T")


def benchmark_circuit(seed: int = 0, nodes: int = 25, resistors: int = 100, diodes: int = 8,
                      inputs: int = 4) -> Circuit:
    """A connected random network: input source ``Vi`` drives node ``n{i-1}``
    through a resistor, a chain ``n0–n1–…`` keeps it connected, 12 nodes have a
    resistor to ground, random extra edges bring it to ``resistors`` resistors
    (1–10 kΩ, log-uniform) and ``diodes`` 1N4148s join random node pairs (or
    ground) in random orientation."""
    if resistors < inputs + nodes - 1 + 12:
        raise ValueError("resistors must cover the inputs, the chain and 12 ground legs")
    rng = np.random.default_rng(seed)
    c = Circuit(f"gradient benchmark seed {seed}")
    names = [f"n{i}" for i in range(nodes)]
    edges = []
    for i in range(inputs):
        c.add_voltage_source(f"V{i + 1}", f"in{i + 1}", "0", 0.0)
        edges.append((f"in{i + 1}", names[i]))
    edges += [(names[i], names[i + 1]) for i in range(nodes - 1)]
    edges += [(names[i], "0") for i in rng.choice(nodes, 12, replace=False)]
    seen = {frozenset(e) for e in edges}
    while len(edges) < resistors:
        a, b = rng.choice(nodes, 2, replace=False)
        if frozenset((names[a], names[b])) not in seen:
            seen.add(frozenset((names[a], names[b])))
            edges.append((names[a], names[b]))
    for k, (a, b) in enumerate(edges):
        r = float(np.exp(rng.uniform(np.log(1e3), np.log(1e4))))
        c.add_resistor(f"R{k}", a, b, resistance=r)
    ends = [*names, "0"]
    for k in range(diodes):
        a, b = rng.choice(nodes + 1, 2, replace=False)
        c.add_diode(f"D{k}", ends[a], ends[b], D1N4148)
    return c


def with_nudge_sources(circuit: Circuit, outputs: list[str]) -> tuple[Circuit, list[str]]:
    """A copy with a 0 A current source injecting into each output node (the
    EqProp nudge; zero in the free phase)."""
    c = circuit.copy()
    names = []
    for j, node in enumerate(outputs):
        c.add_current_source(f"Inudge{j}", "0", node, 0.0)  # injects into `node`
        names.append(f"inudge{j}")
    return c, names


@dataclass
class Row:
    backend: str
    method: str
    samples_per_s: float
    settles_per_sample: str
    error: float | None
    note: str = ""


def rel_error(est: np.ndarray, ref: np.ndarray) -> float:
    """``max |est − ref| / max |ref|``."""
    return float(np.abs(est - ref).max() / np.abs(ref).max())


def timed(fn: Callable[[], T], repeats: int) -> tuple[T, float]:
    """``fn()``'s last result and its best wall time (s) over ``repeats``."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def fd_gradient(hw: Hardware, u: np.ndarray, targets: np.ndarray, central: bool) -> np.ndarray:
    """∂L/∂g by perturbing one conductance at a time (relative step 1e-4
    central, 1e-6 forward: each near its truncation/solver-noise optimum)."""
    g0 = hw.conductances()

    def loss_at(g: np.ndarray) -> float:
        hw.set_conductances(g)
        return float(0.5 * ((hw.settle(u).outputs - targets) ** 2).sum())

    step = 1e-4 if central else 1e-6
    base = None if central else loss_at(g0)
    grad = np.zeros_like(g0)
    try:
        for k in range(len(g0)):
            g = g0.copy()
            g[k] = g0[k] * (1 + step)
            up = loss_at(g)
            if central:
                g[k] = g0[k] * (1 - step)
                grad[k] = (up - loss_at(g)) / (2 * step * g0[k])
            else:
                assert base is not None  # measured above when not central
                grad[k] = (up - base) / (step * g0[k])
    finally:
        hw.set_conductances(g0)
    return grad


def eqprop_gradient(hw: Hardware, u: np.ndarray, targets: np.ndarray, beta: float,
                    g_ref: float, symmetric: bool = False) -> np.ndarray:
    """EqProp estimate of ∂L/∂g on ``hw`` (built on ``with_nudge_sources``;
    its last inputs are the nudge currents, A)."""
    p = targets.shape[1]
    free = hw.settle(np.hstack([u, np.zeros((len(u), p))]))
    _, g_y = loss_gradient(sse_loss(targets), free.outputs)
    b = beta * g_ref  # S: nudge current per volt of ∂L/∂y

    def energy_slope(sign: float) -> np.ndarray:
        m = hw.settle(np.hstack([u, -sign * b * g_y]))  # inject −β ḡ ∂L/∂y
        return 0.5 * (m.branch_voltages ** 2).sum(axis=0)

    if symmetric:
        return (energy_slope(+1) - energy_slope(-1)) / (2 * b)
    return (energy_slope(+1) - 0.5 * (free.branch_voltages ** 2).sum(axis=0)) / b


def sens_gradient(hw: NgspiceHardware, u: np.ndarray, g_y: np.ndarray) -> tuple[np.ndarray, int]:
    """∂L/∂g from ngspice ``.sens v(out_j)`` per sample and output, and how many
    (sample, output, resistor) entries ``.sens`` reported as exactly 0."""
    R = 1.0 / hw.conductances()
    grad = np.zeros(len(R))
    zeros = 0
    for s in range(len(u)):
        for j, node in enumerate(OUTPUTS):
            res = hw.sim.sensitivity(u[s], hw.inputs, f"v({node})")
            dy_dR = np.array([res.get(name, np.nan) for name in hw.trainable])  # V/Ω
            zeros += int(np.sum(dy_dR == 0))
            grad += g_y[s, j] * (-(R ** 2) * dy_dR)  # dg = −dR/R²
    return grad, zeros


def sens_crosscheck() -> str:
    """``.sens`` against HL on the network the simulator's
    docstring measured it on (``testing.random_diode_network(0)``: 20 nodes,
    30 R, 10 1N4148s), output ``v(n13)``, one sample."""
    from diodenet.linearization import output_port
    from diodenet.testing import random_diode_network, random_inputs

    c = Circuit.from_spice(random_diode_network(0))
    ins = ["v0", "v1", "v2", "v3"]
    u = random_inputs(1)
    with NgspiceHardware(c, ins, ["n13"]) as hw:
        m = hw.settle(u)
        adj = hw.settle_linearized(m, {output_port(0): np.ones(1)}, adjoint=True)
        dy_dR = (m.branch_voltages * adj.branch_voltages)[0] * hw.conductances() ** -2
        res = hw.sim.sensitivity(u[0], ins, "v(n13)")
    sens = np.array([res[name] for name in hw.trainable])
    return (f".sens on examples.random_diode_network(0) (20 nodes, 30 R, 10 D), v(n13): "
            f"max rel. error vs HL {rel_error(sens, dy_dR):.1e}, {int(np.sum(sens == 0))} of "
            f"{len(sens)} dv/dR reported as 0, dv/dv0 reported as {res['v0']:g}")


def run_backend(hw: Hardware, hw_nudge: Hardware, u: np.ndarray, targets: np.ndarray,
                args: argparse.Namespace) -> list[Row]:
    name, batch, P = hw.name, len(u), len(hw.trainable)
    loss = sse_loss(targets)
    rows: list[Row] = []
    hardware_gradient(hw, u[:2], sse_loss(targets[:2]))  # warm-up (ngspice loads its netlist)
    before = hw.settles
    hl, t_hl = timed(lambda: hardware_gradient(hw, u, loss), args.repeats)
    spp = (hw.settles - before) / args.repeats / batch
    ref = hl.dL_dg
    _, t_fwd = timed(lambda: hw.settle(u), args.repeats)
    rows.append(Row(name, "HL (hardware linearization)", batch / t_hl, f"{spp:g}", None,
                    f"reference; per batch: forward settle {1e3 * t_fwd:.0f} ms, rest "
                    f"(loss + adjoint settle) {1e3 * max(t_hl - t_fwd, 0.0):.0f} ms"))

    fd_rows = [("FD fwd (step 1e-6)", False, P + 1)]
    if not args.quick:
        fd_rows.append(("FD ctr (step 1e-4)", True, 2 * P))
    for label, central, settles in fd_rows:
        fd, t_fd = timed(partial(fd_gradient, hw, u, targets, central), 1)
        rows.append(Row(name, label, batch / t_fd, str(settles), rel_error(fd, ref)))

    if isinstance(hw, NgspiceHardware):
        n = min(batch, args.sens_samples)
        m = hw.settle(u[:n])
        _, g_y = loss_gradient(sse_loss(targets[:n]), m.outputs)
        (sens, zeros), t_s = timed(lambda: sens_gradient(hw, u[:n], g_y), 1)
        ref_n = hardware_gradient(hw, u[:n], sse_loss(targets[:n])).dL_dg
        rows.append(Row(name, f".sens ({n} samples)", n / t_s,
                        f"{len(OUTPUTS)} .sens", rel_error(sens, ref_n),
                        f"{zeros} of {n * len(OUTPUTS) * P} dy/dR reported as 0"))

    g_ref = float(np.median(hw.conductances()))
    for beta, sym in [(0.1, False), (0.01, False), (0.01, True)]:
        label = f"EqProp {'sym ±' if sym else ''}β={beta:g}"
        ep, t_ep = timed(partial(eqprop_gradient, hw_nudge, u, targets, beta, g_ref, sym),
                         args.repeats)
        cos = float(ep @ ref / np.linalg.norm(ep) / np.linalg.norm(ref))
        rows.append(Row(name, label, batch / t_ep, "3" if sym else "2", rel_error(ep, ref),
                        f"cosine to HL {cos:+.4f}"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="batch 16, no central differences, .sens on 4 samples")
    ap.add_argument("--batch", type=int, default=None, help="samples per batch (default 64)")
    ap.add_argument("--workers", type=int, default=1, help="ngspice worker processes")
    ap.add_argument("--backend", choices=["builtin", "ngspice"], default=None)
    args = ap.parse_args()
    args.batch = args.batch or (16 if args.quick else 64)
    args.repeats = 2 if args.quick else 5
    args.sens_samples = 4 if args.quick else args.batch
    if args.batch < 2:
        raise SystemExit("--batch must be >= 2")

    from diodenet.utils import limit_threads

    limit_threads()
    c = benchmark_circuit(0)
    rng = np.random.default_rng(1)
    u = rng.uniform(-2.0, 2.0, (args.batch, len(INPUTS)))
    targets = rng.uniform(-0.3, 0.3, (args.batch, len(OUTPUTS)))
    nudged, nudges = with_nudge_sources(c, OUTPUTS)
    s = c.summary()
    print(f"circuit: {len(c.nodes)} nodes, {s['by_kind']}, outputs {OUTPUTS}; batch "
          f"{args.batch}; EqProp nudge current = β·ḡ·∂L/∂y with ḡ = median trainable "
          f"conductance = {np.median(c.conductances()):.3g} S; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n", flush=True)

    rows: list[Row] = []
    t0 = time.perf_counter()
    if args.backend in (None, "builtin"):
        rows += run_backend(BuiltinHardware(c, INPUTS, OUTPUTS),
                            BuiltinHardware(nudged, INPUTS + nudges, OUTPUTS), u, targets, args)
    if args.backend in (None, "ngspice"):
        with (NgspiceHardware(c, INPUTS, OUTPUTS, workers=args.workers) as hw,
              NgspiceHardware(nudged, INPUTS + nudges, OUTPUTS, workers=args.workers) as hwn):
            rows += run_backend(hw, hwn, u, targets, args)

    print("\n| backend | method | samples/s | settles/sample | max rel. error vs HL "
          "| × FD fwd speed | note |")
    print("|---|---|---|---|---|---|---|")
    fd_speed = {r.backend: r.samples_per_s for r in rows if r.method.startswith("FD fwd")}
    for r in rows:
        err = "—" if r.error is None else f"{r.error:.1e}"
        ratio = r.samples_per_s / fd_speed[r.backend]
        print(f"| {r.backend} | {r.method} | {r.samples_per_s:,.0f} | {r.settles_per_sample} "
              f"| {err} | {ratio:.1f}× | {r.note} |")
    if args.backend in (None, "ngspice"):
        print("\n" + sens_crosscheck())
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    for r in rows:
        if r.method.startswith("HL"):
            ratio = r.samples_per_s / fd_speed[r.backend]
            print(f"{r.backend}: HL {r.settles_per_sample} settles/sample (target ≤ 2: "
                  f"{'met' if float(r.settles_per_sample) <= 2 else 'MISSED'}); "
                  f"{ratio:.0f}× FD fwd (target ≥ 50×: {'met' if ratio >= 50 else 'MISSED'})")


if __name__ == "__main__":
    main()
