"""PyTorch integration: equilibrium layers that are circuits."""

from .layer import MonDEQLayer

__all__ = ["MonDEQLayer"]
