"""NumPy fast path: fused elementwise loops (numba) and column chunks on every core.

The loops compute the formulas of :mod:`admm_xp.updates` in float64
registers (rounded once on store), write into preallocated buffers or views
of the solver's arrays, and return their float64 sums, so a block is read
once and written once. Parallelism is over column chunks: one thread per
core runs the whole per-block pipeline (its BLAS calls single-threaded, its
numba loops serial and free of the GIL), which keeps small matrix products
and elementwise loops from fighting over cores. Imported only when numba is
installed.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

_JIT = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")

# The fused activation kernel handles next layers up to this width; wider
# ones go through BLAS (a d x K by K x n product is then compute-bound).
FUSED_ACTIVATION_MAX_K = 8


@njit(**_JIT)
def _relu(z, out):
    d, n = z.shape
    for i in range(d):
        for j in range(n):
            v = z[i, j]
            out[i, j] = v if v > 0.0 else 0.0


@njit(**_JIT)
def _add_into(out, h):
    d, n = out.shape
    for i in range(d):
        for j in range(n):
            out[i, j] += h[i, j]


@njit(**_JIT)
def _activation_small(z, target, Wt, P, r, out):
    """out = h + P (target - Wt h), h = relu(z), for a narrow next layer (K = Wt.shape[0] small)."""
    d, n = z.shape
    k_dim = Wt.shape[0]
    for k in range(k_dim):
        for j in range(n):
            r[k, j] = target[k, j]
    for i in range(d):
        for k in range(k_dim):
            w = Wt[k, i]
            for j in range(n):
                v = z[i, j]
                r[k, j] -= w * (v if v > 0.0 else 0.0)
    for i in range(d):
        for j in range(n):
            v = z[i, j]
            acc = v if v > 0.0 else 0.0
            for k in range(k_dim):
                acc += P[i, k] * r[k, j]
            out[i, j] = acc


@njit(**_JIT)
def _hidden_prox(a, m, z, gamma, beta):
    """z = argmin gamma (a - h(z))^2 + beta (z - m)^2; returns the two penalty sums.

    The two-branch rule of updates.z_hidden_relu, with the same tie rule
    (the z >= 0 branch wins ties).
    """
    d, n = a.shape
    inv = 1.0 / (gamma + beta)
    act = 0.0
    pre = 0.0
    for i in range(d):
        for j in range(n):
            ai = np.float64(a[i, j])
            mi = np.float64(m[i, j])
            c = (gamma * ai + beta * mi) * inv
            zp = c if c > 0.0 else 0.0
            vp = gamma * (ai - zp) ** 2 + beta * (zp - mi) ** 2
            zm = mi if mi < 0.0 else 0.0
            vm = gamma * ai * ai + beta * (zm - mi) ** 2
            z[i, j] = zp if vp <= vm else zm
            zs = np.float64(z[i, j])  # the stored (rounded) value enters the sums
            hz = zs if zs > 0.0 else 0.0
            act += (ai - hz) ** 2
            pre += (zs - mi) ** 2
    return act, pre


@njit(**_JIT)
def _output_prox(m, s, lam, z, lam_out, beta, update):
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
            lag += zs * ln
            pen += (zs - mi) ** 2
    return loss, lag, pen


def default_threads() -> int:
    """Threads for the column chunks: ADMM_XP_THREADS (set per MPI rank), else the cores of this process."""
    env = os.environ.get("ADMM_XP_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class NumbaKernels:
    name = "numba"

    def __init__(self, xp, threads: int | None = None):
        self.xp = xp
        self.threads = default_threads() if threads is None else max(1, int(threads))
        self._local = threading.local()
        self._pool = None

    # Chunks over cores ---------------------------------------------------------
    def map_chunks(self, fn, n: int):
        """``[fn(slice) for each of T contiguous column chunks]``, in chunk order, on T threads."""
        from threadpoolctl import threadpool_limits

        t = max(1, min(self.threads, n // 256 or 1))
        bounds = [n * c // t for c in range(t + 1)]
        slices = [slice(bounds[c], bounds[c + 1]) for c in range(t)]
        with threadpool_limits(1, user_api="blas"):
            if t == 1:
                return [fn(slices[0])]
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="admm-xp")
            return list(self._pool.map(fn, slices))

    def view(self, x, sl):
        return x[:, sl]

    def scratch(self, name, rows, cols, dtype, device):
        buffers = getattr(self._local, "buffers", None)
        if buffers is None:
            buffers = self._local.buffers = {}
        key = (name, rows, np.dtype(dtype).str)
        buf = buffers.get(key)
        if buf is None or buf.shape[1] < cols:
            buf = np.empty((rows, cols), dtype=dtype)
            buffers[key] = buf
        return buf[:, :cols]

    # Block operations ----------------------------------------------------------
    def relu(self, z, out=None):
        out = np.empty_like(z) if out is None else out
        _relu(z, out)
        return out

    def matmul(self, A, B, out=None):
        return np.matmul(A, B, out=out)

    def add_matmul(self, h, P, r, out=None):
        if out is None:
            out = np.empty_like(h)
        np.matmul(P, r, out=out)
        _add_into(out, h)
        return out

    def activation(self, z, target, Wt, P, out=None):
        """a = h + P (target - Wt h) with h = relu(z), fused when the next layer is narrow.

        Returns None when the next layer is too wide for the fused loop (the
        caller then uses relu, matmul and add_matmul).
        """
        k = Wt.shape[0]
        if k > FUSED_ACTIVATION_MAX_K:
            return None
        out = np.empty_like(z) if out is None else out
        r = self.scratch("r_small", k, z.shape[1], z.dtype, None)
        _activation_small(z, target, np.ascontiguousarray(Wt), np.ascontiguousarray(P), r, out)
        return out

    def hidden_prox(self, a, m, gamma, beta, out=None):
        out = np.empty_like(a) if out is None else out
        act, pre = _hidden_prox(a, m, out, float(gamma), float(beta))
        return out, act, pre

    def output_prox(self, m, s, lam, beta, update_multiplier, out_z=None, out_lam=None):
        out_z = np.empty_like(m) if out_z is None else out_z
        out_lam = np.empty_like(lam) if out_lam is None else out_lam
        loss, lag, pen = _output_prox(m, s, lam, out_z, out_lam, float(beta), bool(update_multiplier))
        return out_z, out_lam, loss, lag, pen
