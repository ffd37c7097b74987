"""Output losses of the network and their derivatives, in the array API.

Scores ``z`` and targets ``s`` in {-1, +1} are C x n blocks (C = 1 for a
binary task; one-vs-rest rows otherwise, as in ADMM). Every loss is a sum of
one term per entry; the training objective divides the sum by the number of
samples (so a C-output task sums its C one-vs-rest terms per sample).

``hinge``          max(1 - s z, 0)          (ADMM's loss; the default)
``squared-hinge``  max(1 - s z, 0)^2        (differentiable, L2-SVM)
``logistic``       log(1 + exp(-s z))       (smooth; with no hidden layer, logistic regression)

The hinge is not differentiable where s z = 1; there its derivative is taken
as 0 (a subgradient). The values are those of :mod:`admm_xp.nn` (ADMM's losses);
this module adds the derivatives.
"""
from __future__ import annotations

from admm_xp.nn import hinge, logistic

LOSSES = ("hinge", "squared-hinge", "logistic")


def value_and_grad(name: str, z, s, xp):
    """(sum of the loss over all entries as a float64 0-d array, d(sum)/dz with z's shape and dtype)."""
    if name == "hinge":
        gap = hinge(z, s, xp)
        return xp.sum(gap, dtype=xp.float64), -s * xp.astype(gap > 0.0, z.dtype)
    if name == "squared-hinge":
        gap = hinge(z, s, xp)
        return xp.sum(gap * gap, dtype=xp.float64), -2.0 * s * gap
    if name == "logistic":
        u = s * z
        e = xp.exp(-xp.abs(u))  # in (0, 1]: no overflow for any u
        sigmoid_neg = xp.where(u >= 0.0, e / (1.0 + e), 1.0 / (1.0 + e))  # 1 / (1 + exp(u))
        return xp.sum(logistic(z, s, xp), dtype=xp.float64), -s * sigmoid_neg
    raise ValueError(f"unknown loss {name!r}")


def value(name: str, z, s, xp):
    """Sum of the loss over all entries (float64 0-d array), without the derivative."""
    if name == "hinge":
        return xp.sum(hinge(z, s, xp), dtype=xp.float64)
    if name == "squared-hinge":
        gap = hinge(z, s, xp)
        return xp.sum(gap * gap, dtype=xp.float64)
    if name == "logistic":
        return xp.sum(logistic(z, s, xp), dtype=xp.float64)
    raise ValueError(f"unknown loss {name!r}")
