"""Operating points per second through ngspice, several routes side by side.

Circuit: a fixed random network (seed 0) of 20 nodes, 30 resistors, 10
1N4148-like diodes and 4 voltage sources; inputs uniform in [-2, 2] V.
Every reported operating point is solved by ngspice for its own input vector.

Routes:
  ours sweep, 1 process     NgspiceSimulator (default method): one dc sweep per chunk
  ours sweep, 2 workers     the same on a 2-process pool
  ours op, 1 process        alter the sources + `op`, per sample
  ours op, 2 workers        the same on a 2-process pool
  EBANA pattern             a new 2-process pool per batch of 40 samples; every
                            sample loads a fresh netlist and runs `op`
  ngspice -b                one `ngspice -b` subprocess per sample

Also: the cost of changing all 30 conductances (alter vs reloading the netlist).

Run: .venv/bin/python benchmarks/ngspice_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from diodenet.simulators.ngspice import NgspiceSimulator, batch_operating_point, get_ngspice
from diodenet.simulators.ngspice.netlist_edit import NetlistSpec
from diodenet.testing import random_diode_network, random_inputs

SOURCES = ["v0", "v1", "v2", "v3"]

T = TypeVar("T")


def netlist_for(net: str, row: np.ndarray) -> str:
    """The netlist with the sources set to ``row`` (a fresh netlist per sample)."""
    values = dict(zip(SOURCES, row))
    out = []
    for line in net.splitlines():
        tok = line.split()
        if tok and tok[0] in values:
            line = f"{tok[0]} {tok[1]} {tok[2]} dc {float(values[tok[0]])!r}"
        out.append(line)
    return "\n".join(out)


def _ebana_sample(text: str) -> float:
    # EBANA's pattern, re-implemented on our binding: parse a fresh netlist, run op.
    ng = get_ngspice()
    ng.load(NetlistSpec.parse(text).base_lines())
    ng.analysis("op")
    v = float(ng.vector("n10")[0])
    ng.destroy_plots()
    return v


def ebana(net: str, u: np.ndarray) -> np.ndarray:
    out = []
    ctx = mp.get_context("forkserver")
    for a in range(0, len(u), 40):  # a new pool for every batch of 40, as EBANA does
        with ctx.Pool(2) as pool:
            out += pool.map(_ebana_sample, [netlist_for(net, r) for r in u[a : a + 40]])
    return np.asarray(out)


def timed(fn: Callable[[], T], n: int) -> tuple[float, T]:
    t = time.perf_counter()
    res = fn()
    return n / (time.perf_counter() - t), res


def conductance_update(net: str, rounds: int = 300) -> tuple[float, float]:
    """Seconds per (update 30 conductances + op): by `alter`, and by reloading."""
    ng = get_ngspice()
    spec = NetlistSpec.parse(net)
    rng = np.random.default_rng(3)
    names = [f"r{k}" for k in range(30)]
    ng.load(spec.base_lines())
    t = time.perf_counter()
    for _ in range(rounds):
        for name, r in zip(names, rng.uniform(500, 5000, 30)):
            ng.command(f"alter {name} = {float(r)!r}")
        ng.analysis("op")
        ng.destroy_plots()
    t_alter = (time.perf_counter() - t) / rounds
    t = time.perf_counter()
    for _ in range(rounds):
        s = spec.with_resistances(names, rng.uniform(500, 5000, 30))
        ng.load(s.base_lines())
        ng.analysis("op")
        ng.destroy_plots()
    t_reload = (time.perf_counter() - t) / rounds
    return t_alter, t_reload


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    args = ap.parse_args()
    k = 0.1 if args.quick else 1.0
    net = random_diode_network(0)
    u = random_inputs(int(40_000 * k))
    n_sweep, n_op, n_ebana, n_sub = len(u), int(4000 * k), int(400 * k), max(10, int(60 * k))

    rows = []
    with NgspiceSimulator(net) as sim:
        sim.operating_points(u[:10], SOURCES)
        rate, ref = timed(lambda: sim.operating_points(u[:n_sweep], SOURCES), n_sweep)
        rows.append(("ours sweep, 1 process", n_sweep, rate, 0.0))
    ref_n10 = ref.voltage("n10")

    def check(v: np.ndarray | Sequence[float]) -> float:
        return float(np.max(np.abs(np.asarray(v) - ref_n10[: len(v)])))

    with NgspiceSimulator(net, workers=2) as sim:
        sim.operating_points(u[:10], SOURCES)  # start the workers outside the timing
        rate, res = timed(lambda: sim.operating_points(u[:n_sweep], SOURCES), n_sweep)
        rows.append(("ours sweep, 2 workers", n_sweep, rate, check(res.voltage("n10"))))
    with NgspiceSimulator(net, method="op") as sim:
        rate, res = timed(lambda: sim.operating_points(u[:n_op], SOURCES), n_op)
        rows.append(("ours op, 1 process", n_op, rate, check(res.voltage("n10"))))
    with NgspiceSimulator(net, workers=2, method="op") as sim:
        sim.operating_points(u[:10], SOURCES)
        rate, res = timed(lambda: sim.operating_points(u[:n_op], SOURCES), n_op)
        rows.append(("ours op, 2 workers", n_op, rate, check(res.voltage("n10"))))
    rate, v_ebana = timed(lambda: ebana(net, u[:n_ebana]), n_ebana)
    rows.append(("EBANA pattern (pool per 40)", n_ebana, rate, check(v_ebana)))
    rate, v_sub = timed(
        lambda: [batch_operating_point(netlist_for(net, r))["n10"] for r in u[:n_sub]], n_sub
    )
    rows.append(("ngspice -b per sample", n_sub, rate, check(v_sub)))

    base = rows[-1][2]
    print(f"circuit: 20 nodes, 30 R, 10 diodes, 4 sources; {mp.cpu_count()} CPUs")
    print(f"{'route':30s} {'samples':>8s} {'op/s':>10s} {'vs -b':>8s} {'max|dV| vs ours':>16s}")
    for name, n, rate, err in rows:
        print(f"{name:30s} {n:8d} {rate:10.0f} {rate / base:7.0f}x {err:16.1e}")
    t_alter, t_reload = conductance_update(net, rounds=int(300 * k) or 30)
    print(f"update 30 conductances + op: alter {t_alter * 1e3:.2f} ms, "
          f"reload {t_reload * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
