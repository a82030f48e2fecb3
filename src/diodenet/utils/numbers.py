"""What counts as a number where a setting or a stored value is checked."""

from __future__ import annotations

import math
from typing import Any, TypeGuard

import numpy as np


def is_real(x: object) -> TypeGuard[int | float | np.integer[Any] | np.floating[Any]]:
    """A real number: a Python or numpy int or float, not a bool (nor a complex)."""
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool)


def is_whole(x: object) -> TypeGuard[int | np.integer[Any]]:
    """A Python or numpy integer, not a bool."""
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


def finite_numbers(x: object) -> TypeGuard[list[Any]]:
    """A list of finite real numbers (a vector as JSON stores it)."""
    return isinstance(x, list) and all(is_real(v) and math.isfinite(v) for v in x)
