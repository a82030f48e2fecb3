"""Nodes held by grounded diode ports: the built-in hardware eliminates them
like nodes held by grounded sources. Its kernel is checked against an
independent extraction, and every measurement against the same hardware
with the ports kept as free unknowns (the other partition of one MNA)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import diodenet.linearization.builtin as builtin
from diodenet.circuits import PWLDiode
from diodenet.kernels import extract_kernel
from diodenet.kernels.stamped import StampedMNA
from diodenet.linearization import BuiltinHardware
from diodenet.linearization.hardware import output_port
from diodenet.training.architectures import build_network

torch.set_num_threads(1)

VARIANTS = {
    "ideal": {},
    "pwl-offset": {"diode": PWLDiode(vf=0.3)},  # the port's value is z - vf
    "turned-round": {"sign": "-"},  # cathode at ground: the node is held at -z
    "current-bias": {"bias": "current"},
    "clamped": {"activation": "clamp"},  # a second diode per node, to a rail
}


def _pair(outputs: list | None = None, hidden: int = 9, **kwargs
          ) -> tuple[BuiltinHardware, BuiltinHardware, object]:
    """The hardware with port-driven nodes, and with its ports kept free."""
    net = build_network(6, 3, hidden, scale=5.0, seed=3, **kwargs)
    outputs = net.outputs if outputs is None else outputs
    held = BuiltinHardware(net.circuit, net.inputs, outputs)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(builtin, "StampedMNA",
                   lambda *a, **k: StampedMNA(*a, **{**k, "drive_ports": False}))
        free = BuiltinHardware(net.circuit, net.inputs, outputs)
    assert held._st.port_driven.size == hidden and free._st.port_driven.size == 0
    return held, free, net


def _close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-10) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    scale = max(float(np.abs(b).max()), 1e-300)
    assert float(np.abs(a - b).max()) <= rtol * scale


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_kernel_equals_an_independent_extraction(variant):
    held, _, net = _pair(**VARIANTS[variant])
    rng = np.random.default_rng(1)
    for _ in range(2):  # as built, then re-programmed
        K = extract_kernel(held.circuit, net.inputs, net.outputs)
        for name in ("H", "B", "C", "D", "b", "d"):
            ours, truth = getattr(held.kernel, name), getattr(K, name)
            scale = max(float(truth.abs().max()), 1e-300)
            assert float((ours - truth).abs().max()) <= 1e-12 * scale, name
        held.set_conductances(held.conductances() * np.exp(rng.uniform(-1, 1, len(held.trainable))))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_measurements_equal_those_with_the_ports_free(variant):
    """Forward settle (outputs, node and branch voltages, source currents,
    power), the linearized settle driven at inputs and outputs, the adjoint
    and the gradient: the same to round-off either way."""
    held, free, net = _pair(**VARIANTS[variant])
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (7, 6))
    u = net.encode(x)
    a, b = held.settle(u), free.settle(u)
    for name in ("outputs", "branch_voltages", "input_responses", "power"):
        _close(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.conducting, b.conducting)
    drive = {output_port(0): rng.normal(size=7), output_port(2): rng.normal(size=7),
             net.inputs[1]: rng.normal(size=7)}
    for adjoint in (False, True):
        la = held.settle_linearized(a, drive, adjoint=adjoint)
        lb = free.settle_linearized(b, drive, adjoint=adjoint)
        for name in ("outputs", "branch_voltages", "input_responses"):
            _close(getattr(la, name), getattr(lb, name))
    adj = {output_port(j): rng.normal(size=7) for j in range(3)}
    ga = held.conductance_gradient(a, held.settle_linearized(a, adj, adjoint=True))
    gb = free.conductance_gradient(b, free.settle_linearized(b, adj, adjoint=True))
    _close(ga, gb)


def test_outputs_at_held_nodes_are_read_and_driven_there():
    """Outputs at the hidden nodes themselves (as a cascade's inner stages
    have), each held by its diode's port: reading them (C, D) and driving
    current into them (the linearized settle) agree with the ports kept free."""
    outputs = [("h0", "0"), ("h4", "h7"), "h8"]
    held, free, net = _pair(outputs)
    K = extract_kernel(held.circuit, net.inputs, outputs)
    for name in ("C", "D", "d"):
        ours, truth = getattr(held.kernel, name), getattr(K, name)
        assert float((ours - truth).abs().max()) <= 1e-12 * float(truth.abs().max()), name
    rng = np.random.default_rng(3)
    u = net.encode(rng.uniform(0, 1, (5, 6)))
    a, b = held.settle(u), free.settle(u)
    _close(a.outputs, b.outputs)
    drive = {output_port(j): rng.normal(size=5) for j in (0, 1, 2)}
    for adjoint in (False, True):
        _close(held.settle_linearized(a, drive, adjoint=adjoint).branch_voltages,
               free.settle_linearized(b, drive, adjoint=adjoint).branch_voltages)


@pytest.mark.parametrize("diode", [PWLDiode(vf=0.2, ron=50.0), "shockley"])
def test_a_port_behind_a_series_resistance_floats_and_stays_free(diode):
    """A junction's series resistance (PWL ``ron``, Shockley ``Rs``) sits between
    the grounded anode and the port, so the port joins two ungrounded nodes:
    nothing is held, and the kernel is still the extracted one."""
    net = build_network(6, 3, 9, scale=5.0, seed=3, diode=diode)
    hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
    assert hw._st.port_driven.size == 0
    K = extract_kernel(net.circuit, net.inputs, net.outputs)
    assert float((hw.kernel.H - K.H).abs().max()) <= 1e-12 * float(K.H.abs().max())


def test_both_partitions_carry_the_extracted_low_rank_form():
    """Held nodes give the form with ``K = G_ff`` (every free unknown couples);
    ports kept free give it from the partition of the free unknowns. Both
    equal the extracted ``H``."""
    held, free, net = _pair(hidden=16)  # rank 6 of 16: the form pays either way
    H = extract_kernel(net.circuit, net.inputs, net.outputs).H
    for hw in (held, free):
        form = hw.kernel.low_rank()
        assert form is not None
        assert float((form.dense() - H).abs().max()) <= 1e-12 * float(H.abs().max())
    assert held._programmer._o_is_all and not free._programmer._o_is_all


def test_a_non_reciprocal_network_keeps_its_ports_free():
    """A controlled source makes the MNA non-symmetric: its adjoint is another
    network, so no port holds its node there."""
    net = build_network(6, 3, 9, scale=5.0, seed=3)
    c = net.circuit
    c.add_vccs("gx", "h0", "0", "h1", "0", gm=1e-5)
    hw = BuiltinHardware(c, net.inputs, net.outputs)
    assert hw._st.port_driven.size == 0
    K = extract_kernel(c, net.inputs, net.outputs)
    assert float((hw.kernel.H - K.H).abs().max()) <= 1e-12 * float(K.H.abs().max())
