"""Simulated MPI ranks in one process: ``run_ranks(size, fn)`` calls ``fn(comm)`` on ``size`` threads.

Each thread's :class:`ThreadComm` has the small interface of
:class:`admm_xp.runtime.comm.LocalComm` (rank, size, the reductions, allgather,
exscan, barrier), and its collectives really combine the threads' values, so
a loader's sharding and its reduced statistics can be checked against one
process without mpiexec. Scalar sums are added in rank order, as MPI's
reductions of two ranks do.
"""
from __future__ import annotations

import threading

import numpy as np


class _Group:
    """What the threads of one simulated run share: a barrier and one slot per rank."""

    def __init__(self, size: int, timeout: float = 60.0):
        self.size = size
        self.barrier = threading.Barrier(size, timeout=timeout)
        self.slots = [None] * size

    def exchange(self, rank: int, obj) -> list:
        """Every rank's ``obj``, in rank order (a collective: every rank must call it)."""
        self.slots[rank] = obj
        self.barrier.wait()
        out = list(self.slots)
        self.barrier.wait()  # nobody overwrites a slot before all have read them
        return out


class ThreadComm:
    """One simulated rank."""

    name = "threads"

    def __init__(self, group: _Group, rank: int):
        self.group, self.rank, self.size = group, rank, group.size
        self.local_rank, self.local_size = rank, group.size
        self.comm_time = 0.0

    def allgather(self, obj):
        return self.group.exchange(self.rank, obj)

    def allreduce_scalars(self, values):
        parts = self.allgather([float(v) for v in values])
        return [float(sum(p[i] for p in parts)) for i in range(len(parts[0]))]

    def allreduce_max(self, value: float) -> float:
        return float(max(self.allgather(float(value))))

    def allreduce_arrays(self, arrays, xp):
        parts = self.allgather([np.asarray(a) for a in arrays])
        return [xp.asarray(sum(p[i] for p in parts)) for i in range(len(arrays))]

    def exscan(self, value: int) -> int:
        return int(sum(self.allgather(int(value))[: self.rank]))

    def bcast(self, obj, root: int = 0):
        return self.allgather(obj)[root]

    def gather(self, obj, root: int = 0):
        return self.allgather(obj)

    def barrier(self) -> None:
        self.allgather(None)

    def abort(self, code: int = 1) -> None:
        self.group.barrier.abort()
        raise SystemExit(code)


def run_ranks(size: int, fn) -> list:
    """``[fn(comm_0), ..., fn(comm_{size-1})]`` run on ``size`` threads; the first rank's exception is re-raised."""
    group = _Group(size)
    results, errors = [None] * size, [None] * size

    def body(rank):
        try:
            results[rank] = fn(ThreadComm(group, rank))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            errors[rank] = exc
            group.barrier.abort()  # the other ranks stop waiting for this one

    threads = [threading.Thread(target=body, args=(r,), daemon=True) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    first = next((e for e in errors if e is not None and not isinstance(e, threading.BrokenBarrierError)), None)
    first = first or next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
    return results
