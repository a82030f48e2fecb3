"""``∂L/∂g = -Σ_s v v̂`` for every resistor from the node voltages of a forward
and an adjoint settle, without a (resistors × nodes) matrix.

Per resistor ``(a, b)``: ``-Σ_s (V_a - V_b)(Ŵ_a - Ŵ_b) = -(d_a + d_b) + Σ_s
(V_a Ŵ_b + Ŵ_a V_b)`` with ``d = Σ_s V ⊙ Ŵ``. The resistors are grouped once
by where their terminals are (free nodes, or driven nodes and ground); a
group whose node pairs are dense enough (every input feeds every hidden
node) is one matrix product and one gather, the others are gathered pair by
pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class CrossBlock:
    """The resistors between one pair of node groups (free or driven/ground) and
    how their cross terms are formed: by a product of the two groups' columns
    (``at``: each resistor's flat position in it) or by gathering each
    resistor's pair."""

    sel: Tensor  # resistor indices
    a: Tensor  # node columns of their terminals
    b: Tensor
    ca: Tensor | None  # the groups' columns, when a product is cheaper
    cb: Tensor | None
    at: Tensor | None
    span: tuple[int, int] | None = None  # sel as a range (lo, hi), when it is one


def cross_plan(ta: Tensor, tb: Tensor, free_cols: Tensor, n_nodes: int) -> list[CrossBlock]:
    """Group the resistors by where their terminals are, once per topology."""
    is_free = torch.zeros(n_nodes + 1, dtype=torch.bool, device=ta.device)
    is_free[free_cols] = True
    # blocks of node columns: free ones, the others (driven nodes and ground)
    groups = {True: free_cols, False: torch.nonzero(~is_free).squeeze(1)}
    pos = torch.full((n_nodes + 1,), -1, dtype=torch.int64, device=ta.device)
    for cols in groups.values():
        pos[cols] = torch.arange(cols.numel(), device=ta.device)
    fa, fb = is_free[ta], is_free[tb]
    plan = []
    for ga in (True, False):
        for gb in (True, False):
            sel = torch.nonzero((fa == ga) & (fb == gb)).squeeze(1)
            if sel.numel() == 0:
                continue
            a, b = ta[sel], tb[sel]
            ca, cb = groups[ga], groups[gb]
            if ca.numel() * cb.numel() <= 8 * sel.numel() + 4096:
                lo, hi = int(sel[0]), int(sel[-1]) + 1
                span = (lo, hi) if hi - lo == sel.numel() else None  # sorted, so a range
                plan.append(CrossBlock(sel, a, b, ca, cb, pos[a] * cb.numel() + pos[b], span))
            else:
                plan.append(CrossBlock(sel, a, b, None, None, None))
    return plan


def conductance_gradient(V: Tensor, W: Tensor, plan: list[CrossBlock], k: int) -> Tensor:
    """``-Σ_s (V_a - V_b)(Ŵ_a - Ŵ_b)`` for each of the ``k`` resistors ``(a, b)``,
    as ``-(d_a + d_b) + Σ_s (V_a Ŵ_b + Ŵ_a V_b)`` with ``d = Σ_s V ⊙ Ŵ``."""
    d = (V * W).sum(0)
    out = torch.zeros(k, dtype=V.dtype, device=V.device)
    for blk in plan:
        if blk.ca is None:
            for lo in range(0, blk.sel.numel(), 1 << 16):
                hi = lo + (1 << 16)
                aa, bb = blk.a[lo:hi], blk.b[lo:hi]
                out[blk.sel[lo:hi]] = (V[:, aa] * W[:, bb] + V[:, bb] * W[:, aa]).sum(0) \
                    - d[aa] - d[bb]
            continue
        assert blk.cb is not None and blk.at is not None
        # a group where one side is zero (the driven nodes of an adjoint settle, its
        # sources zeroed) contributes one product only
        Va, Wa, Vb, Wb = V[:, blk.ca], W[:, blk.ca], V[:, blk.cb], W[:, blk.cb]
        # the whole (|A|, |B|) table Σ_s (V_a Ŵ_b + Ŵ_a V_b) - d_a - d_b, then one gather
        M = torch.zeros((blk.ca.numel(), blk.cb.numel()), dtype=V.dtype, device=V.device)
        if bool(Va.any()) and bool(Wb.any()):
            M.addmm_(Va.T, Wb)
        if bool(Wa.any()) and bool(Vb.any()):
            M.addmm_(Wa.T, Vb)
        M.sub_(d[blk.ca][:, None]).sub_(d[blk.cb][None, :])
        values = M.reshape(-1)[blk.at]
        if blk.span is not None:
            out[blk.span[0]:blk.span[1]] = values
        else:
            out[blk.sel] = values
    return out
