"""The scikit-learn style API."""
from __future__ import annotations

import numpy as np
import pytest

from admm_xp import ADMMClassifier, ConfigError, DataError, load_model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1200, 4)) * [1, 10, 0.1, 3] + [5, 0, 0, -2]  # unscaled features
    y = np.where(X[:, 0] - 5 + (X[:, 1] / 10) > 0, "yes", "no")
    return X[:900], y[:900], X[900:], y[900:]


def test_fit_predict_score_with_any_two_labels(data):
    Xtr, ytr, Xte, yte = data
    clf = ADMMClassifier(hidden=(16,), iters=25).fit(Xtr, ytr, eval_set=(Xte, yte))
    assert list(clf.classes_) == ["no", "yes"]
    pred = clf.predict(Xte)
    assert set(pred) <= {"no", "yes"}
    assert clf.score(Xte, yte) == pytest.approx(np.mean(pred == yte))
    assert clf.score(Xte, yte) > 0.85
    assert clf.history_[-1]["test_acc"] == pytest.approx(clf.score(Xte, yte))
    assert len(clf.history_) == 26 and clf.n_iter_ == 25 and clf.n_features_in_ == 4
    scores = clf.decision_function(Xte)
    assert scores.shape == (300,)
    np.testing.assert_array_equal(np.where(scores > 0, "yes", "no"), pred)


def test_save_and_load_round_trip(data, tmp_path):
    Xtr, ytr, Xte, _ = data
    clf = ADMMClassifier(hidden=(8,), iters=5).fit(Xtr, ytr)
    clf.save(tmp_path / "m.npz")
    again = load_model(str(tmp_path / "m.npz"))
    np.testing.assert_allclose(again.decision_function(Xte), clf.decision_function(Xte))
    assert "test_acc" not in clf.history_[-1]  # no eval_set: no test accuracy is claimed


def test_params_and_errors(data):
    Xtr, ytr, Xte, _ = data
    clf = ADMMClassifier(hidden=(8,))
    assert clf.get_params()["hidden"] == (8,)
    assert clf.set_params(iters=3).iters == 3
    with pytest.raises(ConfigError, match="not fitted"):
        clf.predict(Xte)
    with pytest.raises(DataError, match="at least two classes"):
        clf.fit(Xtr, np.zeros(len(Xtr)))
    with pytest.raises(ConfigError, match="gamma"):
        ADMMClassifier(gamma=-1).fit(Xtr, ytr)
    clf.fit(Xtr, ytr)
    with pytest.raises(DataError, match="expects 4 features"):
        clf.predict(Xte[:, :3])


def test_fit_on_another_backend_matches_numpy(data):
    Xtr, ytr, Xte, _ = data
    a = ADMMClassifier(hidden=(8,), iters=4).fit(Xtr, ytr)
    b = ADMMClassifier(hidden=(8,), iters=4, device="array-api-strict:device1").fit(Xtr, ytr)
    np.testing.assert_allclose(a.decision_function(Xte), b.decision_function(Xte), rtol=1e-7, atol=1e-9)


def test_multiclass_one_vs_rest(data):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1500, 5))
    y = np.argmax(X[:, :3] + 0.2 * rng.normal(size=(1500, 3)), axis=1) * 10  # labels 0, 10, 20
    clf = ADMMClassifier(hidden=(20,), iters=30).fit(X[:1200], y[:1200], eval_set=(X[1200:], y[1200:]))
    assert list(clf.classes_) == [0, 10, 20]
    assert clf.decision_function(X[1200:]).shape == (300, 3)
    assert clf.score(X[1200:], y[1200:]) > 0.8  # chance is 1/3


def test_paper_preset_is_the_plain_method(data):
    Xtr, ytr, _, _ = data
    paper = ADMMClassifier(hidden=(8,), preset="paper", iters=3).fit(Xtr, ytr)
    explicit = ADMMClassifier(hidden=(8,), preset="default", gamma=10.0, beta=1.0, weight_decay=0.0, iters=3).fit(Xtr, ytr)
    np.testing.assert_array_equal(paper.network_.weights[0], explicit.network_.weights[0])
    assert paper.network_.meta["config"]["preset"] == "paper"
