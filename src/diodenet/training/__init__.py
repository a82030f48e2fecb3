"""Training resistor–diode networks in the loop (hardware linearization).

``build_network`` makes the circuit, ``load_dataset``/``load_csv`` the data,
``Trainer`` runs minibatch training over any ``Hardware``, and
``run_training`` does a whole ``diodenet train`` run (outputs, checkpoints,
resume).
"""

from .architectures import Network, build_network
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .conductances import ConductanceRange, ConductanceRangeError
from .config import TrainConfig, learning_rate
from .datasets import DATASETS, Dataset, DatasetError, load_csv, load_dataset
from .losses import cross_entropy_loss, make_loss, mse_loss
from .session import RunConfig, mlp_yardstick, run_training
from .trainer import Trainer, TrainResult, batch_order

__all__ = [
    "DATASETS", "CheckpointError", "ConductanceRange", "ConductanceRangeError", "Dataset",
    "DatasetError", "Network", "RunConfig", "TrainConfig", "TrainResult", "Trainer",
    "batch_order", "build_network", "cross_entropy_loss", "learning_rate", "load_checkpoint",
    "load_csv", "load_dataset", "make_loss", "mlp_yardstick", "mse_loss",
    "run_training", "save_checkpoint",
]
