"""Each closed-form block update is the exact minimiser of its sub-problem."""
from __future__ import annotations

import numpy as np
import pytest

from admm_xp import nn
from admm_xp.solver import updates
from admm_xp.runtime.hostio import from_host
from conftest import to_np


def _grid(lo, hi, n=40001):
    return np.linspace(lo, hi, n)


def hidden_obj(z, a, m, gamma, beta):
    return gamma * (a - np.maximum(z, 0)) ** 2 + beta * (z - m) ** 2


def output_obj(z, s, lam, m, beta):
    return np.maximum(1 - s * z, 0) + lam * z + beta * (z - m) ** 2


@pytest.mark.parametrize("gamma,beta", [(10.0, 1.0), (1.0, 1.0), (0.1, 5.0), (100.0, 0.01)])
def test_hidden_z_is_the_brute_force_minimum(backend, rng, gamma, beta):
    xp, dev = backend.xp, backend.device
    a = np.concatenate([rng.normal(0, 2, 200), [0.0, 1.0, -1.0, 0.5]])
    m = np.concatenate([rng.normal(0, 2, 200), [0.0, -1.0, 1.0, -0.5]])
    z = to_np(updates.z_hidden_relu(from_host(a, xp, dev), from_host(m, xp, dev), gamma, beta, xp))
    for i in range(a.size):
        r = max(abs(a[i]), abs(m[i])) + 1.0
        grid = _grid(-r, r)
        best = hidden_obj(grid, a[i], m[i], gamma, beta).min()
        got = hidden_obj(z[i], a[i], m[i], gamma, beta)
        assert got <= best + 1e-9 * (1 + best), (i, a[i], m[i], z[i], got, best)


@pytest.mark.parametrize("beta", [1.0, 0.3, 7.0])
def test_output_z_is_the_brute_force_minimum(backend, rng, beta):
    xp, dev = backend.xp, backend.device
    n = 300
    m = rng.normal(0, 2, n)
    s = rng.choice([-1.0, 1.0], n)
    lam = rng.normal(0, 1, n)
    m[:4] = [1.0, -1.0, 0.0, 1.0]  # points on and near the kink
    lam[:4] = [0.0, 0.0, 0.0, 1e-3]
    args = [from_host(v, xp, dev) for v in (m, s, lam)]
    z = to_np(updates.z_output_hinge(args[0], args[1], args[2], beta, xp))
    for i in range(n):
        r = abs(m[i]) + (1 + abs(lam[i])) / beta + 2
        grid = _grid(-r, r)
        best = output_obj(grid, s[i], lam[i], m[i], beta).min()
        got = output_obj(z[i], s[i], lam[i], m[i], beta)
        assert got <= best + 1e-9 * (1 + abs(best)), (i, z[i], got, best)


@pytest.mark.parametrize("bias", [False, True])
def test_weight_update_equals_least_squares(backend, rng, bias):
    xp, dev = backend.xp, backend.device
    d_in, d_out, n = 7, 5, 300
    a = rng.normal(size=(d_in, n))
    z = rng.normal(size=(d_out, n))
    A, Z = from_host(a, xp, dev), from_host(z, xp, dev)
    f64 = xp.float64
    G = xp.matmul(A, xp.matrix_transpose(A))
    C = xp.matmul(Z, xp.matrix_transpose(A))
    G = updates.gram_with_bias(G, xp.sum(A, axis=1), float(n), bias, xp)
    C = updates.cross_with_bias(C, xp.sum(Z, axis=1), bias, xp)
    W = to_np(updates.weights_from_sums(C, updates.gram_factor(G, 0.0, xp), xp, f64))
    design = np.vstack([a, np.ones((1, n))]) if bias else a
    ref = np.linalg.lstsq(design.T, z.T, rcond=None)[0].T
    np.testing.assert_allclose(W, ref, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("d,d_next", [(12, 3), (4, 9), (6, 6)])
@pytest.mark.parametrize("bias", [False, True])
def test_activation_update_equals_direct_solve(backend, rng, d, d_next, bias):
    """Woodbury (narrow next layer) and the direct form both solve (beta W^T W + gamma I) a = beta W^T z + gamma h."""
    xp, dev = backend.xp, backend.device
    gamma, beta, n = 3.0, 0.7, 50
    W = rng.normal(size=(d_next, d + (1 if bias else 0)))
    z_l = rng.normal(size=(d, n))
    z_next = rng.normal(size=(d_next, n))
    got = to_np(updates.activations_update(from_host(z_l, xp, dev), from_host(z_next, xp, dev), from_host(W, xp, dev),
                                           gamma, beta, bias, xp, xp.float64))
    Wt = W[:, :-1] if bias else W
    target = z_next - W[:, -1:] if bias else z_next
    M = beta * Wt.T @ Wt + gamma * np.eye(d)
    ref = np.linalg.solve(M, beta * Wt.T @ target + gamma * np.maximum(z_l, 0))
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-11)


def test_activation_update_minimises_its_objective(rng):
    import array_api_compat.numpy as xp

    d, d_next, n, gamma, beta = 8, 2, 20, 2.0, 0.5
    W = rng.normal(size=(d_next, d))
    z_l, z_next = rng.normal(size=(d, n)), rng.normal(size=(d_next, n))
    a = updates.activations_update(z_l, z_next, W, gamma, beta, False, xp, xp.float64)

    def f(a):
        return gamma * np.sum((a - np.maximum(z_l, 0)) ** 2) + beta * np.sum((z_next - W @ a) ** 2)

    base = f(a)
    for _ in range(50):
        assert f(a + 1e-3 * rng.normal(size=a.shape)) > base


def test_ridge_regularises_a_singular_gram(backend):
    """A constant (all-zero after standardising) feature makes X X^T singular: the update still succeeds."""
    xp, dev = backend.xp, backend.device
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 100))
    a[2] = 0.0  # a dead feature
    a = np.vstack([a, a[:1]])  # and a duplicated one
    z = rng.normal(size=(3, 100))
    A, Z = from_host(a, xp, dev), from_host(z, xp, dev)
    G = xp.matmul(A, xp.matrix_transpose(A))
    C = xp.matmul(Z, xp.matrix_transpose(A))
    W = to_np(updates.weights_from_sums(C, updates.gram_factor(G, 1e-10, xp), xp, xp.float64))
    assert np.all(np.isfinite(W))
    assert np.allclose(W[:, 2], 0.0)
    # The fit is as good as the least-squares fit with the redundant columns removed.
    keep = [0, 1, 3]
    ref = np.linalg.lstsq(a[keep].T, z.T, rcond=None)[0].T
    np.testing.assert_allclose(W @ a, ref @ a[keep], rtol=1e-6, atol=1e-6)


def _ce_problem(rng, C, n, scale=3.0):
    m = rng.normal(0, scale, (C, n))
    lam = rng.normal(0, 1, (C, n))
    if C == 1:
        s = rng.choice([-1.0, 1.0], (1, n))
    else:
        y = rng.integers(0, C, n)
        s = 2.0 * (np.arange(C)[:, None] == y[None, :]) - 1.0
    return m, s, lam


def _ce_objective(z, s, lam, m, beta):
    """CE(z, s) + <lam, z> + beta ||z - m||^2 for one sample (host NumPy, written independently)."""
    if z.size == 1:
        loss = np.logaddexp(0.0, -s[0] * z[0])
    else:
        loss = np.logaddexp.reduce(z) - z[np.argmax(s)]
    return loss + lam @ z + beta * np.sum((z - m) ** 2)


@pytest.mark.parametrize("C", [1, 3, 10])
@pytest.mark.parametrize("beta", [0.01, 0.3, 1.0, 20.0])
def test_cross_entropy_prox_is_the_direct_minimum(backend, rng, C, beta):
    """The damped-Newton prox (from a cold start) = a direct minimisation of each sample's problem."""
    from scipy.optimize import minimize

    xp, dev = backend.xp, backend.device
    m, s, lam = _ce_problem(rng, C, 40)
    z = to_np(updates.z_output_cross_entropy(*(from_host(v, xp, dev) for v in (m, s, lam)), beta, xp))
    for j in range(m.shape[1]):
        f = lambda v: _ce_objective(v, s[:, j], lam[:, j], m[:, j], beta)  # noqa: E731
        best = minimize(f, m[:, j] - lam[:, j] / (2 * beta), method="BFGS", options={"gtol": 1e-11})
        assert f(z[:, j]) <= best.fun + 1e-10 * (1 + abs(best.fun)), (j, f(z[:, j]), best.fun)
        # first-order optimality: dCE(z) + lam + 2 beta (z - m) = 0
        if C == 1:
            dce = -s[0, j] / (1.0 + np.exp(s[0, j] * z[0, j]))
        else:
            p = np.exp(z[:, j] - np.logaddexp.reduce(z[:, j]))
            dce = p - (s[:, j] + 1) / 2
        np.testing.assert_allclose(dce + lam[:, j] + 2 * beta * (z[:, j] - m[:, j]), 0.0, atol=1e-9)


def test_cross_entropy_values_match_the_definitions(backend, rng):
    xp, dev = backend.xp, backend.device
    for C in (1, 4):
        m, s, _ = _ce_problem(rng, C, 30, scale=30.0)  # large scores: no overflow
        got = to_np(nn.cross_entropy(from_host(m, xp, dev), from_host(s, xp, dev), xp))[0]
        if C == 1:
            want = np.logaddexp(0.0, -s[0] * m[0])
        else:
            want = np.logaddexp.reduce(m, axis=0) - m[np.argmax(s, axis=0), np.arange(m.shape[1])]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_dual_residual_from_the_gram_matrix_or_its_factor_equals_the_direct_norm(backend, rng):
    """||dW a|| from trace(dW G dW^T) or ||dW L|| (G = a a^T = L L^T) = the norm of the product itself."""
    from admm_xp.solver import balancing
    from admm_xp.runtime.linalg import cholesky

    xp, dev = backend.xp, backend.device
    a = rng.normal(size=(9, 500))
    dW = rng.normal(size=(4, 9))
    direct = np.sum((dW @ a) ** 2)
    G = from_host(a @ a.T, xp, dev)
    assert balancing.dual_residual_sq(from_host(dW, xp, dev), G, xp) == pytest.approx(direct, rel=1e-10)
    assert balancing.dual_residual_sq_from_factor(from_host(dW, xp, dev), cholesky(G, xp), xp) == pytest.approx(direct, rel=1e-10)


def test_residual_balancing_rule():
    """Boyd et al. (2011) 3.4.1: grow the penalty when the primal residual dominates, shrink it when the dual does."""
    from admm_xp.solver.balancing import BalanceRule, balance

    rule = BalanceRule(mu=10.0, tau=2.0)
    assert balance([1.0, 1.0, 1.0, 4.0], [100.0, 1.0, 5.0, float("nan")], [1.0, 100.0, 1.0, 1.0], rule) == [2.0, 0.5, 1.0, 4.0]
    assert balance([1.0], [10.0], [1.0], rule) == [1.0]  # exactly mu: no change


@pytest.mark.parametrize("ridge", [0.0, 0.05])
def test_centred_weights_solve_the_constrained_least_squares_directly(backend, rng, ridge):
    """centred_weights = the KKT system of min ||Z - W A||^2 (+ ridge) s.t. W abar = 0, solved directly;
    and W abar = 0 holds."""
    from admm_xp.runtime.linalg import regularised

    xp, dev = backend.xp, backend.device
    d, k, n = 7, 3, 60
    A, Z = np.abs(rng.normal(size=(d, n))), rng.normal(size=(k, n))  # non-negative inputs, as after a ReLU
    G, C, abar = A @ A.T, Z @ A.T, A.mean(axis=1)
    Lg = updates.gram_factor(from_host(G, xp, dev), ridge, xp)
    W0 = updates.weights_from_sums(from_host(C, xp, dev), Lg, xp, xp.float64)
    W = to_np(updates.centred_weights(W0, from_host(abar, xp, dev), Lg, xp, xp.float64))
    Gr = to_np(regularised(from_host(G, xp, dev), ridge, xp))
    K = np.block([[Gr, abar[:, None]], [abar[None, :], np.zeros((1, 1))]])
    direct = np.linalg.solve(K, np.vstack([C.T, np.zeros((1, k))]))[:d].T
    np.testing.assert_allclose(W, direct, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(W @ abar, 0.0, atol=1e-11)
    assert np.abs(to_np(W0) @ abar).max() > 1e-3  # the unconstrained solution did not satisfy it
