"""Sums over the sample dimension split into pieces (the GPU's Gram, cross and objective sums)
equal the plain sums, on every backend, for column views of wider arrays and leftover columns."""
from __future__ import annotations

import numpy as np
import pytest

from admm_xp.runtime.hostio import to_host
from admm_xp.kernels import kernels_for
from admm_xp.kernels.pieces import split_pieces, long_product, long_sum


def _views(backend, rng, rows, cols, start=3, extra=11):
    """A rows x cols column view into a wider array, as the solver's blocks are."""
    xp = backend.xp
    wide = xp.asarray(rng.normal(size=(rows, start + cols + extra)), device=backend.device)
    return wide, wide[:, start:start + cols]


@pytest.mark.parametrize("cols, piece", [(1000, 64), (1024, 64), (1000, 2000), (130, 64)])
def test_long_product_equals_the_plain_product(backend, rng, cols, piece):
    xp = backend.xp
    _, A = _views(backend, rng, 7, cols)
    _, B = _views(backend, rng, 5, cols, start=0)
    Bt = xp.matrix_transpose(B)
    copies = []

    def gather(x):  # what the GPU does with each operand's pieces: a contiguous copy
        copies.append(x.shape)
        return xp.asarray(x, copy=True)

    for g in (None, gather):
        got = long_product(A, Bt, xp, piece=piece, max_pieces=9, gather=g)
        assert got.dtype == xp.float64
        assert got.shape == (7, 5)
        want = to_host(A) @ to_host(B).T
        np.testing.assert_allclose(to_host(got), want, rtol=1e-12, atol=1e-12)
        gram = long_product(A, None, xp, piece=piece, max_pieces=9, gather=g)
        assert gram.shape == (7, 7)
        np.testing.assert_allclose(to_host(gram), to_host(A) @ to_host(A).T, rtol=1e-12, atol=1e-12)
    split = cols // piece >= 2
    assert len(copies) == (3 if split else 0)  # A and B for the product, A alone for the Gram


@pytest.mark.parametrize("cols, piece", [(1000, 64), (999, 100), (50, 64)])
def test_long_sum_equals_the_plain_sum(backend, rng, cols, piece):
    xp = backend.xp
    _, x = _views(backend, rng, 6, cols)
    _, y = _views(backend, rng, 6, cols, start=1)
    reduce_last = lambda a, b: xp.sum((a - b) ** 2, axis=-1, dtype=xp.float64)  # noqa: E731
    got = long_sum(reduce_last, (x, y), xp, piece=piece, max_pieces=8)
    want = float(np.sum((to_host(x) - to_host(y)) ** 2))
    assert float(got) == pytest.approx(want, rel=1e-12)


def test_pieces_cover_every_column_once():
    for w in (0, 1, 100, 4095, 4096, 8192, 8193, 1 << 20, 10_500_000):
        k, s = split_pieces(w, 4096, 256)
        assert k * s <= w and (k == 1 or s >= 4096)
        assert k <= 256
        if k == 1:
            assert s == w and w < 2 * 4096


@pytest.mark.parametrize("cols", [300, 20_000])
def test_every_kernel_set_gives_gram_and_long_products_in_float64(backend, rng, cols):
    ops = kernels_for(backend.xp)
    xp = backend.xp
    wide = xp.asarray(rng.normal(size=(4, cols + 5)).astype(np.float32), device=backend.device)
    A = wide[:, 2:cols + 2]
    B = xp.asarray(rng.normal(size=(3, cols)).astype(np.float32), device=backend.device)
    A64, B64 = to_host(A).astype(np.float64), to_host(B).astype(np.float64)
    for got, want in ((ops.gram(A), A64 @ A64.T), (ops.long_product(A, xp.matrix_transpose(B)), A64 @ B64.T)):
        assert got.dtype == xp.float64
        np.testing.assert_allclose(to_host(got), want, rtol=1e-5, atol=1e-5 * np.sqrt(cols))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("z_rows, a_rows", [(30, 4), (4, 30)])
def test_cross_sums_are_z_a_transposed_whichever_way_the_kernel_set_turns_them(backend, rng, dtype, z_rows, a_rows):
    """``sample_cross`` gives z a^T in float64 both when the kernel set turns the product and when
    it does not (the NumPy kernels turn it in float64 only; the others whenever a has fewer rows)."""
    from admm_xp.solver.passes import sample_cross

    xp = backend.xp
    ops = kernels_for(xp)
    cols = 700
    wide_z = xp.asarray(rng.normal(size=(z_rows, cols + 9)).astype(dtype), device=backend.device)
    wide_a = xp.asarray(rng.normal(size=(a_rows, cols + 9)).astype(dtype), device=backend.device)
    z, a = wide_z[:, 5:cols + 5], wide_a[:, 2:cols + 2]
    got = sample_cross(z, a, ops, xp)
    want = to_host(z).astype(np.float64) @ to_host(a).astype(np.float64).T
    assert got.dtype == xp.float64 and tuple(got.shape) == (z_rows, a_rows)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(to_host(got), want, rtol=tol, atol=tol * np.sqrt(cols))
