"""The gradient assembly from node voltages, against its closed form
``-Σ_s (V_a - V_b)(Ŵ_a - Ŵ_b)`` written out resistor by resistor."""

from __future__ import annotations

import pytest
import torch

import diodenet.linearization.node_gradient as ng
from diodenet.linearization.node_gradient import conductance_gradient, cross_plan


def _network(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Terminals of a layered network over ``n`` nodes (+ ground, column n): every
    driven node to every hidden node (dense enough for a product), hidden to
    output nodes, a few resistors to ground (a small table over the nodes they
    touch) and stray resistors among hidden nodes (they spread the (free, free)
    group over too many node pairs for a table: formed pair by pair)."""
    gen = torch.Generator().manual_seed(seed)
    driven, hidden, outputs = range(0, 6), range(6, 306), range(306, 310)
    n = 310
    pairs = [(d, h) for h in hidden for d in driven]  # hidden-major, as built networks are
    pairs += [(h, o) for o in outputs for h in hidden]
    pairs += [(int(a), n) for a in torch.randint(6, 310, (5,), generator=gen)]  # to ground
    pairs += [(int(a), int(b)) for a, b in torch.randint(6, 306, (300, 2), generator=gen)
              if int(a) != int(b)]
    order = torch.randperm(len(pairs), generator=gen) if seed % 2 else torch.arange(len(pairs))
    t = torch.tensor(pairs)[order]
    return t[:, 0], t[:, 1], torch.arange(6, 310), n


def _closed_form(V: torch.Tensor, W: torch.Tensor, ta: torch.Tensor, tb: torch.Tensor):
    return torch.stack([-((V[:, a] - V[:, b]) * (W[:, a] - W[:, b])).sum()
                        for a, b in zip(ta.tolist(), tb.tolist())])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("swap", [False, True], ids=["as-found", "tables-swapped"])
def test_the_assembly_equals_the_closed_form(seed, swap, monkeypatch):
    if swap:  # lay every table out the other way round: the values must not change
        monkeypatch.setattr(ng, "_in_order", lambda flat: -int(flat[0]) if flat.numel() else 0)
    ta, tb, free, n = _network(seed)
    plan = cross_plan(ta, tb, free, n)
    assert {b.ca is None for b in plan.blocks} == {True, False}  # both ways of forming
    gen = torch.Generator().manual_seed(10 + seed)
    V = torch.randn(7, n + 1, generator=gen, dtype=torch.float64)
    W = torch.randn(7, n + 1, generator=gen, dtype=torch.float64)
    V[:, n] = W[:, n] = 0.0  # ground
    W[:, :6] = 0.0  # an adjoint's driven nodes: the product's zero side is skipped
    truth = _closed_form(V, W, ta, tb)
    got = conductance_gradient(V, W, plan)
    assert float((got - truth).abs().max()) <= 1e-12 * float(truth.abs().max())
