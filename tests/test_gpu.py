"""CuPy: the GPU kernels and a whole run against NumPy. Every test skips without CuPy and a GPU."""
from __future__ import annotations

import numpy as np
import pytest

from admm_xp.runtime.backend import resolve_device
from admm_xp.errors import ConfigError

def _gpu():
    try:
        return resolve_device("cuda")
    except ConfigError as exc:
        pytest.skip(str(exc))


@pytest.mark.cupy
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cupy_kernels_match_the_portable_code(dtype):
    backend = _gpu()
    import cupy as cp

    from admm_xp.kernels import kernels_for
    from admm_xp.kernels.portable import PortableKernels

    fast, ref = kernels_for(backend.xp), PortableKernels(backend.xp)
    assert fast.name == "cupy"
    rng = np.random.default_rng(0)
    a = cp.asarray(rng.normal(0, 2, (30, 1000)).astype(dtype))
    m = cp.asarray(rng.normal(0, 2, (30, 1000)).astype(dtype))
    z1, act1, pre1 = fast.hidden_prox(a, m, 10.0, 1.0)
    z2, act2, pre2 = ref.hidden_prox(a, m, 10.0, 1.0)
    tol = 1e-12 if dtype == "float64" else 1e-5
    assert float(cp.mean(cp.isclose(z1, z2, rtol=tol, atol=tol))) > 0.999
    assert float(act1) == pytest.approx(float(act2), rel=10 * tol)
    assert float(pre1) == pytest.approx(float(pre2), rel=10 * tol)
    wide = cp.zeros((30, 1200), dtype=dtype)
    for k in (1, 3):  # width 1: the one-pass outer-product kernel; wider: a product, then the add
        P = cp.asarray(rng.normal(size=(30, k)).astype(dtype))
        rk = cp.asarray(rng.normal(size=(k, 1000)).astype(dtype))
        view = wide[:, 100:1100]
        got = fast.add_matmul(a, P, rk, out=view)
        want = ref.add_matmul(a, P, rk)
        np.testing.assert_allclose(cp.asnumpy(wide[:, 100:1100]), cp.asnumpy(want), rtol=10 * tol, atol=10 * tol)
        np.testing.assert_allclose(cp.asnumpy(got), cp.asnumpy(want), rtol=10 * tol, atol=10 * tol)
        assert float(cp.abs(wide[:, :100]).max()) == 0 and float(cp.abs(wide[:, 1100:]).max()) == 0
    s = cp.asarray(rng.choice([-1.0, 1.0], (1, 1000)).astype(dtype))
    lam = cp.asarray(rng.normal(size=(1, 1000)).astype(dtype))
    out1 = fast.output_prox(m[:1], s, lam.copy(), 0.7, True)
    out2 = ref.output_prox(m[:1], s, lam.copy(), 0.7, True)
    for x, y in zip(out1, out2):
        np.testing.assert_allclose(cp.asnumpy(cp.asarray(x)), cp.asnumpy(cp.asarray(y)), rtol=10 * tol, atol=10 * tol)


@pytest.mark.cupy
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k", [1, 3, 9])
@pytest.mark.parametrize("with_bias", [False, True])
def test_fused_hidden_block_matches_the_reference_updates(dtype, k, with_bias):
    """The fused CUDA block (next layer of <= 8 units) = updates.* on those columns of wide arrays,
    sums included; columns outside the block untouched; a wider next layer is left to the pass."""
    backend = _gpu()
    import cupy as cp

    from admm_xp.solver import updates
    from admm_xp.kernels import kernels_for
    from admm_xp.kernels.cupy_gpu import FUSED_K_MAX, TILE_COLS, TILE_THREADS

    fast = kernels_for(backend.xp)
    rng = np.random.default_rng(1)
    d, n = 37, 2 * TILE_THREADS * TILE_COLS + 900  # the block spans two whole tiles and part of a third
    cols = slice(123, n - 78)  # 8,891 columns: two Gram pieces of 4,445 and one column left over
    w = cols.stop - cols.start
    z0 = rng.normal(size=(d, n)).astype(dtype)
    z, a = cp.asarray(z0), cp.zeros((d, n), dtype=dtype)
    z_next = cp.asarray(rng.normal(size=(k, n)).astype(dtype))
    Wt = cp.asarray(rng.normal(size=(k, d)).astype(dtype))
    P = cp.asarray((rng.normal(size=(d, k)) * 0.1).astype(dtype))
    b = cp.asarray(rng.normal(size=(k, 1)).astype(dtype)) if with_bias else None
    m = cp.asarray(rng.normal(size=(d, w)).astype(dtype))
    out = fast.hidden_block(z, z_next, a, m, cols, Wt, b, P, 2.0, 0.5, keep_z=True, want_gram=True)
    if k > FUSED_K_MAX:
        assert out is None
        np.testing.assert_array_equal(cp.asnumpy(z), z0)
        return
    a_blk, act, pre, cross, z_blk, gram, _ = out
    h = cp.maximum(cp.asarray(z0)[:, cols], 0)
    target = z_next[:, cols] - b if with_bias else z_next[:, cols]
    a_ref = h + P @ (target - Wt @ h)
    z_ref = updates.z_hidden_relu(a_ref, m, 2.0, 0.5, cp)
    tol = 1e-10 if dtype == "float64" else 2e-4
    np.testing.assert_allclose(cp.asnumpy(a[:, cols]), cp.asnumpy(a_ref), rtol=tol, atol=tol)
    assert float(cp.mean(cp.isclose(z[:, cols], z_ref, rtol=tol, atol=tol))) > 0.999
    np.testing.assert_array_equal(cp.asnumpy(z[:, :123]), z0[:, :123])
    np.testing.assert_array_equal(cp.asnumpy(z[:, n - 78:]), z0[:, n - 78:])
    assert float(cp.abs(a[:, :123]).max()) == 0 and float(cp.abs(a[:, n - 78:]).max()) == 0
    assert cp.shares_memory(a_blk, a) and a_blk.shape == (d, w)
    a64, z64, m64 = (x.astype(cp.float64) for x in (a[:, cols], z[:, cols], m))
    assert float(act) == pytest.approx(float(cp.sum((a64 - cp.maximum(z64, 0)) ** 2)), rel=1e-9)
    assert float(pre) == pytest.approx(float(cp.sum((z64 - m64) ** 2)), rel=1e-9)
    assert cross.shape == (k, d) and cross.dtype == cp.float64
    np.testing.assert_allclose(cp.asnumpy(cross), cp.asnumpy(z_next[:, cols].astype(cp.float64) @ a64.T), rtol=1e-9, atol=1e-9)
    # keep_z: a contiguous copy of the new z block, written by the same kernel
    assert z_blk.flags.c_contiguous and not cp.shares_memory(z_blk, z)
    np.testing.assert_array_equal(cp.asnumpy(z_blk), cp.asnumpy(z[:, cols]))
    # want_gram: a a^T from the pieces the kernel wrote (and the leftover column), in float64
    assert gram.shape == (d, d) and gram.dtype == cp.float64
    np.testing.assert_allclose(cp.asnumpy(gram), cp.asnumpy(a64 @ a64.T), rtol=tol, atol=tol * float(cp.abs(a64 @ a64.T).max()))
    plain = fast.hidden_block(z, z_next, a, m, cols, Wt, b, P, 2.0, 0.5)
    assert plain.z is None and plain.gram is None


@pytest.mark.cupy
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k", [1, 5, 9])
def test_thin_product_on_a_view_matches_cublas(dtype, k):
    """ops.matmul with a short A (one pass over the columns of a view) = cp.matmul, into out or not."""
    backend = _gpu()
    import cupy as cp

    from admm_xp.kernels import kernels_for

    fast = kernels_for(backend.xp)
    rng = np.random.default_rng(2)
    wide = cp.asarray(rng.normal(size=(40, 3000)).astype(dtype))
    A = cp.asarray(rng.normal(size=(k, 40)).astype(dtype))
    view = wide[:, 700:2900]
    want = cp.asnumpy(cp.matmul(A, cp.ascontiguousarray(view)))
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(cp.asnumpy(fast.matmul(A, view)), want, rtol=tol, atol=tol)
    target = cp.zeros((k, 3000), dtype=dtype)
    got = fast.matmul(A, view, out=target[:, 500:2700])
    np.testing.assert_allclose(cp.asnumpy(target[:, 500:2700]), want, rtol=tol, atol=tol)
    np.testing.assert_allclose(cp.asnumpy(got), want, rtol=tol, atol=tol)
    assert float(cp.abs(target[:, :500]).max()) == 0 and float(cp.abs(target[:, 2700:]).max()) == 0


@pytest.mark.cupy
def test_float64_gpu_run_equals_the_numpy_run():
    gpu = _gpu()
    from admm_xp.runtime.comm import LocalComm
    from admm_xp.solver.config import ADMMConfig
    from admm_xp.data import load_dataset
    from admm_xp.runtime.hostio import to_host
    from admm_xp.data.device import to_device
    from admm_xp.train import RunOptions, train_admm

    ds = load_dataset("higgs-sample", n_train=5000)
    runs = {}
    for backend in (resolve_device("cpu"), gpu):
        cfg = ADMMConfig(hidden=(64,), dtype="float64")
        runs[backend.name] = train_admm(to_device(ds, backend, "float64"), cfg, backend, LocalComm(), RunOptions(iters=8))
    for w_cpu, w_gpu in zip(runs["numpy"].state.W, runs["cupy"].state.W):
        w_cpu, w_gpu = to_host(w_cpu), to_host(w_gpu)
        assert np.max(np.abs(w_cpu - w_gpu)) / np.max(np.abs(w_cpu)) < 1e-8
    for h_cpu, h_gpu in zip(runs["numpy"].history, runs["cupy"].history):
        assert h_gpu["objective"] == pytest.approx(h_cpu["objective"], rel=1e-8)
    assert runs["cupy"].final["peak_device_memory_bytes"] > 0


@pytest.mark.cupy
def test_problem_too_big_for_the_gpu_is_a_one_line_error():
    backend = _gpu()
    from admm_xp.runtime.gpu import check_fits

    with pytest.raises(ConfigError, match="GiB"):
        check_fits(backend, (28, 100_000, 1), 10_000_000, 0, "float64", 1 << 20)


def test_without_a_gpu_device_cuda_is_a_one_line_error(monkeypatch):
    """Runs everywhere: with CuPy absent (or no GPU) --device cuda names the problem."""
    import importlib

    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here")
    with pytest.raises(ConfigError, match="cupy"):
        resolve_device("cuda")


def test_the_memory_check_counts_the_hidden_multipliers():
    """The linear (one array per hidden unit) and the full form (two) hold more than the augmented form:
    the GPU check before any allocation must count them, or a run that passed it could fail in CUDA."""
    from admm_xp.runtime.gpu import bytes_needed

    widths, n = (28, 300, 1), 10_000
    base = bytes_needed(widths, n, 0, 8, 4096)
    assert bytes_needed(widths, n, 0, 8, 4096, multipliers=1) - base == 8 * 300 * n
    assert bytes_needed(widths, n, 0, 8, 4096, multipliers=2) - base == 2 * 8 * 300 * n
