"""Closed-form activations against independent computations.

* worked numbers of the diode ReLU (R = 1 kΩ, Is = 1e-14 A, nV_T = 25.85 mV);
* each closed form against a numerical resolvent (the table interpolation,
  or guarded Newton on the element's I–V function) to 1e-10 V;
* Moreau's identity σ_Y + σ_Z = x to 1e-12 V, also with σ_Z computed as
  the resolvent of the *inverse* (impedance) relation;
* the kernel adapters against the implicit equation s + αF(s) = x;
* non-monotone relations and bad parameters raise ValueError.
"""

from __future__ import annotations

import math

import pytest
import torch

from diodenet.activations import (
    ClampPort,
    FunctionPort,
    Ideal,
    IdealDiodePort,
    OnePort,
    PiecewiseLinear,
    PWLDiodePort,
    Shockley,
    ShockleyPort,
    TablePort,
    ZenerPort,
    diode_relu,
    diode_relu_current,
    port_from_model,
)
from diodenet.circuits.diode_models import D1N4148, IdealDiode, PWLDiode, ShockleyDiode

X = torch.cat([torch.linspace(-5.0, 5.0, 2001, dtype=torch.float64),
               torch.tensor([-40.0, -12.5, 0.0, 0.3, 0.7, 12.5, 40.0], dtype=torch.float64)])
RESISTANCES = [1e3, 47.0, 1e5]


def test_design_example_numbers() -> None:
    """R = 1 kΩ, Is = 1e-14 A, nV_T = 25.85 mV: σ(0.7 V) = 103.8 µA, σ(2 V) = 1.338 mA."""
    x = torch.tensor([0.7, 2.0], dtype=torch.float64)
    i = diode_relu_current(x, 1e3, is_=1e-14, nvt=0.02585)
    assert abs(i[0].item() - 103.8e-6) < 0.05e-6
    assert abs(i[1].item() - 1.338e-3) < 0.0005e-3
    # The same operating point satisfies KVL with the Shockley law (independent).
    v_j = 0.02585 * torch.log1p(i / 1e-14)
    torch.testing.assert_close(v_j + 1e3 * i, x, rtol=0, atol=1e-12)
    # Volts form and ampere form differ by the factor R.
    torch.testing.assert_close(diode_relu(x, 1e3, 1e-14, 0.02585), 1e3 * i, rtol=1e-15, atol=0)


def _pwl_table(port: OnePort) -> TablePort:
    """The PWL element's graph as samples (vertical pieces for zero resistances)."""
    if isinstance(port, IdealDiodePort):
        return TablePort([-1.0, 0.0, 0.0], [0.0, 0.0, 1.0])
    if isinstance(port, PWLDiodePort):
        return TablePort([port.vf - 1.0, port.vf, port.vf + port.ron], [0.0, 0.0, 1.0])
    if isinstance(port, ClampPort):
        return TablePort([port.low, port.low, port.high, port.high], [-1.0, 0.0, 0.0, 1.0])
    assert isinstance(port, ZenerPort)
    return TablePort([-port.bv - port.rz, -port.bv, port.vf, port.vf + port.ron],
                     [-1.0, 0.0, 0.0, 1.0])


PWL_PORTS = [
    IdealDiodePort(),
    PWLDiodePort(vf=0.7),
    PWLDiodePort(ron=250.0),
    PWLDiodePort(vf=0.45, ron=80.0),
    ClampPort(low=-1.0, high=2.0),
    ZenerPort(bv=3.3, vf=0.6, ron=50.0, rz=20.0),
    ZenerPort(bv=5.1),
]


@pytest.mark.parametrize("port", PWL_PORTS, ids=repr)
@pytest.mark.parametrize("r", RESISTANCES)
def test_pwl_closed_forms_equal_table_resolvent(port: OnePort, r: float) -> None:
    table = _pwl_table(port)
    torch.testing.assert_close(port.admittance_activation(X, r),
                               table.admittance_activation(X, r), rtol=0, atol=1e-10)
    torch.testing.assert_close(port.impedance_activation(X, r),
                               table.impedance_activation(X, r), rtol=0, atol=1e-10)


def test_design_table_shapes() -> None:
    """The activation table, written out in the test: ReLU, shifted ReLU, scaled ReLU, clip."""
    r = 1e3
    torch.testing.assert_close(IdealDiodePort().activation(X, r), torch.relu(X))
    torch.testing.assert_close(PWLDiodePort(vf=0.7).activation(X, r), torch.relu(X - 0.7))
    torch.testing.assert_close(PWLDiodePort(ron=250.0).activation(X, r),
                               torch.relu(X) / (1 + 250.0 / r))
    torch.testing.assert_close(ClampPort(-1.0, 2.0).activation(X, r), X.clamp(-1.0, 2.0))
    zener = ZenerPort(bv=3.3).activation(X, r)
    torch.testing.assert_close(zener, torch.relu(X) - torch.relu(-3.3 - X))


@pytest.mark.parametrize("port", [PWLDiodePort(vf=0.45, ron=80.0),
                                  ZenerPort(bv=3.3, vf=0.6, ron=50.0, rz=20.0)], ids=repr)
def test_single_valued_pwl_equals_newton_resolvent(port: OnePort) -> None:
    newton = FunctionPort(port.current, port.conductance)
    for r in RESISTANCES:
        torch.testing.assert_close(port.admittance_activation(X, r),
                                   newton.admittance_activation(X, r), rtol=0, atol=1e-10)
        torch.testing.assert_close(port.impedance_activation(X, r),
                                   newton.impedance_activation(X, r), rtol=0, atol=1e-10)


SHOCKLEY_PORTS = [
    ShockleyPort(),
    ShockleyPort(is_=2.52e-9, nvt=1.752 * 0.0258649, rs=0.568),
    ShockleyPort(is_=1e-6, nvt=0.05, rs=10.0),
]


@pytest.mark.parametrize("port", SHOCKLEY_PORTS, ids=repr)
@pytest.mark.parametrize("r", RESISTANCES)
def test_diode_relu_equals_newton_resolvent(port: ShockleyPort, r: float) -> None:
    # Newton on the bare junction law, behind r + rs; the port voltage adds rs i.
    is_, nvt = port.is_, port.nvt
    junction = FunctionPort(lambda v: is_ * torch.expm1(v / nvt))
    v_j = junction.admittance_activation(X, r + port.rs)
    i = junction.impedance_activation(X, r + port.rs) / (r + port.rs)
    torch.testing.assert_close(port.admittance_activation(X, r), v_j + port.rs * i,
                               rtol=0, atol=1e-10)
    torch.testing.assert_close(port.impedance_activation(X, r), r * i, rtol=0, atol=1e-10)


ALL_PORTS = [*PWL_PORTS, *SHOCKLEY_PORTS,
             FunctionPort(lambda v: torch.sinh(3.0 * v) * 1e-3 + 1e-4 * v),
             TablePort([-2.0, -1.0, 0.0, 0.5, 0.5, 3.0], [-0.01, -0.001, 0.0, 0.0, 0.002, 0.004])]


@pytest.mark.parametrize("port", ALL_PORTS, ids=repr)
@pytest.mark.parametrize("r", RESISTANCES)
def test_moreau_identity(port: OnePort, r: float) -> None:
    total = port.admittance_activation(X, r) + port.impedance_activation(X, r)
    torch.testing.assert_close(total, X, rtol=0, atol=1e-12)


def test_moreau_identity_through_the_inverse_relation() -> None:
    """σ_Z from the impedance relation v = f⁻¹(i): r · (I + (1/r) f⁻¹)⁻¹(x / r)."""
    v = [-2.0, -1.0, 0.0, 0.5, 0.5, 3.0]
    i = [-0.01, -0.001, 0.0, 0.0, 0.002, 0.004]
    admittance = TablePort(v, i)
    impedance = TablePort(i, v)  # the inverse graph: "voltage" i, "current" v
    for r in RESISTANCES:
        sigma_y = admittance.admittance_activation(X, r)
        sigma_z = r * impedance.admittance_activation(X / r, 1.0 / r)
        torch.testing.assert_close(sigma_y + sigma_z, X, rtol=0, atol=1e-12)


def test_tensor_resistance_broadcasts() -> None:
    x = torch.linspace(-3, 3, 61, dtype=torch.float64).reshape(-1, 1).expand(61, 3)
    r = torch.tensor([10.0, 1e3, 1e5], dtype=torch.float64)
    for port in (ShockleyPort(), ZenerPort(bv=2.0, ron=5.0, rz=7.0), _pwl_table(ClampPort()),
                 FunctionPort(lambda v: 1e-3 * v**3)):
        batched = port.admittance_activation(x, r)
        for k in range(3):
            torch.testing.assert_close(batched[:, k], port.admittance_activation(x[:, k],
                                                                               r[k].item()))


# -- kernel convention ------------------------------------------------------


@pytest.mark.parametrize("port", ALL_PORTS, ids=repr)
def test_as_nonlinearity_is_the_reverse_voltage_resolvent(port: OnePort) -> None:
    nl = port.as_nonlinearity()
    for alpha in RESISTANCES:
        s = nl.resolvent(X, alpha)
        torch.testing.assert_close(s, -port.admittance_activation(-X, alpha), rtol=0, atol=1e-10)
        if nl.smooth:
            # The defining equation s + αF(s) = x, with F evaluated independently.
            residual = s + alpha * nl.value(s) - X
            assert residual.abs().max().item() <= 1e-9 * (1 + X.abs().max().item())


def test_adapters_reuse_the_kernel_classes() -> None:
    assert IdealDiodePort().as_nonlinearity() == Ideal()
    assert PWLDiodePort(0.6, 12.0).as_nonlinearity() == PiecewiseLinear(0.6, 12.0)
    assert ShockleyPort(1e-12, 0.03).as_nonlinearity() == Shockley(1e-12, 0.03)


def test_shockley_kernel_resolvent_solves_its_equation() -> None:
    """base.Shockley.resolvent (Lambert W closed form) satisfies s + αF(s) = x."""
    nl = Shockley(is_=1e-14, nvt=0.025)
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    alpha = torch.full_like(x, 2e3)
    s = nl.resolvent(x, alpha)
    torch.testing.assert_close(s + alpha * nl.value(s), x, rtol=0, atol=1e-12)
    d = nl.resolvent_derivative(x, alpha)
    h = 1e-6
    fd = (nl.resolvent(x + h, alpha) - nl.resolvent(x - h, alpha)) / (2 * h)
    torch.testing.assert_close(d, fd, rtol=1e-6, atol=1e-9)


def test_port_from_model() -> None:
    assert isinstance(port_from_model(IdealDiode()), IdealDiodePort)
    pwl = port_from_model(PWLDiode(vf=0.3, ron=4.0))
    assert isinstance(pwl, PWLDiodePort) and (pwl.vf, pwl.ron) == (0.3, 4.0)
    d = port_from_model(D1N4148)
    assert isinstance(d, ShockleyPort)
    assert d.is_ == D1N4148.is_ and d.rs == D1N4148.rs and math.isclose(d.nvt, D1N4148.nvt)
    with pytest.raises(ValueError, match="breakdown"):
        port_from_model(ShockleyDiode(bv=5.0))


# -- preconditions --------------------------------------------------------


def test_table_with_decreasing_current_is_rejected() -> None:
    with pytest.raises(ValueError, match="not monotone: current decreases"):
        TablePort([0.0, 1.0, 2.0], [0.0, 2e-3, 1e-3])


def test_table_with_decreasing_voltage_is_rejected() -> None:
    with pytest.raises(ValueError, match="not monotone: voltage decreases"):
        TablePort([0.0, 1.0, 0.5], [0.0, 1e-3, 2e-3])


def test_callable_found_non_monotone_is_rejected() -> None:
    # A tunnel-diode-like hump: current falls between the peak and the valley.
    def tunnel(v: torch.Tensor) -> torch.Tensor:
        return 1e-3 * v * torch.exp(-v / 0.1) + 1e-9 * torch.expm1(v / 0.05)

    with pytest.raises(ValueError, match="not monotone: current falls"):
        FunctionPort(tunnel, check_range=(-1.0, 1.0))
    with pytest.raises(ValueError, match="not monotone"):
        FunctionPort(lambda v: -v)


def test_non_monotone_outside_the_check_grid_is_caught_when_solving() -> None:
    # Increasing on [-1, 1], decreasing beyond 2 V: the bracket test refuses it.
    port = FunctionPort(lambda v: v - 0.5 * torch.relu(v - 2.0) ** 2, check_range=(-1.0, 1.0))
    with pytest.raises(ValueError, match="not monotone"):
        port.admittance_activation(torch.tensor([50.0], dtype=torch.float64), 1.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf")])
def test_bad_resistance_is_rejected(bad: float) -> None:
    for port in (IdealDiodePort(), ShockleyPort(), _pwl_table(ClampPort())):
        with pytest.raises(ValueError, match="series resistance r"):
            port.impedance_activation(X, bad)


def test_bad_element_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match="low < high"):
        ClampPort(low=2.0, high=1.0)
    with pytest.raises(ValueError, match="low < high"):
        ZenerPort(bv=-1.0, vf=0.5)
    with pytest.raises(ValueError, match="on-resistance"):
        PWLDiodePort(ron=-1.0)
    with pytest.raises(ValueError, match="saturation current"):
        ShockleyPort(is_=0.0)
    with pytest.raises(ValueError, match="set-valued"):
        IdealDiodePort().current(X)
