"""The optional AVX-512 kernels of ``smallk.c`` (products with the narrow input layer, and the
float32 Gram of a slab), for numba.

``setup.py`` builds ``smallk.c`` into ``admm_xp/kernels/_smallk*.so`` when a C compiler is
there (an optional extension: without one, the install goes on without it). This module loads
that library with ctypes and hands its functions to the numba loops as first-class function
objects (numba calls them by address, and can still cache the loops that take them). Absent
library, a CPU without AVX-512F, or ``ADMM_XP_SMALLK=0`` in the environment: :func:`load`
returns None and the loops use BLAS for these products, as before.

The two kernels, for float32 and float64:

``wa(W, d, K, X, ldx, w, out, ldo)``
    ``out = W X`` for W of d x K (row-major) and X of K x w (row stride ldx): ``W_1 a_0``.
``zat(Z, ldz, d, A, lda, K, w, out)``
    ``out += Z A^T`` in float64 for Z of d x w and A of K x w: ``z_1 a_0^T``.

and, for float32 only (``gram`` is None for float64, whose Gram stays with BLAS):

``gram(a, lda, d, w, P, C)``
    ``C += `` the upper triangle of ``a a^T`` over the w columns of a (d rows, row stride lda),
    in float32: ``C[j * dp + i]`` for ``i <= j``, ``dp = gram_dp(d)``; ``a_1 a_1^T``. P and C
    are buffers of :func:`gram_buffer_sizes` floats, 64-byte aligned (else it returns 1).
"""
from __future__ import annotations

import ctypes
import functools
import importlib.machinery
import os
import pathlib
import warnings
from typing import NamedTuple

import numba.experimental.function_type  # noqa: F401  (registers numba's typing of WrapperAddressProtocol objects)
from numba import types

MAX_K = 32  # SMALLK_MAX_K in smallk.c: the widest input layer these kernels take

_WA = types.intc(types.uint64, types.intc, types.intc, types.uint64, types.intp, types.intc, types.uint64, types.intp)
_ZAT = types.intc(types.uint64, types.intp, types.intc, types.uint64, types.intp, types.intc, types.intc, types.uint64)
_GRAM = types.intc(types.uint64, types.intp, types.intc, types.intc, types.uint64, types.uint64)
GRAM_PANEL = 32  # GP in gram_f32.h: rows per packed panel (C's side is d rounded up to this)
GRAM_CHUNK = 128  # GKC in gram_f32.h: columns packed at a time


def gram_dp(d: int) -> int:
    """The side of the Gram kernel's accumulator C: d rounded up to a whole panel."""
    return -(-d // GRAM_PANEL) * GRAM_PANEL


def gram_buffer_sizes(d: int) -> tuple[int, int]:
    """Floats in the Gram kernel's buffers (P, C) for d rows."""
    dp = gram_dp(d)
    return dp * GRAM_CHUNK, dp * dp


class Kernels(NamedTuple):
    wa: object
    zat: object
    gram: object  # None where there is no Gram kernel for the dtype (float64)


class _CFunction(types.WrapperAddressProtocol):
    """A C function for numba's first-class function calls: its address and signature."""

    def __init__(self, fn, sig):
        self._fn, self._sig = fn, sig
        self._address = ctypes.cast(fn, ctypes.c_void_p).value

    def __wrapper_address__(self):
        return self._address

    def signature(self):
        return self._sig

    def __call__(self, *args):  # plain Python calls, for tests
        return self._fn(*args)


def library_path() -> pathlib.Path | None:
    """The built library next to this file, or None."""
    here = pathlib.Path(__file__).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        p = here / f"_smallk{suffix}"
        if p.exists():
            return p
    return None


@functools.lru_cache(maxsize=None)
def load():
    """``{"float32": Kernels(wa, zat, gram), "float64": Kernels(wa, zat, None)}``, or None where the
    kernels cannot run here."""
    if os.environ.get("ADMM_XP_SMALLK", "1") == "0":
        return None
    path = library_path()
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(str(path))
    except OSError:
        return None
    if not lib.smallk_supported():
        return None
    try:  # the layout this module assumes; the buffers it hands the Gram kernel are sized by it
        same = (lib.smallk_max_k(), lib.smallk_gram_dp(1), lib.smallk_gram_chunk()) == (MAX_K, GRAM_PANEL, GRAM_CHUNK)
    except AttributeError:
        same = False
    if not same:
        warnings.warn(f"admm_xp: {path.name} was built from another version of smallk.c; using BLAS instead "
                      "of its kernels (rebuild it: pip install -e . in the source tree)", RuntimeWarning, stacklevel=2)
        return None
    vp, i, sz = ctypes.c_void_p, ctypes.c_int, ctypes.c_ssize_t
    out = {}
    for dtype, sfx in (("float32", "f32"), ("float64", "f64")):
        wa, zat = getattr(lib, f"smallk_wa_{sfx}"), getattr(lib, f"smallk_zat_{sfx}")
        wa.argtypes, wa.restype = [vp, i, i, vp, sz, i, vp, sz], i
        zat.argtypes, zat.restype = [vp, sz, i, vp, sz, i, i, vp], i
        out[dtype] = Kernels(_CFunction(wa, _WA), _CFunction(zat, _ZAT), None)
    gram = lib.smallk_gram_f32
    gram.argtypes, gram.restype = [vp, sz, i, i, vp, vp], i
    out["float32"] = out["float32"]._replace(gram=_CFunction(gram, _GRAM))
    return out
