"""Data loading: sources, shards, standardisation, and one-line errors for bad files."""
from __future__ import annotations

import gzip
import os

import numpy as np
import pytest

from admm_xp.data import datasets, files, load_dataset
from admm_xp.errors import DataError
from conftest import EMBEDDED


def test_embedded_higgs_is_the_shared_real_data_with_attribution():
    ds = load_dataset("higgs-sample")
    assert (ds.n_train, ds.n_test, ds.n_features, ds.n_classes) == (15688, 19610, 28, 2)
    assert not ds.synthetic
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(ds.X_train.std(axis=0), 1, atol=1e-9)
    raw = np.load(os.path.join(EMBEDDED, "part2_X.npy"))
    np.testing.assert_allclose(ds.X_test, (raw - ds.mean) / ds.scale, rtol=1e-6)  # test uses train statistics
    readme = open(os.path.join(EMBEDDED, "README.md")).read()
    assert "CC BY 4.0" in readme and "Baldi" in readme
    import hashlib

    for line in open(os.path.join(EMBEDDED, "SHA256SUMS")):
        digest, name = line.split()
        assert hashlib.sha256(open(os.path.join(EMBEDDED, name), "rb").read()).hexdigest() == digest


def test_n_train_takes_the_first_rows():
    ds = load_dataset("higgs-sample", n_train=1000)
    assert ds.n_train == 1000 and ds.X_train.shape == (1000, 28)


def _write_csv(path, X, y, header=False, label_last=False, gz=False):
    rows = np.column_stack([X, y] if label_last else [y, X])
    text = ("f0," + ",".join(f"c{i}" for i in range(X.shape[1])) + "\n") if header else ""
    text += "\n".join(",".join(repr(float(v)) for v in r) for r in rows) + "\n"
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        with open(path, "w") as fh:
            fh.write(text)
    return path


@pytest.mark.parametrize("header", [False, True])
@pytest.mark.parametrize("gz", [False, True])
def test_csv_shards_by_rank_cover_the_file_exactly_once(tmp_path, rng, header, gz):
    X = rng.normal(size=(103, 4))
    y = rng.integers(0, 2, 103)
    path = _write_csv(tmp_path / ("d.csv.gz" if gz else "d.csv"), X, y, header=header, gz=gz)
    for size in (1, 2, 3, 4, 7):
        parts = [files.csv_rows(str(path), r, size)[0] for r in range(size)]
        parts = [p for p in parts if p.size]
        np.testing.assert_allclose(np.concatenate(parts), np.column_stack([y, X]))
    assert files.csv_row_count_and_header(str(path)) == (103, header)
    chunks = list(files.iter_csv_chunks(str(path), chunk_rows=10, start=5, stop=47))
    assert [first for first, _ in chunks] == [5, 15, 25, 35, 45]
    np.testing.assert_allclose(np.concatenate([rows for _, rows in chunks]), np.column_stack([y, X])[5:47])


def test_a_truncated_gzip_csv_is_a_one_line_error(tmp_path, rng):
    path = _write_csv(tmp_path / "d.csv.gz", rng.normal(size=(2000, 4)), rng.integers(0, 2, 2000), gz=True)
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    for read in (lambda: files.csv_row_count_and_header(str(cut)), lambda: files.csv_rows(str(cut), 0, 2)):
        with pytest.raises(DataError, match="truncated or corrupt compressed file"):
            read()


def test_csv_dataset_label_column_and_holdout(tmp_path, rng):
    X = rng.normal(size=(500, 3))
    y = (X[:, 0] > 0).astype(int)
    path = _write_csv(tmp_path / "mine.csv", X, y, label_last=True, header=True)
    ds = load_dataset(str(path), label_col=-1)
    assert ds.n_train + ds.n_test == 500 and 60 < ds.n_test < 140
    assert ds.n_features == 3
    again = load_dataset(str(path), label_col=-1)
    np.testing.assert_array_equal(ds.y_test, again.y_test)  # the holdout is seeded


def test_the_holdout_depends_on_row_indices_only(tmp_path, rng):
    """Renaming good.csv to good.txt (or moving it) keeps the held-out rows: the hash is of the row index alone."""
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] > 0).astype(int)
    a = load_dataset(str(_write_csv(tmp_path / "good.csv", X, y)))
    os.makedirs(tmp_path / "elsewhere")
    os.rename(tmp_path / "good.csv", tmp_path / "elsewhere" / "good.txt")
    b = load_dataset(str(tmp_path / "elsewhere" / "good.txt"))
    np.testing.assert_array_equal(a.X_test, b.X_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert a.n_test == b.n_test and 30 < a.n_test < 90


def test_distinct_integer_labels_are_the_classes_in_sorted_order(tmp_path, rng):
    X = rng.normal(size=(300, 3))
    for labels in ((3, 7), (1, 2, 5), (-4, 0, 9, 12)):
        y = np.asarray(labels)[np.arange(300) % len(labels)]
        np.savez(tmp_path / "l.npz", X=X, y=y)
        ds = load_dataset(str(tmp_path / "l.npz"), test_path=str(tmp_path / "l.npz"))
        assert ds.n_classes == len(labels) and ds.classes.tolist() == list(labels)
        np.testing.assert_array_equal(ds.classes[ds.y_train], y)  # indices into the sorted labels
        np.testing.assert_array_equal(ds.classes[ds.y_test], y)
    y = np.where(np.arange(300) < 298, 3, 8)  # 8 only in the last rows: possibly all held out
    np.savez(tmp_path / "rare.npz", X=X, y=y)
    np.savez(tmp_path / "rare_test.npz", X=X[:5], y=np.array([3, 8, 9, 3, 3]))
    with pytest.raises(DataError, match=r"test split has label\(s\) \[9\] that no training row has"):
        load_dataset(str(tmp_path / "rare.npz"), test_path=str(tmp_path / "rare_test.npz"))


def test_npz_stored_members_are_memory_mapped_by_rows(tmp_path, rng):
    X = rng.normal(size=(50, 5))
    np.savez(tmp_path / "a.npz", X=X, y=np.arange(50))
    np.savez_compressed(tmp_path / "b.npz", X=X, y=np.arange(50))
    for name in ("a.npz", "b.npz"):
        np.testing.assert_array_equal(files.npz_member(str(tmp_path / name), "X", 10, 20), X[10:20])
        assert files.npz_shape(str(tmp_path / name), "X") == (50, 5)


def test_npz_dataset_with_separate_test_file(tmp_path, rng):
    X = rng.normal(size=(80, 4))
    np.savez(tmp_path / "tr.npz", X=X, y=np.where(X[:, 0] > 0, 1, -1))
    np.savez(tmp_path / "te.npz", X=X[:20], y=np.where(X[:20, 0] > 0, 1, -1))
    ds = load_dataset(str(tmp_path / "tr.npz"), test_path=str(tmp_path / "te.npz"))
    assert (ds.n_train, ds.n_test) == (80, 20)
    assert set(np.unique(ds.y_train)) == {0, 1}  # -1/+1 become class indices


def test_synthetic_rows_do_not_depend_on_the_range():
    from admm_xp.data import synthetic

    for task in synthetic.TASKS:
        X, y = synthetic.make_rows(task, 3, "train", 0, 300)
        X2, y2 = synthetic.make_rows(task, 3, "train", 100, 200)
        np.testing.assert_array_equal(X[100:200], X2)
        np.testing.assert_array_equal(y[100:200], y2)
        assert X.shape[1] == synthetic.TASKS[task][0]
        assert len(np.unique(y)) == synthetic.TASKS[task][1]


def test_full_higgs_loader_uses_the_official_split(tmp_path, monkeypatch, rng):
    monkeypatch.setattr(datasets, "HIGGS_TEST_ROWS", 30)
    monkeypatch.setattr(datasets, "HIGGS_ROWS", 100)
    rows = np.column_stack([rng.integers(0, 2, 100), rng.normal(size=(100, 28))]).astype(np.float32)
    np.save(tmp_path / "HIGGS.npy", rows)
    ds = load_dataset("higgs", data_dir=str(tmp_path))
    assert (ds.n_train, ds.n_test) == (70, 30)
    np.testing.assert_array_equal(ds.y_test, rows[70:, 0].astype(int))  # the last rows are the test set
    os.remove(tmp_path / "HIGGS.npy")
    _write_csv(tmp_path / "HIGGS.csv.gz", rows[:, 1:], rows[:, 0], gz=True)
    ds2 = load_dataset("higgs", data_dir=str(tmp_path), n_train=50)
    assert (ds2.n_train, ds2.n_test) == (50, 30)
    np.testing.assert_array_equal(ds2.y_train, rows[:50, 0].astype(int))


def test_svhn_loader_selects_digits_0_and_2(tmp_path, rng):
    import scipy.io

    def make(name, n):
        X = rng.integers(0, 256, (32, 32, 3, n)).astype(np.uint8)
        y = rng.integers(1, 11, (n, 1))
        scipy.io.savemat(tmp_path / name, {"X": X, "y": y})
        return y.ravel()

    y_tr = make("train_32x32.mat", 60)
    y_ex = make("extra_32x32.mat", 40)
    y_te = make("test_32x32.mat", 50)
    ds = load_dataset("svhn", data_dir=str(tmp_path))
    want = lambda y: int(np.sum((y == 10) | (y == 2)))  # noqa: E731
    assert ds.n_train == want(y_tr) + want(y_ex) and ds.n_test == want(y_te)
    assert ds.n_features == 3072
    ten = load_dataset("svhn10", data_dir=str(tmp_path))
    assert ten.n_classes == 10 and ten.n_train == 100


def _rows(bad_line, n=40):
    good = "\n".join(f"{i % 2},{i * 0.1},{i * 0.2}" for i in range(n))
    return bad_line + "\n" + good + "\n"


BAD = {  # file name: (content, words the one-line error must contain)
    "nan.csv": (_rows("1,0.5,nan"), "NaN or inf"),
    "inf.csv": (_rows("1,0.5,inf"), "NaN or inf"),
    "text.csv": (_rows("1,0.5,abc"), "data row 1, field 3: 'abc' is not a number"),
    "ragged.csv": (_rows("1,0.5"), "data row 2 has 3 fields, the rows before it 2"),
    "ragged_later.csv": (_rows("1,0.5,0.2") + "1,0.5\n", "data row 42 has 2 fields, the rows before it 3"),
    "semicolons.csv": ("".join(f"{i % 2};{i};{i * 2}\n" for i in range(30)), "seems to use another separator"),
    "one_class.csv": ("".join(f"1,{i},{i * 2}\n" for i in range(30)), "needs at least two classes"),
    "labels.csv": (_rows("0.5,0.5,0.2"), "labels must be class numbers"),
    "huge_label.csv": (_rows("9.223372036854776e+18,0.5,0.2"), "is not a class number"),  # found by the fuzz test
    "big_label.csv": (_rows("70000,0.5,0.2"), "is not a class number"),
    "one_column.csv": ("1\n0\n1\n", "needs a label column"),
    "empty.csv": ("", "empty"),
    "header_only.csv": ("label,x1,x2\n", "no data rows"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_csv_files_raise_one_line_data_errors(tmp_path, name):
    content, words = BAD[name]
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError) as err:
        load_dataset(str(path))
    msg = str(err.value)
    assert "\n" not in msg and name in msg and words in msg, msg


def test_non_binary_labels_are_rejected_when_multiclass_is_off(tmp_path):
    path = tmp_path / "three.csv"
    path.write_text("\n".join(f"{i % 3},{i},{i * 2}" for i in range(30)) + "\n")
    with pytest.raises(DataError, match="not binary"):
        load_dataset(str(path), allow_multiclass=False)


def test_corrupt_and_mismatched_files(tmp_path, rng):
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="npz"):
        load_dataset(str(tmp_path / "junk.npz"))
    np.savez(tmp_path / "noy.npz", X=rng.normal(size=(10, 3)))
    with pytest.raises(DataError, match="'y'"):
        load_dataset(str(tmp_path / "noy.npz"))
    np.savez(tmp_path / "tr.npz", X=rng.normal(size=(10, 3)), y=np.arange(10) % 2)
    np.savez(tmp_path / "te.npz", X=rng.normal(size=(10, 4)), y=np.arange(10) % 2)
    with pytest.raises(DataError, match="differ in width"):
        load_dataset(str(tmp_path / "tr.npz"), test_path=str(tmp_path / "te.npz"))
    np.savez(tmp_path / "short.npz", X=rng.normal(size=(10, 3)), y=np.arange(9) % 2)
    with pytest.raises(DataError, match="labels"):
        load_dataset(str(tmp_path / "short.npz"), test_path=str(tmp_path / "tr.npz"))
    good = tmp_path / "trunc.npz"
    np.savez(good, X=rng.normal(size=(1000, 3)), y=np.arange(1000) % 2)
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError):
        load_dataset(str(good))
    with pytest.raises(DataError, match="no such file"):
        load_dataset(str(tmp_path / "missing.csv"))
    with pytest.raises(DataError, match="unknown data set"):
        load_dataset("no-such-name")


def test_constant_feature_is_standardised_to_zero(tmp_path, rng):
    X = rng.normal(size=(200, 3))
    X[:, 1] = 5.0
    np.savez(tmp_path / "c.npz", X=X, y=(X[:, 0] > 0).astype(int))
    ds = load_dataset(str(tmp_path / "c.npz"))
    assert np.all(ds.X_train[:, 1] == 0)
    # its scale is the floor (a tenth of the typical std), not 1 in whatever unit the column has
    typical = np.median(np.std(np.load(tmp_path / "c.npz")["X"][:, [0, 2]], axis=0))
    assert 0.05 * typical < ds.scale[1] < 0.2 * typical


# digits ------------------------------------------------------------------------------
def test_digits_is_sklearns_stratified_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    ds = load_dataset("digits", standardize="none")
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    assert (ds.n_train, ds.n_test, ds.n_features, ds.n_classes) == (1257, 540, 64, 10)
    assert ds.X_train.shape == (1257, 64) and ds.X_test.shape == (540, 64)
    assert not ds.synthetic
    np.testing.assert_array_equal(ds.X_train, Xtr)  # the very rows, in sklearn's order
    np.testing.assert_array_equal(ds.X_test, Xte)
    np.testing.assert_array_equal(ds.y_train, ytr)
    np.testing.assert_array_equal(ds.y_test, yte)
    assert set(np.unique(ds.y_train)) == set(range(10))


def test_digits_sharded_over_two_ranks_is_the_whole():
    from simcomm import run_ranks

    one = load_dataset("digits")
    parts = run_ranks(2, lambda comm: load_dataset("digits", comm=comm))
    assert [p.train_offset for p in parts] == [0, 628] and [p.X_train.shape[0] for p in parts] == [628, 629]
    assert all(p.n_train == 1257 and p.n_test == 540 for p in parts)
    np.testing.assert_allclose(np.concatenate([p.X_train for p in parts]), one.X_train, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.concatenate([p.X_test for p in parts]), one.X_test, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(np.concatenate([p.y_train for p in parts]), one.y_train)
    np.testing.assert_array_equal(np.concatenate([p.y_test for p in parts]), one.y_test)
    for p in parts:  # statistics of the whole training split, reduced over the ranks
        np.testing.assert_allclose(p.mean, one.mean, rtol=1e-12)
        np.testing.assert_allclose(p.scale, one.scale, rtol=1e-12)


def test_digits_without_scikit_learn_is_a_one_line_error(monkeypatch):
    import sys

    for mod in ("sklearn", "sklearn.datasets", "sklearn.model_selection"):
        monkeypatch.setitem(sys.modules, mod, None)  # import now raises ImportError
    with pytest.raises(DataError) as err:
        load_dataset("digits")
    assert "pip install scikit-learn" in str(err.value) and "\n" not in str(err.value)


# standardisation ---------------------------------------------------------------------
def _pixels(rng, n=40_000, d=8):
    """Image-like rows: pixels 0..255, and a border pixel that is 255 in one row and 0 elsewhere."""
    X = rng.integers(0, 256, (n, d)).astype(np.float64)
    X[:, 0] = 0.0
    X[17, 0] = 255.0
    return X


def test_a_near_constant_feature_is_not_blown_up(tmp_path, rng):
    X = _pixels(rng)
    y = (X[:, 1] > 127).astype(int)
    Xt = X[:500].copy()
    Xt[3, 0] = 255.0
    np.savez(tmp_path / "tr.npz", X=X, y=y)
    np.savez(tmp_path / "te.npz", X=Xt, y=y[:500])
    unfloored = np.max(np.abs((X[:, 0] - X[:, 0].mean()) / X[:, 0].std()))
    assert unfloored > 150  # plain per-feature standardisation: sqrt(n) = 200
    ds = load_dataset(str(tmp_path / "tr.npz"), test_path=str(tmp_path / "te.npz"))
    assert np.max(np.abs(ds.X_train)) < 40  # 255 / (0.1 * the typical std of about 74)
    assert ds.scale[0] == pytest.approx(datasets.SCALE_FLOOR * np.median(X.std(axis=0)), rel=1e-9)
    np.testing.assert_allclose(ds.X_train[:, 1:].std(axis=0), 1.0, rtol=1e-9)  # ordinary pixels: unit variance
    np.testing.assert_allclose(ds.X_test, (Xt - ds.mean) / ds.scale, rtol=1e-12)  # training statistics only


def test_global_and_no_standardisation(tmp_path, rng):
    X = _pixels(rng, n=2000)
    np.savez(tmp_path / "p.npz", X=X, y=(X[:, 1] > 127).astype(int))
    g = load_dataset(str(tmp_path / "p.npz"), standardize="global")
    Xtr = np.concatenate([g.X_train, g.X_test]) * g.scale + g.mean  # undo: recovers raw rows
    assert g.mean.shape == g.scale.shape == (8,) and np.ptp(g.mean) == 0 and np.ptp(g.scale) == 0
    raw_train = Xtr[: g.n_train]
    assert g.mean[0] == pytest.approx(raw_train.mean(), rel=1e-12) and g.scale[0] == pytest.approx(raw_train.std(), rel=1e-12)
    assert g.standardize == "global" and g.describe()["standardize"] == "global"
    n = load_dataset(str(tmp_path / "p.npz"), standardize="none")
    assert np.all(n.mean == 0) and np.all(n.scale == 1) and set(np.unique(n.X_train[:, 1])) <= set(range(256))
    with pytest.raises(DataError, match="unknown standardisation 'pixels'"):
        load_dataset(str(tmp_path / "p.npz"), standardize="pixels")


@pytest.mark.parametrize("mode", datasets.STANDARDIZE)
def test_the_saved_model_applies_every_standardisation(tmp_path, rng, mode):
    from admm_xp.model import Network

    X = _pixels(rng, n=600)
    np.savez(tmp_path / "p.npz", X=X, y=(X[:, 1] > 127).astype(int))
    ds = load_dataset(str(tmp_path / "p.npz"), standardize=mode)
    net = Network(weights=[np.zeros((1, 8))], bias=False, mean=ds.mean, scale=ds.scale, classes=np.arange(2))
    net.save(str(tmp_path / "m.npz"))
    back = Network.load(str(tmp_path / "m.npz"))
    np.testing.assert_array_equal(back.mean, ds.mean)
    np.testing.assert_array_equal(back.scale, ds.scale)
    assert back.mean.shape == back.scale.shape == (8,)
    assert np.all(np.isfinite(back.mean)) and np.all(np.isfinite(back.scale)) and np.all(back.scale > 0)
    raw_test = ds.X_test * ds.scale + ds.mean  # the held-out raw rows
    np.testing.assert_allclose(back.standardise(raw_test), ds.X_test, atol=1e-9)


def test_a_model_file_with_a_non_finite_scale_is_refused(tmp_path):
    from admm_xp.model import Network

    for mean, scale in ((np.array([0.0, np.inf]), np.ones(2)), (np.zeros(2), np.array([1.0, np.nan])),
                        (np.zeros(2), np.array([1.0, 0.0]))):
        net = Network(weights=[np.zeros((1, 2))], bias=False, mean=mean, scale=scale, classes=np.arange(2))
        net.save(str(tmp_path / "m.npz"))
        with pytest.raises(DataError, match="mean or scale is not finite"):
            Network.load(str(tmp_path / "m.npz"))


@pytest.mark.parametrize("mode", datasets.STANDARDIZE)
def test_values_that_overflow_the_statistics_are_refused(tmp_path, rng, mode):
    X = rng.normal(size=(100, 3))
    X[7, 1] = 1e300  # finite, but its square is not
    np.savez(tmp_path / "big.npz", X=X, y=(X[:, 0] > 0).astype(int))
    with pytest.raises(DataError) as err:
        load_dataset(str(tmp_path / "big.npz"), standardize=mode)
    msg = str(err.value)
    assert "feature 2 " in msg and "1e+300" in msg and "rescale" in msg and "\n" not in msg


def test_cli_train_takes_the_standardisation_into_the_model(tmp_path):
    from admm_xp.cli.main import main
    from admm_xp.model import Network

    model = tmp_path / "m.npz"
    rc = main(["train", "--dataset", "digits", "--standardize", "global", "--hidden", "8", "--iters", "2",
               "--quiet", "--save-model", str(model)])
    assert rc == 0
    net = Network.load(str(model))
    assert net.mean.shape == (64,) and np.ptp(net.mean) == 0 and np.ptp(net.scale) == 0
    assert net.mean[0] == pytest.approx(datasets.digits_split()[0].mean(), rel=1e-12)
