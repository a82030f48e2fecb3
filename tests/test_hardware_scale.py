"""The built-in hardware at scale: re-stamping equals a fresh build, tolerances
are scale-relative, and gradients hold at MNIST's 784 inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diodenet import D1N4148, Circuit
from diodenet.linearization import BuiltinHardware, NgspiceHardware, hardware_gradient, sse_loss
from diodenet.linearization.hardware import output_port
from diodenet.training.architectures import build_network
from diodenet.training.losses import make_loss
from test_gradient_builtin import CASES, random_rtgd

torch.set_num_threads(1)

INPUTS, OUTPUTS = ["v1", "v2", "i1"], ["n3", ("n4", "n0")]


def _measure(hw: BuiltinHardware, u: np.ndarray, seed: int) -> list[np.ndarray]:
    """Everything a forward and an adjoint settle report, for comparison."""
    m = hw.settle(u)
    rng = np.random.default_rng(seed)
    drive = {output_port(0): rng.normal(size=len(u)), output_port(1): rng.normal(size=len(u))}
    a = hw.settle_linearized(m, drive, adjoint=True)
    f = hw.settle_linearized(m, {"v1": np.ones(len(u))})
    return [m.outputs, m.branch_voltages, m.input_responses, m.conducting.astype(float),
            a.outputs, a.branch_voltages, a.input_responses, f.outputs, f.input_responses]


@pytest.mark.parametrize("seed, model, extras", CASES)
def test_restamped_hardware_equals_a_fresh_build_from_the_netlist(seed, model, extras):
    c = random_rtgd(seed, model, extras)
    hw = BuiltinHardware(c, INPUTS, OUTPUTS)
    rng = np.random.default_rng(seed + 50)
    u = np.column_stack([rng.uniform(-2, 2, 6), rng.uniform(-2, 2, 6),
                         rng.uniform(-1e-3, 1e-3, 6)])
    for update in range(3):
        g = hw.conductances() * np.exp(rng.uniform(-1.0, 1.0, len(hw.trainable)))
        hw.set_conductances(g)
        # the fresh build goes through the netlist text: nothing is shared with hw
        trained = c.copy()
        trained.set_conductances(dict(zip(hw.trainable, g)))
        fresh = BuiltinHardware(Circuit.from_spice(trained.to_spice()), INPUTS, OUTPUTS)
        np.testing.assert_allclose(fresh.conductances(), g, rtol=1e-12)
        fresh.set_conductances(g)  # the netlist rounds values to its printed digits
        for a, b in zip(_measure(hw, u, update), _measure(fresh, u, update)):
            scale = max(float(np.abs(b).max()), 1e-300)
            assert np.abs(a - b).max() <= 1e-12 * scale
    # the circuit the hardware reports carries the programmed values
    assert np.allclose([hw.circuit[n].g for n in hw.trainable], g, rtol=1e-12)


@pytest.mark.parametrize("factor", [1e3, 1e-3])
def test_scaling_every_conductance_changes_no_answer_and_no_decision(factor: float):
    net = build_network(64, 10, 48, scale=10.0, seed=3)
    hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
    rng = np.random.default_rng(0)
    u = net.encode(rng.normal(size=(40, 64)))
    y = rng.integers(0, 10, 40)
    loss = make_loss("ce", y, 0.5, 10)
    ref = hardware_gradient(hw, u, loss)
    hw.set_conductances(hw.conductances() * factor)
    scaled = hardware_gradient(hw, u, loss)
    # node voltages do not change; currents (and the input responses) scale with g
    np.testing.assert_array_equal(scaled.measurement.conducting, ref.measurement.conducting)
    np.testing.assert_allclose(scaled.outputs, ref.outputs, rtol=1e-9,
                               atol=1e-12 * np.abs(ref.outputs).max())
    np.testing.assert_allclose(scaled.measurement.branch_voltages,
                               ref.measurement.branch_voltages, rtol=1e-9,
                               atol=1e-12 * np.abs(ref.measurement.branch_voltages).max())
    # L(y(g)) is homogeneous of degree 0 in g: ∂L/∂g scales by 1/factor
    np.testing.assert_allclose(scaled.dL_dg * factor, ref.dL_dg, rtol=1e-7,
                               atol=1e-9 * np.abs(ref.dL_dg).max())


def test_gradient_at_784_inputs_matches_finite_differences_on_a_sample():
    net = build_network(784, 10, 16, scale=10.0, seed=1)
    hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
    rng = np.random.default_rng(1)
    u = net.encode(rng.normal(size=(8, 784)))
    y = rng.integers(0, 10, 8)
    loss = make_loss("ce", y, 0.5, 10)
    grad = hardware_gradient(hw, u, loss)
    g0 = hw.conductances()
    # the resistors with the largest effect, plus random ones (input, rail and output layers)
    sample = np.unique(np.concatenate([np.argsort(-np.abs(grad.dL_dg))[:4],
                                       rng.choice(len(g0), 8, replace=False)]))
    h = 1e-6
    for k in sample:
        vals = []
        for s in (+1, -1):
            g = g0.copy()
            g[k] *= 1 + s * h
            hw.set_conductances(g)
            vals.append(float(loss(torch.as_tensor(hw.settle(u).outputs))))
        fd = (vals[0] - vals[1]) / (2 * h * g0[k])
        assert abs(grad.dL_dg[k] - fd) <= 1e-6 * np.abs(grad.dL_dg).max(), (k, grad.dL_dg[k], fd)
    hw.set_conductances(g0)


def test_gradient_at_784_inputs_matches_ngspice_on_a_sample(ngspice_available):
    net = build_network(784, 2, 3, scale=5.0, seed=2).with_diodes(D1N4148)
    rng = np.random.default_rng(2)
    u = net.encode(rng.normal(size=(4, 784)))
    t = rng.uniform(-0.5, 0.5, (4, 2))
    ours = hardware_gradient(BuiltinHardware(net.circuit, net.inputs, net.outputs), u,
                             sse_loss(t))
    with NgspiceHardware(net.circuit, net.inputs, net.outputs,
                         options={"reltol": 1e-9, "vntol": 1e-12, "abstol": 1e-18}) as hw:
        theirs = hardware_gradient(hw, u, sse_loss(t))
    np.testing.assert_allclose(ours.outputs, theirs.outputs, atol=1e-6)
    sample = rng.choice(len(ours.dL_dg), 200, replace=False)
    scale = np.abs(theirs.dL_dg).max()
    assert np.abs(ours.dL_dg[sample] - theirs.dL_dg[sample]).max() <= 1e-4 * scale


@pytest.mark.parametrize("coupled", [False, True])
def test_free_block_symmetry_is_read_from_the_stamps(coupled: bool):
    """``StampedMNA.symmetric_ff`` (read once from the pattern, and trusted by block
    elimination at every programming) says whether ``G_ff`` equals its transpose
    to the last bit at any conductances; a controlled source between two free
    nodes breaks it."""
    from diodenet.kernels.stamped import StampedMNA

    c = random_rtgd(3, CASES[2][1])  # resistors, diodes, sources: reciprocal
    if coupled:
        c.add_vccs("G2", "n3", "0", "n2", "0", 2e-4)
    names = [r.name for r in c.trainable_resistors]
    st = StampedMNA(c, INPUTS, names)
    assert st.symmetric_ff is not coupled
    rng = np.random.default_rng(4)
    for _ in range(3):
        ff = st.restamp(rng.uniform(1e-6, 1e-2, len(names)), ("ff",))["ff"]
        G = ff.toarray() if hasattr(ff, "toarray") else np.asarray(ff)
        assert np.array_equal(G, G.T) is not coupled


@pytest.mark.parametrize("coupled", [False, True])
def test_restamped_blocks_equal_the_assembled_mna(coupled: bool):
    """Each re-stamped block equals the same block of ``build_mna`` on the whole
    circuit, and so does a programming's ``G_Df`` (shared as ``G_fDᵀ`` only when
    the couplings are reciprocal)."""
    from diodenet.kernels.mna import build_mna
    from diodenet.kernels.programming import ProgrammedBlocks
    from diodenet.kernels.stamped import StampedMNA, as_torch

    c = random_rtgd(3, CASES[2][1], True)
    if coupled:  # a controlled source reading an input node: G_Df is not G_fDᵀ
        c.add_vccs("G1", "n3", "0", "in1", "0", 2e-4)
    names = [r.name for r in c.trainable_resistors]
    st = StampedMNA(c, INPUTS, names)
    assert st.symmetric_fD is not coupled
    g = np.random.default_rng(1).uniform(1e-4, 1e-3, len(names))
    c.set_conductances(dict(zip(names, g)))
    full = build_mna(c, INPUTS)
    G = full.G.toarray() if hasattr(full.G, "toarray") else np.asarray(full.G)
    # the two assemblies index nodes and branches by name alike
    pos = {**{k: full.node_index[k] for k in st.mna.node_index},
           **{k: full.branch_index[k] for k in st.mna.branch_index}}
    ours = {**st.mna.node_index, **st.mna.branch_index}
    to_full = np.empty(len(ours), dtype=np.int64)
    for name, i in ours.items():
        to_full[i] = pos[name]
    sets = {"f": to_full[st.free], "D": to_full[st.driven]}
    for name, block in st.restamp(g).items():
        dense = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
        want = G[np.ix_(sets[name[0]], sets[name[1:]])]
        np.testing.assert_allclose(dense, want, rtol=1e-13, atol=1e-18)
    programmed = ProgrammedBlocks(st, g, {}, lambda m: as_torch(m, torch.float64,
                                                                  torch.device("cpu")))
    for name in ("Df", "fD"):
        block, transposed = programmed[name]
        want = G[np.ix_(sets[name[0]], sets[name[1:]])]
        np.testing.assert_allclose(block.to_dense().numpy(), want, rtol=1e-13, atol=1e-18)
        np.testing.assert_allclose(transposed.to_dense().numpy(), want.T, rtol=1e-13,
                                   atol=1e-18)
