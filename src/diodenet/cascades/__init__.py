"""Cascades of resistor–diode networks joined by unilateral buffers."""

from .cascade import Cascade, CascadeGradient

__all__ = ["Cascade", "CascadeGradient"]
