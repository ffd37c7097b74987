"""A trained network: weights, the feature standardisation and the class labels.

Saved as ``.npz`` (``W1..WL``, ``mean``, ``scale``, ``classes`` and a JSON
``meta`` string) so that ``admm-xp predict`` and :class:`ADMMClassifier.load`
can apply it to raw feature rows. Every method in the project (ADMM and the
baselines) saves the same format.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .runtime.atomic import atomic_open
from .errors import DataError
from .nn import forward
from .runtime.hostio import from_host, to_host

FORMAT = "admm_xp-model-1"
SQUARE_LIMIT = float(np.sqrt(np.finfo(np.float64).max))  # a feature value beyond it cannot be squared in float64


@dataclass
class Network:
    """Weights W_1..W_L (host NumPy, W_l is d_l x (d_{l-1} [+1 bias column])) and preprocessing."""

    weights: list
    bias: bool
    mean: np.ndarray
    scale: np.ndarray
    classes: np.ndarray  # original label values, index = class index
    meta: dict = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    @property
    def layers(self) -> list[int]:
        return [self.n_features] + [int(w.shape[0]) for w in self.weights]

    def standardise(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2:
            raise DataError(f"features must be a 2-D table (rows = samples), got shape {X.shape}")
        if X.shape[1] != self.n_features:
            raise DataError(f"the model expects {self.n_features} features, the data has {X.shape[1]}; use data with the training columns")
        if X.dtype != bool and (not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating)):
            raise DataError(f"features must be real numbers, got dtype {X.dtype}")
        X = X.astype(np.float64, copy=False)
        if not np.all(np.isfinite(X)):
            raise DataError("features contain NaN or inf; clean or impute them first")
        huge = np.abs(X) > SQUARE_LIMIT
        if huge.any():
            r, c = np.argwhere(huge)[0]
            raise DataError(f"row {r + 1}, feature {c + 1} (counted from 1) holds {float(X[r, c]):.3g}, too large to use "
                            "(its square overflows float64, as training refuses); rescale or drop it as the training "
                            "data was")
        with np.errstate(over="ignore", invalid="ignore"):
            Z = (X - self.mean) / self.scale
        _check_finite(Z, "standardised with the training statistics")
        return Z

    def decision_function(self, X, backend=None, dtype: str = "float64", block: int = 1 << 15) -> np.ndarray:
        """Network outputs for raw feature rows: (n,) for a binary task, (n, C) otherwise."""
        from .runtime.backend import resolve_device

        backend = backend or resolve_device("cpu")
        xp, dev = backend.xp, backend.device
        Z = self.standardise(X)
        dt = backend.dtype(dtype)
        W = [from_host(w, xp, dev, dt) for w in self.weights]
        outs = []
        for i in range(0, Z.shape[0], block):
            Xd = from_host(Z[i : i + block].T, xp, dev, dt)
            with np.errstate(over="ignore", invalid="ignore"):  # overflowing rows are refused below
                outs.append(to_host(forward(W, Xd, self.bias, xp)).T)
        scores = np.concatenate(outs) if outs else np.zeros((0, self.weights[-1].shape[0]))
        _check_finite(scores, "through the network")
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict_indices(self, X, **kw) -> np.ndarray:
        s = self.decision_function(X, **kw)
        return (s > 0).astype(np.int64) if s.ndim == 1 else np.argmax(s, axis=1)

    def predict(self, X, **kw) -> np.ndarray:
        return self.classes[self.predict_indices(X, **kw)]

    # Files -------------------------------------------------------------------
    def save(self, path: str) -> None:
        """Write the model atomically (no half-written file on failure)."""
        arrays = {f"W{l + 1}": np.asarray(w) for l, w in enumerate(self.weights)}
        meta = dict(self.meta, format=FORMAT, bias=bool(self.bias), n_layers=len(self.weights))
        with atomic_open(path, "wb") as fh:
            np.savez(fh, mean=self.mean, scale=self.scale, classes=self.classes, meta=np.array(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, path: str) -> "Network":
        if not os.path.exists(path):
            raise DataError(f"{path}: no such model file; train one with `admm-xp train --save-model {path}`")
        if not zipfile.is_zipfile(path):  # np.load would take it for a pickle and say so
            raise DataError(f"{path}: not an admm_xp model file (not an .npz archive); give a file saved with --save-model")
        try:
            with np.load(path, allow_pickle=False) as f:
                meta = json.loads(str(f["meta"]))
                if meta.get("format") != FORMAT:
                    raise ValueError(f"format {meta.get('format')!r}")
                weights = [np.array(f[f"W{l + 1}"]) for l in range(int(meta["n_layers"]))]
                net = cls(weights=weights, bias=bool(meta["bias"]), mean=np.array(f["mean"]), scale=np.array(f["scale"]),
                          classes=np.array(f["classes"]), meta=meta)
        except DataError:
            raise
        except Exception as exc:  # zipfile, KeyError, JSON, ValueError ...
            reason = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
            raise DataError(f"{path}: not an admm_xp model file ({reason}); give a file saved with --save-model") from None
        net._check()
        return net

    def _check(self) -> None:
        d = self.n_features
        for l, w in enumerate(self.weights):
            want = d + (1 if self.bias else 0)
            if w.ndim != 2 or w.shape[1] != want:
                raise DataError(f"model file is inconsistent: W{l + 1} has shape {w.shape}, expected (*, {want})")
            d = w.shape[0]
        if self.scale.shape != self.mean.shape:
            raise DataError("model file is inconsistent: mean and scale differ in shape")
        if not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.scale)) and np.all(self.scale > 0)):
            raise DataError("model file is inconsistent: its feature mean or scale is not finite (or a scale is <= 0); "
                            "train the model again")


def _check_finite(values: np.ndarray, how: str) -> None:
    """Refuse rows whose values overflow (finite features far outside the training range, e.g. 1e300)."""
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1))
        raise DataError(f"{rows.size} row(s) overflow float64 {how} (the first: row {rows[0] + 1}, counted from 1): "
                        "their feature values are far outside the training range; rescale them as the training "
                        "data was")
