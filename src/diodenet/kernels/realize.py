"""Realise a kernel as a circuit (the converse of Theorem 1).

Neuron ``k`` is a node ``z<k>`` with a diode from ground (anode) to it
(cathode), so ``z_k = V(z<k>)`` is the diode's reverse voltage, and KCL at
the node must read ``i_d,k = (H z + B u + b)_k``: the current the rest of
the network draws out of ``z<k>``. Each term is one kind of element:

* ``H_sym,kj < 0`` (k≠j): a resistor ``g = -H_kj`` between ``z<k>`` and
  ``z<j>`` (adds ``g (e_k - e_j)(e_k - e_j)ᵀ``);
* ``H_sym,kj > 0``: a resistor ``g = H_kj`` from ``z<k>`` to an *inverted*
  copy of ``z<j>`` made by a 1:1 ideal transformer (adds ``g (e_k + e_j)(e_k + e_j)ᵀ``);
* ``B_ki < 0``: a resistor ``g = -B_ki`` from input ``u<i>``; ``B_ki > 0``:
  from the negated input ``u<i>_neg`` (an E element of gain −1): the
  differential (±x) inputs. Each adds ``g`` to ``H_kk``;
* what is left on the diagonal: a resistor to ground;
* ``H_skew,kj``: a gyrator of conductance ``H_skew,kj`` between ``z<k>`` and ``z<j>``;
* ``b_k``: a current source drawing ``b_k`` from ``z<k>``.

When a row is not diagonally dominant enough for this, its inputs move to
unilateral VCCS (G) elements, and if the symmetric part still needs a
negative conductance, the whole symmetric part is realised instead from its
eigen-decomposition ``H_sym = Σ λ_r v_r v_rᵀ``: each term is a resistor
``λ_r`` fed through a chain of ideal transformers of ratios ``1/v_rk``.

Outputs ``y_j = -(C z + D u + d)_j`` are node voltages ``y<j>``: VCCS inject
``-C_jk g_L z_k`` (and the ``u`` and ``d`` terms) into a load ``g_L`` to
ground, so reading the outputs never loads the network.
"""

from __future__ import annotations

import numpy as np

from ..activations import Ideal, PiecewiseLinear, Shockley
from ..circuits import THERMAL_VOLTAGE, Circuit, IdealDiode, PWLDiode, ShockleyDiode
from ..circuits.diode_models import DiodeModel
from .kernel import Kernel

#: conductance (S) of the output load resistors
OUTPUT_LOAD = 1e-3
#: relative threshold below which a matrix entry is treated as zero
ZERO = 1e-14


def _diode_model(element: object) -> DiodeModel:
    if isinstance(element, Ideal):
        return IdealDiode()
    if isinstance(element, Shockley):
        return ShockleyDiode(is_=element.is_, n=element.nvt / THERMAL_VOLTAGE)
    if isinstance(element, PiecewiseLinear):
        return PWLDiode(vf=element.vf, ron=element.ron)
    raise ValueError(f"no circuit element realises {element!r}")


def realize(
    kernel: Kernel,
    *,
    prefer_resistors: bool = True,
    input_prefix: str = "u",
    title: str = "realised monDEQ",
) -> Circuit:
    """A circuit whose kernel (inputs ``v<input>``, outputs ``y<j>``) is ``kernel``.

    ``extract_kernel(c, inputs=[f"v{input_prefix}{i}" ...], outputs=[f"y{j}" ...])``
    gives back ``kernel`` (up to round-off). With ``prefer_resistors`` the
    symmetric part uses plain resistors wherever the kernel allows (an
    M-matrix needs nothing else); without it, the symmetric part is always
    built from its eigen-decomposition with transformers.
    """
    H = kernel.H.detach().cpu().double().numpy()
    B = kernel.B.detach().cpu().double().numpy()
    C = kernel.C.detach().cpu().double().numpy()
    D = kernel.D.detach().cpu().double().numpy()
    b = kernel.b.detach().cpu().double().numpy()
    d = kernel.d.detach().cpu().double().numpy()
    n, m = B.shape
    p = C.shape[0]
    Hs = 0.5 * (H + H.T)
    Hk = 0.5 * (H - H.T)
    scale = max(float(np.abs(H).max(initial=0.0)), float(np.abs(B).max(initial=0.0)), 1e-300)
    tiny = ZERO * scale

    c = Circuit(title)
    z = [f"z{k + 1}" for k in range(n)]
    u = [f"{input_prefix}{i + 1}" for i in range(m)]
    for i in range(m):
        c.add_voltage_source(f"v{u[i]}", u[i], "0", 0.0)
    for k in range(n):
        model = _diode_model(kernel.elements[k])
        c.add_diode(f"d{k + 1}", "0", z[k], model)

    negated: set[int] = set()

    def negative_input(i: int) -> str:
        if i not in negated:
            negated.add(i)
            c.add_vcvs(f"e{u[i]}_neg", f"{u[i]}_neg", "0", u[i], "0", -1.0)
        return f"{u[i]}_neg"

    # Which rows can take their inputs as resistors (diagonal budget)?
    offdiag = np.abs(Hs - np.diag(np.diag(Hs))).sum(axis=1)
    input_load = np.abs(B).sum(axis=1)
    resistive_inputs = np.diag(Hs) - offdiag - input_load >= -tiny
    if not prefer_resistors:
        resistive_inputs[:] = False
    pairwise = prefer_resistors and bool(
        np.all(np.diag(Hs) - offdiag - np.where(resistive_inputs, input_load, 0.0) >= -tiny)
    )

    # inputs
    for k in range(n):
        for i in range(m):
            g = B[k, i]
            if abs(g) <= tiny:
                continue
            if resistive_inputs[k]:
                node = u[i] if g < 0 else negative_input(i)
                c.add_resistor(f"r{z[k]}_{u[i]}{'' if g < 0 else 'n'}", z[k], node,
                               conductance=abs(g))
            else:  # unilateral: current g*u_i leaves z_k
                c.add_vccs(f"g{z[k]}_{u[i]}", z[k], "0", u[i], "0", g)
    # symmetric part
    if pairwise:
        diag = np.diag(Hs) - offdiag - np.where(resistive_inputs, input_load, 0.0)
        for k in range(n):
            for j in range(k + 1, n):
                g = Hs[k, j]
                if g < -tiny:
                    c.add_resistor(f"r{z[k]}_{z[j]}", z[k], z[j], conductance=-g)
                elif g > tiny:
                    inv = f"{z[j]}_inv{k + 1}"
                    c.add_transformer(f"x{z[j]}_inv{k + 1}", z[j], "0", "0", inv, 1.0)
                    c.add_resistor(f"r{z[k]}_{inv}", z[k], inv, conductance=g)
            if diag[k] > tiny:
                c.add_resistor(f"r{z[k]}", z[k], "0", conductance=float(diag[k]))
    else:
        target = Hs - np.diag(np.where(resistive_inputs, input_load, 0.0))
        lam, vecs = np.linalg.eigh(target)
        if lam.min() < -1e-9 * scale:
            raise ValueError(
                "kernel not realisable with these inputs: sym(H) minus the input "
                f"conductances has eigenvalue {lam.min():.3e} < 0"
            )
        for r in range(n):
            if lam[r] <= tiny:
                continue
            _transformer_chain(c, f"t{r + 1}", z, vecs[:, r], float(lam[r]), tiny)
    # skew part
    for k in range(n):
        for j in range(k + 1, n):
            if abs(Hk[k, j]) > tiny:
                c.add_gyrator(f"x{z[k]}_{z[j]}_gyr", z[k], "0", z[j], "0", float(Hk[k, j]))
    # biases: current b_k drawn out of z_k
    for k in range(n):
        if abs(b[k]) > tiny * 1e-3:
            c.add_current_source(f"i{z[k]}_bias", z[k], "0", float(b[k]))
    # outputs through unilateral VCCS into loads
    for j in range(p):
        y = f"y{j + 1}"
        c.add_resistor(f"r{y}_load", y, "0", conductance=OUTPUT_LOAD, trainable=False)
        for k in range(n):
            if C[j, k] != 0:
                c.add_vccs(f"g{y}_{z[k]}", "0", y, z[k], "0", -C[j, k] * OUTPUT_LOAD)
        for i in range(m):
            if D[j, i] != 0:
                c.add_vccs(f"g{y}_{u[i]}", "0", y, u[i], "0", -D[j, i] * OUTPUT_LOAD)
        if d[j] != 0:
            c.add_current_source(f"i{y}_bias", "0", y, -d[j] * OUTPUT_LOAD)
    # an input nothing else uses still needs a second connection
    used = {n for e in c for n in e.nodes if e.name != f"v{n}"}
    for i in range(m):
        if u[i] not in used:
            c.add_resistor(f"r{u[i]}_idle", u[i], "0", resistance=1e6, trainable=False)
    return c


def _transformer_chain(
    c: Circuit, tag: str, z: list[str], v: np.ndarray, g: float, tiny: float
) -> None:
    """Add ``g v vᵀ`` to ``H``: a resistor ``g`` across the series connection
    of transformer secondaries whose voltages are ``v_k z_k``."""
    prev = "0"
    ks = [k for k in range(len(z)) if abs(v[k]) > 1e-12]
    for idx, k in enumerate(ks):
        node = f"{tag}_s{idx + 1}"
        # secondary voltage V(node) - V(prev) = z_k / n with n = 1 / v_k
        c.add_transformer(f"x{tag}_{z[k]}", z[k], "0", node, prev, 1.0 / float(v[k]))
        prev = node
    if ks:
        c.add_resistor(f"r{tag}", prev, "0", conductance=g)
