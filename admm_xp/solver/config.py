"""Solver configuration: validated where it is made."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Sequence

from ..errors import ConfigError

INITS = ("gaussian", "forward")
LAGRANGIANS = ("paper", "augmented", "full", "linear", "auto")
LOSSES = ("hinge", "cross-entropy")

# The paper's method, exactly: no bias, fixed penalties (gamma 10, beta 1, the
# values of the paper's line of work), Gaussian initialisation, the output
# multiplier after a warm start, plain least-squares weight updates.
PAPER = dict(gamma=(10.0,), beta=(1.0,), warm_start=10, multiplier=True, bias=False, init="gaussian",
             penalty_growth=1.0, weight_decay=0.0, lagrangian="paper", dual_step=0.3, dual_decay=0, relu_multiplier_iters=0,
             loss="hinge",
             residual_balancing=False, anderson=0, center_layers=False, first_layer_penalty=1.0, forward_restart=0,
             layerwise=0)
# The best configuration measured by the sweeps in results/sweep/ and the ablation in
# results/ablation/ (scored on validation rows carved from the training split, never on a
# test split): gamma = beta = 1, a weight decay of 1 (see ADMMConfig.weight_decay), and
# lagrangian "auto" (resolved by ADMMConfig.resolved): multipliers on every linear
# constraint for one hidden layer; for deeper networks multipliers on every constraint (see
# below). The hidden multipliers' step
# diminishes after iteration 100 (dual_decay): long runs then hold over initialisation seeds
# (results/ablation/seeds/); the first 100 iterations are those of a constant step. Under the
# linear form the ReLU equality also has its multiplier for the first 30 iterations
# (relu_multiplier_iters): the full form's faster start, then the linear form's steady runs.
# Networks with two or more hidden layers have centred layers (center_layers, no effect with
# one) and a first hidden layer three times as stiff as the others (first_layer_penalty, no
# effect with one), with multipliers on every constraint (lagrangian "auto": "full"); measured
# against each part left out in results/ablation/deep-rule/. Networks with three or more hidden
# layers also restart their per-sample variables from the network's forward pass every 10
# iterations (forward_restart "auto"; results/ablation/deep3/). Those rules are for a network trained
# whole (layerwise 0): by default a network of two or more hidden layers trains one hidden layer at a
# time, 30 iterations for each but the last (layerwise; results/ablation/layerwise/), each stage a
# one-hidden-layer network under the rules above.
DEFAULT = dict(PAPER, gamma=(1.0,), beta=(1.0,), weight_decay=1.0, lagrangian="auto", dual_decay=100,
               relu_multiplier_iters=30, center_layers=True, first_layer_penalty=3.0, forward_restart="auto",
               layerwise=30)
# forward_restart "auto": every this many iterations with three or more hidden layers, never with fewer
AUTO_RESTART_EVERY = 10
AUTO_RESTART_MIN_HIDDEN = 3
PRESETS = {"paper": PAPER, "default": DEFAULT}


MAX_PENALTY = 1e12  # gamma and beta above this make gamma * a^2 overflow float32 (and come close in float64)
MIN_PENALTY = 1e-12  # below this the multipliers' scaled forms mu / (2 beta), nu / (2 gamma) overflow


def _as_tuple(value, name: str) -> tuple[float, ...]:
    if isinstance(value, (int, float)):
        value = (value,)
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number or a list of numbers, got {value!r}") from None
    if not out:
        raise ConfigError(f"{name} must not be empty")
    for v in out:
        if not (math.isfinite(v) and v > 0):
            raise ConfigError(f"{name} must be > 0 and finite, got {v!r}: penalties weight squared residuals")
        if v < MIN_PENALTY:
            raise ConfigError(f"{name} must be at least {MIN_PENALTY:g}, got {v!r}: a smaller penalty overflows the "
                              "scaled multipliers (mu / (2 beta), nu / (2 gamma))")
        if v > MAX_PENALTY:
            raise ConfigError(f"{name} must be at most {MAX_PENALTY:g}, got {v!r}: a larger penalty overflows the "
                              "squared residuals it weights")
    return out


# Samples per column block of the fused passes (cache blocking; results agree to rounding).
# CPU: one block's m, a and z rows stay in the last-level cache while the layer's products run;
# 4,096 measured 1-5% faster per iteration than 2,048 at the HIGGS and SVHN shapes on the
# development machine. GPU: big enough to fill the device.
CPU_BLOCK_SIZE = 4096
GPU_BLOCK_SIZE = 1 << 20


def default_block_size(device) -> int:
    """The block size for a ``--device`` string: GPU_BLOCK_SIZE on CUDA devices, else CPU_BLOCK_SIZE."""
    return GPU_BLOCK_SIZE if str(device).startswith(("cuda", "torch:cuda")) else CPU_BLOCK_SIZE


@dataclass(frozen=True)
class ADMMConfig:
    """Settings of the ADMM solver (Taylor et al. 2016, Algorithm 1).

    hidden
        Widths of the hidden layers, e.g. ``(300,)`` or ``(100, 50)``.
    gamma
        Activation penalties gamma_l of the hidden layers (one value for all,
        or one per hidden layer).
    beta
        Pre-activation penalties beta_l of every layer including the output
        (one value for all, or one per layer).
    warm_start
        K: the first K iterations skip the multiplier update.
    multiplier
        Keep the output-layer Lagrange multiplier (the paper's Bregman
        iteration); ``False`` never updates it (it stays 0).
    lagrangian
        Where the multiplier of the output constraint ``z_L = W_L a_{L-1}``
        enters. ``"paper"``: the term ``<z_L, lambda>`` of Taylor et al., seen by
        the z_L update alone. ``"augmented"``: the augmented Lagrangian's
        ``<z_L - W_L a_{L-1}, lambda>`` (Hestenes 1969; Boyd et al. 2011, eq. 3.5), so
        that the W_L and a_{L-1} updates fit ``z_L + lambda / (2 beta_L)`` instead
        of ``z_L``. With the paper's form a fixed point only needs
        ``lambda = -dloss(z_L)`` and ``z_L = W_L a_{L-1}``: the multiplier cancels
        the loss's pull in the z_L update, the other blocks never see the labels
        again, and long runs decay; with the augmented form the labels reach
        the weights through lambda. ``"full"``: the augmented Lagrangian of every
        constraint, with multipliers also on each hidden layer's
        ``z_l = W_l a_{l-1}`` and ``a_l = h(z_l)`` (``mu_l``, ``nu_l``), so that a
        fixed point satisfies every constraint exactly and the per-sample
        variables cannot absorb the loss (the penalty-only couplings of the
        paper let ``a_l`` drift from ``h(W_l a_{l-1})`` until the ADMM variables fit
        every training label while the feed-forward network does not). ``"linear"``:
        multipliers on every linear constraint ``z_l = W_l a_{l-1}`` (``mu_l`` and the
        output's lambda) and the penalty alone on the nonlinear ``a_l = h(z_l)``, as
        Taylor et al. treat it: the classical augmented Lagrangian of the linear
        couplings (the setting of ADMM's convergence analyses, which need linear
        constraints; e.g. Wang, Yin and Zeng, J. Sci. Comput. 2019), without the
        multiplier of the ReLU equality that makes ``"full"`` oscillate. ``"auto"`` (the
        default preset): ``"linear"`` for one hidden layer, where it learned more per
        iteration than the other forms on every task of the sweeps (with the preset's
        ``dual_decay`` it also holds on long runs over initialisation seeds; docs/method.md);
        ``"full"`` for deeper networks, where with centred layers and a stiffer first
        layer (``center_layers``, ``first_layer_penalty``) it learned the most; resolved
        by :meth:`resolved` before training (until then it acts as ``"augmented"``).
    residual_balancing, rb_mu, rb_tau, rb_until
        Residual balancing of every layer's penalties (:mod:`admm_xp.solver.balancing`):
        when a layer's primal residual exceeds ``rb_mu`` times its dual residual,
        its beta (and gamma) grow by ``rb_tau``, and shrink by ``rb_tau`` in the
        opposite case, up to iteration ``rb_until``.
    anderson, anderson_on, anderson_tol
        Anderson acceleration (type II, memory ``anderson``; 0 = off) of the
        iteration on ``"weights"`` or on the whole ``"state"``, restarted when the
        fixed-point residual exceeds ``1 + anderson_tol`` times the last
        (:mod:`admm_xp.solver.anderson`). It starts after the warm start.
    dual_step
        kappa, the step of the hidden layers' multipliers under
        ``lagrangian="full"`` or ``"linear"``: ``mu_l += 2 beta_l kappa (z_l - W_l a_{l-1})``,
        ``nu_l += 2 gamma_l kappa (a_l - h(z_l))`` (full only) (1 is the classical ADMM step;
        smaller steps damp the oscillation of this nonconvex splitting).
    dual_decay
        K > 0: the hidden multipliers' step diminishes as ``dual_step * min(1, K / k)``
        at iteration k (a harmonic, summable-squares schedule that lets the
        nonconvex iteration settle); 0 keeps it constant. The default preset's 100 keeps the
        step constant for the iterations its settings were chosen at and stops the drift
        that some initialisation seeds showed on longer runs (docs/method.md).
    relu_multiplier_iters
        K > 0, under ``lagrangian="linear"``: for the first K iterations the ReLU equality
        ``a_l = h(z_l)`` has its multiplier ``nu_l`` as well, as under ``"full"``; after
        iteration K the multipliers nu_l are dropped and the iteration goes on as the
        linear form's. 0: never (the plain linear form); other forms ignore it. The
        full form learns faster at first and drifts on long runs where the linear form
        holds; the default preset's 30 starts as the one and goes on as the other
        (a schedule of this project, not of a paper: measured in results/ablation/seeds/,
        docs/method.md).
    center_layers
        Constrain every hidden layer after the first to ``W_l abar_{l-1} = 0``, where
        ``abar_{l-1}`` is the mean over the training samples of its input activations,
        so that its pre-activations have zero mean over the training set (the
        centring of mean-only batch normalisation, Salimans and Kingma, NeurIPS 2016,
        here as a constraint of the weight update). The input of such a layer,
        ``h(z_{l-1})``, is non-negative, and without the constraint ADMM drifts to
        weights that shift every unit positive, where the ReLU acts as the identity.
        The update stays closed-form: the equality-constrained least squares
        ``W = W_0 - (W_0 abar)(abar^T G^{-1}) / (abar^T G^{-1} abar)`` with
        ``W_0 = C G^{-1}`` (:func:`admm_xp.solver.updates.centred_weights`). Not applied
        with ``bias`` (a bias would undo it) and no effect with one hidden layer.
    first_layer_penalty
        F: in a network of two or more hidden layers, the first hidden layer's penalties
        ``gamma_1`` and ``beta_1`` are F times the values ``gamma`` and ``beta`` give it
        (no effect with one hidden layer). From the Gaussian start the first layer's
        z_1 is mostly what the inputs cannot explain (the draw is not a function of X), and the deeper layers fit
        the labels through that per-sample slack while the network's own first layer
        stays small; stiffer constraints there leave less of it. The default preset's 3
        was measured on validation rows (docs/method.md); a rule of this project, not of
        a paper. 1 keeps the penalties as given.
    forward_restart
        K > 0: before every K-th iteration (iterations K, 2K, ...) the per-sample variables of the
        hidden layers restart from the network's own forward pass, ``z_l = W_l a_{l-1}`` and
        ``a_l = h(z_l)``, and their multipliers (mu_l, nu_l) from zero; the weights, the output's
        z_L and lambda are kept (:func:`admm_xp.solver.state.restart_from_forward`). The slack
        that the per-sample variables accumulate (``a_l - h(z_l)`` and the multipliers' memory)
        lets the ADMM variables fit labels that the network itself does not; the restart hands
        the iteration the network as it is. Codes started from a forward pass are how online
        alternating minimisation treats each mini-batch (Choromanska et al., "Beyond Backprop:
        Online Alternating Minimization with Auxiliary Variables", ICML 2019); the periodic
        restart of a full-batch ADMM is this project's. 0: never. ``"auto"`` (the default preset):
        every 10 iterations for networks of three or more hidden layers, where it learned more on
        validation rows, never for shallower ones, where it learned less (docs/method.md);
        resolved by :meth:`resolved`.
    layerwise
        K > 0, in a network of two or more hidden layers: train it greedily, one hidden layer at a
        time (:mod:`admm_xp.layerwise`). Iterations 1..K train hidden layer 1 under a temporary
        output layer of its own (a one-hidden-layer ADMM on the inputs); then W_1 is kept fixed and
        iterations K+1..2K train hidden layer 2 and a new output layer on ``h(W_1 X)``, and so on;
        the last hidden layer trains with the network's own output layer for the iterations that
        are left. Every stage after the first centres its first layer (``center_input``), so the
        network needs no biases. Greedy layer-wise training: Bengio, Lamblin, Popovici and
        Larochelle, NeurIPS 2006; Belilovsky, Eickenberg and Oyallon, ICML 2019. Where the run
        is shorter than ``H * K`` iterations, each stage but the last takes ``iters // H``. 0: off
        (the whole network trains at once, as in Algorithm 1; the paper preset). The default
        preset's 30 learned more on validation rows than the whole network at once on HIGGS
        with two and three hidden layers and on the digits with two (as much with three), and
        kept three hidden layers of HIGGS where 20 lost them; on a synthetic SVHN-shaped task
        it learned less (results/ablation/layerwise/, docs/method.md). The default's rules
        for deeper networks (``center_layers``, ``first_layer_penalty``, ``forward_restart``)
        apply to a network trained whole. No effect with one hidden layer.
    center_input
        Constrain the first layer's weights to ``W_1 mean(X) = 0`` over the training samples (the
        centring of ``center_layers``, applied to the input layer): set by the layer-wise schedule
        for its stages after the first, whose inputs ``h(W X)`` are non-negative. Not applied
        with ``bias``.
    loss
        The output loss: ``"hinge"`` (the paper's; one-vs-rest for C classes)
        or ``"cross-entropy"`` (logistic for two classes, softmax for C), whose
        z_L update is a per-sample proximal step by damped Newton
        (:func:`admm_xp.solver.updates.z_output_cross_entropy`).
    bias
        Append a constant row to every layer's input so every layer has a bias.
    init
        ``"gaussian"`` (the paper: a, z i.i.d. N(0, 1)) or ``"forward"`` (random
        He-scaled weights, a and z from one forward pass).
    penalty_growth, penalty_max
        Multiply every gamma and beta by ``penalty_growth`` each iteration, up
        to ``penalty_max`` (1.0: fixed penalties, as in the paper).
    ridge
        Relative ridge added to each Gram matrix before its Cholesky factor
        (see :func:`admm_xp.runtime.linalg.regularised`): numerical safety only.
    weight_decay
        Tikhonov regularisation of every weight update,
        ``W = z a^T (a a^T + lambda I)^{-1}`` with ``lambda = weight_decay * (d / N)
        * mean(diag(a a^T))`` for a layer input of width d over N samples: it
        matters when d is not small against N (high-dimensional inputs, where
        the plain least-squares update fits the random initial z and does not
        generalise) and fades as N grows. 0 is the paper's update.
    seed
        Seed of the counter-based initialisation (results do not depend on the
        number of ranks).
    dtype
        ``"float32"`` or ``"float64"`` for the iterates; small d x d solves run in float64.
    block_size
        Samples per column block in the fused passes (cache blocking only: the
        result does not depend on it beyond rounding).
    """

    hidden: tuple[int, ...] = (300,)
    gamma: tuple[float, ...] = DEFAULT["gamma"]
    beta: tuple[float, ...] = DEFAULT["beta"]
    warm_start: int = DEFAULT["warm_start"]
    multiplier: bool = DEFAULT["multiplier"]
    bias: bool = DEFAULT["bias"]
    init: str = DEFAULT["init"]
    penalty_growth: float = DEFAULT["penalty_growth"]
    penalty_max: float = 1e4
    ridge: float = 1e-10
    weight_decay: float = DEFAULT["weight_decay"]
    lagrangian: str = DEFAULT["lagrangian"]
    dual_step: float = DEFAULT["dual_step"]
    dual_decay: int = DEFAULT["dual_decay"]
    relu_multiplier_iters: int = DEFAULT["relu_multiplier_iters"]
    residual_balancing: bool = DEFAULT["residual_balancing"]
    rb_mu: float = 10.0
    rb_tau: float = 2.0
    rb_until: int = 50
    anderson: int = DEFAULT["anderson"]
    anderson_on: str = "weights"
    anderson_tol: float = 0.0
    loss: str = DEFAULT["loss"]
    center_layers: bool = DEFAULT["center_layers"]
    first_layer_penalty: float = DEFAULT["first_layer_penalty"]
    forward_restart: int | str = DEFAULT["forward_restart"]
    layerwise: int = DEFAULT["layerwise"]
    center_input: bool = False
    seed: int = 0
    dtype: str = "float64"
    block_size: int = CPU_BLOCK_SIZE
    preset: str = field(default="default", compare=False)

    def __post_init__(self):
        try:
            hidden = tuple(int(h) for h in self.hidden)
        except (TypeError, ValueError):
            raise ConfigError(f"hidden widths must be integers, got {self.hidden!r}") from None
        if any(h < 1 for h in hidden):
            raise ConfigError(f"hidden widths must be >= 1, got {list(hidden)}: use e.g. --hidden 300 or --hidden 100,50")
        object.__setattr__(self, "hidden", hidden)
        gamma = _as_tuple(self.gamma, "gamma")
        beta = _as_tuple(self.beta, "beta")
        if len(gamma) not in (1, len(hidden)):
            raise ConfigError(f"gamma needs {'1 value' if len(hidden) == 1 else f'1 or {len(hidden)} values'} "
                              f"(one per hidden layer), got {len(gamma)}")
        if len(beta) not in (1, len(hidden) + 1):
            raise ConfigError(f"beta needs 1 or {len(hidden) + 1} values (one per layer), got {len(beta)}")
        object.__setattr__(self, "gamma", gamma)
        object.__setattr__(self, "beta", beta)
        if not isinstance(self.warm_start, int) or isinstance(self.warm_start, bool) or self.warm_start < 0:
            raise ConfigError(f"warm_start must be an integer >= 0, got {self.warm_start!r}")
        if self.lagrangian not in LAGRANGIANS:
            raise ConfigError(f"lagrangian must be one of {', '.join(LAGRANGIANS)}, got {self.lagrangian!r}")
        ds_ = float(self.dual_step)
        if not (math.isfinite(ds_) and 0 < ds_ <= 2):
            raise ConfigError(f"dual_step must be in (0, 2], got {self.dual_step!r}")
        if not (math.isfinite(float(self.rb_mu)) and float(self.rb_mu) > 1):
            raise ConfigError(f"rb_mu must be > 1, got {self.rb_mu!r}")
        if not (math.isfinite(float(self.rb_tau)) and float(self.rb_tau) > 1):
            raise ConfigError(f"rb_tau must be > 1, got {self.rb_tau!r}")
        if not isinstance(self.rb_until, int) or isinstance(self.rb_until, bool) or self.rb_until < 0:
            raise ConfigError(f"rb_until must be an integer >= 0, got {self.rb_until!r}")
        if not isinstance(self.anderson, int) or isinstance(self.anderson, bool) or not 0 <= self.anderson <= 50:
            raise ConfigError(f"anderson (the memory) must be an integer in 0..50, got {self.anderson!r}")
        if self.anderson_on not in ("weights", "state"):
            raise ConfigError(f"anderson_on must be weights or state, got {self.anderson_on!r}")
        if not (math.isfinite(float(self.anderson_tol)) and float(self.anderson_tol) >= 0):
            raise ConfigError(f"anderson_tol must be >= 0, got {self.anderson_tol!r}")
        if not isinstance(self.dual_decay, int) or isinstance(self.dual_decay, bool) or self.dual_decay < 0:
            raise ConfigError(f"dual_decay must be an integer >= 0, got {self.dual_decay!r}")
        k = self.relu_multiplier_iters
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise ConfigError(f"relu_multiplier_iters must be an integer >= 0, got {k!r}")
        try:
            flp = float(self.first_layer_penalty)
        except (TypeError, ValueError):
            raise ConfigError(f"first_layer_penalty must be a number, got {self.first_layer_penalty!r}") from None
        if not (math.isfinite(flp) and 1e-3 <= flp <= 1e3):
            raise ConfigError(f"first_layer_penalty must be in [0.001, 1000], got {self.first_layer_penalty!r}: "
                              "it multiplies the first hidden layer's gamma and beta (1 = as given)")
        object.__setattr__(self, "first_layer_penalty", flp)
        k = self.forward_restart
        if k != "auto" and (not isinstance(k, int) or isinstance(k, bool) or k < 0):
            raise ConfigError(f"forward_restart must be an integer >= 0 (0 = never) or 'auto', got {k!r}")
        k = self.layerwise
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise ConfigError(f"layerwise must be an integer >= 0 (iterations per lower stage; 0 = off), got {k!r}")
        for name, values in (("gamma", self.gammas()), ("beta", self.betas())):  # the products in the same range
            _as_tuple(values[:1], f"the first hidden layer's {name} (times first_layer_penalty)")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.init not in INITS:
            raise ConfigError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        g = float(self.penalty_growth)
        if not (math.isfinite(g) and g >= 1.0):
            raise ConfigError(f"penalty_growth must be >= 1 (1 = fixed penalties), got {self.penalty_growth!r}")
        pm = float(self.penalty_max)
        if not (math.isfinite(pm) and pm > 0):
            raise ConfigError(f"penalty_max must be > 0 and finite, got {self.penalty_max!r}")
        r = float(self.ridge)
        if not (math.isfinite(r) and 0 <= r < 1):
            raise ConfigError(f"ridge must be in [0, 1), got {self.ridge!r}")
        wd = float(self.weight_decay)
        if not (math.isfinite(wd) and wd >= 0):
            raise ConfigError(f"weight_decay must be >= 0 and finite, got {self.weight_decay!r}")
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"unknown dtype {self.dtype!r}: use float32 or float64")
        if not isinstance(self.block_size, int) or self.block_size < 1:
            raise ConfigError(f"block_size must be an integer >= 1, got {self.block_size!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed!r}")

    def dual_step_at(self, iteration: int) -> float:
        """kappa at ``iteration`` (0-based) under the ``dual_decay`` schedule."""
        if self.dual_decay and iteration + 1 > self.dual_decay:
            return float(self.dual_step) * self.dual_decay / (iteration + 1)
        return float(self.dual_step)

    def resolved(self) -> "ADMMConfig":
        """This configuration with its ``"auto"`` settings resolved for its depth: ``lagrangian``
        ``"linear"`` for one hidden layer, ``"full"`` for deeper networks (any number of classes);
        ``forward_restart`` every AUTO_RESTART_EVERY iterations with AUTO_RESTART_MIN_HIDDEN or more
        hidden layers, else 0. Anything else is kept. A layer-wise run (``layerwise``, two or more
        hidden layers) resolves them as for one hidden layer: every stage is a one-hidden-layer network."""
        depth = 1 if self.trains_layerwise else len(self.hidden)
        changes = {}
        if self.lagrangian == "auto":
            changes["lagrangian"] = "linear" if depth == 1 else "full"
        if self.forward_restart == "auto":
            changes["forward_restart"] = AUTO_RESTART_EVERY if depth >= AUTO_RESTART_MIN_HIDDEN else 0
        return replace(self, **changes) if changes else self

    @property
    def trains_layerwise(self) -> bool:
        """Whether a run trains one hidden layer at a time (``layerwise`` > 0 and two or more hidden layers)."""
        return bool(self.layerwise) and len(self.hidden) > 1

    def restart_at(self, iteration: int) -> bool:
        """Whether the per-sample variables restart from the forward pass before ``iteration``
        (0-based): every ``forward_restart``-th, never the first (``"auto"`` unresolved: never)."""
        k = self.forward_restart
        return isinstance(k, int) and k > 0 and iteration > 0 and iteration % k == 0

    @property
    def augmented_output(self) -> bool:
        """The output multiplier enters as <z_L - W_L a_{L-1}, lambda> (``lagrangian`` augmented or full)."""
        return self.lagrangian != "paper"

    @property
    def hidden_multipliers(self) -> bool:
        """Multipliers mu_l on the hidden layers' ``z_l = W_l a_{l-1}`` (``lagrangian`` full or linear,
        with multipliers on)."""
        return self.lagrangian in ("full", "linear") and bool(self.multiplier)

    @property
    def activation_multipliers(self) -> bool:
        """Multipliers nu_l on the hidden layers' ``a_l = h(z_l)`` as well, at some iteration
        (``lagrangian == "full"``, or ``"linear"`` with ``relu_multiplier_iters``)."""
        return self.relu_multipliers_at(0)

    def relu_multipliers_at(self, iteration: int) -> bool:
        """Whether iteration ``iteration`` (0-based) has the multipliers nu_l of ``a_l = h(z_l)``:
        always under ``full``; under ``linear`` for the first ``relu_multiplier_iters``."""
        if not self.multiplier:
            return False
        return self.lagrangian == "full" or (self.lagrangian == "linear" and iteration < self.relu_multiplier_iters)

    @property
    def steady_from(self) -> int:
        """The first iteration (0-based) from which every iteration has the same blocks: after the
        linear form's ReLU multipliers (``relu_multiplier_iters``), else 0."""
        return self.relu_multiplier_iters if self.lagrangian == "linear" and self.activation_multipliers else 0

    @property
    def multiplier_arrays(self) -> int:
        """Per-sample multiplier arrays each hidden unit holds at most: 2 under ``full`` (mu and nu)
        or ``linear`` with ``relu_multiplier_iters``, 1 under ``linear`` (mu), else 0 (for the
        cost model and the GPU memory check)."""
        return self.multiplier_arrays_at(0)

    def multiplier_arrays_at(self, iteration: int) -> int:
        """Per-sample multiplier arrays per hidden unit that iteration ``iteration`` reads and writes."""
        return int(self.hidden_multipliers) + int(self.relu_multipliers_at(iteration))

    @property
    def n_layers(self) -> int:
        """L: hidden layers plus the output layer."""
        return len(self.hidden) + 1

    def gammas(self) -> tuple[float, ...]:
        """gamma_1 .. gamma_{L-1} (gamma_1 times ``first_layer_penalty`` with two or more hidden layers)."""
        return self._stiffen_first(self.gamma * len(self.hidden) if len(self.gamma) == 1 else self.gamma)

    def betas(self) -> tuple[float, ...]:
        """beta_1 .. beta_L (beta_1 times ``first_layer_penalty`` with two or more hidden layers)."""
        return self._stiffen_first(self.beta * self.n_layers if len(self.beta) == 1 else self.beta)

    def _stiffen_first(self, values: tuple) -> tuple:
        if len(self.hidden) < 2 or self.first_layer_penalty == 1.0:
            return values
        return (values[0] * self.first_layer_penalty, *values[1:])

    def gram_ridge(self, d: int, n: int) -> float:
        """The relative ridge of a d x d Gram matrix summed over n samples (see ``weight_decay``)."""
        return float(self.ridge) + float(self.weight_decay) * d / max(int(n), 1)

    def penalties(self, iteration: int, scale=None) -> "Penalties":
        """gamma_l and beta_l in force at ``iteration`` (0-based) under the growth schedule, times the
        per-layer factors ``scale`` of residual balancing (hidden layer l's gamma and beta by
        ``scale[l]``, the output's beta by ``scale[-1]``)."""
        factor = float(self.penalty_growth) ** iteration if self.penalty_growth != 1.0 else 1.0
        cap = float(self.penalty_max)

        def grow(v):
            return v if factor == 1.0 else max(v, min(v * factor, cap))

        f = list(scale) if scale else [1.0] * self.n_layers
        return Penalties(tuple(grow(v) * f[l] for l, v in enumerate(self.gammas())),
                         tuple(grow(v) * f[l] for l, v in enumerate(self.betas())))

    @classmethod
    def from_preset(cls, name: str = "default", **overrides) -> "ADMMConfig":
        """A preset (``"paper"`` or ``"default"``) with some settings changed.

        The record's ``preset`` says ``name`` when nothing that defines the
        method was changed, ``name+changes`` otherwise.
        """
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}: use one of {', '.join(PRESETS)}")
        values = dict(PRESETS[name])
        changed = sorted(k for k, v in overrides.items() if k in values and v is not None and _norm(v) != _norm(values[k]))
        values.update({k: v for k, v in overrides.items() if v is not None})
        label = name if not changed else f"{name}+{','.join(changed)}"
        return cls(**values, preset=label)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["gamma"] = list(self.gamma)
        d["beta"] = list(self.beta)
        return d

    def replace(self, **changes) -> "ADMMConfig":
        return replace(self, **changes)


def _norm(v):
    if isinstance(v, (list, tuple)):
        return tuple(float(x) for x in v)
    return v


@dataclass(frozen=True)
class Penalties:
    gamma: Sequence[float]  # per hidden layer
    beta: Sequence[float]  # per layer
