"""Benchmark: diodenet's equilibrium solvers against QP solvers, a monDEQ baseline and the floor.

    OMP_NUM_THREADS=1 python benchmarks/solvers.py           # n ∈ {50, 200, 1000} + trained
    OMP_NUM_THREADS=1 python benchmarks/solvers.py --quick   # n ∈ {50, 200}, batch 64

Rows per kernel (batch 256, fp64, one thread, CPU time, setup included):

* ``auto``, ``pgs`` and ``pr`` stopped at a residual of 1e-8 A (``atol``);
  ``active_set`` exact (residual at round-off);
* OSQP (one setup, ``update(q)`` per sample, polished) and Clarabel (an
  interior-point method; one setup per sample) on the QP
  ``min ½zᵀHz + qᵀz, z ≥ 0`` scaled to O(1) by the natural step, their
  tolerances calibrated (untimed) to the loosest that reaches 1e-8 A on
  every sample;
* the floor: SuperLU of each sample's final free block ``H_FF``, given the
  answer (what any exact method must at least do), and the baseline below;
* the exact method with its state reused, for a new batch (nothing recalled)
  and for the same batch with its inputs nudged by 1 % (the last answers
  recalled, as when training re-solves a batch after a small change).

Kernels: the random circuits below, and (unless ``--no-trained``) the dense
kernels of the digits network after one epoch of training, with 32 and with
128 hidden units (exact solve per minibatch, state reused, against the floor).

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
import os
import platform
import time

import numpy as np
import torch

from diodenet.kernels import Equilibrium, Kernel
from diodenet.solvers import get_solver

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


def floor_lu(k: Kernel, u: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """SuperLU of each sample's final free block, given the exact answer ``z``."""
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import splu

    H = csc_matrix(k.H.numpy())
    q = k.rhs(u).numpy()
    out = np.zeros_like(q)
    free = (z > 0).numpy()
    for i in range(q.shape[0]):
        F = np.flatnonzero(free[i])
        if F.size:
            lu = splu(H[F][:, F].tocsc(), permc_spec="MMD_AT_PLUS_A",
                      options={"SymmetricMode": True})
            out[i, F] = lu.solve(-q[i, F])
    return torch.from_numpy(out)


def osqp_solve(k: Kernel, u: torch.Tensor, eps: float) -> torch.Tensor:
    import osqp
    from scipy import sparse

    n = k.n
    alpha = k.natural_step()  # the cost scaled to O(1), as for Clarabel
    q = alpha * k.rhs(u).numpy()
    solver = osqp.OSQP()
    solver.setup(sparse.triu(sparse.csc_matrix(alpha * k.H.numpy())).tocsc(), q[0],
                 sparse.identity(n, format="csc"), np.zeros(n), np.full(n, np.inf),
                 eps_abs=eps, eps_rel=0.0, polish=True, verbose=False, max_iter=200000)
    z = np.zeros_like(q)
    for i in range(q.shape[0]):
        solver.update(q=q[i])
        z[i] = solver.solve().x
    return torch.from_numpy(np.maximum(z, 0.0))


def clarabel_solve(k: Kernel, u: torch.Tensor, eps: float) -> torch.Tensor:
    import clarabel
    from scipy import sparse

    n = k.n
    # in siemens the cost is ~1e-3: scaled to O(1) (same minimiser) the tolerances mean more
    alpha = k.natural_step()
    q = alpha * k.rhs(u).numpy()
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_feas = settings.tol_gap_rel = eps
    P = sparse.triu(sparse.csc_matrix(alpha * k.H.numpy())).tocsc()
    A = -sparse.identity(n, format="csc")
    z = np.zeros_like(q)
    for i in range(q.shape[0]):
        # one setup per sample: solves after update(q=...) stalled short of the target here
        solver = clarabel.DefaultSolver(P, q[i], A, np.zeros(n),
                                        [clarabel.NonnegativeConeT(n)], settings)
        z[i] = np.asarray(solver.solve().x)
    return torch.from_numpy(np.maximum(z, 0.0))


def calibrate(k: Kernel, u: torch.Tensor, solve) -> float | None:
    """The loosest tolerance in 1e-4 … 1e-14 whose answers all reach ``TARGET`` (untimed)."""
    for e in range(4, 15):
        eps = 10.0 ** -e
        if (float(k.residual(solve(k, u[:32], eps), u[:32]).max()) <= TARGET
                and float(k.residual(solve(k, u, eps), u).max()) <= TARGET):
            return eps
    return None


def kernel_rows(name: str, k: Kernel, u: torch.Tensor, repeat: int, baseline_cap: int,
                qp: bool) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []

    def add(method: str, t: float, iterations: object, z: torch.Tensor,
            inputs: torch.Tensor | None = None) -> None:
        res = float(k.residual(z, u if inputs is None else inputs).max())
        rows.append(dict(kernel=name, method=method, seconds=t, iterations=iterations,
                         residual=res))
        print(_format(rows[-1]), flush=True)

    tol_b = baseline_pr(k, u, 0.0, baseline_cap, calibrate=True)[2]
    if tol_b is not None:
        t, (zb, it, _) = best_time(lambda: baseline_pr(k, u, tol_b, baseline_cap), repeat)
        add("baseline PR (monotone_op_net)", t, it, zb)
    for method, options in (("auto", {"tol": 0.0, "atol": TARGET}),
                            ("pgs", {"tol": 0.0, "atol": TARGET}),
                            ("pr", {"tol": 0.0, "atol": TARGET}),
                            ("active_set", {})):
        t, eq = best_time(lambda m=method, o=options: k.solve(u, m, raise_on_failure=False,
                                                              **o), repeat)
        label = f"{method} [{eq.method}]" if method == "auto" else method
        add(label + (" (exact)" if method == "active_set" else ""), t, eq.iterations, eq.z)
    exact = k.solve(u, "active_set").z
    solver = get_solver("active_set", k)
    state = solver.init(k)
    k.solve(u, solver=solver, state=state)

    def new_batch() -> Equilibrium:
        state.memory.clear()  # a batch unlike the last one: nothing recalled
        return k.solve(u, solver=solver, state=state)

    t, eq = best_time(new_batch, repeat)
    add("active_set (exact, state reused)", t, eq.iterations, eq.z)
    nudged = 1.01 * u
    t, eq = best_time(lambda: k.solve(nudged, solver=solver, state=state), repeat)
    add("active_set (exact, reused, inputs nudged 1 %)", t, eq.iterations, eq.z, nudged)
    t, z = best_time(lambda: floor_lu(k, u, exact), repeat)
    add("floor: SuperLU of final free sets", t, "-", z)
    if qp:
        for label, fn in (("OSQP (polished)", osqp_solve), ("Clarabel", clarabel_solve)):
            eps = calibrate(k, u, fn)
            if eps is None:
                print(f"| {name} | {label}: no tolerance reaches {TARGET:g} A |")
                continue
            t, z = best_time(lambda fn=fn, eps=eps: fn(k, u, eps), repeat)
            add(f"{label} eps={eps:.0e}", t, "-", z)
    return rows


def trained_kernel(hidden: int, batch: int) -> tuple[Kernel, torch.Tensor]:
    """The digits network's kernel after one epoch of training (builtin hardware)."""
    from diodenet.linearization import BuiltinHardware
    from diodenet.training.session import RunConfig, build, load_data, training_hardware
    from diodenet.training.trainer import Trainer

    cfg = RunConfig(dataset="digits", hidden=hidden, epochs=1).resolved()
    data = load_data(cfg)
    net = build(cfg, data)
    with training_hardware("builtin", net) as hw:
        Trainer(hw, net.encode, data.n_classes, data.x_train, data.y_train,
                cfg.train_config(), progress=False).run()
        assert isinstance(hw, BuiltinHardware)  # "builtin" on a plain network
        k = hw.kernel
        u = k.check_inputs(net.encode(data.x_train[:batch]))
    return k, u


def ratios(rows: list[dict[str, object]]) -> None:
    print("\nRatios (time of the first over the second; < 1 means faster):")
    for name in dict.fromkeys(r["kernel"] for r in rows):
        t = {str(r["method"]).split(" [")[0].split(" eps")[0]: float(r["seconds"])  # type: ignore[arg-type]
             for r in rows if r["kernel"] == name}
        floor = t.get("floor: SuperLU of final free sets")
        qp = [v for key, v in t.items() if key.startswith(("OSQP", "Clarabel"))]
        parts = []
        if floor:
            parts.append(f"exact/floor {t['active_set (exact)'] / floor:.2f}")
            parts.append(f"exact reused/floor {t['active_set (exact, state reused)'] / floor:.2f}")
        if qp:
            parts.append(f"auto/fastest QP {t['auto'] / min(qp):.2f}")
        base = t.get("baseline PR (monotone_op_net)")
        if base:
            parts.append(f"baseline/auto {base / t['auto']:.1f}x")
        print(f"  {name}: " + ", ".join(parts))


def _format(row: dict[str, object]) -> str:
    return (f"| {row['kernel']} | {row['method']} | {float(row['seconds']):.4f} | "  # type: ignore[arg-type]
            f"{row['iterations']} | {float(row['residual']):.2e} |")  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="n ∈ {50, 200}, batch 64")
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-qp", action="store_true", help="leave out OSQP and Clarabel")
    parser.add_argument("--no-trained", action="store_true",
                        help="leave out the trained digits kernels")
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
          f"target residual {TARGET:g} A, load {os.getloadavg()[0]:.1f}")
    # compile (or load) the numba loops outside the timings
    warm = circuit_kernel(600)  # big and sparse enough for every compiled route
    for method in ("pgs", "active_set"):
        warm.solve(torch.zeros(2, warm.m, dtype=warm.dtype), method)
    print("| kernel | method | seconds | iterations | residual (A) |\n|---|---|---:|---:|---:|")
    rows: list[dict[str, object]] = []
    for n in sizes:
        k = circuit_kernel(n)
        u = torch.randn(batch, k.m, generator=torch.Generator().manual_seed(n), dtype=k.dtype)
        rows += kernel_rows(f"circuit n={n}", k, u, args.repeat, args.baseline_cap,
                            not args.no_qp)
    if not args.no_trained:
        for hidden in ([32] if args.quick else [32, 128]):
            k, u = trained_kernel(hidden, batch)
            rows += kernel_rows(f"digits-{hidden} (n={k.n}, trained)", k, u, args.repeat,
                                args.baseline_cap, not args.no_qp)
    ratios(rows)


if __name__ == "__main__":
    main()
