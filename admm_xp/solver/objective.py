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

from . import updates
from .iteration import IterationSums


def objective_parts(state, prob, cfg, xp) -> IterationSums:
    """This rank's sums of the objective's parts at ``state`` (unfused reference)."""
    sums = IterationSums()
    a_prev = prob.X
    L = state.n_layers
    for l in range(L - 1):
        m = updates.affine(state.W[l], a_prev, cfg.bias, xp)
        act_r = state.a[l] - updates.relu(state.z[l], xp)
        sums.act.append(_total(xp, act_r ** 2))
        sums.pre.append(_total(xp, (state.z[l] - m) ** 2))
        sums.lag_act.append(_total(xp, state.v[l] * act_r) if state.v else 0.0)
        sums.lag_pre.append(_total(xp, state.u[l] * (state.z[l] - m)) if state.u else 0.0)
        a_prev = state.a[l]
    m = updates.affine(state.W[L - 1], a_prev, cfg.bias, xp)
    zL = state.z[L - 1]
    sums.loss = _total(xp, updates.output_loss_values(zL, prob.S, cfg.loss, xp))
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


def forward(W, X, bias: bool, xp):
    """Scores of the feed-forward network (ReLU hidden layers), one column per sample."""
    a = X
    for l, w in enumerate(W):
        a = updates.affine(w, a, bias, xp)
        if l < len(W) - 1:
            a = updates.relu(a, xp)
    return a


def predict_labels(scores, xp):
    """Class indices: sign of the single output for a binary task, argmax otherwise."""
    if scores.shape[0] == 1:
        return xp.astype(scores[0, :] > 0, xp.int64)
    return xp.argmax(scores, axis=0)


def count_correct(W, X, y, bias: bool, xp, ops=None, block: int | None = None):
    """Number of samples (columns of X) whose predicted class equals ``y`` (a 0-d int array).

    With ``ops`` (the kernels of :func:`admm_xp.kernels.kernels_for`) the forward
    pass runs in column chunks on every core, each block's activations in
    reused buffers. ``block`` samples at a time (default: the kernels' ``eval_block``,
    small on the CPU so that a block stays in cache, a million on the GPU so that
    each launch has enough work).
    """
    n = X.shape[1]
    dev = aac.device(X)
    if ops is None:
        from ..kernels.portable import PortableKernels

        ops = PortableKernels(xp)
    block = block or ops.eval_block

    def chunk(cols: slice):
        correct = xp.zeros((), dtype=xp.int64, device=dev)
        for i in range(cols.start, cols.stop, block):
            sl = slice(i, min(i + block, cols.stop))
            a = X[:, sl]
            for l, w in enumerate(W):
                out = ops.scratch(f"fwd{l % 2}", w.shape[0], sl.stop - sl.start, X.dtype, dev)
                a = ops.matmul(w[:, :-1] if bias else w, a, out=out)
                if bias:
                    a += w[:, -1:]
                if l < len(W) - 1:
                    a = ops.relu(a, out=a if out is not None else None)
            pred = predict_labels(a, xp)
            correct = correct + xp.sum(xp.astype(pred == y[sl], xp.int64))
        return correct

    parts = ops.map_chunks(chunk, n) if n else [xp.zeros((), dtype=xp.int64, device=dev)]
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total
