"""Gap-fillers for what the array API standard lacks: Cholesky solves.

Each function takes ``xp`` and dispatches to a fast path where the backend has
one (SciPy's LAPACK wrappers for NumPy, ``cupyx.scipy.linalg`` for CuPy,
``torch.cholesky_solve`` for PyTorch) and falls back to portable
``xp.linalg`` calls elsewhere (array-api-strict and anything else).

The matrices here are small (d x d with d a layer width), so they are always
factored in float64 when the device has it, whatever the working dtype.
"""
from __future__ import annotations

import array_api_compat as aac

from .errors import DivergenceError


def cholesky(A, xp):
    """Lower Cholesky factor of the SPD matrix ``A``.

    Raises :class:`DivergenceError` (one line, no LinAlgError traceback) when
    ``A`` is not numerically positive definite.
    """
    if aac.is_numpy_namespace(xp):
        import scipy.linalg

        try:
            return xp.asarray(scipy.linalg.cholesky(A, lower=True, check_finite=False))
        except scipy.linalg.LinAlgError:
            raise DivergenceError(_NOT_SPD) from None
    try:
        return xp.linalg.cholesky(A)
    except Exception as exc:  # backend-specific LinAlgError types
        if type(exc).__name__ in ("LinAlgError", "_LinAlgError", "RuntimeError"):
            raise DivergenceError(_NOT_SPD) from None
        raise


_NOT_SPD = (
    "a Gram matrix is not positive definite (non-finite iterates or degenerate data); "
    "try larger gamma/beta, --dtype float64, or check the data for NaN and constant columns"
)


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
