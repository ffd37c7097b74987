"""Sums over the long sample dimension, split into pieces so that a GPU can share them out.

On a GPU, a product ``A B`` with a small output and a long inner dimension
(the Gram matrix ``a a^T`` of 300 x 1M columns) gives the matrix library
only a handful of output tiles to spread over its ~130 multiprocessors, and
CuPy's user-defined reductions give a whole-array sum to a single thread
block. Both ran at a few percent of the hardware's rate in the first GPU
check (results/gpu/). Cutting the sample dimension into ``k`` pieces turns
each into ``k`` independent pieces of work (a batched product, a reduction
with ``rows x k`` outputs) whose small partial results are then added in
float64, which also keeps the working precision's sums short.

Written in the array API (``xp``), with views of the operands (and copies
only where ``gather`` makes them), so the CPU tests check the arithmetic.
The CuPy kernels use it for the Gram matrix and the objective's sums; the
cross sums ``z a^T`` ran faster there as one 2-D product of contiguous
copies (``CupyKernels.long_product``).
"""
from __future__ import annotations

PIECE = 4096  # samples per piece, at least
MAX_PIECES = 256  # pieces per sum, at most


def split_pieces(w: int, piece: int, max_pieces: int) -> tuple[int, int]:
    """(k, s): k pieces of s columns covering the first k*s of w columns; k < 2 means do not split."""
    k = min(w // piece, max_pieces)
    return (k, w // k) if k >= 2 else (1, w)


def long_product(A, B, xp, matmul=None, piece: int = PIECE, max_pieces: int = MAX_PIECES, gather=None):
    """``A @ B`` in float64, for A (M x K) and B (K x N) with a long inner dimension K;
    with B None, the Gram matrix ``A @ A^T``.

    The first ``k * s`` columns of A (rows of B) go as one batched product of k
    pieces of s; the k partial products and the leftover columns' product are
    summed in float64. ``matmul`` is the product to use (default ``xp.matmul``);
    ``gather(x)``, if given, makes each operand's pieces contiguous first (the
    solver's blocks are column views of a very wide array, and on a GPU a
    product that reads hundreds of rows megabytes apart misses its address
    translation caches).
    """
    matmul = matmul or xp.matmul
    gather = gather or (lambda x: x)
    f64 = xp.float64
    M, K = A.shape
    k, s = split_pieces(K, piece, max_pieces)
    if k < 2:
        return xp.astype(matmul(A, xp.matrix_transpose(A) if B is None else B), f64, copy=False)
    used = k * s
    A3 = gather(xp.permute_dims(xp.reshape(A[:, :used], (M, k, s)), (1, 0, 2)))  # k x M x s
    if B is None:  # the Gram matrix: one operand, gathered once
        return gram_of_pieces(A3, A[:, used:] if used < K else None, xp, matmul)
    Bt = xp.matrix_transpose(B)  # N x K
    N = Bt.shape[0]
    B3 = xp.permute_dims(gather(xp.permute_dims(xp.reshape(Bt[:, :used], (N, k, s)), (1, 0, 2))), (0, 2, 1))
    C = xp.sum(matmul(A3, B3), axis=0, dtype=f64)
    if used < K:
        C = C + xp.astype(matmul(A[:, used:], B[used:, :]), f64, copy=False)
    return C


def gram_of_pieces(A3, rest, xp, matmul=None):
    """The Gram matrix of ``[A3[0], ..., A3[k-1], rest]`` (pieces side by side): the pieces'
    ``A3[p] A3[p]^T`` as one batched product, summed in float64, plus ``rest rest^T`` (None: no
    leftover columns). A kernel that writes the pieces ``k x M x s`` as it makes the block saves
    :func:`long_product` its gather."""
    matmul = matmul or xp.matmul
    f64 = xp.float64
    C = xp.sum(matmul(A3, xp.permute_dims(A3, (0, 2, 1))), axis=0, dtype=f64)
    if rest is not None:
        C = C + xp.astype(matmul(rest, xp.matrix_transpose(rest)), f64, copy=False)
    return C


def long_sum(reduce_last, arrays, xp, piece: int = PIECE, max_pieces: int = MAX_PIECES):
    """The float64 total of ``reduce_last(*arrays)`` over all elements of same-shape 2-D arrays.

    ``reduce_last(*views)`` must sum its elementwise expression over the last
    axis of its (2-D or 3-D) arguments, in float64. Each row's columns are cut
    into k pieces of s (views of shape rows x k x s), so the reduction has
    rows * k outputs to share out; the leftover columns are summed apart.
    """
    rows, w = arrays[0].shape
    k, s = split_pieces(w, piece, max_pieces)
    if k < 2:
        return xp.sum(reduce_last(*arrays))
    used = k * s
    total = xp.sum(reduce_last(*[xp.reshape(x[:, :used], (rows, k, s)) for x in arrays]))
    if used < w:
        total = total + xp.sum(reduce_last(*[x[:, used:] for x in arrays]))
    return total
