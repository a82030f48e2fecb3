"""Soak test: 1,000,000 operating points in one process through NgspiceSimulator,
watching the resident memory (it must grow by less than 200 MB).

Circuit: the benchmark's random network (20 nodes, 30 R, 10 diodes, 4 sources).
Every 100k samples it prints the RSS and spot-checks 3 samples of the block
against cold `op` runs (method="op") to 1e-9 V.

Run: .venv/bin/python scripts/ngspice_soak.py [--total 1000000] [--method sweep|op]
Exit status 1 when the growth reaches the limit or a spot check fails.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from diodenet.simulators.ngspice import NgspiceSimulator
from diodenet.testing import random_diode_network

SOURCES = ["v0", "v1", "v2", "v3"]


def rss_mb() -> float:
    """Resident set size of this process (MB), from /proc/self/status."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--total", type=int, default=1_000_000)
    ap.add_argument("--block", type=int, default=100_000)
    ap.add_argument("--method", choices=["sweep", "op"], default="sweep")
    ap.add_argument("--limit-mb", type=float, default=200.0)
    args = ap.parse_args()
    net = random_diode_network(0)
    rng = np.random.default_rng(7)
    sim = NgspiceSimulator(net, method=args.method)
    check = NgspiceSimulator(net, method="op")
    sim.operating_points(rng.uniform(-2, 2, (10, 4)), SOURCES)  # library loaded, warm
    start = rss_mb()
    t0 = time.perf_counter()
    done, ok = 0, True
    print(f"method={args.method}  start RSS {start:.1f} MB")
    while done < args.total:
        n = min(args.block, args.total - done)
        u = rng.uniform(-2, 2, (n, 4))
        op = sim.operating_points(u, SOURCES)
        picks = rng.choice(n, 3, replace=False)
        ref = check.operating_points(u[picks], SOURCES)
        err = float(np.max(np.abs(ref.voltages - op.voltages[picks])))
        ok &= err < 1e-9
        done += n
        rate = done / (time.perf_counter() - t0)
        print(f"{done:9d} ops  RSS {rss_mb():7.1f} MB  (+{rss_mb() - start:6.1f})  "
              f"{rate:8.0f} op/s  spot check max|dV| {err:.1e}", flush=True)
    growth = rss_mb() - start
    print(f"total {done} operating points, RSS growth {growth:.1f} MB "
          f"(limit {args.limit_mb:.0f} MB), {time.perf_counter() - t0:.0f} s")
    return 0 if ok and growth < args.limit_mb else 1


if __name__ == "__main__":
    sys.exit(main())
