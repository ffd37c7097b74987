"""A counter-based Gaussian generator written in the array API.

Sample ``j``'s initial ``a`` and ``z`` columns must not depend on how samples
are split over ranks, nor on the backend. So every entry ``(i, j)`` of an
initial ``d x N`` matrix is a pure function of ``(seed, stream, i, j)``: a
32-bit integer hash (two rounds of xor-shift-multiply, a bijection with good
avalanche) gives two uniform words per entry, and Box-Muller turns them into a
standard normal. The integer arithmetic runs in int64 containers holding
32-bit values with multipliers below 2**27, so it never overflows on any
backend (NumPy, CuPy, PyTorch, array-api-strict), and every backend produces
bit-identical integers.

``gaussian(xp, seed, stream, d, start, stop)`` is the ``d x (stop - start)``
block of columns ``start..stop-1`` of that infinite matrix.
"""
from __future__ import annotations

import math

_M32 = 0xFFFFFFFF
_MUL = 0x45D9F3B  # < 2**27: products of 32-bit values fit in int64


def _mix32_int(x: int) -> int:
    """The hash on a Python int (for keys made on the host)."""
    x &= _M32
    x = ((x ^ (x >> 16)) * _MUL) & _M32
    x = ((x ^ (x >> 16)) * _MUL) & _M32
    return x ^ (x >> 16)


def _mix32(x, xp):
    x = ((x ^ (x >> 16)) * _MUL) & _M32
    x = ((x ^ (x >> 16)) * _MUL) & _M32
    return x ^ (x >> 16)


def stream_key(seed: int, *names) -> int:
    """A 32-bit key for one named stream (e.g. ``("a", layer)``) of a seed."""
    k = _mix32_int(int(seed) & _M32) ^ _mix32_int((int(seed) >> 32) + 0x51ED27)
    for name in names:
        for ch in str(name).encode():
            k = _mix32_int(k ^ (ch + 0x9E37))
        k = _mix32_int(k + 0x7F4A7C1)
    return k


def uniform_words(xp, key: int, d: int, start: int, stop: int, device=None):
    """Two ``d x n`` arrays of 32-bit hash words (in int64) for columns start..stop-1."""
    j = xp.arange(start, stop, dtype=xp.int64, device=device)
    i = xp.arange(d, dtype=xp.int64, device=device)
    # Column hash: depends on the key and the global column index only.
    hj = _mix32((j & _M32) ^ key, xp)
    hj = _mix32(hj ^ ((j >> 32) & _M32), xp)
    # Row hash, combined: one word per entry, then two decorrelated words.
    hi = _mix32((i * 0x2545F49 + 0x6A09E66) & _M32, xp)
    w1 = _mix32(hj[None, :] ^ hi[:, None], xp)
    w2 = _mix32(w1 ^ 0x1F83D9AB, xp)
    return w1, w2


def gaussian(xp, seed: int, stream, d: int, start: int, stop: int, *, dtype=None, device=None):
    """Standard normal ``d x (stop - start)`` block of the stream's infinite matrix."""
    if not isinstance(stream, tuple):
        stream = (stream,)
    key = stream_key(seed, *stream)
    w1, w2 = uniform_words(xp, key, d, start, stop, device=device)
    f64 = xp.float64
    scale = 1.0 / 4294967296.0  # 2**-32; (w + 0.5) * scale lies in (0, 1)
    u1 = (xp.astype(w1, f64) + 0.5) * scale
    u2 = (xp.astype(w2, f64) + 0.5) * scale
    g = xp.sqrt(-2.0 * xp.log(u1)) * xp.cos((2.0 * math.pi) * u2)
    return g if dtype is None or dtype == f64 else xp.astype(g, dtype)
