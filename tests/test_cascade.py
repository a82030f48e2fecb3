"""Cascades: stage-by-stage hardware gradients against the whole cascade as
one (non-reciprocal) circuit and against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from diodenet import Circuit, ShockleyDiode
from diodenet.cascades import Cascade
from diodenet.circuits import IdealDiode
from diodenet.linearization import BuiltinHardware, hardware_gradient, sse_loss


def stage(
    seed: int, n_in: int, n_hidden: int, n_out: int, model: object
) -> tuple[Circuit, list, list]:
    rng = np.random.default_rng(seed)
    c = Circuit(f"stage {seed}")
    ins = [f"v{i}" for i in range(n_in)]
    for i, name in enumerate(ins):
        c.add_voltage_source(name, f"in{i}", "0", 0.0)
    c.add_voltage_source("vbias", "rail", "0", 1.0)
    for k in range(n_hidden):
        for i in range(n_in):
            c.add_resistor(f"rh{k}_{i}", f"in{i}", f"h{k}", resistance=float(rng.uniform(1e3, 5e3)))
        c.add_resistor(f"rh{k}_b", "rail", f"h{k}", resistance=float(rng.uniform(2e3, 9e3)))
        c.add_diode(f"d{k}", "0", f"h{k}", model)  # type: ignore[arg-type]
    for j in range(n_out):
        for k in range(n_hidden):
            c.add_resistor(f"ro{j}_{k}", f"h{k}", f"o{j}", resistance=float(rng.uniform(1e3, 5e3)))
        c.add_resistor(f"ro{j}_g", f"o{j}", "0", resistance=float(rng.uniform(1e3, 5e3)))
    return c, ins, [f"o{j}" for j in range(n_out)]


@pytest.mark.parametrize("model", [IdealDiode(), ShockleyDiode(is_=1e-12, n=1.2, rs=2.0)])
def test_cascade_gradient_equals_whole_circuit_and_finite_differences(model):
    c1, i1, o1 = stage(0, 2, 3, 2, model)
    c2, i2, o2 = stage(1, 2, 3, 1, model)
    cascade = Cascade([BuiltinHardware(c1, i1, o1), BuiltinHardware(c2, i2, o2)], gains=[-2.0])
    rng = np.random.default_rng(5)
    u = rng.uniform(-2, 2, (5, 2))
    t = rng.uniform(-0.3, 0.3, (5, 1))
    g = cascade.gradient(u, sse_loss(t))
    assert g.settles == 2 * 2 * len(u)  # each stage: one forward, one adjoint settle per sample

    whole, inputs, outputs = cascade.to_circuit()
    hw = BuiltinHardware(whole, inputs, outputs)
    ref = hardware_gradient(hw, u, sse_loss(t))
    # both solve to the solver tolerance (1e-12 A): agreement to ~1e-9 relative
    np.testing.assert_allclose(g.outputs, ref.outputs, rtol=1e-8, atol=1e-12)
    ours = np.concatenate(g.dL_dg)
    assert np.abs(ours - ref.dL_dg).max() <= 1e-7 * np.abs(ref.dL_dg).max()
    np.testing.assert_allclose(g.dL_du, ref.dL_du, rtol=1e-7, atol=1e-12)

    # finite differences on the whole circuit, for a few conductances of each stage
    g0 = hw.conductances()
    for k in [0, 3, len(g0) // 2 + 1, len(g0) - 2]:
        vals = []
        for s in (1, -1):
            gg = g0.copy()
            gg[k] *= 1 + s * 1e-6
            hw.set_conductances(gg)
            vals.append(0.5 * ((hw.settle(u).outputs - t) ** 2).sum())
        fd = (vals[0] - vals[1]) / (2e-6 * g0[k])
        assert abs(ours[k] - fd) <= 1e-5 * np.abs(ours).max()
    hw.set_conductances(g0)


def test_cascade_rejects_mismatched_stages():
    c1, i1, o1 = stage(0, 2, 2, 2, IdealDiode())
    c2, i2, o2 = stage(1, 3, 2, 1, IdealDiode())
    with pytest.raises(ValueError, match="has 2 outputs but stage 1 has 3 inputs"):
        Cascade([BuiltinHardware(c1, i1, o1), BuiltinHardware(c2, i2, o2)])


def test_buffer_and_output_gains_are_checked_where_given() -> None:
    """A gain "a" was a numpy ufunc TypeError and output_gains of the wrong
    length a broadcasting error."""
    from diodenet.cascades import Buffer

    with pytest.raises(ValueError, match="a buffer's gain is a finite, nonzero number"):
        Buffer(0, 0, 1, 0, "a")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Buffer dst is an index >= 0"):
        Buffer(0, 0, -1, 0, 1.0)
    assert Buffer(0, 0, 1, 0, np.float32(2.0)).gain == 2.0
    c1, i1, o1 = stage(0, 2, 3, 2, IdealDiode())
    c2, i2, o2 = stage(1, 2, 3, 1, IdealDiode())
    with pytest.raises(ValueError, match=r"output_gains: one gain or one per output \(1\), got 3"):
        Cascade([BuiltinHardware(c1, i1, o1), BuiltinHardware(c2, i2, o2)], gains=[-2.0],
                output_gains=[1.0, 2.0, 3.0])
