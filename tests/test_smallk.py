"""The C kernels for the products with the narrow input layer and the float32 Gram
(admm_xp/kernels/smallk.c, gram_f32.h).

They run only where the extension was built and the CPU has AVX-512F; elsewhere these tests
skip and the NumPy path uses BLAS (checked by the last test)."""
from __future__ import annotations

import numpy as np
import pytest

import array_api_compat.numpy as xp

numba_cpu = pytest.importorskip("admm_xp.kernels.numba_cpu")
from admm_xp.solver import passes  # noqa: E402
from admm_xp.kernels import smallk  # noqa: E402

KERNELS = smallk.load()
needs_kernels = pytest.mark.skipif(KERNELS is None, reason="smallk extension not built or no AVX-512F on this CPU")

SHAPES = [(300, 28, 4096), (7, 5, 37), (301, 29, 515), (1, 1, 1), (25, 17, 300), (4, 32, 100), (13, 16, 64)]


def _tol(dtype):
    return 1e-12 if dtype == np.float64 else 2e-5


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d,K,w", SHAPES)
def test_wa_is_W_times_a_strided_block_and_writes_nothing_else(rng, dtype, d, K, w):
    wa = KERNELS[np.dtype(dtype).name].wa
    W = rng.normal(size=(d, K)).astype(dtype)
    X = rng.normal(size=(K, w + 11)).astype(dtype)  # the block is a view: row stride > w
    out = np.full((d, w + 5), 7, dtype=dtype)
    assert wa(W.ctypes.data, d, K, X[:, 3:].ctypes.data, X.shape[1], w, out.ctypes.data, out.shape[1]) == 0
    ref = W.astype(np.float64) @ X[:, 3 : 3 + w].astype(np.float64)
    scale = np.abs(W).sum(axis=1, keepdims=True) * np.abs(X).max()
    assert np.all(np.abs(out[:, :w] - ref) <= _tol(dtype) * scale)
    assert np.all(out[:, w:] == 7)  # the masked tail stores stop at column w


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d,K,w", SHAPES)
def test_zat_adds_z_a_transpose_in_float64(rng, dtype, d, K, w):
    zat = KERNELS[np.dtype(dtype).name].zat
    Z = rng.normal(size=(d, w + 9)).astype(dtype)
    A = rng.normal(size=(K, w + 2)).astype(dtype)
    out = rng.normal(size=(d, K))
    before = out.copy()
    assert zat(Z.ctypes.data, Z.shape[1], d, A.ctypes.data, A.shape[1], K, w, out.ctypes.data) == 0
    ref = Z[:, :w].astype(np.float64) @ A[:, :w].T.astype(np.float64)
    scale = np.abs(Z[:, :w]) @ np.abs(A[:, :w]).T + 1
    assert np.all(np.abs(out - before - ref) <= 10 * _tol(dtype) * scale)


@needs_kernels
def test_kernels_refuse_an_input_layer_wider_than_they_take(rng):
    wa, zat, _ = KERNELS["float64"]
    K = smallk.MAX_K + 1
    W, X, out = np.ones((2, K)), np.ones((K, 8)), np.zeros((2, 8))
    assert wa(W.ctypes.data, 2, K, X.ctypes.data, 8, 8, out.ctypes.data, 8) == 1
    acc = np.zeros((2, K))
    assert zat(out.ctypes.data, 8, 2, X.ctypes.data, 8, K, 8, acc.ctypes.data) == 1
    assert not acc.any() and not out.any()
    ops = numba_cpu.NumbaKernels(xp, threads=1)
    assert ops.input_cross(np.ones((2, 8)), X, slice(0, 8)) is None  # the pass then uses BLAS


def _aligned(n, fill=0.0):
    raw = np.full(n + 16, fill, dtype=np.float32)
    off = (-raw.ctypes.data % 64) // 4
    return raw[off : off + n]


def _gram_call(a, cols, w, C, P=None):
    """C += the kernel's Gram sums of a[:, cols : cols + w]."""
    d = a.shape[0]
    P = _aligned(smallk.gram_buffer_sizes(d)[0]) if P is None else P
    return KERNELS["float32"].gram(a[:, cols:].ctypes.data, a.shape[1], d, w, P.ctypes.data, C.ctypes.data)


def _upper(C, d):
    """The d x d upper triangle (i <= j) the kernel keeps at C[j * dp + i], as a float64 matrix."""
    dp = smallk.gram_dp(d)
    return np.triu(C.reshape(dp, dp)[:d, :d].T.astype(np.float64))


@needs_kernels
def test_no_gram_kernel_for_float64():
    assert KERNELS["float64"].gram is None


@needs_kernels
@pytest.mark.parametrize("d", [1, 15, 16, 17, 31, 32, 33, 44, 64, 300])
@pytest.mark.parametrize("w", [1, 15, 17, 255, 256, 257, 600])
def test_gram_adds_the_upper_triangle_of_a_a_transpose(rng, d, w):
    a = rng.normal(size=(d, w + 40)).astype(np.float32)  # the slab is a view: row stride > w
    dp = smallk.gram_dp(d)
    C = _aligned(dp * dp)
    C[:] = rng.normal(size=dp * dp).astype(np.float32)
    before = _upper(C, d)
    assert _gram_call(a, 7, w, C) == 0
    ref = np.triu(a[:, 7 : 7 + w].astype(np.float64) @ a[:, 7 : 7 + w].T.astype(np.float64))
    scale = np.sqrt(np.outer(np.diag(ref), np.diag(ref))) + 1
    assert np.all(np.abs(_upper(C, d) - before - ref) <= 1e-5 * scale)


@needs_kernels
def test_gram_over_a_block_is_as_accurate_as_blas(rng):
    """Each tile sums a chunk from zero and adds it into C (blocked sums): over a block of 8,192
    samples in slabs of 512 its error stays at BLAS's own (a single running float32 sum per entry
    would be about ten times larger)."""
    d, n = 300, 8192
    a = (rng.normal(size=(d, n)) + 0.5).astype(np.float32)
    C = _aligned(smallk.gram_dp(d) ** 2)
    for c0 in range(0, n, 512):
        assert _gram_call(a, c0, 512, C) == 0
    ref = a.astype(np.float64) @ a.T.astype(np.float64)
    scale = np.sqrt(np.outer(np.diag(ref), np.diag(ref)))
    iu = np.triu_indices(d)
    err_kernel = np.max(np.abs(_upper(C, d) - ref)[iu] / scale[iu])
    err_blas = np.max(np.abs((a @ a.T) - ref)[iu] / scale[iu])
    assert err_kernel <= 2 * err_blas


@needs_kernels
def test_gram_refuses_unaligned_buffers(rng):
    a = rng.normal(size=(40, 64)).astype(np.float32)
    C = _aligned(smallk.gram_dp(40) ** 2 + 1)
    assert _gram_call(a, 0, 64, C[1:]) == 1
    assert not C.any()


def _layer(rng, dtype, d=37, k_in=28, n=1500, k=1):
    X = rng.normal(size=(k_in, n)).astype(dtype)
    z = rng.normal(size=(d, n)).astype(dtype)
    z_next = rng.normal(size=(k, n)).astype(dtype)
    W = (rng.normal(size=(d, k_in)) * 0.2).astype(dtype)
    Wt = (rng.normal(size=(k, d)) * 0.1).astype(dtype)
    P = (rng.normal(size=(d, k)) * 0.1).astype(dtype)
    return X, z, z_next, W, Wt, P


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_block_matches_blas_m_and_hidden_block(rng, dtype):
    """The loop that forms m = W X slab by slab (C) gives the updates of the loop handed m from BLAS."""
    X, z, z_next, W, Wt, P = _layer(rng, dtype)
    ops = numba_cpu.NumbaKernels(xp, threads=1)
    sl = slice(200, 1337)
    z1, a1 = z.copy(), np.zeros_like(z)
    got = ops.layer_block(z1, z_next, a1, X, W, sl, Wt, None, P, 2.0, 0.5, False, True)
    assert got is not None
    z2, a2 = z.copy(), np.zeros_like(z)
    m = np.ascontiguousarray(W @ X[:, sl])
    want = ops.hidden_block(z2, z_next, a2, m, sl, Wt, None, P, 2.0, 0.5)
    tol = _tol(dtype) * 100
    np.testing.assert_allclose(a1, a2, rtol=tol, atol=tol)
    assert np.mean(np.isclose(z1, z2, rtol=tol, atol=tol)) > 0.999  # float32 rounding may flip an exact tie
    assert got.act == pytest.approx(want.act, rel=tol) and got.pre == pytest.approx(want.pre, rel=tol)
    np.testing.assert_allclose(got.cross, want.cross, rtol=tol, atol=tol)
    # the new z X^T of those columns, summed as input_cross sums it: the same bits
    np.testing.assert_array_equal(got.input_cross, ops.input_cross(z1, X, sl))
    ref = z1[:, sl].astype(np.float64) @ X[:, sl].T.astype(np.float64)
    np.testing.assert_allclose(got.input_cross, ref, rtol=tol, atol=tol * np.abs(ref).max())
    assert not np.any(a1[:, :200]) and not np.any(a1[:, 1337:])  # no column outside the block written
    if dtype == np.float32:  # the Gram of the new a, summed by the C kernel slab by slab
        ref = a1[:, sl].astype(np.float64) @ a1[:, sl].T.astype(np.float64)
        np.testing.assert_array_equal(got.gram, got.gram.T)
        np.testing.assert_allclose(got.gram, ref, rtol=tol, atol=tol * np.abs(ref).max())
    else:
        assert got.gram is None  # float64: BLAS's syrk in the pass


@needs_kernels
@pytest.mark.parametrize("d,used", [(31, False), (32, True), (numba_cpu.GRAM_ROWS[1], True),
                                    (numba_cpu.GRAM_ROWS[1] + 1, False)])
def test_gram_kernel_only_for_the_widths_it_is_faster_at(d, used):
    ops = numba_cpu.NumbaKernels(xp, threads=1)
    assert ops.gram_kernel_for(np.zeros((d, 4), dtype=np.float32)) is used
    assert not ops.gram_kernel_for(np.zeros((d, 4), dtype=np.float64))


@needs_kernels
def test_pass_gram_with_the_kernel_matches_float64(rng):
    """The layer-1 pass in float32 with the Gram kernel: its a a^T over two threads and several
    blocks is the float64 product of the a it wrote, to float32 accuracy."""
    X, z, z_next, W, Wt, P = _layer(rng, np.float32, d=64, n=9000)
    ops = numba_cpu.NumbaKernels(xp, threads=2)
    a = np.zeros_like(z)
    out = passes.hidden_layer_pass(a, z, z_next, X, W, (Wt, None, P), 2.0, 0.5, False, 4096, ops, xp,
                                   with_input_cross=True)
    ref = a.astype(np.float64) @ a.T.astype(np.float64)
    np.testing.assert_allclose(out.gram, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pass_and_input_cross_pass_sum_z_x_transpose_to_the_same_bits(rng, dtype):
    """A resumed run forms z_1 X^T with input_cross_pass; the uninterrupted run takes it from the
    layer-1 pass. Both must give the same bits, or the two runs part ways."""
    X, z, z_next, W, Wt, P = _layer(rng, dtype, n=9000)
    ops = numba_cpu.NumbaKernels(xp, threads=2)
    a = np.zeros_like(z)
    out = passes.hidden_layer_pass(a, z, z_next, X, W, (Wt, None, P), 2.0, 0.5, False, 4096, ops, xp,
                                   with_input_cross=True)
    again = passes.input_cross_pass(z, X, False, 4096, ops, xp)
    np.testing.assert_array_equal(out.input_cross.cross, again.cross)


@needs_kernels
def test_a_library_built_from_other_sources_is_not_used(monkeypatch):
    """An extension left from another checkout (a different buffer layout, or missing functions)
    would be handed wrongly sized buffers: it is refused, with a warning, and BLAS is used."""
    monkeypatch.setattr(smallk, "GRAM_CHUNK", smallk.GRAM_CHUNK * 2)
    smallk.load.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="another version of smallk.c"):
            assert smallk.load() is None
    finally:
        monkeypatch.undo()
        smallk.load.cache_clear()
    assert smallk.load() is not None


def test_switched_off_by_the_environment(monkeypatch, rng):
    """ADMM_XP_SMALLK=0: no C kernels, and the pass forms every product with BLAS."""
    monkeypatch.setenv("ADMM_XP_SMALLK", "0")
    smallk.load.cache_clear()
    try:
        assert smallk.load() is None
        ops = numba_cpu.NumbaKernels(xp, threads=1)
        X, z, z_next, W, Wt, P = _layer(rng, np.float64)
        assert ops.layer_block(z, z_next, np.zeros_like(z), X, W, slice(0, 100), Wt, None, P, 2.0, 0.5, False,
                               True) is None
        assert ops.input_cross(z, X, slice(0, 100)) is None
    finally:
        monkeypatch.delenv("ADMM_XP_SMALLK")
        smallk.load.cache_clear()


@needs_kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_c_product_forms_the_bench_products_as_the_loop_does(rng, dtype):
    """ops.c_product (the bench's product rates) computes the products it times, on strided
    column views; None where the loop would leave a product to BLAS."""
    ops = numba_cpu.NumbaKernels(xp, threads=1)
    d, k, n, sl = 300, 28, 2000, slice(300, 1100)
    W = rng.normal(size=(d, k)).astype(dtype)
    X = rng.normal(size=(k, n)).astype(dtype)
    Z = rng.normal(size=(d, n)).astype(dtype)
    tol = _tol(dtype) * 100
    m = ops.c_product("wa", W, X, sl)  # W X slab by slab into one buffer, as the loop forms it
    last = (sl.stop - sl.start - 1) // m.shape[1] * m.shape[1]  # where the last (partial) slab starts
    w = sl.stop - sl.start - last
    np.testing.assert_allclose(m[:, :w], W @ X[:, sl.start + last : sl.stop], rtol=tol, atol=tol * 10)
    ref = Z[:, sl].astype(np.float64) @ X[:, sl].T.astype(np.float64)
    np.testing.assert_allclose(ops.c_product("zat", Z, X, sl), ref, rtol=tol, atol=tol * np.abs(ref).max())
    gram = ops.c_product("gram", Z, None, sl)
    if dtype == np.float32:
        ref = Z[:, sl].astype(np.float64) @ Z[:, sl].T.astype(np.float64)
        np.testing.assert_allclose(gram, ref, rtol=tol, atol=tol * np.abs(ref).max())
    else:
        assert gram is None
    wide = rng.normal(size=(smallk.MAX_K + 1, n)).astype(dtype)
    assert ops.c_product("wa", rng.normal(size=(d, smallk.MAX_K + 1)).astype(dtype), wide, sl) is None
    assert ops.c_product("zat", Z, wide, sl) is None
