"""Benchmark: time to an equilibrium residual of 1e-8 A, per solver, against a monDEQ baseline.

    python benchmarks/solvers.py            # n ∈ {50, 200, 1000}, batch 256, fp64, CPU
    python benchmarks/solvers.py --quick    # n ∈ {50, 200}, batch 64

Kernels are circuit-like: a random sparse resistor network (0.1-1 mS branches,
about 6 per diode) between n ideal diodes, each diode node tied to ground by
10-100 kΩ (this sets the margin m = λ_min(H) > 0) and m = 16 sources feeding
random nodes through 1-10 kΩ with random polarity. H is then a symmetric
M-matrix in siemens, and about half the diodes conduct.

The baseline is a plain re-implementation of the Peaceman–Rachford loop of
locuslab/monotone_op_net (``MONPeacemanRachford``) on the kernel, written from
the description in the project's notes:

* ``W = I - α₀H`` with α₀ = 1/max|H_kk| (their step α = 1 acts on ``I - W`` =
  α₀H, i.e. a fixed step α₀ in circuit units), ``Winv = (I + α₀H)⁻¹``;
* ``u½ = 2z - u; z½ = Winv(u½ - α₀q); u = 2z½ - u½; z = ReLU(u)``;
* after every iteration their stopping test ``‖z⁺ - z‖/(1e-6 + ‖z⁺‖) < tol``,
  evaluated with a host synchronisation (``.item()``).

Their tolerance is relative and ours is a residual in amperes, so the baseline
is given an oracle tolerance: an untimed calibration run finds the first
iterate with residual ≤ 1e-8 A whose ``err`` is below every earlier one, and
the timed run stops on that ``tol``. Every timing includes the setup (step
sizes, factorisations) and is the best of ``--repeat`` runs. By default it is
the CPU time of one thread (``--threads 1 --clock process``), which stays
meaningful on a loaded, shared machine; ``--threads 2 --clock wall`` measures
a quiet machine's wall clock.
"""

from __future__ import annotations

import argparse
import math
import platform
import time

import torch

from diodenet.kernels import Kernel

TARGET = 1e-8  # amperes


def circuit_kernel(n: int, m: int = 16, seed: int = 0) -> Kernel:
    """A random resistor–ideal-diode network's kernel (see the module docstring)."""
    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    degree = min(6.0, n - 1.0)
    mask = torch.rand(n, n, generator=g) < degree / max(n - 1, 1) / 2
    G = torch.triu((0.1e-3 + 0.9e-3 * torch.rand(n, n, generator=g, dtype=f64)) * mask, 1)
    G = G + G.T
    ground = 1.0 / (10e3 + 90e3 * torch.rand(n, generator=g, dtype=f64))
    fan = torch.rand(n, m, generator=g) < max(2.0 / m, 0.125)
    g_in = fan * (1.0 / (1e3 + 9e3 * torch.rand(n, m, generator=g, dtype=f64)))
    H = torch.diag(G.sum(1) + ground + g_in.sum(1)) - G
    sign = torch.where(torch.rand(n, m, generator=g) < 0.5, -1.0, 1.0).to(f64)
    B = sign * g_in
    return Kernel(H, B, torch.zeros(1, n, dtype=f64), torch.zeros(1, m, dtype=f64))


def baseline_pr(kernel: Kernel, u: torch.Tensor, tol: float, max_iter: int,
                calibrate: bool = False) -> tuple[torch.Tensor, int, float | None]:
    """monotone_op_net's PR loop (see the module docstring).

    With ``calibrate`` it ignores ``tol`` and returns, as third item, the oracle
    tolerance: stopping at the first ``err < t`` lands on an iterate whose
    residual is ≤ TARGET (``None`` if no such ``t`` within ``max_iter``).
    """
    alpha = kernel.natural_step()
    n = kernel.n
    eye = torch.eye(n, dtype=kernel.dtype)
    WinvT = torch.linalg.inv(eye + alpha * kernel.H).T
    bias = -alpha * (kernel.rhs(u) @ WinvT)
    z = torch.zeros(u.shape[0], n, dtype=kernel.dtype)
    s = torch.zeros_like(z)
    lowest = math.inf  # smallest err so far
    it = 0
    while it < max_iter:
        it += 1
        s_half = 2 * z - s
        z_half = s_half @ WinvT + bias
        s = 2 * z_half - s_half
        zn = torch.relu(s)
        err = (zn - z).norm().item() / (1e-6 + zn.norm().item())  # host sync, every iteration
        z = zn
        if calibrate:
            # a stop here needs err below every earlier err, and a good residual
            if err < lowest and float(kernel.residual(z, u).max()) <= TARGET:
                return z, it, lowest
            lowest = min(lowest, err)
        elif err < tol:
            break
    return z, it, None


CLOCK = time.process_time


def best_time(fn, repeat: int):
    best, out = math.inf, None
    for _ in range(repeat):
        t0 = CLOCK()
        out = fn()
        best = min(best, CLOCK() - t0)
    return best, out


def run(sizes: list[int], batch: int, repeat: int, baseline_cap: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for n in sizes:
        k = circuit_kernel(n)
        u = torch.randn(batch, k.m, generator=torch.Generator().manual_seed(n), dtype=k.dtype)
        print(f"n={n}: {k}", flush=True)
        tol_b = baseline_pr(k, u, 0.0, baseline_cap, calibrate=True)[2]
        if tol_b is None:
            base_t, base_it, base_res = math.nan, baseline_cap, math.nan
        else:
            base_t, (zb, base_it, _) = best_time(
                lambda k=k, u=u, t=tol_b: baseline_pr(k, u, t, baseline_cap), repeat
            )
            base_res = float(k.residual(zb, u).max())
        rows.append(dict(n=n, method="baseline PR", seconds=base_t, iterations=base_it,
                         residual=base_res, ratio=1.0))
        runs = (("auto", {}), ("active_set", {}), ("pr", {}), ("fb", {}))
        for method, options in runs:
            t, eq = best_time(
                lambda k=k, u=u, method=method, options=options: k.solve(
                    u, method, tol=TARGET, raise_on_failure=False, **options
                ),
                repeat,
            )
            label = {"auto": "auto (default, hybrid)", "active_set": "active_set (exact)"}
            rows.append(dict(
                n=n, method=label.get(method, method),
                seconds=t, iterations=eq.iterations, residual=float(eq.residual.max()),
                ratio=base_t / t,
            ))
        for row in rows[-5:]:
            print(_format(row), flush=True)
    return rows


def _format(row: dict[str, object]) -> str:
    return (f"| {row['n']:>5} | {row['method']:<22} | {row['seconds']:>8.3f} | "
            f"{row['iterations']:>6} | {row['residual']:>9.2e} | {row['ratio']:>6.1f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="n ∈ {50, 200}, batch 64")
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--baseline-cap", type=int, default=20000,
                        help="iterations after which the baseline is declared stuck")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--clock", choices=["process", "wall"], default="process",
                        help="CPU time of this process (default; robust on a shared machine) "
                        "or wall-clock time")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "process" else time.perf_counter
    torch.set_num_threads(args.threads)
    sizes = args.sizes or ([50, 200] if args.quick else [50, 200, 1000])
    batch = args.batch or (64 if args.quick else 256)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.clock} time, "
          f"{platform.processor() or platform.machine()}, batch {batch}, float64, "
          f"target residual {TARGET:g} A")
    rows = run(sizes, batch, args.repeat, args.baseline_cap)
    print("\n| n | method | seconds | iterations | residual (A) | speed-up vs baseline |")
    print("|---:|---|---:|---:|---:|---:|")
    for row in rows:
        print(_format(row))


if __name__ == "__main__":
    main()
