"""Elementwise gap-fillers: the fused element-by-element steps of an iteration.

The standard array API evaluates ``z_hidden_relu`` as a dozen separate
passes, each allocating a temporary; on the CPU that costs far more than the
matrix products around it (docs/performance.md). Each backend here
offers the same few block operations:

``relu(z)``
    h(z), a new block.
``add_matmul(h, P, r, out)``
    ``h + P @ r`` (the activation update), written into ``out`` when it can be.
``hidden_prox(a, m, gamma, beta, out)``
    the hidden z update of :func:`admm_xp.solver.updates.z_hidden_relu`, plus the
    sums ``sum (a - h(z))^2`` and ``sum (z - m)^2`` needed by the objective.
``shifted_relu(z_l, nu_l, sl, scale, out)``, ``multiplier_prox(a_l, m, z_l, mu_l, nu_l, sl, gamma, beta, kappa)``
    the full Lagrangian's steps of a hidden block (:func:`admm_xp.kernels.portable.multiplier_prox_portable`):
    ``h(z) - v`` before the activation update, then the shifted z update, both dual steps and
    their four sums, in one loop on the CPU.
``output_prox(m, s, lam, beta, update_multiplier, out_z, out_lam)``
    the output z update of :func:`admm_xp.solver.updates.z_output_hinge`, the
    multiplier update, and the sums ``hinge``, ``<z, lambda>``, ``(z - m)^2``.
``gram(a)``, ``long_product(A, B)``
    ``a a^T`` and ``A @ B`` in float64 for an inner dimension over the
    samples (the Gram matrix and the cross sums ``z a^T``); on the GPU the
    Gram is a batched product of contiguous pieces
    (:mod:`admm_xp.kernels.pieces`), the cross sums a product of contiguous
    copies of the blocks.
``turn_cross(z, a)``
    whether the cross sums ``z a^T`` run faster as ``(a z^T)^T`` on this backend
    (:func:`admm_xp.solver.passes.sample_cross`).
``matmul(A, B, out)``
    ``A @ B`` (on the GPU, one pass over B's columns when A has at most 8
    rows: the output layer's product with a view of the wide state).
``hidden_block(z_l, z_next, a_l, m, sl, Wt, b, P, gamma, beta, keep_z, want_gram)``
    the activation and z updates of columns ``sl`` in place with their sums
    (and ``z_{l+1} a_l^T`` for a narrow next layer), as one fused loop (CPU)
    or two kernels (GPU), returned as a :class:`~admm_xp.kernels.block.BlockResult`
    (on the GPU also the new z as a contiguous copy, ``keep_z``, and ``a a^T``
    from pieces the kernel wrote, ``want_gram``); ``None`` where the backend
    has no such loop, and the pass composes the operations above.
``layer_block(z_l, z_next, a_l, a_prev, W_l, sl, Wt, b, P, gamma, beta, bias, with_input_cross)``
    ``hidden_block`` that also forms ``m = W_l a_{l-1}`` itself (and, asked, the new
    ``z_l a_{l-1}^T`` as ``input_cross``; in float32 also the Gram ``a_l a_l^T``); NumPy does
    these with the optional C kernels of :mod:`admm_xp.kernels.smallk` slab by slab inside its
    loop where they run (narrow input layer, no bias, AVX-512F); ``None`` elsewhere, and the
    pass forms m with ``matmul``.
``input_cross(z, a, sl)``
    ``z[:, sl] a[:, sl]^T`` in float64 summed exactly as ``layer_block`` sums it (so a resumed
    run gets the same bits), or ``None``: then the pass uses ``sample_cross``.
``eval_block``
    samples per block of the accuracy's forward pass.
``view(x, sl)``
    a writable view of columns ``sl`` of ``x``, or ``None`` where the backend
    has no writable views (then the caller assigns with ``x[:, sl] = ...``).

The members, and the capability flags that say which of them may answer None, are the
:class:`typing.Protocol` :class:`admm_xp.kernels.protocol.KernelSet`.
:class:`~admm_xp.kernels.portable.PortableKernels` is the reference written
in the array API; :class:`~admm_xp.kernels.numba_cpu.NumbaKernels` (NumPy)
and :class:`~admm_xp.kernels.cupy_gpu.CupyKernels` (CuPy) fuse each operation
into one pass. ``kernels_for(xp, "auto")`` picks the fastest available.
"""
from __future__ import annotations

import os

import array_api_compat as aac

from ..errors import ConfigError
from .portable import PortableKernels

KERNEL_CHOICES = ("auto", "portable", "numba", "cupy")


def kernels_for(xp, choice: str = "auto"):
    """The kernel set for namespace ``xp``.

    ``auto`` uses numba for NumPy when it is importable (set
    ``ADMM_XP_KERNELS=portable`` to force the reference code), CuPy fused
    kernels for CuPy, and the portable array-API code for everything else.
    """
    choice = os.environ.get("ADMM_XP_KERNELS", choice) if choice == "auto" else choice
    if choice not in KERNEL_CHOICES:
        raise ConfigError(f"unknown kernels {choice!r}: use one of {', '.join(KERNEL_CHOICES)}")
    if choice in ("auto", "numba") and aac.is_numpy_namespace(xp):
        try:
            from .numba_cpu import NumbaKernels
        except ImportError:
            if choice == "numba":
                raise ConfigError("kernels 'numba' need numba: pip install numba") from None
        else:
            return NumbaKernels(xp)
    if choice in ("auto", "cupy") and aac.is_cupy_namespace(xp):
        from .cupy_gpu import CupyKernels

        return CupyKernels(xp)
    if choice in ("numba", "cupy"):
        raise ConfigError(f"kernels {choice!r} do not run on this backend; use auto or portable")
    return PortableKernels(xp)
