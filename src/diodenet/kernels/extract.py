"""Theorem 1 in code: a circuit's kernel ``(H, B, C, D)`` by Kron reduction.

The linear part is analysed by MNA with every diode junction replaced by a
voltage-driven port (``diodenet.kernels.mna``). Solving ``G x = S_z z + S_u u
+ s0`` and reading the port currents ``j = P x`` gives the diode currents
``i_d = -j`` (each port's current flows from the cathode through the port to
the anode). The diode law in the reverse-voltage variable, ``F(z) = -i_d``,
turns KCL into the kernel equation::

    i_d = H z + B u + b     with   H = -P G⁻¹ S_z,  B = -P G⁻¹ S_u,  b = -P G⁻¹ s0

A diode that closes a loop of voltage sources and other diodes cannot be
voltage-driven; it becomes a current-driven port (impedance form: ``z`` is its
current, ``F = N₊`` again, and ``w = -v_d`` is read from the node voltages).
This is Theorem 1's hybrid vector ``[i; v]``; ``H`` is then monotone but not
symmetric.

and the outputs (node voltages or differences) ``y = O x`` give
``C = -O G⁻¹ S_z``, ``D = -O G⁻¹ S_u``, ``d = -O G⁻¹ s0``. ``H`` is the
Schur complement of the conductance network onto the junctions, so it is
monotone; for resistors only it is a symmetric M-matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ..activations import Ideal, Nonlinearity, SpiceJunction
from ..circuits import Circuit, ShockleyDiode, VoltageSource
from ..circuits.outputs import OutputSpec, parse_output
from .kernel import Kernel
from .mna import (
    MNASystem,
    build_mna,
    refuse_singular_ports,
    refuse_unmodelled_options,
    refuse_voltage_defined_loops,
)
from .residuals import unit_groups


def diode_nonlinearity(model: object, name: str = "a diode") -> Nonlinearity:
    """The kernel relation of a diode model's junction (reverse-voltage variable):
    for a Shockley model, ngspice's law (``SpiceJunction``: the cubic reverse
    tail included), so that the kernel answers as ngspice does.

    A Shockley model with a knee (``ikf``, ``ikr``) or a recombination current
    (``isr``) has no kernel relation: ``ValueError`` rather than a silently
    different diode (the builtin simulator's nodal route and ngspice model them).
    """
    if isinstance(model, ShockleyDiode):
        if not model.plain:
            raise ValueError(f"{name}: IKF/IKR/ISR are outside the kernel's Shockley relation "
                             "(the builtin simulate command and the ngspice backend model them)")
        return SpiceJunction(is_=model.is_, nvt=model.nvt)
    return Ideal()  # ideal and PWL junctions (a PWL drop is an offset of the port)


class CircuitKernel(Kernel):
    """A kernel extracted from a circuit, which remembers how to rebuild the
    circuit's node voltages from ``(z, u)``: ``V = z Nzᵀ + u Nuᵀ + n0``."""

    circuit: Circuit
    mna: MNASystem
    node_names: list[str]
    #: the voltage sources whose currents ``source_currents`` returns
    source_names: list[str]
    #: ``"admittance"`` or ``"impedance"`` per diode port (see ``build_mna``)
    port_forms: list[str]
    # V = z Nzᵀ + u Nuᵀ + n0 and J = z Jzᵀ + u Juᵀ + j0 (node voltages, source currents)
    Nz: Tensor
    Nu: Tensor
    n0: Tensor
    Jz: Tensor
    Ju: Tensor
    j0: Tensor

    def node_voltages(self, z: Tensor, u: Tensor) -> Tensor:
        """All node voltages (batch, len(node_names)), ground excluded."""
        return z @ self.Nz.T + u @ self.Nu.T + self.n0

    def source_currents(self, z: Tensor, u: Tensor) -> Tensor:
        """Branch currents (A) of the voltage sources in ``source_names``,
        flowing from ``+`` through the source to ``-`` (SPICE's sign)."""
        return z @ self.Jz.T + u @ self.Ju.T + self.j0


def extract_kernel(
    circuit: Circuit,
    inputs: Sequence[str],
    outputs: Sequence[OutputSpec] = (),
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    check: bool = True,
) -> CircuitKernel:
    """The kernel ``(H, B, C, D, b, d)`` of ``circuit``.

    Parameters
    ----------
    inputs:
        names of the independent sources that make up ``u`` (in order); the
        circuit's other sources are constants and go into ``b`` and ``d``.
    outputs:
        node names (voltage to ground) or ``(pos, neg)`` pairs (a difference).

    The kernel's elements follow ``circuit.diodes`` in order. Raises
    ``ValueError`` when the circuit has no kernel of this form. ``check=False``
    skips the topology and singularity checks (for re-extracting a circuit
    whose topology already passed them and only conductances changed).
    """
    if check:
        circuit.validate()
        refuse_voltage_defined_loops(circuit)
        refuse_unmodelled_options(circuit)
    mna: MNASystem = build_mna(circuit, inputs)
    G, S_z, S_u, measure = (np.asarray(a) for a in (mna.G, mna.S_z, mna.S_u, mna.measure))
    if check:
        refuse_singular_ports(G)
    rhs = np.concatenate([S_z, S_u, mna.s0[:, None]], axis=1)
    X = np.linalg.solve(G, rhs) if mna.size else np.zeros((0, rhs.shape[1]))
    n = len(mna.diodes)
    m = len(mna.inputs)
    P = measure @ X
    P[:, -1] += mna.measure_offset
    node_names = list(circuit.nodes)
    node_rows = [mna.node_index[name] for name in node_names]
    NX = X[node_rows]

    out_rows = []
    for spec in outputs:
        pos, neg = parse_output(spec)
        row = np.zeros(X.shape[1])
        for node, sign in ((pos, 1.0), (neg, -1.0)):
            if node == "0":
                continue
            if node not in mna.node_index or "#" in node:
                raise ValueError(f"output node {node!r} is not a node of the circuit")
            row += sign * X[mna.node_index[node]]
        out_rows.append(row)
    O = np.array(out_rows).reshape(len(out_rows), X.shape[1])

    vsources = [e.name for e in circuit.sources if isinstance(e, VoltageSource)]
    JX = X[[mna.branch_index[name] for name in vsources]] if vsources else np.zeros((0, X.shape[1]))

    def split(M: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return M[:, :n], M[:, n : n + m], M[:, n + m]

    Pz, Pu, p0 = split(P)
    Oz, Ou, o0 = split(O)
    for d, form in zip(mna.diodes, mna.port_forms):
        if form == "impedance" and isinstance(d.model, ShockleyDiode):
            raise ValueError(
                f"{d.name}: a Shockley diode that closes a loop of diodes and voltage sources "
                "has no admittance-form kernel; give it a series resistance Rs > 0"
            )
    kernel = CircuitKernel(
        Pz, Pu, -Oz, -Ou,
        [diode_nonlinearity(d.model, d.name) for d in mna.diodes],
        b=p0, d=-o0, dtype=dtype, device=device,
        input_names=mna.inputs,
        output_names=["-".join(parse_output(s)).removesuffix("-0") for s in outputs],
        element_names=[d.name for d in mna.diodes],
    )
    kernel.circuit = circuit
    kernel.mna = mna
    kernel.node_names = node_names
    kernel.source_names = vsources
    as_t = lambda a: torch.as_tensor(a, dtype=dtype, device=kernel.device)  # noqa: E731
    Nz, Nu, n0 = split(NX)
    Jz, Ju, j0 = split(JX)
    kernel.Nz, kernel.Nu, kernel.n0 = as_t(Nz), as_t(Nu), as_t(n0)
    kernel.Jz, kernel.Ju, kernel.j0 = as_t(Jz), as_t(Ju), as_t(j0)
    kernel.port_forms = mna.port_forms
    kernel.units = unit_groups(mna.port_forms)
    return kernel
