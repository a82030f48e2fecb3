"""A digital feature extractor followed by a resistor–diode circuit, trained
with a plain PyTorch loop.

The extractor (``Linear → Tanh``, bounded features) runs digitally; the head
is a ``CircuitLayer``: a ``build_network`` circuit whose conductances are
ordinary ``nn.Parameter``s. Its forward pass settles the circuit (the built-in
simulator) and its backward pass is one adjoint settle of the linearized
circuit, which also hands ``∂L/∂features`` back to the extractor. At the end
the trained circuit runs in ngspice (``--ngspice``) and is written as a netlist.

    python examples/torch_circuit_head.py                # MNIST (5,000 images), ~1 min
    python examples/torch_circuit_head.py --dataset digits --epochs 5
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from diodenet.torch import CircuitLayer
from diodenet.training import build_network, load_dataset


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="mnist", choices=["mnist", "digits"])
    ap.add_argument("--features", type=int, default=12, help="digital features fed to the circuit")
    ap.add_argument("--hidden", type=int, default=16, help="diode neurons in the circuit")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--train-samples", type=int, default=None, help="use only this many")
    ap.add_argument("--ngspice", action="store_true", help="also run the trained head in ngspice")
    ap.add_argument("--netlist", default=None, help="write the trained circuit here")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)

    data = load_dataset(args.dataset, seed=args.seed)
    n = args.train_samples or len(data.y_train)
    x = torch.as_tensor(data.x_train[:n], dtype=torch.float32)
    y = torch.as_tensor(data.y_train[:n])
    xt = torch.as_tensor(data.x_test, dtype=torch.float32)
    extractor = nn.Sequential(nn.Linear(data.n_features, args.features), nn.Tanh())
    head = CircuitLayer(build_network(args.features, data.n_classes, args.hidden, scale=1.0,
                                      seed=args.seed))
    model = nn.Sequential(extractor, head)
    print(f"{data.name}: {n} training images; head: {head}")
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    temperature = 0.1  # volts: the head's outputs are logits times T
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        order = torch.randperm(n)
        total = 0.0
        for i in range(0, n, args.batch_size):
            idx = order[i:i + args.batch_size]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]) / temperature, y[idx])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        with torch.no_grad():
            acc = float((model(xt).argmax(1).numpy() == data.y_test).mean())
        print(f"epoch {epoch + 1}: loss {total / n:.4f}, test accuracy {100 * acc:.1f}% "
              f"({time.perf_counter() - t0:.1f} s, builtin simulator)")
    result = {"test_accuracy": acc}
    if args.netlist:
        with open(args.netlist, "w") as fh:
            fh.write(head.to_spice())
        print(f"wrote the trained circuit to {args.netlist}")
    if args.ngspice:
        spice = head.deploy("ngspice")
        try:
            with torch.no_grad():
                feats = extractor(xt)
                same = float((spice(feats).argmax(1) == head(feats).argmax(1)).float().mean())
        finally:
            spice.close()
        print(f"ngspice predicts the builtin simulator's class for {100 * same:.1f}% of the "
              "test images")
        result["ngspice_agreement"] = same
    return result


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
