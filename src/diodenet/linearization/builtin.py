"""The built-in simulator as hardware.

The circuit's MNA is built once (``kernels.stamped.StampedMNA``: grounded
sources eliminated, the trainable resistors re-stampable); ``set_conductances``
re-stamps the values, refactors the small free block ``G_ff`` and re-derives
the kernel ``(H, B, C, D)``.

``settle`` solves the kernel exactly (active set for ideal/PWL diodes, Newton
for Shockley diodes) and reads node voltages from ``(z, u)``.
``settle_linearized`` is the *switched* circuit: a conducting ideal/PWL
junction becomes a short (``ẑ_k = 0``), a blocking one an open (``ŵ_k = 0``),
a Shockley junction its small-signal conductance ``g_d = F'(z)``; every
independent source is zeroed. With ``G`` the MNA whose ports carry ``z`` and
``P`` the port read-out (``w = P x``, ``H = P G⁻¹ S_z``), the switched
circuit's inverse is a rank-``n`` correction of ``G⁻¹``::

    G_s⁻¹ = G⁻¹ - G⁻¹ S_z S P G⁻¹,    S = embed((H_FF + diag(g_F))⁻¹)

over each sample's free set ``F`` (the elements with ``ŵ = -g ẑ``), so a
sample costs one ``|F|×|F|`` solve, or a share of one batched Woodbury step
when ``H`` is a diagonal plus a low-rank term (a layered network, whose
diodes meet only through the outputs: ``kernels.low_rank``). ``G_ff`` itself
is factored by block elimination where its unknowns fall into small
clusters (``kernels.clustered``), by LU otherwise. ``adjoint=True`` applies ``G_s⁻ᵀ``, the
MNA of the adjoint network (reciprocal elements are symmetric stamps;
gyrators and controlled sources transpose).

Knee rule: a junction whose reverse voltage is within round-off of zero
(relative to the sample's largest node voltage: ``64 ε`` after the exact
solve, ``tol`` after another method; or ``state_tol`` volts where that is
given) counts as *conducting* (a short).
At an exact knee (zero voltage and zero current) this picks the one-sided
derivative of the monDEQ convention ``ReLU'(0) = 0`` for the reverse voltage
``z``; a junction reverse-biased by more than round-off is open, whatever
the circuit's voltage scale.

Tolerances are relative to each element's own current scale
(``Kernel.element_scale``), so multiplying every conductance by a constant
changes no decision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from ..activations import Shockley
from ..circuits import GROUND, Circuit, CurrentSource, Resistor, ShockleyDiode
from ..circuits.outputs import OutputSpec, parse_output
from ..kernels.equilibrium import SingularSystemError
from ..kernels.extract import diode_nonlinearity
from ..kernels.mna import refuse_unmodelled_options, refuse_voltage_defined_loops
from ..kernels.programming import KernelProgrammer
from ..kernels.stamped import StampedMNA, as_torch, rmul
from ..simulators.builtin import breakdown_limits, check_breakdown, exact_method, not_unique
from ..solvers._factor import solve_switched
from ..solvers.reuse import CachedSolver
from ..utils.indexing import as_slice, columns
from .builtin_drive import drive_rows, switched_free_set
from .hardware import Drive, Hardware, Measurement, NodeMeasurement, check_drive
from .node_gradient import conductance_gradient, cross_plan
from .power import source_power


class BuiltinHardware(Hardware):
    """Hardware backed by diodenet's own exact solver.

    Parameters
    ----------
    circuit:
        the network (copied; ``set_conductances`` changes the copy).
    inputs:
        independent sources whose values are applied per sample.
    outputs:
        node names or ``(pos, neg)`` pairs read as output voltages.
    method, tol:
        kernel solver and its tolerance (relative to each element's current
        scale, ``Kernel.element_scale``; default 1e-12 in float64, ``1e3·ε``
        in another ``dtype``). The default is exact: the active set for
        ideal/PWL diodes (or mixed), Newton when every diode is smooth.
    state_tol:
        reverse voltage (V) at or below which a junction counts as conducting;
        default: round-off of the sample's voltages (see the knee rule above).
    monotone_tol:
        how far below 0 (relative to ``‖H‖``) ``sym(H)``'s eigenvalues may go;
        a cascade's whole circuit (buffers) needs ``inf``: its ``H`` is not
        monotone, though block-triangular with monotone blocks.
    """

    name = "builtin"

    def __init__(
        self,
        circuit: Circuit,
        inputs: Sequence[str],
        outputs: Sequence[OutputSpec],
        *,
        method: str | None = None,
        tol: float | None = None,
        state_tol: float | None = None,
        monotone_tol: float = 1e-10,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        self.monotone_tol = monotone_tol
        self._circuit = circuit.copy()
        self._sources = self._circuit.sources  # power reads them (a scan of every element)
        self._stale = False  # conductances programmed but not yet written into the circuit
        self.inputs = [s.strip().lower() for s in inputs]
        self.outputs = [parse_output(o) for o in outputs]
        trainable = self._circuit.trainable_resistors
        self.trainable = [r.name for r in trainable]
        self._g = np.array([r.g for r in trainable], dtype=float)
        if tol is None:
            tol = 1e-12 if dtype == torch.float64 else 1e3 * torch.finfo(dtype).eps
        self.method, self.tol, self.state_tol = method, tol, state_tol
        self.dtype = dtype
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.settles = 0
        c = self._circuit.validate()
        refuse_voltage_defined_loops(c)
        refuse_unmodelled_options(c)
        self._st = st = StampedMNA(c, self.inputs, self.trainable, drive_ports=True)
        mna = st.mna
        for d, form in zip(mna.diodes, mna.port_forms):
            if form == "impedance" and isinstance(d.model, ShockleyDiode):
                raise ValueError(
                    f"{d.name}: a Shockley diode that closes a loop of diodes and voltage "
                    "sources has no admittance-form kernel; give it a series resistance Rs > 0"
                )
        self._impedance = torch.tensor([f == "impedance" for f in mna.port_forms],
                                       dtype=torch.bool, device=self.device)
        self._any_impedance = bool(self._impedance.any())
        # equal diodes share one element object (stateless), so that the kernel's
        # per-call fingerprint hashes each kind once
        shared: dict[Any, Any] = {}
        self._elements = [shared.setdefault(e, e)
                          for e in (diode_nonlinearity(d.model, d.name) for d in mna.diodes)]
        self._shockley = [k for k, e in enumerate(self._elements) if isinstance(e, Shockley)]
        nn = st.n_nodes

        def column(node: str) -> int:
            if node == GROUND:
                return nn
            if node not in mna.node_index or "#" in node:
                raise ValueError(f"output node {node!r} is not a node of the circuit")
            return mna.node_index[node]

        self._out_cols = np.array([[column(p), column(n)] for p, n in self.outputs],
                                  dtype=np.int64).reshape(-1, 2)
        # output read-out as rows over free unknowns and driven nodes (small, sparse)
        rows_f, rows_d = [], []
        for j, cols in enumerate(self._out_cols):
            for col, sign in zip(cols, (1.0, -1.0)):
                if col == nn:
                    continue
                if st.pos_f[col] >= 0:
                    rows_f.append((j, st.pos_f[col], sign))
                else:
                    rows_d.append((j, st.pos_d[col], sign))
        p = len(self.outputs)
        O_f = _csr(rows_f, (p, len(st.free)))
        O_D = _csr(rows_d, (p, len(st.driven)))
        # how each input enters: ("vd", driven row) | ("vf", free row) | ("i", pos col, neg col)
        self._input_kind: list[tuple[str, int, int]] = []
        for name in self.inputs:
            e = c[name]
            if isinstance(e, CurrentSource):
                self._input_kind.append(("i", column(e.pos), column(e.neg)))
                continue
            br = mna.branch_index[name]
            hit = np.flatnonzero(st.driven_branch == br)
            self._input_kind.append(("vd", int(hit[0]), -1) if len(hit) else
                                    ("vf", int(st.pos_f[br]), -1))
        # where each voltage source's current is read: a driven row or a free unknown
        self._vsource_at: dict[str, tuple[str, int]] = {}
        for e in c.sources:
            if isinstance(e, CurrentSource):
                continue
            br = mna.branch_index[e.name]
            hit = np.flatnonzero(st.driven_branch == br)
            self._vsource_at[e.name] = ("d", int(hit[0])) if len(hit) else ("f", int(st.pos_f[br]))
        self._sign = as_torch(st.sign, self.dtype, self.device)
        # the free nodes' places among the free unknowns, and each output's two
        # terminals among the node voltages: views where regular (usually)
        self._free_node_pos = as_slice(torch.as_tensor(st.pos_f[st.free_nodes],
                                                       device=self.device))
        # measurements hold node voltages as [free nodes, driven nodes, ground]: one
        # concatenation; vcol maps a node's MNA column (ground: nn) to its place there
        vcol = np.full(nn + 1, -1, dtype=np.int64)
        vcol[np.concatenate([st.free_nodes, st.driven, [nn]]).astype(np.int64)] = \
            np.arange(len(st.free_nodes) + len(st.driven) + 1)
        if (vcol < 0).any():
            raise AssertionError("every node is free or driven")  # StampedMNA's partition
        self._vcol = vcol
        self._driven_row = np.append(st.pos_d[:nn], -1)  # a node column's driven row, or -1
        out_vcols = torch.as_tensor(vcol[self._out_cols], device=self.device)
        self._out_at = (as_slice(out_vcols[:, 0]), as_slice(out_vcols[:, 1]))
        self._terminals = torch.as_tensor(vcol[st.terminals], device=self.device)
        self._cross = cross_plan(self._terminals[:, 0], self._terminals[:, 1],
                                 torch.arange(len(st.free_nodes), device=self.device), nn)
        self._Sz_D = as_torch(st.Sz_D, self.dtype, self.device)
        self._SzT_f, self._SzT_D = (as_torch(st.Sz_f.T.tocsr(), self.dtype, self.device),
                                    as_torch(st.Sz_D.T.tocsr(), self.dtype, self.device))
        self._Su_D = as_torch(st.Su_D, self.dtype, self.device)
        self._s0_D = as_torch(st.s0_D, self.dtype, self.device)
        self._meas_f = as_torch(st.measure_f, self.dtype, self.device)
        self._meas_D = as_torch(st.measure_D, self.dtype, self.device)
        self._meas_D_used = st.measure_D.nnz > 0  # ports that read driven node voltages
        self._measT_D = as_torch(st.measure_D.T.tocsr(), self.dtype, self.device)
        self._programmer = KernelProgrammer(
            st, O_f, O_D, self._meas_f, elements=self._elements,
            input_names=self.inputs,
            output_names=["-".join(o).removesuffix("-0") for o in self.outputs],
            dtype=self.dtype, device=self.device)
        self._program(self._g, check=True)
        self._solver = CachedSolver(exact_method(self.kernel, self.method), tol=self.tol)
        self._breakdown = breakdown_limits(c, self.kernel)

    # ------------------------------------------------------------ program
    def _program(self, g: np.ndarray, check: bool = False) -> None:
        """Re-stamp ``g``, factor ``G_ff`` and derive the kernel (``kernels.programming``)."""
        self._programmed = self._programmer.program(g, check=check,
                                                    monotone_tol=self.monotone_tol)
        self.kernel = self._programmed.kernel

    @property
    # read-only here (Hardware declares a plain attribute): the network changes only
    # through set_conductances, so a property that syncs lazily is the honest type
    def circuit(self) -> Circuit:  # type: ignore[override]
        """The network with the conductances currently programmed."""
        if self._stale:
            for name, value in zip(self.trainable, self._g):
                self._circuit.element(name, Resistor).resistance = 1.0 / float(value)
            self._stale = False
        return self._circuit

    def conductances(self) -> np.ndarray:
        return self._g.copy()

    def set_conductances(self, g: np.ndarray) -> None:
        """Program new conductances (S), in ``trainable`` order: only the values
        are re-stamped (the circuit object is brought up to date when read)."""
        g = self._checked_conductances(g)
        self._program(g)
        self._g, self._stale = g.copy(), True

    def _reprogram(self, g: np.ndarray) -> None:
        self._program(np.asarray(g, dtype=float))

    # ------------------------------------------------------------ helpers
    def _node_matrix(self, free_nodes: Tensor, driven: Tensor) -> Tensor:
        """All node voltages (batch, n_nodes + 1): free nodes, driven nodes, then
        ground (0 V); ``_vcol`` maps a node's MNA column to its column here."""
        return torch.cat([free_nodes, driven, free_nodes.new_zeros((free_nodes.shape[0], 1))], 1)

    def _branch(self, V: Tensor) -> Callable[[], np.ndarray]:
        ta, tb = self._terminals[:, 0], self._terminals[:, 1]
        return lambda: (V[:, ta] - V[:, tb]).cpu().numpy()

    def _responses(self, V: Tensor, free: Callable[[], Tensor],
                   j_driven: Callable[[Tensor], Tensor]) -> Callable[[], np.ndarray]:
        """Input responses: source currents (voltage inputs), ``V(neg) - V(pos)`` (current)."""
        def compute() -> np.ndarray:
            if not self._input_kind:
                return np.zeros((V.shape[0], 0))
            cols = []
            xf = jd = None
            for kind, a, b in self._input_kind:
                if kind == "i":
                    cols.append(V[:, self._vcol[b]] - V[:, self._vcol[a]])
                elif kind == "vf":
                    xf = free() if xf is None else xf
                    cols.append(xf[:, a])
                else:
                    if jd is None:
                        xf = free() if xf is None else xf
                        jd = j_driven(xf)
                    cols.append(jd[:, a])
            return torch.stack(cols, 1).cpu().numpy()

        return compute

    # ------------------------------------------------------------ settle
    def settle(self, inputs: np.ndarray) -> Measurement:
        k = self.kernel
        # a 1-D input is one sample, as on every hardware (the kernel alone
        # reads it as a batch when there is one input)
        u = k.check_inputs(inputs.reshape(1, -1) if np.ndim(inputs) == 1 else inputs)
        # one solver state per programmed kernel, re-initialised when conductances change
        try:
            eq = self._solver.solve(k, u)
        except SingularSystemError as exc:
            raise ValueError(f"the builtin hardware could not solve the circuit's kernel: "
                             f"{not_unique(k) or exc}; give the ideal diodes a series or "
                             "parallel resistance, or use the ngspice hardware") from None
        z = eq.z
        check_breakdown(self._breakdown, z)
        self.settles += u.shape[0]
        programmed = self._programmed
        vD = self._programmer.driven_voltages(u, z)
        xf = programmed.free_solution(z, u)
        V = self._node_matrix(columns(xf, self._free_node_pos), vD)
        reverse = torch.where(self._impedance, z @ k.H.T + k.rhs(u), z) \
            if self._any_impedance else z
        conducting = reverse <= self._knee(V)
        gd = torch.zeros_like(z).masked_fill_(conducting, torch.inf)
        for j in self._shockley:
            gd[:, j] = self._elements[j].derivative(z[:, j])
            conducting[:, j] = reverse[:, j] < 0

        def free() -> Tensor:
            return xf

        # the blocks of these conductances: a lazy read after a re-programming
        # must still answer for the circuit that was measured
        blocks = programmed.blocks

        def j_driven(xf: Tensor) -> Tensor:
            # KCL at each driven node: j = s ⊙ (S_z z + S_u u + s0 - G_Df x_f - G_DD v_D)
            r = rmul(z, self._Sz_D) + rmul(u, self._Su_D) + self._s0_D
            return self._sign * (r - rmul(xf, blocks["Df"][0]) - rmul(vD, blocks["DD"][0]))

        def power() -> np.ndarray:
            jd = j_driven(xf)
            index, nn = self._st.mna.node_index, self._st.n_nodes

            def node_voltage(n: str) -> np.ndarray:
                return V[:, self._vcol[nn if n == GROUND else index[n]]].cpu().numpy()

            def current(name: str) -> np.ndarray:
                kind, i = self._vsource_at[name]
                return (jd[:, i] if kind == "d" else xf[:, i]).cpu().numpy()

            return source_power(self._circuit, node_voltage, current, self.inputs,
                                u.cpu().numpy(), sources=self._sources)

        return NodeMeasurement(
            inputs=u.cpu().numpy(), outputs=eq.y.detach().cpu().numpy(),
            conducting=conducting.cpu().numpy(), diode_conductance=gd.cpu().numpy(),
            node_voltages=V, branch_voltages=self._branch(V),
            input_responses=self._responses(V, free, j_driven), power=power,
        )

    @property
    def settings(self) -> dict[str, Any]:
        """The keyword arguments that build this hardware again (for copies)."""
        return {"method": self.method, "tol": self.tol, "state_tol": self.state_tol,
                "monotone_tol": self.monotone_tol, "dtype": self.dtype, "device": self.device}

    def _knee(self, V: Tensor) -> Tensor | float:
        """The reverse voltage at or below which a junction conducts: ``state_tol``,
        or round-off of the sample's largest node voltage (see the module
        docstring): the exact solve clamps a conducting admittance port to 0 V
        exactly, so only a degenerate knee needs a margin (64 ε); another
        method stops within ``tol``; a port whose reverse voltage is computed
        (``H z + q``, an impedance port) carries the round-off of that sum."""
        if self.state_tol is not None:
            return self.state_tol
        eps = torch.finfo(V.dtype).eps
        rtol = 64 * eps if self._solver.method == "active_set" else max(self.tol, 64 * eps)
        scale = V.abs().amax(dim=1, keepdim=True)
        if not self._any_impedance:
            return rtol * scale
        return torch.where(self._impedance, max(rtol, 1e3 * eps), rtol) * scale

    def settle_linearized(
        self, measurement: Measurement, drive: Drive, *, adjoint: bool = False
    ) -> Measurement:
        batch = measurement.batch
        check_drive(drive, self.inputs, len(self.outputs), batch)
        rows = drive_rows(self, drive, batch)
        r_f, r_D, r_br, c_out = rows.r_f, rows.r_D, rows.r_br, rows.c_out
        drives_D, driven_inputs = rows.drives_D, rows.driven_inputs
        free, g = switched_free_set(measurement, self._impedance if self._any_impedance else None,
                                    dtype=self.dtype, device=self.device)
        k = self.kernel
        s = self._sign
        programmed = self._programmed
        G, n = programmed.G, k.n

        def G_solve(rhs: Tensor, transpose: bool) -> Tensor:
            if rhs.shape[1] == 0:
                return rhs
            return G.solve(rhs.T, transpose).T

        blocks = programmed.blocks  # these conductances' blocks (read lazily)
        # with no input driven (the usual adjoint, driven at the outputs) y_D = 0
        # driven nodes: the (small-signal) source values (r_br itself when all zero)
        y_D = s * r_br if driven_inputs else r_br
        held = self._programmer.ports  # the port-driven nodes, if any
        # with port-driven nodes the network is reciprocal (StampedMNA): its adjoint
        # is the same experiment
        if not adjoint or held is not None:
            r_f = r_f + c_out @ self._programmer.O_f
            y_f = G_solve(r_f - rmul(y_D, blocks["fD"][0]) if driven_inputs else r_f, False)
            # the ports' currents at ẑ = 0: P̃_f y_f + P_D y_D, and with port-driven
            # nodes their KCL rows' drives, c_p (r_D - G_pD y_D) at node p
            rw = rmul(y_f, programmed.P_f)
            if driven_inputs and self._meas_D_used:
                rw = rw + rmul(y_D, self._meas_D)
            if held is not None and (drives_D or driven_inputs):
                r_p = r_D[:, held.node]
                if driven_inputs:
                    r_p = r_p - rmul(y_D, blocks["pD"][0])
                rw = rw.index_add(1, held.port, r_p * held.coef)
            zhat = -solve_switched(k, free, g, rw)
            x_f = y_f + zhat @ programmed.Xz.T
            # (y_D is read no further: the held nodes' ẑ go into it in place)
            x_D = y_D if held is None else held.driven_voltages(y_D, zhat)

            def j_driven(xf: Tensor) -> Tensor:
                r = r_D + rmul(zhat, self._Sz_D)
                return s * (r - rmul(xf, blocks["Df"][0]) - rmul(x_D, blocks["DD"][0]))
        else:
            # (c_out O_f) G⁻¹ = c_out (O G⁻¹) and (ŝ P_f) G⁻¹ = ŝ (P G⁻¹): the
            # re-programming's QO, so only drives at the inputs need a solve
            y_f = c_out @ programmed.QO[n:]
            if driven_inputs:
                y_f = y_f + G_solve(r_f - rmul(y_D, blocks["Df"][1]), True)
            t = rmul(y_f, self._SzT_f) + rmul(y_D, self._SzT_D)
            shat = solve_switched(k, free, g, t, transpose=True)
            y2_f = shat @ programmed.QO[:n]
            x_f = y_f - y2_f
            x_D = y_D

            def j_driven(xf: Tensor) -> Tensor:
                # the transposed KCL rows: j = s ⊙ (r_D + P_Dᵀ... ) of both solves
                GfD_T = blocks["fD"][1]
                first = r_D - rmul(y_f, GfD_T) - rmul(y_D, blocks["DD"][1])
                second = rmul(shat, self._measT_D) - rmul(y2_f, GfD_T)
                return s * (first - second)

        self.settles += batch
        V = self._node_matrix(columns(x_f, self._free_node_pos), x_D)
        outputs = (columns(V, self._out_at[0]) - columns(V, self._out_at[1])).cpu().numpy()
        return NodeMeasurement(
            inputs=rows.applied, outputs=outputs, conducting=measurement.conducting,
            diode_conductance=measurement.diode_conductance, node_voltages=V,
            branch_voltages=self._branch(V),
            input_responses=self._responses(V, lambda: x_f, j_driven),
            linearized=True, adjoint=adjoint,
        )

    # ------------------------------------------------------------ gradient
    def conductance_gradient(self, forward: Measurement, adjoint: Measurement) -> np.ndarray:
        """``∂L/∂g_k = -Σ_s (V_a - V_b)(V̂_a - V̂_b)`` from the node voltages.

        Expanded as ``-(d_a + d_b - M_ab - M_ba)`` with ``d = Σ_s V ⊙ V̂`` and
        ``M = Vᵀ V̂``; ``M`` is formed only on the (driven, free) and (free,
        free) node blocks, as matrix products where they are dense enough
        (every input feeds every hidden neuron), by gathering otherwise.
        """
        if not (isinstance(forward, NodeMeasurement) and isinstance(adjoint, NodeMeasurement)) \
                or forward.node_voltages is None or adjoint.node_voltages is None \
                or forward.branch_currents is not None:
            return super().conductance_gradient(forward, adjoint)
        V, W = forward.node_voltages, adjoint.node_voltages
        return conductance_gradient(V, W, self._cross).cpu().numpy()


def _csr(triplets: list[tuple[int, int, float]], shape: tuple[int, int]) -> sp.csr_matrix:
    r, c, v = zip(*triplets) if triplets else ((), (), ())
    return sp.csr_matrix((np.asarray(v, float), (np.asarray(r, int), np.asarray(c, int))),
                         shape=shape)
