"""Probe: a hand-written AVX-512 float32 Gram kernel (gram_avx512.c) against OpenBLAS's syrk.

Compiles gram_avx512.c with the system C compiler (``cc -O3 -march=native``; needs a CPU with
AVX-512F) into a temporary folder, then times, on one core, ``a a^T`` for a of 300 x 4,096
float32 (one block of the pass at the HIGGS shape, in cache): NumPy's product (OpenBLAS syrk),
the kernel with its packing, the kernel alone on data packed beforehand, and the kernel that
landed in admm_xp (``admm_xp/kernels/gram_f32.h``, packing included). Rates count the
symmetric d (d + 1) k flops; the reference rate is a 1,024^3 sgemm on the same core.

    python scripts/probes/gram_probe.py
"""
from __future__ import annotations

import ctypes
import pathlib
import subprocess
import tempfile
import time

import numpy as np
from threadpoolctl import threadpool_limits


def best(fn, repeats=30):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    src = pathlib.Path(__file__).with_name("gram_avx512.c")
    with tempfile.TemporaryDirectory() as tmp:
        lib_path = pathlib.Path(tmp) / "libgram.so"
        subprocess.run(["cc", "-O3", "-march=native", "-shared", "-fPIC", "-o", str(lib_path), str(src)], check=True)
        lib = ctypes.CDLL(str(lib_path))
    vp, i, sz = ctypes.c_void_p, ctypes.c_int, ctypes.c_ssize_t
    lib.gram_f32.argtypes = [vp, sz, i, sz, vp, i]
    lib.gram_packed_f32.argtypes = [vp, i, i, i, vp]
    lib.gram_pack_f32.argtypes = [vp, sz, i, sz, i, vp, i]
    lib.gram_dp.argtypes = [i]
    threadpool_limits(1)
    d, k = 300, 4096
    rng = np.random.default_rng(0)
    a = rng.random((d, k), dtype=np.float32)
    sq = rng.random((1024, 1024), dtype=np.float32)
    square = 2 * 1024**3 / best(lambda: sq @ sq, 5)
    flops = d * (d + 1) * k
    ref = a.astype(np.float64) @ a.T.astype(np.float64)
    blas = flops / best(lambda: a @ a.T)
    print(f"one core, float32, a of {d} x {k}; 1,024^3 sgemm {square / 1e9:.0f} GFLOP/s")
    print(f"  OpenBLAS (a @ a.T, syrk)     {blas / 1e9:6.0f} GFLOP/s = {blas / square:.2f} of sgemm")
    G = np.zeros((d, d))
    for kc in (256, 512, 1024):
        def packed_and_kernel():
            G[:] = 0
            lib.gram_f32(a.ctypes.data, k, d, k, G.ctypes.data, kc)
        rate = flops / best(packed_and_kernel)
        err = np.max(np.abs(np.triu(G) - np.triu(ref))) / np.max(ref)
        dp = lib.gram_dp(d)
        P = np.zeros(kc * dp + 16, dtype=np.float32)
        off = (-P.ctypes.data % 64) // 4
        P = P[off:off + kc * dp]
        lib.gram_pack_f32(a.ctypes.data, k, d, 0, kc, P.ctypes.data, dp)
        chunks = k // kc

        def kernel_only():
            for _ in range(chunks):
                lib.gram_packed_f32(P.ctypes.data, dp, d, kc, G.ctypes.data)
        kernel = flops / best(kernel_only)
        print(f"  kernel, chunks of {kc:4d}: with packing {rate / 1e9:4.0f} GFLOP/s = {rate / square:.2f}, "
              f"kernel alone {kernel / 1e9:4.0f} = {kernel / square:.2f} (max rel. error {err:.1e})")
    landed(a, d, k, flops, square, ref)


def landed(a, d, k, flops, square, ref) -> None:
    """The kernel that landed (admm_xp/kernels/gram_f32.h) on the same block, in the slabs of 256
    columns that the layer-1 loop hands it at this shape."""
    from admm_xp.kernels import smallk

    kernels = smallk.load()
    if kernels is None:
        print("  admm_xp's Gram kernel: not available here (extension not built, or no AVX-512F)")
        return
    p_len, c_len = smallk.gram_buffer_sizes(d)
    raw = np.zeros(p_len + c_len + 32, dtype=np.float32)
    off = (-raw.ctypes.data % 64) // 4
    P, C = raw[off:off + p_len], raw[off + p_len:off + p_len + c_len]  # p_len is a multiple of 16
    gram = kernels["float32"].gram

    def run():
        C[:] = 0
        for c0 in range(0, k, 256):
            gram(a[:, c0:].ctypes.data, k, d, min(256, k - c0), P.ctypes.data, C.ctypes.data)
    rate = flops / best(run)
    dp = smallk.gram_dp(d)
    got = np.triu(C.reshape(dp, dp)[:d, :d].T.astype(np.float64))
    err = np.max(np.abs(got - np.triu(ref))) / np.max(ref)
    print(f"  admm_xp's kernel (gram_f32.h), slabs of 256, packing included: {rate / 1e9:4.0f} GFLOP/s = "
          f"{rate / square:.2f} (max rel. error {err:.1e})")


if __name__ == "__main__":
    main()
