"""Threads per rank: BLAS and the fused loops share a rank's cores, never oversubscribe them."""
from __future__ import annotations

import os


def cores_per_rank(comm) -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, getattr(comm, "local_size", 1)))


def configure_threads(comm) -> int:
    """Give each rank cores / ranks-on-this-node threads for BLAS and for the chunked passes."""
    n = cores_per_rank(comm)
    if getattr(comm, "local_size", 1) > 1:
        try:
            import scipy.linalg  # noqa: F401  (load SciPy's own BLAS now, so the limit covers it too)
            from threadpoolctl import threadpool_limits

            threadpool_limits(n)
        except ImportError:
            pass
    os.environ["ADMM_XP_THREADS"] = str(n)
    return n
