"""The numba fast path computes what the portable array-API code computes."""
from __future__ import annotations

import numpy as np
import pytest

import array_api_compat.numpy as xp
from admm_xp.kernels import kernels_for
from admm_xp.kernels.portable import PortableKernels

numba_cpu = pytest.importorskip("admm_xp.kernels.numba_cpu")


@pytest.fixture(params=["float64", "float32"])
def dtype(request):
    return np.dtype(request.param)


def test_auto_picks_numba_for_numpy():
    assert kernels_for(xp).name == "numba"
    assert kernels_for(xp, "portable").name == "portable"


def test_hidden_prox_matches_portable(rng, dtype):
    a = rng.normal(0, 2, (37, 501)).astype(dtype)
    m = rng.normal(0, 2, (37, 501)).astype(dtype)
    fast = numba_cpu.NumbaKernels(xp, threads=1)
    ref = PortableKernels(xp)
    z1, act1, pre1 = fast.hidden_prox(a, m, 10.0, 1.0)
    z2, act2, pre2 = ref.hidden_prox(a, m, 10.0, 1.0)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert np.mean(np.isclose(z1, z2, rtol=tol, atol=tol)) > 0.999  # float32 rounding may flip an exact tie
    assert act1 == pytest.approx(float(act2), rel=10 * tol)
    assert pre1 == pytest.approx(float(pre2), rel=10 * tol)


def test_hidden_prox_writes_through_a_column_view(rng):
    a = rng.normal(size=(8, 100))
    m = rng.normal(size=(8, 30))
    z = np.zeros((8, 100))
    fast = numba_cpu.NumbaKernels(xp, threads=1)
    out, _, _ = fast.hidden_prox(a[:, 40:70], m, 2.0, 3.0, out=z[:, 40:70])
    assert np.shares_memory(out, z)
    np.testing.assert_allclose(z[:, 40:70], PortableKernels(xp).hidden_prox(a[:, 40:70], m, 2.0, 3.0)[0])
    assert not z[:, :40].any() and not z[:, 70:].any()


@pytest.mark.parametrize("update", [True, False])
def test_output_prox_matches_portable(rng, dtype, update):
    c, n = 3, 777
    m = rng.normal(0, 2, (c, n)).astype(dtype)
    s = rng.choice([-1.0, 1.0], (c, n)).astype(dtype)
    lam = rng.normal(size=(c, n)).astype(dtype)
    fast = numba_cpu.NumbaKernels(xp, threads=1)
    out1 = fast.output_prox(m, s, lam.copy(), 0.7, update)
    out2 = PortableKernels(xp).output_prox(m, s, lam.copy(), 0.7, update)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(out1[0], out2[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(out1[1], out2[1], rtol=tol, atol=tol)
    for x, y in zip(out1[2:], out2[2:]):
        assert x == pytest.approx(float(y), rel=10 * tol, abs=10 * tol)


@pytest.mark.parametrize("k", [1, 3, 8, 12])
def test_fused_activation_matches_blas_path(rng, dtype, k):
    d, n = 40, 333
    z = rng.normal(size=(d, n)).astype(dtype)
    target = rng.normal(size=(k, n)).astype(dtype)
    Wt = rng.normal(size=(k, d)).astype(dtype)
    P = rng.normal(size=(d, k)).astype(dtype) * 0.1
    fast = numba_cpu.NumbaKernels(xp, threads=1)
    got = fast.activation(z, target, Wt, P)
    h = np.maximum(z, 0)
    ref = h + P @ (target - Wt @ h)
    if k > numba_cpu.FUSED_ACTIVATION_MAX_K:
        assert got is None
    else:
        tol = 1e-12 if dtype == np.float64 else 1e-4
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


def test_chunks_cover_every_column_once():
    fast = numba_cpu.NumbaKernels(xp, threads=3)
    for n in (1, 5, 255, 256, 1000, 1001):
        parts = fast.map_chunks(lambda sl: (sl.start, sl.stop), n)
        assert parts[0][0] == 0 and parts[-1][1] == n
        assert all(parts[i][1] == parts[i + 1][0] for i in range(len(parts) - 1))
