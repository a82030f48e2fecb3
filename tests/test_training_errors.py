"""Each user error of training: a ValueError subclass in the library, one line in the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from diodenet.cli.main import cli
from diodenet.training.architectures import ConductanceRange, ConductanceRangeError
from diodenet.training.datasets import DATASETS, DatasetError, load_csv, load_dataset


def _cli(*args: str):
    return CliRunner().invoke(cli, ["train", *args])


def _one_line_error(res, *fragments: str) -> None:
    assert res.exit_code == 2, res.output
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    for f in fragments:
        assert f in lines[0], lines[0]


def test_unknown_dataset_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as exc:
        load_dataset("cifar10")
    assert isinstance(exc.value, ValueError)
    assert all(name in str(exc.value) for name in DATASETS)
    _one_line_error(_cli("--dataset", "cifar10", "--out", str(tmp_path)), "cifar10", "moons",
                    "mnist")


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "data.csv"
    p.write_text(text)
    return p


def test_csv_missing_value_names_line_and_column(tmp_path: Path) -> None:
    p = _write(tmp_path, "a,b,label\n1,2,x\n3,,y\n5,6,x\n")
    with pytest.raises(DatasetError, match=r"line 3, column 'b': missing value"):
        load_csv(p)
    _one_line_error(_cli("--csv", str(p), "--out", str(tmp_path / "o")), "line 3", "'b'")


def test_csv_non_numeric_value_names_line_and_column(tmp_path: Path) -> None:
    p = _write(tmp_path, "a,b,label\n1,2,0\n3,4,1\n5,six,0\n")
    with pytest.raises(DatasetError, match=r"line 4, column 'b': 'six' is not a number"):
        load_csv(p)
    _one_line_error(_cli("--csv", str(p), "--out", str(tmp_path / "o")), "line 4", "six")


def test_csv_with_one_class_is_refused(tmp_path: Path) -> None:
    p = _write(tmp_path, "a,b,label\n1,2,cat\n3,4,cat\n5,6,cat\n")
    with pytest.raises(DatasetError, match="only one class"):
        load_csv(p)
    _one_line_error(_cli("--csv", str(p), "--out", str(tmp_path / "o")), "only one class")


SINGLETONS = ["1,2,0\n3,4,1\n", "".join(f"{i},{i},{i / 7}\n" for i in range(40))]


@pytest.mark.parametrize("rows", SINGLETONS)
def test_csv_with_no_class_to_test_on_is_refused_before_training(tmp_path: Path,
                                                                 rows: str) -> None:
    """Every class a single sample: the stratified test split would be empty
    (it once trained, then failed in scikit-learn's MLP with NaN metrics)."""
    p = tmp_path / "tiny.csv"
    p.write_text("a,b,label\n" + rows)
    with pytest.raises(DatasetError, match="test split would be empty"):
        load_csv(p)
    _one_line_error(_cli("--csv", str(p), "--out", str(tmp_path / "o")),
                    "test split would be empty")
    assert not (tmp_path / "o").exists()


def test_csv_label_column_by_name_and_unknown_name(tmp_path: Path) -> None:
    p = _write(tmp_path, "label,a,b\n" + "".join(f"{i % 2},{i},{-i}\n" for i in range(8)))
    d = load_csv(p, label_column="label", test_fraction=0.25)
    assert d.n_features == 2 and d.feature_names == ["a", "b"] and d.n_classes == 2
    assert len(d.y_train) == 6 and len(d.y_test) == 2
    with pytest.raises(DatasetError, match="no label column 'kind'"):
        load_csv(p, label_column="kind")


@pytest.mark.parametrize("g_min,g_max,what", [
    (0.0, 1e-3, "g_min must be > 0"),
    (-1e-6, 1e-3, "g_min must be > 0"),
    (1e-3, 1e-3, "must be <"),
    (1e-2, 1e-3, "must be <"),
    (math.nan, 1e-3, "finite"),
    (1e-6, math.inf, "finite"),
])
def test_invalid_conductance_range(tmp_path: Path, g_min, g_max, what) -> None:
    with pytest.raises(ConductanceRangeError, match=what):
        ConductanceRange(g_min, g_max)
    _one_line_error(_cli("--dataset", "xor", "--g-min", str(g_min), "--g-max", str(g_max),
                         "--out", str(tmp_path)), what)
    assert not (tmp_path / "checkpoint.json").exists()  # refused before any work


def test_invalid_levels() -> None:
    with pytest.raises(ConductanceRangeError, match="levels"):
        ConductanceRange(1e-6, 1e-3, 1)


def test_dataset_and_csv_together_are_refused(tmp_path: Path) -> None:
    p = _write(tmp_path, "a,label\n1,0\n2,1\n")
    _one_line_error(_cli("--dataset", "moons", "--csv", str(p)), "not both")


def test_trainer_refuses_labels_and_counts_it_would_misread() -> None:
    """Float labels were truncated (and the accuracy read as 0), a label past
    the classes failed deep in torch, epochs=1.5 ran 2 epochs."""
    import numpy as np

    from diodenet.linearization import BuiltinHardware
    from diodenet.training import TrainConfig, Trainer, build_network

    net = build_network(2, 2, 3, scale=2.0, seed=0)
    hw = BuiltinHardware(net.circuit, net.inputs, net.outputs)
    x, y = np.random.default_rng(0).normal(size=(10, 2)), np.arange(10) % 2
    cfg = TrainConfig(epochs=1, batch_size=5)
    for bad_y, problem in ((y + 0.5, r"must be class indices 0\.\.1, got 0\.5"),
                           (y + 1, r"must be class indices 0\.\.1, got 2"),
                           (y[:9], r"expected features \(n, k\) and labels \(n,\)")):
        with pytest.raises(ValueError, match=problem):
            Trainer(hw, net.encode, 2, x, bad_y, cfg)
    with pytest.raises(ValueError, match=r"epochs must be a whole number, got 1\.5"):
        Trainer(hw, net.encode, 2, x, y, TrainConfig(epochs=1.5, batch_size=5))  # type: ignore
    Trainer(hw, net.encode, 2, x, y.astype(float), cfg)  # whole-number floats are fine
    with pytest.raises(ValueError, match="no sample left to fit: 10 training samples"):
        Trainer(hw, net.encode, 2, x, y, TrainConfig(epochs=1, batch_size=5, val_fraction=0.99))
    with pytest.raises(ValueError, match="no sample left to fit: 0 training samples"):
        Trainer(hw, net.encode, 2, x[:0], y[:0], cfg)


def test_ctrl_c_in_the_mlp_yardstick_aborts(monkeypatch: pytest.MonkeyPatch) -> None:
    """scikit-learn's MLP catches KeyboardInterrupt inside fit and keeps the
    half-trained network (with a warning): the yardstick then printed its
    accuracy (0.878 for 0.962) and the command exited 0. The interrupt goes on."""
    from sklearn.neural_network import MLPClassifier

    from diodenet.training.session import RunConfig, load_data, mlp_yardstick

    data = load_data(RunConfig(dataset="moons").resolved())
    calls = {"n": 0}
    real = MLPClassifier._backprop

    def interrupted(self, *args, **kwargs):  # Ctrl-C a few steps into the real loop
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(MLPClassifier, "_backprop", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mlp_yardstick(data, 8)
    assert calls["n"] == 5
