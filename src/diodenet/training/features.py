"""Smaller inputs for smaller circuits: average pooling and PCA.

A feature map turns the raw features of the train and test splits into the
ones the circuit sees; everything it learns comes from the *train* split:

* ``raw``: the features as they are;
* ``pool<k>``: average pooling of square images over ``k×k`` blocks
  (28×28 MNIST with ``pool2`` → 14×14 = 196 features, ``pool4`` → 7×7 = 49);
  an image side that ``k`` does not divide is cropped at the bottom/right;
* ``pca<k>``: the projections on the ``k`` leading principal components of
  the centred train split (``pca64``: 64 features), from the SVD of the
  train split's centred data.

Each input source of the circuit is a feature, so ``--features pool2``
shrinks an MNIST network's input resistors by 4×, ``pca64`` by 12×.
"""

from __future__ import annotations

import math
import re

import numpy as np

FEATURES_HELP = "raw, pool<k> (k×k average pooling of images, e.g. pool2) or pca<k> (e.g. pca64)"


def parse_features(spec: str | None) -> tuple[str, int]:
    """``("raw", 0)``, ``("pool", k)`` or ``("pca", k)``; ``ValueError`` otherwise."""
    from .datasets import DatasetError

    key = (spec or "raw").strip().lower()
    if key == "raw":
        return "raw", 0
    m = re.fullmatch(r"(pool|pca)(\d+)", key)
    if m is None or int(m.group(2)) < 1:
        raise DatasetError(f"unknown features {spec!r}; expected {FEATURES_HELP}")
    return m.group(1), int(m.group(2))


def pool_images(x: np.ndarray, k: int) -> np.ndarray:
    """``k×k`` average pooling of flattened square images (n, side²)."""
    from .datasets import DatasetError

    side = math.isqrt(x.shape[1])
    if side * side != x.shape[1]:
        raise DatasetError(f"pool{k}: the features ({x.shape[1]}) are not a square image")
    out = side // k
    if out < 1:
        raise DatasetError(f"pool{k}: the images are {side}×{side}, smaller than {k}×{k}")
    imgs = x.reshape(len(x), side, side)[:, : out * k, : out * k]
    return imgs.reshape(len(x), out, k, out, k).mean(axis=(2, 4)).reshape(len(x), out * out)


def pca_projection(x_train: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(mean (d,), components (k, d))`` of the centred train split; the
    components are the right singular vectors, signs fixed so that each
    one's largest-magnitude entry is positive (deterministic)."""
    from .datasets import DatasetError

    if k > min(x_train.shape):
        raise DatasetError(
            f"pca{k}: at most min(train samples, features) = {min(x_train.shape)} components"
        )
    mean = x_train.mean(axis=0)
    xc = np.asarray(x_train - mean, dtype=np.float64)
    # the d×d covariance is cheaper than an SVD of the data when n >> d
    cov = xc.T @ xc
    w, v = np.linalg.eigh(cov)
    comps = v[:, np.argsort(w)[::-1][:k]].T
    flip = np.sign(comps[np.arange(k), np.abs(comps).argmax(axis=1)])
    return mean, comps * flip[:, None]


def apply_features(
    spec: str | None, x_train: np.ndarray, x_test: np.ndarray, names: list[str]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(x_train, x_test, feature names)`` after the feature map ``spec``."""
    kind, k = parse_features(spec)
    if kind == "raw":
        return x_train, x_test, names
    if kind == "pool":
        tr, te = pool_images(x_train, k), pool_images(x_test, k)
        return tr, te, [f"pool{k}_{i}" for i in range(tr.shape[1])]
    mean, comps = pca_projection(x_train, k)
    return (x_train - mean) @ comps.T, (x_test - mean) @ comps.T, [f"pc{i}" for i in range(k)]
