"""Cascades of resistor–diode networks joined by unilateral buffers."""

from .cascade import Buffer, Cascade, CascadeGradient, CascadeMeasurement
from .feedback import IllPosedCascade, loop_gain_bound
from .mlp import differential, from_mlp, mlp_parameters, to_mlp

__all__ = ["Buffer", "Cascade", "CascadeGradient", "CascadeMeasurement", "IllPosedCascade",
           "differential", "from_mlp", "loop_gain_bound", "mlp_parameters", "to_mlp"]
