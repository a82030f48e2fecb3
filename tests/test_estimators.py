"""CircuitClassifier and CircuitRegressor: scikit-learn's own estimator checks,
and the estimators (in a pipeline) against the circuits they export."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from diodenet import CircuitClassifier, CircuitRegressor
from diodenet.circuits import Circuit
from diodenet.linearization import BuiltinHardware
from diodenet.training import load_dataset

#: checks scikit-learn itself skips here, with its reason
SKLEARN_SKIPS = {"check_array_api_input"}  # needs SCIPY_ARRAY_API=1 and an array-API library


def _passes_check_estimator(estimator) -> None:
    """Every scikit-learn estimator check passes; only ``SKLEARN_SKIPS`` are skipped."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results
              if r["status"] == "failed"]
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert not failed
    assert skipped <= SKLEARN_SKIPS
    assert len(results) > 40


def test_check_estimator_passes():
    _passes_check_estimator(CircuitClassifier(hidden=4, epochs=3, lr=0.1))


def test_pipeline_partial_fit_and_export():
    data = load_dataset("moons", n_samples=200, seed=0)
    model = make_pipeline(StandardScaler(), CircuitClassifier(hidden=6, epochs=8))
    model.fit(data.x_train, data.y_train)
    assert model.score(data.x_test, data.y_test) > 0.7  # chance: 0.5
    clf = model[-1]
    assert clf.hardware_name_ == "builtin" and clf.n_iter_ == 8
    proba = model.predict_proba(data.x_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], model.predict(data.x_test))
    # the exported netlist, simulated afresh, predicts the same classes
    xs = model[0].transform(data.x_test)
    net = clf.network_
    circuit = Circuit.from_spice(clf.to_spice())
    out = BuiltinHardware(circuit, net.inputs, net.outputs).settle(net.encode(xs)).outputs
    np.testing.assert_array_equal(clf.classes_[out.argmax(1)], clf.predict(xs))
    # partial_fit continues: labels beyond the first batch's need `classes`
    inc = CircuitClassifier(hidden=6)
    xs_train = model[0].transform(data.x_train)
    first = None
    for _ in range(4):
        inc.partial_fit(xs_train, data.y_train, classes=[0, 1])
        first = first if first is not None else inc.score(xs, data.y_test)
    assert inc.n_iter_ == 4 and inc.score(xs, data.y_test) >= first - 0.02


def test_regressor_check_estimator_passes():
    _passes_check_estimator(CircuitRegressor(hidden=4, epochs=5, lr=0.1))


def test_regressor_learns_and_its_netlist_predicts_the_same():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1.5, 1.5, size=(200, 2))
    y = np.abs(X[:, 0]) - 0.5 * X[:, 1]  # a ReLU network's kind of function
    reg = CircuitRegressor(hidden=16, epochs=15, lr=0.05).fit(X[:150], y[:150])
    assert reg.score(X[150:], y[150:]) > 0.9  # predicting the mean scores 0
    pred = reg.predict(X[150:])
    assert pred.shape == (50,) and reg.n_iter_ == 15
    # the exported netlist, simulated afresh, gives the same predictions
    net = reg.network_
    circuit = Circuit.from_spice(reg.to_spice())
    v = BuiltinHardware(circuit, net.inputs, net.outputs).settle(net.encode(X[150:])).outputs
    np.testing.assert_allclose(reg.mean_ + reg.std_ * v[:, 0] / (0.1 * reg.scale), pred,
                               rtol=0, atol=1e-9 * np.abs(pred).max())
    # two targets: one differential output pair each
    two = CircuitRegressor(hidden=4, epochs=2).fit(X[:50], np.c_[y[:50], -y[:50]])
    assert two.predict(X[:3]).shape == (3, 2)


def test_random_state_as_scikit_learn_reads_it_and_regressor_checks() -> None:
    """``random_state`` may be an int, a RandomState or None (a TypeError once);
    the regressor checks epochs, batch_size and output_scale as the classifier
    does (epochs=-3 once fitted an untrained circuit, batch_size=0 read as 1),
    and refuses targets too large to standardise (predictions were inf)."""
    import numpy as np
    import pytest

    from diodenet.estimators import CircuitClassifier, CircuitRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 2))
    y = (X[:, 0] > 0).astype(int)
    a = CircuitClassifier(hidden=3, epochs=1, random_state=np.random.RandomState(5)).fit(X, y)
    b = CircuitClassifier(hidden=3, epochs=1, random_state=np.random.RandomState(5)).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    CircuitClassifier(hidden=3, epochs=1, random_state=None).fit(X, y)
    t = X[:, 0] - X[:, 1]
    for params, problem in (({"epochs": -3}, "epochs and batch_size must be >= 1"),
                            ({"batch_size": 0}, "epochs and batch_size must be >= 1"),
                            ({"output_scale": 0.0}, "output_scale must be a voltage > 0"),
                            ({"random_state": -1}, "random_state must be >= 0")):
        with pytest.raises(ValueError, match=problem):
            CircuitRegressor(**{"hidden": 3, "epochs": 1, **params}).fit(X, t)
    with pytest.raises(ValueError, match="too large to standardise"):
        CircuitRegressor(hidden=3, epochs=1).fit(X[:2], [1e308, -1e308])
    CircuitRegressor(hidden=3, epochs=1, random_state=None).fit(X, t)


def test_partial_fit_keeps_the_first_calls_classes_and_hidden_is_a_count() -> None:
    """scikit-learn's contract: a later partial_fit naming other classes is an
    error (it was ignored); and 2.5 neurons is refused, not trained as 2."""
    import pytest

    X = np.random.default_rng(0).normal(size=(12, 3))
    y = np.array([3, 7, 9] * 4)
    clf = CircuitClassifier(hidden=2, epochs=1, random_state=0)
    clf.partial_fit(X, y, classes=[3, 7, 9])
    clf.partial_fit(X, y, classes=[9, 3, 7])  # the same classes, in another order
    with pytest.raises(ValueError, match=r"differs from the first call's classes_ \[3, 7, 9\]"):
        clf.partial_fit(X, y, classes=[3, 7, 9, 11])
    CircuitClassifier(hidden=2.0, epochs=1).fit(X, y)  # a whole number, written as a float
    for est in (CircuitClassifier(hidden=2.5), CircuitRegressor(hidden=2.5),
                CircuitClassifier(hidden=True), CircuitClassifier(hidden=0)):
        with pytest.raises(ValueError, match="hidden must be a whole number of neurons"):
            est.fit(X, y)
