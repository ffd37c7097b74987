"""One iteration of ADMM training: Algorithm 1 of Taylor et al. (ICML 2016).

    for l = 1 .. L-1:
        W_l    <- z_l a_{l-1}^+
        a_l    <- (beta_{l+1} W_{l+1}^T W_{l+1} + gamma_l I)^{-1} (beta_{l+1} W_{l+1}^T z_{l+1} + gamma_l h(z_l))
        z_l    <- argmin_z gamma_l ||a_l - h(z)||^2 + beta_l ||z - W_l a_{l-1}||^2
    W_L    <- z_L a_{L-1}^+
    z_L    <- argmin_z loss(z, s) + <z, lambda> + beta_L ||z - W_L a_{L-1}||^2
    lambda <- lambda + beta_L (z_L - W_L a_{L-1})

The function below is that listing. Under the augmented Lagrangian
(``cfg.lagrangian == "augmented"``) the W_L and a_{L-1} lines fit
``z_L + lambda / (2 beta_L)`` in place of z_L (:func:`output_target`); under the
full one (``"full"``) every hidden constraint has a scaled multiplier as well
(mu_l of z_l = W_l a_{l-1}, nu_l of a_l = h(z_l); u_l = mu_l / (2 beta_l),
v_l = nu_l / (2 gamma_l)): W_l fits z_l + u_l, the a_l and z_l lines see
h(z_l) - v_l, a_l + v_l and W_l a_{l-1} - u_l, and both multipliers take a
dual step of ``dual_step`` times the classical one after the z_l line; under
``"linear"`` only the linear constraints have one (mu_l, and lambda; v_l = 0), except
in its first ``relu_multiplier_iters`` iterations, which keep v_l as ``"full"`` does. Per layer, the a and z updates run in one
fused pass over column blocks (:mod:`admm_xp.solver.passes`), which also sums the
``z_{l+1} a_l^T`` and ``a_l a_l^T`` that the next line's weight update needs;
over MPI ranks those sums, and nothing else, cross the network.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import anderson, updates
from .balancing import BalanceRule, balance, dual_residual_sq, dual_residual_sq_from_factor
from .passes import LayerSums, hidden_layer_pass, input_cross_pass, output_layer_pass
from .state import ADMMState, Problem, restart_from_forward
from ..runtime.timing import NO_TIMER


@dataclass
class IterationSums:
    """This rank's share of the objective's parts after an iteration (float64 0-d arrays).

    ``act[l]``, ``pre[l]``: sum (a_l - h(z_l))^2 and sum (z_l - W_l a_{l-1})^2 of
    hidden layer l+1; ``loss``, ``lag``, ``pen``: the output loss, the multiplier
    term (<z_L, lambda>, or <z_L - W_L a_{L-1}, lambda> under an augmented Lagrangian)
    and sum (z_L - W_L a_{L-1})^2 of the output layer; ``lag_act[l]``, ``lag_pre[l]``:
    <v_l, a_l - h(z_l)> and <u_l, z_l - W_l a_{l-1}> of the hidden multipliers (0 without them).
    """

    act: list = field(default_factory=list)
    pre: list = field(default_factory=list)
    loss: object = 0.0
    lag: object = 0.0
    pen: object = 0.0
    lag_act: list = field(default_factory=list)
    lag_pre: list = field(default_factory=list)
    # 2 beta_l ||(W_l^new - W_l^old) a_{l-1}|| of every layer: the dual residuals (already global floats)
    dual: list = field(default_factory=list)

    def flat(self) -> list:
        """``[*act, *pre, loss, lag, pen, *lag_act, *lag_pre]`` (what :func:`admm_xp.solver.objective.combine` takes)."""
        return [*self.act, *self.pre, self.loss, self.lag, self.pen, *self.lag_act, *self.lag_pre]


def admm_iteration(state: ADMMState, prob: Problem, cfg, xp, comm, ops, *, update_multiplier: bool = True,
                   timer=NO_TIMER) -> IterationSums:
    """Advance ``state`` by one iteration of Algorithm 1, in place.

    ``update_multiplier=False`` during the warm start. ``ops`` are the
    elementwise kernels of :func:`admm_xp.kernels.kernels_for`; ``timer``
    (see :mod:`admm_xp.runtime.timing`) times the steps for the benchmark. Returns
    this rank's sums of the objective's parts, evaluated at the new state.
    """
    begin_iteration(state, prob, cfg, xp)  # what the schedule changes before this iteration, if anything
    pen = cfg.penalties(state.iteration, state.penalty_scale)
    W, a, z, L = state.W, state.a, state.z, state.n_layers
    bias, block = cfg.bias, cfg.block_size
    sums = IterationSums()

    with_mu = cfg.hidden_multipliers  # multipliers mu_l of z_l = W_l a_{l-1} (full or linear Lagrangian)
    # W_1 <- z_1 a_0^+   (a_0 = X, whose Gram matrix was factored once; z_1 X^T was
    # summed by the previous iteration's pass over layer 1 when there was one)
    with timer("W"):
        first, state.input_cross = state.input_cross, None
        first = first or input_cross_pass(
            output_target(z[0], state.lam, pen.beta[0], cfg) if L == 1 else z[0], prob.X, bias, block, ops, xp,
            shift=state.u[0] if with_mu and L > 1 else None, shift_scale=0.5 / pen.beta[0])
        reduced = comm.allreduce_arrays([first.cross, first.sums] if bias else [first.cross], xp)
        C, zs = reduced[0], (reduced[1] if bias else None)
        W_old = W[0]
        W[0] = updates.weights_from_sums(updates.cross_with_bias(C, zs, bias, xp), prob.gram_factor_X, xp, z[0].dtype,
                                         center=prob.input_mean)  # (input_mean: with center_input only)
        sums.dual.append(2.0 * pen.beta[0] * dual_residual_sq_from_factor(W[0] - W_old, prob.gram_factor_X, xp) ** 0.5)
    a_prev = prob.X
    # What W_L a_{L-1} must match: z_L, or z_L + lambda / (2 beta_L) under the augmented Lagrangian
    target = output_target(z[L - 1], state.lam, pen.beta[L - 1], cfg)
    for l in range(L - 1):
        # what W_{l+1} a_l must match: the output's target, or z_{l+1} (+ mu_{l+1} / (2 beta_{l+1}) with hidden multipliers)
        fit_next = target if l == L - 2 else (z[l + 1] + state.u[l + 1] * (0.5 / pen.beta[l + 1]) if with_mu else z[l + 1])
        gamma, beta = pen.gamma[l], pen.beta[l]
        # a_l <- (beta_{l+1} W_{l+1}^T W_{l+1} + gamma_l I)^{-1} (...): factor once, apply to all columns
        with timer("a_factor"):
            op = updates.activation_operator(W[l + 1], gamma, pen.beta[l + 1], bias, xp, prob.solve_dtype)
        # a_l and z_l in one pass; it also sums z_{l+1} a_l^T and a_l a_l^T
        # W_{l+1} of a hidden layer after the first, under center_layers (without a bias): W_{l+1} mean(a_l) = 0
        center = cfg.center_layers and not bias and l + 1 < L - 1
        with timer("a_z_pass"):
            layer = hidden_layer_pass(a[l], z[l], fit_next, a_prev, W[l], op, gamma, beta, bias, block, ops, xp,
                                      with_input_cross=(l == 0),
                                      multipliers=(state.u[l], state.v[l] if state.v else None,
                                                   cfg.dual_step_at(state.iteration)) if with_mu else None,
                                      row_sums=center)
        if l == 0:
            state.input_cross = layer.input_cross
        sums.act.append(layer.act)
        sums.pre.append(layer.pre)
        sums.lag_act.append(layer.lag_act)
        sums.lag_pre.append(layer.lag_pre)
        # W_{l+1} <- z_{l+1} a_l^+   (one allreduce of the packed sums)
        with timer("W"):
            W_old = W[l + 1]
            W[l + 1], G = _weights_from_layer_sums(layer, prob.n_global, cfg, xp, comm, z[l + 1].dtype, center)
            sums.dual.append(2.0 * pen.beta[l + 1] * dual_residual_sq(W[l + 1] - W_old, G, xp) ** 0.5)
        a_prev = a[l]
    # z_L <- argmin loss + <z, lambda> + beta_L ||z - W_L a_{L-1}||^2;  lambda <- lambda + beta_L (z_L - W_L a_{L-1})
    with timer("zL_lambda_pass"):
        out = output_layer_pass(z[L - 1], state.lam, prob.S, a_prev, W[L - 1], pen.beta[L - 1],
                                update_multiplier and cfg.multiplier, bias, block, ops, xp,
                                loss=cfg.loss, lag_residual=cfg.augmented_output)
    sums.loss, sums.lag, sums.pen = out.loss, out.lag, out.pen
    if cfg.residual_balancing and state.iteration < cfg.rb_until:
        _balance_penalties(state, sums, cfg, xp, comm)
    state.iteration += 1
    return sums


def begin_iteration(state: ADMMState, prob: Problem, cfg, xp) -> bool:
    """What the schedule does to the state before iteration ``state.iteration``: drop the ReLU
    equality's expired multipliers (:func:`drop_expired_multipliers`) and, when due, restart the
    per-sample variables from the forward pass (``forward_restart``,
    :func:`admm_xp.solver.state.restart_from_forward`). True when the state jumped (an
    accelerator's memory of earlier iterates then no longer applies); a second call before the
    same iteration changes nothing and returns False."""
    jumped = drop_expired_multipliers(state, cfg)
    if cfg.restart_at(state.iteration) and state.restarted_at != state.iteration:
        restart_from_forward(state, prob, cfg, xp)
        state.restarted_at = state.iteration
        jumped = True
    return jumped


def drop_expired_multipliers(state: ADMMState, cfg) -> bool:
    """Drop the ReLU equality's multipliers v_l once their iterations are over (the linear form with
    ``relu_multiplier_iters``: from then on the linear form's iteration); True when it dropped them."""
    if state.v and not cfg.relu_multipliers_at(state.iteration):
        state.v = []
        return True
    return False


def _balance_penalties(state: ADMMState, sums: IterationSums, cfg, xp, comm) -> None:
    """Residual balancing (:mod:`admm_xp.solver.balancing`): the penalty factors for the next iteration,
    from this iteration's primal residuals (summed over ranks) and dual residuals."""
    primal_sq = comm.allreduce_scalars([float(v) for v in (*sums.pre, sums.pen)])
    primal = [max(v, 0.0) ** 0.5 for v in primal_sq]
    old = state.penalty_scale or [1.0] * state.n_layers
    new = balance(old, primal, sums.dual, BalanceRule(cfg.rb_mu, cfg.rb_tau, cfg.rb_until))
    state.penalty_scale = new


def accelerated_iteration(state: ADMMState, prob: Problem, cfg, xp, comm, ops, acc, *, update_multiplier: bool = True,
                          timer=NO_TIMER) -> IterationSums:
    """:func:`admm_iteration`, followed by Anderson acceleration (:mod:`admm_xp.solver.anderson`) when
    ``acc`` is an accelerator's memory and the warm start is over (``acc`` None: the plain iteration)."""
    if acc is None or not update_multiplier:
        return admm_iteration(state, prob, cfg, xp, comm, ops, update_multiplier=update_multiplier, timer=timer)
    if begin_iteration(state, prob, cfg, xp):
        acc.clear()  # the state jumped: the memory's differences no longer apply
        acc.merit = None
    before = anderson.snapshot(state, cfg.anderson_on, xp)
    sums = admm_iteration(state, prob, cfg, xp, comm, ops, update_multiplier=update_multiplier, timer=timer)
    with timer("anderson"):
        anderson.accelerate(acc, state, before, cfg.anderson_on, xp, comm, cfg.anderson_tol)
    return sums


def output_target(z_L, lam, beta_L, cfg):
    """The array the output weights and the last activations are fitted to.

    The paper's Lagrangian: z_L. The augmented Lagrangian ``<z_L - W_L a, lambda>
    + beta_L ||z_L - W_L a||^2 = beta_L ||z_L + lambda / (2 beta_L) - W_L a||^2 - const``:
    z_L shifted by the scaled multiplier (C x n, the width of the output only).
    """
    if cfg.augmented_output and cfg.multiplier:
        return z_L + lam * (0.5 / beta_L)
    return z_L


def _weights_from_layer_sums(layer: LayerSums, n_global: int, cfg, xp, comm, dtype, center: bool = False):
    """(W_{l+1}, G): W_{l+1} = (z_{l+1} a_l^T)(a_l a_l^T)^{-1} from the pass's sums, added over ranks,
    and the Gram matrix G = a_l a_l^T (with the bias row) it used; with ``center``, the solution
    constrained to W_{l+1} mean(a_l) = 0 (:func:`admm_xp.solver.updates.centred_weights`)."""
    cross, cross_sums, gram, gram_sums = comm.allreduce_arrays(
        [layer.cross, layer.cross_sums, layer.gram, layer.gram_sums], xp
    )
    G = updates.gram_with_bias(gram, gram_sums, float(n_global), cfg.bias, xp)
    C = updates.cross_with_bias(cross, cross_sums, cfg.bias, xp)
    factor = updates.gram_factor(G, cfg.gram_ridge(G.shape[0], n_global), xp)
    return updates.weights_from_sums(C, factor, xp, dtype, center=gram_sums / float(n_global) if center else None), G
