"""Threads per rank: BLAS and the fused loops share a rank's cores, never oversubscribe them.

A rank uses its cores / (ranks on its node) threads, or exactly ``ADMM_XP_THREADS`` when that
environment variable is set (a positive integer): ``ADMM_XP_THREADS=1`` pins a run to one core's
worth of threads, as ``admm-xp scaling`` does for its one-core-per-rank measurements.

:class:`ChunkPool` runs a function on contiguous column chunks on those threads (the fused passes
of the NumPy kernel set and the baselines' full passes use it).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

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


CHUNK_MIN = 256  # columns per chunk, at least: fewer columns run as one chunk


class ChunkPool:
    """This rank's threads over column chunks (NumPy).

    ``map_chunks(fn, n)`` cuts ``range(n)`` into T contiguous chunks (T = the threads, fewer when n is
    small), calls ``fn(slice)`` on each at once, one thread per chunk with BLAS on one thread, and
    returns the results in chunk order, so that sums over them are deterministic. Small products and
    elementwise loops then never fight over cores (BLAS's own threads would). The ADMM kernel set
    (:class:`admm_xp.kernels.numba_cpu.NumbaKernels`) and the baselines' full passes both use it.
    """

    def __init__(self, threads: int | None = None):
        self.threads = threads_per_rank() if threads is None else max(1, int(threads))
        self._executor = None
        self._blas = None  # a threadpoolctl controller, made on first use (scanning the libraries costs ~0.3 ms)

    def one_blas_thread(self):
        """A context with BLAS on one thread. One controller per pool: threadpoolctl's
        ``threadpool_limits`` rescans the loaded libraries at every call (~0.3 ms each)."""
        if self._blas is None:
            import scipy.linalg  # noqa: F401  (SciPy's own BLAS is loaded before the scan, so the limit covers it)
            from threadpoolctl import ThreadpoolController

            self._blas = ThreadpoolController()
        return self._blas.limit(limits=1, user_api="blas")

    def map_chunks(self, fn, n: int) -> list:
        """``[fn(slice) for each of T contiguous column chunks]``, in chunk order, on T threads."""
        t = max(1, min(self.threads, n // CHUNK_MIN or 1))
        bounds = [n * c // t for c in range(t + 1)]
        slices = [slice(bounds[c], bounds[c + 1]) for c in range(t)]
        if t == 1:
            return [fn(slices[0])]
        with self.one_blas_thread():  # a no-op inside a context that already set it
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="admm-xp")
            return list(self._executor.map(fn, slices))


class OneChunk:
    """One chunk, the whole column range: for backends that parallelise inside each operation (GPUs)."""

    threads = 1

    def map_chunks(self, fn, n: int) -> list:
        return [fn(slice(0, n))]


def chunks_for(xp):
    """The chunk pool for namespace ``xp``: this rank's threads on NumPy, one chunk elsewhere."""
    import array_api_compat as aac

    return ChunkPool() if aac.is_numpy_namespace(xp) else OneChunk()
