"""A block's drives, ``R = S - G V`` and ``r0 = s0 - G v0``, at each programming.

The driven nodes are ``v_D = V u + v0`` (each one ``s·`` an input, or a
constant); a block ``G`` of the MNA rows that see them (the free rows'
``G_fD``, the port-driven nodes' rows ``G_pD``) turns them into drives of
those rows. ``DrivePlan`` reads them straight from the block's entries when
each input drives one node (the usual case), without assembling the block;
``block_drives`` falls back to the assembled block otherwise. ``PortDrive``
holds what a ``StampedMNA`` with port-driven nodes needs for its kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from .stamped import EntryReader, StampBlock, StampedMNA, as_torch


@dataclass
class DrivePlan:
    """How a block's drives come straight from its entries when each input
    drives one node (the usual case). For the free rows and ``G_fD``:
    ``Ru = S_u - G_fD Vu_D`` on the rows the inputs reach is one gather of
    ``g`` where the entries are one conductance each (reshaped when the inputs
    reach every row, scattered otherwise), ``r0 = s0 - G_fD v0`` one weighted
    count over the entries at constant sources. The same serves the
    port-driven nodes' rows of ``G_DD`` (``pD``), and the diodes' drive of the
    nodes their ports hold (``Vz_D`` for ``Vu_D``). Found once, from the stamp
    pattern."""

    rows: np.ndarray  # the block's rows the inputs reach
    su_rows: np.ndarray  # S_u on them, dense (rows, m)
    entry: np.ndarray  # the block's entries that land in Ru
    at: np.ndarray  # their flat positions in (rows, m)
    coef: np.ndarray  # -(the input's sign)
    const_entry: np.ndarray  # the block's entries at driven nodes held by constants
    const_row: np.ndarray
    const_v: np.ndarray
    values: EntryReader  # the entries that land in Ru, × coef
    const_values: EntryReader  # the entries at constants
    su_any: bool  # whether S_u has entries on those rows (current-source inputs)

    @classmethod
    def of(cls, fD: StampBlock, Vu_D: sp.csr_matrix, Su_f: np.ndarray,
           v0: np.ndarray) -> DrivePlan | None:
        """The plan for block ``fD`` (rows × driven nodes), driven nodes
        ``Vu_D u + v0`` and direct drives ``Su_f`` (rows × m), or ``None``
        unless each input drives exactly one node and the block is dense."""
        Vc = Vu_D.tocsc()
        if not (fD.dense and Vc.shape[1] and np.all(np.diff(Vc.indptr) == 1)):
            return None
        m = Vc.shape[1]
        input_of = np.full(fD.shape[1], -1, dtype=np.int64)
        input_of[Vc.indices] = np.arange(m)
        sign = np.zeros(fD.shape[1])
        sign[Vc.indices] = Vc.data
        entry = np.flatnonzero(input_of[fD.cols] >= 0)
        rows = np.union1d(np.unique(fD.rows[entry]), np.flatnonzero(np.any(Su_f != 0.0, axis=1)))
        pos = np.full(fD.shape[0], -1, dtype=np.int64)
        pos[rows] = np.arange(len(rows))
        at = pos[fD.rows[entry]] * m + input_of[fD.cols[entry]]
        order = np.argsort(at)  # row-major: a plain reshape when every position is hit
        entry, at = entry[order], at[order]
        coef = -sign[fD.cols[entry]]
        const_entry = np.flatnonzero(v0[fD.cols] != 0.0)
        return cls(rows, Su_f[rows], entry, at, coef, const_entry,
                   fD.rows[const_entry], v0[fD.cols[const_entry]],
                   fD.reader(entry).scaled(coef),  # the input signs folded in
                   fD.reader(const_entry), bool(Su_f[rows].any()))

    def drives(self, fD: StampBlock, g: np.ndarray, s0_f: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, Ru[rows], r0)`` from the entries of ``G_fD`` (``fD``) at ``g``."""
        # each (row, input) pair is one entry of G_fD (one driven node per input)
        values = self.values(g)
        if len(self.at) == self.su_rows.size:  # every pair: ``at`` is 0, 1, 2, …
            Ru = values.reshape(self.su_rows.shape)
            if self.su_any:
                Ru = Ru + self.su_rows
        else:
            Ru = self.su_rows.copy()
            Ru.reshape(-1)[self.at] += values  # a view: Ru is C-ordered
        return self.rows, Ru, self.drives_constant(g, s0_f)

    def drives_constant(self, g: np.ndarray, s0_f: np.ndarray) -> np.ndarray:
        """``r0 = s0 - G_fD v0`` from the entries at constants."""
        const = self.const_values(g)
        return s0_f - np.bincount(self.const_row, weights=const * self.const_v,
                                  minlength=len(s0_f))


def block_drives(block: StampBlock, g: np.ndarray, V: sp.csr_matrix, S: np.ndarray,
                 s0: np.ndarray, v0: np.ndarray, plan: DrivePlan | None,
                 values: np.ndarray | sp.csr_matrix | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, R[rows], r0)`` for ``block`` ``G`` at ``g``: ``R = S - G V`` on
    the rows it is not zero, ``r0 = s0 - G v0``; by ``plan`` when there is one,
    else from the block (``values``, if the caller has assembled it)."""
    if plan is not None:
        return plan.drives(block, g, s0)
    G = block.values(g) if values is None else values
    GV = (V.T @ G.T).T if V.nnz else 0.0
    R = np.asarray(S - GV)
    rows = np.flatnonzero(np.any(R != 0.0, axis=1))  # e.g. the hidden nodes only
    return rows, R[rows], s0 - G @ v0


@dataclass
class _Scatter:
    """Where a plan's entries land in an output of ``shape``: flat positions,
    times coefficients, onto a constant part."""

    shape: tuple[int, int]
    fixed: np.ndarray | None  # None: zero
    at: np.ndarray | None  # None: every place in order (each input drives every row)
    values: EntryReader  # the plan's entries, times their port's coefficient

    @classmethod
    def of(cls, plan: DrivePlan, fixed: np.ndarray, port: np.ndarray,
           coef: np.ndarray) -> _Scatter:
        width = fixed.shape[1]
        fixed = fixed.copy()  # the plan's direct drives (S on the rows) are constant
        np.add.at(fixed, port[plan.rows], coef[plan.rows, None] * plan.su_rows)
        p = plan.rows[plan.at // width]  # the port-driven node of each entry
        at = port[p] * width + plan.at % width
        in_order = np.array_equal(at, np.arange(fixed.size))
        return cls(fixed.shape, fixed if fixed.any() else None, None if in_order else at,
                   plan.values.scaled(coef[p]))

    def __call__(self, g: np.ndarray) -> np.ndarray:
        values = self.values(g)
        if self.at is None and self.fixed is None:  # every place, nothing constant
            return values.reshape(self.shape)
        out = np.zeros(self.shape) if self.fixed is None else self.fixed.copy()
        flat = out.reshape(-1)  # a view
        if self.at is None:
            flat += values
        else:
            flat[self.at] += values  # one entry per place: no repeats
        return out


class PortDrive:
    """The port-driven nodes of a ``StampedMNA`` (``drive_ports``), for the kernel.

    Node ``p`` held by diode ``k_p``'s port is ``v_p = s_p z_k + v0_p``
    (``Vz_D``), and the port's current is the node's KCL residual: port ``k``
    reads ``w_k = c_p j_p`` with ``j = s ⊙ (S z + S_u u + s0 - G_Df x_f -
    G_DD v_D)`` on the node's row (``c_p``: the measure's coefficient times
    ``s_p``). So with ``P̃_f = P_f - M G_pf`` and the rows of ``G_DD`` at the
    port-driven nodes (``G_pD``), where ``M`` scatters row ``p`` to port
    ``k_p`` times ``c_p``::

        H = P̃_f Xz + P_D Vz_D + M (S_z,p - G_pD Vz_D)
        B = P̃_f G⁻¹ Ru + P_D Vu_D + M (S_u,p - G_pD Vu_D)
        b = P̃_f x0 + P_D v0_D + M (s0_p - G_pD v0_D) + offset

    and the free rows' diode columns are ``S_z,f - G_fD Vz_D``. The ``M (…)``
    terms come straight from ``G_pD``'s entries (``DrivePlan``) when each
    input and each diode drives one node, else from the assembled block."""

    def __init__(self, st: StampedMNA, Vu_D: sp.csr_matrix, v0: np.ndarray,
                 dtype: torch.dtype, device: torch.device) -> None:
        pp, kp = st.port_driven, st.port_diode
        D, n = len(st.driven), len(st.mna.diodes)
        self.st, self.n = st, n
        self.Vu_D, self.v0 = Vu_D, v0
        self.Vz_D = sp.csr_matrix((st.sign[pp], (pp, kp)), shape=(D, n))
        # each port reads its own branch current, and only that: one entry per port
        M = sp.csr_matrix(st.measure_Db.multiply(st.sign[None, :]))
        coef = np.asarray(M[kp, pp]).ravel()
        if M.nnz != pp.size or not coef.all():
            raise AssertionError("a port-driven node's port reads its own current only")
        self._coef = coef
        self.coef = as_torch(coef, dtype, device)
        self.port = torch.as_tensor(kp, device=device)  # the diode of each port-driven node
        self.node = torch.as_tensor(pp, device=device)  # its place among the driven nodes
        self.sign = as_torch(st.sign[pp], dtype, device)
        # diode k holding driven node lo + k, every diode one (a layered network):
        # v_D's held part is then a slice
        self._slice = (int(pp[0]), int(pp[0]) + n) if pp.size == n and \
            np.array_equal(kp, np.arange(n)) and np.array_equal(pp, pp[0] + np.arange(n)) \
            else None
        self._t = lambda a: as_torch(a, dtype, device)
        self.Sz_f = st.Sz_f.toarray()
        self._zeros_f, self._zeros_D = np.zeros(len(st.free)), np.zeros(D)
        self.Sz_p, self.Su_p = st.Sz_D[pp].toarray(), st.Su_D[pp].toarray()
        self.s0_p = st.s0_D[pp]
        self.z_plan = DrivePlan.of(st.blocks["fD"], self.Vz_D, self.Sz_f, self._zeros_D)
        self.pz_plan = DrivePlan.of(st.blocks["pD"], self.Vz_D, self.Sz_p, self._zeros_D)
        self.pu_plan = DrivePlan.of(st.blocks["pD"], Vu_D, self.Su_p, v0)
        self.H_fixed = (st.measure_D @ self.Vz_D).toarray()
        self._H = self._B = None
        if self.pz_plan is not None and self.pu_plan is not None:
            self._H = _Scatter.of(self.pz_plan, self.H_fixed, kp, coef)
            self._B = _Scatter.of(self.pu_plan, np.zeros((n, Vu_D.shape[1])), kp, coef)

    def free_columns(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, (S_z,f - G_fD Vz_D)[rows])``: the diodes' drive of the free rows."""
        rows, R, _ = block_drives(self.st.blocks["fD"], g, self.Vz_D, self.Sz_f, self._zeros_f,
                                  self._zeros_D, self.z_plan)
        return rows, R

    def port_rows(self, g: np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
        """``P_D Vz_D + M (S_z,p - G_pD Vz_D)`` (n, n), ``M (S_u,p - G_pD Vu_D)``
        (n, m) and ``M (s0_p - G_pD v0_D)`` (n,): the port currents' direct terms."""
        st = self.st
        b = np.zeros(self.n)
        if self._H is not None and self._B is not None:
            assert self.pz_plan is not None and self.pu_plan is not None
            b[st.port_diode] = self._coef * self.pu_plan.drives_constant(g, self.s0_p)
            return self._t(self._H(g)), self._t(self._B(g)), self._t(b)
        pD = st.blocks["pD"]
        values = pD.values(g)
        kp, c = st.port_diode, self._coef[:, None]
        Hz, Bu = self.H_fixed.copy(), np.zeros((self.n, self.Vu_D.shape[1]))
        rz, Rz, _ = block_drives(pD, g, self.Vz_D, self.Sz_p, self.s0_p, self._zeros_D,
                                 None, values)
        ru, Ru, r0 = block_drives(pD, g, self.Vu_D, self.Su_p, self.s0_p, self.v0, None, values)
        np.add.at(Hz, kp[rz], c[rz] * Rz)
        np.add.at(Bu, kp[ru], c[ru] * Ru)
        b[kp] = self._coef * r0
        return self._t(Hz), self._t(Bu), self._t(b)

    def readout(self, P_f: Tensor, g: np.ndarray) -> Tensor:
        """``P̃_f = P_f - M G_pf`` (n, F): the port currents read on the free unknowns."""
        Gpf = self.st.blocks["pf"].values(g)
        Gpf = Gpf if isinstance(Gpf, np.ndarray) else Gpf.toarray()
        return P_f.index_add(0, self.port, self.coef[:, None] * self._t(Gpf), alpha=-1.0)

    def driven_voltages(self, vD: Tensor, z: Tensor) -> Tensor:
        """``v_D`` with the port-driven nodes' ``s_p z_k`` added (in place)."""
        if self._slice is not None:
            lo, hi = self._slice
            vD[:, lo:hi].addcmul_(z, self.sign)
            return vD
        return vD.index_add_(1, self.node, z[:, self.port] * self.sign)
