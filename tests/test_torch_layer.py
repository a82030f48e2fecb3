"""The PyTorch monDEQ layer: implicit gradients against finite differences
(gradcheck), and the layer against the circuit that realises it."""

from __future__ import annotations

import pytest
import torch

from diodenet.kernels.extract import extract_kernel
from diodenet.torch import MonDEQLayer
from diodenet.torch.layer import _Equilibrium


def test_gradcheck_through_the_equilibrium():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(6, 6, dtype=torch.float64, generator=g) * 0.4
    S = torch.randn(6, 6, dtype=torch.float64, generator=g) * 0.1
    H = (0.5 * torch.eye(6, dtype=torch.float64) + A.T @ A + S - S.T).requires_grad_()
    q = torch.randn(3, 6, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda H, q: _Equilibrium.apply(H, q, 1e-13), (H, q),
                                    eps=1e-6, atol=1e-7, rtol=1e-5)


def test_layer_parameters_get_gradients():
    layer = MonDEQLayer(3, 6, 2, generator=torch.Generator().manual_seed(3))
    layer(torch.randn(5, 3, dtype=torch.float64)).square().sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_layer_equals_its_circuit():
    g = torch.Generator().manual_seed(1)
    layer = MonDEQLayer(2, 5, 2, generator=g)
    x = torch.randn(6, 2, dtype=torch.float64, generator=g)
    y = layer(x).detach()
    c = layer.to_circuit()
    K = extract_kernel(c, ["vu1", "vu2"], ["y1", "y2"])
    eq = K.solve(x, method="active_set", tol=1e-13)
    torch.testing.assert_close(eq.y, y, rtol=1e-9, atol=1e-10)


def test_layer_trains_and_rejects_bad_input():
    g = torch.Generator().manual_seed(2)
    layer = MonDEQLayer(2, 8, 1, generator=g)
    x = torch.randn(64, 2, dtype=torch.float64, generator=g)
    t = (x[:, :1] * x[:, 1:]).abs()
    opt = torch.optim.Adam(layer.parameters(), lr=0.05)
    first = None
    for _ in range(25):
        opt.zero_grad()
        loss = ((layer(x) - t) ** 2).mean()
        first = first if first is not None else float(loss.detach())
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.5 * first
    with pytest.raises(ValueError, match="NaN or inf"):
        layer(torch.full((1, 2), float("nan"), dtype=torch.float64))
