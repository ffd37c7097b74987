"""Cholesky factors of singular Gram matrices: the jitter fallback, and clear errors when a matrix is truly not PSD."""
from __future__ import annotations

import numpy as np
import pytest

from admm_xp.runtime import linalg
from admm_xp.errors import DataError, DivergenceError
from admm_xp.runtime.hostio import from_host
from conftest import to_np

TOL = {"float32": 2e-4, "float64": 1e-9}


def _design(rng, kind):
    """Features as rows (d x n) with a zero row (a constant feature, standardised) or two identical rows."""
    X = rng.normal(size=(6, 300))
    if kind == "zero":
        X[2] = 0.0
    else:
        X[4] = X[1]
    return X


def _solve(backend, G, b, dtype):
    xp = backend.xp
    Gd = from_host(G, xp, backend.device, backend.dtype(dtype))
    L = linalg.cholesky(Gd, xp, what=linalg.INPUT_GRAM)
    w = linalg.cho_solve(L, from_host(b[:, None], xp, backend.device, backend.dtype(dtype)), xp)
    return to_np(L).astype(np.float64), to_np(w)[:, 0].astype(np.float64)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_gram_matrix_with_a_constant_feature_factors_after_jitter(backend, rng, dtype):
    X = _design(rng, "zero")
    G = X @ X.T
    assert linalg._try_cholesky(G.astype(dtype), np) is None  # a zero pivot: the plain factorisation fails
    b = X @ rng.normal(size=300)  # in the range of G, as X z^T is
    L, w = _solve(backend, G, b, dtype)
    scale = np.trace(G) / 6
    assert np.max(np.abs(L @ L.T - G)) <= 1e-4 * scale * 1.01  # at most the largest jitter was added
    keep = [0, 1, 3, 4, 5]
    ref = np.linalg.solve(G[np.ix_(keep, keep)], b[keep])  # the well-conditioned part
    assert np.max(np.abs(w[keep] - ref)) <= TOL[dtype] * np.max(np.abs(ref))
    assert abs(w[2]) <= TOL[dtype] * np.max(np.abs(ref))  # the constant feature gets no weight


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_gram_matrix_with_duplicated_features_factors_and_solves(backend, rng, dtype):
    X = _design(rng, "dup")
    G = X @ X.T
    b = X @ rng.normal(size=300)
    L, w = _solve(backend, G, b, dtype)
    scale = np.trace(G) / 6
    assert np.max(np.abs(L @ L.T - G)) <= 1e-4 * scale * 1.01
    keep = [0, 1, 2, 3, 5]  # feature 5 (index 4) duplicates feature 2 (index 1)
    ref = np.linalg.solve(G[np.ix_(keep, keep)], b[keep])
    merged = w[keep].copy()
    merged[1] = w[1] + w[4]  # the pair shares the weight of the one feature
    assert np.max(np.abs(merged - ref)) <= TOL[dtype] * np.max(np.abs(ref))
    np.testing.assert_allclose(X.T @ w, X[keep].T @ ref, atol=TOL[dtype] * np.max(np.abs(X[keep].T @ ref)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_smallest_jitter_above_rounding_is_used(backend, rng, dtype):
    xp = backend.xp
    X = _design(rng, "zero")
    G = X @ X.T
    L, level = linalg.jittered_cholesky(from_host(G, xp, backend.device, backend.dtype(dtype)), xp)
    assert L is not None and level == {"float32": 1e-6, "float64": 1e-10}[dtype]


def test_a_truly_indefinite_matrix_still_stops_with_a_clear_error(backend):
    xp = backend.xp
    A = np.diag([3.0, 2.0, -1.0, 1.0])  # an eigenvalue of -1: no jitter up to 1e-4 of the mean helps
    Ad = from_host(A, xp, backend.device, backend.dtype("float64"))
    with pytest.raises(DivergenceError) as err:
        linalg.cholesky(Ad, xp)
    msg = str(err.value)
    assert "not positive definite even with a diagonal jitter of 0.0001" in msg and "gamma/beta" in msg and "\n" not in msg
    with pytest.raises(DivergenceError, match="layer 2's Gram matrix is not positive definite"):
        linalg.cholesky(Ad, xp, what="layer 2's Gram matrix")


def test_the_input_gram_error_names_the_data_not_the_penalties():
    A = np.diag([3.0, 0.0, -1.0, 1.0])
    A[3, 0] = A[0, 3] = 3.0  # feature 4 duplicates feature 1
    A[3, 3] = 3.0
    with pytest.raises(DataError) as err:
        linalg.cholesky(A, np, what=linalg.INPUT_GRAM)
    msg = str(err.value)
    assert msg.startswith("the input Gram matrix X X^T is not positive definite")
    assert "constant feature(s) 2" in msg and "duplicated features 1 and 4" in msg
    assert "gamma and beta do not touch X X^T" in msg and "--weight-decay" in msg and "larger gamma" not in msg
    with pytest.raises(DataError, match="NaN or inf"):
        linalg.cholesky(np.array([[np.inf, 0.0], [0.0, 1.0]]), np, what=linalg.INPUT_GRAM)


def test_paper_preset_in_float32_runs_on_image_like_data(tmp_path, monkeypatch):
    """Constant border pixels and pixels that are averages of others make X X^T singular; in float32, rounding
    makes it indefinite. The run used to stop before iteration 1, blaming gamma and beta."""
    from admm_xp.cli.main import main

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (1500, 60)).astype(float)
    X[:, :10] = 0.0
    for j in range(10):
        X[:, 40 + j] = 0.5 * X[:, 20 + j] + 0.5 * X[:, 30 + j]
    np.savez(tmp_path / "img.npz", X=X, y=(X[:, 25] > 127).astype(int))
    args = ["train", "--dataset", str(tmp_path / "img.npz"), "--preset", "paper", "--dtype", "float32",
            "--hidden", "20", "--iters", "2", "--quiet"]
    assert main(args) == 0
    monkeypatch.setattr(linalg, "jittered_cholesky", lambda A, xp, levels=None: (None, None))
    assert main(args) != 0  # without the jitter: the old failure


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_backend_reports_a_failed_factorisation(backend, dtype):
    """A matrix that is not positive definite gives no factor on any backend (CuPy, GPU included: its
    cholesky returns a NaN factor silently unless run under cupyx.errstate(linalg="raise")); the fallback
    then decides (jitter, or a one-line error) instead of solving with garbage."""
    xp = backend.xp
    A = from_host(np.diag([2.0, -1.0, 1.0]), xp, backend.device, backend.dtype(dtype))
    assert linalg._try_cholesky(A, xp) is None
    S = from_host(np.array([[4.0, 2.0], [2.0, 3.0]]), xp, backend.device, backend.dtype(dtype))
    L = to_np(linalg._try_cholesky(S, xp)).astype(np.float64)
    np.testing.assert_allclose(L @ L.T, [[4.0, 2.0], [2.0, 3.0]], rtol=1e-6)
    assert np.all(np.isfinite(L)) and np.allclose(np.triu(L, 1), 0)
