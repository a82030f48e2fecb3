"""``SpiceJunction``: ngspice's junction law as a kernel relation, against the
nodal route's scalar transcription of ngspice's ``DIOload`` (``circuits.junction``),
finite differences, and its own defining equation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diodenet.activations import Shockley, ShockleyPort, SpiceJunction
from diodenet.circuits import ShockleyDiode
from diodenet.circuits.junction import junction_current

MODELS = [ShockleyDiode(is_=1e-6, n=1.05), ShockleyDiode(is_=2.52e-9, n=1.752),
          ShockleyDiode(is_=1e-14, n=1.0)]


@pytest.mark.parametrize("model", MODELS, ids=["schottky", "1n4148", "small"])
def test_law_and_slope_are_ngspice_on_both_sides_of_the_knee(model: ShockleyDiode) -> None:
    f = SpiceJunction(model.is_, model.nvt)
    c = 3 * model.nvt
    v = np.concatenate([-np.geomspace(1e3, 1e-3, 60), [-c * (1 + 1e-9), -c, -c * (1 - 1e-9)],
                        np.linspace(0.0, 0.6, 13)])
    z = torch.tensor(-v, dtype=torch.float64)
    want = np.array([junction_current(model, float(x), gmin=0.0) for x in v])
    np.testing.assert_allclose(-f.value(z).numpy(), want[:, 0], rtol=1e-13, atol=0)
    np.testing.assert_allclose(f.derivative(z).numpy(), want[:, 1], rtol=1e-13, atol=0)
    # and it is not Shockley's law in reverse: the tail is what ngspice adds
    deep = torch.tensor([0.3], dtype=torch.float64)
    assert abs(float(f.value(deep) - Shockley(model.is_, model.nvt).value(deep))) > 1e-4 * model.is_


@pytest.mark.parametrize("model", MODELS, ids=["schottky", "1n4148", "small"])
@pytest.mark.parametrize("alpha", [1e-3, 1.0, 1e5, 1e9])
def test_resolvent_solves_its_equation_and_is_differentiable(model: ShockleyDiode,
                                                             alpha: float) -> None:
    f = SpiceJunction(model.is_, model.nvt)
    x = torch.tensor(np.concatenate([-np.geomspace(1e3, 1e-4, 40), [0.0],
                                     np.geomspace(1e-4, 1e3, 60)]),
                     dtype=torch.float64, requires_grad=True)
    s = f.resolvent(x, alpha)
    sd = s.detach()
    residual = (sd + alpha * f.value(sd) - x.detach()).abs()
    scale = x.detach().abs() + sd.abs() + alpha * model.is_
    # the tail's Newton to round-off; the exponential side is Shockley's closed form
    tail = sd > 3 * model.nvt
    assert bool(tail.any()) and bool((~tail).any())
    assert float((residual / scale)[tail].max()) <= 4e-16
    assert float((residual / scale).max()) <= 1e-12
    assert bool((sd[1:] >= sd[:-1]).all())  # the resolvent of a monotone relation
    (grad,) = torch.autograd.grad(s.sum(), x)
    np.testing.assert_allclose(grad.numpy(), f.resolvent_derivative(x.detach(), alpha).numpy(),
                               rtol=1e-10, atol=0)
    # the tail's slope by central differences
    h = 1e-6 * x.detach().abs()
    fd = (f.resolvent(x.detach() + h, alpha) - f.resolvent(x.detach() - h, alpha)) / (2 * h)
    np.testing.assert_allclose(fd[tail].numpy(), grad[tail].numpy(), rtol=1e-6, atol=0)


@pytest.mark.parametrize("model", [
    ShockleyDiode(is_=2.52e-9, n=1.752, rs=0.568),
    ShockleyDiode(is_=1e-16, isr=1e-10, nr=2.0, temp=80.0),
    ShockleyDiode(is_=1e-14, bv=5.0, ibv=1e-6, nbv=3.0, temp=-20.0),
    ShockleyDiode(is_=1e-12, ikf=1e-3, ikr=1e-4, bv=10.0, temp=50.0, isr=1e-11, nr=1.5,
                  m=0.33, vj=0.7),
], ids=["1n4148", "isr-hot", "breakdown-cold", "everything"])
def test_the_array_law_is_the_scalar_law_branch_for_branch(model: ShockleyDiode) -> None:
    """The batch form (the ngspice hardware's small-signal g_d) against the
    nodal route's scalar transcription, which is checked against ngspice."""
    from diodenet.circuits.junction import junction_current_array

    vte = model.nvt
    v = np.concatenate([np.linspace(-12.0, 1.2, 2001), [-3 * vte, -3 * vte * (1 + 1e-12), 0.0]])
    i, g = junction_current_array(model, v)
    want = np.array([junction_current(model, float(x)) for x in v])
    np.testing.assert_allclose(i, want[:, 0], rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(g, want[:, 1], rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("element", [
    Shockley(is_=2.4e-11, nvt=0.044), SpiceJunction(is_=2.4e-11, nvt=0.044),
    ShockleyPort(is_=2.4e-11, nvt=0.044, rs=10.0).as_nonlinearity()],
    ids=["shockley", "spice", "with rs"])
@pytest.mark.parametrize("alpha", [1e-6, 0.1, 1e3])
def test_resolvent_is_accurate_near_zero_volts(element, alpha: float) -> None:
    """Near 0 V ``s + αF(s) = x`` is ``s = x / (1 + α F'(0))`` to O(x²); the
    closed form through exp and log W returned exactly 0 for |x| below about
    ε·nVt, which no per-element tolerance could accept."""
    x = torch.tensor([-2e-19, 3e-22, -1e-17, 5e-16], dtype=torch.float64)
    slope = element.derivative(torch.zeros(1, dtype=torch.float64))
    truth = x / (1 + alpha * slope)
    torch.testing.assert_close(element.resolvent(x, alpha), truth, rtol=1e-12, atol=0.0)


def test_a_junction_in_a_loop_without_current_settles() -> None:
    """A Shockley diode and an ideal one, each in a loop that no source drives:
    the junction's drive is round-off (2e-18 A), and the active set could not
    meet its own tolerance from the resolvent's 0 ("did not converge" after 855
    steps). Neither loop carries current, so V(b) is the divider's."""
    import diodenet as dn

    c = dn.Circuit("loops")
    c.add_voltage_source("V0", "n0", "0")
    c.add_resistor("R1", "n0", "b", resistance=1.0)
    c.add_resistor("Rg", "b", "0", resistance=1e3)
    c.add_resistor("R3", "b", "s", resistance=0.1)
    c.add_diode("D2", "s", "b", ShockleyDiode(is_=2.4e-11, n=1.7))
    c.add_resistor("R2", "x", "b", resistance=1.0)
    c.add_diode("D1", "b", "x")
    u = np.array([[-0.1747], [0.3], [0.0]])
    m = dn.BuiltinHardware(c, ["v0"], ["b"]).settle(u)
    np.testing.assert_allclose(m.outputs[:, 0], u[:, 0] * 1000 / 1001, rtol=1e-9, atol=1e-15)
