"""Probe: the C kernels of admm_xp/kernels/smallk.c against OpenBLAS, one core, operands in cache.

Times, at the HIGGS shape (300 x 28 weights, blocks of 4,096 and slabs of 512 columns):
``W_1 a_0`` (NumPy's product vs the ``wa`` kernel) and ``z_1 a_0^T`` (NumPy's ``Z @ X.T`` vs the
``zat`` kernel, on a 300 x 512 slab of z that stays in L2 and the slab of a 200,000-wide X, as the
fused loop calls it). Needs the built extension (``pip install -e .`` with a C compiler) and
AVX-512F. Print-out: GFLOP/s, best of 50.

    python scripts/probes/smallk_probe.py
"""
from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from admm_xp.kernels import smallk


def best(fn, repeats=50):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    kernels = smallk.load()
    if kernels is None:
        raise SystemExit("smallk kernels not available here (extension not built, or no AVX-512F)")
    threadpool_limits(1)
    d, K, w, wide = 300, 28, 4096, 200_000
    rng = np.random.default_rng(0)
    for dtype, (wa, zat) in kernels.items():
        W = rng.standard_normal((d, K)).astype(dtype)
        X = rng.standard_normal((K, wide)).astype(dtype)
        out = np.empty((d, w), dtype)
        flops = 2 * d * K * w
        for slab in (4096, 512):
            blas = flops / best(lambda: [np.matmul(W, X[:, s:s + slab], out=out[:, :slab]) for s in range(0, w, slab)])
            c = flops / best(lambda: [wa(W.ctypes.data, d, K, X[:, s:].ctypes.data, wide, slab, out.ctypes.data, slab)
                                      for s in range(0, w, slab)])
            print(f"{dtype} W_1 a_0, {w} columns in calls of {slab}: BLAS {blas / 1e9:5.0f} GFLOP/s, wa {c / 1e9:5.0f}")
        Z = rng.standard_normal((d, 512)).astype(dtype)
        acc = np.zeros((d, K))
        f = 2 * d * K * 512
        blas = f / best(lambda: Z @ X[:, 1024:1536].T)
        c = f / best(lambda: zat(Z.ctypes.data, 512, d, X[:, 1024:].ctypes.data, wide, K, 512, acc.ctypes.data))
        print(f"{dtype} z_1 a_0^T, a 300 x 512 slab of z: BLAS {blas / 1e9:5.0f} GFLOP/s, zat {c / 1e9:5.0f}")


if __name__ == "__main__":
    main()
