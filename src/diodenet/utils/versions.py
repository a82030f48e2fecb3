"""A tensor's version counter, for caches that must notice in-place edits."""

from __future__ import annotations

from torch import Tensor


def version(t: Tensor) -> object:
    """``t._version``, which an in-place edit bumps; for a tensor made under
    ``torch.inference_mode`` (which keeps no version counter) a fresh object,
    equal to nothing, so a cache keyed on it is never trusted."""
    try:
        return t._version
    except RuntimeError:  # "Inference tensors do not track version counter"
        return object()
