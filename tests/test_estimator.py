"""The scikit-learn estimator: its checks, its parameters, its errors."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from admm_xp import ADMMClassifier, ConfigError, DataError, load_model

try:
    import sklearn  # noqa: F401

    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover
    HAVE_SKLEARN = False

needs_sklearn = pytest.mark.skipif(not HAVE_SKLEARN, reason="scikit-learn is not installed")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1200, 4)) * [1, 10, 0.1, 3] + [5, 0, 0, -2]  # unscaled features
    y = np.where(X[:, 0] - 5 + (X[:, 1] / 10) > 0, "yes", "no")
    return X[:900], y[:900], X[900:], y[900:]


def small(**kw):
    """A quick configuration for tests that fit many times on tiny data (the defaults are the library's)."""
    return ADMMClassifier(**{"hidden": (32,), "max_iter": 30, **kw})


def test_fit_predict_score_with_any_two_labels(data):
    Xtr, ytr, Xte, yte = data
    clf = ADMMClassifier(hidden=(16,), max_iter=25).fit(Xtr, ytr, eval_set=(Xte, yte))
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


def test_save_and_load_round_trip_keeps_the_labels(data, tmp_path):
    Xtr, ytr, Xte, _ = data
    clf = ADMMClassifier(hidden=(8,), max_iter=5).fit(Xtr, ytr)
    clf.save(tmp_path / "m.npz")
    again = load_model(str(tmp_path / "m.npz"))
    np.testing.assert_allclose(again.decision_function(Xte), clf.decision_function(Xte))
    np.testing.assert_array_equal(again.predict(Xte), clf.predict(Xte))
    assert list(again.classes_) == ["no", "yes"]
    assert "test_acc" not in clf.history_[-1]  # no eval_set: no test accuracy is claimed
    assert "test_acc" not in clf.final_


def test_parameters_have_scikit_learns_names():
    params = ADMMClassifier().get_params()
    assert {"max_iter", "random_state", "multiplier_warmup"} <= set(params)
    assert not {"iters", "seed", "warm_start"} & set(params)  # warm_start would clash with scikit-learn's boolean
    for name in ("hidden", "preset", "gamma", "beta", "weight_decay", "bias", "init", "multiplier", "lagrangian",
                 "dual_step", "loss", "residual_balancing", "anderson", "penalty_growth", "target_acc", "device",
                 "dtype", "ridge", "block_size", "eval_every", "standardize", "kernels", "verbose", "comm"):
        assert name in params, name
    assert params["max_iter"] == 100 and params["hidden"] == (300,) and params["preset"] == "default"


def test_parameters_reach_the_solver(data):
    Xtr, ytr, _, _ = data
    clf = small(multiplier_warmup=3, random_state=4, gamma=2.0, max_iter=4).fit(Xtr, ytr)
    cfg = clf.network_.meta["config"]
    assert cfg["warm_start"] == 3 and cfg["seed"] == 4 and cfg["gamma"] == [2.0] and clf.n_iter_ == 4
    other = small(random_state=5, max_iter=4).fit(Xtr, ytr)
    assert not np.array_equal(other.network_.weights[0], small(random_state=4, max_iter=4).fit(Xtr, ytr).network_.weights[0])
    rs = small(random_state=np.random.RandomState(0), max_iter=2).fit(Xtr, ytr)
    assert rs.network_.meta["config"]["seed"] >= 0


def test_params_and_errors(data):
    Xtr, ytr, Xte, _ = data
    clf = ADMMClassifier(hidden=(8,))
    assert clf.get_params()["hidden"] == (8,)
    assert clf.set_params(max_iter=3).max_iter == 3
    with pytest.raises(ConfigError, match="not fitted"):
        clf.predict(Xte)
    with pytest.raises(DataError, match="at least two classes"):
        clf.fit(Xtr, np.zeros(len(Xtr)))
    with pytest.raises(ConfigError, match="gamma"):
        ADMMClassifier(gamma=-1).fit(Xtr, ytr)
    clf.fit(Xtr, ytr)
    with pytest.raises(DataError, match="X has 3 features, but ADMMClassifier is expecting 4 features"):
        clf.predict(Xte[:, :3])


@pytest.mark.parametrize("params,words", [
    ({"hidden": 0}, "hidden must be"),
    ({"hidden": (100, -2)}, "hidden must be"),
    ({"max_iter": -1}, "max_iter must be"),
    ({"eval_every": 0}, "eval_every must be"),
    ({"target_acc": 64}, "target_acc must be"),
    ({"random_state": -3}, "random_state must be"),
    ({"multiplier_warmup": -1}, "warm_start"),
    ({"standardize": "pixels"}, "standardize must be"),
    ({"block_size": 0}, "block_size must be"),
])
def test_api_errors_name_parameters_not_command_line_options(data, params, words):
    Xtr, ytr, _, _ = data
    with pytest.raises(ConfigError) as err:
        small(**params).fit(Xtr, ytr)
    msg = str(err.value)
    assert words in msg and "--" not in msg and "\n" not in msg, msg


def test_solver_messages_are_reworded_for_the_api():
    from admm_xp.estimator import api_words

    assert api_words("try larger --gamma/--beta, --dtype float64 or fewer --warm-start iterations") == \
        "try larger gamma/beta, dtype float64 or fewer multiplier_warmup iterations"
    assert api_words("--iters must be >= 0; --seed 3") == "max_iter must be >= 0; random_state 3"


def test_a_nan_without_eval_set_is_reported_once_with_its_row(data):
    Xtr, ytr, _, _ = data
    X = Xtr.copy()
    X[6, 2] = np.nan
    with pytest.raises(DataError) as err:
        small().fit(X, ytr)
    msg = str(err.value)
    assert "1 NaN" in msg and "row 7, feature 3" in msg and "test" not in msg, msg


def test_values_too_large_to_standardise_are_refused_by_fit_and_predict(data):
    Xtr, ytr, Xte, _ = data
    X = Xtr.copy()
    X[3, 1] = 1e300
    for standardize in (True, "global", False):
        with pytest.raises(DataError, match="rescale"):
            small(standardize=standardize).fit(X, ytr)
    clf = small(max_iter=3).fit(Xtr, ytr)
    Xp = Xte[:5].copy()
    Xp[2, 0] = 1e300
    for method in (clf.predict, clf.decision_function):
        with pytest.raises(DataError, match=r"row 3, feature 1 .* too large .*rescale"):
            method(Xp)


@pytest.mark.parametrize("mode,want", [(True, "features"), ("features", "features"), ("global", "global"),
                                        (False, "none"), ("none", "none")])
def test_standardize_takes_the_data_modules_modes(data, mode, want):
    Xtr, ytr, Xte, _ = data
    clf = small(standardize=mode, max_iter=3).fit(Xtr, ytr)
    net = clf.network_
    if want == "none":
        assert np.all(net.mean == 0) and np.all(net.scale == 1)
    elif want == "global":
        assert np.ptp(net.mean) == 0 and np.ptp(net.scale) == 0
    else:
        np.testing.assert_allclose(net.mean, Xtr.mean(axis=0))


def test_integer_labels_are_classes_and_predict_returns_them(data):
    Xtr, _, Xte, _ = data
    y = np.where(Xtr[:, 0] > 5, 7, 3)
    clf = small().fit(Xtr, y)
    assert list(clf.classes_) == [3, 7] and clf.decision_function(Xte).shape == (300,)
    assert set(clf.predict(Xte)) <= {3, 7}


def test_fit_on_another_backend_matches_numpy(data):
    Xtr, ytr, Xte, _ = data
    a = ADMMClassifier(hidden=(8,), max_iter=4).fit(Xtr, ytr)
    b = ADMMClassifier(hidden=(8,), max_iter=4, device="array-api-strict:device1").fit(Xtr, ytr)
    np.testing.assert_allclose(a.decision_function(Xte), b.decision_function(Xte), rtol=1e-7, atol=1e-9)


def test_multiclass_one_vs_rest(data):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1500, 5))
    y = np.argmax(X[:, :3] + 0.2 * rng.normal(size=(1500, 3)), axis=1) * 10  # labels 0, 10, 20
    clf = ADMMClassifier(hidden=(20,), max_iter=30).fit(X[:1200], y[:1200], eval_set=(X[1200:], y[1200:]))
    assert list(clf.classes_) == [0, 10, 20]
    assert clf.decision_function(X[1200:]).shape == (300, 3)
    assert clf.score(X[1200:], y[1200:]) > 0.8  # chance is 1/3


def test_paper_preset_is_the_plain_method(data):
    Xtr, ytr, _, _ = data
    paper = ADMMClassifier(hidden=(8,), preset="paper", max_iter=3).fit(Xtr, ytr)
    explicit = ADMMClassifier(hidden=(8,), preset="default", gamma=10.0, beta=1.0, weight_decay=0.0, lagrangian="paper",
                              max_iter=3).fit(Xtr, ytr)
    np.testing.assert_array_equal(paper.network_.weights[0], explicit.network_.weights[0])
    assert paper.network_.meta["config"]["preset"] == "paper"


# scikit-learn --------------------------------------------------------------------------
@needs_sklearn
def test_it_is_a_scikit_learn_classifier():
    from sklearn.base import BaseEstimator, ClassifierMixin, is_classifier
    from sklearn.exceptions import NotFittedError

    clf = ADMMClassifier()
    assert isinstance(clf, BaseEstimator) and isinstance(clf, ClassifierMixin) and is_classifier(clf)
    assert clf.__sklearn_tags__().estimator_type == "classifier"
    with pytest.raises(NotFittedError):
        clf.predict(np.zeros((2, 3)))
    clf.set_params(max_iter=3, random_state=1)  # scikit-learn's own set_params
    assert clf.get_params()["max_iter"] == 3


@needs_sklearn
@pytest.mark.parametrize("bad,words", [
    (lambda X, y: (X, None), "requires y to be passed"),
    (lambda X, y: (X[:0], y[:0]), "0 sample(s)"),
    (lambda X, y: (X[:, :0], y), "0 feature(s)"),
    (lambda X, y: (X + 1j, y), "Complex data not supported"),
    (lambda X, y: (X, X[:, 0]), "Unknown label type: continuous"),
    (lambda X, y: (X[:, 0], y), "Reshape your data"),
    (lambda X, y: (X, y[:-1]), "labels"),
])
def test_bad_input_gets_scikit_learns_error(data, bad, words):
    Xtr, ytr, _, _ = data
    X, y = bad(Xtr[:50], ytr[:50])
    with pytest.raises(ValueError) as err:
        small().fit(X, y)
    assert words in str(err.value) and isinstance(err.value, DataError), err.value


@needs_sklearn
def test_lists_sparse_object_and_column_vector_input(data):
    import scipy.sparse
    from sklearn.exceptions import DataConversionWarning

    class _NotAnArray:  # as scikit-learn's checks wrap data: __array__ only, every NumPy function refused
        def __init__(self, data):
            self.data = np.asarray(data)

        def __array__(self, dtype=None, copy=None):
            return self.data

        def __array_function__(self, func, types, args, kwargs):
            raise TypeError(f"Don't want to call array_function {func.__name__}!")

    Xtr, ytr, Xte, _ = data
    X, y = Xtr[:200], ytr[:200]
    ref = small().fit(X, y).predict(Xte)
    np.testing.assert_array_equal(small().fit(X.tolist(), y.tolist()).predict(Xte.tolist()), ref)
    np.testing.assert_array_equal(small().fit(_NotAnArray(X), _NotAnArray(y)).predict(_NotAnArray(Xte)), ref)
    np.testing.assert_array_equal(small().fit(X.astype(object), y).predict(Xte), ref)
    with pytest.warns(DataConversionWarning, match="1d array was expected"):
        col = small().fit(X, y.reshape(-1, 1))
    np.testing.assert_array_equal(col.predict(Xte), ref)
    with pytest.raises(ValueError, match="sparse"):
        small().fit(scipy.sparse.csr_matrix(X), y)
    bad = X.astype(object)
    bad[0, 0] = {"foo": "bar"}
    with pytest.raises(TypeError, match="argument must be .* string.* number"):
        small().fit(bad, y)
    with pytest.raises(DataError, match="multi-output"):
        small().fit(X, np.column_stack([y, y]))


@needs_sklearn
def test_pipeline_grid_search_and_clone(data):
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xtr, ytr, Xte, yte = data
    pipe = make_pipeline(StandardScaler(), small(standardize=False)).fit(Xtr, ytr)
    assert pipe.score(Xte, yte) > 0.85
    grid = GridSearchCV(small(), {"hidden": [(8,), (16,)], "multiplier_warmup": [0, 5]}, cv=2).fit(Xtr[:400], ytr[:400])
    assert set(grid.best_params_) == {"hidden", "multiplier_warmup"} and grid.best_score_ > 0.8
    twin = clone(small(gamma=2.0))
    assert twin.get_params() == small(gamma=2.0).get_params() and not hasattr(twin, "network_")


if HAVE_SKLEARN:
    from sklearn.utils.estimator_checks import parametrize_with_checks

    @parametrize_with_checks([small()], expected_failed_checks=lambda est: {})
    def test_scikit_learn_estimator_checks(estimator, check):
        """Every check of scikit-learn's estimator suite passes (none is declared an expected failure)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            check(estimator)


def test_without_scikit_learn_it_keeps_the_protocol(tmp_path):
    """scikit-learn stays optional: hidden from the import system, the estimator still has get_params,
    set_params, __sklearn_tags__ and NotFittedError, and fits."""
    code = textwrap.dedent("""
        import sys
        sys.modules["sklearn"] = None  # import sklearn now raises ImportError
        import numpy as np
        from admm_xp import ADMMClassifier, ConfigError
        from admm_xp.estimator import HAVE_SKLEARN, NotFittedError
        assert not HAVE_SKLEARN
        clf = ADMMClassifier(hidden=(8,), max_iter=3)
        assert clf.get_params()["max_iter"] == 3 and "random_state" in clf.get_params()
        assert clf.set_params(max_iter=2) is clf and clf.max_iter == 2
        try:
            clf.set_params(iters=5)
            raise SystemExit("set_params took an unknown name")
        except ConfigError:
            pass
        assert clf.__sklearn_tags__().estimator_type == "classifier"
        try:
            clf.predict(np.zeros((2, 3)))
            raise SystemExit("predict before fit")
        except NotFittedError as exc:
            assert isinstance(exc, AttributeError) and isinstance(exc, ConfigError)
        rng = np.random.default_rng(0)
        X = rng.normal(size=(200, 3))
        y = np.where(X[:, 0] > 0, "a", "b")
        assert clf.fit(X, y).score(X, y) > 0.7
        assert repr(clf) == "ADMMClassifier(hidden=(8,), max_iter=2)", repr(clf)
        print("ok")
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_fit_over_ranks_uses_every_ranks_classes_and_rows(data):
    """With a communicator each rank fits on its own rows: classes_ is the union over ranks (here a class
    only rank 1 has), and the model equals one process's on all the rows; a NaN on rank 1 is found by
    every rank and named by its row among all rows."""
    from simcomm import run_ranks

    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 3))
    y = np.where(X[:, 0] > 0.8, "c", np.where(X[:, 0] > 0, "b", "a"))
    y[:200] = np.where(X[:200, 0] > 0, "b", "a")  # rank 0's rows hold no "c"
    X[:200, 0] = np.minimum(X[:200, 0], 0.8)
    one = small(kernels="portable").fit(X, y)
    parts = run_ranks(2, lambda comm: small(kernels="portable", comm=comm).fit(X[200 * comm.rank: 200 * (comm.rank + 1)],
                                                                              y[200 * comm.rank: 200 * (comm.rank + 1)]))
    for p in parts:
        assert list(p.classes_) == ["a", "b", "c"]
        for w1, w2 in zip(one.network_.weights, p.network_.weights):
            np.testing.assert_allclose(w2, w1, rtol=1e-7, atol=1e-9)
    Xn = X.copy()
    Xn[250, 1] = np.nan
    with pytest.raises(DataError, match=r"1 NaN .*row 251, feature 2"):
        run_ranks(2, lambda comm: small(comm=comm).fit(Xn[200 * comm.rank: 200 * (comm.rank + 1)],
                                                       y[200 * comm.rank: 200 * (comm.rank + 1)]))
