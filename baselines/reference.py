"""A logistic regression on a named data set, for scale (used by ``admm-xp ablation``).

The network with no hidden layer, a bias, the logistic loss and no penalty,
trained by L-BFGS to convergence (at most 1,000 passes), on NumPy in one
process: the same model scikit-learn's ``LogisticRegression`` fits, up to
its default L2 penalty (C = 1, negligible at these sample counts).
"""
from __future__ import annotations

from admm_xp.runtime.backend import resolve_device
from admm_xp.runtime.comm import LocalComm
from admm_xp.data import load_dataset
from admm_xp.data.device import to_device

from .train import Settings, train


def logistic_regression(ds, epochs: int = 1000):
    """Train on a loaded :class:`admm_xp.data.Dataset`; returns the :class:`baselines.train.TrainResult`."""
    backend = resolve_device("cpu")
    settings = Settings(method="lbfgs", hidden=(), loss="logistic", bias=True, epochs=epochs, eval_every=epochs)
    return train(to_device(ds, backend, "float64"), settings, backend, LocalComm())


def logistic_regression_accuracy(dataset: str, n_train: int | None = None) -> tuple[float, float]:
    """(test accuracy, training seconds) of a logistic regression on ``dataset`` (first ``n_train`` rows)."""
    res = logistic_regression(load_dataset(dataset, n_train=n_train))
    return res.final["test_acc"], res.final["train_s"]
