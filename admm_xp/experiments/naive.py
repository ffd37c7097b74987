"""A naive transcription of Algorithm 1: the benchmark's point of comparison.

Written as the listing reads, with nothing cached or fused: every weight
update takes the pseudo-inverse of the d x N activation matrix, every
activation update inverts a fresh d x d matrix, every elementwise step is
a separate array expression over all N columns. It computes the same
iterates as :func:`admm_xp.solver.iteration.admm_iteration` (up to rounding), only
slower; the benchmark reports the ratio.
"""
from __future__ import annotations

from .. import nn
from ..solver import updates
from ..solver.iteration import output_target


def naive_iteration(state, prob, cfg, xp, update_multiplier=True, timer=None):
    from ..runtime.timing import NO_TIMER

    timer = timer or NO_TIMER
    pen = cfg.penalties(state.iteration)
    W, a, z, L = state.W, state.a, state.z, state.n_layers
    a_prev = prob.X
    target = output_target(z[L - 1], state.lam, pen.beta[L - 1], cfg)
    for l in range(L - 1):
        z_next = target if l == L - 2 else z[l + 1]
        with timer("W"):
            W[l] = xp.matmul(z[l], xp.linalg.pinv(a_prev))  # W_l = z_l a_{l-1}^+
        with timer("a"):
            Wn = W[l + 1]
            d = Wn.shape[1]
            M = pen.beta[l + 1] * xp.matmul(xp.matrix_transpose(Wn), Wn) + pen.gamma[l] * xp.eye(d, dtype=Wn.dtype, device=_dev(Wn))
            rhs = pen.beta[l + 1] * xp.matmul(xp.matrix_transpose(Wn), z_next) + pen.gamma[l] * nn.relu(z[l], xp)
            a[l] = xp.matmul(xp.linalg.inv(M), rhs)
        with timer("z"):
            z[l] = updates.z_hidden_relu(a[l], xp.matmul(W[l], a_prev), pen.gamma[l], pen.beta[l], xp)
        a_prev = a[l]
    with timer("W"):
        W[L - 1] = xp.matmul(target, xp.linalg.pinv(a_prev))
    with timer("z"):
        m = xp.matmul(W[L - 1], a_prev)
        if cfg.loss == "hinge":
            z[L - 1] = updates.z_output_hinge(m, prob.S, state.lam, pen.beta[L - 1], xp)
        else:
            z[L - 1] = updates.z_output_cross_entropy(m, prob.S, state.lam, pen.beta[L - 1], xp, z0=z[L - 1])
    with timer("lambda"):
        if update_multiplier and cfg.multiplier:
            state.lam = updates.multiplier_update(state.lam, z[L - 1], m, pen.beta[L - 1])
    state.iteration += 1


def _dev(x):
    import array_api_compat as aac

    return aac.device(x)
