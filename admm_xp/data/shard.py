"""Which rows a rank holds: contiguous, near-equal ranges of the global sample order."""
from __future__ import annotations


def row_range(n: int, rank: int, size: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of ``n`` held by ``rank`` of ``size`` (sizes differ by at most one)."""
    return n * rank // size, n * (rank + 1) // size
