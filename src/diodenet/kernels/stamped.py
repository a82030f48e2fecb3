"""A circuit's MNA built once and re-stamped: what re-programming hardware needs.

``build_mna`` gives ``G x = S_z z + S_u u + s0``. Two facts make it cheap to
keep around at MNIST size:

* **grounded voltage sources are eliminated.** A source from node ``a`` to
  ground fixes ``V(a) = s·value`` (``s = ±1`` by its orientation); its KCL row
  only yields its current. Ordering the unknowns as free ``f`` (every other
  node, branch current and diode port), driven nodes ``D`` and their source
  branches ``Db``::

      G = [[G_ff, G_fD, 0], [G_Df, G_DD, diag(s)], [0, diag(s), 0]]

  so ``x_f = G_ff⁻¹ (r_f - G_fD v_D)``, ``v_D = s ⊙ r_Db`` and the source
  currents ``j = s ⊙ (r_D - G_Df x_f - G_DD v_D)``; the transposed system
  (the adjoint network) has the same blocks transposed. In a layered network
  every input is such a source;
* **so are grounded diode ports** (``drive_ports``, in a reciprocal network):
  a port from ground holds its node at ``±z_k`` exactly as a source holds
  its node at ``±u``, and the port's current is that node's KCL residual.
  In a layered network each hidden node is held by its diode, so ``G_ff``
  is only the output nodes; ``kernels.drives.PortDrive`` gives the kernel's
  extra terms;
* **conductances are re-stamped, not re-assembled.** ``G = G_fixed + A diag(g)
  Aᵀ`` with ``A`` the trainable resistors' incidence. The positions each
  resistor touches in every block are found once; re-programming is one
  sparse product per block, ``values = base + M g``.

The blocks are dense where they are dense (``G_ff``, ``G_fD``: a hidden node
sees every input) and sparse otherwise; nothing of size (resistors × MNA)
exists: a branch voltage is read by indexing the two terminals' voltages.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from ..circuits import CCCS, CCVS, GROUND, Circuit, Resistor, VoltageSource
from .mna import MNASystem, build_mna

#: a block with more entries than this is kept sparse unless at least this dense
DENSE_ENTRIES = 1 << 20
DENSE_FILL = 0.05


class StampBlock:
    """One block ``G[rows][:, cols]`` as ``base + M g``, its pattern fixed once.

    ``fixed`` holds (row, col, value) triplets in block coordinates, ``res``
    (row, col, coefficient, resistor) ones. ``values(g)`` is a dense array
    or a CSR matrix (see ``dense``).
    """

    def __init__(self, fixed: tuple[np.ndarray, np.ndarray, np.ndarray],
                 res: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                 shape: tuple[int, int], k: int) -> None:
        fr, fc, fv = fixed
        rr, rc, rv, rk = res
        self.shape = shape
        keys = np.concatenate([fr * shape[1] + fc, rr * shape[1] + rc]).astype(np.int64)
        uniq, inv = np.unique(keys, return_inverse=True)  # sorted: row-major = CSR order
        nf = len(fr)
        self.base = np.bincount(inv[:nf], weights=fv, minlength=len(uniq))
        self.M = sp.csr_matrix((rv, (inv[nf:], rk)), shape=(len(uniq), k))
        self.rows, self.cols = uniq // shape[1], uniq % shape[1]
        self.flat = uniq
        entries = shape[0] * shape[1]
        self.dense = entries <= DENSE_ENTRIES or len(uniq) >= DENSE_FILL * entries
        self.indptr = np.searchsorted(self.rows, np.arange(shape[0] + 1)).astype(np.int64)
        # most entries are touched by one resistor (a hidden node's tie to one
        # input): then ``M g`` is a gather, several times cheaper than the product
        self._per_entry = per_entry = np.diff(self.M.indptr)
        self._coef, self._col = np.zeros(len(uniq)), np.zeros(len(uniq), dtype=np.int64)
        one = per_entry == 1
        self._coef[one], self._col[one] = self.M.data[self.M.indptr[:-1][one]], \
            self.M.indices[self.M.indptr[:-1][one]]
        self._one_each = bool(len(per_entry) and per_entry.max() <= 1)

    @property
    def nnz(self) -> int:
        return len(self.flat)

    def is_transpose_of(self, other: StampBlock) -> bool:
        """Whether this block is ``other.values(g).T`` for every ``g``: the same
        entries, fixed values and resistor stamps with rows and columns swapped."""
        if self.shape != other.shape[::-1] or self.nnz != other.nnz:
            return False
        order = np.lexsort((other.rows, other.cols))  # other's entries in our row-major order
        return bool(np.array_equal(self.rows, other.cols[order])
                    and np.array_equal(self.cols, other.rows[order])
                    and np.array_equal(self.base, other.base[order])
                    and (other.M[order] - self.M).count_nonzero() == 0)

    def entries(self, g: np.ndarray) -> np.ndarray:
        """The values at the pattern's entries (``rows``, ``cols``), ``base + M g``."""
        if self._one_each:
            return self.base + self._coef * g[self._col]
        return self.base + self.M @ g if self.M.shape[1] else self.base.copy()

    def reader(self, idx: np.ndarray) -> EntryReader:
        """``entries(g)[idx]`` for every ``g``, from those entries' own stamps."""
        if not idx.size or self._per_entry[idx].max() <= 1:
            return EntryReader(self.base[idx], self._coef[idx], self._col[idx])
        return EntryReader(self.base[idx], M=self.M[idx])

    def values(self, g: np.ndarray) -> np.ndarray | sp.csr_matrix:
        return self.assemble(self.entries(g))

    def assemble(self, data: np.ndarray) -> np.ndarray | sp.csr_matrix:
        """The block from its ``entries``: dense or CSR (see ``dense``)."""
        if self.dense:
            out = np.zeros(self.shape)
            out.flat[self.flat] = data
            return out
        return sp.csr_matrix((data, self.cols, self.indptr), shape=self.shape)


class EntryReader:
    """Some entries of a ``StampBlock`` as a function of ``g``: ``base + coef ·
    g[col]`` where each is one conductance (a gather), else ``base + M g``
    with those entries' rows of ``M``."""

    def __init__(self, base: np.ndarray, coef: np.ndarray | None = None,
                 col: np.ndarray | None = None, M: sp.csr_matrix | None = None) -> None:
        self.base = base if base.any() else None  # no fixed stamps there: nothing to add
        self.coef, self.col, self.M = coef, col, M
        # consecutive resistors (a hidden node's ties to every input, in order): a slice
        self._span: slice | None = None
        if col is not None and col.size and np.array_equal(col, col[0] + np.arange(col.size)):
            self._span = slice(int(col[0]), int(col[0]) + col.size)

    def __call__(self, g: np.ndarray) -> np.ndarray:
        if self.M is not None:
            values = self.M @ g
        else:
            assert self.coef is not None and self.col is not None
            values = self.coef * (g[self._span] if self._span is not None else g[self.col])
        return values if self.base is None else values + self.base

    def scaled(self, s: np.ndarray) -> EntryReader:
        """The entries times ``s``, entry by entry."""
        base = np.zeros(len(s)) if self.base is None else s * self.base
        if self.M is not None:
            return EntryReader(base, M=sp.csr_matrix(self.M.multiply(s[:, None])))
        assert self.coef is not None
        return EntryReader(base, s * self.coef, self.col)


def _csr_of(m: Any) -> sp.csr_matrix:
    return m.tocsr()


def as_torch(m: Any, dtype: torch.dtype, device: torch.device) -> Tensor:
    """A dense tensor, or a sparse CSR tensor for a scipy sparse matrix."""
    if sp.issparse(m):
        c = _csr_of(m)
        with warnings.catch_warnings():  # "sparse CSR support is in beta": matmul is all we use
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(
                torch.as_tensor(c.indptr, dtype=torch.int64),
                torch.as_tensor(c.indices, dtype=torch.int64),
                torch.as_tensor(c.data, dtype=dtype), size=c.shape, device=device)
    return torch.as_tensor(np.asarray(m), dtype=dtype, device=device)


def rmul(x: Tensor, m: Tensor) -> Tensor:
    """``x @ mᵀ`` for a dense or sparse ``m`` (rows of ``x`` are samples)."""
    if m.layout == torch.strided:
        return x @ m.T
    if m.shape[0] == 0 or m.shape[1] == 0 or m._nnz() == 0:
        return x.new_zeros((x.shape[0], m.shape[0]))
    return (m @ x.T).T


class StampedMNA:
    """``build_mna`` of ``circuit`` with grounded sources eliminated and the
    resistors ``resistors`` re-stampable (see the module docstring).

    Attributes set once: ``mna`` (the sparse system without those resistors),
    ``free``, ``driven`` (node indices), ``driven_branch``, ``sign``,
    ``terminals`` ((k, 2) node-voltage columns of each resistor; ground is
    column ``n_nodes``). ``restamp(g)`` returns the blocks for conductances
    ``g`` (S).
    """

    def __init__(self, circuit: Circuit, inputs: Sequence[str], resistors: Sequence[str],
                 *, force_admittance: bool = False, drive_ports: bool = False) -> None:
        mna: MNASystem = build_mna(circuit, inputs, force_admittance=force_admittance,
                                   sparse=True, skip=resistors)
        self.mna = mna
        N = mna.size
        self.n_nodes = n_nodes = len(mna.node_index)
        controls = {e.control for e in circuit if isinstance(e, CCCS | CCVS)}
        driven: dict[int, tuple[int, float]] = {}
        for e in circuit:
            if not isinstance(e, VoltageSource) or e.name in controls:
                continue
            if (e.pos == GROUND) == (e.neg == GROUND):
                continue  # floating (or shorted): stays a branch of the free system
            node = e.neg if e.pos == GROUND else e.pos
            i = mna.node_index[node]
            if i not in driven:  # a second source on the node is a loop: stays free
                driven[i] = (mna.branch_index[e.name], 1.0 if e.pos == node else -1.0)
        # diode ports with a grounded terminal: their node is driven by z_k
        port_of: dict[int, int] = {}  # driven node -> the diode whose port drives it
        # only in a reciprocal network (symmetric MNA), whose adjoint is itself
        if drive_ports and abs(mna.G - mna.G.T).nnz == 0:
            for k, (row, (pos, neg)) in enumerate(zip(mna.port_rows, mna.port_terminals)):
                if row < 0 or (pos == GROUND) == (neg == GROUND):
                    continue  # an impedance-form port, or a floating one
                node = neg if pos == GROUND else pos
                i = mna.node_index[node]
                if i not in driven:
                    driven[i] = (row, 1.0 if pos == node else -1.0)
                    port_of[i] = k
        self.driven = np.array(sorted(driven), dtype=np.int64)
        self.driven_branch = np.array([driven[i][0] for i in self.driven], dtype=np.int64)
        self.sign = np.array([driven[i][1] for i in self.driven])
        #: positions in ``driven`` of the port-driven nodes, and each one's diode
        self.port_driven = np.array([j for j, i in enumerate(self.driven) if i in port_of],
                                    dtype=np.int64)
        self.port_diode = np.array([port_of[int(self.driven[j])] for j in self.port_driven],
                                   dtype=np.int64)
        taken = np.zeros(N, dtype=bool)
        taken[self.driven] = taken[self.driven_branch] = True
        self.free = np.flatnonzero(~taken)
        pos_f = np.full(N, -1, dtype=np.int64)
        pos_f[self.free] = np.arange(len(self.free))
        pos_d = np.full(N, -1, dtype=np.int64)
        pos_d[self.driven] = np.arange(len(self.driven))
        self.pos_f, self.pos_d = pos_f, pos_d
        self.free_nodes = np.flatnonzero(pos_f[:n_nodes] >= 0)  # node indices that are free
        # trainable resistors: terminals and the four stamps each
        term = np.full((len(resistors), 2), n_nodes, dtype=np.int64)
        for k, name in enumerate(resistors):
            r = circuit.element(name, Resistor)
            for j, node in enumerate((r.n1, r.n2)):
                if node != GROUND:
                    term[k, j] = mna.node_index[node]
        self.terminals = term
        self.k = k_res = len(resistors)
        ra, rb = term[:, 0], term[:, 1]
        rr = np.concatenate([ra, rb, ra, rb])
        rc = np.concatenate([ra, rb, rb, ra])
        rv = np.concatenate([np.ones(k_res), np.ones(k_res), -np.ones(k_res), -np.ones(k_res)])
        rk = np.tile(np.arange(k_res), 4)
        keep = (rr < n_nodes) & (rc < n_nodes)  # ground rows/columns do not exist
        rr, rc, rv, rk = rr[keep], rc[keep], rv[keep], rk[keep]
        G = sp.coo_matrix(mna.G)
        fr, fc, fv = G.row.astype(np.int64), G.col.astype(np.int64), G.data

        def block(rows_pos: np.ndarray, cols_pos: np.ndarray, shape: tuple[int, int]) -> StampBlock:
            fm = (rows_pos[fr] >= 0) & (cols_pos[fc] >= 0)
            rm = (rows_pos[rr] >= 0) & (cols_pos[rc] >= 0)
            return StampBlock((rows_pos[fr[fm]], cols_pos[fc[fm]], fv[fm]),
                              (rows_pos[rr[rm]], cols_pos[rc[rm]], rv[rm], rk[rm]), shape, k_res)

        F, D = len(self.free), len(self.driven)
        self.blocks = {
            "ff": block(pos_f, pos_f, (F, F)), "fD": block(pos_f, pos_d, (F, D)),
            "Df": block(pos_d, pos_f, (D, F)), "DD": block(pos_d, pos_d, (D, D)),
        }
        if self.port_driven.size:  # the port-driven nodes' KCL rows: their port currents
            pos_p = np.full(N, -1, dtype=np.int64)
            pos_p[self.driven[self.port_driven]] = np.arange(self.port_driven.size)
            P = self.port_driven.size
            self.blocks["pf"] = block(pos_p, pos_f, (P, F))
            self.blocks["pD"] = block(pos_p, pos_d, (P, D))
        # the source side, fixed: rows split the same way
        Sz, Su = sp.csr_matrix(mna.S_z), sp.csr_matrix(mna.S_u)
        self.Sz_f, self.Sz_D = Sz[self.free], Sz[self.driven]
        self.Su_f, self.Su_D, self.Su_Db = Su[self.free], Su[self.driven], Su[self.driven_branch]
        self.s0_f, self.s0_D, self.s0_Db = (mna.s0[self.free], mna.s0[self.driven],
                                            mna.s0[self.driven_branch])
        meas = sp.csc_matrix(mna.measure)
        self.measure_f, self.measure_D = meas[:, self.free].tocsr(), meas[:, self.driven].tocsr()
        # what the ports read of the driven branch currents (their own, when port-driven)
        self.measure_Db = meas[:, self.driven_branch].tocsr()

        # reciprocal couplings between free and driven nodes: G_Df = G_fDᵀ, which a
        # programming's blocks then share (``programming.ProgrammedBlocks``)
        self.symmetric_fD = self.blocks["Df"].is_transpose_of(self.blocks["fD"])
        # and within the free block (resistors and ports stamped as ±1 pairs): G_ff
        # is then symmetric to the last bit at every g, with no need to compare
        self.symmetric_ff = self.blocks["ff"].is_transpose_of(self.blocks["ff"])

    def restamp(self, g: np.ndarray, which: Sequence[str] = ("ff", "fD", "Df", "DD")
                ) -> dict[str, np.ndarray | sp.csr_matrix]:
        """The blocks ``which`` (of ``ff``, ``fD``, ``Df``, ``DD``, and with
        port-driven nodes ``pf``, ``pD``: their rows of ``G_Df``, ``G_DD``) of
        ``G`` at conductances ``g`` (S)."""
        g = np.asarray(g, dtype=float)
        return {name: self.blocks[name].values(g) for name in which}
