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


def test_full_lagrangian_block_steps_match_portable_and_touch_only_their_columns(rng, dtype):
    """shifted_relu and multiplier_prox (the full Lagrangian's hidden block) = the portable expressions,
    written in place into columns 40..90 of the state and nowhere else."""
    d, n, sl = 13, 130, slice(40, 90)
    a, z = rng.normal(0, 2, (d, n)).astype(dtype), rng.normal(0, 2, (d, n)).astype(dtype)
    mu, nu = rng.normal(size=(d, n)).astype(dtype), rng.normal(size=(d, n)).astype(dtype)
    m = rng.normal(0, 2, (d, 50)).astype(dtype)
    fast, ref = numba_cpu.NumbaKernels(xp, threads=1), PortableKernels(xp)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(fast.shifted_relu(z, nu, sl, 0.3), ref.shifted_relu(z, nu, sl, 0.3), rtol=tol, atol=tol)
    want = ref.multiplier_prox(a, m, z, mu, nu, sl, 0.7, 1.3, 0.3, want_shifted=True)
    z1, mu1, nu1 = z.copy(), mu.copy(), nu.copy()
    got = fast.multiplier_prox(a, m, z1, mu1, nu1, sl, 0.7, 1.3, 0.3, want_shifted=True)
    np.testing.assert_array_equal(got[3], z1[:, sl] + np.asarray(0.5 / 1.3, dtype) * mu1[:, sl])  # z + mu / (2 beta)
    assert np.mean(np.isclose(got[3], want[3], rtol=tol, atol=tol)) > 0.99
    for name, x, before, new in (("z", z1, z, want[0]), ("mu", mu1, mu, want[1]), ("nu", nu1, nu, want[2])):
        assert np.mean(np.isclose(x[:, sl], new, rtol=tol, atol=tol)) > 0.99, name  # float32 may flip an exact tie
        np.testing.assert_array_equal(np.delete(x, np.s_[40:90], axis=1), np.delete(before, np.s_[40:90], axis=1))
    assert not np.array_equal(mu1[:, sl], mu[:, sl])  # the dual step moved the multipliers
    for g, w in zip(got[4:], want[4:]):
        assert g == pytest.approx(float(w), rel=100 * tol, abs=100 * tol)


def test_linear_lagrangian_block_step_matches_portable_and_the_full_one_with_nu_zero(rng, dtype):
    """multiplier_prox without nu (the linear Lagrangian) = the portable expressions, and = the full
    Lagrangian's step with nu = 0 and no nu step (its z and mu), in place in columns 40..90 only."""
    d, n, sl = 11, 130, slice(40, 90)
    a, z = rng.normal(0, 2, (d, n)).astype(dtype), rng.normal(0, 2, (d, n)).astype(dtype)
    mu = rng.normal(size=(d, n)).astype(dtype)
    m = rng.normal(0, 2, (d, 50)).astype(dtype)
    fast, ref = numba_cpu.NumbaKernels(xp, threads=1), PortableKernels(xp)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    want = ref.multiplier_prox(a, m, z, mu, None, sl, 0.7, 1.3, 0.3, want_shifted=True)
    with_zero_nu = ref.multiplier_prox(a, m, z, mu, np.zeros_like(mu), sl, 0.7, 1.3, 0.3, want_shifted=True)
    assert want[2] is None and float(want[6]) == 0.0  # no nu, and <nu, a - h(z)> = 0
    np.testing.assert_array_equal(want[0], with_zero_nu[0])
    np.testing.assert_array_equal(want[1], with_zero_nu[1])
    z1, mu1 = z.copy(), mu.copy()
    got = fast.multiplier_prox(a, m, z1, mu1, None, sl, 0.7, 1.3, 0.3, want_shifted=True)
    assert got[2] is None and got[6] == 0.0
    for name, x, before, new in (("z", z1, z, want[0]), ("mu", mu1, mu, want[1]), ("shifted", got[3], None, want[3])):
        target = x if before is None else x[:, sl]
        assert np.mean(np.isclose(target, new, rtol=tol, atol=tol)) > 0.99, name  # float32 may flip an exact tie
        if before is not None:
            np.testing.assert_array_equal(np.delete(x, np.s_[40:90], axis=1), np.delete(before, np.s_[40:90], axis=1))
    for i in (4, 5, 7):
        assert got[i] == pytest.approx(float(want[i]), rel=100 * tol, abs=100 * tol)


@pytest.mark.parametrize("with_bias", [False, True])
def test_linear_block_is_the_activation_update_then_the_linear_step(rng, dtype, with_bias):
    """numba's fused loop of the linear Lagrangian = a = h(z) + P (z_next - b - Wt h(z)), then the
    portable multiplier step without nu, in place in columns 40..90 only, with z_next a^T and
    z + mu / (2 beta) (written over m, which the step and the sums have read before)."""
    d, k, n, sl = 9, 1, 130, slice(40, 90)
    z, a = rng.normal(0, 2, (d, n)).astype(dtype), np.zeros((d, n), dtype)
    z_next, mu = rng.normal(size=(k, n)).astype(dtype), rng.normal(size=(d, n)).astype(dtype)
    m = rng.normal(0, 2, (d, 50)).astype(dtype)
    Wt, P = rng.normal(size=(k, d)).astype(dtype), rng.normal(0, 0.1, (d, k)).astype(dtype)
    b = rng.normal(size=(k, 1)).astype(dtype) if with_bias else None
    h = np.maximum(z[:, sl], 0)
    a_want = h + P @ (z_next[:, sl] - (b if with_bias else 0) - Wt @ h)
    a_full = a.copy()
    a_full[:, sl] = a_want
    want = PortableKernels(xp).multiplier_prox(a_full, m, z, mu, None, sl, 0.7, 1.3, 0.3, want_shifted=True)
    fast = numba_cpu.NumbaKernels(xp, threads=1)
    z1, a1, mu1 = z.copy(), a.copy(), mu.copy()
    a_blk, act, pre, lag_pre, cross, shifted = fast.linear_block(z1, z_next, a1, m, mu1, sl, Wt, b, P, 0.7, 1.3, 0.3,
                                                                 want_shifted=True)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(a1[:, sl], a_want, rtol=tol, atol=tol)
    assert np.shares_memory(a_blk, a1)
    for name, x, before, new in (("z", z1, z, want[0]), ("mu", mu1, mu, want[1])):
        assert np.mean(np.isclose(x[:, sl], new, rtol=10 * tol, atol=10 * tol)) > 0.99, name  # float32 may flip a tie
        np.testing.assert_array_equal(np.delete(x, np.s_[40:90], axis=1), np.delete(before, np.s_[40:90], axis=1))
    assert not a1[:, :40].any() and not a1[:, 90:].any()
    np.testing.assert_array_equal(shifted, z1[:, sl] + np.asarray(0.5 / 1.3, dtype) * mu1[:, sl])
    np.testing.assert_allclose(cross, z_next[:, sl].astype(np.float64) @ a1[:, sl].T.astype(np.float64), rtol=100 * tol,
                               atol=100 * tol)
    for got, w in ((act, want[4]), (pre, want[5]), (lag_pre, want[7])):
        assert got == pytest.approx(float(w), rel=100 * tol, abs=100 * tol)
    assert PortableKernels(xp).linear_block(z, z_next, a, m, mu, sl, Wt, b, P, 0.7, 1.3, 0.3) is None  # composes instead


@pytest.mark.parametrize("update", [True, False])
@pytest.mark.parametrize("loss,lag_residual", [("hinge", False), ("hinge", True), ("cross-entropy", True)])
@pytest.mark.parametrize("c", [1, 3])
def test_output_prox_matches_portable(rng, dtype, update, loss, lag_residual, c):
    n = 777
    m = rng.normal(0, 2, (c, n)).astype(dtype)
    s = rng.choice([-1.0, 1.0], (c, n)).astype(dtype)
    lam = rng.normal(size=(c, n)).astype(dtype)
    fast = numba_cpu.NumbaKernels(xp, threads=1)
    kw = dict(loss=loss, lag_residual=lag_residual, z0=(m + rng.normal(size=(c, n))).astype(dtype))  # (hinge: unused)
    z_out, lam_out = np.zeros_like(m), np.zeros_like(lam)  # written through, as the pass's views are
    out1 = fast.output_prox(m, s, lam.copy(), 0.7, update, out_z=z_out, out_lam=lam_out, **kw)
    assert out1[0] is z_out and out1[1] is lam_out
    out2 = PortableKernels(xp).output_prox(m, s, lam.copy(), 0.7, update, **kw)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(out1[0], out2[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(out1[1], out2[1], rtol=tol, atol=tol)
    for x, y in zip(out1[2:], out2[2:]):
        assert x == pytest.approx(float(y), rel=10 * tol, abs=10 * tol)


def test_slab_columns_keep_the_z_slab_in_cache():
    for budget in (numba_cpu.SLAB_BYTES, numba_cpu.C_SLAB_BYTES):
        for rows in (1, 28, 300, 3072, 100_000):
            for itemsize in (4, 8):
                cols = numba_cpu.slab_columns(rows, itemsize, budget)
                assert cols & (cols - 1) == 0 and numba_cpu.SLAB_MIN <= cols <= numba_cpu.SLAB_MAX
                # as wide as allowed, but never wider than the slab budget unless at the minimum width
                assert cols == numba_cpu.SLAB_MIN or rows * cols * itemsize <= budget
                assert cols == numba_cpu.SLAB_MAX or rows * 2 * cols * itemsize > budget


@pytest.mark.parametrize("k", [1, 3, 8, 12])
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("d", [40, 3000])  # one slab per block / several slabs and a partial one
def test_hidden_block_matches_the_reference_updates(rng, dtype, k, with_bias, d):
    """The fused block loop (narrow next layer) and the BLAS path (wide) = updates.* on those columns."""
    from admm_xp.solver import updates

    n, cols = 700, slice(123, 456)
    if d > 40 and k == 1:
        assert numba_cpu.slab_columns(d, np.dtype(dtype).itemsize) < (cols.stop - cols.start) // 2
    z = rng.normal(size=(d, n)).astype(dtype)
    z_next = rng.normal(size=(k, n)).astype(dtype)
    a = np.zeros((d, n), dtype=dtype)
    Wt = rng.normal(size=(k, d)).astype(dtype)
    P = (rng.normal(size=(d, k)) * 0.1).astype(dtype)
    b = rng.normal(size=(k, 1)).astype(dtype) if with_bias else None
    m = np.ascontiguousarray(rng.normal(size=(d, cols.stop - cols.start)).astype(dtype))
    z0 = z.copy()
    fast = numba_cpu.NumbaKernels(xp, threads=1)
    a_blk, act, pre, cross, z_blk, gram, _ = fast.hidden_block(z, z_next, a, m, cols, Wt, b, P, 2.0, 0.5, keep_z=True,
                                                            want_gram=True)
    h = np.maximum(z0[:, cols], 0)
    target = z_next[:, cols] - b if with_bias else z_next[:, cols]
    a_ref = h + P @ (target - Wt @ h)
    z_ref = updates.z_hidden_relu(a_ref, m, 2.0, 0.5, xp)
    tol = 1e-10 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(a[:, cols], a_ref, rtol=tol, atol=tol)
    assert np.mean(np.isclose(z[:, cols], z_ref, rtol=tol, atol=tol)) > 0.999
    np.testing.assert_array_equal(z[:, :123], z0[:, :123])  # other columns untouched
    np.testing.assert_array_equal(a[:, 456:], 0)
    assert act == pytest.approx(float(np.sum((a_ref - np.maximum(z_ref, 0)) ** 2)), rel=50 * tol)
    assert pre == pytest.approx(float(np.sum((z_ref - m) ** 2)), rel=50 * tol)
    if cross is not None:
        np.testing.assert_allclose(cross, z_next[:, cols].astype(np.float64) @ a_ref.T.astype(np.float64), rtol=50 * tol, atol=50 * tol)
    assert (cross is None) == (k > numba_cpu.FUSED_ACTIVATION_MAX_K)
    np.testing.assert_array_equal(z_blk, z[:, cols])  # keep_z: the new z block, for the products that follow
    assert fast.hidden_block(z, z_next, a, m, cols, Wt, b, P, 2.0, 0.5).z is None
    assert gram is None  # the CPU pass forms a a^T from the block while it is in cache


def test_float32_fused_sums_stay_accurate_over_long_blocks():
    """float32 data: the fused loop adds each slab row in float32 and carries the rest in float64,
    so its sums keep float32's accuracy however long the block. Equal terms are the hard case
    for a float32 running sum (each addition rounds the same way once the sum is large): summed
    in float32 along a whole 2^20-column row, they come out ~1e-4 off (checked below); the
    fused loop's sums stay within 1e-5."""
    d, n = 2, 1 << 20
    z = np.full((d, n), 0.3, np.float32)
    z_next = np.full((1, n), 0.7, np.float32)
    m = np.full((d, n), 0.1, np.float32)
    a = np.zeros_like(z)
    Wt = np.full((1, d), 0.5, np.float32)
    P = np.full((d, 1), 0.25, np.float32)
    fast = numba_cpu.NumbaKernels(xp, threads=1)
    _, act, pre, cross, _, _, _ = fast.hidden_block(z, z_next, a, m, slice(0, n), Wt, None, P, 2.0, 0.5)
    a64, z64, m64 = (x.astype(np.float64) for x in (a, z, m))
    act_ref = np.sum((a64 - np.maximum(z64, 0)) ** 2)
    pre_ref = np.sum((z64 - m64) ** 2)
    assert act_ref > 0 and pre_ref > 0
    assert act == pytest.approx(act_ref, rel=1e-5)
    assert pre == pytest.approx(pre_ref, rel=1e-5)
    np.testing.assert_allclose(cross, z_next.astype(np.float64) @ a64.T, rtol=1e-5)
    # the same terms summed in float32 all the way are measurably worse: the float64 step matters
    whole_row = numba_cpu._penalty_sums_slab(a[0], z[0], m[0], np.float32(0))[1]
    row_ref = np.sum((z64[0] - m64[0]) ** 2)
    assert abs(whole_row - row_ref) > 1e-5 * row_ref


def test_chunks_cover_every_column_once():
    fast = numba_cpu.NumbaKernels(xp, threads=3)
    for n in (1, 5, 255, 256, 1000, 1001):
        parts = fast.map_chunks(lambda sl: (sl.start, sl.stop), n)
        assert parts[0][0] == 0 and parts[-1][1] == n
        assert all(parts[i][1] == parts[i + 1][0] for i in range(len(parts) - 1))


@pytest.mark.parametrize("rows", [(5, 3), (3, 5), (4, 4)])
def test_sample_cross_is_z_a_transpose_either_way_round(rng, rows):
    """The passes' ``z a^T`` (computed as ``(a z^T)^T`` when z has more rows) is the same product."""
    from admm_xp.kernels import kernels_for
    from admm_xp.solver.passes import sample_cross

    z = rng.normal(size=(rows[0], 300))
    a = rng.normal(size=(rows[1], 300))
    got = np.asarray(sample_cross(z[:, 50:250], a[:, 50:250], kernels_for(xp), xp))
    np.testing.assert_allclose(got, z[:, 50:250] @ a[:, 50:250].T, rtol=1e-12, atol=1e-12)
    assert got.shape == (rows[0], rows[1])
