"""``CircuitLayer``: hardware-linearization gradients against finite differences
(gradcheck), ngspice against the built-in simulator, composition with torch
layers and optimisers, and the exported netlist against the layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from diodenet.circuits import Circuit
from diodenet.linearization import BuiltinHardware, NgspiceHardware
from diodenet.torch import CircuitLayer
from diodenet.training import build_network, load_dataset

TIGHT = {"reltol": 1e-9, "vntol": 1e-12, "abstol": 1e-18}


@pytest.mark.parametrize("diode", ["ideal", "shockley"])
def test_gradcheck_conductances_and_inputs(diode):
    net = build_network(2, 2, 2, diode=diode, scale=2.0, seed=1)
    layer = CircuitLayer(net, dtype=torch.float64)
    x = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0),
                    requires_grad=True)

    def f(theta, x):
        return torch.func.functional_call(layer, {"theta": theta}, (x,))

    theta = layer.theta.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(f, (theta, x), eps=1e-6, atol=1e-6, rtol=1e-4,
                                    fast_mode=True)


def test_ngspice_gradient_equals_builtin(ngspice_available):
    net = build_network(2, 2, 3, diode="shockley", scale=2.0, seed=1)
    x = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    u0 = torch.as_tensor(net.encode(x.numpy()))
    grads = []
    with NgspiceHardware(net.circuit, net.inputs, net.outputs, options=TIGHT) as hw:
        for layer in (CircuitLayer(BuiltinHardware(net.circuit, net.inputs, net.outputs),
                                   dtype=torch.float64),
                      CircuitLayer(hw, dtype=torch.float64)):
            u = u0.clone().requires_grad_()
            (layer(u) ** 2).sum().backward()
            grads.append((layer.theta.grad, u.grad))
            assert "hardware=" + layer.hardware.name in repr(layer)
    # both ∂L/∂θ (conductances) and ∂L/∂u (what flows to the layers before)
    for builtin, spice in zip(*grads):
        assert builtin is not None and spice is not None
        rel = (builtin - spice).abs().max() / builtin.abs().max()
        assert rel <= 1e-4


def test_circuit_layer_in_sequential_with_torch_optimiser():
    torch.manual_seed(0)
    data = load_dataset("moons", n_samples=120)
    x = torch.as_tensor(data.x_train, dtype=torch.float32)
    y = torch.as_tensor(data.y_train)
    head = CircuitLayer(build_network(3, 2, 6, scale=1.0, seed=0))
    model = nn.Sequential(nn.Linear(2, 3), head)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert model[0].weight.grad is not None and bool(model[0].weight.grad.abs().sum() > 0)
    assert losses[-1] < 0.8 * losses[0]
    g = head.conductances()
    assert bool((g >= head.g_min).all() and (g <= head.g_max).all())
    assert model(x[0]).shape == (2,)  # unbatched


def test_conductances_stay_in_range_under_huge_steps():
    layer = CircuitLayer(build_network(2, 2, 2, seed=0))
    opt = torch.optim.SGD(layer.parameters(), lr=1e6)
    layer(torch.ones(4, 2)).sum().backward()
    opt.step()
    g = layer.conductances()
    assert bool(torch.isfinite(g).all() and (g >= 1e-6).all() and (g <= 1e-3).all())


def test_plain_circuit_and_bad_input():
    c = Circuit("divider")
    c.add_voltage_source("v1", "in", "0", 0.0)
    c.add_resistor("r1", "in", "out", conductance=1e-4, trainable=True)
    c.add_resistor("r2", "out", "0", conductance=3e-4, trainable=True)
    layer = CircuitLayer(c, ["v1"], ["out"], dtype=torch.float64)
    u = torch.tensor([[2.0]], dtype=torch.float64, requires_grad=True)
    y = layer(u)
    torch.testing.assert_close(y, torch.tensor([[0.5]], dtype=torch.float64))  # 2 V · 1/4
    y.sum().backward()
    # y = u g1/(g1+g2): dy/dg1 = u g2/(g1+g2)², dy/du = g1/(g1+g2)
    g1, g2 = layer.conductances().detach()
    s = torch.sigmoid(layer.theta.detach())
    dg_dtheta = layer.conductances().detach() * np.log(layer.g_max / layer.g_min) * s * (1 - s)
    dg = layer.theta.grad / dg_dtheta
    torch.testing.assert_close(dg[0], 2.0 * g2 / (g1 + g2) ** 2, rtol=1e-7, atol=0.0)
    torch.testing.assert_close(u.grad, (g1 / (g1 + g2)).reshape(1, 1), rtol=1e-9, atol=0.0)
    with pytest.raises(ValueError, match="NaN or inf"):
        layer(torch.tensor([[float("nan")]]))
    with pytest.raises(ValueError, match="outside"):
        CircuitLayer(c, ["v1"], ["out"], g_min=2e-4)


def test_trained_layer_netlist_predicts_the_same(ngspice_available):
    torch.manual_seed(0)
    data = load_dataset("moons", n_samples=240, seed=0)
    net = build_network(2, 2, 8, scale=5.0, seed=0)
    layer = CircuitLayer(net)
    x = torch.as_tensor(data.x_train, dtype=torch.float32)
    y = torch.as_tensor(data.y_train)
    opt = torch.optim.Adam(layer.parameters(), lr=0.1)
    for _ in range(15):
        opt.zero_grad()
        nn.functional.cross_entropy(layer(x), y).backward()
        opt.step()
    with torch.no_grad():
        pred = layer(torch.as_tensor(data.x_test, dtype=torch.float32)).argmax(1).numpy()
    assert (pred == data.y_test).mean() > 0.75  # it learned something
    circuit = Circuit.from_spice(layer.to_spice())
    u = net.encode(data.x_test)
    builtin = BuiltinHardware(circuit, net.inputs, net.outputs).settle(u).outputs.argmax(1)
    np.testing.assert_array_equal(builtin, pred)
    deployed = layer.deploy("ngspice")
    try:
        with torch.no_grad():
            spice = deployed(torch.as_tensor(data.x_test)).argmax(1).numpy()
    finally:
        deployed.close()
    assert deployed.hardware.name == "ngspice"
    assert (spice == pred).mean() >= 0.99


def test_layers_sharing_one_hardware_each_compute_with_their_own_conductances():
    """Two layers on one ``Hardware``: each forward programs its own conductances
    (the second layer's once leaked into the first's answer, 0.35 V here)."""
    from diodenet.linearization import make_hardware

    net = build_network(2, 2, 3, scale=2.0, seed=1)
    hw = make_hardware("builtin", net.circuit, net.inputs, net.outputs)
    a, b = CircuitLayer(hw, dtype=torch.float64), CircuitLayer(hw, dtype=torch.float64)
    with torch.no_grad():
        b.theta.add_(0.5)
    features = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    x = torch.as_tensor(net.encode(features.numpy()))  # a plain hardware takes source values
    own = CircuitLayer(make_hardware("builtin", net.circuit, net.inputs, net.outputs),
                       dtype=torch.float64)(x)  # a's conductances on a hardware of its own
    first = a(x)
    other = b(x)
    again = a(x)
    assert not torch.allclose(other, first, atol=1e-3)
    torch.testing.assert_close(first, own, rtol=0, atol=1e-12)
    torch.testing.assert_close(again, own, rtol=0, atol=1e-12)


def test_inference_mode_gives_the_no_grad_answer_and_second_derivatives_refused():
    net = build_network(2, 2, 3, scale=2.0, seed=1)
    layer = CircuitLayer(net, dtype=torch.float64)
    x = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want = layer(x)
    with torch.inference_mode():
        got = layer(x)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    # the gradient is measured on the circuit: it has no derivative to differentiate
    with pytest.raises(RuntimeError, match=r"second derivatives \(create_graph=True\)"):
        torch.autograd.grad((layer(x) ** 2).sum(), layer.theta, create_graph=True)


def test_device_as_torch_factories_take_it_and_meta_defers_to_a_clear_refusal():
    """``device=`` places θ as ``nn.Linear``'s does; built under ``with
    torch.device("meta")`` (deferred initialisation) the hardware still holds
    real values on the CPU, a forward on meta is refused in one message, and
    ``to_empty`` + ``load_state_dict`` gives the trained layer's answer."""
    net = build_network(2, 2, 3, scale=2.0, seed=1)
    layer = CircuitLayer(net, dtype=torch.float64, device="cpu")
    assert layer.theta.device == torch.device("cpu")
    x = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    with torch.device("meta"):
        deferred = CircuitLayer(net, dtype=torch.float64)
    assert deferred.theta.is_meta and deferred.hardware.kernel.H.device.type == "cpu"
    with pytest.raises(RuntimeError, match="cannot run on the meta device"):
        deferred(x)
    real = deferred.to_empty(device="cpu")
    real.load_state_dict(layer.state_dict())
    torch.testing.assert_close(real(x), layer(x), rtol=0, atol=0)


def test_deepcopy_and_pickle_give_an_independent_layer_that_answers_the_same():
    """``copy.deepcopy`` (best-model copies, ``AveragedModel``) and pickling
    once failed on the hardware's sparse tensors and lambdas; the copy gets its
    own hardware, built again, and trains on its own."""
    import copy
    import pickle

    net = build_network(2, 2, 3, scale=2.0, seed=1)
    layer = CircuitLayer(net, dtype=torch.float64)
    x = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    y = layer(x)
    for other in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert other.hardware is not layer.hardware
        torch.testing.assert_close(other(x), y, rtol=0, atol=0)
        (other(x) ** 2).sum().backward()
        assert other.theta.grad is not None and layer.theta.grad is None
        with torch.no_grad():
            other.theta.add_(0.3)
        assert not torch.allclose(other(x), y)
        torch.testing.assert_close(layer(x), y, rtol=0, atol=0)


def test_copies_keep_the_hardware_settings(ngspice_available):
    """A copy is built again with its hardware's settings: it once got the
    defaults (a float32 builtin came back float64; an ngspice hardware with
    Shockley stand-ins came back with switches, 0.4 % apart), so it computed
    another function than the layer it copied."""
    import copy
    import pickle

    net = build_network(2, 2, 3, scale=2.0, seed=1)
    x = torch.randn(4, len(net.inputs), dtype=torch.float64,
                    generator=torch.Generator().manual_seed(4))
    builtin = BuiltinHardware(net.circuit, net.inputs, net.outputs, dtype=torch.float32,
                              tol=1e-5, state_tol=1e-6)
    with NgspiceHardware(net.circuit, net.inputs, net.outputs, ideal_diode="shockley",
                         options={"reltol": 1e-6}) as spice:
        for hw in (builtin, spice):
            layer = CircuitLayer(hw, dtype=torch.float64)
            y = layer(x)
            for other in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
                try:
                    torch.testing.assert_close(other(x), y, rtol=0, atol=0)
                    assert type(other.hardware) is type(hw)
                    assert other.hardware.settings == hw.settings
                finally:
                    other.close()


def test_torch_compile_runs_the_circuit_eagerly(tmp_path):
    """torch.compile once traced into a settle's numpy work (graph breaks on
    ``Tensor.item()``; with the default backend it failed after about 49 s in
    dynamo); that work is now outside what it traces. A fresh interpreter with a
    timeout: a compile that hangs must fail, not stall the suite."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import torch
        from diodenet.torch import CircuitLayer
        from diodenet.training import build_network
        net = build_network(2, 2, 3, scale=2.0, seed=1)
        layer = CircuitLayer(net, dtype=torch.float64)
        x = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
        eager = layer(x)
        out = torch.compile(layer, backend="eager")(x)
        out.sum().backward()
        assert torch.equal(out, eager), (out, eager)
        assert layer.theta.grad is not None
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-2000:]
    assert "Graph break" not in run.stderr, run.stderr[-2000:]
