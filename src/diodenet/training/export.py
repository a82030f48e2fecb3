"""A trained model as a netlist that runs unmodified in ``ngspice -b``.

``export_netlist(model_dir)`` rebuilds the run's circuit from its
``config.json`` (single stage, or the whole cascade with E-element buffers),
programs the run's result, its best epoch's conductances (and buffer gains),
as ``model.cir`` holds them, sets the input
sources to one encoded test sample, and appends ``.op`` and a ``.print`` of
the output voltages. The built-in simulator's outputs for that sample come
back with it, so what ngspice prints can be checked against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cascades import Cascade
from ..utils.numbers import finite_numbers
from .checkpoint import CHECKPOINT, CheckpointError, check_train_state, load_checkpoint
from .session import build, load_data, saved_config, training_hardware


@dataclass
class Export:
    """``netlist`` text; ``outputs`` (node pairs printed); ``expected``: the
    built-in simulator's output voltages for ``sample`` (V); ``epoch``: the
    trained epoch exported (the run's best), ``finished``: whether the run
    had finished training (else its best epoch so far)."""

    netlist: str
    outputs: list[tuple[str, str]]
    expected: np.ndarray
    sample: int
    epoch: int
    finished: bool
    note: str = ""  # what the caller should be told (an older checkpoint's last epoch)


def export_netlist(model_dir: str | Path, *, sample: int = 0) -> Export:
    """The trained model of ``model_dir`` as ngspice netlist text (see above)."""
    out = Path(model_dir)
    cfg = saved_config(out).resolved()
    state = load_checkpoint(out)
    data = load_data(cfg)
    if not 0 <= sample < len(data.y_test):
        raise ValueError(f"sample must be in [0, {len(data.y_test)}), got {sample}")
    net = build(cfg, data)
    with training_hardware("builtin", net) as hw:
        path = out / CHECKPOINT
        if state.get("trainable") != list(hw.trainable):
            raise CheckpointError(f"{path}: the checkpoint's resistors are not the network "
                                  "config.json describes")
        # the run's result is its best epoch (model.cir, the reported accuracy);
        # a checkpoint written before those were kept has the last epoch's only
        best = "best_conductances" in state
        note = "" if best else (f"{path} was written before checkpoints kept the best "
                                "epoch: exporting its last epoch's conductances, which may "
                                "differ from model.cir's")
        g = _values(state, "best_conductances" if best else "conductances",
                    len(hw.trainable), path)
        g_range = cfg.train_config().g_range
        if g_range.outside(g).any():
            raise CheckpointError(f"{path}: a conductance is outside the run's range "
                                  f"[{g_range.g_min!r}, {g_range.g_max!r}] S")
        hw.set_conductances(g)
        if "gains" in state:
            if not isinstance(hw, Cascade):
                raise CheckpointError(f"{path}: buffer gains, but the run's network has "
                                      "no buffers")
            hw.set_gains(_values(state, "best_gains" if best else "gains", len(hw.gains),
                                 path))
        u = net.encode(data.x_test[sample:sample + 1])
        expected = hw.settle(u).outputs[0]
        circuit = hw.circuit.copy()
        outputs = list(hw.outputs)
        for name, value in zip(hw.inputs, u[0]):
            circuit.set_source(name, float(value))
    circuit.title = (f"diodenet {data.name} model from {out.name}: test sample {sample} "
                     f"(label {int(data.y_test[sample])})")
    probes = " ".join(f"v({p})" if n == "0" else f"v({p},{n})" for p, n in outputs)
    text = circuit.to_spice().rstrip()
    head, end = text.rsplit("\n", 1)
    if end.strip().lower() != ".end":
        raise ValueError("unexpected netlist ending")  # pragma: no cover - writer invariant
    # saving the output nodes spares ngspice -b's "can't parse" warnings on .print op
    saved = " ".join(f"v({node})" for node in dict.fromkeys(
        node for pair in outputs for node in pair if node != "0"))
    text = f"{head}\n.op\n.save {saved}\n.print op {probes}\n.end\n"
    train = check_train_state(state, out / CHECKPOINT)
    finished = train["stopped"] or train["epoch"] == cfg.epochs
    epoch = int(train["best_epoch"]) if best else int(train["epoch"])
    return Export(text, outputs, expected, sample, max(epoch, 0), finished, note)


def _values(state: dict[str, Any], key: str, n: int, path: Path) -> np.ndarray:
    """``state[key]``: ``n`` finite numbers, or a one-line ``CheckpointError``."""
    raw = state.get(key)
    if not (finite_numbers(raw) and len(raw) == n):
        raise CheckpointError(f"{path}: damaged checkpoint: {key!r} must be {n} finite numbers")
    return np.asarray(raw, dtype=float)
