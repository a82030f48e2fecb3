"""Kernels: the equilibrium network of a circuit, and circuits that realise a network."""

from .kernel import ConvergenceError, Equilibrium, Kernel

__all__ = ["ConvergenceError", "Equilibrium", "Kernel"]
