"""Communicators: the only way ranks talk. The solver takes one as an argument.

``LocalComm`` is one process and needs no MPI; ``MPIComm`` wraps an mpi4py
communicator. Both offer the same small interface:

- ``rank``, ``size``
- ``allreduce_arrays(arrays, xp)``: element-wise sums over ranks of a list of
  arrays, packed into one contiguous float64 buffer and reduced with one
  buffer-based ``Allreduce`` (no pickling);
- ``allreduce_scalars(values)``: sums of Python floats (metrics);
- ``bcast(obj)``, ``gather(obj)``, ``exscan(int)``, ``barrier()``,
  ``abort(code)``.

Device arrays (CuPy) are staged through host memory by default; with
``cuda_aware=True`` the device buffer goes to MPI directly after the stream
is synchronised.
"""
from __future__ import annotations

import os
import sys
import time

import array_api_compat as aac

from .hostio import from_host, host_vector


class LocalComm:
    """A single process: every reduction is the identity."""

    rank = 0
    size = 1
    local_rank = 0
    local_size = 1
    name = "local"

    def __init__(self):
        self.comm_time = 0.0

    def allreduce_arrays(self, arrays, xp):
        return list(arrays)

    def allreduce_scalars(self, values):
        return [float(v) for v in values]

    def allreduce_max(self, value: float) -> float:
        return float(value)

    def bcast(self, obj, root: int = 0):
        return obj

    def gather(self, obj, root: int = 0):
        return [obj]

    def allgather(self, obj):
        return [obj]

    def exscan(self, value: int) -> int:
        return 0

    def barrier(self) -> None:
        pass

    def abort(self, code: int = 1) -> None:
        raise SystemExit(code)

    def all_failing(self, timeout: float = 0.0) -> bool:
        """Whether every rank is failing now (one process: always)."""
        return True


ABORT_RELAY_S = 0.15  # seconds a rank waits between printing its last line and MPI_Abort
FAIL_AGREE_S = 0.35  # how long a failing rank waits to learn whether every rank is failing too


class MPIComm:
    """Data-parallel ranks over mpi4py (``mpiexec -n P ...``)."""

    name = "mpi"

    def __init__(self, comm=None, cuda_aware: bool = False):
        from mpi4py import MPI

        _die_with_parent()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        local = self.comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank = local.Get_rank()
        self.local_size = local.Get_size()
        local.Free()
        self._failures = self.comm.Dup()  # used only by all_failing: never mixed up with the solver's collectives
        self.cuda_aware = bool(cuda_aware)
        self.comm_time = 0.0  # seconds spent in collectives (for the bench breakdown)

    # Arrays ---------------------------------------------------------------
    def allreduce_arrays(self, arrays, xp):
        """Sum each array over ranks; one Allreduce for the whole list."""
        arrays = list(arrays)
        if not arrays:
            return arrays
        t0 = time.perf_counter()
        dev = aac.device(arrays[0])
        dtypes = [a.dtype for a in arrays]
        shapes = [tuple(a.shape) for a in arrays]
        if self.cuda_aware and aac.is_cupy_namespace(xp):
            flat = xp.concat([xp.reshape(xp.astype(a, xp.float64), (-1,)) for a in arrays])
            import cupy

            cupy.cuda.get_current_stream().synchronize()
            self.comm.Allreduce(self.MPI.IN_PLACE, flat, op=self.MPI.SUM)
            out_flat = flat
        else:
            host = host_vector(arrays)
            self.comm.Allreduce(self.MPI.IN_PLACE, host, op=self.MPI.SUM)
            out_flat = from_host(host, xp, dev)
        out, k = [], 0
        for shape, dt in zip(shapes, dtypes):
            size = 1
            for extent in shape:
                size *= extent
            piece = xp.reshape(out_flat[k : k + size], shape)
            out.append(xp.astype(piece, dt) if piece.dtype != dt else piece)
            k += size
        self.comm_time += time.perf_counter() - t0
        return out

    def allreduce_scalars(self, values):
        t0 = time.perf_counter()
        buf = host_vector([float(v) for v in values])
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)
        self.comm_time += time.perf_counter() - t0
        return [float(v) for v in buf]

    def allreduce_max(self, value: float) -> float:
        buf = host_vector([float(value)])
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self.MPI.MAX)
        return float(buf[0])

    # Objects --------------------------------------------------------------
    def bcast(self, obj, root: int = 0):
        return self.comm.bcast(obj, root=root)

    def gather(self, obj, root: int = 0):
        return self.comm.gather(obj, root=root)

    def allgather(self, obj):
        return self.comm.allgather(obj)

    def exscan(self, value: int) -> int:
        out = self.comm.exscan(int(value))
        return 0 if out is None else int(out)

    def barrier(self) -> None:
        self.comm.Barrier()

    def all_failing(self, timeout: float = FAIL_AGREE_S) -> bool:
        """Whether every rank reaches this call within ``timeout`` seconds (each failing rank calls it).

        A non-blocking barrier on a communicator of its own: it completes when
        all ranks have entered it, so ranks that fail alike (bad options, data
        errors agreed over the ranks) learn it at once and end together, while
        a rank that fails alone learns in ``timeout`` that it must abort the
        others (blocked in a collective it will never join).
        """
        req = self._failures.Ibarrier()
        t_end = time.monotonic() + timeout
        while True:
            if req.Test():
                return True
            if time.monotonic() >= t_end:
                return False
            time.sleep(0.001)

    def abort(self, code: int = 1) -> None:
        """End every rank with ``code``, after this rank's last lines have left for the launcher (MPICH's
        launcher relays output through a proxy, and an immediate abort could drop a line in transit).

        MPI_Abort's own report (MPICH: ``Abort(2) on node 1 ...``) is not shown: this rank's stdout and
        stderr go to /dev/null first, as the program's message has already said what happened."""
        sys.stdout.flush()
        sys.stderr.flush()
        time.sleep(ABORT_RELAY_S)
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
        except OSError:
            pass
        self.comm.Abort(code)


def _die_with_parent() -> None:
    """Linux: have the kernel kill this rank if its launcher process dies (no orphan left spinning in MPI)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def world_size_from_env() -> int:
    """The launcher's world size, read without initialising MPI (1 outside mpiexec)."""
    for key in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_SIZE"):
        val = os.environ.get(key)
        if val and val.isdigit():
            return int(val)
    return 1


def rank_from_env() -> int:
    """This process's rank as the launcher tells it, read without initialising MPI (0 outside mpiexec)."""
    for key in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        val = os.environ.get(key)
        if val and val.isdigit():
            return int(val)
    return 0


def default_comm(cuda_aware: bool = False):
    """MPIComm when launched by mpiexec with more than one rank, else LocalComm."""
    if world_size_from_env() > 1:
        try:
            return MPIComm(cuda_aware=cuda_aware)
        except ImportError:
            from ..errors import ConfigError

            raise ConfigError("launched under mpiexec but mpi4py is not installed: pip install 'admm_xp[mpi]'") from None
    return LocalComm()
