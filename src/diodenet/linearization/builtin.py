"""The built-in simulator as hardware.

``settle`` solves the circuit's kernel exactly (active set for ideal/PWL
diodes, Newton for Shockley diodes) and rebuilds every node voltage.
``settle_linearized`` assembles the MNA matrix of the *switched* circuit for
each sample: a conducting ideal/PWL junction becomes a short, a blocking one
an open, a Shockley junction its small-signal conductance
``g_d = F'(z) = (I_s/nV_T) e^{-z/nV_T}``. Every independent source is zeroed
(its MNA row keeps only the drive). ``adjoint=True`` solves the transposed
system, which is the MNA of the adjoint network (reciprocal elements are
symmetric stamps; gyrators and controlled sources transpose).

Knee rule: a junction whose reverse voltage is at most ``state_tol`` volts
counts as *conducting* (a short). At an exact knee (zero voltage and zero
current) this picks the one-sided derivative of the monDEQ convention
``ReLU'(0) = 0`` for the reverse voltage ``z``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..activations import Shockley
from ..circuits import Circuit, CurrentSource, Resistor
from ..circuits.outputs import OutputSpec, parse_output
from ..kernels.extract import CircuitKernel, extract_kernel
from ..kernels.mna import build_mna, junction_node
from ..simulators.builtin import breakdown_limits, check_breakdown, exact_method
from ..solvers.reuse import CachedSolver
from .hardware import Drive, Hardware, Measurement, check_drive
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
        kernel solver and its tolerance (relative to the circuit's current
        scale, ``Kernel.residual_scale``). The default is exact: the active
        set for ideal/PWL diodes (or mixed), Newton when every diode is smooth.
    state_tol:
        reverse voltage (V) at or below which a junction counts as conducting.
    """

    name = "builtin"

    def __init__(
        self,
        circuit: Circuit,
        inputs: Sequence[str],
        outputs: Sequence[OutputSpec],
        *,
        method: str | None = None,
        tol: float = 1e-12,
        state_tol: float = 1e-9,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        self.circuit = circuit.copy()
        self.inputs = [s.strip().lower() for s in inputs]
        self.outputs = [parse_output(o) for o in outputs]
        self.trainable = [r.name for r in self.circuit.trainable_resistors]
        self.method, self.tol, self.state_tol = method, tol, state_tol
        self.dtype = dtype
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.settles = 0
        self._rebuild()

    # ------------------------------------------------------------ program
    def _rebuild(self, check: bool = True) -> None:
        c = self.circuit
        self.kernel: CircuitKernel = extract_kernel(
            c, self.inputs, self.outputs, dtype=self.dtype, device=self.device, check=check
        )
        self._breakdown = breakdown_limits(c, self.kernel)
        if all(f == "admittance" for f in self.kernel.port_forms):
            mna = self.kernel.mna  # the same system: no need to assemble it twice
        else:
            mna = build_mna(c, self.inputs, force_admittance=True)
        self._mna = mna
        t = lambda a: torch.as_tensor(a, dtype=self.dtype, device=self.device)  # noqa: E731
        self._G = t(mna.G)
        N = mna.size

        def node_row(name: str) -> np.ndarray:
            row = np.zeros(N)
            if name != "0":
                row[mna.node_index[name]] = 1.0
            return row

        self._out_sel = t(np.array([node_row(p) - node_row(n) for p, n in self.outputs])
                          .reshape(len(self.outputs), N))
        res = [c.element(name, Resistor) for name in self.trainable]
        self._branch_sel = t(np.array([node_row(r.n1) - node_row(r.n2) for r in res])
                             .reshape(len(res), N))
        # kernel node voltages -> trainable branch voltages
        kn = {n: i for i, n in enumerate(self.kernel.node_names)}

        def kernel_row(name: str) -> np.ndarray:
            row = np.zeros(len(kn))
            if name != "0":
                row[kn[name]] = 1.0
            return row

        self._kernel_branch_sel = t(
            np.array([kernel_row(r.n1) - kernel_row(r.n2) for r in res])
            .reshape(len(res), len(kn))
        )
        # diode port rows and junction terminals in the linearization MNA
        self._ports = []
        for d, row in zip(mna.diodes, mna.port_rows):
            a = junction_node(d) if junction_node(d) in mna.node_index else d.anode
            ia = mna.node_index.get(a) if a != "0" else None
            ic = mna.node_index.get(d.cathode) if d.cathode != "0" else None
            self._ports.append((row, ia, ic))
        self._input_kind = []
        for name in self.inputs:
            e = c[name]
            if isinstance(e, CurrentSource):
                ip = mna.node_index.get(e.pos) if e.pos != "0" else None
                i_n = mna.node_index.get(e.neg) if e.neg != "0" else None
                self._input_kind.append(("i", ip, i_n))
            else:
                self._input_kind.append(("v", mna.branch_index[name], None))
        self._factor_open()

    def _reprogram(self, g: np.ndarray) -> None:
        self._rebuild(check=False)

    # ------------------------------------------------------------ settle
    def settle(self, inputs: np.ndarray) -> Measurement:
        u = self.kernel.check_inputs(inputs)
        if getattr(self, "_solver", None) is None:
            # one solver state per programmed kernel, re-initialised when conductances change
            self._solver = CachedSolver(exact_method(self.kernel, self.method), tol=self.tol)
        eq = self._solver.solve(self.kernel, u)
        check_breakdown(self._breakdown, eq.z)
        self.settles += u.shape[0]
        V = self.kernel.node_voltages(eq.z, u)
        reverse = self._junction_reverse_voltage(eq.z, u)
        conducting = reverse <= self.state_tol
        gd = torch.where(conducting, torch.inf, 0.0).to(self.dtype)
        for k, e in enumerate(self.kernel.elements):
            if isinstance(e, Shockley):
                gd[:, k] = e.derivative(eq.z[:, k])
                conducting[:, k] = reverse[:, k] < 0
        src = self.kernel.source_currents(eq.z, u)
        responses = []
        for name, (kind, _, _) in zip(self.inputs, self._input_kind):
            if kind == "v":
                responses.append(src[:, self.kernel.source_names.index(name)])
            else:
                src_i = self.circuit.element(name, CurrentSource)
                responses.append(self._node(V, src_i.neg) - self._node(V, src_i.pos))
        np_ = lambda t: t.detach().cpu().numpy()  # noqa: E731
        stacked = torch.stack(responses, 1) if responses else u[:, :0]
        power = source_power(
            self.circuit, lambda n: np_(self._node(V, n)),
            lambda s: np_(src[:, self.kernel.source_names.index(s)]), self.inputs, np_(u))
        return Measurement(
            inputs=np_(u), outputs=np_(eq.y), branch_voltages=np_(V @ self._kernel_branch_sel.T),
            input_responses=np_(stacked),
            conducting=np_(conducting), diode_conductance=np_(gd), power=power,
        )

    def _node(self, V: torch.Tensor, name: str) -> torch.Tensor:
        if name == "0":
            return torch.zeros(V.shape[0], dtype=V.dtype, device=V.device)
        return V[:, self.kernel.node_names.index(name)]

    def _junction_reverse_voltage(self, z: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Each junction's reverse voltage (V): ``z`` itself for voltage-driven
        ports, ``w = Hz + Bu + b`` for current-driven ones."""
        forms = getattr(self.kernel, "port_forms", ["admittance"] * self.kernel.n)
        if all(f == "admittance" for f in forms):
            return z.clone()
        w = z @ self.kernel.H.T + self.kernel.rhs(u)
        imp = torch.tensor([f == "impedance" for f in forms], device=z.device)
        return torch.where(imp, w, z)

    def _port_coefficients(self, measurement: Measurement) -> tuple[torch.Tensor, torch.Tensor]:
        """Each port row of the linearized MNA is ``a (V(c) - V(a)) + b j = 0``:
        a short ``(1, 0)``, an open ``(0, 1)``, a conductance ``g_d``: ``(g_d, -1)``.
        Returns ``a``, ``b`` of shape (batch, n_diodes)."""
        conducting = torch.as_tensor(measurement.conducting, device=self.device)
        gd = torch.as_tensor(measurement.diode_conductance, dtype=self.dtype, device=self.device)
        finite = torch.isfinite(gd)
        short = conducting & ~finite
        zero = torch.zeros_like(gd)
        a = torch.where(short, 1.0, torch.where(finite, gd, zero))
        b = torch.where(short, 0.0, torch.where(finite, -1.0, 1.0)).to(self.dtype)
        return a.to(self.dtype), b

    def _factor_open(self) -> None:
        """Factor the MNA with every diode *open* once; a linearized circuit is
        a rank-``n_diodes`` change of it (only the port rows differ), so each
        sample costs triangular solves and an ``n × n`` system (Woodbury)
        instead of a dense ``N × N`` factorisation."""
        self._lu = None
        rows = [row for row, _, _ in self._ports]
        if not rows:
            return
        N = self._G.shape[0]
        G_open = self._G.clone()
        G_open[rows, :] = 0.0
        G_open[rows, rows] = 1.0
        P = torch.zeros(len(rows), N, dtype=self.dtype, device=self.device)  # V(c) - V(a)
        for k, (_, ia, ic) in enumerate(self._ports):
            if ic is not None:
                P[k, ic] = 1.0
            if ia is not None:
                P[k, ia] = -1.0
        lu, piv, info = torch.linalg.lu_factor_ex(G_open)
        if int(info) != 0:
            return  # a node held only by diodes: keep the dense route
        E = torch.zeros(N, len(rows), dtype=self.dtype, device=self.device)
        E[rows, range(len(rows))] = 1.0
        GiE = torch.linalg.lu_solve(lu, piv, E)
        if not torch.isfinite(GiE).all() or float(GiE.abs().max()) > 1e12:
            return  # ill-conditioned base: keep the dense route
        self._lu, self._piv, self._P, self._rows, self._GiE = lu, piv, P, rows, GiE
        self._PGE, self._RGE = P @ GiE, GiE[rows]

    def _solve_linearized(
        self, a: torch.Tensor, b: torch.Tensor, rhs: torch.Tensor, adjoint: bool
    ) -> torch.Tensor:
        """``x`` with ``G_s x = rhs`` (or ``G_sᵀ x = rhs``) for every sample's
        linearized MNA ``G_s = G_open + E D_s``, ``D_s = diag(a) P + diag(b - 1) R``."""
        batch, N = rhs.shape
        if self._lu is None:  # dense route: one factorisation per sample
            G = self._G.expand(batch, N, N).clone()
            for k, (row, ia, ic) in enumerate(self._ports):
                G[:, row, :] = 0.0
                if ic is not None:
                    G[:, row, ic] = a[:, k]
                if ia is not None:
                    G[:, row, ia] = -a[:, k]
                G[:, row, row] = b[:, k]
            return torch.linalg.solve(G.transpose(1, 2) if adjoint else G, rhs)
        bm1 = b - 1.0
        # K_s = D_s G⁻¹ E (batch, n, n), from the precomputed P G⁻¹E and R G⁻¹E
        K = a[:, :, None] * self._PGE + bm1[:, :, None] * self._RGE
        eye = torch.eye(K.shape[1], dtype=self.dtype, device=self.device)
        if not adjoint:
            y0 = torch.linalg.lu_solve(self._lu, self._piv, rhs.T).T
            Dy = a * (y0 @ self._P.T) + bm1 * y0[:, self._rows]
            w = torch.linalg.solve(eye + K, Dy.unsqueeze(-1)).squeeze(-1)
            return y0 - w @ self._GiE.T
        y0 = torch.linalg.lu_solve(self._lu, self._piv, rhs.T, adjoint=True).T
        v = torch.linalg.solve((eye + K).transpose(1, 2), y0[:, self._rows].unsqueeze(-1))
        v = v.squeeze(-1)
        Dtv = (a * v) @ self._P
        Dtv[:, self._rows] += bm1 * v
        return y0 - torch.linalg.lu_solve(self._lu, self._piv, Dtv.T, adjoint=True).T

    def settle_linearized(
        self, measurement: Measurement, drive: Drive, *, adjoint: bool = False
    ) -> Measurement:
        batch = measurement.batch
        check_drive(drive, self.inputs, len(self.outputs), batch)
        N = self._G.shape[0]
        a_coef, b_coef = self._port_coefficients(measurement)
        rhs = torch.zeros(batch, N, dtype=self.dtype, device=self.device)
        applied = np.zeros((batch, len(self.inputs)))
        for key, value in drive.items():
            val = torch.as_tensor(np.broadcast_to(value, (batch,)).copy(), dtype=self.dtype,
                                  device=self.device)
            if isinstance(key, tuple):
                rhs += val[:, None] * self._out_sel[int(key[1])]
                continue
            j = self.inputs.index(key)
            applied[:, j] = val.cpu().numpy()
            kind, a, b = self._input_kind[j]
            if kind == "v":
                rhs[:, a] += val
            else:
                if a is not None:
                    rhs[:, a] -= val
                if b is not None:
                    rhs[:, b] += val
        x = self._solve_linearized(a_coef, b_coef, rhs, adjoint)
        self.settles += batch
        responses = []
        for kind, a, b in self._input_kind:
            if kind == "v":
                responses.append(x[:, a])
            else:
                va = x[:, a] if a is not None else x.new_zeros(batch)
                vb = x[:, b] if b is not None else x.new_zeros(batch)
                responses.append(vb - va)
        np_ = lambda t: t.detach().cpu().numpy()  # noqa: E731
        return Measurement(
            inputs=applied, outputs=np_(x @ self._out_sel.T),
            branch_voltages=np_(x @ self._branch_sel.T),
            input_responses=np_(torch.stack(responses, 1)) if responses else np.zeros((batch, 0)),
            conducting=measurement.conducting, diode_conductance=measurement.diode_conductance,
            linearized=True, adjoint=adjoint,
        )
