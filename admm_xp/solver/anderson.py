"""Anderson acceleration of the ADMM iteration (type II; Walker and Ni, SIAM J. Numer. Anal. 49,
2011; for ADMM: Zhang, O'Donoghue and Boyd, SIAM J. Optim. 30, 2020; for ADMM training of
neural networks: Ebrahimi, Batista and Deghat, AA-DLADMM, 2024).

One ADMM iteration is a map ``x_{k+1} = G(x_k)`` on the variables that determine the next
iterate. With the residual ``f_k = G(x_k) - x_k`` and the last m differences
``dX = [x_{i+1} - x_i]``, ``dF = [f_{i+1} - f_i]``, type II acceleration solves the small
least-squares problem

    gamma = argmin ||f_k - dF gamma||^2  (+ a Tikhonov term reg * ||dF||^2 ||gamma||^2)

and moves to ``x_{k+1} = G(x_k) - (dX + dF) gamma``. Safeguard: when the fixed-point
residual ``||f_k||`` (the merit of Zhang et al.) exceeds ``(1 + tol)`` times the last one,
the memory is cleared and the plain ``G(x_k)`` kept: a restart.

``x`` is a list of arrays. On the weights (``on="weights"``: every rank holds them whole)
the inner products need no communication; on the whole state (``on="state"``: also a, z
and the multipliers, each rank holding its columns) the m x m matrix ``dF^T dF`` and the
vector ``dF^T f`` are summed over ranks by one small allreduce, so the result does not
depend on the rank count. Costs: ``2 m`` copies of ``x`` and about ``4 m`` passes over it
per iteration: small for the weights, of the order of the iteration itself for the state.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..runtime.linalg import small_ridge_solve

ON = ("weights", "state")


@dataclass
class AndersonState:
    """The memory of the accelerator: the last iterates' differences, and the last accepted point."""

    memory: int
    x_prev: list | None = None  # x_{k-1}
    f_prev: list | None = None  # f_{k-1}
    dX: list = field(default_factory=list)  # each a list of arrays
    dF: list = field(default_factory=list)
    merit: float | None = None
    restarts: int = 0
    accepted: int = 0

    def memory_arrays(self) -> list:
        """Every array the memory holds (for memory accounting)."""
        out = [*(self.x_prev or []), *(self.f_prev or [])]
        for d in (*self.dX, *self.dF):
            out.extend(d)
        return out

    def clear(self) -> None:
        self.x_prev = self.f_prev = None
        self.dX, self.dF = [], []


def _sub(a: list, b: list) -> list:
    return [x - y for x, y in zip(a, b)]


def _dot(a: list, b: list, xp, local: list) -> list:
    """<a_i, b_i> of each pair of arrays, as float64 host numbers (summed by the caller)."""
    return [float(xp.sum(xp.astype(x, xp.float64) * xp.astype(y, xp.float64))) for x, y in zip(a, b)]


def gram_system(dF: list, f: list, xp, comm, local: list):
    """(``dF^T dF``, ``dF^T f``, ``f^T f``) summed over arrays and, for arrays held by columns
    (``local[i]``), over ranks: one allreduce of m^2 + m + 1 numbers. ``dF^T dF`` comes as its
    upper triangle, row by row (host floats)."""
    m = len(dF)
    parts = [_dot(f, f, xp, local)]
    for i in range(m):
        for j in range(i, m):
            parts.append(_dot(dF[i], dF[j], xp, local))
    for i in range(m):
        parts.append(_dot(dF[i], f, xp, local))
    # per-array terms: the local ones are summed over ranks, the replicated ones are not
    loc = [sum(t for t, is_local in zip(p, local) if is_local) for p in parts]
    rep = [sum(t for t, is_local in zip(p, local) if not is_local) for p in parts]
    if any(local):
        loc = comm.allreduce_scalars(loc)
    totals = [a + b for a, b in zip(loc, rep)]
    ff, totals = totals[0], totals[1:]
    k = m * (m + 1) // 2
    return totals[:k], totals[k:], ff


def coefficients(A_upper: list, b: list, reg: float) -> list:
    """gamma = argmin ||f - dF gamma||^2 + reg * trace(A) / m * ||gamma||^2 from A = dF^T dF (its
    upper triangle, row by row) and b = dF^T f: an m x m solve on the host."""
    return small_ridge_solve(A_upper, b, reg)


def step(acc: AndersonState, x: list, g: list, xp, comm, local: list, *, reg: float = 1e-8, tol: float = 0.0) -> list:
    """The next iterate from ``x`` (the input of the last iteration) and ``g = G(x)`` (its output).

    ``local[i]`` says whether array i is held by columns (summed over ranks) or whole on every
    rank. Returns the new arrays, or None (keep ``g``) on a restart and while the memory is empty.
    """
    f = _sub(g, x)
    g = list(g)
    if acc.x_prev is not None:
        acc.dX.append(_sub(x, acc.x_prev))
        acc.dF.append(_sub(f, acc.f_prev))
        if len(acc.dX) > acc.memory:
            acc.dX.pop(0)
            acc.dF.pop(0)
    A, b, ff = gram_system(acc.dF, f, xp, comm, local)
    merit = ff ** 0.5
    if acc.merit is not None and merit > (1.0 + tol) * acc.merit:
        acc.clear()  # the residual rose: restart from the plain iterate
        acc.restarts += 1
        acc.merit = merit
        acc.x_prev, acc.f_prev = x, f
        return None
    acc.merit = merit
    acc.x_prev, acc.f_prev = x, f
    if not acc.dF:
        return None
    gam = coefficients(A, b, reg)
    out = list(g)
    for c, dx, df in zip(gam, acc.dX, acc.dF):
        out = [o - float(c) * (u + w) for o, u, w in zip(out, dx, df)]
    acc.accepted += 1
    return out


def variables(state, on: str) -> tuple[list, list]:
    """(arrays, held-by-columns flags) of the accelerated variables of ``state``."""
    if on == "weights":
        return list(state.W), [False] * len(state.W)
    arrays = [*state.W, *state.a, *state.z, state.lam, *state.u, *state.v]
    return arrays, [False] * len(state.W) + [True] * (len(arrays) - len(state.W))


def set_variables(state, on: str, arrays: list) -> None:
    """Put the accelerated arrays back into ``state`` (the inverse of :func:`variables`)."""
    L = len(state.W)
    state.W = list(arrays[:L])
    if on == "state":
        n_a, n_u = len(state.a), len(state.u)
        rest = arrays[L:]
        state.a = list(rest[:n_a])
        state.z = list(rest[n_a : n_a + L])
        state.lam = rest[n_a + L]
        state.u = list(rest[n_a + L + 1 : n_a + L + 1 + n_u])
        state.v = list(rest[n_a + L + 1 + n_u :])
        state.input_cross = None  # z_1 changed: the z_1 X^T of the last pass no longer holds


def snapshot(state, on: str, xp) -> list:
    """Copies of the accelerated variables before an iteration (the iteration updates some in place)."""
    arrays, _ = variables(state, on)
    return [xp.asarray(x, copy=True) for x in arrays]


def accelerate(acc: AndersonState, state, before: list, on: str, xp, comm, tol: float = 0.0) -> None:
    """After an iteration that took ``before`` to ``state``: replace the accelerated variables by
    the Anderson extrapolation (or leave them on a restart)."""
    after, local = variables(state, on)
    new = step(acc, before, after, xp, comm, local, tol=tol)
    if new is not None:
        set_variables(state, on, new)
