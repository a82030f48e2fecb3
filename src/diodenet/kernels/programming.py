"""What one programming of a ``StampedMNA`` needs beyond its blocks.

* ``coupling_unknowns``: the free unknowns that join the diodes to each other
  (in a layered network, the output nodes), found from the stamp pattern;
* ``DrivePlan``: the free rows' input and constant drives straight from
  ``G_fD``'s entries, without assembling the block;
* ``ProgrammedBlocks``: the blocks of one programming as tensors, the ones
  read only for source currents stamped on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from torch import Tensor

from .stamped import StampBlock, StampedMNA


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


@dataclass
class DrivePlan:
    """How the free rows' drives come straight from ``G_fD``'s entries when each
    input drives one node (the usual case): ``Ru = S_u - G_fD Vu_D`` on the
    rows the inputs reach is one gather of ``g`` where the entries are one
    conductance each (reshaped when the inputs reach every row, scattered
    otherwise), ``r0 = s0 - G_fD v0`` one weighted count over the entries at
    constant sources. Found once, from the stamp pattern."""

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
    def of(cls, st: StampedMNA, Vu_D: sp.csr_matrix, Su_f: np.ndarray,
           v0: np.ndarray) -> DrivePlan | None:
        Vc = Vu_D.tocsc()
        fD = st.blocks["fD"]
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
