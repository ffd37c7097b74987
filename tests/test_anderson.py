"""Anderson acceleration: the type-II step against a direct least-squares solve, its safeguard,
and its effect on a contractive linear fixed-point map."""
from __future__ import annotations

import numpy as np
import pytest

from admm_xp.solver import anderson
from admm_xp.runtime.comm import LocalComm
from admm_xp.runtime.hostio import from_host
from conftest import to_np


def _as_lists(vectors, xp, dev, split=3):
    """Each vector as a list of two arrays (a 'weights' part and a 'columns' part)."""
    return [[from_host(v[:split].reshape(1, -1), xp, dev), from_host(v[split:].reshape(1, -1), xp, dev)] for v in vectors]


def test_type_ii_step_equals_the_direct_least_squares_solution(backend, rng):
    """x_{k+1} = g_k - (dX + dF) gamma with gamma = argmin ||f_k - dF gamma|| (solved here by lstsq)."""
    xp, dev = backend.xp, backend.device
    n, m = 12, 3
    xs = [rng.normal(size=n) for _ in range(m + 1)]
    gs = [rng.normal(size=n) for _ in range(m + 1)]
    acc = anderson.AndersonState(memory=m)
    X, G = _as_lists(xs, xp, dev), _as_lists(gs, xp, dev)
    local = [False, True]
    out = None
    for x, g in zip(X, G):
        acc.merit = None  # no restarts: compare the plain step
        out = anderson.step(acc, x, g, xp, LocalComm(), local, reg=0.0)
    F = [g - x for x, g in zip(xs, gs)]
    dF = np.stack([F[i + 1] - F[i] for i in range(m)], axis=1)
    dX = np.stack([xs[i + 1] - xs[i] for i in range(m)], axis=1)
    gamma = np.linalg.lstsq(dF, F[-1], rcond=None)[0]
    want = gs[-1] - (dX + dF) @ gamma
    got = np.concatenate([to_np(a).ravel() for a in out])
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)


def test_acceleration_solves_a_linear_fixed_point_faster_than_the_plain_iteration(rng):
    """On x = M x + c with a slow contraction, AA(m) reaches the fixed point long before plain iteration."""
    n = 20
    Q = np.linalg.qr(rng.normal(size=(n, n)))[0]
    M = Q @ np.diag(np.linspace(0.5, 0.98, n)) @ Q.T
    c = rng.normal(size=n)
    x_star = np.linalg.solve(np.eye(n) - M, c)
    x_plain = np.zeros(n)
    x = [np.zeros((1, n))]
    acc = anderson.AndersonState(memory=n)
    for _ in range(40):
        x_plain = M @ x_plain + c
        g = [M @ x[0][0] + c]
        new = anderson.step(acc, x, [g[0][None, :]], np, LocalComm(), [False], reg=1e-14)
        x = new if new is not None else [g[0][None, :]]
    assert np.linalg.norm(x[0][0] - x_star) < 1e-8 * np.linalg.norm(x_star)
    assert np.linalg.norm(x_plain - x_star) > 1e-2 * np.linalg.norm(x_star)


def test_a_rising_residual_restarts_the_memory():
    acc = anderson.AndersonState(memory=3)
    step = lambda x, g: anderson.step(acc, [np.array([x])], [np.array([g])], np, LocalComm(), [False])  # noqa: E731
    assert step(0.0, 1.0) is None  # empty memory: the plain iterate
    assert step(1.0, 1.5) is not None and acc.accepted == 1  # residual 0.5 < 1: extrapolated
    assert step(2.0, 5.0) is None  # residual 3 > 0.5: restart, plain iterate
    assert acc.restarts == 1 and acc.dF == []


@pytest.mark.parametrize("on", ["weights", "state"])
def test_variables_round_trip(on):
    from admm_xp.solver.state import ADMMState

    st = ADMMState(W=[np.ones((2, 3)), np.ones((1, 2))], a=[np.zeros((2, 5))], z=[np.zeros((2, 5)), np.zeros((1, 5))],
                   lam=np.zeros((1, 5)), u=[np.zeros((2, 5))], v=[np.zeros((2, 5))])
    arrays, local = anderson.variables(st, on)
    new = [x + i + 1 for i, x in enumerate(arrays)]
    anderson.set_variables(st, on, new)
    again, local2 = anderson.variables(st, on)
    assert local == local2 and all(x is y for x, y in zip(again, new))
    assert local == ([False, False] if on == "weights" else [False, False] + [True] * 6)
