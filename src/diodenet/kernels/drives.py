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

from .stamped import StampBlock, StampedMNA, as_torch


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

    rows: np.ndarray  # free rows the inputs reach
    su_rows: np.ndarray  # S_u on them, dense (rows, m)
    entry: np.ndarray  # G_fD entries that land in Ru
    at: np.ndarray  # their flat positions in (rows, m)
    coef: np.ndarray  # -(the input's sign)
    const_entry: np.ndarray  # G_fD entries at driven nodes held by constants
    const_row: np.ndarray
    const_v: np.ndarray
    gather: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # fD.gather_at(entry), × coef
    const_gather: tuple[np.ndarray, np.ndarray, np.ndarray] | None
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
        gather = fD.gather_at(entry)
        if gather is not None:  # the input signs folded in
            gather = (coef * gather[0], coef * gather[1], gather[2])
            if not gather[0].any():  # no fixed stamps there: nothing to add
                gather = (np.zeros(0), gather[1], gather[2])
        const_entry = np.flatnonzero(v0[fD.cols] != 0.0)
        return cls(rows, Su_f[rows], entry, at, coef, const_entry,
                   fD.rows[const_entry], v0[fD.cols[const_entry]], gather,
                   fD.gather_at(const_entry), bool(Su_f[rows].any()))

    def drives(self, fD: StampBlock, g: np.ndarray, s0_f: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, Ru[rows], r0)`` from the entries of ``G_fD`` (``fD``) at ``g``."""
        # each (row, input) pair is one entry of G_fD (one driven node per input)
        values = _entries(fD, g, self.entry, self.gather) if self.gather is not None \
            else self.coef * fD.entries(g)[self.entry]
        if len(self.at) == self.su_rows.size:  # every pair: ``at`` is 0, 1, 2, …
            Ru = values.reshape(self.su_rows.shape)
            if self.su_any:
                Ru = Ru + self.su_rows
        else:
            Ru = self.su_rows.copy()
            Ru.reshape(-1)[self.at] += values  # a view: Ru is C-ordered
        const = _entries(fD, g, self.const_entry, self.const_gather)
        r0 = s0_f - np.bincount(self.const_row, weights=const * self.const_v,
                                minlength=len(s0_f))
        return self.rows, Ru, r0


def _entries(fD: StampBlock, g: np.ndarray, idx: np.ndarray,
             gather: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> np.ndarray:
    """``fD.entries(g)[idx]``, by its ``gather_at(idx)`` when it has one."""
    if gather is None:
        return fD.entries(g)[idx]
    base, coef, col = gather
    values = coef * g[col]
    return values + base if base.size else values


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

    and the free rows' diode columns are ``S_z,f - G_fD Vz_D``."""

    def __init__(self, st: StampedMNA, Vu_D: sp.csr_matrix, v0: np.ndarray,
                 dtype: torch.dtype, device: torch.device) -> None:
        pp, kp = st.port_driven, st.port_diode
        D, n = len(st.driven), len(st.mna.diodes)
        self.st = st
        self.Vu_D, self.v0 = Vu_D, v0
        self.Vz_D = sp.csr_matrix((st.sign[pp], (pp, kp)), shape=(D, n))
        # each port reads its own branch current, and only that: one entry per port
        M = sp.csr_matrix(st.measure_Db.multiply(st.sign[None, :]))
        coef = np.asarray(M[kp, pp]).ravel()
        if M.nnz != pp.size or not coef.all():
            raise AssertionError("a port-driven node's port reads its own current only")
        self.coef = as_torch(coef, dtype, device)
        self.port = torch.as_tensor(kp, device=device)  # the diode of each port-driven node
        self.node = torch.as_tensor(pp, device=device)  # its place among the driven nodes
        self.sign = as_torch(st.sign[pp], dtype, device)
        self.Sz_f = st.Sz_f.toarray()
        self.zeros_f, self.zeros_p = np.zeros(len(st.free)), np.zeros(pp.size)
        self.zeros_D = np.zeros(D)
        self.Sz_p, self.Su_p = st.Sz_D[pp].toarray(), st.Su_D[pp].toarray()
        self.s0_p = st.s0_D[pp]
        self.z_plan = DrivePlan.of(st.blocks["fD"], self.Vz_D, self.Sz_f, self.zeros_D)
        self.pz_plan = DrivePlan.of(st.blocks["pD"], self.Vz_D, self.Sz_p, self.zeros_D)
        self.pu_plan = DrivePlan.of(st.blocks["pD"], Vu_D, self.Su_p, v0)
        self.H_fixed = as_torch((st.measure_D @ self.Vz_D).toarray(), dtype, device)
        self._t = lambda a: as_torch(a, dtype, device)

    def free_columns(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, (S_z,f - G_fD Vz_D)[rows])``: the diodes' drive of the free rows."""
        rows, R, _ = block_drives(self.st.blocks["fD"], g, self.Vz_D, self.Sz_f, self.zeros_f,
                                  self.zeros_D, self.z_plan)
        return rows, R

    def port_rows(self, g: np.ndarray, n: int, m: int) -> tuple[Tensor, Tensor, Tensor]:
        """``M (S_z,p - G_pD Vz_D)`` (n, n), ``M (S_u,p - G_pD Vu_D)`` (n, m) and
        ``M (s0_p - G_pD v0_D)`` (n,): the port currents' direct terms."""
        pD = self.st.blocks["pD"]
        values = None if self.pz_plan is not None and self.pu_plan is not None else pD.values(g)
        rz, Rz, _ = block_drives(pD, g, self.Vz_D, self.Sz_p, self.zeros_p, self.zeros_D,
                                 self.pz_plan, values)
        ru, Ru, r0 = block_drives(pD, g, self.Vu_D, self.Su_p, self.s0_p, self.v0,
                                  self.pu_plan, values)
        dt, dev = self.coef.dtype, self.coef.device
        Hz = self.H_fixed.clone()
        Bu = torch.zeros(n, m, dtype=dt, device=dev)
        for out, rows, R in ((Hz, rz, Rz), (Bu, ru, Ru)):
            if len(rows):
                r = torch.as_tensor(rows, device=dev)
                out.index_add_(0, self.port[r], self.coef[r, None] * self._t(R))
        b = torch.zeros(n, dtype=dt, device=dev).index_add_(0, self.port,
                                                           self.coef * self._t(r0))
        return Hz, Bu, b

    def readout(self, P_f: Tensor, g: np.ndarray) -> Tensor:
        """``P̃_f = P_f - M G_pf`` (n, F): the port currents read on the free unknowns."""
        Gpf = self.st.blocks["pf"].values(g)
        Gpf = Gpf if isinstance(Gpf, np.ndarray) else Gpf.toarray()
        return P_f.index_add(0, self.port, self.coef[:, None] * self._t(Gpf), alpha=-1.0)

    def driven_voltages(self, vD: Tensor, z: Tensor) -> Tensor:
        """``v_D`` with the port-driven nodes' ``s_p z_k`` added (in place)."""
        return vD.index_add_(1, self.node, z[:, self.port] * self.sign)
