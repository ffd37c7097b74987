"""Greedy layer-wise ADMM (``layerwise`` of :class:`admm_xp.solver.config.ADMMConfig`).

A network of H >= 2 hidden layers trains one hidden layer at a time (greedy layer-wise training:
Bengio, Lamblin, Popovici and Larochelle, NeurIPS 2006; Belilovsky, Eickenberg and Oyallon, ICML
2019). Stage s (s = 1..H) is a one-hidden-layer ADMM run, Algorithm 1 unchanged, on the features
``F_s = h(W_{s-1} ... h(W_1 X))`` of the layers already trained (F_1 = X): hidden layer s under
a temporary output layer for ``layerwise`` iterations, then W_s is kept and the next stage starts;
the last stage trains hidden layer H with the network's own output layer for the iterations
that are left. A stage after the first centres its first layer (``W_s mean(F_s) = 0``,
``center_input``): its input is non-negative, and without the centring ADMM shifts every unit
positive, as the deeper layers' ``center_layers`` prevents when the network trains at once. The
network at the end is the plain feed-forward network ``W_1, ..., W_H, W_out`` (no biases).

Every stage's history entries count iterations and training time from the start of the run and
name their ``stage``. The accuracies of a stage before the last are those of its temporary network
(its hidden layers so far under its temporary output layer), so they are kept as ``stage_train_acc``
and ``stage_test_acc``: ``train_acc``, ``test_acc``, the best accuracy and the time to a target are
the whole network's, from the last stage on.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from . import nn
from .errors import ConfigError
from .runrecord import first_reached


@dataclass
class Stage:
    """What a stage's state carries for checkpoints (``ADMMState.stage``): its index (0-based), the run's
    iterations before it (``offset``), where every stage ends, the weights of the layers below it, and
    the run's history and training time before it."""

    index: int
    offset: int
    ends: list
    frozen: list
    history: list
    elapsed: float


def stage_config(cfg, s: int):
    """The one-hidden-layer configuration of stage ``s`` (0-based): hidden layer s's width, gamma and
    beta (one value, or the per-layer values' entries for that layer and the output), its input
    centred after the first stage."""
    H = len(cfg.hidden)
    gamma = cfg.gamma if len(cfg.gamma) == 1 else (cfg.gamma[s],)
    beta = cfg.beta if len(cfg.beta) == 1 else (cfg.beta[s], cfg.beta[H])
    return replace(cfg, hidden=(cfg.hidden[s],), gamma=gamma, beta=beta, layerwise=0, center_input=s > 0).resolved()


def stage_ends(cfg, iters: int) -> list[int]:
    """The iteration (counted from the start of the run) at which each stage ends: every stage but the
    last takes ``layerwise`` iterations, or ``iters // H`` where ``iters`` is shorter than that."""
    H = len(cfg.hidden)
    k = min(int(cfg.layerwise), iters // H)
    return [(s + 1) * k for s in range(H - 1)] + [iters]


class _Shifted:
    """A progress display seen by one stage: its iterations counted from the start of the run, each line
    marked with the stage."""

    def __init__(self, progress, offset: int, mark: str = ""):
        self.progress, self.offset, self.mark = progress, offset, mark

    def update(self, step: int, text: str, force: bool = False) -> None:
        self.progress.update(step + self.offset, f"{self.mark}{text}", force)


def train_layerwise(run_stage, result_type, dd, cfg, backend, comm, opts, *, on_iteration=None, progress=None,
                    restore=None):
    """Train ``cfg.hidden`` greedily (see the module's docstring); ``run_stage`` is
    :func:`admm_xp.train.train_admm`. Returns its :class:`~admm_xp.train.TrainResult` for the whole
    network: the state's weights are every layer's, its iteration count the run's; ``final``
    names the ``stages`` that ran, and its best test accuracy is the last stage's. ``progress`` (a
    :class:`admm_xp.progress.Progress` or alike) takes ``update(step, text, force)`` and ``message(text)``.

    ``restore`` continues from a checkpoint (:class:`admm_xp.checkpoint.Resume`): ``restore.stage()``
    gives the stage it was written in (the layers below it and the run before it), ``restore(prob,
    stage_cfg)`` that stage's state. A resumed run keeps the stage lengths of the run that started it."""
    xp = backend.xp
    frozen, history, start, first = [], [], 0, 0
    totals = {"train_s": 0.0, "eval_s": 0.0, "setup_s": 0.0, "warmup_s": 0.0, "wall_s": 0.0}
    ends = stage_ends(cfg, opts.iters)
    if restore is not None:
        saved = restore.stage()
        if saved is None:
            raise ConfigError("the checkpoint was not written by a layer-wise run; resume without --layerwise")
        first, start, frozen = int(saved["index"]), int(saved["offset"]), list(saved["frozen"])
        ends = [int(e) for e in saved["ends"][:-1]] + [opts.iters]
        history, totals["train_s"] = list(saved["history_before"]), float(saved["elapsed_before"])
    F, F_test = dd.X, dd.X_test
    for W in frozen:
        F, F_test = _features(W, F, cfg, xp), _features(W, F_test, cfg, xp)
    for s in range(first, len(ends)):
        last = s == len(ends) - 1
        scfg = stage_config(cfg, s)
        left = None if opts.max_time is None else max(opts.max_time - totals["train_s"], 1e-9)
        sopts = replace(opts, iters=max(ends[s] - start, 0), target_acc=opts.target_acc if last else None, max_time=left)
        info = Stage(index=s, offset=start, ends=list(ends), frozen=list(frozen), history=list(history),
                     elapsed=totals["train_s"])

        def hook(state, prob, hist, t, _info=info):
            state.stage = _info  # so that a checkpoint written now knows the stage
            return None if on_iteration is None else on_iteration(state, prob, hist, t)

        resume = (lambda prob, _scfg=scfg: restore(prob, _scfg)) if restore is not None and s == first else None
        shown = None
        if progress is not None:
            H = len(ends)
            progress.message(f"layer-wise stage {s + 1}/{H}, iterations {start + 1}-{ends[s]}: hidden layer {s + 1} "
                             + ("with the network's output layer" if last else
                                "under a temporary output layer (the accuracies shown are that network's)"))
            shown = _Shifted(progress, start, f"stage {s + 1}/{H} ")
        res = run_stage(replace(dd, X=F, X_test=F_test), scfg, backend, comm, sopts, on_iteration=hook,
                        progress=shown, restore=resume)
        for h in res.history:
            if h.get("iter") == 0 and s > 0:
                continue  # a later stage's starting point is not an iteration of the run
            history.append(dict(h, iter=h["iter"] + start, time_s=h.get("time_s", 0.0) + totals["train_s"], stage=s + 1))
        for key in totals:
            totals[key] += float(res.final.get(key) or 0.0)  # (a resumed stage's train_s includes its time before)
        start += res.state.iteration
        if last or res.stop_reason in ("stopped", "max_time"):
            break
        W = res.state.W[0]
        frozen.append(W)
        F, F_test = _features(W, F, cfg, xp), _features(W, F_test, cfg, xp)
    state = res.state
    state.W = frozen + list(state.W)
    state.iteration, state.stage = start, None
    stage = len(frozen) + 1
    for h in history:  # an earlier stage's accuracies are its temporary network's, not the run's network's
        if h["stage"] != stage:
            for key in ("train_acc", "test_acc"):
                if key in h:
                    h[f"stage_{key}"] = h.pop(key)
    own = [h["test_acc"] for h in history if h.get("test_acc") is not None]
    final = dict(res.final, iters=start, stages=stage, best_test_acc=max(own, default=res.final.get("best_test_acc")),
                 time_to_target_s=(first_reached(history, opts.target_acc) or {}).get("time_s"), **totals)
    widths = (dd.X.shape[0], *(int(w.shape[0]) for w in state.W))
    return result_type(state=state, history=history, final=final, widths=widths, problem=res.problem,
                       stop_reason=res.stop_reason)


def _features(W, a, cfg, xp):
    """h(W a): the input of the next stage."""
    return nn.relu(nn.affine(W, a, cfg.bias, xp), xp)
