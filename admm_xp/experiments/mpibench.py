"""Measure this machine's allreduce latency and bandwidth (run under mpiexec).

``mpiexec -n P python -m admm_xp.experiments.mpibench --out net.json`` times
``MPI.Allreduce`` on float64 buffers from 8 bytes to 8 MB and fits
``t = steps * (alpha + bytes / bandwidth)`` with ``steps = ceil(log2 P)``, the
model the scaling prediction uses.
"""
from __future__ import annotations

import argparse
import math
import time


def measure(comm, sizes=(1, 16, 256, 4096, 65536, 1 << 20), reps: int = 30) -> dict:
    import numpy as np

    rows = []
    for n in sizes:
        buf = np.ones(n)
        out = np.empty(n)
        comm.Barrier()
        for _ in range(3):
            comm.Allreduce(buf, out)
        times = []
        for _ in range(reps if n < (1 << 18) else max(5, reps // 3)):
            comm.Barrier()
            t0 = time.perf_counter()
            comm.Allreduce(buf, out)
            times.append(time.perf_counter() - t0)
        worst = comm.allreduce(float(np.median(times)), op=_max())
        rows.append({"numbers": n, "bytes": 8 * n, "seconds": worst})
    steps = max(1, math.ceil(math.log2(comm.Get_size())))
    x = np.array([r["bytes"] for r in rows], dtype=float)
    y = np.array([r["seconds"] for r in rows]) / steps
    A = np.column_stack([np.ones_like(x), x])
    (alpha, inv_bw), *_ = np.linalg.lstsq(A, y, rcond=None)
    alpha = max(float(alpha), float(y.min()) * 0.5)
    inv_bw = max(float(inv_bw), 1e-12)
    return {"ranks": comm.Get_size(), "steps": steps, "alpha_s": alpha, "bandwidth_Bps": 1.0 / inv_bw, "samples": rows}


def _max():
    from mpi4py import MPI

    return MPI.MAX


def main(argv=None) -> int:
    from mpi4py import MPI

    p = argparse.ArgumentParser(prog="python -m admm_xp.experiments.mpibench", description=__doc__)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    result = measure(MPI.COMM_WORLD)
    if MPI.COMM_WORLD.Get_rank() == 0:
        from ..runrecord import machine_info, now_iso, write_json_atomic

        result.update(date=now_iso(), machine=machine_info())
        write_json_atomic(args.out, result)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
