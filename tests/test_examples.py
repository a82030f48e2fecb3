"""The examples run (shortened) and do what they say."""

from __future__ import annotations

import runpy
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _main(name: str):
    return runpy.run_path(str(EXAMPLES / name))["main"]


def test_torch_circuit_head_trains_and_deploys(ngspice_available, tmp_path):
    netlist = tmp_path / "head.cir"
    out = _main("torch_circuit_head.py")(
        ["--dataset", "digits", "--epochs", "4", "--hidden", "8", "--features", "8",
         "--batch-size", "64", "--ngspice", "--netlist", str(netlist)])
    assert out["test_accuracy"] > 0.3  # ten classes: chance is 0.1
    assert out["ngspice_agreement"] >= 0.99
    assert netlist.read_text().lower().count("\nr") > 100


def test_sklearn_pipeline_cross_validates():
    out = _main("sklearn_pipeline.py")(["--folds", "2", "--epochs", "8"])
    assert len(out["scores"]) == 2 and min(out["scores"]) > 0.6  # three classes
