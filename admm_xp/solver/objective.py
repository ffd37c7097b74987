"""The training objective (augmented Lagrangian, eq. 12 of the slides) and accuracy.

    loss(z_L, s) + <z_L, lambda> + beta_L ||z_L - W_L a_{L-1}||^2
      + sum_{l<L} [ gamma_l ||a_l - h(z_l)||^2 + beta_l ||z_l - W_l a_{l-1}||^2 ]

(under the augmented Lagrangian the multiplier term is <z_L - W_L a_{L-1}, lambda>).

``objective_parts`` evaluates it from scratch (the reference, used by tests
and before the first iteration); the iteration itself returns the same sums
as a by-product of its fused passes, and ``combine`` turns either into the
reported numbers. Accuracy is that of the feed-forward network with the
current weights (ReLU hidden layers), not of the ADMM variables.
"""
from __future__ import annotations

import array_api_compat as aac

from .. import nn
from .iteration import IterationSums

EVAL_BLOCK = 1 << 15  # samples per block of the accuracy's forward pass without a kernel set


def objective_parts(state, prob, cfg, xp) -> IterationSums:
    """This rank's sums of the objective's parts at ``state`` (unfused reference)."""
    sums = IterationSums()
    a_prev = prob.X
    L = state.n_layers
    for l in range(L - 1):
        m = nn.affine(state.W[l], a_prev, cfg.bias, xp)
        act_r = state.a[l] - nn.relu(state.z[l], xp)
        sums.act.append(_total(xp, act_r ** 2))
        sums.pre.append(_total(xp, (state.z[l] - m) ** 2))
        sums.lag_act.append(_total(xp, state.v[l] * act_r) if state.v else 0.0)
        sums.lag_pre.append(_total(xp, state.u[l] * (state.z[l] - m)) if state.u else 0.0)
        a_prev = state.a[l]
    m = nn.affine(state.W[L - 1], a_prev, cfg.bias, xp)
    zL = state.z[L - 1]
    sums.loss = _total(xp, nn.output_loss_values(zL, prob.S, cfg.loss, xp))
    sums.lag = _total(xp, (zL - m if cfg.augmented_output else zL) * state.lam)
    sums.pen = _total(xp, (zL - m) ** 2)
    return sums


def _total(xp, x):
    """Sum of all of x in float64, row by row first: a whole-array reduction in one step gets a
    single thread block on CuPy (seconds at 10M samples), one row each gets many."""
    return xp.sum(xp.sum(x, axis=-1, dtype=xp.float64))


def combine(flat_sums, pen, n_hidden: int) -> dict:
    """The objective and its named parts from reduced sums (see IterationSums.flat)."""
    act = flat_sums[:n_hidden]
    pre = flat_sums[n_hidden : 2 * n_hidden]
    loss, lag, out_pen = flat_sums[2 * n_hidden : 2 * n_hidden + 3]
    lag_act = flat_sums[2 * n_hidden + 3 : 3 * n_hidden + 3]
    lag_pre = flat_sums[3 * n_hidden + 3 : 4 * n_hidden + 3]
    activation = sum(g * v for g, v in zip(pen.gamma, act))
    preact = sum(b * v for b, v in zip(pen.beta[:-1], pre)) + pen.beta[-1] * out_pen
    lag = lag + sum(lag_act) + sum(lag_pre)  # the hidden multipliers' <nu, a - h(z)> and <mu, z - m>
    total = loss + lag + activation + preact
    return {
        "objective": total,
        "loss": loss,
        "multiplier": lag,
        "activation_penalty": activation,
        "preactivation_penalty": preact,
    }


def count_correct(W, X, y, bias: bool, xp, ops=None, block: int | None = None):
    """Number of samples (columns of X) whose predicted class equals ``y`` (a 0-d int array).

    The network's forward pass (:func:`admm_xp.nn.forward`) with the current weights, ``block``
    samples at a time. With ``ops`` (the kernel set of the run) the blocks are split into column
    chunks on every core, each block's activations in the set's reused buffers, and ``block``
    defaults to the set's ``eval_block`` (small on the CPU so that a block stays in cache, a million
    on the GPU so that each launch has enough work); without it, one chunk of EVAL_BLOCK blocks.
    """
    n = X.shape[1]
    dev = aac.device(X)
    block = block or (ops.eval_block if ops is not None else EVAL_BLOCK)

    def chunk(cols: slice):
        correct = xp.zeros((), dtype=xp.int64, device=dev)
        for i in range(cols.start, cols.stop, block):
            sl = slice(i, min(i + block, cols.stop))
            scores = nn.forward(W, X[:, sl], bias, xp, ops=ops)
            correct = correct + xp.sum(xp.astype(nn.predict_labels(scores, xp) == y[sl], xp.int64))
        return correct

    if not n:
        return xp.zeros((), dtype=xp.int64, device=dev)
    parts = ops.map_chunks(chunk, n) if ops is not None else [chunk(slice(0, n))]
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total
