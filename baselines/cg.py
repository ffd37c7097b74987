"""Nonlinear conjugate gradients, Polak-Ribiere+ with restarts, full batch (Nocedal & Wright 2006, Sec. 5.2).

    d_0 = -g_0
    theta_{k+1} = theta_k + alpha_k d_k            (strong Wolfe line search, c1 = 1e-4, c2 = 0.2)
    beta_{k+1} = max(0, g_{k+1} . (g_{k+1} - g_k) / g_k . g_k)     (PR+, N&W eq. 5.45; Gilbert & Nocedal 1992)
    d_{k+1} = -g_{k+1} + beta_{k+1} d_k

Restarts (d = -g, steepest descent): whenever PR+ clips beta to 0, every n
iterations (n = the number of parameters, N&W Sec. 5.2), when d_{k+1} is not a
descent direction, and after a line search that found no step (a failure
from steepest descent stops the run). The first trial step is N&W eq. 3.60,
alpha = 1.01 * 2 (f_k - f_{k-1}) / (g_k . d_k), which assumes the last
decrease repeats; on the first iteration f_{-1} = f_0 + ||g_0|| / 2, SciPy's
choice, i.e. alpha = 1.01 / ||g_0||.

How the constants were chosen: c2 in {0.1, 0.2, 0.3, 0.4}, Powell's restart
test (|g_{k+1} . g_k| >= 0.2 ||g_{k+1}||^2, N&W eq. 5.52) on or off, and the
first trial capped at 1 or not, compared with SciPy's CG at equal numbers of
evaluations on Rosenbrock functions (2 to 30 variables, three starts) and on
the 28-32-1 network with 2,000 training rows of HIGGS (logistic and squared
hinge losses, three L2 weights, two seeds). c2 = 0.2 without Powell's test or
the cap was best on both (tests/test_baselines.py repeats the comparison);
N&W's c2 = 0.1 spends more evaluations per line search, SciPy's 0.4 loses
conjugacy.

Stopping tests as for L-BFGS: max |g| <= gtol, or a relative decrease of f
<= ftol.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .lbfgs import FTOL, GTOL, MAX_LINE_SEARCH_EVALS, StepInfo
from .linesearch import dot, max_abs, strong_wolfe

C1, C2 = 1e-4, 0.2


@dataclass
class CGState:
    theta: Any
    f: float
    g: Any
    d: Any  # the search direction of the next step
    f_prev: float  # f at the previous iterate (for the first trial step)
    steepest: bool = True  # d is -g (a restart)
    iteration: int = 0
    restarts: int = 0


def init(fun, theta, xp) -> CGState:
    """Evaluate f and its gradient at the starting point (one evaluation); the first direction is -g."""
    f, g = fun(theta)
    return CGState(theta=theta, f=f, g=g, d=-g, f_prev=f + math.sqrt(dot(g, g, xp)) / 2.0)


def step(state: CGState, fun, xp, *, max_evals: int = MAX_LINE_SEARCH_EVALS, gtol: float = GTOL,
         ftol: float = FTOL, c1: float = C1, c2: float = C2, restart_every: int | None = None) -> tuple[CGState, StepInfo]:
    """One iteration: line search along d (at most ``max_evals`` evaluations), then the PR+ direction.

    ``restart_every`` (default: the number of parameters, N&W's choice) sets the periodic restarts.
    """
    if max_abs(state.g, xp) <= gtol:
        return state, StepInfo(0, 0.0, False, "converged", f"max |gradient| <= {gtol:g}")
    d = state.d
    ls = _search(state, d, fun, xp, max_evals, c1, c2)
    evals, restarts = ls.evals, state.restarts
    if ls.alpha == 0.0 and evals < max_evals and not state.steepest:  # restart from steepest descent
        d = -state.g
        ls = _search(state, d, fun, xp, max_evals - evals, c1, c2)
        evals += ls.evals
        restarts += 1
    if ls.alpha == 0.0:
        return state, StepInfo(evals, 0.0, False, "failed", f"line search: {ls.message}")
    g_new = ls.g
    gn, cross = dot(g_new, g_new, xp), dot(g_new, state.g, xp)
    beta = max(0.0, (gn - cross) / dot(state.g, state.g, xp))
    if (state.iteration + 1) % (restart_every or state.theta.shape[0]) == 0:
        beta = 0.0
    d_new = -g_new + beta * d if beta > 0.0 else -g_new
    if beta > 0.0 and not dot(g_new, d_new, xp) < 0.0:
        d_new, beta = -g_new, 0.0
    if beta == 0.0:
        restarts += 1
    new = CGState(theta=ls.theta, f=ls.f, g=g_new, d=d_new, f_prev=state.f, steepest=beta == 0.0,
                  iteration=state.iteration + 1, restarts=restarts)
    status, message = "continue", ls.message
    if max_abs(g_new, xp) <= gtol:
        status, message = "converged", f"max |gradient| <= {gtol:g}"
    elif state.f - ls.f <= ftol * max(abs(state.f), abs(ls.f), 1.0):
        status, message = "converged", f"relative decrease of f <= {ftol:g}"
    return new, StepInfo(evals, ls.alpha, ls.wolfe, status, message)


def _search(state: CGState, d, fun, xp, max_evals: int, c1: float, c2: float):
    gd = dot(state.g, d, xp)
    alpha1 = 1.01 * 2.0 * (state.f - state.f_prev) / gd if gd < 0.0 else 1.0
    if not (alpha1 > 0.0 and math.isfinite(alpha1)):
        alpha1 = 1.0 / math.sqrt(dot(d, d, xp))
    return strong_wolfe(fun, state.theta, state.f, state.g, d, alpha1, xp, c1=c1, c2=c2, max_evals=max_evals)
