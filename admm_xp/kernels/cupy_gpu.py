"""CuPy fast path: each elementwise step of a block as one compiled GPU kernel.

The kernels compute exactly the formulas of :mod:`admm_xp.updates` (the
tests run them against the portable code on a GPU); the sums the objective
needs are float64 reductions that stay on the device (no host round trip),
each split over the samples (:mod:`admm_xp.kernels.pieces`) so that many
thread blocks share it. Imported only for the CuPy backend.
"""
from __future__ import annotations

import cupy as cp

from .pieces import long_product, long_sum

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


def _rows(kernel):
    """``kernel`` (a two-input ReductionKernel) summed over the last axis: what long_sum needs."""
    return lambda x, y: kernel(x, y, axis=x.ndim - 1)


_act_rows, _diff_rows, _hinge_rows, _dot_rows = (_rows(k) for k in (_act_sq, _diff_sq, _hinge_sum, _dot_sum))


class CupyKernels:
    name = "cupy"
    eval_block = 1 << 20  # samples per block of the accuracy's forward pass: few, large launches

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
        cp.cuda.get_current_stream().synchronize()

    def view(self, x, sl):
        return x[:, sl]

    def scratch(self, name, rows, cols, dtype, device):
        return None  # CuPy's memory pool makes fresh temporaries cheap

    def relu(self, z, out=None):
        return cp.maximum(z, 0, out=out)

    def matmul(self, A, B, out=None):
        return cp.matmul(A, B, out=out)

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

    def hidden_block(self, z_l, z_next, a_l, m, sl, Wt, b, P, gamma, beta):
        return None  # the pass composes relu, add_matmul and hidden_prox (each one kernel or one GEMM)

    def hidden_prox(self, a, m, gamma, beta, out=None):
        t = a.dtype.type
        z = _z_hidden(a, m, t(gamma), t(beta), out) if out is not None else _z_hidden(a, m, t(gamma), t(beta))
        return z, long_sum(_act_rows, (a, z), self.xp), long_sum(_diff_rows, (z, m), self.xp)

    def output_prox(self, m, s, lam, beta, update_multiplier, out_z=None, out_lam=None):
        t = m.dtype.type
        z = out_z if out_z is not None else cp.empty_like(m)
        lam_new = out_lam if out_lam is not None else cp.empty_like(lam)
        _z_output(m, s, lam, t(beta), bool(update_multiplier), z, lam_new)
        xp = self.xp
        return (z, lam_new, long_sum(_hinge_rows, (s, z), xp), long_sum(_dot_rows, (z, lam_new), xp),
                long_sum(_diff_rows, (z, m), xp))
