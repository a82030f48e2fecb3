"""ngspice's junction law as a kernel relation: Shockley forward, a cubic tail in reverse.

ngspice's level-1 diode follows ``Is (e^{v/nVt} - 1)`` only down to
``v = -3 nVt``; below it the current is ``-Is (1 + (3 nVt / (e v))³)``, which
meets the exponential with its slope at ``-3 nVt`` and tends to ``-Is`` as
slowly as ``1/v³`` (the exponential is within ``e^{-3}`` of ``-Is`` there
already). In the reverse-voltage variable ``z = -v``, with ``c = 3 nVt`` and
``a = c / e``::

    F(z) = Is (1 - e^{-z/nVt})          z <= c
         = Is (1 - (a / z)³)            z > c

``F`` is increasing and continuously differentiable (``F'(c) = Is e^{-3}/nVt``
on both sides), so it is maximal monotone, as the solvers need. The
difference from ``Shockley`` is at most ``Is e^{-3}`` (5 % of ``Is``), and
reaches a node's voltage through the circuit's resistance: 2.7e-4 V for a
leaky (``Is`` = 1 µA) junction reverse-biased through 100 kΩ.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import Shockley, _check_alpha

#: Newton iterations allowed on the cubic side of the resolvent (each from the
#: left of the root of a concave increasing function, so monotone; a handful
#: suffice)
_NEWTON_CAP = 100


class SpiceJunction(Shockley):
    """A Shockley junction with ngspice's reverse law (see the module docstring):
    the relation diodenet extracts from a netlist's diode, so that the builtin
    simulator answers as ngspice does at every reverse bias."""

    name = "Shockley diode (ngspice reverse law)"

    @property
    def knee(self) -> float:
        """``c = 3 nVt``: the reverse voltage (V) where the cubic tail takes over."""
        return 3.0 * self.nvt

    def value(self, z: Tensor) -> Tensor:
        c = self.knee
        a_z = (c / math.e) / torch.clamp_min(z, c)  # (the unused side kept finite)
        return torch.where(z > c, self.is_ * (1.0 - a_z**3), super().value(z))

    def derivative(self, z: Tensor) -> Tensor:
        c = self.knee
        zc = torch.clamp_min(z, c)
        tail = 3.0 * self.is_ * (c / math.e) ** 3 / zc**4
        return torch.where(z > c, tail, super().derivative(z))

    def resolvent(self, x: Tensor, alpha: float | Tensor) -> Tensor:
        """``s + αF(s) = x``: the Shockley closed form where it lands at ``s <= c``
        (where the two laws agree); beyond, Newton on the cubic side from
        ``max(c, x - α Is)``, which is left of the root (``F < Is``), and one
        last step taken with autograd on, so ``x`` and ``α`` get the implicit
        function's derivatives."""
        _check_alpha(alpha)
        s = super().resolvent(x, alpha)
        c = self.knee
        beyond = s > c
        if not bool(beyond.any()):
            return s
        alpha_t = torch.as_tensor(alpha, dtype=x.dtype, device=x.device)
        with torch.no_grad():
            xd, ad = x.detach(), alpha_t.detach()
            t = torch.clamp_min(xd - ad * self.is_, c)
            for _ in range(_NEWTON_CAP):
                step = (xd - t - ad * self.value(t)) / (1.0 + ad * self.derivative(t))
                t = t + torch.clamp_min(step, 0.0)  # from the left: never back
                if not bool((step > 4 * torch.finfo(x.dtype).eps * t.abs()).any()):
                    break
        t = t + (x - t - alpha_t * self.value(t)) / (1.0 + alpha_t * self.derivative(t))
        return torch.where(beyond, t, s)

    def __repr__(self) -> str:
        return f"SpiceJunction(is_={self.is_!r}, nvt={self.nvt!r})"
