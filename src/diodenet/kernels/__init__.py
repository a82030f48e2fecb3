"""Kernels: the equilibrium network of a circuit, and circuits that realise a network."""

from .equilibrium import ConvergenceError, Equilibrium, SingularSystemError
from .extract import CircuitKernel, extract_kernel
from .kernel import FactoredB, Kernel
from .low_rank import DiagonalPlusLowRank
from .mondeq import MonDEQ, from_mondeq, to_mondeq, winston_kolter_weight
from .realize import realize

__all__ = [
    "CircuitKernel", "ConvergenceError", "DiagonalPlusLowRank", "Equilibrium", "FactoredB",
    "Kernel", "MonDEQ", "SingularSystemError", "extract_kernel", "from_mondeq", "realize",
    "to_mondeq", "winston_kolter_weight",
]
