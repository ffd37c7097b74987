"""MNIST (LeCun et al. 1998) and Fashion-MNIST (Xiao et al. 2017) from their IDX files.

Files (``admm-xp data fetch mnist --data-dir DIR``; the same four names for
Fashion-MNIST, so each data set needs its own folder):
train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (or the same names
without .gz, decompressed).

60,000 training and 10,000 test images of 28 x 28 pixels, labels 0..9 (the
class is the digit, or the Fashion-MNIST garment index). Features are the
784 pixel values as they are (0..255, float32; standardised later). Each
rank reads its own rows of the official split (see :mod:`admm_xp.data.idx`).
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import DataError
from .idx import read_header, read_idx
from .shard import row_range

TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
FILES = {  # split -> (images, labels), without .gz
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def find_file(data_dir: str, stem: str, name: str) -> str:
    """``DIR/stem.gz`` or ``DIR/stem``, or a DataError saying how to fetch it."""
    for path in (os.path.join(data_dir, stem + ".gz"), os.path.join(data_dir, stem)):
        if os.path.isfile(path):
            return path
    raise DataError(f"{data_dir}: no {stem}.gz; run `admm-xp data fetch {name} --data-dir {data_dir}`")


def split_rows(data_dir: str, split: str, name: str, start: int | None, stop: int | None):
    """(pixels as rows x h*w float32, labels as int64) of items start:stop of one split, and its item count."""
    images, labels = (find_file(data_dir, stem, name) for stem in FILES[split])
    hi, hl = read_header(images), read_header(labels)
    if len(hi.shape) != 3:
        raise DataError(f"{images}: holds a {len(hi.shape)}-D array {hi.shape}; {TITLES[name]} images are N x 28 x 28")
    if len(hl.shape) != 1:
        raise DataError(f"{labels}: holds a {len(hl.shape)}-D array {hl.shape}; {TITLES[name]} labels are one per image")
    if hi.shape[0] != hl.shape[0]:
        raise DataError(f"{data_dir}: {hi.shape[0]:,} {split} images but {hl.shape[0]:,} labels; fetch {name} again")
    X = read_idx(images, start, stop)
    y = read_idx(labels, start, stop)
    return X.reshape(X.shape[0], -1).astype(np.float32), y.astype(np.int64), hi.shape[0]


def load_mnist(name: str, data_dir, n_train, comm):
    """This rank's rows of MNIST or Fashion-MNIST (``name`` a key of ``TITLES``) in ``data_dir``."""
    from .dataset import Dataset

    title = TITLES[name]
    if not data_dir:
        raise DataError(f"--dataset {name} needs --data-dir DIR holding the four {title} IDX files "
                        f"(admm-xp data fetch {name} --data-dir DIR)")
    _refuse_the_other_set(name, data_dir)
    n_tr_all = read_header(find_file(data_dir, FILES["train"][0], name)).shape[0]
    n_te = read_header(find_file(data_dir, FILES["test"][0], name)).shape[0]
    n_tr = min(n_train or n_tr_all, n_tr_all)
    a, b = row_range(n_tr, comm.rank, comm.size)
    c, d = row_range(n_te, comm.rank, comm.size)
    Xtr, ytr, _ = split_rows(data_dir, "train", name, a, b)
    Xte, yte, _ = split_rows(data_dir, "test", name, c, d)
    return Dataset(
        name=name, X_train=Xtr, y_train=ytr, X_test=Xte, y_test=yte, n_train=n_tr, n_test=n_te,
        train_offset=a, n_classes=10, n_features=Xtr.shape[1],
        source=f"{title} IDX files in {data_dir} (official split; pixels 0..255)",
    )


def _refuse_the_other_set(name: str, data_dir: str) -> None:
    """The two data sets share file names: name the mix-up instead of training on the wrong one."""
    from .fetch import identify

    path = os.path.join(data_dir, FILES["train"][1] + ".gz")
    owner = identify(path, os.path.basename(path))
    if owner is not None and owner != name:
        raise DataError(f"{data_dir}: holds the {TITLES.get(owner, owner)} files, not {TITLES[name]}; use --dataset {owner}, "
                        f"or fetch {name} into another folder (admm-xp data fetch {name} --data-dir DIR)")
