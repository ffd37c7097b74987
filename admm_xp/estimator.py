"""A scikit-learn estimator: ``ADMMClassifier(hidden=(300,)).fit(X, y)``.

With scikit-learn installed, :class:`ADMMClassifier` is a ``ClassifierMixin,
BaseEstimator`` (``clone``, ``Pipeline``, ``GridSearchCV`` and
``sklearn.utils.estimator_checks`` work); without it, the same class offers
``get_params``/``set_params`` and ``__sklearn_tags__`` itself (scikit-learn
stays optional). Parameters use scikit-learn's names: ``max_iter``,
``random_state``; the multiplier's warm start (the solver's ``warm_start``)
is ``multiplier_warmup``, as scikit-learn's ``warm_start`` means another thing.

Samples are rows at this API (whatever the solver uses inside); labels may be
any two or more values (numbers, strings, booleans): ``classes_`` holds them
sorted, and ``predict`` returns them. Features are standardised with the
training data's statistics (``standardize``), which the saved model keeps.
Bad input raises :class:`~admm_xp.errors.DataError` (a ``ValueError``) or
:class:`~admm_xp.errors.ConfigError` naming the parameter; a method called
before ``fit`` raises :class:`NotFittedError`.
"""
from __future__ import annotations

import contextlib
import inspect
import numbers
import re
import types
import warnings

import numpy as np

from .runtime.comm import LocalComm
from .solver.config import ADMMConfig, default_block_size
from .data.datasets import STANDARDIZE, Dataset, standardise
from .errors import ConfigError, DataError, UserError
from .runtime.hostio import to_host
from .model import Network

try:  # scikit-learn is optional
    from sklearn.base import BaseEstimator as _Base
    from sklearn.base import ClassifierMixin as _Mixin
    from sklearn.exceptions import DataConversionWarning
    from sklearn.exceptions import NotFittedError as _NotFitted

    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised by a test that hides scikit-learn
    HAVE_SKLEARN = False


if not HAVE_SKLEARN:
    class DataConversionWarning(UserWarning):
        """A column-vector ``y`` was given where one label per sample was expected (scikit-learn's name)."""

    class _NotFitted(AttributeError):
        pass

    class _Mixin:
        _estimator_type = "classifier"

    class _Base:
        """``get_params``/``set_params`` from ``__init__``'s signature, as scikit-learn's BaseEstimator."""

        @classmethod
        def _get_param_names(cls) -> list:
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values()
                          if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

        def get_params(self, deep: bool = True) -> dict:
            return {k: getattr(self, k) for k in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for k, v in params.items():
                if k not in valid:
                    raise ConfigError(f"{type(self).__name__} has no parameter {k!r}; its parameters are {', '.join(valid)}")
                setattr(self, k, v)
            return self

        def __repr__(self) -> str:
            default = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
            changed = [f"{k}={v!r}" for k, v in self.get_params().items() if not _same(v, default.get(k))]
            return f"{type(self).__name__}({', '.join(changed)})"


class NotFittedError(ConfigError, _NotFitted):
    """A method that needs a fitted model was called before ``fit`` (scikit-learn's NotFittedError too)."""


class DataTypeError(DataError, TypeError):
    """Input that is not numbers at all (a dict in X, ...): a DataError and, as scikit-learn expects, a TypeError."""


def _same(a, b) -> bool:
    try:
        return bool(a == b) if not isinstance(a, np.ndarray) else False
    except Exception:
        return False


# Words of the command line in messages that the solver shares with it, as this API names them.
API_NAMES = {"--iters": "max_iter", "--seed": "random_state", "--warm-start": "multiplier_warmup"}


def api_words(text: str) -> str:
    """A message written for the command line, with each ``--option`` replaced by this API's parameter name."""
    return re.sub(r"(?<![\w-])--[a-z][a-z0-9-]*", lambda m: API_NAMES.get(m.group(0), m.group(0)[2:].replace("-", "_")),
                  text)


@contextlib.contextmanager
def _api_errors():
    """Re-raise the solver's errors in this API's words (the same exception type and attributes)."""
    try:
        yield
    except UserError as exc:
        words = api_words(str(exc))
        if words == str(exc):
            raise
        try:
            new = type(exc)(words)
        except TypeError:
            raise exc from None
        new.__dict__.update(exc.__dict__)
        raise new from None


class ADMMClassifier(_Mixin, _Base):
    """Classifier: a ReLU network trained by ADMM (Taylor et al. 2016), without gradients.

    Two classes give one output unit (the paper's case), C > 2 classes a
    one-vs-rest output of C units. ``preset`` is ``"default"`` (the best
    configuration measured) or ``"paper"`` (the paper's method exactly); the
    solver parameters mirror :class:`admm_xp.solver.config.ADMMConfig` and, when not
    None, override the preset: ``gamma``, ``beta``, ``multiplier_warmup`` (the
    first K iterations skip the multiplier update; ADMMConfig's
    ``warm_start``), ``weight_decay``, ``bias``, ``init``, ``multiplier``,
    ``lagrangian``, ``dual_step``, ``dual_decay``, ``relu_multiplier_iters``, ``loss``, ``center_layers``, ``first_layer_penalty``, ``forward_restart``, ``layerwise``,
    ``residual_balancing``, ``anderson``, ``penalty_growth``, ``ridge``, ``block_size`` and ``dtype``
    (default float64 on cpu, float32 on cuda). The default preset's ``lagrangian`` is
    ``"auto"``: multipliers on every linear constraint (``"linear"``) for one hidden layer,
    on every constraint (``"full"``) for deeper networks trained whole (``network_.meta["config"]`` shows
    which); its hidden multipliers' step diminishes after iteration 100 (``dual_decay=100``), and
    the linear form keeps the multipliers of ``a_l = h(z_l)`` too for its first 30 iterations
    (``relu_multiplier_iters=30``: it starts as the full form). A network of two or more
    hidden layers trains one hidden layer at a time (``layerwise=30``: 30 iterations for each
    hidden layer but the last, on the fixed layers below it, under a temporary output layer;
    the last hidden layer takes the iterations left). Trained whole (``layerwise=0``), deeper
    networks have centred layers (``center_layers=True``) and a first hidden layer with three
    times the penalties (``first_layer_penalty=3``), and networks of three or more hidden
    layers restart their per-sample variables from the network's forward pass every 10
    iterations (``forward_restart="auto"``); none of these changes a network of one hidden
    layer.

    Run parameters: ``max_iter`` (iterations), ``target_acc`` (stop when the
    ``eval_set`` accuracy reaches it), ``random_state`` (an int >= 0 seeds the
    initialisation; None draws a seed from NumPy's global generator; a
    ``RandomState`` or ``Generator`` gives one), ``device`` (``"cpu"``,
    ``"cuda"``, ...), ``eval_every``, ``standardize`` (True or
    ``"features"``: each feature by its training mean and std; ``"global"``:
    one mean and std for all; False or ``"none"``: raw values), ``kernels``,
    ``verbose`` and ``comm`` (a communicator when each MPI rank fits on its own
    rows). After ``fit``: ``classes_``, ``n_features_in_``, ``n_iter_``,
    ``history_`` (one dict per iteration: time, objective and its parts, train
    and, with ``eval_set``, test accuracy), ``final_`` and ``network_``.
    """

    def __init__(self, hidden=(300,), *, preset="default", gamma=None, beta=None, multiplier_warmup=None,
                 weight_decay=None, bias=None, init=None, multiplier=None, lagrangian=None, dual_step=None, dual_decay=None,
                 relu_multiplier_iters=None, loss=None,
                 center_layers=None, first_layer_penalty=None, forward_restart=None, layerwise=None, residual_balancing=None, anderson=None, penalty_growth=None, max_iter=100, target_acc=None,
                 device="cpu", dtype=None, random_state=0, ridge=1e-10, block_size=None, eval_every=1,
                 standardize=True, kernels="auto", verbose=False, comm=None):
        self.hidden = hidden
        self.preset = preset
        self.gamma = gamma
        self.beta = beta
        self.multiplier_warmup = multiplier_warmup
        self.weight_decay = weight_decay
        self.bias = bias
        self.init = init
        self.multiplier = multiplier
        self.lagrangian = lagrangian
        self.dual_step = dual_step
        self.dual_decay = dual_decay
        self.relu_multiplier_iters = relu_multiplier_iters
        self.loss = loss
        self.center_layers = center_layers
        self.first_layer_penalty = first_layer_penalty
        self.forward_restart = forward_restart
        self.layerwise = layerwise
        self.residual_balancing = residual_balancing
        self.anderson = anderson
        self.penalty_growth = penalty_growth
        self.max_iter = max_iter
        self.target_acc = target_acc
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.ridge = ridge
        self.block_size = block_size
        self.eval_every = eval_every
        self.standardize = standardize
        self.kernels = kernels
        self.verbose = verbose
        self.comm = comm

    # scikit-learn protocol ---------------------------------------------------------
    def __sklearn_tags__(self):
        parent = getattr(super(), "__sklearn_tags__", None)  # scikit-learn >= 1.6
        if parent is not None:
            tags = parent()
            tags.input_tags.sparse = False
            tags.input_tags.allow_nan = False
            tags.target_tags.required = True
            tags.classifier_tags.multi_class = True
            tags.classifier_tags.multi_label = False
            return tags
        return types.SimpleNamespace(  # the same facts, for code that reads tags without scikit-learn
            estimator_type="classifier", requires_fit=True, non_deterministic=False,
            target_tags=types.SimpleNamespace(required=True, one_d_labels=False, two_d_labels=False,
                                              multi_output=False, single_output=True),
            classifier_tags=types.SimpleNamespace(poor_score=False, multi_class=True, multi_label=False),
            input_tags=types.SimpleNamespace(two_d_array=True, sparse=False, allow_nan=False, string=False,
                                             categorical=False, positive_only=False))

    # Settings -----------------------------------------------------------------------
    def _seed(self) -> int:
        rs = self.random_state
        if rs is None:
            return int(np.random.randint(0, 2**31 - 1))
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(0, 2**31 - 1))
        if isinstance(rs, np.random.Generator):
            return int(rs.integers(0, 2**31 - 1))
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool) and rs >= 0:
            return int(rs)
        raise ConfigError(f"random_state must be an integer >= 0, None or a numpy RandomState/Generator, got {rs!r}")

    def _hidden(self) -> tuple:
        h = self.hidden
        widths = (h,) if isinstance(h, numbers.Integral) else h
        try:
            widths = tuple(widths)
        except TypeError:
            widths = None
        if not widths or not all(isinstance(w, numbers.Integral) and not isinstance(w, bool) and w >= 1 for w in widths):
            raise ConfigError(f"hidden must be a width >= 1 or a tuple of them, such as 300 or (100, 50), got {h!r}")
        return tuple(int(w) for w in widths)

    def _standardize_mode(self) -> str:
        mode = self.standardize
        if isinstance(mode, (bool, np.bool_)):
            mode = "features" if mode else "none"
        if not isinstance(mode, str) or mode not in STANDARDIZE:
            raise ConfigError(f"standardize must be True, False or one of {', '.join(repr(m) for m in STANDARDIZE)}, "
                              f"got {self.standardize!r}")
        return mode

    def _run_options(self):
        from .train import RunOptions

        for name, value, low in (("max_iter", self.max_iter, 0), ("eval_every", self.eval_every, 1)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        t = self.target_acc
        if t is not None and not (isinstance(t, numbers.Real) and 0.0 < float(t) <= 1.0):
            raise ConfigError(f"target_acc must be an accuracy in (0, 1], such as 0.64, got {t!r}")
        return RunOptions(iters=int(self.max_iter), target_acc=self.target_acc, eval_every=int(self.eval_every),
                          kernels=self.kernels)

    def _config(self) -> ADMMConfig:
        gpu = str(self.device).startswith("cuda")
        if self.block_size is not None and (not isinstance(self.block_size, numbers.Integral) or self.block_size < 1):
            raise ConfigError(f"block_size must be an integer >= 1 or None, got {self.block_size!r}")
        with _api_errors():
            return ADMMConfig.from_preset(
                self.preset, hidden=self._hidden(), gamma=self.gamma, beta=self.beta, warm_start=self.multiplier_warmup,
                weight_decay=self.weight_decay, bias=self.bias, init=self.init, multiplier=self.multiplier,
                lagrangian=self.lagrangian, dual_step=self.dual_step, dual_decay=self.dual_decay,
                relu_multiplier_iters=self.relu_multiplier_iters, loss=self.loss,
                center_layers=self.center_layers, first_layer_penalty=self.first_layer_penalty,
                forward_restart=self.forward_restart, layerwise=self.layerwise,
                residual_balancing=self.residual_balancing, anderson=self.anderson,
                penalty_growth=self.penalty_growth, seed=self._seed(), ridge=self.ridge,
                dtype=self.dtype or ("float32" if gpu else "float64"),
                block_size=int(self.block_size) if self.block_size is not None else default_block_size(self.device))

    # Fitting ------------------------------------------------------------------------
    def fit(self, X, y, eval_set=None):
        """Train on rows ``X`` (n x d) with labels ``y``; ``eval_set=(X_test, y_test)`` adds test accuracy to history_.

        Under MPI (``comm``) each rank passes its own rows; the classes, the
        checks and the standardisation cover all ranks.
        """
        from .runtime.backend import resolve_device
        from .data.device import to_device
        from .train import train_admm

        with _api_errors():
            comm = self.comm or LocalComm()
            cfg = self._config()
            opts = self._run_options()
            mode = self._standardize_mode()
            backend = resolve_device(self.device)
            X_in = X
            X = _rows(X, "X")
            if y is None:
                raise DataError(f"{type(self).__name__} requires y to be passed, but the target y is None; give one "
                                "label per row of X")
            labels = _labels(y, "y")
            if labels.shape[0] != X.shape[0]:
                raise DataError(f"X has {X.shape[0]} rows but y has {labels.shape[0]} labels; give one label per row")
            n_tr = int(sum(comm.allgather(int(X.shape[0]))))
            if n_tr < 2:
                raise DataError(f"X has {n_tr} sample(s) (shape={X.shape}) while a minimum of 2 is required to fit")
            widths = {w for w, n in zip(comm.allgather(int(X.shape[1])), comm.allgather(int(X.shape[0]))) if n}
            if len(widths) > 1:
                raise DataError(f"X has different numbers of features on different ranks ({sorted(widths)})")
            _check_finite(X, "X", comm, comm.exscan(int(X.shape[0])))
            classes = _union_classes(labels, comm)
            if classes.size < 2:
                raise DataError(f"y has 1 class ({classes[0]!r}); a classifier needs at least two classes")
            cfg = cfg.resolved()  # the default preset's Lagrangian depends on the depth
            idx = np.searchsorted(classes, labels)
            if eval_set is not None:
                if not isinstance(eval_set, (tuple, list)) or len(eval_set) != 2:
                    raise DataError("eval_set must be a pair (X_test, y_test)")
                Xt = _rows(eval_set[0], "eval_set's X")
                yt_raw = _labels(eval_set[1], "eval_set's y")
                if Xt.shape[1] != X.shape[1]:
                    raise DataError(f"eval_set's X has {Xt.shape[1]} features, X has {X.shape[1]}; give the same columns")
                if yt_raw.shape[0] != Xt.shape[0]:
                    raise DataError(f"eval_set's X has {Xt.shape[0]} rows but its y has {yt_raw.shape[0]} labels")
                if int(sum(comm.allgather(int(Xt.shape[0])))) < 1:
                    raise DataError("eval_set has no rows")
                _check_finite(Xt, "eval_set's X", comm, comm.exscan(int(Xt.shape[0])))
                unknown = np.setdiff1d(np.unique(yt_raw), classes) if yt_raw.size else np.zeros(0)
                if unknown.size:
                    raise DataError(f"eval_set's labels {unknown[:3].tolist()} do not occur in y")
                yt = np.searchsorted(classes, yt_raw)
            else:
                Xt, yt = X[:1], idx[:1]  # a placeholder test split (the solver measures one); its accuracy is dropped
            ds = Dataset(name="X", X_train=X, y_train=idx, X_test=Xt, y_test=yt, n_train=n_tr,
                         n_test=int(sum(comm.allgather(int(Xt.shape[0])))), train_offset=comm.exscan(int(X.shape[0])),
                         n_classes=int(classes.size), n_features=int(X.shape[1]), classes=classes)
            standardise(ds, comm, mode)
            dd = to_device(ds, backend, cfg.dtype, hidden=cfg.hidden, block=cfg.block_size,
                           multipliers=cfg.multiplier_arrays)
            progress = None
            if self.verbose and comm.rank == 0:
                from .progress import Progress

                progress = Progress(opts.iters, "admm")
            if eval_set is None:
                opts.target_acc = None
            result = train_admm(dd, cfg, backend, comm, opts, progress=progress)
            if progress is not None:
                progress.close()
        self._check_feature_names(X_in, X, reset=True)  # records feature_names_in_ (and n_features_in_)
        history = result.history
        if eval_set is None:
            for h in history:
                h.pop("test_acc", None)
            for key in ("test_acc", "best_test_acc", "time_to_target_s"):
                result.final.pop(key, None)
        self.history_ = history
        self.final_ = result.final
        self.classes_ = classes
        self.n_features_in_ = int(X.shape[1])
        self.n_iter_ = int(result.state.iteration)
        self.network_ = Network(weights=[to_host(w) for w in result.state.W], bias=cfg.bias, mean=ds.mean,
                                scale=ds.scale, classes=classes, meta={"method": "admm", "config": cfg.to_dict()})
        return self

    def _check_feature_names(self, X_in, X, reset: bool) -> None:
        """scikit-learn's feature-name bookkeeping (``feature_names_in_`` of a DataFrame), where it has it."""
        if not HAVE_SKLEARN:
            return
        try:
            from sklearn.utils.validation import validate_data
        except ImportError:  # scikit-learn < 1.6
            return
        try:
            validate_data(self, X_in if hasattr(X_in, "columns") else X, skip_check_array=True, reset=reset)
        except ValueError as exc:
            raise DataError(str(exc).strip().splitlines()[0]) from None

    # Prediction ---------------------------------------------------------------------
    def _net(self) -> Network:
        if not hasattr(self, "network_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) first")
        return self.network_

    def _features(self, X):
        net = self._net()
        X_in = X
        X = _rows(X, "X")
        self._check_feature_names(X_in, X, reset=False)
        if X.shape[1] != net.n_features:
            raise DataError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting {net.n_features} "
                            "features as input; give rows with the training columns")
        _check_finite(X, "X", LocalComm(), 0)
        return X

    def decision_function(self, X):
        """Network output per row: (n,) with two classes (positive means ``classes_[1]``), (n, C) otherwise."""
        from .runtime.backend import resolve_device

        with _api_errors():
            X = self._features(X)
            return self._net().decision_function(X, backend=resolve_device(self.device))

    def predict(self, X):
        """The class (one of ``classes_``) of each row of ``X``."""
        from .runtime.backend import resolve_device

        with _api_errors():
            X = self._features(X)
            return self._net().predict(X, backend=resolve_device(self.device))

    def score(self, X, y, sample_weight=None) -> float:
        """Mean accuracy on (X, y), weighted by ``sample_weight`` when given."""
        pred = self.predict(X)
        with _api_errors():
            labels = _labels(y, "y")
            if labels.shape[0] != pred.shape[0]:
                raise DataError(f"X has {pred.shape[0]} rows but y has {labels.shape[0]} labels; give one label per row")
            right = (pred == labels).astype(np.float64)
            if sample_weight is None:
                return float(np.mean(right)) if right.size else float("nan")
            w = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
            if w.shape != right.shape:
                raise DataError(f"sample_weight has {w.shape[0]} values for {right.shape[0]} rows")
            return float(np.sum(w * right) / np.sum(w))

    # Files --------------------------------------------------------------------------
    def save(self, path: str) -> None:
        self._net().save(str(path))

    @classmethod
    def load(cls, path: str) -> "ADMMClassifier":
        net = Network.load(str(path))
        cfg = net.meta.get("config", {})
        clf = cls(hidden=tuple(cfg.get("hidden", [w.shape[0] for w in net.weights[:-1]])))
        clf.network_ = net
        clf.classes_ = net.classes
        clf.n_features_in_ = net.n_features
        return clf


def load_model(path: str) -> ADMMClassifier:
    """Load a model saved by ``ADMMClassifier.save`` or ``admm-xp train --save-model``."""
    return ADMMClassifier.load(path)


# Input checks ------------------------------------------------------------------------
def _host(a, what: str):
    """``a`` as a NumPy array: device arrays (CuPy, PyTorch, array-api-strict) copied to the host, anything
    array-like (lists, objects with ``__array__``) converted; sparse matrices are refused."""
    if isinstance(a, np.ndarray):
        return a
    mod = type(a).__module__.split(".")[0]
    if mod == "scipy" and hasattr(a, "tocsr") or hasattr(a, "toarray") and hasattr(a, "nnz"):
        raise DataError(f"{what} is a sparse matrix; sparse input is not supported: pass {what}.toarray()")
    if mod in ("cupy", "torch", "array_api_strict"):
        return to_host(a)
    try:
        return np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} is not an array of numbers ({str(exc).splitlines()[0][:120]})") from None


def _rows(X, what: str) -> np.ndarray:
    """A 2-D float64 array of real, numeric rows (its values are checked by :func:`_check_finite`)."""
    if X is None:
        raise DataError(f"{what} is None; give a 2-D array of rows (samples) and columns (features)")
    X = _host(X, what)
    if X.ndim == 1:
        raise DataError(f"{what} must be a 2-D array (rows = samples), got a 1-D array of shape {X.shape}; Reshape your "
                        f"data with {what}.reshape(-1, 1) if it has one feature, or {what}.reshape(1, -1) if it is "
                        "one sample")
    if X.ndim != 2:
        raise DataError(f"{what} must be a 2-D array (rows = samples, columns = features), got shape {X.shape}")
    if np.issubdtype(X.dtype, np.complexfloating):
        raise DataError(f"Complex data not supported: {what} holds complex numbers; give real features")
    if X.shape[1] == 0:
        raise DataError(f"{what} has 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        try:
            X = X.astype(np.float64)
        except TypeError as exc:
            raise DataTypeError(f"{what} holds values that are not numbers: {exc}") from None
        except ValueError as exc:
            raise DataError(f"{what} holds values that are not numbers ({str(exc)[:120]}); give numeric features") from None
    return X.astype(np.float64, copy=False)


def _check_finite(X: np.ndarray, what: str, comm, offset: int) -> None:
    """Refuse NaN and inf (over all ranks), naming how many and the first (row, feature), counted from 1."""
    bad = ~np.isfinite(X)
    count = int(comm.allreduce_scalars([float(np.count_nonzero(bad))])[0])
    if not count:
        return
    local = np.argwhere(bad)
    first = (offset + int(local[0][0]), int(local[0][1])) if local.size else (np.inf, np.inf)
    firsts = [f for f in comm.allgather(first) if f[0] != np.inf]
    r, c = min(firsts)
    raise DataError(f"{what} contains {count} NaN or infinite value(s) (the first in row {r + 1}, feature {c + 1}, "
                    "counted from 1); clean or impute them first")


def _labels(y, what: str) -> np.ndarray:
    """One class label per sample (numbers, strings or booleans), as a 1-D NumPy array."""
    y = _host(y, what)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(f"A column-vector {what} was passed when a 1d array was expected. Please change the shape of "
                      f"{what} to (n_samples,), for example using ravel().", DataConversionWarning, stacklevel=3)
        y = y.ravel()
    if y.ndim != 1:
        raise DataError(f"{what} must be one label per sample (a 1-D array), got shape {y.shape}; multi-output "
                        "targets are not supported")
    if np.issubdtype(y.dtype, np.complexfloating):
        raise DataError(f"Complex data not supported: {what} holds complex numbers; give class labels")
    if y.dtype == object:
        items = y.tolist()
        if all(isinstance(v, str) for v in items):
            y = np.asarray(items, dtype=str)
        elif all(isinstance(v, (numbers.Real, np.bool_)) for v in items):
            y = np.asarray(items)
        else:
            kinds = sorted({type(v).__name__ for v in items})
            raise DataError(f"Unknown label type: {what} mixes values of types {', '.join(kinds)}; give labels of one "
                            "kind (numbers or strings)")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)):
            raise DataError(f"{what} contains NaN or infinity; remove those rows or give them a class")
        if np.any(y != np.round(y)):
            raise DataError(f"Unknown label type: continuous ({what} holds non-integer numbers such as "
                            f"{y[y != np.round(y)][0]:g}); a classifier needs class labels")
    elif not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool or y.dtype.kind in "US"):
        raise DataError(f"Unknown label type: {what} has dtype {y.dtype}; give numbers or strings as labels")
    return y


def _union_classes(labels: np.ndarray, comm) -> np.ndarray:
    """The sorted distinct labels of all ranks (scikit-learn's ``classes_``)."""
    local = np.unique(labels)
    if comm.size == 1:
        return local
    return np.unique(np.concatenate([np.asarray(v) for v in comm.allgather(local) if len(v)]))
