"""Seeded synthetic tasks, reproducible row by row.

Every row is a pure function of (seed, task, global row index), drawn with
the counter-based generator of :mod:`admm_xp.runtime.rng`, so each rank can make
just its own rows and the data do not depend on the number of ranks.

``synthetic``        binary, 28 features (HIGGS-shaped): labels from a random
                     teacher MLP (one hidden ReLU layer of 32) plus a linear
                     part, 10% label noise: a linear model cannot fit it all.
``synthetic-svhn``   binary, 3,072 features (SVHN-shaped: 32 x 32 x 3 pixels),
                     two classes differing along a few directions of a
                     low-rank "image" subspace, plus pixel noise.
``synthetic-multiclass`` 10 classes, 64 features, a mixture of class
                     centres seen through a random ReLU map.
"""
from __future__ import annotations

import math

import array_api_compat.numpy as xp_np
import numpy as np

from ..runtime import rng

TASKS = {
    # name: (features, classes, default n_train, default n_test)
    "synthetic": (28, 2, 20_000, 5_000),
    "synthetic-svhn": (3072, 2, 12_000, 3_000),
    "synthetic-multiclass": (64, 10, 20_000, 5_000),
}


def _normal(seed, stream, d, start, stop):
    return np.asarray(rng.gaussian(xp_np, seed, stream, d, start, stop))


def uniform(seed, stream, start, stop):
    """Uniform [0, 1) values for rows ``start:stop`` of the counter-based ``stream`` (independent of sharding)."""
    w1, _ = rng.uniform_words(xp_np, rng.stream_key(seed, stream), 1, start, stop)
    return (np.asarray(w1, dtype=np.float64)[0] + 0.5) / 4294967296.0


def make_rows(task: str, seed: int, split: str, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``start:stop`` of ``task``'s ``split`` ("train" or "test"): (X rows x d float32, y int64)."""
    d, classes, _, _ = TASKS[task]
    base = (task, split)
    G = _normal(seed, base + ("x",), d, start, stop)  # d x n, columns are rows of X
    if task == "synthetic":
        W1 = _normal(seed, (task, "teacher1"), 32, 0, d) / math.sqrt(d)  # 32 x d
        v = _normal(seed, (task, "teacher2"), 1, 0, 32)[0]
        w = _normal(seed, (task, "linear"), 1, 0, d)[0] / math.sqrt(d)
        H = np.maximum(W1 @ G, 0.0)
        centre = float(v @ np.linalg.norm(W1, axis=1)) / math.sqrt(2.0 * math.pi)
        score = v @ H - centre + 0.5 * (w @ G)
        y = (score > 0).astype(np.int64)
        flip = uniform(seed, base + ("noise",), start, stop) < 0.10
        y = np.where(flip, 1 - y, y)
        X = G.T
    elif task == "synthetic-svhn":
        k = 16
        U = _normal(seed, (task, "basis"), d, 0, k) / math.sqrt(k)  # d x k image subspace
        coef = _normal(seed, base + ("coef",), k, start, stop)  # k x n
        y = (uniform(seed, base + ("label",), start, stop) < 0.5).astype(np.int64)
        # classes differ by a shift along two basis directions
        shift = np.zeros((k, 1))
        shift[0, 0], shift[1, 0] = 1.6, -1.1
        coef = coef + np.where(y[None, :] == 1, shift, -shift)
        X = (U @ coef + 0.5 * G).T
    else:  # synthetic-multiclass
        centres = _normal(seed, (task, "centres"), d, 0, classes) * 0.3  # d x C
        y = np.minimum((uniform(seed, base + ("label",), start, stop) * classes).astype(np.int64), classes - 1)
        Z = centres[:, y] + G
        M = _normal(seed, (task, "map"), d, 0, d) / math.sqrt(d)
        X = np.maximum(M @ Z, 0.0).T + 0.3 * Z.T
    return np.ascontiguousarray(X, dtype=np.float32), y.astype(np.int64)
