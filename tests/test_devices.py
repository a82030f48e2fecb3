"""Physical instances on the built-in simulator: exact when ideal, and the
in-situ gradient against finite differences through the same instance."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from diodenet import Circuit, PWLDiode, ShockleyDiode
from diodenet.circuits import IdealDiode, VoltageSource
from diodenet.devices import (
    OPEN_CONDUCTANCE,
    DeviceSpec,
    Instance,
    InstanceHardware,
    lay_out_crossbar,
    parse_fraction,
)
from diodenet.linearization import BuiltinHardware, hardware_gradient, make_estimator, sse_loss
from test_gradient_builtin import random_rtgd

INPUTS, OUTPUTS = ["v1", "v2", "i1"], ["n3", ("n4", "n0")]
MODELS = [IdealDiode(), PWLDiode(vf=0.3, ron=50.0), ShockleyDiode(is_=1e-12, n=1.5, rs=5.0)]
#: every non-ideality that keeps the instance deterministic (no write or read noise)
VARIED = DeviceSpec(tolerance=0.1, diode_is=0.5, diode_n=0.05, diode_rs=0.2, diode_vf=0.05,
                    wire_resistance=3.0, temperature=60.0)


def _batch(seed: int, n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    u = np.column_stack([rng.uniform(-2, 2, n), rng.uniform(-2, 2, n),
                         rng.uniform(-1e-3, 1e-3, n)])
    return u, rng.uniform(-0.5, 0.5, (n, 2))


@pytest.mark.parametrize("k, model", list(enumerate(MODELS)))
def test_ideal_instance_is_the_nominal_circuit_bit_for_bit(k: int, model: object):
    c = random_rtgd(k, model, extras=k == 0)
    u, t = _batch(k)
    nominal = BuiltinHardware(c, INPUTS, OUTPUTS)
    inst = InstanceHardware(c, INPUTS, OUTPUTS, DeviceSpec(), seed=k)
    assert inst.physical.to_spice().splitlines()[1:] == c.to_spice().splitlines()[1:]
    for step in range(2):
        a, b = nominal.settle(u), inst.settle(u)
        for field in ("outputs", "branch_voltages", "input_responses", "power",
                      "conducting", "diode_conductance"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), field
        ga, gb = hardware_gradient(nominal, u, sse_loss(t)), hardware_gradient(inst, u, sse_loss(t))
        # the builtin hardware sums Σ v·v̂ from node-voltage products, the instance
        # from its branch voltages: the same gradient to round-off
        np.testing.assert_allclose(ga.dL_dg, gb.dL_dg, rtol=1e-12,
                                   atol=1e-12 * np.abs(ga.dL_dg).max())
        assert np.array_equal(ga.dL_du, gb.dL_du)
        jitter = np.random.default_rng(step).normal(0, 0.2, len(ga.dL_dg))
        g = nominal.conductances() * np.exp(jitter)
        nominal.set_conductances(g)
        inst.set_conductances(g)


def test_instances_are_seeded_and_reproducible():
    c = random_rtgd(1, MODELS[2])
    spec = DeviceSpec(tolerance=0.1, write_noise=0.02, diode_is=0.3)
    a, b, other = Instance(c, spec, 7), Instance(c, spec, 7), Instance(c, spec, 8)
    g = np.full(len(a.trainable), 1e-3)
    assert np.array_equal(a.factors, b.factors) and not np.array_equal(a.factors, other.factors)
    first = a.program(g)
    assert np.array_equal(first, b.program(g))  # the same write sequence
    assert not np.array_equal(first, a.program(g))  # a fresh programming error per write
    assert a.diode_models == b.diode_models != other.diode_models
    # log-normal tolerance: ln f ~ N(0, 0.1²) over many devices
    big = Instance(Circuit("many"), spec, 0)
    assert big.factors.size == 0
    many = Circuit("many devices")
    many.add_voltage_source("v1", "a", "0", 1.0)
    for i in range(4000):
        many.add_resistor(f"r{i}", "a", "0", resistance=1e3)
    f = Instance(many, DeviceSpec(tolerance=0.1), 0).factors
    assert abs(np.log(f).std() - 0.1) < 0.005 and abs(np.log(f).mean()) < 0.005


def test_bounds_and_stuck_devices():
    many = Circuit("many devices")
    many.add_voltage_source("v1", "a", "0", 1.0)
    for i in range(2000):
        many.add_resistor(f"r{i}", "a", "0", resistance=1e3)
    spec = DeviceSpec(tolerance=0.5, g_bounds=(1e-5, 2e-3), stuck_open=0.1, stuck_at_bound=0.2)
    inst = Instance(many, spec, 3)
    g = inst.program(np.full(2000, 1.9e-3))
    stuck = np.array([s is not None for s in inst.stuck])
    assert abs(stuck.mean() - 0.3) < 0.03
    opened = np.array([s == "open" for s in inst.stuck])
    assert np.all(g[opened] == OPEN_CONDUCTANCE)
    assert np.all((g[~opened] >= 1e-5) & (g[~opened] <= 2e-3))
    assert np.all(g[[s == "hi" for s in inst.stuck]] == 2e-3)
    assert np.all(g[[s == "lo" for s in inst.stuck]] == 1e-5)
    with pytest.raises(ValueError, match="stuck_at_bound needs finite g_bounds"):
        DeviceSpec(stuck_at_bound=0.1)
    # a lower bound of 0 S: stuck low is open (1e-12 S), as a clipped write is;
    # it was exactly 0 S, which the circuit refused after the whole training
    zero = Instance(many, DeviceSpec(g_bounds=(0.0, 2e-3), stuck_at_bound=0.2), 3)
    g0 = zero.program(np.full(2000, 1.9e-3))
    assert np.all(g0[[s == "lo" for s in zero.stuck]] == OPEN_CONDUCTANCE) and (g0 > 0).all()
    for bad in (np.nan, np.inf, 0.0, -1e-3):  # these were passed through or floored silently
        with pytest.raises(ValueError, match="conductance of r0 must be finite and > 0 S"):
            inst.program(np.r_[bad, np.full(1999, 1e-3)])
    assert parse_fraction("5%") == 0.05 and parse_fraction(0.05) == 0.05
    with pytest.raises(ValueError, match="tolerance must be a fraction"):
        parse_fraction("five", "tolerance")


def test_crossbar_wires_drop_voltage_like_series_resistors():
    """One device between two driven lines, each with one segment of r_w: the
    device current is V / (R + 2 r_w) (closed form); with a second device on
    the same row the first segment carries both currents."""
    c = Circuit("xbar")
    c.add_voltage_source("v1", "a", "0", 1.0)
    c.add_resistor("r1", "a", "b", resistance=1e3)
    c.add_resistor("r2", "a", "b", resistance=2e3)
    c.add_resistor("rl", "b", "0", resistance=5e2, trainable=False)
    assert lay_out_crossbar(c, 0.0).to_spice() == c.to_spice()
    x = lay_out_crossbar(c, 10.0)
    assert [r.name for r in x.trainable_resistors] == ["r1", "r2"]
    hw = BuiltinHardware(x, ["v1"], ["b", ("r1_a", "r1_b"), ("r2_a", "r2_b")])
    y = hw.settle(np.array([[1.0]])).outputs[0]
    # by hand: node a -10- a1 -10- a2 ; b -10- b1 -10- b2 ; r1: a1-b1, r2: a2-b2; rl: b-0
    G = np.zeros((5, 5))  # unknowns a1, a2, b, b1, b2 (a = 1 V)
    def stamp(i, j, g):
        for p, q in ((i, j), (j, i)):
            if p is not None:
                G[p, p] += g
                if q is not None:
                    G[p, q] -= g
    rhs = np.zeros(5)
    stamp(0, None, 0.1)
    rhs[0] += 0.1  # segment a - a1 with V(a) = 1
    stamp(0, 1, 0.1)
    stamp(2, 3, 0.1)
    stamp(3, 4, 0.1)
    stamp(0, 3, 1e-3)
    stamp(1, 4, 5e-4)
    stamp(2, None, 2e-3)
    v = np.linalg.solve(G, rhs)
    np.testing.assert_allclose(y, [v[2], v[0] - v[3], v[1] - v[4]], rtol=1e-12)


def _fd(hw, u, loss, rel: float) -> np.ndarray:
    """Central differences of the loss through ``hw``, stepping each
    *programmed* conductance by ``rel`` relative."""
    g0 = hw.conductances()
    out = np.zeros_like(g0)
    for k in range(len(g0)):
        vals = []
        for s in (1, -1):
            g = g0.copy()
            g[k] *= 1 + s * rel
            hw.set_conductances(g)
            vals.append(float(loss(torch.as_tensor(hw.settle(u).outputs))))
        out[k] = (vals[0] - vals[1]) / (2 * rel * g0[k])
    hw.set_conductances(g0)
    return out


@pytest.mark.parametrize("k, model", list(enumerate(MODELS)))
def test_hl_on_the_instance_equals_finite_differences_through_it(k: int, model: object):
    c = random_rtgd(10 + k, model)
    u, t = _batch(k)
    loss = sse_loss(t)
    hw = InstanceHardware(c, INPUTS, OUTPUTS, VARIED, seed=k)
    assert not np.allclose(hw.actual_conductances(), hw.conductances(), rtol=0.01)
    hl = hardware_gradient(hw, u, loss).dL_dg
    fd = _fd(hw, u, loss, 1e-6)
    scale = np.abs(fd).max()
    assert np.abs(hl - fd).max() <= 1e-6 * scale
    # the digital twin's gradient is that of the nominal circuit: wrong here, by
    # 17 % (ideal), 16 % (PWL), 23 % (Shockley) of the largest component
    model_grad = make_estimator("model")(hw, u, loss).dL_dg
    err = np.abs(model_grad - fd).max() / scale
    assert err > 0.1, f"model gradient only {err:.2%} off"
    # equilibrium propagation on the same instance: O(β²) symmetric, O(β) one-sided
    sym = make_estimator("eqprop", beta=1e-4)(hw, u, loss).dL_dg
    one = make_estimator("eqprop", beta=1e-4, symmetric=False)(hw, u, loss).dL_dg
    assert np.abs(sym - fd).max() <= 1e-4 * scale
    assert np.abs(one - fd).max() <= 1e-2 * scale
    if k == 0:
        fd_est = make_estimator("fd", step=1e-6)(hw, u, loss).dL_dg
        assert np.abs(fd_est - fd).max() <= 1e-9 * scale


@pytest.mark.parametrize("k, model", list(enumerate(MODELS)))
def test_every_estimator_names_its_gradient_and_fd_measures_the_inputs(k: int, model: object):
    """Each estimator's ``Gradient`` is keyed by the resistors and inputs
    (``by_resistor``, ``by_input``), and ``fd`` differences the inputs too:
    its ``∂L/∂u`` equals hardware linearization's (exact) on the instance, an
    input that is a current source (``i1``) included."""
    from diodenet.linearization import ESTIMATORS

    c = random_rtgd(20 + k, model)
    u, t = _batch(k)
    loss = sse_loss(t)
    hw = InstanceHardware(c, INPUTS, OUTPUTS, VARIED, seed=k)
    exact = hardware_gradient(hw, u, loss)
    for name in ESTIMATORS:
        grad = make_estimator(name, step=1e-6)(hw, u, loss)
        assert list(grad.by_resistor()) == hw.trainable, name
        assert list(grad.by_input()) == INPUTS, name
        assert grad.dL_du.shape == u.shape, name
        if name == "fd":
            scale = np.abs(exact.dL_du).max()
            assert scale > 0
            np.testing.assert_allclose(grad.dL_du, exact.dL_du, rtol=0, atol=1e-6 * scale)
            np.testing.assert_allclose(grad.dL_dg, exact.dL_dg, rtol=0,
                                       atol=1e-6 * np.abs(exact.dL_dg).max())


def test_model_gradient_error_grows_with_tolerance():
    """How far the twin's gradient is from the instance's, over tolerances:
    0 at 0 %, then about the tolerance itself (measured 2.2 %, 12 %, 22 % of
    the largest component at 2 %, 10 %, 20 %)."""
    c = random_rtgd(3, MODELS[2])
    u, t = _batch(3)
    loss = sse_loss(t)
    errors = []
    for tol in (0.0, 0.02, 0.1, 0.2):
        hw = InstanceHardware(c, INPUTS, OUTPUTS, DeviceSpec(tolerance=tol), seed=1)
        hl = hardware_gradient(hw, u, loss).dL_dg
        model_grad = make_estimator("model")(hw, u, loss).dL_dg
        errors.append(np.abs(model_grad - hl).max() / np.abs(hl).max())
    assert errors[0] <= 1e-12
    assert errors[1] > 0.01 and errors[1] < errors[2] < errors[3] and errors[2] > 0.05


def test_power_is_what_the_elements_dissipate():
    """P from the sources equals Σ g v² over resistors plus Σ v·i over diodes,
    here in closed form: a divider, and a source–resistor–ideal-diode loop."""
    c = Circuit("divider")
    c.add_voltage_source("v1", "a", "0", 1.0)
    c.add_resistor("r1", "a", "b", resistance=1e3)
    c.add_resistor("r2", "b", "0", resistance=3e3)
    c.add_current_source("i1", "0", "b", 0.0)
    hw = BuiltinHardware(c, ["v1", "i1"], ["b"])
    p = hw.settle(np.array([[2.0, 0.0], [1.0, 1e-3]])).power
    # (2 V)² / 4 kΩ; with 1 mA into b: V(b) = (1/1k + 1m) / (1/1k + 1/3k) = 1.5 V
    vb = 1.5
    np.testing.assert_allclose(p, [1e-3, (1 - vb) ** 2 / 1e3 + vb**2 / 3e3], rtol=1e-12)
    d = Circuit("diode")
    d.add_voltage_source("v1", "a", "0", 1.0)
    d.add_resistor("r1", "a", "b", resistance=1e3)
    d.add_diode("d1", "b", "0", PWLDiode(vf=0.5, ron=0.0))
    p = BuiltinHardware(d, ["v1"], ["b"]).settle(np.array([[3.0], [0.2]])).power
    # on: 2.5 mA through 1 kΩ (6.25 mW) and 0.5 V (1.25 mW); off: nothing flows
    np.testing.assert_allclose(p, [7.5e-3, 0.0], atol=1e-15)


def test_readout_noise_and_adc():
    c = random_rtgd(2, MODELS[0])
    u, t = _batch(2, 40)
    exact = InstanceHardware(c, INPUTS, OUTPUTS, DeviceSpec())
    noisy = InstanceHardware(c, INPUTS, OUTPUTS, DeviceSpec(read_noise=1e-3), seed=4)
    again = InstanceHardware(c, INPUTS, OUTPUTS, DeviceSpec(read_noise=1e-3), seed=4)
    y0, y1 = exact.settle(u).outputs, noisy.settle(u).outputs
    assert np.array_equal(y1, again.settle(u).outputs)
    assert 0.7e-3 < (y1 - y0).std() < 1.3e-3
    adc = InstanceHardware(c, INPUTS, OUTPUTS, DeviceSpec(adc_bits=8, full_scale=1.0))
    y = adc.settle(u).outputs
    lsb = 2.0 / 256
    assert np.all((y >= -1.0) & (y <= 1.0 - lsb))
    np.testing.assert_allclose(y / lsb, np.rint(y / lsb), atol=1e-9)
    inside = np.abs(y0) < 1.0 - lsb
    assert np.all(np.abs(y - y0)[inside] <= lsb / 2 + 1e-12)
    # a b-bit converter has 2^b codes: -FS .. FS - LSB (it once had 2^b + 1)
    two = InstanceHardware(c, INPUTS, OUTPUTS, DeviceSpec(adc_bits=2, full_scale=1.0))
    codes = set(two.read_voltage(np.linspace(-3.0, 3.0, 601)).tolist())
    assert codes == {-1.0, -0.5, 0.0, 0.5}
    # auto-ranged linearized readout: a 12-bit ADC costs the gradient ~ 2^-12 relative
    adc12 = InstanceHardware(c, INPUTS, OUTPUTS, DeviceSpec(adc_bits=12, full_scale=10.0))
    loss = sse_loss(t)
    ref = hardware_gradient(exact, u, loss).dL_dg
    got = hardware_gradient(adc12, u, loss).dL_dg
    err = np.abs(got - ref).max() / np.abs(ref).max()
    assert 0 < err < 0.02


def test_trainer_runs_each_estimator_on_an_instance():
    from diodenet.training import TrainConfig, Trainer, build_network, load_dataset

    data = load_dataset("xor", seed=0)
    net = build_network(data.n_features, data.n_classes, 4, scale=10.0, seed=0)
    x, y = data.x_train[:32], data.y_train[:32]
    for name in ("hl", "eqprop", "model"):  # fd: tested above, costly in a loop
        hw = InstanceHardware(net.circuit, net.inputs, net.outputs, DeviceSpec(tolerance=0.1))
        cfg = TrainConfig(epochs=1, batch_size=16, gradient=name, temperature=0.5)
        result = Trainer(hw, net.encode, data.n_classes, x, y, cfg).run()
        assert result.power_w is not None and result.power_w > 0
        assert math.isfinite(result.history[0]["batch_loss"])
        assert result.history[0]["power_w"] > 0


def test_cascade_deployed_to_instances_keeps_exact_gradients():
    """Each stage of a cascade on its own physical instance: the stage-by-stage
    gradient equals finite differences of the programmed conductances through
    the instances (tolerance, diode spread, wires and temperature on)."""
    from diodenet.cascades import Cascade
    from test_cascade import stage

    model = ShockleyDiode(is_=1e-12, n=1.2, rs=2.0)
    (c1, i1, o1), (c2, i2, o2) = stage(0, 2, 3, 2, model), stage(1, 2, 3, 1, model)
    stages = [InstanceHardware(c, i, o, VARIED, seed=s)
              for s, (c, i, o) in enumerate([(c1, i1, o1), (c2, i2, o2)])]
    cascade = Cascade(stages, gains=[-2.0])
    rng = np.random.default_rng(5)
    u, t = rng.uniform(-2, 2, (4, 2)), rng.uniform(-0.3, 0.3, (4, 1))
    loss = sse_loss(t)
    grads = cascade.gradient(u, loss).dL_dg
    for hw, grad in zip(stages, grads):
        g0 = hw.conductances()
        for k in (0, len(g0) // 2, len(g0) - 1):
            vals = []
            for s in (1, -1):
                g = g0.copy()
                g[k] *= 1 + s * 1e-6
                hw.set_conductances(g)
                vals.append(float(loss(torch.as_tensor(cascade(u)))))
            hw.set_conductances(g0)
            fd = (vals[0] - vals[1]) / (2e-6 * g0[k])
            assert abs(grad[k] - fd) <= 1e-6 * np.abs(grad).max()


def _many_devices(n: int) -> Circuit:
    c = Circuit("many devices")
    c.add_voltage_source("v1", "a", "0", 1.0)
    for i in range(n):
        c.add_resistor(f"r{i}", "a", "0", resistance=1e3)
    return c


def test_gaussian_tolerance_and_write_noise_follow_their_formulas():
    """Gaussian and log-normal tolerance of one seed share the normal draws z:
    f_gauss = max(1 + σz, 0.01) exactly where f_lognormal = exp(σz); a write
    gives g·f·(1 + ε) with ε ~ N(0, write_noise²), fresh on every write."""
    many = _many_devices(4000)
    ln = Instance(many, DeviceSpec(tolerance=0.1), 5).factors
    gauss = Instance(many, DeviceSpec(tolerance=0.1, distribution="gaussian"), 5).factors
    z = np.log(ln) / 0.1
    np.testing.assert_allclose(gauss, np.maximum(1 + 0.1 * z, 0.01), rtol=1e-12)
    assert abs(gauss.std() - 0.1) < 0.005 and abs(gauss.mean() - 1) < 0.005
    wide = Instance(many, DeviceSpec(tolerance=0.6, distribution="gaussian"), 5).factors
    assert wide.min() == 0.01  # the floor keeps every device conducting
    spec = DeviceSpec(tolerance=0.1, write_noise=0.02)
    inst = Instance(many, spec, 5)
    g = np.geomspace(1e-6, 1e-3, 4000)
    eps = [inst.program(g) / (g * inst.factors) - 1 for _ in range(2)]
    for e in eps:
        assert abs(e.std() - 0.02) < 0.001 and abs(e.mean()) < 0.001
    assert abs(np.corrcoef(eps[0], eps[1])[0, 1]) < 0.05  # independent writes
    assert inst.writes == 2


def test_diode_spread_draws_is_n_rs_and_vf_per_device():
    """ln IS, N and RS relative, PWL vf: each spread with its σ over many
    diodes; at a temperature, each drawn diode goes through the SPICE model."""
    from diodenet.devices import shockley_at_temperature

    base = ShockleyDiode(is_=1e-12, n=1.5, rs=5.0)
    c = Circuit("diodes")
    c.add_voltage_source("v1", "a", "0", 1.0)
    c.add_resistor("r0", "a", "b", resistance=1e3)
    for i in range(3000):
        c.add_diode(f"d{i}", "b", "0", base)
    spec = DeviceSpec(diode_is=0.5, diode_n=0.05, diode_rs=0.2)
    models = list(Instance(c, spec, 2).diode_models.values())
    log_is = np.log([m.is_ / base.is_ for m in models])
    n = np.array([m.n / base.n - 1 for m in models])
    rs = np.array([m.rs / base.rs - 1 for m in models])
    for x, sigma in ((log_is, 0.5), (n, 0.05), (rs, 0.2)):
        assert abs(x.std() - sigma) < 0.05 * sigma and abs(x.mean()) < 0.05 * sigma
    hot = Instance(c, dataclasses.replace(spec, temperature=80.0), 2).diode_models
    for name, m in list(Instance(c, spec, 2).diode_models.items())[:20]:
        assert hot[name] == shockley_at_temperature(m, 80.0)
    p = Circuit("pwl")
    p.add_voltage_source("v1", "a", "0", 1.0)
    p.add_resistor("r0", "a", "b", resistance=1e3)
    for i in range(3000):
        p.add_diode(f"d{i}", "b", "0", PWLDiode(vf=0.3, ron=10.0))
    vf = np.array([m.vf for m in Instance(p, DeviceSpec(diode_vf=0.02), 2)
                   .diode_models.values()])
    assert abs(vf.std() - 0.02) < 0.001 and abs(vf.mean() - 0.3) < 0.001


def test_read_noise_on_the_linearized_experiment_is_scaled_by_its_range():
    """A linearized report is Q(a·x + n)/a, a per sample the auto-range: the
    error times a is the read noise itself (σ = 1 mV here), reproducibly."""
    c = random_rtgd(2, MODELS[0])
    u, _ = _batch(2, 200)
    drive = {("out", 0): np.linspace(1e-4, 2e-3, 200), ("out", 1): np.full(200, -1e-3)}
    spec = DeviceSpec(read_noise=1e-3, full_scale=10.0)

    def experiment() -> tuple[np.ndarray, np.ndarray]:
        hw = InstanceHardware(c, INPUTS, OUTPUTS, spec, seed=6)
        lin = hw.settle_linearized(hw.settle(u), drive, adjoint=True)
        exact = lin.physical
        resp = np.abs(exact.input_responses)
        volts = np.where([isinstance(c[n], VoltageSource) for n in INPUTS],
                         resp / spec.read_conductance, resp)
        peak = np.max(np.hstack([np.abs(exact.outputs), np.abs(exact.branch_voltages),
                                 volts]), axis=1)
        a = (0.5 * spec.full_scale / peak)[:, None]
        return (lin.outputs - exact.outputs) * a, (lin.branch_voltages - exact.branch_voltages) * a

    (dy, dv), (dy2, dv2) = experiment(), experiment()
    assert np.array_equal(dy, dy2) and np.array_equal(dv, dv2)
    for err in (dy, dv):
        assert abs(err.std() - 1e-3) < 1e-4 and abs(err.mean()) < 1e-4


def test_instance_power_is_the_physical_circuits():
    """The power an instance reports is its own netlist's (devices at their
    actual values, wires included), not the nominal circuit's."""
    c = random_rtgd(4, MODELS[1])
    u, _ = _batch(4)
    hw = InstanceHardware(c, INPUTS, OUTPUTS, VARIED, seed=3)
    # the trainer's view is the nominal one: what it programmed, not what the devices hold
    nominal_g = np.array([r.g for r in c.trainable_resistors])
    assert np.array_equal(hw.conductances(), nominal_g)
    np.testing.assert_allclose(hw.actual_conductances(), nominal_g * hw.instance.factors,
                               rtol=1e-15)
    p = hw.settle(u).power
    np.testing.assert_allclose(p, BuiltinHardware(hw.physical, INPUTS, OUTPUTS).settle(u).power,
                               rtol=1e-12)
    assert np.abs(p / BuiltinHardware(c, INPUTS, OUTPUTS).settle(u).power - 1).max() > 0.01


@pytest.mark.parametrize("k", [0, 1])
def test_symmetric_eqprop_is_exact_on_piecewise_linear_networks(k: int):
    """Ideal and PWL diodes: where the nudge changes no diode's state, each
    device power is quadratic in β, so the symmetric estimate is hl itself
    (measured 1e-13 at β = 0.01 and 0.1); one-sided stays O(β)."""
    c = random_rtgd(10 + k, MODELS[k])
    u, t = _batch(k)
    loss = sse_loss(t)
    hw = InstanceHardware(c, INPUTS, OUTPUTS, DeviceSpec(tolerance=0.1), seed=k)
    hl = hardware_gradient(hw, u, loss).dL_dg
    scale = np.abs(hl).max()
    for beta in (0.01, 0.1):
        sym = make_estimator("eqprop", beta=beta)(hw, u, loss).dL_dg
        assert np.abs(sym - hl).max() <= 1e-10 * scale
    one = make_estimator("eqprop", beta=0.1, nudge="one-sided")(hw, u, loss).dL_dg
    assert np.abs(one - hl).max() > 1e-4 * scale


@pytest.mark.parametrize("build, problem", [
    (lambda c: InstanceHardware(c, INPUTS, OUTPUTS, DeviceSpec(), seed=None), "seed is an int"),
    (lambda c: InstanceHardware(c, INPUTS, OUTPUTS, DeviceSpec(), seed=-1), "seed is an int"),
    (lambda c: InstanceHardware(c, INPUTS, OUTPUTS, {"tolerance": 0.1}), "spec must be a Dev"),
    (lambda c: DeviceSpec(g_bounds=(0.0, 1.0, 2.0)), "g_bounds must be a pair"),
    (lambda c: DeviceSpec(eg=1e6), "eg must be a band gap"),
    (lambda c: DeviceSpec(eg=float("nan")), "eg must be a band gap"),
    (lambda c: DeviceSpec(xti=float("nan")), "xti must be in"),
])
def test_device_settings_are_checked_where_they_are_given(build, problem: str) -> None:
    """Each once failed later and elsewhere (a TypeError from int(), numpy's
    seed message, an AttributeError, an OverflowError at the first settle)."""
    with pytest.raises(ValueError, match=problem):
        build(random_rtgd(1, MODELS[0]))
    assert DeviceSpec(tolerance=np.float32(0.1)).tolerance == np.float32(0.1)  # numpy numbers
