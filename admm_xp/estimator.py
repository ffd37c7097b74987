"""A scikit-learn style estimator: ``ADMMClassifier(hidden=(300,)).fit(X, y)``.

Samples are rows at this API (whatever the solver uses inside); labels may be
any two values (or C integer classes once multi-class is enabled). Features
are standardised with the training data's statistics (``standardize=True``),
which the saved model keeps.
"""
from __future__ import annotations

import numpy as np

from .backend import resolve_device
from .comm import LocalComm
from .config import ADMMConfig, default_block_size
from .data.datasets import Dataset, _validate, standardise
from .errors import ConfigError, DataError
from .hostio import to_host
from .model import Network
from .train import RunOptions, to_device, train_admm


class ADMMClassifier:
    """Classifier: a ReLU network trained by ADMM (Taylor et al. 2016).

    Two classes give one output unit (the paper's case), C > 2 classes a
    one-vs-rest hinge output of C units. ``preset`` is ``"default"`` (the best
    configuration measured) or ``"paper"`` (the paper's method exactly); the
    other parameters mirror :class:`admm_xp.config.ADMMConfig` and, when not
    None, override the preset (``gamma``, ``beta``, ``warm_start``,
    ``weight_decay``, ``bias``, ``init``, ``multiplier``, ``lagrangian``, ``loss``, ``penalty_growth``,
    ``seed``, ``dtype``, ...), plus ``iters``, ``target_acc``, ``device``
    (``"cpu"``, ``"cuda"``, ...), ``eval_every`` and ``verbose``. After ``fit``:
    ``history_`` (one dict per iteration: time, objective and its parts, train
    and, with ``eval_set``, test accuracy), ``classes_``, ``n_features_in_``,
    ``n_iter_`` and ``network_``.
    """

    def __init__(self, hidden=(300,), *, preset="default", gamma=None, beta=None, warm_start=None, weight_decay=None,
                 bias=None, init=None, multiplier=None, lagrangian=None, dual_step=None, loss=None, residual_balancing=None, anderson=None,
                 penalty_growth=None, iters=100, target_acc=None,
                 device="cpu", dtype=None, seed=0, ridge=1e-10, block_size=None, eval_every=1, standardize=True,
                 kernels="auto", verbose=False, comm=None):
        self.hidden = hidden
        self.preset = preset
        self.gamma = gamma
        self.beta = beta
        self.warm_start = warm_start
        self.weight_decay = weight_decay
        self.bias = bias
        self.init = init
        self.multiplier = multiplier
        self.lagrangian = lagrangian
        self.dual_step = dual_step
        self.loss = loss
        self.residual_balancing = residual_balancing
        self.anderson = anderson
        self.penalty_growth = penalty_growth
        self.iters = iters
        self.target_acc = target_acc
        self.device = device
        self.dtype = dtype
        self.seed = seed
        self.ridge = ridge
        self.block_size = block_size
        self.eval_every = eval_every
        self.standardize = standardize
        self.kernels = kernels
        self.verbose = verbose
        self.comm = comm

    # scikit-learn protocol ---------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict:
        return {k: getattr(self, k) for k in (
            "hidden", "preset", "gamma", "beta", "warm_start", "weight_decay", "bias", "init", "multiplier",
            "lagrangian", "dual_step", "loss", "residual_balancing", "anderson", "penalty_growth", "iters", "target_acc", "device", "dtype", "seed", "ridge", "block_size", "eval_every",
            "standardize", "kernels", "verbose", "comm")}

    def set_params(self, **params):
        for k, v in params.items():
            if k not in self.get_params():
                raise ConfigError(f"ADMMClassifier has no parameter {k!r}")
            setattr(self, k, v)
        return self

    def _config(self) -> ADMMConfig:
        gpu = str(self.device).startswith("cuda")
        hidden = (self.hidden,) if isinstance(self.hidden, int) else tuple(self.hidden)
        return ADMMConfig.from_preset(
            self.preset, hidden=hidden, gamma=self.gamma, beta=self.beta, warm_start=self.warm_start,
            weight_decay=self.weight_decay, bias=self.bias, init=self.init, multiplier=self.multiplier,
            lagrangian=self.lagrangian, dual_step=self.dual_step, loss=self.loss,
            residual_balancing=self.residual_balancing, anderson=self.anderson, penalty_growth=self.penalty_growth, seed=self.seed, ridge=self.ridge,
            dtype=self.dtype or ("float32" if gpu else "float64"), block_size=self.block_size or default_block_size(self.device))

    def fit(self, X, y, eval_set=None):
        """Train on rows ``X`` (n x d) with labels ``y``; ``eval_set=(X_test, y_test)`` adds test accuracy to history_."""
        cfg = self._config()
        comm = self.comm or LocalComm()
        backend = resolve_device(self.device)
        X = np.asarray(to_host(X))
        y_raw = np.asarray(to_host(y))
        if y_raw.ndim != 1:
            raise DataError(f"y must be one label per sample, got shape {y_raw.shape}")
        classes = np.unique(y_raw)
        if classes.size < 2:
            raise DataError(f"y must have at least two classes, found {classes.size}")
        idx = np.searchsorted(classes, y_raw)
        if eval_set is not None:
            Xt = np.asarray(to_host(eval_set[0]))
            yt_raw = np.asarray(to_host(eval_set[1]))
            unknown = np.setdiff1d(np.unique(yt_raw), classes)
            if unknown.size:
                raise DataError(f"eval_set labels {unknown[:3].tolist()} do not occur in y")
            yt = np.searchsorted(classes, yt_raw)
        else:
            Xt, yt = X[:1], idx[:1]  # placeholder split; its accuracy is dropped below
        n_tr = int(sum(comm.allgather(int(X.shape[0]))))
        offset = comm.exscan(int(X.shape[0]))
        ds = Dataset(name="array", X_train=X, y_train=idx, X_test=Xt, y_test=yt, n_train=n_tr,
                     n_test=int(sum(comm.allgather(int(Xt.shape[0])))), train_offset=offset, n_classes=int(classes.size),
                     n_features=X.shape[1] if X.ndim == 2 else 0)
        _validate(ds, comm, allow_multiclass=True)
        if self.standardize:
            standardise(ds, comm)
        else:
            d = ds.n_features
            ds.mean, ds.scale = np.zeros(d), np.ones(d)
            ds.X_train, ds.X_test = ds.X_train.astype(np.float64), ds.X_test.astype(np.float64)
        dd = to_device(ds, backend, cfg.dtype, hidden=cfg.hidden, block=cfg.block_size)
        progress = None
        if self.verbose and comm.rank == 0:
            from .progress import Progress

            progress = Progress(self.iters, "admm")
        opts = RunOptions(iters=self.iters, target_acc=self.target_acc if eval_set is not None else None,
                          eval_every=self.eval_every, kernels=self.kernels)
        result = train_admm(dd, cfg, backend, comm, opts, progress=progress)
        if progress is not None:
            progress.close()
        history = result.history
        if eval_set is None:
            for h in history:
                h.pop("test_acc", None)
        self.history_ = history
        self.final_ = result.final
        self.classes_ = classes
        self.n_features_in_ = ds.n_features
        self.n_iter_ = result.state.iteration
        self.network_ = Network(weights=[to_host(w) for w in result.state.W], bias=cfg.bias, mean=ds.mean,
                                scale=ds.scale, classes=classes, meta={"method": "admm", "config": cfg.to_dict()})
        return self

    def _net(self) -> Network:
        if not hasattr(self, "network_"):
            raise ConfigError("this ADMMClassifier is not fitted yet; call fit(X, y) first")
        return self.network_

    def decision_function(self, X):
        """Network output per row: (n,) with two classes (positive means ``classes_[1]``), (n, C) otherwise."""
        return self._net().decision_function(np.asarray(to_host(X)), backend=resolve_device(self.device))

    def predict(self, X):
        return self._net().predict(np.asarray(to_host(X)), backend=resolve_device(self.device))

    def score(self, X, y) -> float:
        """Mean accuracy on (X, y)."""
        return float(np.mean(self.predict(X) == np.asarray(to_host(y))))

    # Files --------------------------------------------------------------------------
    def save(self, path: str) -> None:
        self._net().save(path)

    @classmethod
    def load(cls, path: str) -> "ADMMClassifier":
        net = Network.load(path)
        cfg = net.meta.get("config", {})
        clf = cls(hidden=tuple(cfg.get("hidden", [w.shape[0] for w in net.weights[:-1]])))
        clf.network_ = net
        clf.classes_ = net.classes
        clf.n_features_in_ = net.n_features
        return clf


def load_model(path: str) -> ADMMClassifier:
    """Load a model saved by ``ADMMClassifier.save`` or ``admm-xp train --save-model``."""
    return ADMMClassifier.load(path)
