"""The reference block operations, in the array API alone."""
from __future__ import annotations

from .. import nn
from ..solver import updates


def fewer_output_rows_turned(z, a) -> bool:
    """The default orientation of the cross sums ``z a^T``: turned to ``(a z^T)^T`` when a has
    fewer rows, the product with the fewer output rows."""
    return z.shape[0] > a.shape[0]


class PortableKernels:
    name = "portable"
    eval_block = 1 << 15  # samples per block of the accuracy's forward pass
    threads = 1
    # capabilities (admm_xp.kernels.protocol.KernelSet): none; the pass composes the operations
    fuses_blocks = fuses_layers = sums_input_cross = writable_views = False

    def __init__(self, xp):
        self.xp = xp

    def warmup(self, dtype) -> None:
        pass  # nothing to compile

    def iteration_context(self):
        from contextlib import nullcontext

        return nullcontext()

    def map_chunks(self, fn, n: int):
        """One chunk: the whole column range."""
        return [fn(slice(0, n))]

    def hidden_block(self, z_l, z_next, a_l, m, sl, Wt, b, P, gamma, beta, keep_z=False, want_gram=False):
        return None  # no fused loop: the pass composes relu, matmul, add_matmul and hidden_prox

    def layer_block(self, z_l, z_next, a_l, a_prev, W_l, sl, Wt, b, P, gamma, beta, bias, with_input_cross):
        return None  # no loop that also forms W_l a_{l-1}: the pass forms it and calls hidden_block

    def linear_block(self, z_l, z_next, a_l, m, mu_l, sl, Wt, b, P, gamma, beta, kappa, want_shifted=False):
        return None  # no fused loop: the pass composes relu, the products and multiplier_prox

    def input_cross(self, z, a, sl):
        return None  # no kernel of its own: the pass uses sample_cross

    def c_kernels_for(self, z, a_prev, bias: bool, next_width: int) -> bool:
        return False

    def view(self, x, sl):
        return None  # the standard leaves views unspecified: assign instead

    def scratch(self, name, rows, cols, dtype, device):
        return None  # no preallocated buffers: expressions allocate

    def relu(self, z, out=None):
        return nn.relu(z, self.xp)

    def matmul(self, A, B, out=None):
        return self.xp.matmul(A, B)

    def long_product(self, A, B):
        """``A @ B`` in float64, for a long inner dimension (the samples): Gram and cross sums."""
        return self.xp.astype(self.xp.matmul(A, B), self.xp.float64, copy=False)

    def turn_cross(self, z, a) -> bool:
        """Compute ``z a^T`` as ``(a z^T)^T`` (see :func:`admm_xp.solver.passes.sample_cross`)?"""
        return fewer_output_rows_turned(z, a)

    def gram(self, a):
        """``a a^T`` in float64 (a's columns are samples)."""
        xp = self.xp
        return xp.astype(xp.matmul(a, xp.matrix_transpose(a)), xp.float64, copy=False)

    def add_matmul(self, h, P, r, out=None):
        return h + self.xp.matmul(P, r)

    def hidden_prox(self, a, m, gamma, beta, out=None):
        xp = self.xp
        z = updates.z_hidden_relu(a, m, gamma, beta, xp)
        act = xp.sum((a - nn.relu(z, xp)) ** 2, dtype=xp.float64)
        pre = xp.sum((z - m) ** 2, dtype=xp.float64)
        return z, act, pre

    def shifted_relu(self, z_l, nu_l, sl, scale, out=None):
        return shifted_relu_portable(self.xp, z_l, nu_l, sl, scale)

    def multiplier_prox(self, a_l, m, z_l, mu_l, nu_l, sl, gamma, beta, kappa, want_shifted=False):
        return multiplier_prox_portable(self.xp, a_l[:, sl], m, mu_l[:, sl], None if nu_l is None else nu_l[:, sl],
                                        gamma, beta, kappa, want_shifted)

    def output_prox(self, m, s, lam, beta, update_multiplier, out_z=None, out_lam=None, *, loss="hinge", z0=None,
                    lag_residual=False):
        return output_prox_portable(self.xp, m, s, lam, beta, update_multiplier, loss, z0, lag_residual)


def shifted_relu_portable(xp, z_l, nu_l, sl, scale):
    """``h(z) - scale * nu`` over columns ``sl``: what the activation update of the full Lagrangian
    starts from (``scale = 1 / (2 gamma)``, so that ``scale * nu`` is the scaled multiplier v)."""
    return nn.relu(z_l[:, sl], xp) - scale * nu_l[:, sl]


def multiplier_prox_portable(xp, a, m, mu, nu, gamma, beta, kappa, want_shifted=False):
    """The z update and the dual steps of a hidden block under the full Lagrangian, in array expressions.

    With the multipliers nu of ``a = h(z)`` and mu of ``z = W a_prev`` (``m`` = W a_prev), scaled as
    ``v = nu / (2 gamma)``, ``u = mu / (2 beta)``: z = argmin gamma (a + v - h(z))^2 + beta (z - (m - u))^2
    (:func:`admm_xp.solver.updates.z_hidden_relu`), then ``mu += 2 beta kappa (z - m)`` and
    ``nu += 2 gamma kappa (a - h(z))``. ``nu`` None (the linear Lagrangian, no multiplier of
    ``a = h(z)``): v = 0 and no nu step. Returns (z, mu, nu, shifted, sum (a - h(z))^2, sum (z - m)^2,
    <nu, a - h(z)> (0 without nu), <mu, z - m>), the sums in float64 with the new multipliers;
    ``shifted`` is ``z + mu / (2 beta)`` (what W is fitted to) with ``want_shifted``, else None.
    """
    f64 = xp.float64
    z = updates.z_hidden_relu(a if nu is None else a + nu * (0.5 / gamma), m - mu * (0.5 / beta), gamma, beta, xp)
    act_r = a - nn.relu(z, xp)
    pre_r = z - m
    mu = mu + (2.0 * beta * kappa) * pre_r
    if nu is not None:
        nu = nu + (2.0 * gamma * kappa) * act_r
    lag_act = 0.0 if nu is None else xp.sum(nu * act_r, dtype=f64)
    shifted = z + (0.5 / beta) * mu if want_shifted else None
    return (z, mu, nu, shifted, xp.sum(act_r ** 2, dtype=f64), xp.sum(pre_r ** 2, dtype=f64), lag_act,
            xp.sum(mu * pre_r, dtype=f64))


def output_prox_portable(xp, m, s, lam, beta, update_multiplier, loss="hinge", z0=None, lag_residual=False):
    """The output block in array-API expressions: (z, lambda, loss sum, Lagrangian term, penalty sum).

    ``z0`` (the previous z_L) starts the cross-entropy prox's Newton steps.
    """
    if loss == "hinge":
        z = updates.z_output_hinge(m, s, lam, beta, xp)
    else:
        z = updates.z_output_cross_entropy(m, s, lam, beta, xp, z0=z0)
    if update_multiplier:
        lam = updates.multiplier_update(lam, z, m, beta)
    r = z - m
    loss_sum = xp.sum(nn.output_loss_values(z, s, loss, xp), dtype=xp.float64)
    lag = xp.sum((r if lag_residual else z) * lam, dtype=xp.float64)
    pen = xp.sum(r ** 2, dtype=xp.float64)
    return z, lam, loss_sum, lag, pen
