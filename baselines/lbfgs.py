"""L-BFGS, full batch (Nocedal 1980; Liu & Nocedal 1989; Nocedal & Wright 2006, Algorithms 7.4 and 7.5).

State: the iterate theta_k, f_k, g_k and the last m pairs
s_i = theta_{i+1} - theta_i, y_i = g_{i+1} - g_i, rho_i = 1 / (y_i . s_i).
The direction d_k = -H_k g_k comes from the two-loop recursion (N&W Alg. 7.4):

    q = g_k
    for i = k-1, ..., k-m:  a_i = rho_i s_i . q;   q = q - a_i y_i
    r = gamma_k q,          gamma_k = s_{k-1} . y_{k-1} / y_{k-1} . y_{k-1}   (N&W eq. 7.20)
    for i = k-m, ..., k-1:  b = rho_i y_i . r;     r = r + (a_i - b) s_i
    d_k = -r

and theta_{k+1} = theta_k + alpha_k d_k with alpha_k from the strong Wolfe
line search (:mod:`baselines.linesearch`; c1 = 1e-4, c2 = 0.9, N&W's values
for quasi-Newton methods), first trial alpha = 1, or 1 / ||d|| on the first
iteration and after a reset (as SciPy's L-BFGS-B). A pair is stored only when
s . y > eps y . y (eps the dtype's machine epsilon, L-BFGS-B's test), which
keeps H_k positive definite on a non-convex objective. When the line search
finds no step, the memory is dropped and steepest descent is tried once.

Stopping tests (L-BFGS-B's): max |g| <= gtol, or
(f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) <= ftol.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from .linesearch import dot, max_abs, strong_wolfe

HISTORY = 10  # m, the number of stored pairs (L-BFGS-B's default)
C1, C2 = 1e-4, 0.9
GTOL, FTOL = 1e-5, 2.2e-9  # SciPy's L-BFGS-B defaults (pgtol, factr * machine epsilon)
MAX_LINE_SEARCH_EVALS = 20


@dataclass
class LBFGSState:
    theta: Any
    f: float
    g: Any
    s: tuple = ()
    y: tuple = ()
    rho: tuple = ()
    iteration: int = 0


@dataclass
class StepInfo:
    evals: int  # evaluations of f and its gradient this step
    alpha: float
    wolfe: bool
    status: str  # "continue", "converged" or "failed"
    message: str


def init(fun, theta) -> LBFGSState:
    """Evaluate f and its gradient at the starting point (one evaluation)."""
    f, g = fun(theta)
    return LBFGSState(theta=theta, f=f, g=g)


def direction(state: LBFGSState, xp):
    """-H_k g_k by the two-loop recursion (steepest descent with an empty memory)."""
    q = state.g
    if not state.s:
        return -q
    alphas = []
    for s, y, rho in zip(reversed(state.s), reversed(state.y), reversed(state.rho)):
        a = rho * dot(s, q, xp)
        alphas.append(a)
        q = q - a * y
    s_last, y_last = state.s[-1], state.y[-1]
    r = (dot(s_last, y_last, xp) / dot(y_last, y_last, xp)) * q
    for s, y, rho, a in zip(state.s, state.y, state.rho, reversed(alphas)):
        b = rho * dot(y, r, xp)
        r = r + (a - b) * s
    return -r


def step(state: LBFGSState, fun, xp, *, history: int = HISTORY, max_evals: int = MAX_LINE_SEARCH_EVALS,
         gtol: float = GTOL, ftol: float = FTOL, c1: float = C1, c2: float = C2) -> tuple[LBFGSState, StepInfo]:
    """One iteration: direction, line search (at most ``max_evals`` evaluations), memory update."""
    if max_abs(state.g, xp) <= gtol:
        return state, StepInfo(0, 0.0, False, "converged", f"max |gradient| <= {gtol:g}")
    ls = _search(state, fun, xp, max_evals, c1, c2)
    evals = ls.evals
    if ls.alpha == 0.0 and state.s and evals < max_evals:  # drop the memory, try steepest descent
        state = replace(state, s=(), y=(), rho=())
        ls = _search(state, fun, xp, max_evals - evals, c1, c2)
        evals += ls.evals
    if ls.alpha == 0.0:
        return state, StepInfo(evals, 0.0, False, "failed", f"line search: {ls.message}")
    s = ls.theta - state.theta
    y = ls.g - state.g
    sy, yy = dot(s, y, xp), dot(y, y, xp)
    pairs = (state.s, state.y, state.rho)
    if sy > xp.finfo(state.g.dtype).eps * yy:
        pairs = tuple((p + (v,))[-history:] for p, v in zip(pairs, (s, y, 1.0 / sy)))
    new = LBFGSState(theta=ls.theta, f=ls.f, g=ls.g, s=pairs[0], y=pairs[1], rho=pairs[2], iteration=state.iteration + 1)
    status, message = "continue", ls.message
    if max_abs(ls.g, xp) <= gtol:
        status, message = "converged", f"max |gradient| <= {gtol:g}"
    elif state.f - ls.f <= ftol * max(abs(state.f), abs(ls.f), 1.0):
        status, message = "converged", f"relative decrease of f <= {ftol:g}"
    return new, StepInfo(evals, ls.alpha, ls.wolfe, status, message)


def _search(state: LBFGSState, fun, xp, max_evals: int, c1: float, c2: float):
    d = direction(state, xp)
    alpha1 = 1.0 if state.s else 1.0 / math.sqrt(dot(d, d, xp))
    return strong_wolfe(fun, state.theta, state.f, state.g, d, alpha1, xp, c1=c1, c2=c2, max_evals=max_evals)
