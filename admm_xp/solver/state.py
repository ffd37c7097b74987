"""The explicit ADMM state, the device-resident problem data, and initialisation."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import array_api_compat as aac

from .. import nn
from ..runtime import rng
from ..runtime.linalg import INPUT_GRAM
from ..runtime.linalg import solve_dtype as _solve_dtype
from . import updates


@dataclass
class Problem:
    """One rank's shard of the training data, on the solver's device, samples as columns.

    X : d_0 x n features (a_0).
    S : C x n targets in {-1, +1} (one-vs-rest rows; C = 1 for a binary task).
    offset : global index of this rank's first sample (the initialisation
        depends on it, not on the split).
    n_global : samples on all ranks together.
    gram_factor_X : Cholesky factor of the (regularised) Gram matrix of
        ``[X; 1]`` or ``X`` summed over ranks, computed once.
    input_mean : with ``center_input`` (and no bias), the mean of X's columns over all ranks
        (float64), which every W_1 update keeps in W_1's null space; else None.
    """

    X: Any
    S: Any
    offset: int
    n_global: int
    bias: bool
    solve_dtype: Any
    gram_factor_X: Any = None
    input_mean: Any = None

    @property
    def n_local(self) -> int:
        return self.X.shape[1]

    @property
    def n_outputs(self) -> int:
        return self.S.shape[0]


@dataclass
class ADMMState:
    """W_l (l = 1..L), a_l (l = 1..L-1), z_l (l = 1..L) and the output multiplier.

    Lists are 0-based: ``W[0]`` is W_1. Arrays hold this rank's columns only,
    except the weights, which every rank holds whole and identical.
    """

    W: list
    a: list
    z: list
    lam: Any
    iteration: int = 0
    # Multipliers of the hidden layers' constraints, unscaled like lam (0-based like a and z): u[l] (mu) of
    # z_{l+1} = W_{l+1} a_l (``lagrangian`` full or linear), v[l] (nu) of a_{l+1} = h(z_{l+1}) (full only);
    # empty lists otherwise.
    u: list = field(default_factory=list)
    v: list = field(default_factory=list)
    # Factors of every layer's penalties set by residual balancing (empty: all 1).
    penalty_scale: list = field(default_factory=list)
    # z_1 X^T (a passes.CrossSums) summed by the last iteration's pass over layer 1, for the next
    # W_1 update; never saved: admm_iteration recomputes it, bit for bit, when it is None.
    input_cross: Any = None
    # The iteration before which the last restart from the forward pass ran (-1: none in this
    # process; never saved: a resumed run restarts where the schedule says).
    restarted_at: int = -1
    # Set by the layer-wise schedule (admm_xp.layerwise.Stage) on each stage's state: which stage it is,
    # the layers already trained below it and the run so far; None otherwise.
    stage: Any = None

    @property
    def run_iteration(self) -> int:
        """The iteration counted from the start of the run (a layer-wise stage's own count plus the
        iterations of the stages before it)."""
        return self.iteration + (self.stage.offset if self.stage is not None else 0)

    @property
    def n_layers(self) -> int:
        return len(self.W)

    def arrays(self) -> dict:
        """Name -> array, for checkpoints and the tests."""
        out = {f"W{l + 1}": w for l, w in enumerate(self.W)}
        out.update({f"a{l + 1}": x for l, x in enumerate(self.a)})
        out.update({f"z{l + 1}": x for l, x in enumerate(self.z)})
        out["lam"] = self.lam
        out.update({f"u{l + 1}": x for l, x in enumerate(self.u)})
        out.update({f"v{l + 1}": x for l, x in enumerate(self.v)})
        return out


def make_problem(X, S, offset, n_global, cfg, xp, comm) -> Problem:
    """Wrap device arrays (X: d_0 x n, S: C x n) and factor the fixed Gram matrix of layer 1."""
    sdt = _solve_dtype(xp, aac.device(X), X.dtype)
    prob = Problem(X=X, S=S, offset=int(offset), n_global=int(n_global), bias=cfg.bias, solve_dtype=sdt)
    G, sums, n = gram_sums(X, xp)
    G, sums, n = comm.allreduce_arrays([G, sums, n], xp)
    G = updates.gram_with_bias(G, sums, n, cfg.bias, xp)
    prob.gram_factor_X = updates.gram_factor(G, cfg.gram_ridge(G.shape[0], n_global), xp, what=INPUT_GRAM)
    if cfg.center_input and not cfg.bias:
        prob.input_mean = sums / n
    return prob


def gram_sums(a, xp, block: int = 1 << 16):
    """(a a^T, row sums of a, column count) in float64, accumulated over column blocks."""
    d, n = a.shape
    dev = aac.device(a)
    f64 = xp.float64
    G = xp.zeros((d, d), dtype=f64, device=dev)
    sums = xp.zeros((d,), dtype=f64, device=dev)
    for i in range(0, n, block):
        blk = a[:, i : min(i + block, n)]
        G = G + xp.astype(xp.matmul(blk, xp.matrix_transpose(blk)), f64)
        sums = sums + xp.sum(blk, axis=1, dtype=f64)
    return G, sums, xp.asarray(float(n), dtype=f64, device=dev)


def cross_sums(z, a, xp, block: int = 1 << 16, with_sums: bool = True):
    """(z a^T, row sums of z or None) in float64."""
    d, n = z.shape
    dev = aac.device(z)
    f64 = xp.float64
    C = xp.zeros((d, a.shape[0]), dtype=f64, device=dev)
    sums = xp.zeros((d,), dtype=f64, device=dev)
    for i in range(0, n, block):
        sl = slice(i, min(i + block, n))
        C = C + xp.astype(xp.matmul(z[:, sl], xp.matrix_transpose(a[:, sl])), f64)
        if with_sums:
            sums = sums + xp.sum(z[:, sl], axis=1, dtype=f64)
    return C, sums


def weights_lstsq(z, a_prev, cfg, xp, comm, factor=None, center=None):
    """W = z a^+ over all ranks: sum z a^T and a a^T, then a Cholesky solve.

    ``factor`` is the Gram factor of ``a_prev`` when it is already known
    (layer 1's X X^T never changes); ``center`` (the mean of a_prev's columns), when given,
    constrains the solution to ``W center = 0`` (:func:`admm_xp.solver.updates.centred_weights`).
    """
    C, zs = cross_sums(z, a_prev, xp, with_sums=cfg.bias)
    if factor is None:
        G, sums, n = gram_sums(a_prev, xp)
        C, zs, G, sums, n = comm.allreduce_arrays([C, zs, G, sums, n], xp)
        G = updates.gram_with_bias(G, sums, n, cfg.bias, xp)
        factor = updates.gram_factor(G, cfg.gram_ridge(G.shape[0], float(n)), xp)
    else:
        C, zs = comm.allreduce_arrays([C, zs], xp)
    return updates.weights_from_sums(updates.cross_with_bias(C, zs, cfg.bias, xp), factor, xp, z.dtype, center=center)


def init_state(prob: Problem, widths, cfg, xp, comm, block: int = 1 << 15) -> ADMMState:
    """Initial (W, a, z, lambda).

    ``gaussian`` (the paper): a_l and z_l i.i.d. N(0, 1), drawn from the
    counter-based generator by global sample index (so the same for any
    number of ranks and any backend); then every W_l = z_l a_{l-1}^+ by least
    squares, which gives the a_1 update the W_2 it needs in iteration 1.

    ``forward``: W_l with i.i.d. N(0, 2 / d_{l-1}) entries (He scaling; bias
    0), then z_l = W_l a_{l-1}, a_l = h(z_l) by one forward pass.

    lambda (and, with ``lagrangian`` full or linear, the hidden multipliers) starts at 0 in both.
    """
    dtype = prob.X.dtype
    dev = aac.device(prob.X)
    n = prob.n_local
    L = len(widths) - 1
    lam = xp.zeros((widths[-1], n), dtype=dtype, device=dev)
    if cfg.init == "gaussian":
        a = [_gaussian_columns(xp, cfg.seed, ("a", l + 1), widths[l + 1], prob.offset, n, dtype, dev, block) for l in range(L - 1)]
        z = [_gaussian_columns(xp, cfg.seed, ("z", l + 1), widths[l + 1], prob.offset, n, dtype, dev, block) for l in range(L)]
        W = []
        for l in range(L):
            a_prev = prob.X if l == 0 else a[l - 1]
            W.append(weights_lstsq(z[l], a_prev, cfg, xp, comm, prob.gram_factor_X if l == 0 else None,
                                   center=prob.input_mean if l == 0 else None))
        return _with_multipliers(ADMMState(W=W, a=a, z=z, lam=lam), cfg, xp)
    W = []
    for l in range(L):
        d_in, d_out = widths[l], widths[l + 1]
        w = rng.gaussian(xp, cfg.seed, ("W", l + 1), d_out, 0, d_in, dtype=dtype, device=dev) * (2.0 / d_in) ** 0.5
        if cfg.bias:
            w = xp.concat([w, xp.zeros((d_out, 1), dtype=dtype, device=dev)], axis=1)
        W.append(w)
    z, a = _forward_codes(W, prob.X, cfg.bias, xp)
    return _with_multipliers(ADMMState(W=W, a=a, z=z, lam=lam), cfg, xp)


def _forward_codes(W, X, bias: bool, xp) -> tuple[list, list]:
    """``z_l = W_l a_{l-1}`` (l = 1..L) and the hidden ``a_l = h(z_l)`` (l = 1..L-1) of the network
    ``W`` (a_0 = X): the per-sample variables of a network that satisfies every constraint."""
    z, inputs = [], []
    nn.forward(W, X, bias, xp, inputs=inputs, preactivations=z)
    return z, inputs[1:]


def restart_from_forward(state: ADMMState, prob: Problem, cfg, xp) -> None:
    """Restart the hidden layers' per-sample variables from the network's forward pass, in place.

    ``z_l = W_l a_{l-1}`` and ``a_l = h(z_l)`` for l = 1..L-1 (a_0 = X, this rank's columns), the
    hidden multipliers (mu_l, and nu_l where the iteration has them) zero; the weights, the
    output's z_L and lambda are kept (``forward_restart`` of
    :class:`admm_xp.solver.config.ADMMConfig`). Every column depends on its own sample and the
    weights alone, which every rank holds whole: the result does not depend on the rank count.
    The z_1 X^T sums that the last pass left for the next W_1 update are dropped (z_1 changed).
    """
    z, state.a = _forward_codes(state.W, prob.X, cfg.bias, xp)
    state.z[:-1] = z[:-1]  # the output's W_L a_{L-1} is not kept: z_L stays
    state.u = [xp.zeros_like(x) for x in state.u]
    state.v = [xp.zeros_like(x) for x in state.v]
    state.input_cross = None


def _with_multipliers(state: ADMMState, cfg, xp) -> ADMMState:
    """Zero hidden-layer multipliers u_l (and v_l) when the configuration has them."""
    if cfg.hidden_multipliers:
        state.u = [xp.zeros_like(x) for x in state.z[:-1]]
    if cfg.activation_multipliers:
        state.v = [xp.zeros_like(x) for x in state.a]
    return state


def _gaussian_columns(xp, seed, stream, d, offset, n, dtype, dev, block):
    out = xp.empty((d, n), dtype=dtype, device=dev)
    for i in range(0, n, block):
        j = min(i + block, n)
        out[:, i:j] = rng.gaussian(xp, seed, stream, d, offset + i, offset + j, dtype=dtype, device=dev)
    return out
