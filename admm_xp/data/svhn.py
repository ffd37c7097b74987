"""SVHN cropped digits (Netzer et al. 2011) from the official .mat files.

Files (``admm-xp data fetch svhn --data-dir DIR``): train_32x32.mat,
extra_32x32.mat, test_32x32.mat; ``X`` is (32, 32, 3, N) uint8 and ``y``
(N, 1) in 1..10, where 10 means digit 0.

``svhn``: the paper's binary task as we read its description, digit 0
(class 0) against digit 2 (class 1), training on train + extra and
testing on test (5,893 test digits). ``svhn10``: all ten digits (class =
digit). Features are the 3,072 raw pixel values (standardised later).

A .mat file cannot be read by rows, so each rank reads the files whole and
keeps its own rows of the selection.
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import DataError
from .shard import row_range

FILES = {"train": "train_32x32.mat", "extra": "extra_32x32.mat", "test": "test_32x32.mat"}


def read_mat(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(pixels as rows x 3072 uint8, digits 0..9) of one SVHN .mat file."""
    import scipy.io

    if not os.path.exists(path):
        raise DataError(f"{path}: missing; run `admm-xp data fetch svhn --data-dir {os.path.dirname(path) or '.'}`")
    try:
        mat = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises several types for bad files
        raise DataError(f"{path}: not a readable SVHN .mat file ({str(exc).splitlines()[0][:120]}); download it again") from None
    if "X" not in mat or "y" not in mat:
        raise DataError(f"{path}: has no X and y arrays; is it an SVHN cropped-digits file?")
    X, y = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if X.ndim != 4 or X.shape[:3] != (32, 32, 3) or X.shape[3] != y.shape[0]:
        raise DataError(f"{path}: X has shape {X.shape}, expected (32, 32, 3, N) with N = {y.shape[0]} labels")
    rows = np.ascontiguousarray(np.transpose(X, (3, 0, 1, 2)).reshape(X.shape[3], -1))
    return rows, np.where(y == 10, 0, y).astype(np.int64)


def load_svhn(data_dir, n_train, comm, *, multiclass: bool = False):
    from .dataset import Dataset

    if not data_dir:
        raise DataError("--dataset svhn needs --data-dir DIR holding the SVHN .mat files (admm-xp data fetch svhn --data-dir DIR)")

    def select(X, y):
        if multiclass:
            return X, y
        keep = (y == 0) | (y == 2)
        return X[keep], (y[keep] == 2).astype(np.int64)

    parts = []
    for split in ("train", "extra"):
        path = os.path.join(data_dir, FILES[split])
        if split == "extra" and not os.path.exists(path):
            continue  # train alone still works; noted in the source string
        parts.append(select(*read_mat(path)))
    Xtr = np.concatenate([p[0] for p in parts])
    ytr = np.concatenate([p[1] for p in parts])
    Xte, yte = select(*read_mat(os.path.join(data_dir, FILES["test"])))
    n_tr = min(n_train or len(ytr), len(ytr))
    a, b = row_range(n_tr, comm.rank, comm.size)
    c, d = row_range(len(yte), comm.rank, comm.size)
    used = "train + extra" if len(parts) == 2 else "train only (extra_32x32.mat absent)"
    return Dataset(
        name="svhn10" if multiclass else "svhn",
        X_train=Xtr[a:b].astype(np.float32) / 255.0, y_train=ytr[a:b],
        X_test=Xte[c:d].astype(np.float32) / 255.0, y_test=yte[c:d],
        n_train=n_tr, n_test=len(yte), train_offset=a, n_classes=10 if multiclass else 2, n_features=3072,
        source=f"SVHN cropped digits ({'10 classes' if multiclass else 'digit 0 vs digit 2'}; {used}) in {data_dir}",
    )
