"""Fused passes over column blocks: the heavy, O(N) part of an iteration.

One pass per layer reads each sample's columns once while they are in cache
and does every per-sample step of that layer: ``h(z_l)``, the activation
update, ``W_l a_{l-1}``, the z update, the objective's sums for that layer
and the sums the next weight update needs (``z_{l+1} a_l^T`` and ``a_l a_l^T``).
The columns are split into one contiguous chunk per worker thread
(``ops.map_chunks``; a single chunk on backends that parallelise inside each
operation), each chunk is walked in blocks of ``block`` columns, and the
chunks' partial sums are added in chunk order, so a run is deterministic.
Blocking and chunking do not change the result beyond rounding.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import array_api_compat as aac

from .. import nn


@dataclass
class CrossSums:
    """``z a^T`` summed over samples (float64) and, with a bias, the row sums of z (else None):
    what a weight update ``W = z a^+`` needs of its targets."""

    cross: Any
    sums: Any = None


@dataclass
class LayerSums:
    """One hidden layer's pass, this rank only (float64): the objective's sums and what the next
    weight update needs.

    ``act`` = sum (a_l - h(z_l))^2, ``pre`` = sum (z_l - W_l a_{l-1})^2; ``lag_act``, ``lag_pre``:
    <nu_l, a_l - h(z_l)>, <mu_l, z_l - W_l a_{l-1}> (0 without hidden multipliers); ``cross``,
    ``cross_sums``: z_{l+1} a_l^T and the row sums of z_{l+1}; ``gram``, ``gram_sums``: a_l a_l^T
    and the row sums of a_l; ``input_cross``: z_l a_{l-1}^T summed in the same pass (layer 1)."""

    act: Any
    pre: Any
    cross: Any
    cross_sums: Any
    gram: Any
    gram_sums: Any
    lag_act: Any = 0.0
    lag_pre: Any = 0.0
    input_cross: CrossSums | None = None


@dataclass
class OutputSums:
    """The output layer's pass, this rank only: ``loss`` (the output loss), ``lag`` (the multiplier
    term) and ``pen`` = sum (z_L - W_L a_{L-1})^2."""

    loss: Any
    lag: Any
    pen: Any


def _store(x, sl, value, view) -> None:
    """Write ``value`` into columns ``sl`` of ``x`` unless the kernel already wrote through ``view``."""
    if view is None:
        x[:, sl] = value


def _blocks(chunk: slice, block: int):
    for i in range(chunk.start, chunk.stop, block):
        yield slice(i, min(i + block, chunk.stop))


def _add_partials(parts: list):
    """Sum the chunks' partial sums (dataclasses of one type), field by field in chunk order
    (None stays None)."""
    total = parts[0]
    for p in parts[1:]:
        total = replace(total, **{f.name: None if getattr(p, f.name) is None else getattr(total, f.name) + getattr(p, f.name)
                                  for f in fields(p)})
    return total


def sample_cross(z_blk, a_blk, ops, xp):
    """``z a^T`` over the block's samples, in float64. The kernel set says which way round BLAS
    runs it faster (``ops.turn_cross``): as written, or as ``(a z^T)^T``, the product with the
    fewer output rows. Any order gives the same sums up to rounding; both passes that sum
    ``z_1 X^T`` call this, so they agree to the bit."""
    if ops.turn_cross(z_blk, a_blk):
        return xp.matrix_transpose(ops.long_product(a_blk, xp.matrix_transpose(z_blk)))
    return ops.long_product(z_blk, xp.matrix_transpose(a_blk))


def _input_cross_block(z, a_prev, sl, bias, ops, xp, z_blk=None, shift=None, shift_scale=1.0):
    """``z a_prev^T`` (and the row sums of z with a bias) over columns ``sl``, in float64: by the
    kernel set's own kernel where it has one (``ops.input_cross``), else :func:`sample_cross` on
    the blocks (``z_blk``: the block of z where the caller has a copy of it). With ``shift`` (the
    multiplier mu of the full Lagrangian) the sums are those of ``z + shift_scale * shift``."""
    f64 = xp.float64
    if shift is not None:
        return _shifted_cross_block(z[:, sl] + shift_scale * shift[:, sl], a_prev, sl, bias, ops, xp)
    z_blk = z[:, sl] if z_blk is None else z_blk
    c = ops.input_cross(z, a_prev, sl) if ops.sums_input_cross else None
    if c is None:
        c = sample_cross(z_blk, a_prev[:, sl], ops, xp)
    return c, (xp.sum(z_blk, axis=1, dtype=f64) if bias else None)


def _shifted_cross_block(shifted, a_prev, sl, bias, ops, xp):
    """``shifted a_prev^T`` over columns ``sl`` (``shifted``: the block of z + mu / (2 beta)), and its row sums."""
    return sample_cross(shifted, a_prev[:, sl], ops, xp), (xp.sum(shifted, axis=1, dtype=xp.float64) if bias else None)


def input_cross_pass(z, a_prev, bias, block, ops, xp, shift=None, shift_scale=1.0) -> CrossSums:
    """``z a_prev^T`` and the row sums of z (of ``z + shift_scale * shift`` with a shift), summed by chunks and
    blocks exactly as :func:`hidden_layer_pass` sums them with ``with_input_cross`` (so both
    give the same bits, and a resumed run the same trajectory)."""
    n = z.shape[1]

    def chunk(cols: slice) -> CrossSums:
        cross = sums = None
        for sl in _blocks(cols, block):
            c, s = _input_cross_block(z, a_prev, sl, bias, ops, xp, shift=shift, shift_scale=shift_scale)
            cross = c if cross is None else cross + c
            sums = s if sums is None else (sums + s if s is not None else None)
        return CrossSums(cross, sums)

    parts = [p for p in ops.map_chunks(chunk, n) if p.cross is not None]
    if not parts:
        return _no_cross(z.shape[0], a_prev.shape[0], bias, xp, aac.device(z))
    return _add_partials(parts)


def _no_cross(d: int, d_in: int, bias: bool, xp, dev) -> CrossSums:
    """The sums of no samples."""
    return CrossSums(xp.zeros((d, d_in), dtype=xp.float64, device=dev),
                     xp.zeros((d,), dtype=xp.float64, device=dev) if bias else None)


def _multiplier_block(a_l, z_l, z_next, a_prev, W_l, mu_l, nu_l, sl, activation_op, gamma, beta, kappa, bias, ops, xp,
                      want_shifted=False, m=None):
    """Columns ``sl`` of a hidden layer under the full (or the linear) augmented Lagrangian.

    With the multipliers nu of ``a = h(z)`` and mu of ``z = W a_prev``, scaled as
    ``v = nu / (2 gamma)`` and ``u = mu / (2 beta)`` (kept unscaled, like lambda, so that a
    change of penalty needs no rescaling):
    a = (h(z) - v) + P (target - W_next (h(z) - v)), z = prox(a + v, W a_prev - u), then
    mu += 2 beta kappa (z - W a_prev) and nu += 2 gamma kappa (a - h(z)) (``ops.multiplier_prox``:
    one loop on the CPU). ``nu_l`` None (the linear form): v = 0 and no nu. Returns the new a block,
    ``z + mu / (2 beta)`` (with ``want_shifted``, else None: what W_l is fitted to) and the sums
    (a - h(z))^2, (z - m)^2, <nu, a - h(z)> (0 without nu), <mu, z - m> (new multipliers, float64).
    """
    Wt_next, b_next, P = activation_op
    d, w = z_l.shape[0], sl.stop - sl.start
    dt, dev = z_l.dtype, aac.device(z_l)
    target = z_next[:, sl] - b_next if bias else z_next[:, sl]
    if nu_l is None:
        h = ops.relu(z_l[:, sl], out=ops.scratch("h", d, w, dt, dev))
    else:
        h = ops.shifted_relu(z_l, nu_l, sl, 0.5 / gamma, out=ops.scratch("h", d, w, dt, dev))
    r = target - ops.matmul(Wt_next, h, out=ops.scratch("r", target.shape[0], w, dt, dev))
    a_view = ops.view(a_l, sl)
    a_new = ops.add_matmul(h, P, r, out=a_view)
    _store(a_l, sl, a_new, a_view)
    if m is None:  # W_l a_{l-1} (``m``: the caller formed it already)
        m = nn.affine(W_l, a_prev[:, sl], bias, xp, ops, ops.scratch("m", d, w, dt, dev))
    z_new, mu, nu, shifted, act, pre, lag_act, lag_pre = ops.multiplier_prox(a_l, m, z_l, mu_l, nu_l, sl, gamma, beta,
                                                                             kappa, want_shifted)
    for x, value in ((z_l, z_new), (mu_l, mu), (nu_l, nu)):
        if x is not None:
            _store(x, sl, value, ops.view(x, sl))
    return a_new, shifted, act, pre, lag_act, lag_pre


def hidden_layer_pass(a_l, z_l, z_next, a_prev, W_l, activation_op, gamma, beta, bias, block, ops, xp,
                      with_input_cross: bool = False, multipliers=None, row_sums: bool = False) -> LayerSums:
    """Update a_l and z_l in place; return the sums of this layer (:class:`LayerSums`).

    With ``with_input_cross`` it also sums the new ``z_l a_{l-1}^T`` (``input_cross``)
    while the blocks are in cache: for layer 1, whose input X never changes, that is
    the next iteration's W_1 update done in advance.

    ``multipliers=(mu_l, nu_l, kappa)`` (the full augmented Lagrangian; nu_l None: the linear one) updates the
    hidden multipliers too, by :func:`_multiplier_block`, and sums ``lag_act`` and ``lag_pre``; the input cross sums are then those of
    ``z_l + mu_l / (2 beta_l)``, what W_l is fitted to. ``row_sums`` sums the rows of the new a_l
    (``gram_sums``) even without a bias (the centring of the next layer needs their mean).
    """
    Wt_next, b_next, P = activation_op
    d, n = z_l.shape
    d_next = z_next.shape[0]
    dt, dev, f64 = z_l.dtype, aac.device(z_l), xp.float64

    def chunk(cols: slice) -> tuple:
        gram = xp.zeros((d, d), dtype=f64, device=dev)
        cross = xp.zeros((d_next, d), dtype=f64, device=dev)
        gram_sums = xp.zeros((d,), dtype=f64, device=dev)
        cross_sums = xp.zeros((d_next,), dtype=f64, device=dev)
        act = pre = lag_act = lag_pre = 0.0
        in_cross = in_sums = None
        for sl in _blocks(cols, block):
            w = sl.stop - sl.start
            if multipliers is not None:
                u_l, v_l, kappa = multipliers
                m = lin = None
                if v_l is None:  # the linear Lagrangian: the kernel set's fused loop, where it has one
                    m = nn.affine(W_l, a_prev[:, sl], bias, xp, ops, ops.scratch("m", d, w, dt, dev))
                    lin = ops.linear_block(z_l, z_next, a_l, m, u_l, sl, Wt_next, b_next, P, gamma, beta, kappa,
                                           want_shifted=with_input_cross)
                if lin is not None:
                    a_new, act_b, pre_b, lp_b, cross_b, shifted = lin
                    la_b = 0.0
                else:
                    a_new, shifted, act_b, pre_b, la_b, lp_b = _multiplier_block(
                        a_l, z_l, z_next, a_prev, W_l, u_l, v_l, sl, activation_op, gamma, beta, kappa, bias, ops, xp,
                        want_shifted=with_input_cross, m=m)
                    cross_b = None
                lag_act, lag_pre = lag_act + la_b, lag_pre + lp_b
                fused = (a_new, act_b, pre_b, cross_b, None, None, None)
            else:
                # the backend's loop that also forms W_l a_{l-1} (and z_l a_{l-1}^T), if it has one
                fused = ops.layer_block(z_l, z_next, a_l, a_prev, W_l, sl, Wt_next, b_next, P, gamma, beta, bias,
                                        with_input_cross) if ops.fuses_layers else None
                if fused is None:
                    m = nn.affine(W_l, a_prev[:, sl], bias, xp, ops, ops.scratch("m", d, w, dt, dev))  # W_l a_{l-1}
                    fused = ops.hidden_block(z_l, z_next, a_l, m, sl, Wt_next, b_next, P, gamma, beta,
                                             keep_z=with_input_cross, want_gram=True) if ops.fuses_blocks else None
            z_blk = gram_b = in_cross_b = None
            if fused is not None:  # the backend did both updates (and maybe the cross sums, the Gram) at once
                a_new, act_b, pre_b, cross_b, z_blk, gram_b, in_cross_b = fused
            else:
                # a_l = h(z_l) + P (z_{l+1} - W_{l+1} h(z_l))
                target = z_next[:, sl] - b_next if bias else z_next[:, sl]
                h = ops.relu(z_l[:, sl], out=ops.scratch("h", d, w, dt, dev))
                r = target - ops.matmul(Wt_next, h, out=ops.scratch("r", d_next, w, dt, dev))
                a_view = ops.view(a_l, sl)
                a_new = ops.add_matmul(h, P, r, out=a_view)
                _store(a_l, sl, a_new, a_view)
                # z_l = argmin gamma (a_l - h(z))^2 + beta (z - W_l a_{l-1})^2
                z_view = ops.view(z_l, sl)
                z_new, act_b, pre_b = ops.hidden_prox(a_new, m, gamma, beta, out=z_view)
                _store(z_l, sl, z_new, z_view)
                cross_b = None
            act = act + act_b
            pre = pre + pre_b
            # sums for W_{l+1} = z_{l+1} a_l^+
            gram = gram + (ops.gram(a_new) if gram_b is None else gram_b)
            if cross_b is None:
                cross_b = sample_cross(z_next[:, sl], a_new, ops, xp)
            cross = cross + cross_b
            if bias or row_sums:
                gram_sums = gram_sums + xp.sum(a_new, axis=1, dtype=f64)
            if bias:
                cross_sums = cross_sums + xp.sum(z_next[:, sl], axis=1, dtype=f64)
            if with_input_cross:
                if in_cross_b is not None:
                    c, s_ = in_cross_b, None  # (layer_block runs without a bias only)
                elif multipliers is not None:  # W_l fits z_l + mu_l / (2 beta_l), which the block returned
                    c, s_ = _shifted_cross_block(shifted, a_prev, sl, bias, ops, xp)
                else:
                    c, s_ = _input_cross_block(z_l, a_prev, sl, bias, ops, xp, z_blk)
                in_cross = c if in_cross is None else in_cross + c
                in_sums = s_ if in_sums is None else (in_sums + s_ if s_ is not None else None)
        return (LayerSums(act, pre, cross, cross_sums, gram, gram_sums, lag_act, lag_pre),
                CrossSums(in_cross, in_sums) if with_input_cross else None)

    parts = ops.map_chunks(chunk, n)
    total = _add_partials([layer for layer, _ in parts])
    if with_input_cross:  # chunks without columns contribute nothing
        ic_parts = [ic for _, ic in parts if ic.cross is not None]
        total.input_cross = _add_partials(ic_parts) if ic_parts else _no_cross(d, a_prev.shape[0], bias, xp, dev)
    return total


def output_layer_pass(z_L, lam, S, a_prev, W_L, beta, update_multiplier, bias, block, ops, xp, *, loss="hinge",
                      lag_residual=False) -> OutputSums:
    """Update z_L (and lambda) in place; return the output layer's sums (:class:`OutputSums`).

    ``loss`` = sum of the output loss (``"hinge"`` or ``"cross-entropy"``), ``lag`` =
    <z_L, lambda> (the paper's term) or, with ``lag_residual``, <z_L - W_L a_{L-1}, lambda>
    (the augmented Lagrangian's), ``pen`` = sum (z_L - W_L a_{L-1})^2.
    """
    c, n = z_L.shape
    dt, dev = z_L.dtype, aac.device(z_L)

    def chunk(cols: slice) -> OutputSums:
        loss_sum = lag = pen = 0.0
        for sl in _blocks(cols, block):
            m = nn.affine(W_L, a_prev[:, sl], bias, xp, ops, ops.scratch("mL", c, sl.stop - sl.start, dt, dev))
            z_view, lam_view = ops.view(z_L, sl), ops.view(lam, sl)
            z_new, lam_new, loss_b, lag_b, pen_b = ops.output_prox(
                m, S[:, sl], lam[:, sl], beta, update_multiplier, out_z=z_view, out_lam=lam_view, loss=loss,
                z0=z_L[:, sl], lag_residual=lag_residual,
            )
            _store(z_L, sl, z_new, z_view)
            _store(lam, sl, lam_new, lam_view)
            loss_sum = loss_sum + loss_b
            lag = lag + lag_b
            pen = pen + pen_b
        return OutputSums(loss_sum, lag, pen)

    return _add_partials(ops.map_chunks(chunk, n))
