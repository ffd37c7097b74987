"""The closed-form block updates of ADMM training (Taylor et al. 2016, Sec. 4).

Samples are columns. Every function takes the array namespace ``xp`` and
uses nothing else; these are the reference forms that the fused passes in
:mod:`admm_xp.passes` and the backend kernels in :mod:`admm_xp.kernels` must
reproduce (the tests check that they do).

Notation (``../shared/paper/algorithm.md``): ``h`` is ReLU; ``m = W_l a_{l-1}``;
``gamma`` and ``beta`` are the activation and pre-activation penalties.
"""
from __future__ import annotations

import array_api_compat as aac

from .linalg import cho_solve, cholesky, regularised


def relu(z, xp):
    """h(z) = max(z, 0)."""
    return xp.maximum(z, 0.0)


def affine(W, a, bias: bool, xp):
    """``W a``, or ``W[:, :-1] a + W[:, -1]`` when the input has a constant bias row."""
    if bias:
        return xp.matmul(W[:, :-1], a) + W[:, -1:]
    return xp.matmul(W, a)


def z_hidden_relu(a, m, gamma, beta, xp):
    """argmin_z  gamma (a - h(z))^2 + beta (z - m)^2, elementwise.

    Not convex: minimise on each branch and keep the lower value.
    z >= 0: z+ = max((gamma a + beta m) / (gamma + beta), 0);
    z <= 0: z- = min(m, 0), where h(z) = 0.
    """
    zp = xp.maximum((gamma * a + beta * m) / (gamma + beta), 0.0)
    zm = xp.minimum(m, 0.0)
    vp = gamma * (a - zp) ** 2 + beta * (zp - m) ** 2
    vm = gamma * a**2 + beta * (zm - m) ** 2
    return xp.where(vp <= vm, zp, zm)


def z_output_hinge(m, s, lam, beta, xp):
    """argmin_z  max(1 - s z, 0) + lam z + beta (z - m)^2, elementwise (convex).

    ``s`` holds the targets in {-1, +1} (one row per one-vs-rest output unit).
    """
    z_loss = m + (s - lam) / (2.0 * beta)  # stationary point where s z < 1
    z_flat = m - lam / (2.0 * beta)  # stationary point where s z > 1
    return xp.where(s * z_loss < 1.0, z_loss, xp.where(s * z_flat > 1.0, z_flat, s))


def multiplier_update(lam, z, m, beta):
    """lambda <- lambda + beta (z_L - W_L a_{L-1})."""
    return lam + beta * (z - m)


def hinge_loss(z, s, xp):
    """sum of max(1 - s z, 0)."""
    return xp.sum(xp.maximum(1.0 - s * z, 0.0))


def gram_with_bias(G, sums, n, bias: bool, xp):
    """The Gram matrix of ``[a; 1]`` from ``a a^T``, the row sums of ``a`` and the sample count."""
    if not bias:
        return G
    top = xp.concat([G, sums[:, None]], axis=1)
    corner = xp.reshape(xp.asarray(n, dtype=G.dtype, device=aac.device(G)), (1, 1))
    bottom = xp.concat([sums[None, :], corner], axis=1)
    return xp.concat([top, bottom], axis=0)


def cross_with_bias(C, zsums, bias: bool, xp):
    """``z [a; 1]^T`` from ``z a^T`` and the row sums of ``z``."""
    return xp.concat([C, zsums[:, None]], axis=1) if bias else C


def gram_factor(G, ridge, xp, what=None):
    """Cholesky factor of the (regularised) Gram matrix, in G's dtype (``what`` names it in errors)."""
    return cholesky(regularised(G, ridge, xp), xp, what=what)


def weights_from_sums(C, Lg, xp, dtype):
    """W = C G^{-1} = (z a^T)(a a^T)^{-1} from the cross-product and the Gram factor.

    This is the least-squares solution of ``min_W ||z - W a||^2`` (W = z a^+),
    computed from d x d sums (which data-parallel ranks add up) and a
    Cholesky factor, never from a pseudo-inverse of a d x N matrix.
    """
    Wt = cho_solve(Lg, xp.matrix_transpose(xp.astype(C, Lg.dtype)), xp)
    return xp.astype(xp.matrix_transpose(Wt), dtype)


def activation_operator(W_next, gamma, beta_next, bias: bool, xp, solve_dtype):
    """The small matrices of the activation update, factored once per iteration.

    a_l = argmin_a gamma ||a - h(z_l)||^2 + beta ||z_{l+1} - W a||^2
        = (beta W^T W + gamma I)^{-1} (beta W^T z_{l+1} + gamma h(z_l))
        = h + P (z_{l+1} - W h),   P = (gamma/beta I + W^T W)^{-1} W^T
                                     = W^T (gamma/beta I + W W^T)^{-1}  (Woodbury).

    With ``W`` of shape d_{l+1} x d_l, the factored matrix is the smaller of
    the two: d_{l+1} x d_{l+1} when the next layer is narrower (Woodbury),
    else d_l x d_l. Returns ``(Wt, b, P)``: the weight part of W (bias column
    removed), the bias column (or None) and P, all in W's dtype.
    """
    dtype = W_next.dtype
    Wt = W_next[:, :-1] if bias else W_next
    b = W_next[:, -1:] if bias else None
    W64 = xp.astype(Wt, solve_dtype)
    d_next, d = W64.shape
    ratio = gamma / beta_next
    dev = aac.device(W64)
    if d_next < d:  # Woodbury: factor the d_{l+1} x d_{l+1} matrix
        K = ratio * xp.eye(d_next, dtype=solve_dtype, device=dev) + xp.matmul(W64, xp.matrix_transpose(W64))
        P = xp.matrix_transpose(cho_solve(cholesky(K, xp), W64, xp))
    else:
        M = ratio * xp.eye(d, dtype=solve_dtype, device=dev) + xp.matmul(xp.matrix_transpose(W64), W64)
        P = cho_solve(cholesky(M, xp), xp.matrix_transpose(W64), xp)
    return Wt, b, xp.astype(P, dtype)


def activations_update(z_l, z_next, W_next, gamma, beta_next, bias: bool, xp, solve_dtype=None):
    """a_l update on whole arrays (reference form; the solver uses the fused pass)."""
    Wt, b, P = activation_operator(W_next, gamma, beta_next, bias, xp, solve_dtype or W_next.dtype)
    h = relu(z_l, xp)
    target = z_next - b if bias else z_next
    return h + xp.matmul(P, target - xp.matmul(Wt, h))
