"""Activation functions induced by circuit elements (the kernel's nonlinearities)."""

from .base import Ideal, Nonlinearity, PiecewiseLinear, Shockley

__all__ = ["Ideal", "Nonlinearity", "PiecewiseLinear", "Shockley"]
