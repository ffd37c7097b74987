"""The interface of a kernel set: what :func:`admm_xp.kernels.kernels_for` returns.

:class:`KernelSet` is a :class:`typing.Protocol`: :class:`~admm_xp.kernels.portable.PortableKernels`
(the array-API reference), :class:`~admm_xp.kernels.numba_cpu.NumbaKernels` (NumPy) and
:class:`~admm_xp.kernels.cupy_gpu.CupyKernels` (CuPy) implement it without inheriting from it, and
``isinstance(ops, KernelSet)`` checks that a set has every member. The operations are described in
:mod:`admm_xp.kernels`; the solver's passes (:mod:`admm_xp.solver.passes`) and the network's
forward pass (:func:`admm_xp.nn.forward`) call them.

Capabilities are explicit flags, read once per call site instead of probing:

``fuses_blocks``
    ``hidden_block`` may return a :class:`~admm_xp.kernels.block.BlockResult` (a fused loop of the
    activation and z updates); False: it always returns None and the pass composes ``relu``,
    ``matmul``, ``add_matmul`` and ``hidden_prox``.
``fuses_layers``
    ``layer_block`` may return a result (a loop that also forms ``W_l a_{l-1}``); False: always None.
``sums_input_cross``
    ``input_cross`` may return the cross sums; False: always None (the pass uses ``sample_cross``).
``writable_views``
    ``view`` returns writable views of columns; False: always None (the caller assigns).

Where a flag is True the member may still return None for a call whose shapes, dtype or layout its
kernels do not cover (then the pass falls back as above).
"""
from __future__ import annotations

from typing import Any, Callable, ContextManager, Protocol, runtime_checkable

from .block import BlockResult


@runtime_checkable
class KernelSet(Protocol):
    name: str  # "portable", "numba", "cupy"
    eval_block: int  # samples per block of the accuracy's forward pass
    threads: int  # threads that map_chunks runs chunks on (1: the calling thread alone)
    fuses_blocks: bool
    fuses_layers: bool
    sums_input_cross: bool
    writable_views: bool

    def warmup(self, dtype) -> None:
        """Compile (or load) every kernel for ``dtype`` before anything is timed."""

    def iteration_context(self) -> ContextManager:
        """A context held around one whole iteration (e.g. BLAS on one thread while chunks use the cores)."""

    def map_chunks(self, fn: Callable[[slice], Any], n: int) -> list:
        """``[fn(chunk) for each contiguous chunk of range(n)]``, in chunk order."""

    def hidden_block(self, z_l, z_next, a_l, m, sl, Wt, b, P, gamma, beta, keep_z=False,
                     want_gram=False) -> BlockResult | None: ...

    def layer_block(self, z_l, z_next, a_l, a_prev, W_l, sl, Wt, b, P, gamma, beta, bias,
                    with_input_cross) -> BlockResult | None: ...

    def linear_block(self, z_l, z_next, a_l, m, mu_l, sl, Wt, b, P, gamma, beta, kappa,
                     want_shifted=False) -> tuple | None:
        """``hidden_block`` under the linear Lagrangian (z = prox(a, m - mu / (2 beta)), then
        mu += 2 beta kappa (z - m)), in place: (a block, act, pre, <mu, z - m>, z_{l+1} a^T,
        z + mu / (2 beta) if ``want_shifted`` else None; it may be written over ``m``, which the
        caller must not read afterwards), or None where the set has no such loop (the pass then
        composes relu, the products and ``multiplier_prox`` without nu)."""

    def input_cross(self, z, a, sl): ...

    def c_kernels_for(self, z, a_prev, bias: bool, next_width: int) -> bool:
        """Whether ``layer_block`` runs the optional C kernels for layer state z over input a_prev."""

    def view(self, x, sl): ...

    def scratch(self, name, rows, cols, dtype, device):
        """A reusable rows x cols buffer private to the calling thread, or None (expressions allocate)."""

    def relu(self, z, out=None): ...

    def matmul(self, A, B, out=None): ...

    def long_product(self, A, B): ...

    def gram(self, a): ...

    def turn_cross(self, z, a) -> bool: ...

    def add_matmul(self, h, P, r, out=None): ...

    def hidden_prox(self, a, m, gamma, beta, out=None): ...

    def shifted_relu(self, z_l, nu_l, sl, scale, out=None): ...

    def multiplier_prox(self, a_l, m, z_l, mu_l, nu_l, sl, gamma, beta, kappa, want_shifted=False) -> tuple:
        """The full Lagrangian's z update and dual steps of columns ``sl`` (new a in ``a_l[:, sl]``):
        (z, mu, nu, z + mu / (2 beta) if ``want_shifted`` else None (it may be written over ``m``,
        which the caller must not read afterwards), four float64 sums); where
        ``writable_views`` is True, z, mu, nu are already written into ``z_l``, ``mu_l``, ``nu_l``.
        ``nu_l`` None (the linear Lagrangian): no multiplier of ``a = h(z)``, nu None, its sum 0."""

    def output_prox(self, m, s, lam, beta, update_multiplier, out_z=None, out_lam=None, *, loss="hinge",
                    z0=None, lag_residual=False): ...
