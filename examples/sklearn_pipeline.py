"""A resistor–diode circuit as a scikit-learn classifier: ``StandardScaler →
CircuitClassifier`` in a ``Pipeline``, cross-validated with ``cross_val_score``.

Each fold trains a fresh circuit in the loop (hardware linearization on the
built-in simulator); a logistic regression on the same folds is the yardstick.

    python examples/sklearn_pipeline.py              # iris, 3 folds, ~1 min
    python examples/sklearn_pipeline.py --dataset wine --folds 5
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from diodenet import CircuitClassifier

LOADERS = {"iris": datasets.load_iris, "wine": datasets.load_wine,
           "breast_cancer": datasets.load_breast_cancer}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="iris", choices=sorted(LOADERS))
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args(argv)
    X, y = LOADERS[args.dataset](return_X_y=True)
    cv = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    circuit = make_pipeline(StandardScaler(), CircuitClassifier(
        hidden=args.hidden, epochs=args.epochs, batch_size=args.batch_size))
    t0 = time.perf_counter()
    scores = cross_val_score(circuit, X, y, cv=cv)
    seconds = time.perf_counter() - t0
    yardstick = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression()), X, y, cv=cv)
    print(f"{args.dataset}: circuit {scores.mean():.3f} ± {scores.std():.3f} "
          f"({args.folds} folds, {seconds:.0f} s, builtin simulator); "
          f"logistic regression {yardstick.mean():.3f}")
    return {"scores": scores.tolist(), "yardstick": yardstick.tolist()}


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
