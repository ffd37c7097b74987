"""Which samples form each mini-batch: seeded shuffles, split over ranks (host-side index bookkeeping).

Epoch e draws one permutation of the N global sample indices from NumPy's
PCG64 generator seeded with (seed, e), the same on every rank and backend,
and cuts it into global mini-batches of B consecutive entries (the last one
smaller when B does not divide N). A rank holds the contiguous rows
[offset, offset + n_local); its share of a global batch is the batch's
entries that fall in that range. So P ranks each take their share of the same
global batch and the gradient sums over ranks equal the one-process gradient
of that batch (to rounding). This is the data loader's job, done on the host
like data loading itself (:mod:`admm_xp.runtime.hostio`); only the resulting indices
go to the device, once per epoch.
"""
from __future__ import annotations

import numpy as np


def batch_sizes(n_global: int, batch_size: int) -> list[int]:
    """Sizes of the global mini-batches of one epoch."""
    full, rest = divmod(n_global, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def epoch_order(seed: int, epoch: int, n_global: int, offset: int, n_local: int, batch_size: int):
    """(local column indices in batch order, this rank's count in each global batch) for one epoch."""
    perm = np.random.default_rng([int(seed), int(epoch)]).permutation(n_global)
    mine = (perm >= offset) & (perm < offset + n_local)
    batch_of = np.arange(n_global) // batch_size
    counts = np.bincount(batch_of[mine], minlength=len(batch_sizes(n_global, batch_size)))
    return (perm[mine] - offset).astype(np.int64), [int(c) for c in counts]
