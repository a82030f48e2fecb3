"""Modified nodal analysis (MNA) of a circuit's linear part.

Every diode is cut out and replaced by a *port*: a voltage source from its
junction's anode (``-``) to its cathode (``+``) whose value is the kernel
variable ``z_k`` (the junction's reverse voltage). A diode's series
resistance (Shockley ``Rs``, PWL ``ron``) stays in the linear part, so the
port sees the bare junction; a PWL forward drop ``vf`` becomes a constant
offset of the port (``z_k`` is then ``vf`` plus the reverse voltage).

The MNA system is ``G x = S_z z + S_u u + s0`` where ``x`` stacks the node
voltages (ground excluded) and the branch currents of voltage-defined
elements. Stamps (KCL rows count current *leaving* a node through elements):

* resistor ``g``: the usual four entries;
* voltage source / E / H / transformer primary / port: one extra current
  unknown ``j``, flowing from ``+`` through the element to ``-``;
* current source ``I`` (through it from ``pos`` to ``neg``): right-hand side;
* F: ``gain·j_control`` leaves ``pos``; G: ``gm·(V(cp) - V(cn))`` leaves ``pos``;
* transformer ``n``: ``V(p1)-V(p2) = n (V(s1)-V(s2))``, ``i2 = -n i1``;
* gyrator ``g``: ``i1 = g v2``, ``i2 = -g v1`` (currents into ``p1``, ``s1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..circuits import (
    CCCS,
    CCVS,
    GROUND,
    VCCS,
    VCVS,
    Circuit,
    CurrentSource,
    Diode,
    Gyrator,
    PWLDiode,
    Resistor,
    ShockleyDiode,
    Transformer,
    VoltageSource,
)
from ..circuits.diode_models import GMIN
from ..utils.unionfind import UnionFind


@dataclass
class MNASystem:
    """``G x = S_z z + S_u u + s0`` and where each quantity sits in ``x``.

    ``G``, ``S_z``, ``S_u`` and ``measure`` are dense arrays, or scipy CSR
    matrices when built with ``sparse=True``; ``s0`` is always dense.
    """

    G: np.ndarray | sp.csr_matrix
    S_z: np.ndarray | sp.csr_matrix
    S_u: np.ndarray | sp.csr_matrix
    s0: np.ndarray
    node_index: dict[str, int]
    branch_index: dict[str, int]
    port_rows: list[int]
    diodes: list[Diode]
    #: per diode: its port's ``(+, -)`` nodes, the cathode and the junction's anode
    port_terminals: list[tuple[str, str]]
    #: per diode: "admittance" (voltage-driven port, z = reverse voltage) or
    #: "impedance" (current-driven port, z = diode current)
    port_forms: list[str]
    #: w = Hz + Bu + b is read as ``w_k = measure[k] @ x + measure_offset[k]``
    measure: np.ndarray | sp.csr_matrix
    measure_offset: np.ndarray
    inputs: list[str]
    #: extra resistors the diode models bring, ``(name, n1, n2, ohms)``: series
    #: resistances (``d#rs``) and ngspice's gmin across each Shockley junction (``d#gmin``)
    internal_resistors: list[tuple[str, str, str, float]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.G.shape[0]


def junction_node(diode: Diode) -> str:
    """The internal node between a diode's series resistance and its junction."""
    return f"{diode.name}#junction"


def build_mna(
    circuit: Circuit, inputs: Sequence[str], *, force_admittance: bool = False,
    sparse: bool = False, skip: Sequence[str] = (),
) -> MNASystem:
    """Assemble the MNA system of ``circuit`` with diodes as ports.

    ``inputs`` names the independent sources whose values form ``u``; the
    other sources contribute to ``s0``. Diodes are voltage-driven ports
    except those closing a loop of diodes (current-driven), unless
    ``force_admittance`` (used for linearized circuits, whose port rows are
    rewritten per diode state). Each Shockley junction has ngspice's ``gmin``
    (``.options gmin``, default ``GMIN``) across it, as in ngspice, so the
    network's kernel is ngspice's circuit's. ``sparse=True`` returns CSR matrices (the
    stamps are collected as triplets either way); the resistors named in
    ``skip`` are left out of ``G`` (a caller that re-stamps them itself).
    """
    inputs = [s.strip().lower() for s in inputs]
    for s in inputs:
        if s not in circuit:
            raise ValueError(f"input {s!r} is not an element of the circuit")
        if not isinstance(circuit[s], VoltageSource | CurrentSource):
            raise ValueError(f"input {s!r} is not an independent voltage or current source")
    if len(set(inputs)) != len(inputs):
        raise ValueError(f"inputs name a source twice: {inputs}")

    node_index: dict[str, int] = {}
    for node in circuit.nodes:
        node_index[node] = len(node_index)
    diodes = circuit.diodes
    internal: list[tuple[str, str, str, float]] = []
    junction_anode: dict[str, str] = {}
    for d in diodes:
        rs = d.model.rs if isinstance(d.model, ShockleyDiode) else (
            d.model.ron if isinstance(d.model, PWLDiode) else 0.0
        )
        if rs > 0:
            j = junction_node(d)
            node_index[j] = len(node_index)
            internal.append((f"{d.name}#rs", d.anode, j, rs))
            junction_anode[d.name] = j
        else:
            junction_anode[d.name] = d.anode
    # ngspice's gmin across every Shockley junction (1e-12 S unless .options says
    # otherwise): negligible forward, but a junction reverse-biased by tens of
    # volts through 10 kOhm moves its node by about 1e-6 V
    gmin = float(circuit.options.get("gmin", GMIN))
    if gmin > 0:
        internal += [(f"{d.name}#gmin", junction_anode[d.name], d.cathode, 1.0 / gmin)
                     for d in diodes if isinstance(d.model, ShockleyDiode)]

    branch_index: dict[str, int] = {}
    n_nodes = len(node_index)
    for e in circuit:
        if isinstance(e, VoltageSource | VCVS | CCVS | Transformer):
            branch_index[e.name] = n_nodes + len(branch_index)
    impedance = set() if force_admittance else set(impedance_form_diodes(circuit))
    port_forms = ["impedance" if d.name in impedance else "admittance" for d in diodes]
    port_rows = []
    for d, form in zip(diodes, port_forms):
        if form == "admittance":
            key = f"{d.name}#port"
            branch_index[key] = n_nodes + len(branch_index)
            port_rows.append(branch_index[key])
        else:
            port_rows.append(-1)

    size = n_nodes + len(branch_index)
    # triplets: duplicates add up when the matrices are assembled
    g_rows: list[int] = []
    g_cols: list[int] = []
    g_vals: list[float] = []
    z_trip: list[tuple[int, int, float]] = []
    u_trip: list[tuple[int, int, float]] = []
    m_trip: list[tuple[int, int, float]] = []
    s0 = np.zeros(size)
    skipped = {name.strip().lower() for name in skip}

    def idx(node: str) -> int | None:
        return None if node == GROUND else node_index[node]

    def add(row: int | None, col: int | None, value: float) -> None:
        if row is not None and col is not None:
            g_rows.append(row)
            g_cols.append(col)
            g_vals.append(value)

    def conductance(a: str, b: str, g: float) -> None:
        ia, ib = idx(a), idx(b)
        add(ia, ia, g)
        add(ib, ib, g)
        add(ia, ib, -g)
        add(ib, ia, -g)

    def transconductance(p: str, n: str, cp: str, cn: str, gm: float) -> None:
        ip, i_n, icp, icn = idx(p), idx(n), idx(cp), idx(cn)
        add(ip, icp, gm)
        add(ip, icn, -gm)
        add(i_n, icp, -gm)
        add(i_n, icn, gm)

    def branch_kcl(p: str, n: str, k: int, scale: float = 1.0) -> None:
        add(idx(p), k, scale)
        add(idx(n), k, -scale)

    def branch_voltage(k: int, p: str, n: str, scale: float = 1.0) -> None:
        add(k, idx(p), scale)
        add(k, idx(n), -scale)

    for e in circuit:
        if isinstance(e, Resistor):
            if e.name not in skipped:
                conductance(e.n1, e.n2, e.g)
        elif isinstance(e, VoltageSource):
            k = branch_index[e.name]
            branch_kcl(e.pos, e.neg, k)
            branch_voltage(k, e.pos, e.neg)
            if e.name in inputs:
                u_trip.append((k, inputs.index(e.name), 1.0))
            else:
                s0[k] = e.dc
        elif isinstance(e, CurrentSource):
            for node, sign in ((e.pos, -1.0), (e.neg, 1.0)):
                i = idx(node)
                if i is None:
                    continue
                if e.name in inputs:
                    u_trip.append((i, inputs.index(e.name), sign))
                else:
                    s0[i] += sign * e.dc
        elif isinstance(e, VCVS):
            k = branch_index[e.name]
            branch_kcl(e.pos, e.neg, k)
            branch_voltage(k, e.pos, e.neg)
            branch_voltage(k, e.cpos, e.cneg, -e.gain)
        elif isinstance(e, CCVS):
            k = branch_index[e.name]
            branch_kcl(e.pos, e.neg, k)
            branch_voltage(k, e.pos, e.neg)
            add(k, _control(branch_index, e), -e.rm)
        elif isinstance(e, CCCS):
            kc = _control(branch_index, e)
            add(idx(e.pos), kc, e.gain)
            add(idx(e.neg), kc, -e.gain)
        elif isinstance(e, VCCS):
            transconductance(e.pos, e.neg, e.cpos, e.cneg, e.gm)
        elif isinstance(e, Transformer):
            k = branch_index[e.name]
            branch_kcl(e.p1, e.p2, k)
            branch_kcl(e.s1, e.s2, k, -e.n)
            branch_voltage(k, e.p1, e.p2)
            branch_voltage(k, e.s1, e.s2, -e.n)
        elif isinstance(e, Gyrator):
            transconductance(e.p1, e.p2, e.s1, e.s2, e.g)
            transconductance(e.s1, e.s2, e.p1, e.p2, -e.g)
        elif isinstance(e, Diode):
            pass
        else:  # pragma: no cover - every element type is handled above
            raise ValueError(f"{e.name}: element kind {e.kind!r} has no MNA stamp")

    for _, a, b, r in internal:
        conductance(a, b, 1.0 / r)
    measure_offset = np.zeros(len(diodes))
    for k, d in enumerate(diodes):
        a = junction_anode[d.name]
        vf = d.model.vf if isinstance(d.model, PWLDiode) else 0.0
        if port_forms[k] == "admittance":
            # port: + at the cathode, - at the junction's anode; value z_k - vf.
            # The diode current is minus the port current: w_k = i_d = -j_k.
            row = port_rows[k]
            branch_kcl(d.cathode, a, row)
            branch_voltage(row, d.cathode, a)
            z_trip.append((row, k, 1.0))
            s0[row] = -vf
            m_trip.append((k, row, -1.0))
        else:
            # current z_k flows from the anode through the diode to the cathode;
            # w_k = -(junction forward voltage) = V(c) - V(a) + vf
            for node, sign in ((a, -1.0), (d.cathode, 1.0)):
                i = idx(node)
                if i is not None:
                    z_trip.append((i, k, sign))
                    m_trip.append((k, i, sign))
            measure_offset[k] = vf

    def assemble(rows: Sequence[int], cols: Sequence[int], vals: Sequence[float],
                 shape: tuple[int, int]) -> np.ndarray | sp.csr_matrix:
        m = sp.csr_matrix((np.asarray(vals, dtype=float), (np.asarray(rows, dtype=np.int64),
                           np.asarray(cols, dtype=np.int64))), shape=shape)
        m.sum_duplicates()
        return m if sparse else m.toarray()

    def from_trip(trip: list[tuple[int, int, float]], shape: tuple[int, int]):
        r, c, v = zip(*trip) if trip else ((), (), ())
        return assemble(r, c, v, shape)

    G = assemble(g_rows, g_cols, g_vals, (size, size))
    S_z = from_trip(z_trip, (size, len(diodes)))
    S_u = from_trip(u_trip, (size, len(inputs)))
    measure = from_trip(m_trip, (len(diodes), size))
    return MNASystem(
        G=G, S_z=S_z, S_u=S_u, s0=s0, node_index=node_index, branch_index=branch_index,
        port_rows=port_rows, diodes=diodes,
        port_terminals=[(d.cathode, junction_anode[d.name]) for d in diodes],
        port_forms=port_forms, measure=measure,
        measure_offset=measure_offset, inputs=inputs, internal_resistors=internal,
    )


def _control(branch_index: dict[str, int], e: CCCS | CCVS) -> int:
    if e.control not in branch_index:
        raise ValueError(f"{e.name}: controlling voltage source {e.control!r} not found")
    return branch_index[e.control]


def _series_free(d: Diode) -> bool:
    return not (
        (isinstance(d.model, ShockleyDiode) and d.model.rs > 0)
        or (isinstance(d.model, PWLDiode) and d.model.ron > 0)
    )


def _loop_closers(circuit: Circuit, with_diodes: bool) -> tuple[list[str], list[str]]:
    """Union-find over voltage-defined branches (sources, E, H, transformer
    secondaries), then over bare diode junctions.

    Returns the elements that leave no kernel (a loop of voltage-defined
    branches alone, or a diode whose voltage those branches fix by themselves)
    and the diodes that close a loop through at least one other diode (these
    become current-driven ports; a clamp, two diodes with a bias source, is
    one)."""
    everything, sources_only = UnionFind[str](), UnionFind[str]()
    fatal, impedance = [], []
    for e, a, b in circuit.voltage_defined_branches():
        if not everything.join(a, b):
            fatal.append(e.name)
        sources_only.join(a, b)
    if with_diodes:
        for d in circuit.diodes:
            if not _series_free(d) or everything.join(d.anode, d.cathode):
                continue
            if sources_only.find(d.anode) == sources_only.find(d.cathode):
                fatal.append(d.name)
            else:
                impedance.append(d.name)
    return fatal, impedance


def impedance_form_diodes(circuit: Circuit) -> list[str]:
    """Diodes that must be current-driven ports: each closes a loop through
    other diodes (and possibly sources), so its voltage is fixed by theirs
    and only its current is free (Theorem 1's hybrid ``[i; v]``)."""
    return _loop_closers(circuit, with_diodes=True)[1]


def voltage_defined_loops(circuit: Circuit) -> list[str]:
    """Elements that leave the circuit without a kernel: a loop of voltage
    sources (E, H, transformer secondaries) alone, or a diode across such
    sources alone, whose voltage they fix."""
    return _loop_closers(circuit, with_diodes=True)[0]


def refuse_voltage_defined_loops(circuit: Circuit) -> None:
    """Raise ``ValueError`` naming the elements when ``voltage_defined_loops``
    finds any: such a circuit has no kernel of the form 0 ∈ Hz + F(z) + Bu."""
    loops = voltage_defined_loops(circuit)
    if loops:
        raise ValueError(
            "this circuit has no kernel of the form 0 ∈ Hz + F(z) + Bu: "
            f"{', '.join(loops)} close(s) a loop with voltage-defined elements alone "
            "(voltage sources, E/H sources, transformer secondaries), which fixes a diode's "
            "voltage (or a source's) instead of leaving it to the network"
        )


def unmodelled_options(circuit: Circuit) -> list[str]:
    """The ``.options`` that change ngspice's answer and that no kernel has.

    With ``rshunt``, ngspice puts a resistor from every node to ground; only
    the built-in simulator's nodal route has it. (``gmin``, the conductance
    ngspice puts across every junction, is in the MNA: ``build_mna``.)
    """
    out = []
    if "rshunt" in circuit.options:
        out.append(f".options rshunt={circuit.options['rshunt']:g} is outside the kernel route")
    return out


def refuse_unmodelled_options(circuit: Circuit) -> None:
    """Raise ``ValueError`` naming the first of ``unmodelled_options``: a kernel
    built without them would answer for another circuit than ngspice's."""
    reasons = unmodelled_options(circuit)
    if reasons:
        raise ValueError(
            f"{reasons[0]}: a kernel (and so the built-in hardware's linearization) would "
            "answer for the circuit without it; remove the option, or simulate the netlist "
            "(the built-in simulator's nodal route models it)"
        )


def refuse_singular_ports(G: np.ndarray) -> None:
    """Raise ``ValueError`` when the MNA matrix ``G`` with the diodes as ports
    is numerically singular (smallest singular value ≤ 1e-13 × the largest):
    such a circuit has no kernel of the form 0 ∈ Hz + F(z) + Bu."""
    if G.size == 0:
        return
    s = np.linalg.svd(G, compute_uv=False)
    if s[-1] <= 1e-13 * s[0]:
        raise ValueError(
            "this circuit has no kernel of the form 0 ∈ Hz + F(z) + Bu: its linear part is "
            "singular with the diodes as ports (a floating node, a cut-set of current "
            "sources or diodes, or a degenerate controlled source)"
        )
