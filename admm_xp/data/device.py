"""A data set on the solver's device: the training and test shards as arrays of the backend, samples as
columns, moved there once (:func:`to_device`). ADMM (:mod:`admm_xp.train`) and the gradient baselines
both train on a :class:`DeviceData`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import array_api_compat as aac

from ..nn import layer_widths, n_outputs
from ..runtime.gpu import check_fits
from ..runtime.hostio import from_host


@dataclass
class DeviceData:
    """Training and test shards on the solver's device, samples as columns."""

    X: Any
    S: Any  # C x n targets in {-1, +1}
    y: Any  # class indices (int64)
    X_test: Any
    y_test: Any
    n_train: int
    n_test: int
    offset: int
    n_classes: int

    @property
    def n_outputs(self) -> int:
        return n_outputs(self.n_classes)


def targets_pm1(y, n_classes: int, xp, dtype):
    """One-vs-rest targets in {-1, +1}: one row for a binary task, C rows otherwise."""
    if n_classes == 2:
        return xp.astype(2 * y - 1, dtype)[None, :]
    classes = xp.arange(n_classes, dtype=y.dtype, device=aac.device(y))[:, None]
    return xp.astype(2 * xp.astype(classes == y[None, :], xp.int64) - 1, dtype)


def to_device(ds, backend, dtype: str, hidden=None, block: int = 1 << 20, multipliers: int = 0) -> DeviceData:
    """Move a host :class:`~admm_xp.data.Dataset` shard to the backend once (features as columns).

    With ``hidden`` given, first checks that the run fits in the GPU's free
    memory (a one-line error naming the size needed, not a CUDA traceback);
    ``multipliers``: the solver's per-sample multiplier arrays per hidden unit
    (``ADMMConfig.multiplier_arrays``, the most any iteration holds).
    """
    xp, dev = backend.xp, backend.device
    if hidden is not None:
        widths = layer_widths(ds.n_features, hidden, n_outputs(ds.n_classes))
        check_fits(backend, widths, ds.X_train.shape[0], ds.X_test.shape[0], dtype, block, multipliers)
    dt = backend.dtype(dtype)
    X = from_host(ds.X_train.T, xp, dev, dt)
    y = from_host(ds.y_train.astype("int64"), xp, dev)
    Xt = from_host(ds.X_test.T, xp, dev, dt)
    yt = from_host(ds.y_test.astype("int64"), xp, dev)
    return DeviceData(X=X, S=targets_pm1(y, ds.n_classes, xp, dt), y=y, X_test=Xt, y_test=yt, n_train=ds.n_train,
                      n_test=ds.n_test, offset=ds.train_offset, n_classes=ds.n_classes)
