"""The closed-form block updates of ADMM training (Taylor et al. 2016, Sec. 4).

Samples are columns. Every function takes the array namespace ``xp`` and
uses nothing else; these are the reference forms that the fused passes in
:mod:`admm_xp.solver.passes` and the backend kernels in :mod:`admm_xp.kernels` must
reproduce (the tests check that they do).

Notation (``docs/method.md``, after the paper's Sec. 4): ``h`` is ReLU; ``m = W_l a_{l-1}``;
``gamma`` and ``beta`` are the activation and pre-activation penalties.
"""
from __future__ import annotations

import array_api_compat as aac

from ..nn import cross_entropy, relu
from ..runtime.linalg import cho_solve, cholesky, regularised


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


PROX_NEWTON_STEPS = 16  # damped Newton steps of the cross-entropy prox: converged to rounding for beta >= 0.01 (tests)
PROX_HALVINGS = 6  # step halvings tried per Newton step


def z_output_cross_entropy(m, s, lam, beta, xp, z0=None, steps: int = PROX_NEWTON_STEPS):
    """argmin_z  CE(z, s) + <lam, z> + beta ||z - m||^2, per sample (a column); strongly convex.

    One output row (two classes): the logistic loss ``log(1 + exp(-s z))``; C rows: the softmax
    cross-entropy ``logsumexp(z) - z_y`` of the class y where ``s`` is +1. Completing the square,
    this is the proximal map of CE with step 1/(2 beta) at ``v = m - lam / (2 beta)``, and since
    every component of CE's gradient lies in [-1, 1], the minimiser lies in the box
    ``v +- 1/(2 beta)``. Damped Newton from ``z0`` (the previous z_L, clipped into the box; ``v``
    without one): the Hessian ``diag(p) - p p^T + 2 beta I`` (softmax probabilities p) is inverted
    in O(C) per sample by the Sherman-Morrison formula, and each sample halves its step until the
    Armijo condition holds (up to the rounding of f, so that near the minimiser the full step is
    taken and convergence is quadratic). A fixed number of steps, so the result does not depend
    on how the samples are split over ranks or blocks: from a cold start 16 steps reach the
    minimiser to rounding for beta >= 0.01 and C <= 10 (the tests check it against a direct solve).
    """
    two_b = 2.0 * beta
    v = m - lam / two_b
    lo, hi = v - 1.0 / two_b, v + 1.0 / two_b
    z = v if z0 is None else xp.clip(z0, lo, hi)

    def f(z):
        return cross_entropy(z, s, xp) + beta * xp.sum((z - v) ** 2, axis=0, keepdims=True)

    if m.shape[0] == 1:  # logistic, s in {-1, +1}: H = q (1 - q) + 2 beta
        def direction(z):
            q = _sigmoid(-s * z, xp)
            g = -s * q + two_b * (z - v)
            return g, g / (q * (1.0 - q) + two_b)
    else:
        onehot = (s + 1.0) * 0.5

        def direction(z):
            p = _softmax_columns(z, xp)
            g = p - onehot + two_b * (z - v)
            dinv = 1.0 / (p + two_b)  # H = D - p p^T with D = diag(p + 2 beta)
            dg, dp = dinv * g, dinv * p
            coef = xp.sum(p * dg, axis=0, keepdims=True) / (1.0 - xp.sum(p * dp, axis=0, keepdims=True))
            return g, dg + dp * coef

    fz = f(z)
    slack = 8.0 * float(xp.finfo(z.dtype).eps)  # rounding of f: near the minimiser the full Newton step passes
    for _ in range(steps):
        g, d = direction(z)
        slope = xp.sum(g * d, axis=0, keepdims=True)  # >= 0: d is a descent direction for -d
        t = xp.ones_like(fz)
        done = xp.zeros(fz.shape, dtype=xp.bool, device=_device(fz))
        z_new, f_new = z, fz
        for _ in range(PROX_HALVINGS):
            cand = xp.clip(z - t * d, lo, hi)
            fc = f(cand)
            ok = xp.logical_and(fc <= fz - 1e-4 * t * slope + slack * (1.0 + xp.abs(fz)), xp.logical_not(done))
            z_new = xp.where(ok, cand, z_new)
            f_new = xp.where(ok, fc, f_new)
            done = xp.logical_or(done, ok)
            if bool(xp.all(done)):  # (skips only candidates no sample would take)
                break
            t = xp.where(done, t, 0.5 * t)
        z, fz = z_new, f_new
    return z


def _device(x):
    return aac.device(x)


def _sigmoid(x, xp):
    """1 / (1 + exp(-x)) without overflow."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softmax_columns(z, xp):
    e = xp.exp(z - xp.max(z, axis=0, keepdims=True))
    return e / xp.sum(e, axis=0, keepdims=True)


def multiplier_update(lam, z, m, beta):
    """lambda <- lambda + beta (z_L - W_L a_{L-1})."""
    return lam + beta * (z - m)


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


def weights_from_sums(C, Lg, xp, dtype, center=None):
    """W = C G^{-1} = (z a^T)(a a^T)^{-1} from the cross-product and the Gram factor.

    This is the least-squares solution of ``min_W ||z - W a||^2`` (W = z a^+),
    computed from d x d sums (which data-parallel ranks add up) and a
    Cholesky factor, never from a pseudo-inverse of a d x N matrix. ``center``
    (the mean of a's columns), when given: the solution held to ``W center = 0``
    (:func:`centred_weights`).
    """
    Wt = cho_solve(Lg, xp.matrix_transpose(xp.astype(C, Lg.dtype)), xp)
    if center is not None:
        return centred_weights(xp.matrix_transpose(Wt), center, Lg, xp, dtype)
    return xp.astype(xp.matrix_transpose(Wt), dtype)


def centred_weights(W0, abar, Lg, xp, dtype):
    """``argmin_W ||z - W a||^2 (+ ridge) subject to W abar = 0``, from the unconstrained solution
    ``W0 = C G^{-1}`` and the Gram factor ``Lg`` of the same (regularised) G.

    The constraint's multiplier Lambda (one per row of W) makes ``W G = C - Lambda abar^T``; then
    ``W abar = 0`` gives ``Lambda = W0 abar / (abar^T G^{-1} abar)``, so
    ``W = W0 - (W0 abar)(G^{-1} abar)^T / (abar^T G^{-1} abar)`` (``center_layers`` of
    :class:`admm_xp.solver.config.ADMMConfig`). ``abar`` all zero: W0 (nothing to constrain).
    """
    f64 = Lg.dtype
    a = xp.astype(abar, f64)
    g = cho_solve(Lg, a[:, None], xp)[:, 0]  # G^{-1} abar
    q = float(xp.sum(a * g))
    W = xp.astype(W0, f64)
    if not q > 0:
        return xp.astype(W, dtype)
    Wa = xp.matmul(W, a[:, None])  # d_out x 1
    return xp.astype(W - Wa * (g[None, :] / q), dtype)


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
