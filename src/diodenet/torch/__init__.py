"""PyTorch integration: circuits and monDEQs as ``nn.Module`` layers."""

from .circuit_layer import CircuitLayer
from .layer import MonDEQLayer

__all__ = ["CircuitLayer", "MonDEQLayer"]
