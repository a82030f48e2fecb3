"""A realised kernel, run in ngspice, is the monDEQ it was built from.

``realize(K)`` builds ideal-diode circuits; ngspice runs them with the writer's
near-ideal stand-in diode (``IDEAL_STANDIN``: Is = 1e-14 A, N = 0.02, so
nVt ≈ 0.52 mV and a drop of nVt·ln(1 + I/Is) ≈ 13 mV at 1 mA). Two checks:

1. exact: the built-in simulator on the same circuit with every ideal diode
   replaced by the stand-in equals ngspice to 1e-6 V at every node
   (realisation, netlist writing and both simulators agree);
2. bounded: ngspice's outputs differ from the monDEQ's
   ``y = W_out z + D x + y0`` (ideal diodes, ``K.solve``) by no more than the
   bound the stand-in allows.

The bound (derived here). Let ``z*`` solve the ideal kernel (``w* = Hz* + Bu + b``;
``z*, w* ≥ 0``, ``z*ᵀw* = 0``) and ``z'`` the stand-in one
(``w'_k = Is(exp(-z'_k/nVt) - 1)``, so ``w' ≥ -Is`` and ``z'_k w'_k ≤ 0``). Put
``δ_k = max(0, -z'_k)`` (the stand-in's forward drop). Then, with ``m`` the
kernel's margin (λ_min of sym H),

    m‖Δz‖² ≤ Δzᵀ H Δz = Σ_k (z'_k - z*_k)(w'_k - w*_k)
            = Σ_k [z'_k w'_k - z'_k w*_k - z*_k w'_k]  ≤  Σ_k [δ_k w*_k + Is z*_k] =: E

(each bracket: ``z'_k w'_k ≤ 0``; ``-z'_k w*_k ≤ δ_k w*_k``; ``-z*_k w'_k ≤ Is z*_k``),
so ``‖Δz‖₂ ≤ √(E/m)`` and ``|Δy_j| ≤ ‖C_j‖₂ √(E/m)``, since ``Δy = -C Δz``.
Measured on these kernels (outputs up to ~7 V): |Δy| ≤ 0.09 V against bounds of
0.4–1.2 V; the bound is rigorous but ~10× loose (it uses only the margin).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diodenet.circuits import Circuit
from diodenet.circuits.netlist import IDEAL_STANDIN
from diodenet.kernels.kernel import Kernel
from diodenet.kernels.realize import realize
from diodenet.simulators.builtin import BuiltinSimulator
from diodenet.simulators.ngspice import NgspiceSimulator

TIGHT = {"reltol": 1e-9, "vntol": 1e-12, "abstol": 1e-18}


def random_kernel(seed: int, general: bool, n: int = 5, m: int = 3, p: int = 2) -> Kernel:
    """A random monotone kernel at milli-siemens scale (so currents are ~mA at ~V inputs).

    ``general``: ``H = AᵀA + 1e-3 I + S - Sᵀ`` (needs transformers and gyrators);
    otherwise a symmetric M-matrix (resistors only).
    """
    rng = np.random.default_rng(seed)
    if general:
        A = rng.normal(size=(n, n)) * 2e-2
        S = rng.normal(size=(n, n)) * 1e-3
        H = A.T @ A + 1e-3 * np.eye(n) + S - S.T
    else:
        G = rng.uniform(0, 1e-3, (n, n))
        G = (G + G.T) / 2
        np.fill_diagonal(G, 0)
        H = np.diag(G.sum(1) + 2e-3) - G
    return Kernel(H, rng.normal(size=(n, m)) * 1e-3, rng.normal(size=(p, n)),
                  rng.normal(size=(p, m)), b=rng.normal(size=n) * 1e-4,
                  d=rng.normal(size=p) * 0.1)


def with_standin(circuit: Circuit) -> Circuit:
    """The circuit with every diode's model replaced by ngspice's ideal-diode stand-in."""
    c = circuit.copy()
    for d in c.diodes:
        c.elements[d.name] = d.replace(model=IDEAL_STANDIN)
    return c


@pytest.mark.parametrize(
    "seed, general, prefer_resistors",
    [(0, False, True), (1, True, True), (2, True, False), (3, False, False)],
)
def test_realised_kernel_in_ngspice_is_the_mondeq(
    ngspice_available: None, seed: int, general: bool, prefer_resistors: bool
) -> None:
    K = random_kernel(seed, general)
    circuit = realize(K, prefer_resistors=prefer_resistors)
    if general:  # the skew part really is in the circuit
        assert any(e.kind == "gyrator" for e in circuit)
    x = np.random.default_rng(100 + seed).uniform(-2, 2, (6, K.m))
    names = [f"vu{i + 1}" for i in range(K.m)]

    # the monDEQ (ideal diodes): z = ReLU(Wz + Ux + b), y = W_out z + D x + y0
    xt = torch.tensor(x)
    eq = K.solve(xt, method="active_set")  # exact (auto stops at its tolerance)
    net = K.to_mondeq()
    assert float(net.fixed_point_residual(eq.z, xt).max()) < 1e-9
    y_mondeq = (eq.z @ net.W_out.T + xt @ net.D.T + net.y0).numpy()
    assert np.any(eq.z.numpy() > 0.05) and np.any(eq.z.numpy() == 0)  # both diode states occur

    with NgspiceSimulator(circuit, options=TIGHT) as sim:
        spice = sim.operating_points(x, names)

    # 1. exact: built-in with the stand-in model == ngspice
    ours = BuiltinSimulator(with_standin(circuit)).operating_points(x, names)
    cols = [spice.nodes.index(node) for node in ours.nodes]
    np.testing.assert_allclose(ours.voltages, spice.voltages[:, cols], rtol=0, atol=1e-6)

    # 2. bounded: ngspice vs the ideal monDEQ
    y_spice = np.stack([spice.voltage(f"y{j + 1}") for j in range(K.p)], axis=1)
    z_spice = np.stack([spice.voltage(f"z{k + 1}") for k in range(K.n)], axis=1)
    z_star = eq.z.numpy()
    w_star = (eq.z @ K.H.T + K.rhs(xt)).numpy()
    assert w_star.min() > -1e-12 and z_star.min() >= 0  # the ideal solution is complementary
    drop = np.maximum(0.0, -z_spice)
    # a priori the drop is below nVt·ln(1 + I/Is) at the largest diode current
    nvt = IDEAL_STANDIN.nvt
    assert drop.max() <= nvt * np.log1p(2 * w_star.max() / IDEAL_STANDIN.is_)
    energy = (drop * w_star).sum(1) + IDEAL_STANDIN.is_ * z_star.sum(1)
    dz_bound = np.sqrt(energy / K.margin)
    dz = np.linalg.norm(z_spice - z_star, axis=1)
    assert np.all(dz <= dz_bound), (dz, dz_bound)
    y_bound = np.linalg.norm(K.C.numpy(), axis=1)[None, :] * dz_bound[:, None]  # |C_j Δz|
    dy = np.abs(y_spice - y_mondeq)
    assert np.all(dy <= y_bound), (dy, y_bound)
