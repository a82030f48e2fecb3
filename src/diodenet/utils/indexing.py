"""Index tensors read as views where they can be.

A gather (``index_select``) copies; a slice is a view. Index sets fixed by a
circuit's topology are often regular (a network's inputs numbered in a row,
each output's positive terminals every other column), so they are turned
into slices once and read as views at every step.
"""

from __future__ import annotations

import torch
from torch import Tensor


def as_slice(index: Tensor) -> Tensor | slice:
    """``index`` (1-D, integer) as a slice when it is an arithmetic progression
    ``start, start + step, …`` with ``step ≥ 1``; otherwise ``index`` itself."""
    k = index.numel()
    if k == 0:
        return index
    start = int(index[0])
    step = int(index[1]) - start if k > 1 else 1
    if step < 1:
        return index
    regular = start + step * torch.arange(k, dtype=index.dtype, device=index.device)
    if not torch.equal(index, regular):
        return index
    return slice(start, start + step * (k - 1) + 1, step)


def columns(X: Tensor, cols: Tensor | slice) -> Tensor:
    """``X[:, cols]``: a view for a slice, else a gather."""
    return X[:, cols] if isinstance(cols, slice) else X.index_select(1, cols)
