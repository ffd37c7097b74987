"""Time the layer-1 pass of the NumPy + numba kernels at the HIGGS shape, split by operation.

Runs :func:`admm_xp.solver.passes.hidden_layer_pass` (what one iteration spends most of its time in)
on synthetic data, two threads, and reports the median pass time and each kernel call's time
per thread: ``matmul`` (W_1 a_0), ``hidden_block`` (the fused activation and z loop), ``gram``
(a_1 a_1^T) and ``long_product`` (z_1 a_0^T). Used to compare a kernel change against the
committed one on the same machine, one after the other:

    python scripts/probes/pass_timing.py                       # the committed kernels
    git apply scripts/probes/stream_stores.patch
    python scripts/probes/pass_timing.py                       # the variant
    git apply -R scripts/probes/stream_stores.patch

``--gram blas`` sums the float32 Gram with BLAS instead of the C kernel (compare with the default);
``--c-slab-bytes B`` sets the slab budget of the loop with the C kernels (default 524288: 256 columns
in float32, 128 in float64 at 300 rows; twice that doubles them).
``--cross as-written`` / ``--cross turned`` override the kernel set's choice of orientation for
the cross sums ``z a^T`` (``NumbaKernels.turn_cross``), to compare the two.

Timings on a shared VM move by 5-10% between runs: alternate the two versions a few times.
"""
from __future__ import annotations

import argparse
import collections
import threading
import time

import array_api_compat.numpy as xp
import numpy as np

from admm_xp.solver import passes
from admm_xp.kernels import numba_cpu
from admm_xp.kernels.numba_cpu import NumbaKernels


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200_000, help="samples (columns)")
    p.add_argument("--hidden", type=int, default=300, help="hidden layer width")
    p.add_argument("--features", type=int, default=28)
    p.add_argument("--block", type=int, default=4096, help="columns per block of the pass")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5, help="timed passes (after two untimed ones)")
    p.add_argument("--dtype", choices=["float64", "float32", "both"], default="both")
    p.add_argument("--cross", choices=["kernel", "as-written", "turned"], default="kernel",
                   help="orientation of z a^T: the kernel set's choice, z a^T, or (a z^T)^T")
    p.add_argument("--gram", choices=["kernel", "blas"], default="kernel",
                   help="float32 Gram a a^T: the kernel set's choice (the C kernel where it runs), or BLAS")
    p.add_argument("--c-slab-bytes", type=int, default=None,
                   help="budget for the slab of z in the loop with the C kernels (numba_cpu.C_SLAB_BYTES)")
    args = p.parse_args()
    if args.c_slab_bytes is not None:
        numba_cpu.C_SLAB_BYTES = args.c_slab_bytes
    if args.gram == "blas":
        numba_cpu.GRAM_ROWS = (1, 0)  # no width qualifies

    ops = NumbaKernels(xp, threads=args.threads)
    if args.cross != "kernel":
        ops.turn_cross = lambda z, a: args.cross == "turned"
    spent: dict = collections.defaultdict(float)
    lock = threading.Lock()

    def timed(name, fn):
        def call(*a, **k):
            t0 = time.perf_counter()
            out = fn(*a, **k)
            dt = time.perf_counter() - t0
            with lock:
                spent[name] += dt
            return out
        return call

    for name in ("matmul", "hidden_block", "gram", "long_product"):
        setattr(ops, name, timed(name, getattr(ops, name)))

    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    n, d = args.n, args.hidden
    for name in dtypes:
        dt = np.dtype(name)
        rng = np.random.default_rng(0)
        X = rng.standard_normal((args.features, n)).astype(dt)
        z = rng.standard_normal((d, n)).astype(dt)
        a = np.zeros((d, n), dt)
        z_next = rng.standard_normal((1, n)).astype(dt)
        W = (rng.standard_normal((d, args.features)) * 0.1).astype(dt)
        Wt = (rng.standard_normal((1, d)) * 0.1).astype(dt)
        P = (rng.standard_normal((d, 1)) * 0.1).astype(dt)
        times = []
        with ops.iteration_context():
            for r in range(2 + args.repeats):
                if r == 2:
                    spent.clear()
                t0 = time.perf_counter()
                passes.hidden_layer_pass(a, z, z_next, X, W, (Wt, None, P), 1.0, 1.0, False, args.block, ops, xp,
                                         with_input_cross=True)
                times.append(time.perf_counter() - t0)
        per_thread = {k: f"{v / args.repeats / args.threads * 1e3:.1f}" for k, v in spent.items()}
        print(f"{name}: pass {np.median(times[2:]) * 1e3:.1f} ms (median of {args.repeats}); "
              f"ms per thread and pass: {per_thread}")


if __name__ == "__main__":
    main()
