"""A plain, unfused transcription of Algorithm 1 for the tests.

Each block update is a separate call on whole arrays, so the tests can check
the objective after every block and compare the fused, chunked production
iteration against it.
"""
from __future__ import annotations

from admm_xp import nn
from admm_xp.runtime.linalg import regularised
from admm_xp.solver import updates
from admm_xp.solver.iteration import drop_expired_multipliers
from admm_xp.solver.objective import combine, objective_parts


def objective_value(state, prob, cfg, xp, pen):
    parts = objective_parts(state, prob, cfg, xp)
    return combine([float(v) for v in parts.flat()], pen, state.n_layers - 1)["objective"]


def reference_iteration(state, prob, cfg, xp, update_multiplier=True, after_block=None):
    """Algorithm 1 on whole arrays; ``after_block(name)`` is called after every block update."""
    pen = cfg.penalties(state.iteration)
    W, a, z, L = state.W, state.a, state.z, state.n_layers
    bias = cfg.bias

    def lstsq(zl, a_prev, center=False):
        G = xp.matmul(a_prev, xp.matrix_transpose(a_prev))
        C = xp.matmul(zl, xp.matrix_transpose(a_prev))
        n = float(a_prev.shape[1])
        G = updates.gram_with_bias(xp.astype(G, xp.float64), xp.sum(a_prev, axis=1, dtype=xp.float64), n, bias, xp)
        C = updates.cross_with_bias(xp.astype(C, xp.float64), xp.sum(zl, axis=1, dtype=xp.float64), bias, xp)
        ridge = cfg.gram_ridge(G.shape[0], n)
        if center:  # min ||z - W a||^2 (+ ridge) s.t. W mean(a) = 0: the bordered (KKT) system, solved directly
            abar = xp.sum(xp.astype(a_prev, xp.float64), axis=1) / n
            d, k = G.shape[0], C.shape[0]
            dev = _dev(G)
            K = xp.concat([xp.concat([regularised(G, ridge, xp), abar[:, None]], axis=1),
                           xp.concat([abar[None, :], xp.zeros((1, 1), dtype=xp.float64, device=dev)], axis=1)], axis=0)
            rhs = xp.concat([xp.matrix_transpose(C), xp.zeros((1, k), dtype=xp.float64, device=dev)], axis=0)
            return xp.astype(xp.matrix_transpose(xp.linalg.solve(K, rhs)[:d, :]), zl.dtype)
        return updates.weights_from_sums(C, updates.gram_factor(G, ridge, xp), xp, zl.dtype)

    # multipliers u = mu (z = W a) and v = nu (a = h(z)), unscaled: both under "full", u alone under "linear"
    full = cfg.lagrangian in ("full", "linear") and cfg.multiplier
    with_nu = cfg.relu_multipliers_at(state.iteration)  # "full"; "linear" in its first relu_multiplier_iters
    drop_expired_multipliers(state, cfg)  # after them, dropped for good: the plain linear form from here on
    if cfg.restart_at(state.iteration):  # forward_restart: a and z from the network's forward pass, multipliers 0
        a_in = prob.X
        for l in range(L - 1):
            z[l] = nn.affine(W[l], a_in, bias, xp)
            a[l] = xp.maximum(z[l], 0.0)
            a_in = a[l]
        state.u = [0.0 * x for x in state.u]
        state.v = [0.0 * x for x in state.v]
    u = state.u
    v = state.v if with_nu else [0.0 * x for x in state.a]  # nu = 0, never stepped

    def fitted(l):  # what W_l a_{l-1} is fitted to
        if l == L - 1:  # z_L + lambda / (2 beta_L) under an augmented Lagrangian
            return z[l] + state.lam / (2.0 * pen.beta[l]) if cfg.lagrangian != "paper" and cfg.multiplier else z[l]
        return z[l] + u[l] / (2.0 * pen.beta[l]) if full else z[l]

    a_prev = prob.X
    for l in range(L - 1):
        W[l] = lstsq(fitted(l), a_prev, center=not bias and (cfg.center_layers and l >= 1 or cfg.center_input and l == 0))
        after_block and after_block(f"W{l + 1}")
        if full:  # a_l = argmin gamma ||a - (h(z_l) - v_l)||^2 + beta ||fitted - W a||^2, by a direct solve
            Wn = W[l + 1]
            d = Wn.shape[1] - (1 if bias else 0)
            Wt = Wn[:, :-1] if bias else Wn
            t = fitted(l + 1) - (Wn[:, -1:] if bias else 0.0)
            M = pen.beta[l + 1] * xp.matmul(xp.matrix_transpose(Wt), Wt) + pen.gamma[l] * xp.eye(d, dtype=Wt.dtype, device=_dev(Wt))
            rhs = pen.beta[l + 1] * xp.matmul(xp.matrix_transpose(Wt), t) + pen.gamma[l] * (nn.relu(z[l], xp) - v[l] / (2.0 * pen.gamma[l]))
            a[l] = xp.linalg.solve(M, rhs)
        else:
            a[l] = updates.activations_update(z[l], fitted(l + 1), W[l + 1], pen.gamma[l], pen.beta[l + 1], bias, xp,
                                              prob.solve_dtype)
        after_block and after_block(f"a{l + 1}")
        m = nn.affine(W[l], a_prev, bias, xp)
        if full:
            z[l] = updates.z_hidden_relu(a[l] + v[l] / (2.0 * pen.gamma[l]), m - u[l] / (2.0 * pen.beta[l]), pen.gamma[l],
                                         pen.beta[l], xp)
            after_block and after_block(f"z{l + 1}")
            u[l] = u[l] + 2.0 * pen.beta[l] * cfg.dual_step_at(state.iteration) * (z[l] - m)
            if with_nu:
                v[l] = v[l] + 2.0 * pen.gamma[l] * cfg.dual_step_at(state.iteration) * (a[l] - nn.relu(z[l], xp))
            after_block and after_block(f"multipliers{l + 1}")
        else:
            z[l] = updates.z_hidden_relu(a[l], m, pen.gamma[l], pen.beta[l], xp)
            after_block and after_block(f"z{l + 1}")
        a_prev = a[l]
    W[L - 1] = lstsq(fitted(L - 1), a_prev)
    after_block and after_block(f"W{L}")
    m = nn.affine(W[L - 1], a_prev, bias, xp)
    if cfg.loss == "hinge":
        z[L - 1] = updates.z_output_hinge(m, prob.S, state.lam, pen.beta[L - 1], xp)
    else:
        z[L - 1] = updates.z_output_cross_entropy(m, prob.S, state.lam, pen.beta[L - 1], xp, z0=z[L - 1])
    after_block and after_block(f"z{L}")
    if update_multiplier and cfg.multiplier:
        state.lam = updates.multiplier_update(state.lam, z[L - 1], m, pen.beta[L - 1])
        after_block and after_block("lambda")
    state.iteration += 1


def _dev(x):
    import array_api_compat as aac

    return aac.device(x)
