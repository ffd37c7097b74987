"""Data sets: where rows come from, which rows a rank holds, and their checks.

``load_dataset(name, ...)`` returns this rank's shard of a train and a test
split as a :class:`Dataset` (host NumPy arrays, samples as rows, features
standardised with statistics of the whole training split, reduced over
ranks). Names:

``higgs-sample``  the embedded 35,298 real HIGGS rows (default): train on
                  part 1 (15,688 rows), test on part 2 (19,610 rows).
``higgs``         the full UCI HIGGS data in ``--data-dir`` (HIGGS.npy made by
                  ``admm-xp data fetch higgs``, or HIGGS.csv[.gz]); the official
                  split: the last 500,000 rows are the test set.
``svhn``          SVHN cropped digits in ``--data-dir`` (train/extra/test_32x32.mat),
                  the paper's task: digit 0 against digit 2, train + extra for training.
                  ``svhn10``: all ten digits.
``mnist``, ``fashion-mnist``: the four IDX files in ``--data-dir`` (made by
                  ``admm-xp data fetch mnist``), the official 60,000 / 10,000
                  split, 784 pixel values, ten classes (see :mod:`admm_xp.data.mnist`).
``digits``        scikit-learn's bundled 8 x 8 handwritten digits (1,797 real
                  rows, 64 pixel values 0..16, ten classes; needs scikit-learn):
                  ``train_test_split(test_size=0.3, stratify=y, random_state=0)``,
                  1,257 training and 540 test rows.
``synthetic``, ``synthetic-svhn``, ``synthetic-multiclass``: seeded
                  generators (see :mod:`admm_xp.data.synthetic`).
a file path       the user's CSV (label column first unless ``label_col``) or
                  NPZ (arrays ``X``, rows = samples, and ``y``); with
                  ``test_path`` that file is the test split, otherwise a
                  seeded 20% of the rows (chosen by a hash of the row index
                  alone, so renaming or moving the file keeps the split) is
                  held out. Any two or more distinct whole-number labels are
                  the classes, in sorted order (like scikit-learn's
                  ``classes_``): {3, 7} is a binary task, {1, 2, 5} has three
                  classes; ``Dataset.classes`` keeps the original values.
"""
from __future__ import annotations

import os
from importlib import resources

import numpy as np

from ..runtime.comm import LocalComm
from ..errors import DataError
from . import files, synthetic
from .dataset import Dataset
from .shard import row_range

NAMED = ("higgs-sample", "higgs", "svhn", "svhn10", "mnist", "fashion-mnist", "digits", "synthetic", "synthetic-svhn",
         "synthetic-multiclass")
HIGGS_ROWS = 11_000_000
HIGGS_TEST_ROWS = 500_000


def embedded_higgs_dir():
    return resources.files("admm_xp.data") / "embedded" / "higgs"


# Entry point ------------------------------------------------------------------------
def load_dataset(
    name: str = "higgs-sample",
    *,
    test_path: str | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    data_dir: str | None = None,
    label_col: int = 0,
    seed: int = 0,
    test_fraction: float = 0.2,
    allow_multiclass: bool = True,
    validation: float | None = None,
    standardize: str = "features",
    comm=None,
) -> Dataset:
    """This rank's standardised shard of data set ``name`` (see the module docstring).

    ``validation=f`` carves a seeded fraction f of the *training* rows (chosen
    by a hash of their index, so independent of the rank count) and returns it
    as the test split; the real test split is then never read. Sweeps score
    hyper-parameters this way. ``standardize`` is ``"features"``, ``"global"``
    or ``"none"`` (see :func:`standardise`).
    """
    comm = comm or LocalComm()
    if standardize not in STANDARDIZE:
        raise DataError(f"unknown standardisation {standardize!r}: use one of {', '.join(STANDARDIZE)}")
    if n_train is not None and n_train < 1:
        raise DataError(f"--n-train must be >= 1, got {n_train}")
    if n_test is not None and n_test < 1:
        raise DataError(f"--n-test must be >= 1, got {n_test}")
    if name == "higgs-sample":
        ds = _embedded_higgs(n_train, comm)
    elif name == "higgs":
        ds = _full_higgs(data_dir, n_train, comm)
    elif name in ("svhn", "svhn10"):
        from .svhn import load_svhn

        ds = load_svhn(data_dir, n_train, comm, multiclass=name == "svhn10")
    elif name in ("mnist", "fashion-mnist"):
        from .mnist import load_mnist

        ds = load_mnist(name, data_dir, n_train, comm)
    elif name == "digits":
        ds = _digits(n_train, comm)
    elif name in synthetic.TASKS:
        ds = _synthetic(name, seed, n_train, n_test, comm)
    elif os.path.splitext(name)[1] or os.path.sep in name or os.path.exists(name):
        ds = _user_file(name, test_path, n_train, label_col, seed, test_fraction, comm)
    else:
        raise DataError(f"unknown data set {name!r}: use one of {', '.join(NAMED)} or a path to a .csv/.npz file")
    if validation is not None:
        _carve_validation(ds, validation, seed, comm)
    _validate(ds, comm, allow_multiclass)
    standardise(ds, comm, standardize)
    return ds


# Named sources ----------------------------------------------------------------------
def _embedded_higgs(n_train, comm) -> Dataset:
    root = embedded_higgs_dir()
    n_tr_all = _npy_len(str(root / "part1_y.npy"))
    n_te = _npy_len(str(root / "part2_y.npy"))
    n_tr = min(n_train or n_tr_all, n_tr_all)
    a, b = row_range(n_tr, comm.rank, comm.size)
    c, d = row_range(n_te, comm.rank, comm.size)
    return Dataset(
        name="higgs-sample",
        X_train=files.npy_rows(str(root / "part1_X.npy"), a, b),
        y_train=files.npy_rows(str(root / "part1_y.npy"), a, b),
        X_test=files.npy_rows(str(root / "part2_X.npy"), c, d),
        y_test=files.npy_rows(str(root / "part2_y.npy"), c, d),
        n_train=n_tr, n_test=n_te, train_offset=a, n_classes=2, n_features=28,
        source="embedded UCI HIGGS rows (OpenML 23512 subset; CC BY 4.0): train part1, test part2",
    )


def _npy_len(path: str) -> int:
    return int(np.load(path, mmap_mode="r").shape[0])


def _full_higgs(data_dir, n_train, comm) -> Dataset:
    if not data_dir:
        raise DataError("--dataset higgs needs --data-dir DIR holding HIGGS.npy or HIGGS.csv.gz (admm-xp data fetch higgs --data-dir DIR)")
    npy = os.path.join(data_dir, "HIGGS.npy")
    if os.path.exists(npy):
        total = _npy_len(npy)
        read = lambda s, e: files.npy_rows(npy, s, e)  # noqa: E731
        source = f"UCI HIGGS ({npy})"
    else:
        csv = next((p for p in (os.path.join(data_dir, f) for f in ("HIGGS.csv.gz", "HIGGS.csv")) if os.path.exists(p)), None)
        if csv is None:
            raise DataError(f"{data_dir}: no HIGGS.npy, HIGGS.csv.gz or HIGGS.csv; run `admm-xp data fetch higgs --data-dir {data_dir}`")
        total = HIGGS_ROWS
        read = lambda s, e: files.csv_rows(csv, row_range=(s, e))[0]  # noqa: E731
        source = f"UCI HIGGS ({csv}, streamed; `admm-xp data fetch higgs` converts it to HIGGS.npy for fast loads)"
    n_tr_all = total - HIGGS_TEST_ROWS
    if n_tr_all < 1:
        raise DataError(f"{data_dir}: HIGGS file has {total} rows, fewer than the 500,000 test rows of the official split")
    n_tr = min(n_train or n_tr_all, n_tr_all)
    a, b = row_range(n_tr, comm.rank, comm.size)
    c, d = row_range(HIGGS_TEST_ROWS, comm.rank, comm.size)
    train = read(a, b)
    test = read(n_tr_all + c, n_tr_all + d)
    for part, rows in (("train", train), ("test", test)):
        if rows.ndim != 2 or rows.shape[1] != 29:
            raise DataError(f"{data_dir}: HIGGS rows must have 29 columns (label + 28 features), got shape {rows.shape}")
    return Dataset(
        name="higgs", X_train=train[:, 1:].astype(np.float32), y_train=train[:, 0].astype(np.int64),
        X_test=test[:, 1:].astype(np.float32), y_test=test[:, 0].astype(np.int64),
        n_train=n_tr, n_test=HIGGS_TEST_ROWS, train_offset=a, n_classes=2, n_features=28, source=source,
    )


def digits_split():
    """(X_train, X_test, y_train, y_test) of scikit-learn's 8 x 8 digits: a stratified 70/30 split, seed 0."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise DataError("--dataset digits needs scikit-learn, which is not installed: pip install scikit-learn") from None
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


def _digits(n_train, comm) -> Dataset:
    Xtr, Xte, ytr, yte = digits_split()  # every rank makes the whole (small) split and keeps its rows
    n_tr = min(n_train or len(ytr), len(ytr))
    a, b = row_range(n_tr, comm.rank, comm.size)
    c, d = row_range(len(yte), comm.rank, comm.size)
    return Dataset(
        name="digits", X_train=Xtr[a:b], y_train=ytr[a:b].astype(np.int64), X_test=Xte[c:d],
        y_test=yte[c:d].astype(np.int64), n_train=n_tr, n_test=len(yte), train_offset=a, n_classes=10, n_features=64,
        source="scikit-learn's 8x8 handwritten digits (UCI optdigits test set; 70/30 stratified split, random_state 0)",
    )


def _synthetic(task, seed, n_train, n_test, comm) -> Dataset:
    d, classes, n_tr_default, n_te_default = synthetic.TASKS[task]
    n_tr = n_train or n_tr_default
    n_te = n_test or n_te_default
    a, b = row_range(n_tr, comm.rank, comm.size)
    c, e = row_range(n_te, comm.rank, comm.size)
    Xtr, ytr = synthetic.make_rows(task, seed, "train", a, b)
    Xte, yte = synthetic.make_rows(task, seed, "test", c, e)
    return Dataset(
        name=task, X_train=Xtr, y_train=ytr, X_test=Xte, y_test=yte, n_train=n_tr, n_test=n_te,
        train_offset=a, n_classes=classes, n_features=d, synthetic=True,
        source=f"synthetic ({task}, seed {seed})",
    )


# User files -------------------------------------------------------------------------
def read_labelled_file(path: str, comm, label_col: int = 0, need_labels: bool = True):
    """(X rows, y or None, global index of first row, global row count) of a CSV or NPZ file."""
    lower = path.lower()
    if lower.endswith(".npz"):
        keys = files.npz_keys(path)
        if "X" not in keys:
            raise DataError(f"{path}: has no array 'X' (it has {sorted(keys)}); save features as X (rows = samples) and labels as y")
        shape = files.npz_shape(path, "X")
        n = int(shape[0]) if shape else 0
        a, b = row_range(n, comm.rank, comm.size)
        X, y = agreed(comm, lambda: (files.npz_member(path, "X", a, b), files.npz_member(path, "y", a, b) if "y" in keys else None))
        if y is None and need_labels:
            raise DataError(f"{path}: has no array 'y' of labels; save them as y (0/1 or -1/+1)")
        return X, y, a, n
    if lower.endswith(files.CSV_SUFFIXES) or not lower.endswith((".npy", ".mat")):
        rows, _, first = agreed(comm, lambda: files.csv_rows(path, comm.rank, comm.size))
        count = rows.shape[0]
        if first is None:
            first = comm.exscan(count)
        n = int(sum(comm.allgather(count)))
        widths = {w for w in comm.allgather(rows.shape[1] if count else None) if w is not None}
        if len(widths) > 1:
            raise DataError(f"{path}: rows have different numbers of fields ({sorted(widths)}); fix the file")
        if count == 0:
            width = widths.pop() if widths else 0
            rows = np.zeros((0, width))
        if n == 0:
            raise DataError(f"{path}: has no data rows")
        if not need_labels:
            return rows, None, first, n
        if rows.shape[1] < 2:
            raise DataError(f"{path}: needs a label column and at least one feature column, found {rows.shape[1]} column(s)")
        col = label_col if label_col >= 0 else rows.shape[1] + label_col
        if not 0 <= col < max(rows.shape[1], 1):
            raise DataError(f"{path}: --label-col {label_col} is outside its {rows.shape[1]} columns")
        y = rows[:, col]
        X = np.delete(rows, col, axis=1)
        return X, y, first, n
    raise DataError(f"{path}: unsupported file type; use .csv (label column first) or .npz (arrays X and y)")


def agreed(comm, read):
    """``read()`` on every rank, with the same verdict on all: when it raises a DataError on some rank,
    every rank raises that of the first such rank, naming it (``exc.rank``), so that one line reports it
    and every rank ends at once. A CSV row that a rank could not read is named by its number in the
    whole file (the data rows of the ranks before it are counted)."""
    try:
        out, err = read(), None
        lines = int(out[0].shape[0]) if isinstance(out, tuple) and isinstance(out[0], np.ndarray) else 0
    except files.ChunkRowError as exc:
        out, err, lines = None, exc, exc.lines
    except DataError as exc:
        out, err, lines = None, exc, 0
    if comm.size == 1:
        if err is not None:
            raise DataError(str(err)) from None
        return out
    if isinstance(err, files.ChunkRowError):
        report = err  # rebuilt on every rank, which then knows the rows before it
    else:
        report = None if err is None else str(err)
    reports = comm.allgather((lines, report))
    failed = [r for r, (_, e) in enumerate(reports) if e is not None]
    if not failed:
        return out
    first = failed[0]
    found = reports[first][1]
    if isinstance(found, files.ChunkRowError):
        found = found.at(sum(n for n, _ in reports[:first]) + 1)
    exc = DataError(found)
    exc.rank = first
    raise exc


def _check_rows(path, X, y) -> None:
    if X.ndim != 2:
        raise DataError(f"{path}: features must be a 2-D table (rows = samples), got shape {X.shape}")
    if np.asarray(y).ndim != 1 or len(y) != X.shape[0]:
        raise DataError(f"{path}: {X.shape[0]} feature rows but labels of shape {np.asarray(y).shape}; give one label per row")


def _user_file(path, test_path, n_train, label_col, seed, test_fraction, comm) -> Dataset:
    X, y, first, n = read_labelled_file(path, comm, label_col)
    _check_rows(path, X, y)
    if test_path:
        Xt, yt, _, nt = read_labelled_file(test_path, comm, label_col)
        _check_rows(test_path, Xt, yt)
        if n_train is not None and n_train < n:
            X, y, n = _first_rows(X, y, first, n_train)
        return Dataset(
            name=os.path.basename(path), X_train=X, y_train=y, X_test=Xt, y_test=yt, n_train=n, n_test=nt,
            train_offset=first, n_classes=0, n_features=X.shape[1] if X.ndim == 2 else 0,
            source=f"{path} (test: {test_path})",
        )
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"--test-fraction must be in (0, 1), got {test_fraction}")
    # Hold out rows by a hash of their global index alone: independent of the rank count and of the file's name.
    u = synthetic.uniform(seed, "holdout", first, first + X.shape[0])
    is_test = u < test_fraction
    Xtr, ytr, Xte, yte = X[~is_test], y[~is_test], X[is_test], y[is_test]
    counts = comm.allgather(int(Xtr.shape[0]))
    n_tr = int(sum(counts))
    offset = int(sum(counts[: comm.rank]))
    n_te = int(sum(comm.allgather(int(Xte.shape[0]))))
    if n_train is not None and n_train < n_tr:
        Xtr, ytr, n_tr = _first_rows(Xtr, ytr, offset, n_train)
    return Dataset(
        name=os.path.basename(path), X_train=Xtr, y_train=ytr, X_test=Xte, y_test=yte, n_train=n_tr, n_test=n_te,
        train_offset=offset, n_classes=0, n_features=X.shape[1] if X.ndim == 2 else 0,
        source=f"{path} (seeded {test_fraction:.0%} of rows held out for testing)",
    )


def _carve_validation(ds: Dataset, fraction: float, seed: int, comm) -> None:
    if not 0.0 < fraction < 1.0:
        raise DataError(f"the validation fraction must be in (0, 1), got {fraction}")
    n_local = ds.X_train.shape[0]
    u = synthetic.uniform(seed, ("validation", ds.name), ds.train_offset, ds.train_offset + n_local)
    val = u < fraction
    ds.X_test, ds.y_test = ds.X_train[val], ds.y_train[val]
    ds.X_train, ds.y_train = ds.X_train[~val], ds.y_train[~val]
    counts = comm.allgather(int(ds.X_train.shape[0]))
    ds.train_offset = int(sum(counts[: comm.rank]))
    ds.n_train = int(sum(counts))
    ds.n_test = int(sum(comm.allgather(int(ds.X_test.shape[0]))))
    ds.source += f"; validation = a seeded {fraction:.0%} of the training rows (the test split is not used)"


def _first_rows(X, y, first, n_keep):
    """Keep the rows of global index < n_keep (a rank may keep none: shards may be uneven)."""
    keep = max(0, min(X.shape[0], n_keep - first))
    return X[:keep], y[:keep], n_keep


# Checks and standardisation -------------------------------------------------------------
MAX_CLASS_LABEL = 65_535  # larger "labels" are almost surely a feature column read as labels


def label_values(y, path: str) -> np.ndarray:
    """The distinct labels of ``y`` (sorted int64), after checking that they are class labels:
    finite whole numbers of magnitude up to MAX_CLASS_LABEL."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"{path}: labels must be one value per sample, got shape {y.shape}")
    if not y.size:
        return np.zeros(0, dtype=np.int64)
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool) or np.issubdtype(y.dtype, np.complexfloating):
        raise DataError(f"{path}: labels must be class numbers, got values of type {y.dtype}")
    if not np.all(np.isfinite(y.astype(np.float64))):
        raise DataError(f"{path}: labels contain NaN or inf; remove those rows")
    values = np.unique(y)
    if np.any(values != np.round(values)):
        raise DataError(f"{path}: labels must be class numbers (whole numbers such as 0/1, -1/+1 or 1..C), "
                        f"found {values[:5].tolist()}")
    if np.max(np.abs(values.astype(np.float64))) > MAX_CLASS_LABEL:
        big = values[np.argmax(np.abs(values.astype(np.float64)))]
        raise DataError(f"{path}: label {big!r} is not a class number (whole numbers up to {MAX_CLASS_LABEL:,} in "
                        "magnitude); is the label column the right one?")
    return values.astype(np.int64)


def to_class_indices(y, path: str, classes) -> np.ndarray:
    """Labels ``y`` as indices into ``classes`` (sorted original labels); a label outside them is an error."""
    values = label_values(y, path)
    classes = np.asarray(classes, dtype=np.int64)
    unknown = np.setdiff1d(values, classes)
    if unknown.size:
        raise DataError(f"{path}: label(s) {unknown[:5].tolist()} are not among the classes {classes[:10].tolist()}")
    return np.searchsorted(classes, np.asarray(y).astype(np.int64)).astype(np.int64)


def _validate(ds: Dataset, comm, allow_multiclass: bool) -> None:
    """Check shapes, values and labels (the same verdict on every rank) and map labels to class indices.

    A named data set (``ds.n_classes`` > 0) has classes 0..C-1 whatever rows a
    split holds; a user's file has the distinct labels of its training split
    (all ranks), sorted, as classes: any two or more whole numbers.
    """
    src = ds.name
    for split, X, y in (("training", ds.X_train, ds.y_train), ("test", ds.X_test, ds.y_test)):
        if X.ndim != 2:
            raise DataError(f"{src}: {split} features must be a 2-D table (rows = samples), got shape {X.shape}")
        if y is None or X.shape[0] != np.asarray(y).shape[0]:
            raise DataError(f"{src}: {split} split has {X.shape[0]} feature rows but {0 if y is None else len(y)} labels")
        if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
            raise DataError(f"{src}: {split} features must be real numbers, got dtype {X.dtype}")
    bad = comm.allreduce_scalars([float(np.count_nonzero(~np.isfinite(ds.X_train))), float(np.count_nonzero(~np.isfinite(ds.X_test)))])
    if bad[0] or bad[1]:
        raise DataError(f"{src}: {int(bad[0])} training and {int(bad[1])} test feature values are NaN or inf; clean or impute them first")
    train_values, test_values = agreed(comm, lambda: (label_values(ds.y_train, src), label_values(ds.y_test, src)))
    n_tr = comm.allgather(int(ds.X_train.shape[0]))
    n_te = comm.allgather(int(ds.X_test.shape[0]))
    if sum(n_tr) < 2:
        raise DataError(f"{src}: the training split has {sum(n_tr)} rows; ADMM needs at least 2")
    if sum(n_te) < 1:
        raise DataError(f"{src}: the test split is empty; give --test FILE or more rows")
    widths = {w for w, n in zip(comm.allgather(ds.X_train.shape[1]), n_tr) if n} | {
        w for w, n in zip(comm.allgather(ds.X_test.shape[1]), n_te) if n
    }
    if len(widths) != 1:
        raise DataError(f"{src}: training and test features differ in width ({sorted(widths)}); they must have the same columns")
    ds.n_features = widths.pop()
    if ds.n_features < 1:
        raise DataError(f"{src}: no feature columns")
    seen = np.unique(np.concatenate([np.asarray(v, dtype=np.int64) for v in comm.allgather(train_values.tolist())]))
    if seen.size < 2:
        raise DataError(f"{src}: every training label is {int(seen[0])}; a classifier needs at least two classes "
                        "in the training split (is the label column the right one?)")
    if ds.n_classes > 0:  # a named data set: labels are class indices 0..C-1
        classes = np.arange(ds.n_classes, dtype=np.int64)
    else:
        classes = seen
        if not allow_multiclass and classes.size > 2:
            raise DataError(f"{src}: labels are not binary (found {classes[:6].tolist()}); use two label values")
    unseen = np.setdiff1d(np.unique(np.concatenate([np.asarray(v, dtype=np.int64) for v in comm.allgather(test_values.tolist())])),
                          classes)
    if unseen.size:
        raise DataError(f"{src}: the test split has label(s) {unseen[:5].tolist()} that no training row has "
                        f"(the classes are {classes[:10].tolist()}); give more rows of those classes or remove them")
    ds.y_train = np.searchsorted(classes, np.asarray(ds.y_train).astype(np.int64)).astype(np.int64)
    ds.y_test = np.searchsorted(classes, np.asarray(ds.y_test).astype(np.int64)).astype(np.int64)
    ds.classes, ds.n_classes = classes, int(classes.size)
    ds.n_train, ds.n_test = sum(n_tr), sum(n_te)


STANDARDIZE = ("features", "global", "none")
SCALE_FLOOR = 0.1  # a feature's scale is at least this times the median std of the non-constant features


def standardise(ds: Dataset, comm, mode: str = "features") -> None:
    """Centre and scale the features with statistics of the training split (summed over ranks).

    ``features`` (default): each feature by its own mean and std, the std
    floored at ``SCALE_FLOOR`` (0.1) times the median std of the
    non-constant features. Without the floor a near-constant feature (a
    border pixel that is almost always 0) is blown up to values of order
    sqrt(n); with it no feature is amplified more than ten times as much as
    the typical one, and a feature whose spread is at least a tenth of the
    typical spread (every HIGGS feature) still gets unit variance. A
    constant feature becomes all zeros (its scale is the floor, so a test
    value off that constant is measured in the typical unit).
    ``global``: one mean and one std of all training values, for features in
    one unit such as pixels (their relative brightness is kept).
    ``none``: the values as they are.

    ``ds.mean`` and ``ds.scale`` always hold d entries (one value repeated
    for ``global``; 0 and 1 for ``none``) and are finite: a feature whose
    statistics overflow float64 is refused with a DataError naming it. Test
    rows use the training statistics only.
    """
    if mode not in STANDARDIZE:
        raise DataError(f"unknown standardisation {mode!r}: use one of {', '.join(STANDARDIZE)}")
    d, n = ds.n_features, float(ds.n_train)
    X = ds.X_train.astype(np.float64, copy=False)

    def column_sums(f, block=1 << 16):  # sums of f(rows) over all ranks, a block of rows at a time (bounded memory)
        local = np.zeros(d)
        for i in range(0, X.shape[0], block):
            local += f(X[i : i + block]).sum(axis=0)
        return np.array(comm.allreduce_scalars([*local]))

    with np.errstate(over="ignore", invalid="ignore"):
        feature_mean = column_sums(lambda x: x) / n
        own = column_sums(lambda x: (x - feature_mean) ** 2)  # each feature about its own mean
        centre = {"features": feature_mean, "global": np.full(d, np.mean(feature_mean)), "none": np.zeros(d)}[mode]
        s2 = own if mode == "features" else column_sums(lambda x: (x - centre) ** 2)
    finite = np.isfinite(feature_mean) & np.isfinite(own) & (np.isfinite(s2) if mode == "none" else True)
    _check_magnitudes(ds, comm, finite)
    if mode == "features":
        std = np.sqrt(s2 / n)
        scale = np.maximum(std, scale_floor(std, feature_mean))
    elif mode == "global":
        std = float(np.sqrt(np.sum(s2) / (n * d)))
        if not np.isfinite(std):
            raise DataError(f"{ds.name}: the features together are too large to standardise globally (their sum of "
                            "squares overflows float64); use --standardize features, or rescale the data")
        scale = np.full(d, std if std > 1e-12 * max(1.0, abs(centre[0])) else 1.0)
    else:
        scale = np.ones(d)
    ds.mean, ds.scale, ds.standardize = centre, scale, mode
    ds.X_train = ((X - centre) / scale).astype(np.float64)
    Xt = ds.X_test.astype(np.float64) if ds.X_test.size else ds.X_test.reshape(0, d).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        ds.X_test = (Xt - centre) / scale
    bad = comm.allreduce_scalars([float(np.count_nonzero(~np.isfinite(ds.X_test)))])[0]
    if bad:
        raise DataError(f"{ds.name}: {int(bad)} standardised test values overflow float64 (test features far outside "
                        "the training range); rescale those features in both splits")


def scale_floor(std: np.ndarray, mean: np.ndarray) -> float:
    """``SCALE_FLOOR`` times the median std of the non-constant features (1 when every feature is constant).

    A feature counts as constant when its std is below 1e-12 of its magnitude
    (rounding); it then becomes all zeros whatever its scale.
    """
    varying = std[std > 1e-12 * np.maximum(1.0, np.abs(mean))]
    return SCALE_FLOOR * float(np.median(varying)) if varying.size else 1.0


def _check_magnitudes(ds: Dataset, comm, finite: np.ndarray) -> None:
    """Refuse features whose mean or sum of squares overflows float64 (every rank sees the same sums).

    With ``none`` the sum of squares is the diagonal of the input Gram matrix X X^T, so it must be finite too.
    """
    if finite.all():
        return
    j = int(np.flatnonzero(~finite)[0])
    X = ds.X_train
    peak = comm.allreduce_max(float(np.max(np.abs(X[:, j]))) if X.shape[0] else 0.0)
    more = int(np.count_nonzero(~finite)) - 1
    raise DataError(
        f"{ds.name}: feature {j + 1} (counted from 1, label excluded) holds values up to {peak:.3g}, too large to "
        f"use (its sums of squares overflow float64){f'; so do {more} other feature(s)' if more else ''}; "
        "rescale or drop it (e.g. divide by a power of 10)"
    )
