"""The kernel's nonlinear side: its elements, grouped, and their resolvents.

``Kernel`` keeps the linear network (``H``, ``B``, ``C``, ``D``: the
conductance network) apart from the nonlinearity ``F`` (the diodes), as a
monDEQ keeps its linear operator apart from its ReLU. ``ElementResolvents``
is the second half: equal elements grouped so that one call on a group's
columns serves them all (elements act entrywise), and ``σ_α``, ``σ'_α``
applied through the groups, or as one ReLU when every element is ideal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..activations import Nonlinearity
from .facts import KernelFacts


def apply_grouped(
    groups: list[tuple[Nonlinearity, Tensor]], method: str, x: Tensor, *args: Any
) -> Tensor:
    """``element.method(x[:, cols], *args)`` for every group, assembled column-wise."""
    if len(groups) == 1:
        return getattr(groups[0][0], method)(x, *args)
    out = torch.empty_like(x)
    for e, cols in groups:
        sub = [a[:, cols] if isinstance(a, Tensor) and a.shape == x.shape else a for a in args]
        out[:, cols] = getattr(e, method)(x[:, cols], *sub)
    return out


#: element groups kept for this many element lists (see ``Kernel.element_groups``)
GROUPS_KEPT = 16
_Groups = list[tuple[Nonlinearity, Tensor]]
_GROUPS: dict[tuple[Any, ...], tuple[tuple[Nonlinearity, ...], _Groups]] = {}


class ElementResolvents(KernelFacts):
    """The elements' side of ``Kernel`` (see the module docstring)."""

    def element_groups(self) -> list[tuple[Nonlinearity, Tensor]]:
        """Equal elements grouped: ``[(element, column indices)]`` (cached).

        Element methods are elementwise, so one call on ``x[:, columns]`` serves a
        whole group; a circuit with one diode model costs one call, not n.
        """

        # keyed by which object sits in each place and each distinct object's
        # parameters, not by H: a re-programmed hardware's kernels share their
        # elements, and grouping them anew cost 0.7 ms per batch at 128 diodes
        key = (str(self.device), *self._element_identity())
        hit = _GROUPS.get(key)
        if hit is not None:  # hit[0] holds the elements, so their ids are still theirs
            return hit[1]
        found: dict[Nonlinearity, list[int]] = {}
        for k, e in enumerate(self.elements):
            found.setdefault(e, []).append(k)
        groups = [(e, torch.tensor(cols, dtype=torch.long, device=self.device))
                  for e, cols in found.items()]
        if len(_GROUPS) >= GROUPS_KEPT:
            _GROUPS.pop(next(iter(_GROUPS)))  # the oldest
        _GROUPS[key] = (tuple(self.elements), groups)
        return groups

    def resolvent_function(self) -> Callable[[Tensor, float], Tensor]:
        """``σ_α`` as one function, decided once (hot loops call it every iteration):
        ReLU for all-ideal kernels, else one call per group of equal elements."""
        if self.all_ideal:
            return lambda x, alpha: torch.clamp_min(x, 0.0)
        groups = self.element_groups()
        return lambda x, alpha: apply_grouped(groups, "resolvent", x, alpha)

    def resolvent_derivative_function(self) -> Callable[[Tensor, float], Tensor]:
        """``σ'_α`` as one function (see ``resolvent_function``)."""
        if self.all_ideal:
            return lambda x, alpha: (x > 0).to(x.dtype)
        groups = self.element_groups()
        return lambda x, alpha: apply_grouped(groups, "resolvent_derivative", x, alpha)

    def apply_resolvent(self, x: Tensor, alpha: float) -> Tensor:
        """``σ_α`` applied elementwise, element k on column k."""
        return self.resolvent_function()(x, alpha)

    def apply_resolvent_derivative(self, x: Tensor, alpha: float) -> Tensor:
        """``σ'_α`` applied elementwise, element k on column k."""
        return self.resolvent_derivative_function()(x, alpha)
