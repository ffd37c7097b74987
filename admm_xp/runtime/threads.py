"""Threads per rank: BLAS and the fused loops share a rank's cores, never oversubscribe them.

A rank uses its cores / (ranks on its node) threads, or exactly ``ADMM_XP_THREADS`` when that
environment variable is set (a positive integer): ``ADMM_XP_THREADS=1`` pins a run to one core's
worth of threads, as ``admm-xp scaling`` does for its one-core-per-rank measurements.
"""
from __future__ import annotations

import os

_configured: int | None = None  # set by configure_threads for this process


def _affinity_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def requested_threads() -> int | None:
    """``ADMM_XP_THREADS`` as a positive integer, else None."""
    env = os.environ.get("ADMM_XP_THREADS", "").strip()
    return int(env) if env.isdigit() and int(env) > 0 else None


def cores_per_rank(comm) -> int:
    return max(1, _affinity_cores() // max(1, getattr(comm, "local_size", 1)))


def threads_per_rank() -> int:
    """Threads for this process's column chunks: what configure_threads chose, else ADMM_XP_THREADS,
    else every core this process may run on."""
    return _configured or requested_threads() or _affinity_cores()


def configure_threads(comm) -> int:
    """Give each rank ADMM_XP_THREADS, or cores / ranks-on-this-node, threads for BLAS and the chunked passes.

    The choice is kept in this process (never written to the environment, so that programs this one
    starts, such as MPI ranks, make their own)."""
    global _configured
    n = requested_threads() or cores_per_rank(comm)
    if n < _affinity_cores():
        try:
            import scipy.linalg  # noqa: F401  (load SciPy's own BLAS now, so the limit covers it too)
            from threadpoolctl import threadpool_limits

            threadpool_limits(n)
        except ImportError:
            pass
    _configured = n
    return n
