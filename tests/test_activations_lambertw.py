"""Lambert W₀ in torch against scipy.special.lambertw (an independent implementation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import torch

from diodenet.activations import lambertw0, lambertw0_exp, log_lambertw0_exp


def test_lambertw0_matches_scipy() -> None:
    a = torch.cat([
        torch.linspace(-1 / math.e, 3.0, 20001, dtype=torch.float64)[1:],
        torch.logspace(-300, 300, 2001, dtype=torch.float64),
        -torch.logspace(-300, -0.5, 1001, dtype=torch.float64),
    ])
    w = lambertw0(a).numpy()
    ref = scipy.special.lambertw(a.numpy()).real
    away = a.numpy() > -0.36  # W is ill-conditioned at the branch point -1/e
    np.testing.assert_allclose(w[away], ref[away], rtol=4e-15, atol=1e-300)
    np.testing.assert_allclose(w[~away], ref[~away], rtol=0, atol=1e-12)
    assert lambertw0(torch.tensor(-1 / math.e, dtype=torch.float64)).item() == pytest.approx(-1.0)


def test_log_domain_matches_scipy_and_its_equation() -> None:
    t = torch.linspace(-700.0, 700.0, 14001, dtype=torch.float64)
    w = lambertw0_exp(t).numpy()
    ref = scipy.special.lambertw(np.exp(t.numpy())).real
    np.testing.assert_allclose(w, ref, rtol=1e-14, atol=0)
    # Beyond exp's range: u + e^u = t, and u ~ log(t - log t).
    t = torch.logspace(3, 30, 271, dtype=torch.float64)
    u = log_lambertw0_exp(t)
    # (exp amplifies the rounding of u by u <= 70: 1e-13 relative)
    torch.testing.assert_close(u + torch.exp(u), t, rtol=1e-13, atol=0)
    assert bool(((u - torch.log(t - torch.log(t))).abs() < 1e-2).all())


def test_float32_is_finite_and_accurate() -> None:
    t64 = torch.linspace(-4e4, 4e4, 8001, dtype=torch.float64)
    u32 = log_lambertw0_exp(t64.float())
    assert u32.dtype == torch.float32 and bool(torch.isfinite(u32).all())
    u64 = log_lambertw0_exp(t64)
    assert ((u32.double() - u64).abs() / (1 + u64.abs())).max().item() < 1e-6


def test_gradients() -> None:
    a = torch.tensor([-0.3, -0.1, 0.0, 0.5, 2.0, 30.0, 1e5], dtype=torch.float64,
                     requires_grad=True)
    assert torch.autograd.gradcheck(lambertw0, (a,))
    t = torch.tensor([-800.0, -30.0, -1.0, 0.0, 1.0, 30.0, 800.0, 1e4], dtype=torch.float64,
                     requires_grad=True)
    assert torch.autograd.gradcheck(log_lambertw0_exp, (t,))
    assert torch.autograd.gradgradcheck(log_lambertw0_exp, (t,))


def test_domain_error() -> None:
    with pytest.raises(ValueError, match="-1/e"):
        lambertw0(torch.tensor([-0.5], dtype=torch.float64))
    with pytest.raises(ValueError, match="floating"):
        lambertw0(torch.tensor([1]))
