"""MonDEQLayer against a plain re-implementation of monotone_op_net's
Peaceman–Rachford forward and backward, side by side in one process.

Same model on both sides (the reference's single fully connected monDEQ:
``z = ReLU(Wz + Ux + c)``, ``W = (1 - m)I - AᵀA + S - Sᵀ``, ``m = 0.1``,
logits ``W_out z + d``), same initial weights, same batches (batch 128), Adam
at 1e-3, float32 on both sides. The reference solves the forward with PR
(``α = 1``, stop when ``‖z_k+1 - z_k‖/‖z_k+1‖ < 1e-2``, at most 50
iterations, one host sync per iteration) and the backward with PR on the
adjoint linear system with the same rule. ``MonDEQLayer`` runs its
``solver`` (default ``auto``: PR until the free sets settle, then one exact
step on the free set, whose LU factors the backward reuses).

Prints, per dataset and hidden size: forward+backward ms per batch, epoch
seconds and test accuracy for both, the per-epoch speed-up, and how well each
trained model's forward solves its equilibrium on 128 test images (the
natural residual over the batch relative to ``‖z‖``, one metric for both).

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/mondeq.py [--tol T] [--repeat N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import Tensor, nn

from diodenet.torch import MonDEQLayer
from diodenet.training import load_dataset


# ----------------------------------------------------------- the reference, plainly
class ReferencePR(nn.Module):
    """The reference's FC monDEQ with its PR forward and PR adjoint backward."""

    def __init__(self, d_in: int, hidden: int, d_out: int, m: float, seed: int,
                 alpha: float = 1.0, tol: float = 1e-2, max_iter: int = 50) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.U = nn.Linear(d_in, hidden)
        self.A = nn.Linear(hidden, hidden, bias=False)
        self.S = nn.Linear(hidden, hidden, bias=False)
        self.out = nn.Linear(hidden, d_out)
        self.m, self.alpha, self.tol, self.max_iter = m, alpha, tol, max_iter
        self.iters = [0, 0]

    def W(self) -> Tensor:
        n = self.A.weight.shape[0]
        A, S = self.A.weight, self.S.weight
        return (1 - self.m) * torch.eye(n) - A.T @ A + S - S.T

    def resolvent(self, W: Tensor) -> Tensor:
        """``((1 + α)I - αW)⁻¹``, the PR loops' matrix (no gradient)."""
        n = W.shape[0]
        with torch.no_grad():
            return torch.linalg.inv((1 + self.alpha) * torch.eye(n) - self.alpha * W.detach())

    def equilibrium(self, x: Tensor, Winv: Tensor) -> Tensor:
        """The forward PR loop, to the reference's own stopping rule."""
        a = self.alpha
        with torch.no_grad():
            b = self.U(x)
            z = torch.zeros_like(b)
            u = torch.zeros_like(b)
            it = 0
            while it < self.max_iter:
                it += 1
                u_half = 2 * z - u
                z_half = (u_half + a * b) @ Winv.T
                u = 2 * z_half - u_half
                z_new = torch.relu(u)
                err = (z_new - z).norm().item() / (1e-6 + z_new.norm().item())
                z = z_new
                if err < self.tol:
                    break
            self.iters[0] = it
        return z

    def forward(self, x: Tensor) -> Tensor:
        W = self.W()
        Winv = self.resolvent(W)
        z = self.equilibrium(x, Winv)
        z = torch.relu(self.U(x) + z @ W.T)
        z = _RefBackward.apply(z, Winv, W.detach(), self)
        return self.out(z)


class _RefBackward(torch.autograd.Function):
    """Identity forward; backward solves ``(I - (JW)ᵀ) g̃ = g`` by PR on the adjoint."""

    @staticmethod
    def forward(ctx, z, Winv, W, model):
        ctx.save_for_backward(z, Winv, W)
        ctx.model = model
        return z

    @staticmethod
    def backward(ctx, g):
        z, Winv, W = ctx.saved_tensors
        model = ctx.model
        a = model.alpha
        j = (z > 0).to(g.dtype)
        blocked = j == 0
        d = (1 - j) / j  # inf on the blocked elements
        v = j * g
        y = torch.zeros_like(g)
        u = torch.zeros_like(g)
        it = 0
        while it < model.max_iter:
            it += 1
            u_half = 2 * y - u
            y_half = u_half @ Winv
            u = 2 * y_half - u_half
            y_new = (u + a * (1 + d) * v) / (1 + a * d)
            y_new[blocked] = v[blocked]
            err = (y_new - y).norm().item() / (1e-6 + y_new.norm().item())
            y = y_new
            if err < model.tol:
                break
        model.iters[1] = it
        return g + y @ W, None, None, None


# ------------------------------------------------------------------- diodenet side
class DiodenetModel(nn.Module):
    def __init__(self, ref: ReferencePR, solver: str, tol: float | None) -> None:
        super().__init__()
        d_in, hidden = ref.U.weight.shape[1], ref.U.weight.shape[0]
        self.mon = MonDEQLayer(d_in, hidden, ref.out.weight.shape[0], margin=ref.m,
                               solver=solver, tol=tol)
        with torch.no_grad():
            self.mon.A.copy_(ref.A.weight)
            self.mon.S.copy_(ref.S.weight)
            self.mon.U.copy_(ref.U.weight)
            self.mon.c.copy_(ref.U.bias)
            self.mon.W_out.copy_(ref.out.weight)
            self.mon.d.copy_(ref.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.mon(x)


def equilibrium_residual(model: nn.Module, x: Tensor) -> float:
    """How well a trained model's forward solves its own equilibrium, on one
    metric for both sides: ``‖z - ReLU(z - (Hz - q))‖ / ‖z‖`` over the batch
    (the natural residual, ``H = I - W``, ``q = Ux + c``)."""
    with torch.no_grad():
        if isinstance(model, ReferencePR):
            W = model.W()
            n = W.shape[0]
            H, q = torch.eye(n) - W, model.U(x)
            z = model.equilibrium(x, model.resolvent(W))
        else:
            assert isinstance(model, DiodenetModel)  # the only other side
            mon = model.mon
            H, q = mon.H(), torch.nn.functional.linear(x, mon.U, mon.c)
            z = mon.equilibrium(x)
        natural = z - torch.relu(z - (z @ H.T - q))
        return float(natural.norm() / z.norm())


def run_side_by_side(models: list[nn.Module], data, epochs: int, seed: int) -> list[dict]:
    """Train every model on the same batches, interleaved batch by batch (so
    machine load hits all alike); per model: median ms per forward+backward,
    summed training seconds per epoch, test accuracy."""
    x = torch.as_tensor(data.x_train, dtype=torch.float32)
    y = torch.as_tensor(data.y_train)
    xt = torch.as_tensor(data.x_test, dtype=torch.float32)
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in models]
    loss_fn = nn.CrossEntropyLoss()
    batch_ms: list[list[float]] = [[] for _ in models]
    epoch_s = np.zeros((len(models), epochs))
    for e in range(epochs):
        order = torch.as_tensor(np.random.default_rng([seed, e]).permutation(len(y)))
        for i in range(0, len(y), 128):
            idx = order[i:i + 128]
            xb, yb = x[idx], y[idx]
            for k, (model, opt) in enumerate(zip(models, opts)):
                t0 = time.perf_counter()
                opt.zero_grad()
                loss = loss_fn(model(xb), yb)
                loss.backward()
                t1 = time.perf_counter()
                opt.step()
                epoch_s[k, e] += time.perf_counter() - t0
                batch_ms[k].append(1e3 * (t1 - t0))
    out = []
    for k, model in enumerate(models):
        with torch.no_grad():
            acc = float((model(xt).argmax(1).numpy() == data.y_test).mean())
        out.append({"epoch_s": float(np.median(epoch_s[k])),
                    "batch_ms": float(np.median(batch_ms[k])), "accuracy": acc,
                    "residual": equilibrium_residual(model, xt[:128])})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--hidden", default="87,200")
    ap.add_argument("--datasets", default="digits,mnist")
    ap.add_argument("--solver", default="auto", choices=["auto", "pr", "active_set"])
    ap.add_argument("--tol", type=float, default=None,
                    help="MonDEQLayer's relative residual bound (default: its own)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="train every case this many times, with seeds 0, 1, … (initial "
                         "weights and batch order, the same for both sides), and end with "
                         "each case's range of speed-ups and mean accuracies")
    ap.add_argument("--quick", action="store_true", help="2 epochs, hidden 87, digits")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.epochs, args.hidden, args.datasets = 2, "87", "digits"
    if args.repeat < 1:
        ap.error(f"--repeat must be >= 1, got {args.repeat}")
    torch.set_default_dtype(torch.float32)
    rows = []
    cases = [(name, int(h)) for name in args.datasets.split(",") for h in args.hidden.split(",")]
    datasets = {name: load_dataset(name, seed=0) for name, _ in cases}
    # whole passes over the cases, so that drift in the machine's speed spreads over them
    for seed in range(args.repeat):
        for name, hidden in cases:
            data = datasets[name]
            ref = ReferencePR(data.n_features, hidden, data.n_classes, m=0.1, seed=seed)
            ours = DiodenetModel(ref, args.solver, args.tol)
            a, b = run_side_by_side([ref, ours], data, args.epochs, seed=seed)
            row = {"dataset": name, "hidden": hidden, "seed": seed,
                   "reference": a, "diodenet": b,
                   "speedup_epoch": a["epoch_s"] / b["epoch_s"],
                   "speedup_batch": a["batch_ms"] / b["batch_ms"],
                   "reference_iters": list(ref.iters),
                   "diodenet_stats": vars(ours.mon.stats) if ours.mon.stats else None}
            rows.append(row)
            if not args.json:
                run = f" seed {seed}" if args.repeat > 1 else ""
                print(f"{name:7s} hidden {hidden:4d}{run} | reference "
                      f"{a['batch_ms']:7.2f} ms/batch {a['epoch_s']:6.2f} s/epoch acc "
                      f"{100 * a['accuracy']:5.1f}% | diodenet "
                      f"{b['batch_ms']:7.2f} ms/batch {b['epoch_s']:6.2f} s/epoch acc "
                      f"{100 * b['accuracy']:5.1f}% | epoch {row['speedup_epoch']:.2f}x faster"
                      f" | residual ref {a['residual']:.1e} diodenet {b['residual']:.1e}",
                      flush=True)
    if args.repeat > 1 and not args.json:
        print(f"\nover {args.repeat} seeds: speed-up per epoch (min / median / max), "
              "mean test accuracy reference → diodenet")
        for name, hidden in cases:
            runs = [r for r in rows if (r["dataset"], r["hidden"]) == (name, hidden)]
            ups = [r["speedup_epoch"] for r in runs]
            acc = [np.mean([r[side]["accuracy"] for r in runs])
                   for side in ("reference", "diodenet")]
            print(f"{name:7s} hidden {hidden:4d} | {min(ups):.2f}x / {np.median(ups):.2f}x / "
                  f"{max(ups):.2f}x | {100 * acc[0]:5.1f}% → {100 * acc[1]:5.1f}%")
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
