"""Programming conductances into a ``StampedMNA``, and the kernel it gives.

* ``KernelProgrammer``: re-stamps ``g``, factors the free block and derives
  the kernel (``ProgrammedKernel``), with what does not depend on ``g``
  computed once;
* ``coupling_unknowns``: the free unknowns that join the diodes to each other
  (in a layered network, the output nodes), found from the stamp pattern;
* ``ProgrammedBlocks``: the blocks of one programming as tensors, the ones
  read only for source currents stamped on first use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from .clustered import ClusteredFactor, ClusterPlan, DenseLU, DiagonalFactor
from .drives import DrivePlan, PortDrive, block_drives
from .kernel import FactoredB, Kernel, all_finite
from .low_rank import from_partition
from .mna import refuse_singular_ports
from .residuals import unit_groups
from .stamped import StampedMNA, as_torch, rmul


def coupling_unknowns(st: StampedMNA) -> np.ndarray:
    """The free unknowns no diode port and no neighbour of one touches (in a
    layered network, the output nodes): what joins the diodes to each other."""
    near = np.zeros(len(st.free), dtype=bool)
    near[np.flatnonzero(np.diff(st.Sz_f.tocsr().indptr) > 0)] = True
    near[np.flatnonzero(np.diff(st.measure_f.tocsc().indptr) > 0)] = True
    ff = st.blocks["ff"]  # its pattern: neighbours through fixed and trainable stamps alike
    touch = near[ff.rows] | near[ff.cols]
    near[ff.rows[touch]] = near[ff.cols[touch]] = True
    return np.flatnonzero(~near)


class ProgrammedBlocks:
    """The re-stamped blocks of one programming of ``g``, each as ``(block, its
    transpose)`` tensors. ``Df`` and ``DD`` are read only for source currents
    and for drives at the inputs, so they are stamped on first use (``fD`` too
    when the drives were taken from its entries: ``stamped`` may hold a
    function that assembles it); a measurement keeps the object of the
    conductances it was made with."""

    def __init__(self, st: StampedMNA, g: np.ndarray, stamped: dict[str, Any],
                 to_tensor: Callable[[Any], Tensor]) -> None:
        self._st, self._g, self._t = st, g, to_tensor
        self._raw = dict(stamped)
        self._pairs: dict[str, tuple[Tensor, Tensor]] = {}

    def __getitem__(self, name: str) -> tuple[Tensor, Tensor]:
        if name not in self._pairs:
            if name not in self._raw:
                if name == "Df" and self._st.symmetric_fD:
                    self._pairs[name] = self["fD"][::-1]
                    return self._pairs[name]
                self._raw[name] = self._st.restamp(self._g, (name,))[name]
            blk = self._raw.pop(name)
            blk = blk() if callable(blk) else blk
            # dense blocks: their transposes are views; sparse ones are stored transposed too
            dense = self._t(blk)
            self._pairs[name] = (dense, dense.T if isinstance(blk, np.ndarray)
                                 else self._t(sp.csr_matrix(blk).T.tocsr()))
        return self._pairs[name]


@dataclass
class ProgrammedKernel:
    """One programming of ``g``: the kernel and what the measurements read.

    ``G`` is ``G_ff`` factored; ``Xz, x0`` the free unknowns' response to the
    diode ports and to the constants (``x_f = Xz z + G⁻¹ Ru u + x0``);
    ``QO = [P; O] G⁻¹`` the port and output read-outs through ``G⁻¹``;
    ``Ru_rows`` the input drives on the free rows ``rows`` they reach."""

    kernel: Kernel
    G: DenseLU | DiagonalFactor | ClusteredFactor
    QO: Tensor  # (n + p, F)
    Xz: Tensor  # (F, n)
    x0: Tensor  # (F,)
    Ru_rows: Tensor  # (rows, m)
    rows: Tensor
    blocks: ProgrammedBlocks
    P_f: Tensor  # (n, F): the port currents read on the free unknowns

    def free_solution(self, z: Tensor, u: Tensor) -> Tensor:
        """``x_f = Xz z + G⁻¹ (Ru u) + x0`` (batch, F): every free unknown."""
        x = torch.addmm(self.x0, z, self.Xz.T)
        if self.rows.numel() and u.shape[1]:
            # right-hand sides as columns (F, batch): rows are scattered whole
            r = u.new_zeros((self.Xz.shape[0], u.shape[0]))
            inner = self.kernel.factored_input(u)  # u Ruᵀ, made once for q
            r[self.rows] = (inner if inner is not None else u @ self.Ru_rows.T).T
            x = x + self.G.solve(r).T
        return x


class KernelProgrammer:
    """Programs conductances into a ``StampedMNA`` and derives its kernel.

    What does not depend on ``g`` is computed once here: the driven nodes'
    sources, the drive plan, the cluster plan of ``G_ff`` and the right-hand
    sides every programming solves with. ``program(g)`` then re-stamps the
    values, factors ``G_ff`` (by division where its pattern is diagonal, by
    block elimination over its clusters where it has them, else LU) and
    derives ``(H, B, C, D, b, d)`` with one solve on the drive columns and one
    transposed solve on the read-outs::

        w = P x:  H = P_f Xz,  B = P_f G⁻¹ Ru + P_D Vu_D,  b = P_f x0 + P_D v0_D + offset
        y = O x:  C = -O_f Xz, D = -(O_f G⁻¹ Ru + O_D Vu_D), d = -(O_f x0 + O_D v0_D)

    ``O_f, O_D`` read the outputs on the free unknowns and driven nodes;
    ``measure_f`` is ``P_f`` as a tensor. With port-driven nodes (a diode
    port from ground holds its node at ``±z``, ``StampedMNA(drive_ports=True)``)
    ``v_D`` depends on ``z`` as well and the ports' currents are KCL residuals
    of driven rows: ``kernels.drives.PortDrive`` gives the extra terms, and
    ``P_f`` becomes ``P̃_f``, re-stamped at each programming."""

    def __init__(self, st: StampedMNA, O_f: sp.csr_matrix, O_D: sp.csr_matrix,
                 measure_f: Tensor, *, elements: list[Any], input_names: list[str],
                 output_names: list[str], dtype: torch.dtype, device: torch.device) -> None:
        self.st, self.elements = st, elements
        self.input_names, self.output_names = input_names, output_names
        self.element_names = [d.name for d in st.mna.diodes]
        self._units = unit_groups(st.mna.port_forms)
        self.dtype, self.device = dtype, device
        self.measure_f = measure_f
        mna = st.mna
        t = self._t
        # each driven node is s·(one input) or s·(a constant): v_D = s ⊙ u[:, col] + v0_D
        Su_Db = st.Su_Db.tocsr()
        col = np.full(len(st.driven), -1, dtype=np.int64)
        col[np.repeat(np.arange(Su_Db.shape[0]), np.diff(Su_Db.indptr))] = Su_Db.indices
        Vu_D = sp.csr_matrix(Su_Db.multiply(st.sign[:, None]))  # (D, m)
        self._Vu_D = Vu_D
        self._D_input = torch.as_tensor(col, device=device)
        m = Su_Db.shape[1]
        self._D_in_order = bool(np.array_equal(col[:m], np.arange(m)) and (col[m:] < 0).all())
        self._D_input_sign = t(np.where(col >= 0, st.sign, 0.0))
        v0 = st.sign * st.s0_Db
        self._v0D = t(v0)
        coupling = coupling_unknowns(st)
        o = _low_rank_columns(coupling, st.Sz_f.shape[1])
        self._low_rank_cols = o = None if o is None else o.to(device)
        self._o_is_all = o is not None and bool(torch.equal(o.cpu(), torch.arange(len(st.free))))
        ff = st.blocks["ff"]
        # free nodes joined to no other free node (a layered network's outputs)
        self._diagonal_ff = ff.shape[0] > 0 and bool(np.array_equal(ff.rows, ff.cols))
        plan = ClusterPlan.of(ff.rows, ff.cols, ff.shape[0], coupling)
        self.cluster_plan = None if plan is None else plan.to(device)
        self._Su_f_dense = st.Su_f.toarray()
        self._drive_plan = DrivePlan.of(st.blocks["fD"], Vu_D, self._Su_f_dense, v0)
        mD = st.measure_D
        self._B_fixed = t((mD @ Vu_D).toarray())
        self._B_fixed_used = bool(self._B_fixed.any())
        self._b_fixed = t(mD @ v0 + mna.measure_offset)
        self._D_fixed = t((O_D @ Vu_D).toarray())
        self._d_fixed = t(O_D @ v0)
        self.O_f = t(O_f.toarray())
        # the right-hand sides every programming solves with: [S_z, r0, E] (F, n + 1 + r),
        # the diode columns, the constants (written at each programming) and the
        # coupling unknowns' unit columns (for the low-rank form of H)
        n = st.Sz_f.shape[1]
        self._drive_columns = torch.zeros(len(st.free), n + 1 + (0 if o is None else o.numel()),
                                          dtype=dtype, device=device)
        self._drive_columns[:, :n] = t(st.Sz_f.toarray())
        if o is not None:
            self._drive_columns[o, n + 1 + torch.arange(o.numel(), device=device)] = 1.0
        meas = measure_f.to_dense() if measure_f.layout != torch.strided else measure_f
        self._readout_T = torch.cat([meas, self.O_f], 0).T.contiguous()  # (F, n + p)
        self.ports = PortDrive(st, Vu_D, v0, dtype, device) if st.port_driven.size else None
        if self.ports is not None:
            self._P_f_dense = meas
            self._C_fixed = -t((O_D @ self.ports.Vz_D).toarray())

    def _t(self, a: np.ndarray | sp.spmatrix) -> Tensor:
        return as_torch(a, self.dtype, self.device)

    def driven_voltages(self, u: Tensor, z: Tensor | None = None) -> Tensor:
        """``v_D`` (batch, D): each driven node's source value, signed; the
        port-driven nodes' ``±z`` too when given ``z`` (an operating point)."""
        m = u.shape[1]
        if self._D_in_order:  # driven node i is input i, the rest constants: no gather
            vD = torch.cat([torch.addcmul(self._v0D[:m], u, self._D_input_sign[:m]),
                            self._v0D[m:].expand(u.shape[0], -1)], 1)
        else:
            cols = self._D_input.clamp_min(0)
            vD = u[:, cols] * self._D_input_sign + self._v0D if m else \
                self._v0D.expand(u.shape[0], -1).clone()
        if self.ports is not None and z is not None:
            vD = self.ports.driven_voltages(vD, z)
        return vD

    def factor_free_block(self, Gff: Tensor) -> DenseLU | DiagonalFactor | ClusteredFactor:
        """``G_ff`` factored: as its diagonal where its pattern is diagonal, by
        block elimination over its clusters where it has them
        (``kernels.clustered``), else by LU."""
        if self._diagonal_ff:
            return DiagonalFactor(Gff)
        if self.cluster_plan is not None:
            with contextlib.suppress(ValueError):  # a singular block: LU pivots past it
                return self.cluster_plan.factor(Gff, self.st.symmetric_ff)
        return DenseLU(Gff)

    def program(self, g: np.ndarray, *, check: bool = False,
                monotone_tol: float = float("inf")) -> ProgrammedKernel:
        """Re-stamp ``g``, factor ``G_ff`` and derive the kernel. ``check``: refuse
        singular ports, and ``H`` less monotone than ``monotone_tol``."""
        st = self.st
        t = self._t
        blocks: dict[str, Any] = st.restamp(g, ("ff",))
        ff = blocks["ff"]
        Gff = ff if isinstance(ff, np.ndarray) else ff.toarray()
        if check and Gff.shape[0] <= 3000:
            refuse_singular_ports(Gff)
        # the free rows' drives: S_z (diodes), Ru = S_u - G_fD Vu_D (inputs), r0 (constants)
        plan = self._drive_plan
        if plan is not None:  # straight from G_fD's entries; the block itself when asked
            fD = st.blocks["fD"]
            rows, Ru_r, r0 = plan.drives(fD, g, st.s0_f)
            blocks["fD"] = lambda: fD.values(g)
        else:
            GfD = blocks["fD"] = st.restamp(g, ("fD",))["fD"]
            rows, Ru_r, r0 = block_drives(st.blocks["fD"], g, self._Vu_D, self._Su_f_dense,
                                          st.s0_f, st.sign * st.s0_Db, None, GfD)
        Gt = t(Gff)
        G = self.factor_free_block(Gt)
        n = len(st.mna.diodes)
        ports = self.ports
        readout_T, mf = self._readout_T, self.measure_f
        if ports is not None:  # the diodes drive the free rows through G_fD; P̃_f
            rows_z, Rz = ports.free_columns(g)
            self._drive_columns[:, :n] = 0.0
            self._drive_columns[torch.as_tensor(rows_z, device=self.device), :n] = t(Rz)
            mf = ports.readout(self._P_f_dense, g)
            readout_T = torch.cat([mf, self.O_f], 0).T.contiguous()
        # G⁻¹ on the drive columns, one solve; the m input columns stay factored:
        # neither X_u = G⁻¹ Ru (F × m) nor B = (P G⁻¹)[:, rows] Ru[rows] is formed
        o = self._low_rank_cols
        self._drive_columns[:, n] = t(r0)  # G.solve leaves its right-hand side as it is
        Xz0 = G.solve(self._drive_columns)
        if not all_finite(Xz0):
            raise ValueError("the circuit's linear part is singular at these conductances")
        Xz, x0, G_inv_o = Xz0[:, :n], Xz0[:, n], Xz0[:, n + 1:]
        QO = G.solve(readout_T, transpose=True).T  # P G⁻¹; O G⁻¹
        Ru_rows = t(Ru_r)
        rows_t = torch.as_tensor(rows, device=self.device)
        QO_r = QO[:, rows_t]  # (n + p, rows)
        H = rmul(Xz.T, mf).T
        B0 = self._B_fixed if self._B_fixed_used else None
        b = rmul(x0[None], mf)[0] + self._b_fixed
        C = -(self.O_f @ Xz)
        if ports is not None:  # the port currents' direct terms (see PortDrive)
            Hz, Bu, bp = ports.port_rows(g)
            H, b, C = H + Hz, b + bp, C + self._C_fixed
            B0 = Bu + self._B_fixed if self._B_fixed_used else Bu
        # B stays factored: q = (u Ruᵀ) (P G⁻¹)ᵀ, and the free solution reuses u Ruᵀ
        B = FactoredB(QO_r[:n].contiguous(), Ru_rows, B0)
        D = torch.addmm(self._D_fixed, QO_r[n:], Ru_rows, beta=-1.0, alpha=-1.0)
        d = -(self.O_f @ x0 + self._d_fixed)
        kernel = Kernel(
            H, B, C, D, self.elements, b=b, d=d, dtype=self.dtype, device=self.device,
            input_names=self.input_names, output_names=self.output_names,
            element_names=self.element_names,
            monotone_tol=monotone_tol if check else float("inf"),
        )
        kernel.units = self._units
        if o is not None:  # H = diag + low rank (see kernels.low_rank): the solvers' shortcut
            with contextlib.suppress(ValueError):  # diodes that also meet elsewhere: none
                if self._o_is_all:  # o is every free unknown: K = ((G⁻¹)_oo)⁻¹ is G itself
                    form = from_partition(H, QO[:n], G_inv_o, Xz, K=Gt)
                else:
                    form = from_partition(H, QO[:n][:, o], G_inv_o[o], Xz[o])
                kernel.set_low_rank(form)
        return ProgrammedKernel(kernel, G, QO, Xz, x0, Ru_rows, rows_t,
                                ProgrammedBlocks(st, g, blocks, t), mf)


def _low_rank_columns(coupling: np.ndarray, n: int) -> Tensor | None:
    """The ``coupling`` unknowns (``coupling_unknowns``) if they are few enough,
    next to ``n`` diodes, for the diagonal-plus-low-rank form of ``H`` to pay
    (``kernels.low_rank``)."""
    if n < 8 or coupling.size == 0 or 2 * coupling.size > n:
        return None
    return torch.as_tensor(coupling)
