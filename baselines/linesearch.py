"""A line search for the strong Wolfe conditions (Nocedal & Wright, *Numerical Optimization*, 2nd ed., 2006).

Along a descent direction d from theta let phi(alpha) = f(theta + alpha d).
A step alpha satisfies the strong Wolfe conditions (N&W eq. 3.7) when

    phi(alpha) <= phi(0) + c1 alpha phi'(0)        (sufficient decrease)
    |phi'(alpha)| <= c2 |phi'(0)|                   (curvature)

with 0 < c1 < c2 < 1. :func:`strong_wolfe` is Algorithm 3.5: it tries
growing steps (the next one by cubic extrapolation, kept within
[alpha + 1.1 (alpha - alpha_prev), alpha + 4 (alpha - alpha_prev)], as
MINPACK's dcsrch does) until one is acceptable or an interval that must hold
acceptable steps is found; then Algorithm 3.6 (``zoom``) shrinks that
interval by cubic interpolation of the two ends' values and slopes (N&W eq.
3.59), falling back to quadratic interpolation and then bisection whenever
the trial would land within 10% of an end of the interval.

Every trial is one evaluation of f and its gradient (for the baselines, a
full pass over the data). When ``max_evals`` trials pass without a strong
Wolfe step, the search returns the lowest trial that satisfies sufficient
decrease, if any (``wolfe=False``), or no step (``alpha = 0``). A non-finite
f counts as "too long a step". Decisions use floats that are identical on
every MPI rank (they come from reduced sums), so all ranks take the same
trials.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass
class Trial:
    alpha: float
    f: float
    dphi: float  # phi'(alpha) = g(theta + alpha d) . d
    theta: Any
    g: Any


@dataclass
class LineSearchResult:
    alpha: float  # the step taken (0: none)
    theta: Any  # theta + alpha d
    f: float
    g: Any
    evals: int  # evaluations of f and its gradient spent
    wolfe: bool  # the strong Wolfe conditions hold at alpha
    message: str


def dot(a, b, xp) -> float:
    return float(xp.sum(a * b))


def max_abs(v, xp) -> float:
    return float(xp.max(xp.abs(v)))


def strong_wolfe(fun, theta, f0: float, g0, d, alpha1: float, xp, *, c1: float = 1e-4, c2: float = 0.9,
                 max_evals: int = 20, alpha_max: float = 1e10) -> LineSearchResult:
    """Find a step along ``d`` from ``theta`` (value ``f0``, gradient ``g0``) meeting the strong Wolfe conditions.

    ``fun(theta) -> (f, gradient)``; ``alpha1`` is the first trial step.
    """
    dphi0 = dot(g0, d, xp)
    start = Trial(0.0, f0, dphi0, theta, g0)
    if not dphi0 < 0.0:
        return _result(start, 0, False, "not a descent direction")
    count = 0
    best = None  # the lowest trial satisfying sufficient decrease

    def armijo(t: Trial) -> bool:
        return math.isfinite(t.f) and t.f <= f0 + c1 * t.alpha * dphi0

    def phi(alpha: float) -> Trial:
        nonlocal count, best
        th = theta + alpha * d
        f, g = fun(th)
        count += 1
        t = Trial(alpha, f, dot(g, d, xp) if math.isfinite(f) else math.nan, th, g)
        if armijo(t) and (best is None or t.f < best.f):
            best = t
        return t

    def curvature(t: Trial) -> bool:
        return abs(t.dphi) <= -c2 * dphi0

    def zoom(lo: Trial, hi: Trial) -> LineSearchResult:
        while count < max_evals:
            alpha = _interpolate(lo, hi)
            if alpha is None:
                break
            t = phi(alpha)
            if not armijo(t) or t.f >= lo.f:
                hi = t
            else:
                if curvature(t):
                    return _result(t, count, True, "strong Wolfe")
                if t.dphi * (hi.alpha - lo.alpha) >= 0.0:
                    hi = lo
                lo = t
        return _fallback(best, start, count)

    prev = start
    alpha = min(alpha1, alpha_max)
    while count < max_evals:
        cur = phi(alpha)
        if not armijo(cur) or (prev is not start and cur.f >= prev.f):
            return zoom(prev, cur)
        if curvature(cur):
            return _result(cur, count, True, "strong Wolfe")
        if cur.dphi >= 0.0:
            return zoom(cur, prev)
        if alpha >= alpha_max:
            break
        alpha = min(_extrapolate(prev, cur), alpha_max)
        prev = cur
    return _fallback(best, start, count)


def _result(t: Trial, evals: int, wolfe: bool, message: str) -> LineSearchResult:
    return LineSearchResult(alpha=t.alpha, theta=t.theta, f=t.f, g=t.g, evals=evals, wolfe=wolfe, message=message)


def _fallback(best, start: Trial, evals: int) -> LineSearchResult:
    if best is not None:
        return _result(best, evals, False, "evaluation budget spent; sufficient decrease only")
    return _result(start, evals, False, "no step with sufficient decrease found")


def _cubic_min(a: Trial, b: Trial):
    """Minimiser of the cubic matching phi and phi' at a and b (N&W eq. 3.59), or None."""
    if not all(math.isfinite(v) for v in (a.f, b.f, a.dphi, b.dphi)) or a.alpha == b.alpha:
        return None
    d1 = a.dphi + b.dphi - 3.0 * (a.f - b.f) / (a.alpha - b.alpha)
    disc = d1 * d1 - a.dphi * b.dphi
    if disc < 0.0:
        return None
    d2 = math.copysign(math.sqrt(disc), b.alpha - a.alpha)
    denom = b.dphi - a.dphi + 2.0 * d2
    if denom == 0.0:
        return None
    x = b.alpha - (b.alpha - a.alpha) * (b.dphi + d2 - d1) / denom
    return x if math.isfinite(x) else None


def _quadratic_min(a: Trial, b: Trial):
    """Minimiser of the quadratic matching phi(a), phi'(a) and phi(b), or None."""
    if not all(math.isfinite(v) for v in (a.f, b.f, a.dphi)):
        return None
    h = b.alpha - a.alpha
    curv = b.f - a.f - a.dphi * h
    if h == 0.0 or curv <= 0.0:
        return None
    return a.alpha - a.dphi * h * h / (2.0 * curv)


def _interpolate(lo: Trial, hi: Trial):
    """A trial step inside (lo, hi), at least 10% of the interval from either end; None once it collapses."""
    left, right = min(lo.alpha, hi.alpha), max(lo.alpha, hi.alpha)
    width = right - left
    if width <= 1e-12 * max(right, 1e-300):
        return None
    for x in (_cubic_min(lo, hi), _quadratic_min(lo, hi)):
        if x is not None and left + 0.1 * width <= x <= right - 0.1 * width:
            return x
    return left + 0.5 * width


def _extrapolate(prev: Trial, cur: Trial) -> float:
    """The next, longer trial: the cubic's minimiser kept within [1.1, 4] times the last increase beyond cur."""
    step = cur.alpha - prev.alpha
    lo, hi = cur.alpha + 1.1 * step, cur.alpha + 4.0 * step
    x = _cubic_min(prev, cur)
    if x is None or x <= cur.alpha:
        return hi
    return min(max(x, lo), hi)
