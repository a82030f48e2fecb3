"""The physical range of a trainable resistor's conductance.

Every trainable resistor of a network is a part whose conductance lies in
``[g_min, g_max]``, optionally on a log-spaced grid of ``levels`` values
(like an E-series). The builder seeds conductances in it, the trainer keeps
them in it, and a checkpoint is refused when a stored value leaves it. It
depends on no circuit, so it stands apart from the network builder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


class ConductanceRangeError(ValueError):
    """An invalid conductance range or quantisation."""


def outside(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Where ``values`` are not finite or leave ``[lo, hi]`` by more than round-off
    (1e-9 relative): what a stored parameter must not do."""
    v = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        return ~(np.isfinite(v) & (v >= lo * (1 - 1e-9)) & (v <= hi * (1 + 1e-9)))


@dataclass(frozen=True)
class ConductanceRange:
    """The physical range ``[g_min, g_max]`` (siemens) of every trainable
    resistor, optionally quantised to ``levels`` log-spaced values (like an
    E-series of resistor values: equal ratios between neighbours).

    Preconditions: ``0 < g_min < g_max``, both finite; ``levels`` is ``None``
    or an integer ≥ 2.
    """

    g_min: float = 1e-6
    g_max: float = 1e-3
    levels: int | None = None

    def __post_init__(self) -> None:
        lo, hi = self.g_min, self.g_max
        if not (isinstance(lo, int | float) and isinstance(hi, int | float)):
            raise ConductanceRangeError("conductance range: g_min and g_max must be numbers")
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ConductanceRangeError(
                f"conductance range must be finite, got g_min={lo}, g_max={hi}"
            )
        if lo <= 0:
            raise ConductanceRangeError(f"conductance range: g_min must be > 0 S, got {lo}")
        if lo >= hi:
            raise ConductanceRangeError(
                f"conductance range: g_min ({lo} S) must be < g_max ({hi} S)"
            )
        if self.levels is not None and (int(self.levels) != self.levels or self.levels < 2):
            raise ConductanceRangeError(
                f"conductance levels must be an integer >= 2, got {self.levels}"
            )

    @property
    def grid(self) -> np.ndarray | None:
        """The allowed values (S), or ``None`` when not quantised."""
        if self.levels is None:
            return None
        return np.geomspace(self.g_min, self.g_max, int(self.levels))

    def outside(self, g: np.ndarray) -> np.ndarray:
        """Where ``g`` (S) is not a conductance of this range (``outside``)."""
        return outside(g, self.g_min, self.g_max)

    def clip(self, g: np.ndarray) -> np.ndarray:
        """Project onto ``[g_min, g_max]`` (no quantisation)."""
        return np.clip(np.asarray(g, dtype=float), self.g_min, self.g_max)

    def quantize(self, g: np.ndarray) -> np.ndarray:
        """Clip, then round to the nearest level in log-conductance."""
        g = self.clip(g)
        grid = self.grid
        if grid is None:
            return g
        step = math.log(self.g_max / self.g_min) / (len(grid) - 1)
        k = np.rint(np.log(g / self.g_min) / step).astype(int)
        return grid[np.clip(k, 0, len(grid) - 1)]

    def random(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """Log-uniform conductances in the range (S)."""
        return np.exp(rng.uniform(math.log(self.g_min), math.log(self.g_max), size))
