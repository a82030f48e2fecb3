"""Training at real-benchmark scale, side by side in one process.

1. **Time per training sample** of the built-in hardware, split into
   re-programming (``set_conductances``), the forward settle, the adjoint
   settle and the gradient assembly, against a torch MLP of the same shape
   (inputs → hidden ReLU → 10, float64) doing forward + backward on the same
   batch, as a ratio; over inputs 64/256/784 × hidden 32/128 (``--full``: and
   512), with growth exponents fitted as ``t ∝ inputs^a · hidden^b`` and the
   peak RSS of each size (each size runs in its own process).
2. **The peer**: exact coordinate descent on the layered network (every
   hidden node at ``clamp(-b/2a, 0)``, the minimiser of its quadratic energy
   ``a V² + b V`` given its neighbours, one layer at a time, a few sweeps)
   trained by equilibrium propagation (a free and a nudged phase, the
   gradient ``(∂E/∂g(nudged) - ∂E/∂g(free))/β``), re-implemented plainly
   here. Same network, same data, same initial conductances, same optimiser
   (Adam on log-conductance), same epochs; time per epoch of the training
   steps (the two trained batch by batch in turn, so machine load hits both
   alike) and test accuracy, on digits 64-32-10, 64-128-10 and MNIST-5k
   784-128-10.
3. **ngspice** at 784 inputs × 128 hidden: the same split per sample (a
   batch of 16 by default, 64 with ``--full``), with ideal diodes given to
   ngspice as switches (the default) and as the Shockley stand-in; with
   ``--full`` (or ``--only ngspice-epoch``) also on real MNIST digits at the
   trainer's batch of 64, on one and two worker processes, as projected
   minutes per epoch.

Run on one thread: ``OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/scale.py``
(a few minutes); ``--full`` for 512 hidden, more epochs and the 1568-1024-10
solve.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from diodenet.linearization import BuiltinHardware
from diodenet.linearization.gradient import loss_gradient
from diodenet.linearization.hardware import output_port
from diodenet.training.architectures import build_network
from diodenet.training.config import TrainConfig
from diodenet.training.datasets import load_dataset
from diodenet.training.losses import make_loss
from diodenet.training.trainer import Trainer, batch_order, peak_rss_mb

BATCH = 64
TEMPERATURE = 0.5  # the trainer's default 0.05 × scale, scale 10 V


def _best(f, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def mlp_step_seconds(n_in: int, hidden: int, repeats: int = 20) -> float:
    """Forward + backward of inputs → hidden ReLU → 10 (float64) on a batch."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, n_in, dtype=torch.float64, generator=g)
    y = torch.randint(0, 10, (BATCH,), generator=g)
    mlp = torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, 10)).double()

    def step() -> None:
        mlp.zero_grad()
        torch.nn.functional.cross_entropy(mlp(x), y).backward()

    step()
    return _best(step, repeats)


def hardware_split(hw, net, repeats: int = 3, batch: int = BATCH,
                   data: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, float]:
    """Seconds per batch: reprogram, forward settle, adjoint settle, gradient;
    on random inputs, or on the first ``batch`` rows of ``data`` (features, labels)."""
    rng = np.random.default_rng(0)
    if data is None:
        u = net.encode(rng.normal(size=(batch, net.n_features)))
        y = rng.integers(0, 10, batch)
    else:
        u, y = net.encode(data[0][:batch]), data[1][:batch]
    loss = make_loss("ce", y, TEMPERATURE, 10)
    g0 = hw.conductances()
    out: dict[str, list[float]] = {k: [] for k in ("reprogram", "forward", "adjoint", "gradient")}
    for _ in range(repeats):
        g = g0 * (1 + 0.01 * rng.random(len(g0)))
        t0 = time.perf_counter()
        hw.set_conductances(g)
        t1 = time.perf_counter()
        m = hw.settle(u)
        t2 = time.perf_counter()
        _, g_y = loss_gradient(loss, m.outputs)
        adj = hw.settle_linearized(m, {output_port(j): g_y[:, j] for j in range(10)},
                                   adjoint=True)
        t3 = time.perf_counter()
        hw.conductance_gradient(m, adj)
        t4 = time.perf_counter()
        for key, dt in zip(out, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            out[key].append(dt)
    return {k: min(v) for k, v in out.items()}


def one_size(n_in: int, hidden: int) -> dict[str, float]:
    """Section 1 for one size (run in a fresh process for its own peak RSS)."""
    torch.set_num_threads(1)
    net = build_network(n_in, 10, hidden, scale=10.0, seed=0)
    t = time.perf_counter()
    hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
    build = time.perf_counter() - t
    split = hardware_split(hw, net)
    mlp = mlp_step_seconds(n_in, hidden)
    return {"inputs": n_in, "hidden": hidden, "resistors": len(hw.trainable), "build_s": build,
            **split, "mlp": mlp, "peak_rss_mb": peak_rss_mb()}


def sizes_table(full: bool) -> None:
    hiddens = (32, 128, 512) if full else (32, 128)
    rows = []
    for n_in in (64, 256, 784):
        for h in hiddens:
            res = subprocess.run([sys.executable, __file__, "--one", str(n_in), str(h)],
                                 capture_output=True, text=True, check=True)
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    print("\n1. builtin hardware, ms per training sample (batch 64), vs torch MLP fwd+bwd")
    print(f"{'in':>4} {'hid':>4} {'resistors':>9} {'reprog':>7} {'forward':>7} {'adjoint':>7} "
          f"{'grad':>6} {'total':>7} {'MLP':>6} {'ratio':>6} {'RSS MB':>7}")
    for r in rows:
        total = r["reprogram"] + r["forward"] + r["adjoint"] + r["gradient"]
        r["total"] = total
        ms = lambda s: 1e3 * s / BATCH  # noqa: E731
        print(f"{r['inputs']:>4} {r['hidden']:>4} {r['resistors']:>9} {ms(r['reprogram']):7.3f} "
              f"{ms(r['forward']):7.3f} {ms(r['adjoint']):7.3f} {ms(r['gradient']):6.3f} "
              f"{ms(total):7.3f} {ms(r['mlp']):6.3f} {total / r['mlp']:6.1f} "
              f"{r['peak_rss_mb']:7.0f}")
    A = np.array([[1.0, math.log(r["inputs"]), math.log(r["hidden"])] for r in rows])
    for key in ("total", "reprogram", "forward", "adjoint", "mlp"):
        coef = np.linalg.lstsq(A, np.log([r[key] for r in rows]), rcond=None)[0]
        print(f"   growth of {key:>9}: t ∝ inputs^{coef[1]:.2f} · hidden^{coef[2]:.2f}")


# ---------------------------------------------------------------- the peer
class LayeredNetwork:
    """The classifier's circuit as layers for the peer: driven nodes (inputs
    and rails, clamped), hidden nodes (a diode to ground: V ≥ 0), output
    nodes (linear); conductance matrices gathered from the trainable vector."""

    def __init__(self, net, trainable: list[str]) -> None:
        c = net.circuit
        driven = [n for n in c.nodes if n.startswith(("xp", "xn")) or n in ("bp", "bn")]
        hidden = [f"h{k}" for k in range(net.hidden)]
        outs = [n for pair in net.outputs for n in pair]
        self.index = {n: ("d", i) for i, n in enumerate(driven)}
        self.index.update({n: ("h", i) for i, n in enumerate(hidden)})
        self.index.update({n: ("o", i) for i, n in enumerate(outs)})
        self.nd, self.nh, self.no = len(driven), len(hidden), len(outs)
        self.driven = driven
        # (resistor index, row, col) per block
        entries: dict[str, list[tuple[int, int, int]]] = {"hd": [], "oh": [], "od": []}
        for k, name in enumerate(trainable):
            r = c[name]
            (ka, ia), (kb, ib) = self.index[r.n1], self.index[r.n2]
            if {ka, kb} == {"d", "h"}:
                entries["hd"].append((k, ia if ka == "h" else ib, ib if ka == "h" else ia))
            elif {ka, kb} == {"o", "h"}:
                entries["oh"].append((k, ia if ka == "o" else ib, ib if ka == "o" else ia))
            elif {ka, kb} == {"o", "d"}:
                entries["od"].append((k, ia if ka == "o" else ib, ib if ka == "o" else ia))
            else:
                raise ValueError(f"{name}: not a layered network")
        self.maps: dict[str, np.ndarray] = {key: np.array(v, dtype=np.int64).reshape(-1, 3)
                                            for key, v in entries.items()}
        shapes = {"hd": (self.nh, self.nd), "oh": (self.no, self.nh), "od": (self.no, self.nd)}
        self.shapes = shapes

    def program(self, g: np.ndarray) -> None:
        self.W = {}
        for key, m in self.maps.items():
            W = np.zeros(self.shapes[key])
            W[m[:, 1], m[:, 2]] = g[m[:, 0]]
            self.W[key] = torch.as_tensor(W)
        self.a_h = self.W["hd"].sum(1) + self.W["oh"].sum(0)
        self.a_o = self.W["oh"].sum(1) + self.W["od"].sum(1)

    def driven_voltages(self, net, x: np.ndarray) -> torch.Tensor:
        u = net.encode(x)  # vxp0, vxn0, ... in the order of net.inputs
        V = np.zeros((len(x), self.nd))
        col = {n: i for i, n in enumerate(self.driven)}
        for j, name in enumerate(net.inputs):
            V[:, col[net.circuit[name].pos]] = u[:, j]
        V[:, col["bp"]], V[:, col["bn"]] = net.scale, -net.scale
        return torch.as_tensor(V)

    def relax(self, Vd: torch.Tensor, nudge=None, h=None, o=None, tol: float = 1e-9,
              max_sweeps: int = 200) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Exact block coordinate descent: hidden layer, then output layer, until
        no node moves by more than ``tol`` volts (``nudge(o)`` adds β·∂C/∂V_o)."""
        Wd, Wo, Wod = self.W["hd"], self.W["oh"], self.W["od"]
        from_inputs = Vd @ Wd.T  # the clamped layer's pull on the hidden nodes, once
        from_rails = Vd @ Wod.T
        h = torch.zeros(len(Vd), self.nh, dtype=Vd.dtype) if h is None else h
        o = torch.zeros(len(Vd), self.no, dtype=Vd.dtype) if o is None else o
        sweep = 0
        while sweep < max_sweeps:
            sweep += 1
            h_new = torch.clamp_min((from_inputs + o @ Wo) / self.a_h, 0.0)
            pull = h_new @ Wo.T + from_rails
            if nudge is not None:
                pull = pull - nudge(o)
            o_new = pull / self.a_o
            moved = max(float((h_new - h).abs().max()), float((o_new - o).abs().max()))
            h, o = h_new, o_new
            if moved <= tol:
                break
        return h, o, sweep

    def energy_gradient(self, Vd, h, o) -> np.ndarray:
        """``∂E/∂g = ½ Σ_samples ΔV²`` per resistor, from three products per block."""
        out = np.zeros(sum(len(m) for m in self.maps.values()))
        for key, (A, B) in {"hd": (h, Vd), "oh": (o, h), "od": (o, Vd)}.items():
            m = self.maps[key]
            sq = 0.5 * ((A**2).sum(0)[:, None] + (B**2).sum(0)[None, :] - 2 * A.T @ B)
            out[m[:, 0]] = sq[m[:, 1], m[:, 2]].numpy()
        return out


class PeerTrainer(Trainer):
    """The trainer's optimiser and schedule with the peer's gradient:
    equilibrium propagation on exact coordinate descent."""

    beta = 0.25  # nudge: output shift of about β·T volts (see gradient)

    def __init__(self, layered: LayeredNetwork, net, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.layered, self.net = layered, net
        self.sweeps: list[int] = []

    def program(self, theta: np.ndarray) -> np.ndarray:
        g = self.g_range.quantize(self._to_g(theta))
        self.layered.program(g)
        return g

    def _outputs(self, o: torch.Tensor) -> torch.Tensor:
        return o[:, 0::2] - o[:, 1::2]

    def gradient(self, theta, x, y):
        g = self.program(theta)
        L = self.layered
        Vd = L.driven_voltages(self.net, x)
        h, o, s0 = L.relax(Vd)
        yt = self._outputs(o)
        loss = make_loss(self.config.loss, y, self.config.temperature, self.n_classes)
        value = float(loss(yt))
        T = self.config.temperature
        # β scaled so the nudge moves outputs by ~β·T volts whatever the conductances
        beta = self.beta * float(L.a_o.mean()) * T * T * len(y)

        def nudge(o_now: torch.Tensor) -> torch.Tensor:
            _, gy = loss_gradient(loss, self._outputs(o_now).numpy())
            c = torch.zeros_like(o_now)
            c[:, 0::2], c[:, 1::2] = torch.as_tensor(gy), -torch.as_tensor(gy)
            return beta * c

        hb, ob, s1 = L.relax(Vd, nudge, h.clone(), o.clone())
        self.sweeps += [s0, s1]
        dL_dg = (L.energy_gradient(Vd, hb, ob) - L.energy_gradient(Vd, h, o)) / beta
        scale = g if self.config.param == "log" else self.g_range.g_max
        return value, dL_dg * scale

    def evaluate(self, x, y, batch: int = 512):
        outs = []
        for i in range(0, len(y), batch):
            _, o, _ = self.layered.relax(self.layered.driven_voltages(self.net, x[i:i + batch]))
            outs.append(self._outputs(o).numpy())
        out = np.concatenate(outs)
        L = make_loss(self.config.loss, y, self.config.temperature, self.n_classes)
        return float(L(torch.as_tensor(out))), float(np.mean(out.argmax(1) == y))


def train_epochs(*trainers: Trainer, epochs: int) -> list[tuple[float, float]]:
    """Per trainer, (seconds per epoch of training steps, test accuracy after
    ``epochs``): each trainer's own optimiser and schedule, without its
    evaluation and checkpoints. The trainers share a configuration and data,
    so one minibatch order (the first trainer's) serves all; they advance batch
    by batch in turn, so load on the shared machine hits them alike."""
    runs = []
    for trainer in trainers:  # every start is read before any trainer steps
        state = trainer.initial_state()
        runs.append((trainer, state, *trainer.optimizers(state)))
    seconds = [0.0] * len(trainers)
    c, n = trainers[0].config, len(trainers[0].y_fit)
    for e in range(epochs):
        order = batch_order(c.seed, e, n)
        for b in range(0, n, c.batch_size):
            idx = order[b:b + c.batch_size]
            for k, (trainer, state, theta, opt, _) in enumerate(runs):
                t = time.perf_counter()
                _, gt = trainer.gradient(state.theta, trainer.x_fit[idx], trainer.y_fit[idx])
                trainer._step(state, theta, opt, gt)
                seconds[k] += time.perf_counter() - t
        for run in runs:
            run[4].step()
    out = []
    for (trainer, state, *_), s in zip(runs, seconds):
        trainer.program(state.theta)
        assert trainer.test is not None, "train_epochs reports test accuracy: needs test data"
        out.append((s / epochs, trainer.evaluate(*trainer.test)[1]))
    return out


def peer_table(full: bool, repeat: int = 1) -> None:
    """Section 2; each network trained ``repeat`` times from the same start (a
    fresh hardware each time), with the range of the ratios at the end."""
    torch.set_num_threads(1)
    cases = [("digits", 32, 5), ("digits", 128, 5), ("mnist", 128, 2)]
    if full:
        cases = [(d, h, 10) for d, h, _ in cases]
    print("\n2. per epoch vs the peer (exact coordinate descent + EqProp), same network/data;"
          " the two trained batch by batch in turn")
    print(f"{'network':>16} {'epochs':>6} {'builtin s':>9} {'peer s':>8} {'ratio':>6} "
          f"{'builtin acc':>11} {'peer acc':>8} {'peer sweeps':>11}")
    ratios: dict[str, list[float]] = {}
    for name, hidden, epochs in cases:
        data = load_dataset(name, seed=0)
        net = build_network(data.n_features, 10, hidden, scale=10.0, seed=0)
        cfg = TrainConfig(epochs=epochs, batch_size=BATCH, lr=0.05, temperature=TEMPERATURE)
        label = f"{name} {data.n_features}-{hidden}-10"
        for _ in range(repeat):
            hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
            ours = Trainer(hw, net.encode, 10, data.x_train, data.y_train, cfg,
                           test=(data.x_test, data.y_test), progress=False)
            peer = PeerTrainer(LayeredNetwork(net, hw.trainable), net, hw, net.encode, 10,
                               data.x_train, data.y_train, cfg,
                               test=(data.x_test, data.y_test), progress=False)
            # the same start: both read the hardware's conductances before either steps
            (t_ours, acc_ours), (t_peer, acc_peer) = train_epochs(ours, peer, epochs=epochs)
            ratios.setdefault(label, []).append(t_ours / t_peer)
            print(f"{label:>16} {epochs:>6} {t_ours:9.2f} {t_peer:8.2f} {t_ours / t_peer:6.2f} "
                  f"{100 * acc_ours:10.1f}% {100 * acc_peer:7.1f}% "
                  f"{np.mean(peer.sweeps):11.1f}", flush=True)
    if repeat > 1:
        print(f"   builtin / peer over {repeat} runs: min–max (median)")
        for label, r in ratios.items():
            print(f"{label:>16} {min(r):.2f}–{max(r):.2f} ({float(np.median(r)):.2f})")


def ngspice_row(full: bool) -> None:
    from diodenet.linearization import NgspiceHardware

    torch.set_num_threads(1)
    batch = BATCH if full else 16
    net = build_network(784, 10, 128, scale=10.0, seed=0)
    print(f"\n3. ngspice hardware at 784 inputs x 128 hidden, ms per sample (batch {batch}, "
          "one worker)")
    splits = {}
    for ideal in ("switch", "shockley"):
        t = time.perf_counter()
        with NgspiceHardware(net.circuit, net.inputs, net.outputs, ideal_diode=ideal) as hw:
            build = time.perf_counter() - t
            # best of two: the first batch also validates each netlist once (a load)
            splits[f"ngspice ({ideal})"] = hardware_split(hw, net, repeats=2, batch=batch)
    splits["builtin"] = hardware_split(BuiltinHardware(net.circuit, net.inputs, net.outputs),
                                       net, batch=batch)
    ms = lambda s: 1e3 * s / batch  # noqa: E731
    print(f"{'':>18} {'reprog':>9} {'forward':>9} {'adjoint':>9} {'grad':>9} {'total':>9}")
    for name, sp in splits.items():
        total = sum(sp.values())
        print(f"{name:>18} " + " ".join(f"{ms(v):9.2f}" for v in sp.values())
              + f" {ms(total):9.2f}")
    print(f"   ngspice load {build:.1f} s; one MNIST-5k epoch (3750 samples, batch {batch}) ≈ "
          f"{3750 * sum(splits['ngspice (switch)'].values()) / batch / 60:.0f} min of steps "
          "(switch)")


def ngspice_epoch() -> None:
    """The ngspice hardware at 784-128 on real MNIST-5k digits, at the trainer's
    batch of 64 on two worker processes, ideal diodes given to ngspice as
    switches and as the Shockley stand-in, batch by batch in turn (the machine's
    speed drifts): one MNIST-5k epoch's projected minutes of training steps
    (the target is 10 on 2 cores), as medians over rounds."""
    from diodenet.linearization import NgspiceHardware

    torch.set_num_threads(1)
    data = load_dataset("mnist", seed=0)
    net = build_network(784, 10, 128, scale=10.0, seed=0)
    batches = math.ceil(len(data.y_train) / BATCH)
    rounds = 3
    print(f"\n3b. ngspice at 784-128 on MNIST-5k digits, batch {BATCH}, 2 workers, s per batch "
          f"(median of {rounds} rounds, the two in turn, after one batch each that also "
          "validates each netlist)")
    xy = (data.x_train, data.y_train)
    hws = {ideal: NgspiceHardware(net.circuit, net.inputs, net.outputs, workers=2,
                                  ideal_diode=ideal) for ideal in ("switch", "shockley")}
    try:
        for hw in hws.values():
            hardware_split(hw, net, repeats=1, data=xy)
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in hws}
        for _ in range(rounds):
            for ideal, hw in hws.items():
                runs[ideal].append(hardware_split(hw, net, repeats=1, data=xy))
    finally:
        for hw in hws.values():
            hw.close()
    print(f"{'ideal diode':>12} {'reprog':>8} {'forward':>8} {'adjoint':>8} {'grad':>8} "
          f"{'total':>8} {'epoch min':>10}")
    totals = {k: [sum(r.values()) for r in v] for k, v in runs.items()}
    for ideal, rs in runs.items():
        parts = [float(np.median([r[k] for r in rs])) for k in rs[0]]
        total = float(np.median(totals[ideal]))
        print(f"{ideal:>12} " + " ".join(f"{v:8.2f}" for v in parts)
              + f" {total:8.1f} {batches * total / 60:10.1f}")
    ratios = [b / a for a, b in zip(totals["switch"], totals["shockley"])]
    print("   shockley / switch per round: " + ", ".join(f"{r:.2f}" for r in ratios))


def drn_solve() -> None:
    """A 1568-1024-10 network (the peer's DRN-1H size) solves in the hardware."""
    torch.set_num_threads(1)
    net = build_network(784, 10, 1024, scale=10.0, seed=0)  # 1568 input sources
    t = time.perf_counter()
    hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
    build = time.perf_counter() - t
    # best of 8: the first batches also pay for growing the allocator's heap
    split = hardware_split(hw, net, repeats=8)
    print(f"\n4. 1568-1024-10 ({len(hw.trainable)} resistors): load {build:.0f} s, per batch of "
          f"64: " + ", ".join(f"{k} {v:.2f} s" for k, v in split.items())
          + f"; peak RSS {peak_rss_mb():.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true",
                    help="hidden 512 too, 10 epochs per peer row, and the 1568-1024-10 solve")
    ap.add_argument("--one", nargs=2, type=int, metavar=("INPUTS", "HIDDEN"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--only", default="", help=argparse.SUPPRESS)
    ap.add_argument("--skip", default="",
                    help="comma-separated sections to skip: sizes,peer,ngspice")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="train each peer-table network N times and print the range of "
                         "the ratios (the machine drifts: one run is good to about 10%%)")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_size(*args.one)))
        return
    skip = set(args.skip.split(","))
    load = Path("/proc/loadavg")
    print(f"benchmarks/scale.py ({'full' if args.full else 'default'}), torch threads 1, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; host load average "
          f"{load.read_text().split()[0] if load.exists() else '?'}")
    if "sizes" not in skip:
        sizes_table(args.full)
    if "peer" not in skip:
        peer_table(args.full, args.repeat)
    if "ngspice" not in skip:
        ngspice_row(args.full)
    if args.full or "ngspice-epoch" in args.only.split(","):
        ngspice_epoch()
    if args.full or "drn" in args.only.split(","):
        drn_solve()


if __name__ == "__main__":
    main()
