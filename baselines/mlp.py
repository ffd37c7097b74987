"""The network the baselines train: ADMM's ReLU MLP, its parameters as one flat vector.

The network and its forward pass are :mod:`admm_xp.nn`, the code ADMM
evaluates its weights with: samples are columns, layer l maps a_{l-1}
(d_{l-1} x n) to z_l = W_l a_{l-1} (+ b_l), with W_l of shape d_l x d_{l-1}
and, with a bias, b_l stored as an extra last column of W_l (the layout of
:class:`admm_xp.model.Network`); hidden layers apply ReLU, a_l = max(z_l, 0);
the output z_L has one row for a binary task and C one-vs-rest rows for C > 2
classes. With no hidden layer the network is a linear model.

The optimisers see one flat vector ``theta``: the W_l in order, each
row-major. :class:`Architecture` converts between the two views.

Gradients are explicit backpropagation of the summed loss of a block of
samples (:func:`block_sums`):

    dz_L = dloss/dz_L                       (losses.value_and_grad)
    dW_l = dz_l a_{l-1}^T, db_l = dz_l 1    (sums over the block's samples)
    dz_{l-1} = (W_l^T dz_l) * [a_{l-1} > 0] (ReLU; a > 0 exactly where z > 0)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from admm_xp.nn import forward, predict_labels
from admm_xp.runtime import rng

from . import losses


@dataclass(frozen=True)
class Architecture:
    """Layer widths (d_0, ..., d_L) and whether every layer has a bias."""

    widths: tuple
    bias: bool

    @property
    def n_layers(self) -> int:
        return len(self.widths) - 1

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """Shape of each W_l (bias column included)."""
        extra = 1 if self.bias else 0
        return [(self.widths[l + 1], self.widths[l] + extra) for l in range(self.n_layers)]

    @property
    def size(self) -> int:
        return sum(r * c for r, c in self.shapes)

    def unflatten(self, theta, xp) -> list:
        """The W_l of a flat vector (views where the backend has them)."""
        out, k = [], 0
        for r, c in self.shapes:
            out.append(xp.reshape(theta[k : k + r * c], (r, c)))
            k += r * c
        return out

    def flatten(self, mats, xp):
        return xp.concat([xp.reshape(m, (-1,)) for m in mats])

    def weight_mask(self, xp, dtype, device):
        """1 on weights, 0 on bias entries: the L2 penalty leaves biases alone."""
        mats = []
        for r, c in self.shapes:
            m = xp.ones((r, c), dtype=dtype, device=device)
            if self.bias:
                m = xp.concat([m[:, :-1], xp.zeros((r, 1), dtype=dtype, device=device)], axis=1)
            mats.append(m)
        return self.flatten(mats, xp)


def init_params(arch: Architecture, seed: int, xp, dtype, device):
    """He initialisation (He et al. 2015): W_l ~ N(0, 2 / d_{l-1}) entrywise, biases 0.

    The Gaussian entries come from :func:`admm_xp.runtime.rng.gaussian` with the streams
    of ADMM's ``forward`` initialisation, so a seed gives the same weights on
    every backend and the same weights as ``admm-xp train --init forward``.
    """
    mats = []
    for l, (d_out, d_in) in enumerate(zip(arch.widths[1:], arch.widths[:-1])):
        w = rng.gaussian(xp, seed, ("W", l + 1), d_out, 0, d_in, dtype=dtype, device=device) * math.sqrt(2.0 / d_in)
        if arch.bias:
            w = xp.concat([w, xp.zeros((d_out, 1), dtype=dtype, device=device)], axis=1)
        mats.append(w)
    return arch.flatten(mats, xp)


def block_sums(W, X, S, bias: bool, loss: str, xp):
    """Summed loss (float64 0-d) and its gradient with respect to every W_l for the samples (columns) of X.

    ``S`` holds the targets in {-1, +1} (C x n). Returns ``(loss_sum, [dW_1, ..., dW_L])``
    with each dW_l shaped like W_l (its bias column the sum of dz_l over samples).
    """
    acts = []  # each layer's input: a_0 = X, a_1, ..., a_{L-1}
    z = forward(W, X, bias, xp, inputs=acts)
    total, dz = losses.value_and_grad(loss, z, S, xp)
    grads = [None] * len(W)
    for l in range(len(W) - 1, -1, -1):
        a_prev = acts[l]
        g = xp.matmul(dz, xp.matrix_transpose(a_prev))
        if bias:
            g = xp.concat([g, xp.sum(dz, axis=1, keepdims=True)], axis=1)
        grads[l] = g
        if l > 0:
            w = W[l][:, :-1] if bias else W[l]
            dz = xp.matmul(xp.matrix_transpose(w), dz) * xp.astype(a_prev > 0.0, dz.dtype)
    return total, grads


def block_metrics(W, X, S, y, bias: bool, loss: str, xp):
    """(summed loss as float64 0-d, number of correct predictions as int64 0-d) for the columns of X."""
    scores = forward(W, X, bias, xp)
    correct = xp.sum(xp.astype(predict_labels(scores, xp) == y, xp.int64))
    return losses.value(loss, scores, S, xp), correct
