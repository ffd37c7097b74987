"""Residual balancing of the penalties, per layer (Boyd, Parikh, Chu, Peleato, Eckstein,
"Distributed Optimization and Statistical Learning via ADMM", Foundations and Trends in
Machine Learning 3(1), 2011, section 3.4.1; He, Yang, Wang, JOTA 106, 2000).

For a constraint ``A x + B z = c`` with penalty rho the primal residual is
``r = A x + B z - c`` and the dual residual ``s = rho A^T B (z^{k+1} - z^k)``; the rule is

    if ||r|| > mu ||s||:   rho <- tau rho
    elif ||s|| > mu ||r||: rho <- rho / tau

(usually mu = 10, tau = 2). Here each layer's constraint is ``z_l = W_l a_{l-1}``, its
penalty ``beta_l`` (with ``gamma_l`` of the same hidden layer moving by the same factor, so
their ratio stays as configured), ``r_l = ||z_l - W_l a_{l-1}||`` and, W_l being the block
updated before it, ``s_l = 2 beta_l ||(W_l^{k+1} - W_l^k) a_{l-1}||``, which needs no pass over
the samples: ``||dW a||^2 = trace(dW G dW^T)`` with G the Gram matrix the weight update
factored anyway (summed over ranks, so every rank takes the same decision).

Residual balancing has no convergence guarantee for nonconvex problems; like the usual
safe form, it stops adapting after ``until`` iterations. Every multiplier is stored
unscaled (lambda, and the hidden mu, nu of the full Lagrangian), so a change of penalty
needs no rescaling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class BalanceRule:
    """``mu``: the residual ratio that triggers a change; ``tau``: the factor; ``until``: last iteration to adapt."""

    mu: float = 10.0
    tau: float = 2.0
    until: int = 50


def dual_residual_sq(dW, G, xp) -> float:
    """``||dW a||_F^2 = trace(dW G dW^T)`` for ``G = a a^T`` (float64, d x d; dW: d_out x d)."""
    d64 = xp.astype(dW, xp.float64)
    return float(xp.sum(xp.matmul(d64, G) * d64))


def dual_residual_sq_from_factor(dW, Lf, xp) -> float:
    """``||dW a||_F^2 = ||dW L||_F^2`` for the Cholesky factor ``L`` of ``G = a a^T = L L^T``."""
    d64 = xp.astype(dW, Lf.dtype)
    return float(xp.sum(xp.matmul(d64, Lf) ** 2))


def balance(scale: list, primal: list, dual: list, rule: BalanceRule) -> list:
    """The penalty factors after one application of the rule, layer by layer.

    ``primal[l]``, ``dual[l]``: the residual norms of layer l (already including 2 beta_l in the
    dual one). A layer whose residuals are both zero or not finite keeps its factor.
    """
    out = []
    for f, r, s in zip(scale, primal, dual):
        if not (math.isfinite(r) and math.isfinite(s)):
            out.append(f)
        elif r > rule.mu * s:
            out.append(f * rule.tau)
        elif s > rule.mu * r:
            out.append(f / rule.tau)
        else:
            out.append(f)
    return out
