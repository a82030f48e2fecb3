"""``∂L/∂g = -Σ_s v v̂`` for every resistor from the node voltages of a forward
and an adjoint settle, without a (resistors × nodes) matrix.

Per resistor ``(a, b)``: ``-Σ_s (V_a - V_b)(Ŵ_a - Ŵ_b) = -(d_a + d_b) + Σ_s
(V_a Ŵ_b + Ŵ_a V_b)`` with ``d = Σ_s V ⊙ Ŵ``. The resistors are grouped once
by where their terminals are (free nodes, or driven nodes and ground); a
group whose node pairs are dense enough (every input feeds every hidden
node) is one matrix product into a table, the others are formed pair by
pair. All tables and pair values share one buffer, and every resistor's
value is read from it by one gather. A table is written in place: ``-(d_a +
d_b)`` by broadcasting, then ``V_aᵀ Ŵ_b`` and ``Ŵ_aᵀ V_b`` added by two
products on column views.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..utils.indexing import as_slice, columns

#: pairs formed per chunk in the pair-by-pair groups (bounds the temporaries)
CHUNK = 1 << 16


@dataclass
class CrossBlock:
    """The resistors between one pair of node groups (free or driven/ground) and
    how their cross terms are formed: by a product of the two groups' columns
    into a ``(|ca|, |cb|)`` table, or pair by pair from the terminals ``a``,
    ``b`` (the other two are ``None``). Either way the values land at ``offset``
    in the buffer of ``CrossPlan``."""

    a: Tensor | None  # node columns of the resistors' terminals (pair-by-pair groups)
    b: Tensor | None
    ca: Tensor | None  # the groups' node columns (product groups)
    cb: Tensor | None
    offset: int
    size: int  # buffer entries: the table's, or one per resistor
    sa: Tensor | slice | None = None  # ca and cb as slices where regular (as_slice)
    sb: Tensor | slice | None = None


@dataclass
class CrossPlan:
    """The blocks, the buffer they fill and each resistor's place in it."""

    blocks: list[CrossBlock]
    size: int
    at: Tensor  # (k,): resistor k's value is buffer[at[k]]


def cross_plan(ta: Tensor, tb: Tensor, free_cols: Tensor, n_nodes: int) -> CrossPlan:
    """Group the resistors by where their terminals are, once per topology.

    A table may be laid out either way round (its entries are symmetric in
    ``a`` and ``b``); the one whose entries the resistors read in increasing
    order is kept, so the final gather runs along memory."""
    is_free = torch.zeros(n_nodes + 1, dtype=torch.bool, device=ta.device)
    is_free[free_cols] = True
    fa, fb = is_free[ta], is_free[tb]
    blocks, offset = [], 0
    at = torch.empty(ta.numel(), dtype=torch.int64, device=ta.device)
    for ga in (True, False):
        for gb in (True, False):
            sel = torch.nonzero((fa == ga) & (fb == gb)).squeeze(1)
            if sel.numel() == 0:
                continue
            a, b = ta[sel], tb[sel]
            # a table spans only the nodes the group's resistors touch on each
            # side (hidden × output nodes, not all free × all free)
            ca, pa = torch.unique(a, return_inverse=True)
            cb, pb = torch.unique(b, return_inverse=True)
            if ca.numel() * cb.numel() <= 8 * sel.numel() + 4096:
                flat = pa * cb.numel() + pb
                swapped = pb * ca.numel() + pa
                if _in_order(swapped) > _in_order(flat):
                    ca, cb, flat = cb, ca, swapped
                blocks.append(CrossBlock(None, None, ca, cb, offset, ca.numel() * cb.numel(),
                                         as_slice(ca), as_slice(cb)))
                at[sel] = offset + flat
            else:
                blocks.append(CrossBlock(a, b, None, None, offset, sel.numel()))
                at[sel] = offset + torch.arange(sel.numel(), device=ta.device)
            offset += blocks[-1].size
    return CrossPlan(blocks, offset, at)


def _in_order(flat: Tensor) -> int:
    """How many consecutive reads step forward by one entry."""
    return int((flat[1:] - flat[:-1] == 1).sum()) if flat.numel() > 1 else 0


def conductance_gradient(V: Tensor, W: Tensor, plan: CrossPlan) -> Tensor:
    """``-Σ_s (V_a - V_b)(Ŵ_a - Ŵ_b)`` for every resistor ``(a, b)`` of ``plan``,
    as ``-(d_a + d_b) + Σ_s (V_a Ŵ_b + Ŵ_a V_b)`` with ``d = Σ_s V ⊙ Ŵ``."""
    d = (V * W).sum(0)
    node_major: list[tuple[Tensor, Tensor]] = []  # for the pair-by-pair groups only
    buf = torch.empty(plan.size, dtype=V.dtype, device=V.device)
    for blk in plan.blocks:
        if blk.a is not None and blk.b is not None:
            out = buf[blk.offset:blk.offset + blk.size]
            if not node_major:  # a node's voltages are then a gather of a whole row
                node_major.append((V.T.contiguous(), W.T.contiguous()))
            VT, WT = node_major[0]
            for lo in range(0, blk.a.numel(), CHUNK):
                aa, bb = blk.a[lo:lo + CHUNK], blk.b[lo:lo + CHUNK]
                out[lo:lo + CHUNK] = (VT[aa] * WT[bb] + VT[bb] * WT[aa]).sum(1) - d[aa] - d[bb]
            continue
        assert blk.ca is not None and blk.cb is not None
        assert blk.sa is not None and blk.sb is not None
        # the whole (|A|, |B|) table Σ_s (V_a Ŵ_b + Ŵ_a V_b) - d_a - d_b, written
        # in place: the d terms by broadcasting, then each cross product added
        # by one addmm on column views of V and Ŵ (BLAS reads the strided
        # views as they are, so nothing is copied). A side where Ŵ is zero
        # (the driven nodes of an adjoint settle, its sources zeroed) has no
        # product to add; at MNIST size it would be a third of the arithmetic
        table = buf[blk.offset:blk.offset + blk.size].view(blk.ca.numel(), blk.cb.numel())
        Va, Wb = columns(V, blk.sa), columns(W, blk.sb)
        Wa, Vb = columns(W, blk.sa), columns(V, blk.sb)
        torch.add(d[blk.sa][:, None], d[blk.sb][None], out=table)
        if bool(torch.count_nonzero(Wb)):  # count_nonzero: half of any()'s time
            torch.addmm(table, Va.T, Wb, beta=-1.0, out=table)
        else:
            table.neg_()
        if bool(torch.count_nonzero(Wa)):
            torch.addmm(table, Wa.T, Vb, out=table)
    return buf.index_select(0, plan.at)  # a third of the time of buf[at]
