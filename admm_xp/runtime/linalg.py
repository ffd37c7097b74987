"""Gap-fillers for what the array API standard lacks: Cholesky solves.

Each function takes ``xp`` and dispatches to a fast path where the backend has
one (SciPy's LAPACK wrappers for NumPy, ``cupyx.scipy.linalg`` for CuPy,
``torch.cholesky_solve`` for PyTorch) and falls back to portable
``xp.linalg`` calls elsewhere (array-api-strict and anything else).

The matrices here are small (d x d with d a layer width), so they are always
factored in float64 when the device has it, whatever the working dtype. A
Gram matrix that is singular (constant or duplicated rows) and made slightly
indefinite by rounding is factored with a small diagonal jitter
(:func:`jittered_cholesky`) instead of stopping the run.
"""
from __future__ import annotations

import array_api_compat as aac
import numpy as np

from ..errors import DataError, DivergenceError


def cholesky(A, xp, *, what: str | None = None):
    """Lower Cholesky factor of the symmetric positive (semi-)definite matrix ``A``.

    A Gram matrix of rows that are constant or duplicated is singular, and
    rounding (a float32 product, above all) can make it slightly indefinite;
    when ``A`` does not factor, :func:`jittered_cholesky` retries with a
    growing diagonal jitter before giving up. ``what`` names the matrix for
    the error: ``INPUT_GRAM`` (the fixed input Gram ``X X^T``, whose failure
    is the data's, never the penalties') or a phrase such as "layer 2's Gram
    matrix". Raises a one-line :class:`DataError` for the input Gram and a
    :class:`DivergenceError` otherwise (no LinAlgError traceback).
    """
    if what == INPUT_GRAM and not _all_finite(A, xp):  # factored once per run: worth a check (LAPACK lets NaN through)
        raise _not_spd_error(A, xp, what)
    L = _try_cholesky(A, xp)
    if L is None and _all_finite(A, xp):
        L, _ = jittered_cholesky(A, xp)
    if L is None:
        raise _not_spd_error(A, xp, what)
    return L


JITTER = (1e-10, 1e-8, 1e-6, 1e-4)  # relative to the mean diagonal, tried in turn
INPUT_GRAM = "input"  # ``what`` of the input Gram X X^T (or [X; 1][X; 1]^T)


def jittered_cholesky(A, xp, levels=JITTER):
    """``(factor, level)`` of ``A + level * mean(diag(A)) * I`` for the first level that factors.

    Levels below the machine epsilon of ``A``'s dtype change nothing and are
    skipped (float32 starts at 1e-6). ``(None, None)`` when even the largest
    fails: the matrix is indefinite beyond rounding (or not finite). A PSD
    matrix always factors at a jitter above its rounding error: constant
    rows then get a tiny positive pivot and duplicated rows share their
    weight, as a ridge of that size would make them.
    """
    d = A.shape[0]
    eps = float(xp.finfo(A.dtype).eps)
    eye = xp.eye(d, dtype=A.dtype, device=aac.device(A))
    scale = xp.sum(xp.linalg.diagonal(A)) / d
    scale = xp.where(scale > 0, scale, xp.ones_like(scale))  # an all-zero matrix still gets positive pivots
    for level in levels:
        if level < eps:
            continue
        L = _try_cholesky(A + (level * scale) * eye, xp)
        if L is not None:
            return L, level
    return None, None


def _try_cholesky(A, xp):
    """The lower Cholesky factor of ``A``, or None when the backend reports it is not positive definite."""
    if aac.is_numpy_namespace(xp):
        import scipy.linalg

        try:
            return xp.asarray(scipy.linalg.cholesky(A, lower=True, check_finite=False))
        except scipy.linalg.LinAlgError:
            return None
    if aac.is_cupy_namespace(xp):
        import cupyx

        try:
            with cupyx.errstate(linalg="raise"):  # CuPy's default returns a garbage factor silently
                return xp.linalg.cholesky(A)
        except Exception as exc:
            if type(exc).__name__ == "LinAlgError":
                return None
            raise
    try:
        return xp.linalg.cholesky(A)
    except Exception as exc:  # backend-specific LinAlgError types
        if type(exc).__name__ in ("LinAlgError", "_LinAlgError", "RuntimeError"):
            return None
        raise


def _all_finite(A, xp) -> bool:
    return bool(xp.all(xp.isfinite(A)))


def _not_spd_error(A, xp, what):
    largest = f"{JITTER[-1]:g}"
    if not _all_finite(A, xp):
        cause = ("the input Gram matrix X X^T has NaN or inf entries: feature values too large for the working dtype; "
                 "rescale the features (--standardize features) or use --dtype float64") if what == INPUT_GRAM else (
                 f"{what or 'a Gram matrix'} has NaN or inf entries (non-finite iterates); "
                 "try larger gamma/beta or --dtype float64")
        return DataError(cause) if what == INPUT_GRAM else DivergenceError(cause)
    if what == INPUT_GRAM:
        found = degenerate_rows(_to_numpy(A))
        cause = f"the input has {found}" if found else "some input features are (nearly) combinations of others"
        return DataError(
            f"the input Gram matrix X X^T is not positive definite even with a diagonal jitter of {largest} of its "
            f"mean: {cause}; gamma and beta do not touch X X^T, so remove constant, duplicated or derived features "
            "or use --weight-decay (e.g. 1)"
        )
    name = what or "a Gram matrix"
    return DivergenceError(
        f"{name} is not positive definite even with a diagonal jitter of {largest} of its mean "
        "(exploding iterates or degenerate data); try larger gamma/beta, --dtype float64, "
        "or check the data for constant and duplicated columns"
    )


def degenerate_rows(G, limit: int = 3) -> str:
    """Words naming the constant and duplicated rows of a Gram matrix ``G`` (host NumPy), counted from 1.

    A row whose diagonal is below 1e-6 of the mean diagonal is constant (a
    standardised constant feature is all zeros; a ridge may have added a
    tiny diagonal); two rows whose
    correlation ``G_ij / sqrt(G_ii G_jj)`` exceeds 1 - 1e-6 in magnitude are
    duplicates (up to a factor). Empty when there is neither.
    """
    import numpy as np

    G = np.asarray(G, dtype=np.float64)
    diag = np.diag(G).copy()
    tiny = 1e-6 * (float(np.mean(np.abs(diag))) if diag.size else 0.0)
    words = []
    zero = np.flatnonzero(np.abs(diag) <= tiny)
    if zero.size:
        words.append(f"constant feature(s) {', '.join(str(i + 1) for i in zero[:limit])}{', ...' if zero.size > limit else ''}")
    live = np.flatnonzero(diag > tiny)
    if live.size > 1:
        s = np.sqrt(diag[live])
        corr = np.abs(G[np.ix_(live, live)]) / np.outer(s, s)
        i, j = np.nonzero(np.triu(corr > 1.0 - 1e-6, k=1))
        if i.size:
            pairs = ", ".join(f"{live[a] + 1} and {live[b] + 1}" for a, b in zip(i[:limit], j[:limit]))
            words.append(f"duplicated features {pairs}{', ...' if i.size > limit else ''}")
    return "; ".join(words) + " (counted from 1)" if words else ""


def _to_numpy(A):
    from .hostio import to_host

    return to_host(A)


def cho_solve(Lf, B, xp):
    """Solve ``(Lf Lf^T) X = B`` given the lower Cholesky factor ``Lf``."""
    if aac.is_numpy_namespace(xp):
        import scipy.linalg

        return xp.asarray(scipy.linalg.cho_solve((Lf, True), B, check_finite=False))
    if aac.is_cupy_namespace(xp):
        from cupyx.scipy.linalg import solve_triangular

        Y = solve_triangular(Lf, B, lower=True)
        return solve_triangular(Lf, Y, lower=True, trans="T")
    if aac.is_torch_namespace(xp):
        import torch

        return torch.cholesky_solve(B, Lf, upper=False)
    # Portable: two general solves against the triangular factors.
    Y = xp.linalg.solve(Lf, B)
    return xp.linalg.solve(xp.matrix_transpose(Lf), Y)


def solve_dtype(xp, device, working_dtype):
    """float64 for the small solves when the device supports it, else the working dtype."""
    try:
        info = xp.__array_namespace_info__()
        if "float64" in info.dtypes(device=device):
            return xp.float64
    except Exception:  # pragma: no cover - namespaces without the inspection API
        return xp.float64
    return working_dtype


def regularised(A, ridge, xp):
    """``A + ridge * mean(diag(A)) * I``: a relative ridge that keeps a PSD Gram matrix SPD.

    A constant or duplicated feature, or fewer samples than features, makes a
    Gram matrix singular; a relative ridge of 1e-10 (the default) changes a
    well-posed least-squares solution by a relative 1e-10 and turns the
    singular case into the minimum-norm-like solution instead of a failure.
    """
    d = A.shape[0]
    eye = xp.eye(d, dtype=A.dtype, device=aac.device(A))
    scale = xp.sum(xp.linalg.diagonal(A)) / d
    # An all-zero Gram (every input zero) still gets a positive pivot.
    scale = xp.where(scale > 0, scale, xp.ones_like(scale))
    return A + (ridge * scale) * eye


def small_ridge_solve(A_upper: list, b: list, reg: float) -> list:
    """``(A + reg * trace(A) / m * I)^{-1} b`` on the host in float64, for a small symmetric m x m
    ``A`` given by its upper triangle row by row (Anderson acceleration's least-squares system)."""
    m = len(b)
    A = np.zeros((m, m))
    k = 0
    for i in range(m):
        for j in range(i, m):
            A[i, j] = A[j, i] = A_upper[k]
            k += 1
    lam = reg * max(np.trace(A) / m, 1e-300)
    return np.linalg.solve(A + lam * np.eye(m), np.array(b))
