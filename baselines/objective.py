"""The training objective over every rank's samples: value, gradient, mini-batch gradients, metrics.

    f(theta) = (1/N) sum_{i=1..N} sum_c loss(z_L(x_i)_c, s_ic) + (l2 / 2) ||W||^2

with N the number of training samples on all ranks together and the L2 term
on weights only (not biases). Each rank holds a contiguous shard of the
samples. A full-batch evaluation computes the shard's loss and gradient sums
over column blocks (on NumPy the blocks are split over the rank's cores by
:class:`admm_xp.runtime.threads.ChunkPool`, each thread with single-threaded
BLAS, as ADMM's passes are), then sums ``[gradient, loss]`` over ranks with
one ``comm.allreduce_arrays``: every rank then holds the same f and
gradient, and the optimisers run identically on all of them.
"""
from __future__ import annotations

import array_api_compat as aac

from admm_xp.runtime.threads import chunks_for

from .mlp import Architecture, block_metrics, block_sums


def default_block(backend) -> int:
    """Samples per block: cache-sized on the CPU, large on a GPU (one kernel launch per layer per block)."""
    if backend.is_gpu:
        return 1 << 18
    return 512 if backend.name == "numpy" else 4096


class Objective:
    """f and its gradient for one rank's shard ``X`` (d_0 x n) with targets ``S`` (C x n) in {-1, +1}."""

    def __init__(self, arch: Architecture, X, S, n_global: int, loss: str, l2: float, xp, comm, block: int):
        self.arch, self.X, self.S = arch, X, S
        self.n_global = int(n_global)
        self.loss, self.l2 = loss, float(l2)
        self.xp, self.comm, self.block = xp, comm, int(block)
        self.chunks = chunks_for(xp)  # the rank's threads over column chunks (NumPy), else one chunk
        self.mask = arch.weight_mask(xp, X.dtype, aac.device(X)) if self.l2 > 0 else None
        self.evals = 0  # full-batch evaluations so far

    def __call__(self, theta):
        """(f as a float, gradient as a flat array) over all samples of all ranks: one pass, one allreduce."""
        xp = self.xp
        W = self.arch.unflatten(theta, xp)
        parts = self.chunks.map_chunks(lambda cols: self._sums(W, cols), self.X.shape[1])
        g, total = parts[0]
        for g_i, t_i in parts[1:]:
            g, total = g + g_i, total + t_i
        g, total = self.comm.allreduce_arrays([g, xp.reshape(total, (1,))], xp)
        self.evals += 1
        f = float(total[0]) / self.n_global
        g = g / self.n_global
        if self.mask is not None:
            w = self.mask * theta
            f += 0.5 * self.l2 * float(xp.sum(w * w))
            g = g + self.l2 * w
        return f, g

    def batch_gradient(self, theta, Xb, Sb, n_batch: int):
        """Gradient of the loss averaged over a global mini-batch of ``n_batch`` samples (plus the L2 term).

        ``Xb``, ``Sb`` are this rank's members of the batch (possibly none);
        under MPI their gradient sums are added over ranks (one allreduce).
        """
        xp = self.xp
        W = self.arch.unflatten(theta, xp)
        if Xb.shape[1]:
            g = self.arch.flatten(block_sums(W, Xb, Sb, self.arch.bias, self.loss, xp)[1], xp)
        else:
            g = xp.zeros_like(theta)
        if self.comm.size > 1:
            (g,) = self.comm.allreduce_arrays([g], xp)
        g = g / n_batch
        if self.mask is not None:
            g = g + self.l2 * (self.mask * theta)
        return g

    def penalty(self, theta) -> float:
        """(l2 / 2) ||W||^2 (0 without L2)."""
        if self.mask is None:
            return 0.0
        w = self.mask * theta
        return 0.5 * self.l2 * float(self.xp.sum(w * w))

    def local_metrics(self, theta, X, S, y) -> tuple[float, float]:
        """(summed loss, correct predictions) on this rank's columns of X (sum them over ranks)."""
        xp = self.xp
        W = self.arch.unflatten(theta, xp)

        def chunk(cols):
            total = xp.zeros((), dtype=xp.float64, device=aac.device(X))
            right = xp.zeros((), dtype=xp.int64, device=aac.device(X))
            for i in range(cols.start, cols.stop, self.block):
                sl = slice(i, min(i + self.block, cols.stop))
                t, r = block_metrics(W, X[:, sl], S[:, sl], y[sl], self.arch.bias, self.loss, xp)
                total, right = total + t, right + r
            return total, right

        parts = self.chunks.map_chunks(chunk, X.shape[1])
        return sum(float(t) for t, _ in parts), sum(float(r) for _, r in parts)

    def _sums(self, W, cols: slice):
        xp = self.xp
        dev = aac.device(self.X)
        g = xp.zeros((self.arch.size,), dtype=self.X.dtype, device=dev)
        total = xp.zeros((), dtype=xp.float64, device=dev)
        for i in range(cols.start, cols.stop, self.block):
            sl = slice(i, min(i + self.block, cols.stop))
            t, grads = block_sums(W, self.X[:, sl], self.S[:, sl], self.arch.bias, self.loss, xp)
            g = g + self.arch.flatten(grads, xp)
            total = total + t
        return g, total
