"""What a cascade measures, and its gradient.

Both ways of settling a cascade, stage by stage (``stages.py``) and as one
circuit (``whole.py``), return a :class:`CascadeMeasurement`; ``Cascade.gradient``
returns a :class:`CascadeGradient`. They sit apart from ``Cascade`` so that those
modules build them without importing the cascade itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..linearization import Measurement


@dataclass
class CascadeMeasurement(Measurement):
    """A cascade ``Measurement`` (outputs, branch voltages of every stage's
    resistors in ``trainable`` order, ...) plus each stage's own
    measurement, each buffer's control voltage ``y_s[j]`` (forward) or adjoint
    response ``λ_b`` (adjoint), and the last stage's raw outputs."""

    stages: list[Measurement] = field(default_factory=list)
    buffer_values: np.ndarray | None = None
    last_outputs: np.ndarray | None = None
    whole: Measurement | None = None


@dataclass
class CascadeGradient:
    """``loss``; ``dL_dg`` (one array per stage, in each stage's ``trainable``
    order); ``dL_da`` (every gain, in ``Cascade.gain_names`` order: buffers,
    then output buffers); ``dL_du`` (batch, external inputs); ``outputs``;
    ``settles`` (experiments used)."""

    loss: float
    dL_dg: list[np.ndarray]
    dL_du: np.ndarray
    outputs: np.ndarray
    settles: int
    dL_da: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def flat_dL_dg(self) -> np.ndarray:
        return np.concatenate(self.dL_dg) if self.dL_dg else np.zeros(0)
