"""CuPy fast path: each elementwise step of a block as one compiled GPU kernel.

The kernels compute exactly the formulas of :mod:`admm_xp.solver.updates` (the
tests run them against the portable code on a GPU); the sums the objective
needs are float64 reductions that stay on the device (no host round trip),
each split over the samples (:mod:`admm_xp.kernels.pieces`) so that many
thread blocks share it. For a narrow next layer (HIGGS's single output) the
activation update, the z update and their sums run as two fused kernels
written in CUDA C (``hidden_block``). Imported only for the CuPy backend.
"""
from __future__ import annotations

import cupy as cp

from .block import BlockResult
from .pieces import MAX_PIECES, PIECE, split_pieces, gram_of_pieces, long_product, long_sum
from .portable import fewer_output_rows_turned, multiplier_prox_portable, output_prox_portable

_z_hidden = cp.ElementwiseKernel(
    "T a, T m, T gamma, T beta",
    "T z",
    """
    T c = (gamma * a + beta * m) / (gamma + beta);
    T zp = c > (T)0 ? c : (T)0;
    T da = a - zp;
    T dm = zp - m;
    T vp = gamma * da * da + beta * dm * dm;
    T zm = m < (T)0 ? m : (T)0;
    T dz = zm - m;
    T vm = gamma * a * a + beta * dz * dz;
    z = vp <= vm ? zp : zm;
    """,
    "admm_xp_z_hidden_relu",
)

_z_output = cp.ElementwiseKernel(
    "T m, T s, T lam_in, T beta, bool update",
    "T z, T lam",
    """
    T half = (T)0.5 / beta;
    T z_loss = m + (s - lam_in) * half;
    T z_flat = m - lam_in * half;
    T zz = (s * z_loss < (T)1) ? z_loss : ((s * z_flat > (T)1) ? z_flat : s);
    z = zz;
    lam = update ? lam_in + beta * (zz - m) : lam_in;
    """,
    "admm_xp_z_output_hinge",
)

_add_outer = cp.ElementwiseKernel("T h, T p, T r", "T a", "a = h + p * r", "admm_xp_add_outer")

_act_sq = cp.ReductionKernel(
    "T a, T z", "float64 s",
    "((double)a - (z > (T)0 ? (double)z : 0.0)) * ((double)a - (z > (T)0 ? (double)z : 0.0))",
    "a + b", "s = a", "0", "admm_xp_act_sq",
)
_diff_sq = cp.ReductionKernel(
    "T x, T y", "float64 s", "((double)x - (double)y) * ((double)x - (double)y)", "a + b", "s = a", "0", "admm_xp_diff_sq",
)
_hinge_sum = cp.ReductionKernel(
    "T s_, T z", "float64 s", "(1.0 - (double)s_ * (double)z) > 0.0 ? (1.0 - (double)s_ * (double)z) : 0.0",
    "a + b", "s = a", "0", "admm_xp_hinge",
)
_dot_sum = cp.ReductionKernel(
    "T x, T y", "float64 s", "(double)x * (double)y", "a + b", "s = a", "0", "admm_xp_dot",
)


# The activation and z updates of a block for a narrow next layer (at most FUSED_K_MAX units:
# HIGGS's output is one), in two kernels instead of five separate passes over the block.
# admm_xp_residual: one thread per column, r = z_{l+1} - b - Wt relu(z_l), summed over the rows.
# admm_xp_act_z: one thread block per (row, tile of TILE_THREADS * TILE_COLS columns): a = relu(z) + P r
# and z = prox(a, m) written in place (and, if asked, into a contiguous copy), a also into the
# pieces layout of the Gram matrix's batched product (pieces.gram_of_pieces: no gather afterwards),
# and the block's float64 partial sums of (a - relu(z))^2, (z - m)^2 and z_{l+1} a^T, added in a
# fixed order (so a run is deterministic).
# admm_xp_thin_product: A x for A of at most FUSED_K_MAX rows and x a column view of a wide
# array (W_L a_{L-1}, the output layer's product), one thread per column reading each of x's rows
# once; cuBLAS reads such a view several times slower than a contiguous copy.
FUSED_K_MAX = 8
TILE_THREADS, TILE_COLS = 256, 16
_FUSED_SRC = r"""
__device__ double admm_xp_block_sum(double v, double* sh)
{
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();  /* sh may still be read by the previous call */
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    double t = 0.0;
    if (warp == 0) {
        t = lane < (int)(blockDim.x >> 5) ? sh[lane] : 0.0;
        for (int off = 16; off > 0; off >>= 1) t += __shfl_down_sync(0xffffffffu, t, off);
    }
    return t;  /* the block's total, in thread 0 */
}

extern "C" __global__ void admm_xp_residual(const T* __restrict__ z, long long ldz, const T* __restrict__ zn,
                                            long long ldn, const T* __restrict__ Wt, const T* __restrict__ b,
                                            int d, int K, int w, T* __restrict__ r)
{
    const long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= w) return;
    T acc[KMAX];
#pragma unroll
    for (int k = 0; k < KMAX; ++k) acc[k] = k < K ? zn[k * ldn + j] - b[k] : (T)0;
    for (int i = 0; i < d; ++i) {
        const T v = z[i * ldz + j];
        const T h = v > (T)0 ? v : (T)0;
#pragma unroll
        for (int k = 0; k < KMAX; ++k)
            if (k < K) acc[k] -= Wt[k * d + i] * h;
    }
#pragma unroll
    for (int k = 0; k < KMAX; ++k)
        if (k < K) r[k * (long long)w + j] = acc[k];
}

extern "C" __global__ void admm_xp_thin_product(const T* __restrict__ x, long long ldx, const T* __restrict__ A,
                                                int d, int K, int w, T* __restrict__ out, long long ldo)
{
    const long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= w) return;
    T acc[KMAX];
#pragma unroll
    for (int k = 0; k < KMAX; ++k) acc[k] = (T)0;
    for (int i = 0; i < d; ++i) {
        const T v = x[i * ldx + j];
#pragma unroll
        for (int k = 0; k < KMAX; ++k)
            if (k < K) acc[k] += A[k * d + i] * v;
    }
#pragma unroll
    for (int k = 0; k < KMAX; ++k)
        if (k < K) out[k * ldo + j] = acc[k];
}

extern "C" __global__ void admm_xp_act_z(T* __restrict__ z, T* __restrict__ a, long long ld, const T* __restrict__ m,
                                         long long ldm, const T* __restrict__ r, const T* __restrict__ zn,
                                         long long ldn, const T* __restrict__ P, T gamma, T beta, int d, int K, int w,
                                         int cols, double* __restrict__ parts, int keep_z, T* __restrict__ zc,
                                         int piece, int used, T* __restrict__ ap)
{
    __shared__ double sh[32];
    const int i = blockIdx.y;
    const long long start = (long long)blockIdx.x * blockDim.x * cols;
    T p[KMAX];
#pragma unroll
    for (int k = 0; k < KMAX; ++k) p[k] = k < K ? P[i * K + k] : (T)0;
    double s_act = 0.0, s_pre = 0.0, s_cross[KMAX];
#pragma unroll
    for (int k = 0; k < KMAX; ++k) s_cross[k] = 0.0;
    for (int u = 0; u < cols; ++u) {
        const long long j = start + (long long)u * blockDim.x + threadIdx.x;
        if (j >= w) break;
        const T zv = z[i * ld + j];
        T av = zv > (T)0 ? zv : (T)0;
#pragma unroll
        for (int k = 0; k < KMAX; ++k)
            if (k < K) av += p[k] * r[k * (long long)w + j];
        a[i * ld + j] = av;
        if (j < used) {  /* the Gram matrix's pieces: ap[p][i][c] = a[i][p * piece + c] */
            const int p_ = (int)j / piece;
            ap[((long long)p_ * d + i) * piece + ((int)j - p_ * piece)] = av;
        }
        const T mv = m[i * ldm + j];
        const T c = (gamma * av + beta * mv) / (gamma + beta);
        const T zp = c > (T)0 ? c : (T)0;
        const T da = av - zp, dm = zp - mv;
        const T vp = gamma * da * da + beta * dm * dm;
        const T zm = mv < (T)0 ? mv : (T)0;
        const T dz = zm - mv;
        const T vm = gamma * av * av + beta * dz * dz;
        const T znew = vp <= vm ? zp : zm;
        z[i * ld + j] = znew;
        if (keep_z) zc[i * (long long)w + j] = znew;  /* a contiguous copy for the products that follow */
        const double e1 = (double)av - (znew > (T)0 ? (double)znew : 0.0);
        const double e2 = (double)znew - (double)mv;
        s_act += e1 * e1;
        s_pre += e2 * e2;
#pragma unroll
        for (int k = 0; k < KMAX; ++k)
            if (k < K) s_cross[k] += (double)zn[k * ldn + j] * (double)av;
    }
    const long long tiles = gridDim.x, at = (long long)i * tiles + blockIdx.x, stride = (long long)d * tiles;
    double t = admm_xp_block_sum(s_act, sh);
    if (threadIdx.x == 0) parts[at] = t;
    t = admm_xp_block_sum(s_pre, sh);
    if (threadIdx.x == 0) parts[stride + at] = t;
#pragma unroll
    for (int k = 0; k < KMAX; ++k) {
        if (k < K) {  /* K is the same in every thread: the block's barriers stay uniform */
            t = admm_xp_block_sum(s_cross[k], sh);
            if (threadIdx.x == 0) parts[(2 + k) * stride + at] = t;
        }
    }
}
"""
_fused_modules: dict = {}


def _fused(dtype, K: int, name: str):
    """One of the fused kernels for float32 or float64 data and a next layer of K units (compiled for
    each pair on first use, then cached by CuPy; with K fixed the per-unit values stay in registers)."""
    key = (cp.dtype(dtype).char, K)
    mod = _fused_modules.get(key)
    if mod is None:
        ctype = {"f": "float", "d": "double"}[key[0]]
        mod = _fused_modules[key] = cp.RawModule(code=f"typedef {ctype} T;\n#define KMAX {K}\n" + _FUSED_SRC)
    return mod.get_function(name)


def _rows(kernel):
    """``kernel`` (a two-input ReductionKernel) summed over the last axis: what long_sum needs."""
    return lambda x, y: kernel(x, y, axis=x.ndim - 1)


_act_rows, _diff_rows, _hinge_rows, _dot_rows = (_rows(k) for k in (_act_sq, _diff_sq, _hinge_sum, _dot_sum))


class CupyKernels:
    name = "cupy"
    eval_block = 1 << 20  # samples per block of the accuracy's forward pass: few, large launches
    threads = 1  # one host thread drives the device
    # capabilities (admm_xp.kernels.protocol.KernelSet): the fused hidden block and views of columns
    fuses_blocks = writable_views = True
    fuses_layers = sums_input_cross = False

    def __init__(self, xp):
        self.xp = xp

    def iteration_context(self):
        from contextlib import nullcontext

        return nullcontext()

    def map_chunks(self, fn, n: int):
        return [fn(slice(0, n))]  # the GPU parallelises inside each kernel

    def warmup(self, dtype) -> None:
        """Compile every kernel for ``dtype`` now, so that iteration times exclude compilation."""
        a = cp.ones((2, 3), dtype=dtype)
        self.hidden_prox(a, a, 1.0, 1.0)
        self.output_prox(a, a, a.copy(), 1.0, True)
        one = cp.ones((1, 3), dtype=dtype)  # the fused block for a width-1 next layer (other widths compile on first use)
        self.hidden_block(a.copy(), one, a.copy(), a, slice(0, 3), cp.ones((1, 2), dtype=dtype), None,
                          cp.ones((2, 1), dtype=dtype), 1.0, 1.0, keep_z=True)
        self.matmul(cp.ones((1, 2), dtype=dtype), a)
        cp.cuda.get_current_stream().synchronize()

    def view(self, x, sl):
        return x[:, sl]

    def scratch(self, name, rows, cols, dtype, device):
        return None  # CuPy's memory pool makes fresh temporaries cheap

    def relu(self, z, out=None):
        return cp.maximum(z, 0, out=out)

    def matmul(self, A, B, out=None):
        """``A @ B``; for A of at most FUSED_K_MAX rows and a 2-D B (the output layer's ``W_L a``),
        one pass over B's columns (admm_xp_thin_product), else cuBLAS."""
        dt = B.dtype
        if (A.ndim == B.ndim == 2 and 1 <= A.shape[0] <= FUSED_K_MAX and A.shape[1] == B.shape[0] and A.dtype == dt
                and dt.char in "fd" and B.strides[1] == dt.itemsize and 0 < B.shape[1] < 2**31
                and (out is None or (out.dtype == dt and out.shape == (A.shape[0], B.shape[1])
                                     and out.strides[1] == dt.itemsize))):
            K, (d, w) = A.shape[0], B.shape
            out = cp.empty((K, w), dtype=dt) if out is None else out
            _fused(dt, K, "admm_xp_thin_product")(
                ((w + TILE_THREADS - 1) // TILE_THREADS,), (TILE_THREADS,),
                (B, cp.int64(B.strides[0] // dt.itemsize), cp.ascontiguousarray(A), cp.int32(d), cp.int32(K),
                 cp.int32(w), out, cp.int64(out.strides[0] // dt.itemsize)))
            return out
        return cp.matmul(A, B, out=out)

    def turn_cross(self, z, a) -> bool:
        """``(a z^T)^T`` when a has fewer rows (the order every GPU record was measured with)."""
        return fewer_output_rows_turned(z, a)

    def layer_block(self, z_l, z_next, a_l, a_prev, W_l, sl, Wt, b, P, gamma, beta, bias, with_input_cross):
        return None  # the pass forms W_l a_{l-1} with cuBLAS and calls hidden_block

    def input_cross(self, z, a, sl):
        return None  # the pass uses sample_cross (cuBLAS)

    def c_kernels_for(self, z, a_prev, bias: bool, next_width: int) -> bool:
        return False

    def long_product(self, A, B):
        """``A @ B`` in float64 over a long inner dimension (the cross sums ``z a^T``).

        One 2-D product of contiguous copies of the two blocks: on an H200 at the HIGGS shape
        (1M-sample blocks of a state 10.5M samples wide) the product read 300 x 28 outputs' worth
        of operands at 2.3 TFLOP/s straight from the views, 3.8 as a batched product of pieces, and
        11 from contiguous copies (1.5 ms per 300-row copy); for a width-1 side, 0.35 ms from copies
        against 4.3 ms as pieces (scripts/gpu_probe.py). cuBLAS sums each entry's million terms in
        the working precision; the blocks' results are added in float64.
        """
        Bt = cp.ascontiguousarray(B.T)  # B is a transposed view of a block; copy its rows
        return cp.matmul(cp.ascontiguousarray(A), Bt.T).astype(cp.float64)

    def gram(self, a):
        """``a a^T`` in float64, as a batched product of contiguous pieces of a (8.8 ms per 1M-sample
        block on an H200 against 18 ms for the 2-D product on the view), the pieces' sums in float64."""
        return long_product(a, None, self.xp, matmul=cp.matmul, gather=cp.ascontiguousarray)

    def add_matmul(self, h, P, r, out=None):
        if P.shape[1] == 1:  # a next layer of width 1 (HIGGS's output): h + P r is one elementwise pass
            return _add_outer(h, P, r, out) if out is not None else _add_outer(h, P, r)
        out = cp.matmul(P, r, out=out)
        out += h
        return out

    def linear_block(self, z_l, z_next, a_l, m, mu_l, sl, Wt, b, P, gamma, beta, kappa, want_shifted=False):
        return None  # no fused kernel yet: the pass composes relu, the products and multiplier_prox

    def hidden_block(self, z_l, z_next, a_l, m, sl, Wt, b, P, gamma, beta, keep_z=False, want_gram=False):
        """Activation and z updates of columns ``sl`` in place, for a next layer of at most FUSED_K_MAX
        units: a :class:`~admm_xp.kernels.block.BlockResult` with the sums and ``z_{l+1} a^T``, or
        None (then the pass composes relu, the product, add_matmul and hidden_prox). Two kernels read
        the block's z twice and m once and write a and z once; the composed path makes five passes
        over the block and two more for its sums. With ``keep_z`` the result's z is a contiguous
        copy, written by the same kernel, for the products that follow (``z a_{l-1}^T``); with
        ``want_gram`` the kernel also writes a in the pieces of :func:`pieces.gram_of_pieces`, and the
        result carries ``a a^T`` (the same sums as :meth:`gram`, without its gather)."""
        dt = z_l.dtype
        K, d, item = Wt.shape[0], z_l.shape[0], dt.itemsize
        w = sl.stop - sl.start
        if (not 1 <= K <= FUSED_K_MAX or dt.char not in "fd" or not 0 < w < 2**31 or d > 65535
                or z_l.strides != a_l.strides or z_l.strides[1] != item or z_next.strides[1] != item
                or a_l.dtype != dt or z_next.dtype != dt or m.dtype != dt or not m.flags.c_contiguous):
            return None
        t = dt.type
        zv, av, znv = z_l[:, sl], a_l[:, sl], z_next[:, sl]
        ld, ldn = cp.int64(z_l.strides[0] // item), cp.int64(z_next.strides[0] // item)
        Wt_c, P_c = cp.ascontiguousarray(Wt, dtype=dt), cp.ascontiguousarray(P, dtype=dt)
        bv = cp.zeros(K, dtype=dt) if b is None else cp.ascontiguousarray(b[:, 0], dtype=dt)
        r = cp.empty((K, w), dtype=dt)
        i32 = cp.int32
        _fused(dt, K, "admm_xp_residual")(((w + TILE_THREADS - 1) // TILE_THREADS,), (TILE_THREADS,),
                                       (zv, ld, znv, ldn, Wt_c, bv, i32(d), i32(K), i32(w), r))
        tile = TILE_THREADS * TILE_COLS
        tiles = (w + tile - 1) // tile
        parts = cp.empty((2 + K, d, tiles), dtype=cp.float64)
        zc = cp.empty((d, w), dtype=dt) if keep_z else None
        k, s = split_pieces(w, PIECE, MAX_PIECES) if want_gram else (1, w)
        used = k * s if k >= 2 else 0  # fewer than two pieces: the Gram is one product (gram below)
        a3 = cp.empty((k, d, s), dtype=dt) if used else None
        _fused(dt, K, "admm_xp_act_z")((tiles, d), (TILE_THREADS,),
                                    (zv, av, ld, m, cp.int64(m.shape[1]), r, znv, ldn, P_c, t(gamma), t(beta),
                                     i32(d), i32(K), i32(w), i32(TILE_COLS), parts, i32(bool(keep_z)),
                                     zc if keep_z else zv,  # never written when keep_z is 0
                                     i32(s), i32(used), a3 if used else zv))  # nor when used is 0
        rows = cp.sum(parts, axis=2)  # (2 + K) x d
        gram = None
        if want_gram:
            gram = gram_of_pieces(a3, av[:, used:] if used < w else None, self.xp, cp.matmul) if used else self.gram(av)
        return BlockResult(av, cp.sum(rows[0]), cp.sum(rows[1]), rows[2:], zc, gram)

    def hidden_prox(self, a, m, gamma, beta, out=None):
        t = a.dtype.type
        z = _z_hidden(a, m, t(gamma), t(beta), out) if out is not None else _z_hidden(a, m, t(gamma), t(beta))
        return z, long_sum(_act_rows, (a, z), self.xp), long_sum(_diff_rows, (z, m), self.xp)

    def shifted_relu(self, z_l, nu_l, sl, scale, out=None):
        return cp.maximum(z_l[:, sl], 0) - scale * nu_l[:, sl]

    def multiplier_prox(self, a_l, m, z_l, mu_l, nu_l, sl, gamma, beta, kappa, want_shifted=False):
        """Array expressions (CuPy fuses none of them yet), written into the columns ``sl``."""
        z, mu, nu, shifted, *sums = multiplier_prox_portable(self.xp, a_l[:, sl], m, mu_l[:, sl],
                                                             None if nu_l is None else nu_l[:, sl], gamma, beta,
                                                             kappa, want_shifted)
        z_l[:, sl], mu_l[:, sl] = z, mu
        if nu_l is not None:
            nu_l[:, sl] = nu
        return (z_l[:, sl], mu_l[:, sl], None if nu_l is None else nu_l[:, sl], shifted, *sums)

    def output_prox(self, m, s, lam, beta, update_multiplier, out_z=None, out_lam=None, *, loss="hinge", z0=None,
                    lag_residual=False):
        if loss != "hinge":  # the cross-entropy prox: C x block array expressions (the output is narrow)
            z, lam_new, loss_sum, lag, pen = output_prox_portable(self.xp, m, s, lam, beta, update_multiplier, loss, z0,
                                                                  lag_residual)
            for value, out in ((z, out_z), (lam_new, out_lam)):
                if out is not None:
                    out[...] = value
            return (z if out_z is None else out_z), (lam_new if out_lam is None else out_lam), loss_sum, lag, pen
        t = m.dtype.type
        z = out_z if out_z is not None else cp.empty_like(m)
        lam_new = out_lam if out_lam is not None else cp.empty_like(lam)
        _z_output(m, s, lam, t(beta), bool(update_multiplier), z, lam_new)
        xp = self.xp
        return (z, lam_new, long_sum(_hinge_rows, (s, z), xp),
                long_sum(_dot_rows, ((z - m) if lag_residual else z, lam_new), xp), long_sum(_diff_rows, (z, m), xp))
