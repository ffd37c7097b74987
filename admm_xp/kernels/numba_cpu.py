"""NumPy fast path: fused elementwise loops (numba) and column chunks on every core.

The loops compute the formulas of :mod:`admm_xp.solver.updates` in the data's
precision (the output layer's small step in float64) and return float64
sums, so a block of columns is read once and written once. They take the
solver's whole arrays plus a column offset, and walk them row by row over
contiguous 1-D slices, which lets LLVM vectorise the inner loops; a software
prefetch asks for the rows a little ahead. Parallelism is over column
chunks: one thread per core runs the whole per-block pipeline (its BLAS
calls single-threaded, its loops serial and free of the GIL), so small
matrix products and elementwise loops never fight over cores. Imported only
when numba is installed.
"""
from __future__ import annotations

import threading

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from ..runtime.threads import ChunkPool
from . import smallk
from .block import BlockResult
from ..solver.updates import PROX_HALVINGS, PROX_NEWTON_STEPS
from .portable import fewer_output_rows_turned

_JIT = dict(cache=True, nogil=True, fastmath=False, error_model="numpy", boundscheck=False)
# Sums only: reassociation lets LLVM vectorise a reduction (the order is fixed by
# the code, so results are still deterministic); NaN and inf still propagate.
_SUM = dict(_JIT, fastmath={"reassoc", "nsz"})

# The fused activation loop handles next layers up to this width; wider ones
# go through BLAS (a d x K by K x n product is then worth a library call).
FUSED_ACTIVATION_MAX_K = 8
# Columns per sweep inside a fused block (see slab_columns): the slab of z that the two
# sweeps share stays in the core's L2 cache when it is at most this many bytes.
SLAB_BYTES = 1 << 20
SLAB_MIN, SLAB_MAX = 64, 1024
# The same for the loop with the C kernels (layer_block): there m, the slab of a and the Gram
# kernel's buffers share L2 with the slab of z, so the slab is half as wide. The layer-1 pass at
# the HIGGS shape (two threads; docs/performance.md): float32 154 ms with 128 columns, 137-138 with 256 (chosen), 146-147 with
# 512; float64 329-330 ms with 64, 277-280 with 128 (chosen), 297 with 256.
C_SLAB_BYTES = 1 << 19
# Hidden-layer widths whose float32 Gram the C kernel sums (layer_block; BLAS's syrk otherwise).
# One core, a of d x 4,096 in cache, GFLOP/s kernel / syrk (development machine, AVX-512):
# d = 16: 21 / 26; 32: 58 / 41; 64: 107 / 69; 300: 168 / 135; 512: 171 / 156; 1,000: 163 / 167.
GRAM_ROWS = (32, 768)
_NO_BUFFER = np.zeros(0, dtype=np.float32)  # the Gram kernel's buffers where it is not called


def slab_columns(rows: int, itemsize: int, budget: int = SLAB_BYTES) -> int:
    """Columns per slab of a fused block: the largest power of two (64 to 1,024) whose
    ``rows x columns`` slab of z fits in ``budget`` bytes (SLAB_BYTES; C_SLAB_BYTES for the loop
    with the C kernels). Long slabs amortise the per-row set-up of
    the inner loops; a slab that spills out of L2 is read from memory twice. Measured at the
    HIGGS shape (300 rows, one core, 100k columns): float32 fused loop 101 ms with 128 columns,
    61 ms with 512 (the value chosen here); float64 110 ms with 128, 104 ms with 256."""
    cols = SLAB_MIN
    while cols * 2 <= SLAB_MAX and rows * cols * 2 * itemsize <= budget:
        cols *= 2
    return cols


# Software prefetch -----------------------------------------------------------------------
# The fused loop walks a block row by row in slabs of a few hundred columns, so each row of
# z, m and a is a short stream (2 KiB at the HIGGS shape) that the hardware prefetcher only
# picks up after it has started; asking for the row PREFETCH_ROWS ahead hides that start-up.
# Measured at the HIGGS shape (two threads, 100k columns each): float64 loop 106 -> 88 ms,
# float32 52 -> 46 ms. A hint only: it never changes a result.
PREFETCH_ROWS = 2


def _prefetch_intrinsic(write: int):
    @intrinsic
    def prefetch(typingctx, arr, i, j):
        """Ask for the cache line holding ``arr[i, j]`` (``llvm.prefetch``, read or write, keep in all levels)."""
        def codegen(context, builder, sig, args):
            aryty = sig.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1], args[2]], wraparound=False,
                                           boundscheck=False)
            i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
            fn = builder.module.declare_intrinsic("llvm.prefetch", [i8p], ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]))
            builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, write), ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return types.void(arr, i, j), codegen

    return prefetch


_prefetch_read = _prefetch_intrinsic(0)
_prefetch_write = _prefetch_intrinsic(1)


@njit(**_JIT)
def _prefetch_row(x, i, c0, w):
    for j in range(c0, c0 + w, 64 // x.itemsize):
        _prefetch_read(x, i, j)


@njit(**_JIT)
def _prefetch_row_for_write(x, i, c0, w):
    for j in range(c0, c0 + w, 64 // x.itemsize):
        _prefetch_write(x, i, j)


# Row kernels (1-D, contiguous, vectorised) ---------------------------------------------
# Scalars arrive typed like the arrays (``zero``, ``gamma``, ... as float32 for float32
# data), so a float32 run computes in float32 SIMD lanes; only the sums are float64.
@njit(**_JIT)
def _sub_relu_scaled(z_row, w, r, zero):
    for j in range(z_row.shape[0]):
        r[j] -= w * max(z_row[j], zero)


@njit(**_JIT)
def _relu_plus_scaled(z_row, p, r, out, zero):
    for j in range(z_row.shape[0]):
        out[j] = max(z_row[j], zero) + p * r[j]


@njit(**_JIT)
def _add_scaled(out, p, r):
    for j in range(out.shape[0]):
        out[j] += p * r[j]


@njit(inline="always", **_JIT)
def _prox(av, mv, gamma, beta, inv, zero):
    """argmin_z gamma (a - h(z))^2 + beta (z - m)^2 of one entry (the two branches of updates.z_hidden_relu)."""
    c = (gamma * av + beta * mv) * inv
    zp = max(c, zero)
    da = av - zp
    dm = zp - mv
    vp = gamma * da * da + beta * dm * dm
    zm = min(mv, zero)
    dz = zm - mv
    vm = gamma * av * av + beta * dz * dz
    return zp if vp <= vm else zm  # ties go to the z >= 0 branch, as in the reference


@njit(**_JIT)
def _prox_row(a_row, m_row, z_row, gamma, beta, inv, zero):
    """z = argmin gamma (a - h(z))^2 + beta (z - m)^2, entry by entry."""
    for j in range(a_row.shape[0]):
        z_row[j] = _prox(a_row[j], m_row[j], gamma, beta, inv, zero)


@njit(**_SUM)
def _penalty_sums_row(a_row, z_row, m_row, zero):
    """sum (a - h(z))^2 and sum (z - m)^2 of one row, in float64."""
    s_act = 0.0
    s_pre = 0.0
    for j in range(a_row.shape[0]):
        zn = z_row[j]
        e1 = np.float64(a_row[j] - max(zn, zero))
        e2 = np.float64(zn - m_row[j])
        s_act += e1 * e1
        s_pre += e2 * e2
    return s_act, s_pre


# Slab-row sums: at most SLAB_MAX terms, added in the data's own precision (float32 lanes
# for float32 data, twice as many per vector as float64 ones) and returned as float64,
# which then carries the sum over rows, slabs and blocks. A float32 partial sum of
# <= 1,024 terms, split over the vector lanes, is as accurate as the BLAS float32
# products beside it (which sum 4,096-sample blocks in float32); float64 only from there
# on keeps the error from growing with N (tested). float32 fused loop at the HIGGS
# shape: 53 -> 47 ms per 100k columns on one core (the whole iteration, with both cores
# sharing the memory bandwidth: within the run-to-run noise); float64 data is unchanged.
@njit(**_SUM)
def _penalty_sums_slab(a_row, z_row, m_row, zero):
    """sum (a - h(z))^2 and sum (z - m)^2 of one slab row (<= SLAB_MAX terms)."""
    s_act = zero
    s_pre = zero
    for j in range(a_row.shape[0]):
        zn = z_row[j]
        e1 = a_row[j] - max(zn, zero)
        e2 = zn - m_row[j]
        s_act += e1 * e1
        s_pre += e2 * e2
    return np.float64(s_act), np.float64(s_pre)


@njit(**_SUM)
def _dot_slab(x, y, zero):
    """x . y of one slab row (<= SLAB_MAX terms), summed like :func:`_penalty_sums_slab`."""
    s = zero
    for j in range(x.shape[0]):
        s += x[j] * y[j]
    return np.float64(s)


# Block kernels -------------------------------------------------------------------------
@njit(**_JIT)
def _slab_sweeps(z, z_next, a, m, ms0, c0, w, Wt, b, P, gamma, beta, inv, zero, r, cross, mu, has_mu, hb, sb,
                 shifted, want_shifted):
    """The two sweeps over one slab (columns c0..c0+w of z, a, z_next; ms0..ms0+w of m).

    First r = z_next - b - Wt h(z); then, row by row, a = h(z) + P r, cross += z_next a^T,
    z = prox(a, m) and the penalty sums, which it returns with 0 (act, pre, lag_pre). With ``has_mu``
    (the linear Lagrangian: the multiplier mu of z = m, columns c0..c0+w) z = prox(a, m - hb mu) and
    mu += sb (z - m) instead (:func:`_multiplier_step_row` without nu), the sums with <mu, z - m>,
    and, with ``want_shifted``, z + hb mu into columns ms0..ms0+w of ``shifted``.
    """
    d = z.shape[0]
    K = Wt.shape[0]
    act = 0.0
    pre = 0.0
    lag_pre = 0.0
    for k in range(K):
        rk = r[k, :w]
        zn = z_next[k, c0 : c0 + w]
        for j in range(w):
            rk[j] = zn[j] - b[k]
    for i in range(d):
        if i + PREFETCH_ROWS < d:
            _prefetch_row(z, i + PREFETCH_ROWS, c0, w)
        z_row = z[i, c0 : c0 + w]
        for k in range(K):
            _sub_relu_scaled(z_row, Wt[k, i], r[k, :w], zero)
    for i in range(d):
        if i + PREFETCH_ROWS < d:  # z is still in cache from the first sweep
            _prefetch_row(m, i + PREFETCH_ROWS, ms0, w)
            _prefetch_row_for_write(a, i + PREFETCH_ROWS, c0, w)
        z_row = z[i, c0 : c0 + w]
        a_row = a[i, c0 : c0 + w]
        m_row = m[i, ms0 : ms0 + w]
        _relu_plus_scaled(z_row, P[i, 0], r[0, :w], a_row, zero)
        for k in range(1, K):
            _add_scaled(a_row, P[i, k], r[k, :w])
        for k in range(K):
            cross[k, i] += _dot_slab(z_next[k, c0 : c0 + w], a_row, zero)
        if has_mu:
            mu_row = mu[i, c0 : c0 + w]
            _multiplier_step_row(a_row, m_row, z_row, mu_row, mu_row, False, gamma, beta, inv, zero, hb, zero, sb, zero)
            s_act, s_pre, _, s_lp = _multiplier_sums_row(a_row, m_row, z_row, mu_row, mu_row, False, zero)
            lag_pre += s_lp
            if want_shifted:  # after the sums, which read m: ``shifted`` may be m itself
                _shifted_row(z_row, mu_row, hb, shifted[i, ms0 : ms0 + w])
        else:
            _prox_row(a_row, m_row, z_row, gamma, beta, inv, zero)
            s_act, s_pre = _penalty_sums_slab(a_row, z_row, m_row, zero)
        act += s_act
        pre += s_pre
    return act, pre, lag_pre


@njit(**_JIT)
def _hidden_block_small(z, z_next, a, m, j0, n, Wt, b, P, gamma, beta, zero, r, cross, mu, has_mu, hb, sb, shifted,
                        want_shifted):
    """a = h + P (z_next - b - Wt h), h = relu(z), then z = prox(a, m), for columns j0..j0+n.

    Walks the block in slabs of ``r.shape[1]`` columns (:func:`slab_columns`) so
    each slab of z stays in cache between the two sweeps. Adds z_next a^T into ``cross``
    (K x d) and returns the two penalty sums and <mu, z - m> (with ``has_mu``: the linear
    Lagrangian's step, :func:`_slab_sweeps`; else 0).
    """
    slab = r.shape[1]
    inv = (gamma + beta) ** -1
    act = 0.0
    pre = 0.0
    lag_pre = 0.0
    for s0 in range(0, n, slab):
        w = min(slab, n - s0)
        s_act, s_pre, s_lp = _slab_sweeps(z, z_next, a, m, s0, j0 + s0, w, Wt, b, P, gamma, beta, inv, zero, r, cross,
                                          mu, has_mu, hb, sb, shifted, want_shifted)
        act += s_act
        pre += s_pre
        lag_pre += s_lp
    return act, pre, lag_pre


@njit(**_JIT)
def _hidden_block_small_c(z, z_next, a, X, W, mbuf, j0, n, Wt, b, P, gamma, beta, zero, r, cross, wa, zat,
                          in_cross, with_input_cross, gram, gram_p, gram_c, with_gram):
    """:func:`_hidden_block_small` with m = W X formed slab by slab by the C kernel ``wa`` into
    ``mbuf`` (d x slab, so m never leaves the core's cache), and, with ``with_input_cross``, the
    new z X^T of each slab added into ``in_cross`` (d x K_in, float64) by ``zat`` while that slab
    of z is in cache. The slabs are those of :meth:`NumbaKernels.input_cross`, so both sum
    z X^T to the same bits. With ``with_gram`` (float32), the C kernel ``gram`` adds each new
    slab of a's Gram sums into ``gram_c`` while that slab is in cache (``gram_p``: its packing
    buffer); ``gram`` must have that kernel's signature even where it is not called."""
    d = z.shape[0]
    kin = X.shape[0]
    slab = r.shape[1]
    inv = (gamma + beta) ** -1
    act = 0.0
    pre = 0.0
    for s0 in range(0, n, slab):
        w = min(slab, n - s0)
        c0 = j0 + s0
        wa(W.ctypes.data, np.intc(d), np.intc(kin), X[:, c0:].ctypes.data, X.shape[1], np.intc(w),
           mbuf.ctypes.data, mbuf.shape[1])
        s_act, s_pre, _ = _slab_sweeps(z, z_next, a, mbuf, 0, c0, w, Wt, b, P, gamma, beta, inv, zero, r, cross,
                                       mbuf, False, zero, zero, mbuf, False)
        act += s_act
        pre += s_pre
        if with_input_cross:
            zat(z[:, c0:].ctypes.data, z.shape[1], np.intc(d), X[:, c0:].ctypes.data, X.shape[1], np.intc(kin),
                np.intc(w), in_cross.ctypes.data)
        if with_gram:
            gram(a[:, c0:].ctypes.data, a.shape[1], np.intc(d), np.intc(w), gram_p.ctypes.data, gram_c.ctypes.data)
    return act, pre


@njit(**_JIT)
def _wa_slabs(W, X, j0, n, wa, mbuf):
    """mbuf = W X for columns j0..j0+n, one slab of mbuf.shape[1] columns at a time (each slab
    overwrites the last, as in :func:`_hidden_block_small_c`; for the bench's product rates)."""
    for s0 in range(0, n, mbuf.shape[1]):
        wa(W.ctypes.data, np.intc(W.shape[0]), np.intc(W.shape[1]), X[:, j0 + s0 :].ctypes.data, X.shape[1],
           np.intc(min(mbuf.shape[1], n - s0)), mbuf.ctypes.data, mbuf.shape[1])


@njit(**_JIT)
def _gram_slabs(a, j0, n, slab, gram, gram_p, gram_c):
    """gram_c += the Gram sums of columns j0..j0+n of a, slab by slab as :func:`_hidden_block_small_c` adds them."""
    for s0 in range(0, n, slab):
        gram(a[:, j0 + s0 :].ctypes.data, a.shape[1], np.intc(a.shape[0]), np.intc(min(slab, n - s0)),
             gram_p.ctypes.data, gram_c.ctypes.data)


@njit(**_JIT)
def _gram_from_upper(c, dp, d, out):
    """out (d x d, float64) = the symmetric matrix whose upper triangle the Gram kernel left in c
    (entry (i, j), i <= j, at c[j * dp + i])."""
    for j in range(d):
        for i in range(j + 1):
            v = np.float64(c[j * dp + i])
            out[j, i] = v
            out[i, j] = v


@njit(**_JIT)
def _input_cross_c(z, X, j0, n, slab, zat, out):
    """out += z X^T over columns j0..j0+n, slab by slab as :func:`_hidden_block_small_c` sums it."""
    for s0 in range(0, n, slab):
        w = min(slab, n - s0)
        c0 = j0 + s0
        zat(z[:, c0:].ctypes.data, z.shape[1], np.intc(z.shape[0]), X[:, c0:].ctypes.data, X.shape[1],
            np.intc(X.shape[0]), np.intc(w), out.ctypes.data)


@njit(**_JIT)
def _hidden_prox_block(a, m, z, j0, n, gamma, beta, zero):
    d = a.shape[0]
    inv = (gamma + beta) ** -1
    act = 0.0
    pre = 0.0
    for i in range(d):
        a_row, m_row, z_row = a[i, j0 : j0 + n], m[i, :n], z[i, j0 : j0 + n]
        _prox_row(a_row, m_row, z_row, gamma, beta, inv, zero)
        s_act, s_pre = _penalty_sums_row(a_row, z_row, m_row, zero)
        act += s_act
        pre += s_pre
    return act, pre


@njit(**_JIT)
def _relu(z, out, zero):
    d, n = z.shape
    for i in range(d):
        for j in range(n):
            out[i, j] = max(z[i, j], zero)


@njit(**_JIT)
def _add_into(out, h):
    d, n = out.shape
    for i in range(d):
        for j in range(n):
            out[i, j] += h[i, j]


@njit(**_JIT)
def _add_outer(h, p, r, out):
    """out = h + p r^T for a column p and a row r (a next layer of one unit), in one pass (any layout)."""
    d, n = h.shape
    for i in range(d):
        pi = p[i]
        for j in range(n):
            out[i, j] = h[i, j] + pi * r[j]


@njit(**_JIT)
def _hidden_prox(a, m, z, gamma, beta, zero):
    """Whole-array form (views of any layout; used off the fast path)."""
    d, n = a.shape
    inv = (gamma + beta) ** -1
    act = 0.0
    pre = 0.0
    for i in range(d):
        _prox_row(a[i], m[i], z[i], gamma, beta, inv, zero)
        s_act, s_pre = _penalty_sums_row(a[i], z[i], m[i], zero)
        act += s_act
        pre += s_pre
    return act, pre


# The full Lagrangian's hidden block (multipliers mu of z = W a_prev and nu of a = h(z)) ----------
@njit(**_JIT)
def _shifted_relu(z, nu, j0, n, scale, out, zero):
    """out[:, :n] = h(z) - scale * nu over columns j0..j0+n."""
    for i in range(z.shape[0]):
        z_row, nu_row, o_row = z[i, j0 : j0 + n], nu[i, j0 : j0 + n], out[i, :n]
        for j in range(n):
            o_row[j] = max(z_row[j], zero) - scale * nu_row[j]


@njit(**_JIT)
def _multiplier_step_row(a_row, m_row, z_row, mu_row, nu_row, has_nu, gamma, beta, inv, hg, hb, sg, sb, zero):
    """z = prox(a + nu hg, m - mu hb) (:func:`_prox`), then mu += sb (z - m) and nu += sg (a - h(z)),
    in place (without ``has_nu``: nu = 0 and no nu step; ``nu_row`` is then not read)."""
    for j in range(a_row.shape[0]):
        av = a_row[j]
        mv = m_row[j]
        zn = _prox(av + hg * nu_row[j] if has_nu else av, mv - hb * mu_row[j], gamma, beta, inv, zero)
        z_row[j] = zn
        mu_row[j] += sb * (zn - mv)
        if has_nu:
            nu_row[j] += sg * (av - max(zn, zero))


@njit(**_JIT)
def _shifted_row(z_row, mu_row, hb, out):
    """out = z + hb mu (what W is fitted to under the full and the linear Lagrangian)."""
    for j in range(z_row.shape[0]):
        out[j] = z_row[j] + hb * mu_row[j]


@njit(**_SUM)
def _multiplier_sums_row(a_row, m_row, z_row, mu_row, nu_row, has_nu, zero):
    """sum (a - h(z))^2, sum (z - m)^2, <nu, a - h(z)> (0 without ``has_nu``), <mu, z - m> of one row,
    in float64."""
    s_act = 0.0
    s_pre = 0.0
    s_la = 0.0
    s_lp = 0.0
    for j in range(a_row.shape[0]):
        zn = z_row[j]
        e1 = np.float64(a_row[j] - max(zn, zero))
        e2 = np.float64(zn - m_row[j])
        s_act += e1 * e1
        s_pre += e2 * e2
        if has_nu:
            s_la += np.float64(nu_row[j]) * e1
        s_lp += np.float64(mu_row[j]) * e2
    return s_act, s_pre, s_la, s_lp


@njit(**_JIT)
def _multiplier_prox(a, m, z, mu, nu, has_nu, j0, n, gamma, beta, hg, hb, sg, sb, zero, shifted, want_shifted):
    """:func:`admm_xp.kernels.portable.multiplier_prox_portable` on columns j0..j0+n (m: the block),
    row by row, each row's arrays read from the cache by the sums after the step (and, with
    ``want_shifted``, by ``shifted = z + hb mu``, written over m's row after the sums have read it).
    ``hg``, ``hb`` = 1 / (2 gamma), 1 / (2 beta); ``sg``, ``sb`` = 2 gamma kappa, 2 beta kappa (typed
    like the data, as the portable expressions round them).
    Without ``has_nu`` (the linear Lagrangian) ``nu`` is a 1 x 0 placeholder that is never read."""
    inv = (gamma + beta) ** -1
    act = 0.0
    pre = 0.0
    lag_act = 0.0
    lag_pre = 0.0
    for i in range(a.shape[0]):
        a_row, m_row, z_row = a[i, j0 : j0 + n], m[i, :n], z[i, j0 : j0 + n]
        mu_row = mu[i, j0 : j0 + n]
        nu_row = nu[i, j0 : j0 + n] if has_nu else nu[0, 0:0]
        _multiplier_step_row(a_row, m_row, z_row, mu_row, nu_row, has_nu, gamma, beta, inv, hg, hb, sg, sb, zero)
        s_act, s_pre, s_la, s_lp = _multiplier_sums_row(a_row, m_row, z_row, mu_row, nu_row, has_nu, zero)
        if want_shifted:  # after the sums, which read m: ``shifted`` is m itself
            _shifted_row(z_row, mu_row, hb, shifted[i, :n])
        act += s_act
        pre += s_pre
        lag_act += s_la
        lag_pre += s_lp
    return act, pre, lag_act, lag_pre


@njit(**_JIT)
def _output_prox(m, s, lam, z, lam_out, beta, update, lag_residual):
    c, n = m.shape
    loss = 0.0
    lag = 0.0
    pen = 0.0
    half = 1.0 / (2.0 * beta)
    for i in range(c):
        for j in range(n):
            mi = np.float64(m[i, j])
            si = np.float64(s[i, j])
            li = np.float64(lam[i, j])
            z_loss = mi + (si - li) * half
            if si * z_loss < 1.0:
                zi = z_loss
            else:
                z_flat = mi - li * half
                zi = z_flat if si * z_flat > 1.0 else si
            z[i, j] = zi
            zs = np.float64(z[i, j])
            if update:
                lam_out[i, j] = li + beta * (zs - mi)
            else:
                lam_out[i, j] = li
            ln = np.float64(lam_out[i, j])
            hinge = 1.0 - si * zs
            loss += hinge if hinge > 0.0 else 0.0
            lag += (zs - mi) * ln if lag_residual else zs * ln
            pen += (zs - mi) ** 2
    return loss, lag, pen


@njit(**_JIT)
def _ce_value(z, s, v, beta):
    """CE(z, s) + beta ||z - v||^2 of one sample (float64 vectors of C entries): the logistic loss for
    C = 1, the softmax cross-entropy otherwise (:func:`admm_xp.nn.cross_entropy`)."""
    C = z.shape[0]
    if C == 1:
        x = -s[0] * z[0]
        ce = max(x, 0.0) + np.log1p(np.exp(-abs(x)))
    else:
        zmax = z[0]
        for c in range(1, C):
            zmax = max(zmax, z[c])
        se = 0.0
        for c in range(C):
            se += np.exp(z[c] - zmax)
        ce = zmax + np.log(se)
        for c in range(C):
            ce -= z[c] * (s[c] + 1.0) * 0.5
    q = 0.0
    for c in range(C):
        q += (z[c] - v[c]) ** 2
    return ce + beta * q


@njit(**_JIT)
def _ce_direction(z, s, v, two_b, g, d, p):
    """The Newton step of :func:`admm_xp.solver.updates.z_output_cross_entropy` for one sample:
    gradient into g, direction into d (p: scratch); returns the slope g . d."""
    C = z.shape[0]
    if C == 1:
        x = -s[0] * z[0]
        e = np.exp(-abs(x))
        q = 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)
        g[0] = -s[0] * q + two_b * (z[0] - v[0])
        d[0] = g[0] / (q * (1.0 - q) + two_b)
        return g[0] * d[0]
    zmax = z[0]
    for c in range(1, C):
        zmax = max(zmax, z[c])
    se = 0.0
    for c in range(C):
        p[c] = np.exp(z[c] - zmax)
        se += p[c]
    num = 0.0
    den = 0.0
    for c in range(C):
        p[c] /= se
        g[c] = p[c] - (s[c] + 1.0) * 0.5 + two_b * (z[c] - v[c])
        dinv = 1.0 / (p[c] + two_b)
        num += p[c] * dinv * g[c]
        den += p[c] * dinv * p[c]
    coef = num / (1.0 - den)
    slope = 0.0
    for c in range(C):
        dinv = 1.0 / (p[c] + two_b)
        d[c] = dinv * g[c] + dinv * p[c] * coef
        slope += g[c] * d[c]
    return slope


@njit(**_JIT)
def _output_prox_ce(m, s, lam, z0, z_out, lam_out, beta, update, lag_residual, has_z0, steps, halvings, slack, tiny):
    """The cross-entropy output prox (:func:`admm_xp.solver.updates.z_output_cross_entropy`: the same
    damped Newton steps and Armijo halvings, sample by sample, in float64, except that a sample stops
    once a step moves it by at most ``tiny`` relative, or no step passes: converged to rounding, the
    remaining steps would move it by less), the multiplier step and the sums (loss, Lagrangian term,
    penalty)."""
    C, n = m.shape
    two_b = 2.0 * beta
    z = np.empty(C)
    v = np.empty(C)
    lo = np.empty(C)
    hi = np.empty(C)
    sj = np.empty(C)
    g = np.empty(C)
    d = np.empty(C)
    p = np.empty(C)
    cand = np.empty(C)
    loss = 0.0
    lag = 0.0
    pen = 0.0
    for j in range(n):
        for c in range(C):
            sj[c] = s[c, j]
            v[c] = np.float64(m[c, j]) - np.float64(lam[c, j]) / two_b
            lo[c] = v[c] - 1.0 / two_b
            hi[c] = v[c] + 1.0 / two_b
            z[c] = min(max(np.float64(z0[c, j]), lo[c]), hi[c]) if has_z0 else v[c]
        fz = _ce_value(z, sj, v, beta)
        for _ in range(steps):
            slope = _ce_direction(z, sj, v, two_b, g, d, p)
            t = 1.0
            moved = 0.0
            for _ in range(halvings):
                for c in range(C):
                    cand[c] = min(max(z[c] - t * d[c], lo[c]), hi[c])
                fc = _ce_value(cand, sj, v, beta)
                if fc <= fz - 1e-4 * t * slope + slack * (1.0 + abs(fz)):
                    for c in range(C):
                        moved = max(moved, abs(cand[c] - z[c]) / (1.0 + abs(z[c])))
                        z[c] = cand[c]
                    fz = fc
                    break
                t *= 0.5
            if moved <= tiny:  # converged to rounding (or no step taken): the remaining steps change nothing
                break
        for c in range(C):
            z_out[c, j] = z[c]
            zs = np.float64(z_out[c, j])
            mi = np.float64(m[c, j])
            li = np.float64(lam[c, j])
            lam_out[c, j] = li + beta * (zs - mi) if update else li
            ln = np.float64(lam_out[c, j])
            lag += (zs - mi) * ln if lag_residual else zs * ln
            pen += (zs - mi) ** 2
            z[c] = zs
        loss += _ce_value(z, sj, z, 0.0)
    return loss, lag, pen


def _c_contiguous(x) -> bool:
    return isinstance(x, np.ndarray) and x.flags.c_contiguous


class NumbaKernels:
    name = "numba"
    eval_block = 2048  # samples per block of the accuracy's forward pass: each block stays in cache
    # capabilities (admm_xp.kernels.protocol.KernelSet); layer_block and input_cross still answer None
    # where the C kernels do not run (see c_kernels_for)
    fuses_blocks = fuses_layers = sums_input_cross = writable_views = True

    def __init__(self, xp, threads: int | None = None):
        self.xp = xp
        self.pool = ChunkPool(threads)  # this rank's threads (threads None: its share of the cores)
        self.threads = self.pool.threads
        self._local = threading.local()
        self._smallk = False  # the C kernels of .smallk, loaded on first use (None: not here)

    def warmup(self, dtype) -> None:
        """Compile (or load from numba's cache) every loop for ``dtype`` before anything is timed."""
        z = np.ones((3, 8), dtype=dtype)
        m = np.ones((3, 8), dtype=dtype)
        for k in (1, FUSED_ACTIVATION_MAX_K + 1):
            self.hidden_block(z.copy(), np.ones((k, 8), dtype=dtype), z.copy(), m, slice(0, 8),
                              np.ones((k, 3), dtype=dtype), None, np.ones((3, k), dtype=dtype), 1.0, 1.0)
        X = np.ones((2, 8), dtype=dtype)
        for with_input_cross in (False, True):
            self.layer_block(z.copy(), np.ones((1, 8), dtype=dtype), z.copy(), X, np.ones((3, 2), dtype=dtype),
                             slice(0, 8), np.ones((1, 3), dtype=dtype), None, np.ones((3, 1), dtype=dtype), 1.0, 1.0,
                             False, with_input_cross)
        self.input_cross(z, X, slice(0, 8))
        self.hidden_prox(z, m, 1.0, 1.0)
        self.shifted_relu(z, m, slice(0, 8), 0.5)
        self.relu(z[:, 0:4], out=np.empty((3, 4), dtype=dtype))  # columns of z (the linear Lagrangian's h(z))
        for want_shifted in (False, True):  # the linear Lagrangian's fused loop
            self.linear_block(z.copy(), np.ones((1, 8), dtype=dtype), z.copy(), m, m.copy(), slice(0, 8),
                              np.ones((1, 3), dtype=dtype), None, np.ones((3, 1), dtype=dtype), 1.0, 1.0, 0.3,
                              want_shifted)
        for want_shifted in (False, True):
            for nu in (m.copy(), None):  # the full and the linear Lagrangian
                self.multiplier_prox(z.copy(), m, z.copy(), m.copy(), nu, slice(0, 8), 1.0, 1.0, 0.3, want_shifted)
        self.output_prox(m[:1], m[:1], m[:1].copy(), 1.0, True)
        self.output_prox(m[:1], m[:1], m[:1].copy(), 1.0, True, lag_residual=True)
        for rows in (1, 3):  # the cross-entropy prox: the logistic and the softmax branch
            self.output_prox(m[:rows], -z[:rows], m[:rows].copy(), 1.0, True, loss="cross-entropy", z0=m[:rows],
                             lag_residual=True)
        self.relu(z)
        self.add_matmul(z, np.ones((3, 1), dtype=dtype), np.ones((1, 8), dtype=dtype), out=z.copy()[:, :8])

    # Chunks over cores ---------------------------------------------------------
    def iteration_context(self):
        """BLAS on one thread for a whole iteration: the chunks already use every core, and OpenBLAS's
        own threads, woken for the small d x d products and solves between chunks, would only get in
        their way (measured: 0.062 s per iteration on the embedded HIGGS rows with them, 0.033 without)."""
        return self.pool.one_blas_thread()

    def map_chunks(self, fn, n: int):
        """``[fn(slice) for each of T contiguous column chunks]``, in chunk order, on T threads
        (:class:`admm_xp.runtime.threads.ChunkPool`)."""
        return self.pool.map_chunks(fn, n)

    def view(self, x, sl):
        return x[:, sl]

    def scratch(self, name, rows, cols, dtype, device):
        """A C-contiguous rows x cols buffer private to this thread, reused across blocks."""
        buffers = getattr(self._local, "buffers", None)
        if buffers is None:
            buffers = self._local.buffers = {}
        key = (name, np.dtype(dtype).str)
        buf = buffers.get(key)
        if buf is None or buf.size < rows * cols:
            buf = np.empty(rows * cols, dtype=dtype)
            buffers[key] = buf
        return buf[: rows * cols].reshape(rows, cols)

    # Block operations ----------------------------------------------------------
    def relu(self, z, out=None):
        out = np.empty_like(z) if out is None else out
        _relu(z, out, z.dtype.type(0))
        return out

    def matmul(self, A, B, out=None):
        return np.matmul(A, B, out=out)

    def long_product(self, A, B):
        """``A @ B`` in float64, for a long inner dimension (the samples): Gram and cross sums."""
        return np.matmul(A, B).astype(np.float64, copy=False)

    def gram(self, a):
        """``a a^T`` in float64 (a's columns are samples)."""
        return np.matmul(a, a.T).astype(np.float64, copy=False)

    def turn_cross(self, z, a) -> bool:
        """Compute ``z a^T`` as ``(a z^T)^T`` (see :func:`admm_xp.solver.passes.sample_cross`)?

        OpenBLAS's speed at these long-inner-dimension shapes depends on the dtype. At the HIGGS
        shape (z of 300 x 4,096, X of 28 x 4,096), measured inside the pass (two threads, ms per
        thread and pass; docs/performance.md): float64 turned 43-44 against 54-56 as
        written; float32 as written 23-24 against 28-29 turned. So the turn
        (to the product with the fewer output rows) is taken in float64 only. At the SVHN shape
        (z of 100 rows, X of 3,072) z has the fewer rows and is never turned: the turn cost
        10-20% there when this rule was first set (bench)."""
        return fewer_output_rows_turned(z, a) and z.dtype.itemsize == 8

    def add_matmul(self, h, P, r, out=None):
        if out is None:
            out = np.empty_like(h)
        if P.shape[1] == 1 and P.dtype == h.dtype == r.dtype:  # one output unit: an outer product, one pass
            _add_outer(h, P[:, 0], r[0], out)
            return out
        np.matmul(P, r, out=out)
        _add_into(out, h)
        return out

    def _loaded(self):
        """The C kernels of :mod:`.smallk` (``smallk.load()``, looked up on first use), or None."""
        if self._smallk is False:
            self._smallk = smallk.load()
        return self._smallk

    def _smallk_for(self, z, a):
        """The C kernels (wa, zat) for z of d x N and a of K x N (whole C-contiguous arrays of one
        dtype, K <= smallk.MAX_K), or None where they do not apply: then BLAS does these products."""
        if (self._loaded() is None or not (_c_contiguous(z) and _c_contiguous(a)) or z.dtype != a.dtype
                or z.dtype.name not in self._smallk or a.shape[0] > smallk.MAX_K or z.shape[1] != a.shape[1]):
            return None
        return self._smallk[z.dtype.name]

    def aligned_scratch(self, name, size, dtype):
        """A 1-D buffer of ``size`` elements private to this thread, 64-byte aligned (for the C kernels)."""
        itemsize = np.dtype(dtype).itemsize
        raw = self.scratch(name, 1, size + 64 // itemsize, dtype, None).reshape(-1)
        off = (-raw.ctypes.data % 64) // itemsize
        return raw[off : off + size]

    def gram_kernel_for(self, a) -> bool:
        """Whether :meth:`layer_block` sums the Gram of its layer state a (d x N) with the C kernel
        (float32, GRAM_ROWS[0] <= d <= GRAM_ROWS[1]) rather than leaving it to BLAS."""
        return (self._loaded() is not None and _c_contiguous(a) and a.dtype.name in self._smallk
                and self._smallk[a.dtype.name].gram is not None and GRAM_ROWS[0] <= a.shape[0] <= GRAM_ROWS[1])

    def c_kernels_for(self, z, a_prev, bias: bool, next_width: int) -> bool:
        """Whether :meth:`layer_block` runs the C kernels for layer state z over input a_prev."""
        return not bias and next_width <= FUSED_ACTIVATION_MAX_K and self._smallk_for(z, a_prev) is not None

    def input_cross(self, z, a, sl):
        """``z[:, sl] a[:, sl]^T`` in float64 by the C kernel (slab by slab, as :meth:`layer_block`
        sums it, so both give the same bits), or None where it does not apply."""
        fns = self._smallk_for(z, a)
        if fns is None:
            return None
        out = np.zeros((z.shape[0], a.shape[0]))
        slab = slab_columns(z.shape[0], z.dtype.itemsize, C_SLAB_BYTES)
        _input_cross_c(z, a, sl.start, sl.stop - sl.start, slab, fns.zat, out)
        return out

    def _gram_buffers(self, d):
        """This thread's packing buffer and zeroed float32 accumulator for the Gram kernel."""
        p_len, c_len = smallk.gram_buffer_sizes(d)
        gram_c = self.aligned_scratch("gram_c", c_len, np.float32)
        gram_c[:] = 0
        return self.aligned_scratch("gram_p", p_len, np.float32), gram_c

    def _gram_result(self, gram_c, d):
        out = np.empty((d, d))
        _gram_from_upper(gram_c, smallk.gram_dp(d), d, out)
        return out

    def c_product(self, kind, x, y, sl):
        """One product over the columns ``sl`` formed as :meth:`layer_block` forms it with the C
        kernels, slab by slab, for the bench's product rates: ``"wa"``, ``x @ y[:, sl]`` (x the
        d x K weights; each slab overwrites the one before in a d x slab buffer, as in the loop,
        which is returned: its first columns hold the last slab); ``"zat"``,
        ``x[:, sl] y[:, sl]^T`` in float64; ``"gram"``, ``x[:, sl] x[:, sl]^T`` in float64 (y
        unused). None where layer_block would leave that product to BLAS."""
        j0, n = sl.start, sl.stop - sl.start
        if kind == "zat":
            return self.input_cross(x, y, sl)
        if kind == "gram":
            if not self.gram_kernel_for(x):
                return None
            d = x.shape[0]
            gram_p, gram_c = self._gram_buffers(d)
            slab = slab_columns(d, x.dtype.itemsize, C_SLAB_BYTES)
            _gram_slabs(x, j0, n, slab, self._smallk["float32"].gram, gram_p, gram_c)
            return self._gram_result(gram_c, d)
        fns = self._smallk_for(y, y)  # y: the K x N input, K <= MAX_K
        if kind != "wa" or fns is None or not _c_contiguous(x) or x.dtype != y.dtype:
            return None
        slab = min(n, slab_columns(x.shape[0], x.dtype.itemsize, C_SLAB_BYTES))
        mbuf = self.scratch("m_slab", x.shape[0], slab, x.dtype, None)
        _wa_slabs(x, y, j0, n, fns.wa, mbuf)
        return mbuf

    def layer_block(self, z_l, z_next, a_l, a_prev, W_l, sl, Wt, b, P, gamma, beta, bias, with_input_cross):
        """:meth:`hidden_block` that also forms m = W_l a_{l-1} (and, with ``with_input_cross``, the
        new z_l a_{l-1}^T) slab by slab with the C kernels of :mod:`admm_xp.kernels.smallk`, so that
        neither m nor the slab of z leaves the core's cache in between; in float32 (see
        :meth:`gram_kernel_for`) the Gram ``a_l a_l^T`` of each new slab too (``gram`` of the
        result). For a narrow next layer, no bias and a narrow a_{l-1} where those kernels run;
        None otherwise (the pass then forms m with BLAS and calls :meth:`hidden_block`)."""
        k = Wt.shape[0]
        if (not self.c_kernels_for(z_l, a_prev, bias, k) or not (_c_contiguous(z_next) and _c_contiguous(a_l))
                or W_l.dtype != z_l.dtype):
            return None
        fns = self._smallk[z_l.dtype.name]
        d, t = z_l.shape[0], z_l.dtype.type
        j0, n = sl.start, sl.stop - sl.start
        slab = min(n, slab_columns(d, z_l.dtype.itemsize, C_SLAB_BYTES))
        r = self.scratch("r", k, slab, z_l.dtype, None)
        mbuf = self.scratch("m_slab", d, slab, z_l.dtype, None)
        cross = np.zeros((k, d))
        in_cross = np.zeros((d, a_prev.shape[0])) if with_input_cross else np.zeros((0, 0))
        bvec = np.zeros(k, dtype=z_l.dtype) if b is None else np.ascontiguousarray(b[:, 0])
        with_gram = self.gram_kernel_for(a_l)
        gram_p, gram_c = self._gram_buffers(d) if with_gram else (_NO_BUFFER, _NO_BUFFER)
        act, pre = _hidden_block_small_c(z_l, z_next, a_l, a_prev, np.ascontiguousarray(W_l), mbuf, j0, n,
                                         np.ascontiguousarray(Wt), bvec, np.ascontiguousarray(P), t(gamma), t(beta),
                                         t(0), r, cross, fns.wa, fns.zat, in_cross, bool(with_input_cross),
                                         self._smallk["float32"].gram, gram_p, gram_c, with_gram)
        gram = self._gram_result(gram_c, d) if with_gram else None
        return BlockResult(a_l[:, sl], act, pre, cross, None, gram, in_cross if with_input_cross else None)

    def hidden_block(self, z_l, z_next, a_l, m, sl, Wt, b, P, gamma, beta, keep_z=False, want_gram=False):
        """Activation and z updates of columns ``sl`` in place: a :class:`~admm_xp.kernels.block.BlockResult`
        (``cross`` for a narrow next layer; with ``keep_z``, ``z`` is the view of the new z, still in
        cache; ``gram`` is left to the pass, which calls :meth:`gram` on the block), or None."""
        k = Wt.shape[0]
        j0, n = sl.start, sl.stop - sl.start
        if not (_c_contiguous(z_l) and _c_contiguous(a_l) and _c_contiguous(z_next) and m.flags.c_contiguous):
            return None
        t = z_l.dtype.type
        if k <= FUSED_ACTIVATION_MAX_K:
            act, pre, _, cross = self._small_block(z_l, z_next, a_l, m, sl, Wt, b, P, gamma, beta)
            return BlockResult(a_l[:, sl], act, pre, cross, z_l[:, sl] if keep_z else None)
        h = self.relu(z_l[:, sl], out=self.scratch("h", z_l.shape[0], n, z_l.dtype, None))
        target = z_next[:, sl] - b if b is not None else z_next[:, sl]
        r = target - np.matmul(Wt, h)
        a_blk = a_l[:, sl]
        np.matmul(P, r, out=a_blk)
        _add_into(a_blk, h)
        act, pre = _hidden_prox_block(a_l, m, z_l, j0, n, t(gamma), t(beta), t(0))
        return BlockResult(a_blk, act, pre, None, z_l[:, sl] if keep_z else None)

    def _small_block(self, z_l, z_next, a_l, m, sl, Wt, b, P, gamma, beta, mu=None, kappa=0.0, shifted=None):
        """:func:`_hidden_block_small` on columns ``sl`` for a narrow next layer (with ``mu``: the linear
        Lagrangian's step; with ``shifted``: z + mu / (2 beta) into it): (act, pre, <mu, z - m>, z_next a^T)."""
        k, d = Wt.shape[0], z_l.shape[0]
        j0, n = sl.start, sl.stop - sl.start
        t = z_l.dtype.type
        r = self.scratch("r", k, min(n, slab_columns(d, z_l.dtype.itemsize)), z_l.dtype, None)
        cross = np.zeros((k, d))
        bvec = np.zeros(k, dtype=z_l.dtype) if b is None else np.ascontiguousarray(b[:, 0])
        act, pre, lag_pre = _hidden_block_small(
            z_l, z_next, a_l, m, j0, n, np.ascontiguousarray(Wt), bvec, np.ascontiguousarray(P), t(gamma), t(beta),
            t(0), r, cross, m if mu is None else mu, mu is not None, t(0.5 / beta), t(2.0 * beta * kappa),
            m if shifted is None else shifted, shifted is not None)
        return act, pre, lag_pre, cross

    def linear_block(self, z_l, z_next, a_l, m, mu_l, sl, Wt, b, P, gamma, beta, kappa, want_shifted=False):
        """:meth:`hidden_block` under the linear Lagrangian, in the same loop: z = prox(a, m - mu / (2 beta)),
        mu += 2 beta kappa (z - m), in place; (a block, act, pre, <mu, z - m>, cross z_next a^T, z + mu /
        (2 beta) with ``want_shifted``, written over ``m``, else None), or None where the loop does not
        apply (a wide next layer, non-contiguous arrays)."""
        if Wt.shape[0] > FUSED_ACTIVATION_MAX_K or not all(_c_contiguous(x) for x in (z_l, a_l, z_next, mu_l)) \
                or not m.flags.c_contiguous:
            return None
        # z + mu / (2 beta) goes into m's own rows, each written after the step and the sums have read
        # it: those cache lines are already there, where a buffer of its own would be fetched to be written
        shifted = m if want_shifted else None
        act, pre, lag_pre, cross = self._small_block(z_l, z_next, a_l, m, sl, Wt, b, P, gamma, beta, mu_l, kappa,
                                                     shifted)
        return a_l[:, sl], act, pre, lag_pre, cross, shifted

    def hidden_prox(self, a, m, gamma, beta, out=None):
        out = np.empty_like(a) if out is None else out
        t = a.dtype.type
        act, pre = _hidden_prox(a, m, out, t(gamma), t(beta), t(0))
        return out, act, pre

    def shifted_relu(self, z_l, nu_l, sl, scale, out=None):
        """``h(z) - scale * nu`` over columns ``sl``, into ``out`` (a d x block buffer) when given."""
        j0, n = sl.start, sl.stop - sl.start
        out = np.empty((z_l.shape[0], n), dtype=z_l.dtype) if out is None else out
        t = z_l.dtype.type
        _shifted_relu(z_l, nu_l, j0, n, t(scale), out, t(0))
        return out

    def multiplier_prox(self, a_l, m, z_l, mu_l, nu_l, sl, gamma, beta, kappa, want_shifted=False):
        """The full Lagrangian's z update and dual steps of columns ``sl``, in one loop, in place
        (``want_shifted``: z + mu / (2 beta) as well, written over the block ``m``, as :meth:`linear_block` does)."""
        j0, n = sl.start, sl.stop - sl.start
        t = a_l.dtype.type
        shifted = m[:, :n] if want_shifted else np.zeros((0, 0), z_l.dtype)
        has_nu = nu_l is not None
        nu = nu_l if has_nu else np.zeros((1, 0), z_l.dtype)
        sums = _multiplier_prox(a_l, m, z_l, mu_l, nu, has_nu, j0, n, t(gamma), t(beta), t(0.5 / gamma),
                                t(0.5 / beta), t(2.0 * gamma * kappa), t(2.0 * beta * kappa), t(0), shifted,
                                bool(want_shifted))
        return (z_l[:, sl], mu_l[:, sl], nu_l[:, sl] if has_nu else None, shifted if want_shifted else None, *sums)

    def output_prox(self, m, s, lam, beta, update_multiplier, out_z=None, out_lam=None, *, loss="hinge", z0=None,
                    lag_residual=False):
        out_z = np.empty_like(m) if out_z is None else out_z
        out_lam = np.empty_like(lam) if out_lam is None else out_lam
        if loss != "hinge":  # the cross-entropy prox: damped Newton, one sample at a time
            # on C-contiguous copies (C x block: cheap next to the Newton steps), so that one compiled
            # loop serves every layout of the pass's views
            c = np.ascontiguousarray
            has_z0 = z0 is not None
            z_new, lam_new = np.empty(m.shape, m.dtype), np.empty(lam.shape, lam.dtype)
            loss_sum, lag, pen = _output_prox_ce(
                c(m), c(s), c(lam), c(z0) if has_z0 else c(m), z_new, lam_new, float(beta), bool(update_multiplier),
                bool(lag_residual), has_z0, PROX_NEWTON_STEPS, PROX_HALVINGS, 8.0 * float(np.finfo(m.dtype).eps), 1e-15)
            out_z[...] = z_new
            out_lam[...] = lam_new
            return out_z, out_lam, loss_sum, lag, pen
        loss_sum, lag, pen = _output_prox(m, s, lam, out_z, out_lam, float(beta), bool(update_multiplier),
                                          bool(lag_residual))
        return out_z, out_lam, loss_sum, lag, pen
