"""Block principal pivoting with Murty's safeguard, for the active set.

On a kernel that is not an M-matrix (diodes in both orientations, gyrators)
plain active-set steps, which flip every element whose piece came out wrong,
can cycle. ``Pivots`` chooses each step's pieces instead, by Júdice and
Pires's rule (1994): block flips while the count of wrong pieces keeps
falling, the single least-index flip of Murty's method otherwise. For ``H``
with ``sym(H) ≻ 0`` (a P-matrix) the least-index rule, and so the scheme,
ends in finitely many steps, but on strongly skewed kernels it can take
hundreds; so the first time a sample needs a single flip its next pieces
come from Lemke's method (``_lemke``) instead, which usually lands on the
answer's pieces at once. Used by ``active_set.ActiveSet`` for ideal
diodes, whose pieces are a free/clamped mask.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ._lemke import lemke_free_set

#: block pivots in a row that may fail to lower a sample's count of wrong
#: pieces before single (Murty) pivots take over. Measured, in mean steps per
#: sample for 1, 2, 3 and 5: 5.2, 4.1, 4.1, 4.1 on 20-diode networks with a
#: 1e6 spread of resistances; 11, 15, 17, 18 on random 10-element kernels
#: with a large skew part (gyrators); 4.7, 4.4, 4.7, 5.0 on symmetric ones
PIVOT_TRIES = 2

#: single pivots a sample takes before its next pieces come from Lemke's
#: method, once. Measured at 0 (the first single pivot): random 20-diode
#: networks (symmetric, not M-matrices) 0 failures and 1.78 steps per sample
#: either way, Lemke ran for 2 of 176 samples; random skewed 20-element
#: kernels 128 of 128 converged, against 6 of 128 without it (the least-index
#: flips ran out of steps)
LEMKE_AFTER = 0


class Pivots:
    """The next step's pieces for ideal diodes on a kernel that is not an
    M-matrix, where plain active-set steps can cycle (measured: a period-3
    cycle on a 20-diode network with a 1e6 spread of resistances, which 50
    Peaceman–Rachford iterations per rescue did not leave in 900 steps).

    Block principal pivoting with Murty's safeguard (Júdice and Pires, 1994):
    a step flips every element whose piece came out wrong (the plain step)
    while that count keeps reaching new lows within ``PIVOT_TRIES`` steps;
    otherwise it flips only the wrong element of least index, until the count
    reaches a new low. For ``H`` with ``sym(H) ≻ 0`` (a P-matrix) the
    least-index rule ends in finitely many steps, so the scheme does. A
    sample's first single flip is replaced by Lemke's pieces (``_lemke``)
    where Lemke's method ends on a complementary basis; the next step checks
    them like any other, and the flips go on if they were wrong.
    ``free`` is the next step's pieces per sample (``None`` until a step
    was taken); ``H`` (n, n) and ``q`` (batch, n) are the problem's."""

    def __init__(self, H: Tensor, q: Tensor) -> None:
        batch, n = q.shape
        self.H, self.q = H, q
        self.free: Tensor | None = None
        self.best = torch.full((batch,), n + 1, dtype=torch.int64, device=q.device)
        self.tries = torch.full((batch,), PIVOT_TRIES, dtype=torch.int64, device=q.device)
        self.singles = torch.zeros((batch,), dtype=torch.int64, device=q.device)
        self._H64: np.ndarray | None = None

    def next(self, act: Tensor, whole: bool, before: Tensor, after: Tensor,
             knee: Tensor) -> Tensor:
        """Record the step of samples ``act`` (all when ``whole``) that used
        pieces ``before`` and whose answer has pieces ``after`` (bool), ``knee``
        marking the elements within round-off of a knee (not counted wrong).
        Returns which of the samples have no piece wrong (they are solved)."""
        wrong = (before != after) & ~knee
        count = wrong.sum(dim=1)
        best = self.best if whole else self.best[act]
        lower = count < best
        tries = torch.where(lower, PIVOT_TRIES, (self.tries if whole else self.tries[act]) - 1)
        nxt = after
        single = (tries <= 0) & (count > 0)
        if bool(single.any()):
            first = wrong.to(torch.int8).argmax(dim=1, keepdim=True)  # least index
            flipped = before.scatter(1, first, ~before.gather(1, first))
            nxt = torch.where(single[:, None], flipped, after)
            singles = (self.singles if whole else self.singles[act]) + single
            if whole:
                self.singles = singles
            else:
                self.singles[act] = singles
            lemke = torch.nonzero(singles == LEMKE_AFTER + 1).squeeze(1)
            if lemke.numel():
                nxt = self._lemke(nxt, lemke, act if not whole else None)
        if whole:
            self.best, self.tries = torch.minimum(best, count), tries
            self.free = nxt
            return count == 0
        self.best[act], self.tries[act] = torch.minimum(best, count), tries
        if self.free is None:
            self.free = torch.zeros((self.best.shape[0], before.shape[1]), dtype=torch.bool,
                                    device=before.device)
        self.free[act] = nxt
        return count == 0

    def _lemke(self, nxt: Tensor, rows: Tensor, act: Tensor | None) -> Tensor:
        """``nxt`` with the pieces of ``rows`` (positions in it; ``act`` maps
        them to the batch) replaced by Lemke's free set where it finds one."""
        if self._H64 is None:
            self._H64 = self.H.detach().to(torch.float64).cpu().numpy()
        batch_rows = rows if act is None else act[rows]
        q = self.q.detach()[batch_rows].to(torch.float64).cpu().numpy()
        nxt = nxt.clone()
        for i, r in enumerate(rows.tolist()):
            free = lemke_free_set(self._H64, q[i])
            if free is not None:
                nxt[r] = torch.as_tensor(free, device=nxt.device)
        return nxt
