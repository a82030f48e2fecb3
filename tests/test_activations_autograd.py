"""Derivatives of the activations and overflow safety.

* autograd through every activation equals central finite differences and
  the small-signal formula dσ_Z/dx = r g / (1 + r g) (g from conductance());
* autograd of each element current equals its conductance() and finite
  differences (the element's small-signal conductance);
* float32 and float64 stay finite, values and gradients, for x in ±1 kV.
"""

from __future__ import annotations

import pytest
import torch

from diodenet.activations import (
    ClampPort,
    FunctionPort,
    IdealDiodePort,
    OnePort,
    PWLDiodePort,
    Shockley,
    ShockleyPort,
    TablePort,
    ZenerPort,
    diode_relu_current,
)

PORTS = [
    IdealDiodePort(),
    PWLDiodePort(vf=0.7),
    PWLDiodePort(vf=0.45, ron=80.0),
    ClampPort(low=-1.0, high=2.0),
    ZenerPort(bv=3.3, vf=0.6, ron=50.0, rz=20.0),
    ShockleyPort(),
    ShockleyPort(is_=2.52e-9, nvt=1.752 * 0.0258649, rs=0.568),
    FunctionPort(lambda v: torch.sinh(3.0 * v) * 1e-3 + 1e-4 * v),
    TablePort([-2.0, -1.0, 0.0, 0.5, 0.5, 3.0], [-0.01, -0.001, 0.0, 0.0, 0.002, 0.004]),
]
KINKS = [-3.3, -1.0, 0.0, 0.45, 0.6, 0.7, 2.0]


def _smooth_points(port: OnePort, r: float) -> torch.Tensor:
    """Sample points whose operating point is away from every kink."""
    x = torch.linspace(-4.0, 4.0, 161, dtype=torch.float64) + 0.0123
    if isinstance(port, TablePort):
        kinks = (port.v + r * port.i).tolist()
    else:
        kinks = KINKS
    far = torch.ones_like(x, dtype=torch.bool)
    for k in kinks:
        far &= (x - k).abs() > 1e-3
    return x[far]


@pytest.mark.parametrize("port", PORTS, ids=repr)
@pytest.mark.parametrize("r", [1e3, 47.0])
def test_activation_gradients(port: OnePort, r: float) -> None:
    x = _smooth_points(port, r).requires_grad_(True)
    for form, small_signal in ((port.impedance_activation, port.impedance_derivative),
                               (port.admittance_activation, port.admittance_derivative)):
        (grad,) = torch.autograd.grad(form(x, r).sum(), x)
        h = 1e-6
        with torch.no_grad():
            fd = (form(x + h, r) - form(x - h, r)) / (2 * h)
        torch.testing.assert_close(grad, fd, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(grad, small_signal(x.detach(), r), rtol=1e-10, atol=1e-12)


def test_diode_relu_closed_form_derivative() -> None:
    """σ'(x) = 1/(R + nV_T/(σ + Is)) (the diode ReLU's closed form)."""
    r, is_, nvt = 1e3, 1e-14, 0.02585
    x = torch.linspace(-2, 5, 701, dtype=torch.float64, requires_grad=True)
    sigma = diode_relu_current(x, r, is_, nvt)
    (grad,) = torch.autograd.grad(sigma.sum(), x)
    sigma = sigma.detach()
    on = sigma > 0
    expected = 1.0 / (r + nvt / (sigma + is_))
    torch.testing.assert_close(grad[on], expected[on], rtol=1e-12, atol=0)
    # Reverse bias: σ + Is cancels, so use g/(1 + R g), g = (Is/nVt) e^{v/nVt}, v = x - Rσ.
    g = is_ / nvt * torch.exp((x.detach() - r * sigma) / nvt)
    torch.testing.assert_close(grad[~on], (g / (1 + r * g))[~on], rtol=1e-9, atol=0)
    assert on.sum() > 100 and (~on).sum() > 100


def test_gradient_with_respect_to_resistance() -> None:
    """d/dr through the closed form and through the Newton resolvent, against FD."""
    x = torch.linspace(-1, 3, 41, dtype=torch.float64)
    numeric = FunctionPort(lambda v: 1e-14 * torch.expm1(v / 0.025864))
    closed = ShockleyPort(is_=1e-14, nvt=0.025864)
    for port in (closed, numeric):
        r = torch.tensor(1e3, dtype=torch.float64, requires_grad=True)
        for form in (port.impedance_activation, port.admittance_activation):
            (grad,) = torch.autograd.grad(form(x, r).sum(), r)
            h = 1e-3
            fd = (form(x, 1e3 + h).sum() - form(x, 1e3 - h).sum()) / (2 * h)
            torch.testing.assert_close(grad, fd, rtol=1e-6, atol=1e-12)


SINGLE_VALUED = [
    PWLDiodePort(vf=0.45, ron=80.0),
    ZenerPort(bv=3.3, vf=0.6, ron=50.0, rz=20.0),
    ShockleyPort(),
    ShockleyPort(is_=2.52e-9, nvt=1.752 * 0.0258649, rs=0.568),
    TablePort([-2.0, -1.0, 0.0, 0.5, 3.0], [-0.01, -0.001, 0.0, 0.0, 0.004]),
]


@pytest.mark.parametrize("port", SINGLE_VALUED, ids=repr)
def test_element_current_derivative_is_the_conductance(port: OnePort) -> None:
    v = torch.linspace(-4.0, 0.9, 197, dtype=torch.float64) + 0.0071
    v = v[(v - torch.tensor([-3.3, -2.0, -1.0, 0.0, 0.45, 0.5, 0.6]).unsqueeze(-1)).abs()
          .min(0).values > 1e-3].requires_grad_(True)
    i = port.current(v)
    (grad,) = torch.autograd.grad(i.sum(), v)
    g = port.conductance(v.detach())
    h = 1e-7
    with torch.no_grad():
        fd = (port.current(v + h) - port.current(v - h)) / (2 * h)
    torch.testing.assert_close(grad, g, rtol=1e-10, atol=1e-20)
    torch.testing.assert_close(g, fd, rtol=1e-5, atol=1e-15)


def test_shockley_conductance_closed_form() -> None:
    """g_d = (Is/nVt) e^{v/nVt} for the bare junction."""
    port = ShockleyPort(is_=1e-14, nvt=0.025)
    v = torch.linspace(-1, 0.8, 10, dtype=torch.float64)
    torch.testing.assert_close(port.conductance(v), 1e-14 / 0.025 * torch.exp(v / 0.025))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("port", PORTS, ids=repr)
def test_overflow_safety(port: OnePort, dtype: torch.dtype) -> None:
    x = torch.tensor([-1e3, -300.0, -20.0, -1.0, 0.0, 0.65, 1.0, 20.0, 300.0, 1e3], dtype=dtype,
                     requires_grad=True)
    for r in (1e3, 1.0):
        for form in (port.impedance_activation, port.admittance_activation):
            y = form(x, r)
            (grad,) = torch.autograd.grad(y.sum(), x)
            assert y.dtype == dtype
            assert bool(torch.isfinite(y).all()), (form, y)
            assert bool(torch.isfinite(grad).all()), (form, grad)
            # Resolvents are monotone and 1-Lipschitz.
            assert bool(((grad >= 0) & (grad <= 1 + 1e-6)).all()), grad
        # Moreau in float32 too (relative to |x|).
        total = port.admittance_activation(x, r) + port.impedance_activation(x, r)
        assert bool(((total - x).abs() <= 1e-5 * (1 + x.abs())).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_diode_relu_at_one_kilovolt(dtype: torch.dtype) -> None:
    """At ±1 kV the diode ReLU is (x - v_j)/R or -Is, with v_j from the Shockley law."""
    r, is_, nvt = 1e3, 1e-14, 0.02585
    x = torch.tensor([1e3, -1e3], dtype=dtype, requires_grad=True)
    i = diode_relu_current(x, r, is_, nvt)
    (grad,) = torch.autograd.grad(i.sum(), x)
    i_fwd = i[0].item()
    v_j = nvt * torch.log1p(torch.tensor(i_fwd / is_, dtype=torch.float64)).item()
    assert abs(v_j + r * i_fwd - 1e3) <= (1e-9 if dtype == torch.float64 else 1e-3) * 1e3
    assert abs(i[1].item() + is_) <= 1e-6 * is_
    assert abs(grad[0].item() - 1 / (r + nvt / (i_fwd + is_))) <= 1e-5 / r
    assert grad[1].item() == 0.0
    # The kernel's Shockley resolvent is finite there too.
    s = Shockley(is_, nvt).resolvent(x.detach(), r)
    assert bool(torch.isfinite(s).all())
