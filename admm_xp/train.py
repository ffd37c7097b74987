"""The training loop around :func:`admm_xp.solver.iteration.admm_iteration`.

It moves a data set to the device once, initialises the state, runs
iterations (the first ``warm_start`` without multiplier updates), and after
each one gathers the objective's parts (a by-product of the iteration) and,
every ``eval_every`` iterations, the train and test accuracy of the
feed-forward network, all summed over ranks in one reduction. It stops at
``iters`` or when the test accuracy reaches ``target_acc``, and raises
:class:`~admm_xp.errors.DivergenceError` on non-finite or exploding iterates.

Times: ``time_s`` in the history is the cumulative time of the iterations
alone (the device synchronised before each clock read); evaluation time is
reported separately (``eval_s``), as for the baselines, so accuracy-against-
time curves of different methods compare training work only.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

from .data.device import DeviceData
from .errors import ConfigError, DivergenceError
from .kernels import kernels_for
from .layerwise import train_layerwise
from .nn import layer_widths
from .runrecord import first_reached
from .runtime.comm import LocalComm
from .runtime.gpu import peak_memory_bytes
from .solver import objective
from .solver.anderson import AndersonState
from .solver.iteration import accelerated_iteration
from .solver.state import init_state, make_problem

BLOWUP = 1e12  # |objective| beyond BLOWUP * (1 + |objective after iteration 1|) counts as divergence


@dataclass
class RunOptions:
    """How long to run and what to measure (not part of the solver's configuration)."""

    iters: int = 100
    target_acc: float | None = None
    eval_every: int = 1
    max_time: float | None = None
    kernels: str = "auto"
    progress: bool = True

    def __post_init__(self):
        if not isinstance(self.iters, int) or self.iters < 0:
            raise ConfigError(f"--iters must be an integer >= 0, got {self.iters!r}")
        if self.target_acc is not None and not (0.0 < float(self.target_acc) <= 1.0):
            raise ConfigError(f"--target-acc must be a fraction in (0, 1], got {self.target_acc!r} (e.g. 0.64)")
        if not isinstance(self.eval_every, int) or self.eval_every < 1:
            raise ConfigError(f"--eval-every must be an integer >= 1, got {self.eval_every!r}")
        if self.max_time is not None and not (float(self.max_time) > 0):
            raise ConfigError(f"--max-time must be > 0 seconds, got {self.max_time!r}")


@dataclass
class TrainResult:
    state: Any
    history: list
    final: dict
    widths: tuple
    problem: Any = None
    stop_reason: str = ""


def evaluate(state, dd: DeviceData, sums_flat, cfg, comm, xp, pen, with_accuracy: bool, ops=None) -> dict:
    """Reduce one iteration's sums (and accuracy counts) over ranks: the history entry."""
    n_hidden = state.n_layers - 1
    values = [float(v) for v in sums_flat]
    if with_accuracy:
        values.append(float(objective.count_correct(state.W, dd.X, dd.y, cfg.bias, xp, ops)))
        values.append(float(objective.count_correct(state.W, dd.X_test, dd.y_test, cfg.bias, xp, ops)))
    reduced = comm.allreduce_scalars(values)
    entry = objective.combine(reduced[: 4 * n_hidden + 3], pen, n_hidden)
    entry["parts_by_layer"] = {
        "activation": reduced[:n_hidden], "preactivation": reduced[n_hidden : 2 * n_hidden], "output": reduced[2 * n_hidden + 2],
    }
    if with_accuracy:
        entry["train_acc"] = reduced[-2] / dd.n_train
        entry["test_acc"] = reduced[-1] / dd.n_test
    return entry


def residuals(entry: dict, sums) -> dict:
    """Every layer's residual norms after an iteration (all ranks): ``primal`` ||z_l - W_l a_{l-1}||
    (l = 1..L), ``activation`` ||a_l - h(z_l)|| (hidden layers) and ``dual`` 2 beta_l ||dW_l a_{l-1}||."""
    parts = entry["parts_by_layer"]
    primal = [max(float(v), 0.0) ** 0.5 for v in (*parts["preactivation"], parts["output"])]
    return {"primal": primal, "activation": [max(float(v), 0.0) ** 0.5 for v in parts["activation"]],
            "dual": [float(v) for v in sums.dual]}


def accuracy(state, dd: DeviceData, cfg, comm, xp, ops=None) -> dict:
    """Train and test accuracy of the feed-forward network with the current weights (all ranks)."""
    right = comm.allreduce_scalars([
        float(objective.count_correct(state.W, dd.X, dd.y, cfg.bias, xp, ops)),
        float(objective.count_correct(state.W, dd.X_test, dd.y_test, cfg.bias, xp, ops)),
    ])
    return {"train_acc": right[0] / dd.n_train, "test_acc": right[1] / dd.n_test}


def check_finite(entry: dict, iteration: int, first_objective: float | None, dtype: str) -> None:
    """Raise DivergenceError naming the layer and iteration when the objective is non-finite or explodes."""
    parts = entry["parts_by_layer"]
    hint = "try larger --gamma/--beta" + (", --dtype float64" if dtype == "float32" else "") + " or fewer --warm-start iterations"
    for name, values in (("activation", parts["activation"]), ("preactivation", parts["preactivation"])):
        for l, v in enumerate(values):
            if not math.isfinite(v):
                raise DivergenceError(f"iteration {iteration}: the {name} residual of layer {l + 1} is not finite (NaN or inf); {hint}")
    for key in ("loss", "multiplier", "objective"):
        if not math.isfinite(entry[key]):
            raise DivergenceError(f"iteration {iteration}: the output layer's {key} is not finite (NaN or inf); {hint}")
    if first_objective is not None and abs(entry["objective"]) > BLOWUP * (1.0 + abs(first_objective)):
        raise DivergenceError(f"iteration {iteration}: the objective blew up to {entry['objective']:.3g}; {hint}")


def train_admm(
    dd: DeviceData,
    cfg,
    backend,
    comm=None,
    opts: RunOptions | None = None,
    *,
    state=None,
    history: list | None = None,
    elapsed: float = 0.0,
    on_iteration: Callable | None = None,
    restore: Callable | None = None,
    progress=None,
) -> TrainResult:
    """Train from scratch (or continue ``state``); returns the state, history and final numbers.

    ``on_iteration(state, problem, history, elapsed)`` runs after every iteration on
    every rank (checkpoints and signal handling hook in here); it may return
    "stop". ``restore(problem)`` returns a saved ``(state, history, elapsed)``
    to continue from (:class:`admm_xp.checkpoint.Resume`).
    """
    comm = comm or LocalComm()
    opts = opts or RunOptions()
    xp = backend.xp
    if cfg.trains_layerwise:
        if state is not None:
            raise ConfigError("a --layerwise run continues from a checkpoint (restore), not from a state")
        return train_layerwise(train_admm, TrainResult, dd, cfg, backend, comm, opts, on_iteration=on_iteration,
                               progress=progress, restore=restore)
    cfg = cfg.resolved()  # callers that have not resolved the default's Lagrangian
    widths = layer_widths(dd.X.shape[0], cfg.hidden, dd.n_outputs)
    t_setup = time.perf_counter()
    ops = kernels_for(xp, opts.kernels)
    t_warm = time.perf_counter()
    ops.warmup(dd.X.dtype)
    backend.synchronize()
    warmup_s = time.perf_counter() - t_warm
    prob = make_problem(dd.X, dd.S, dd.offset, dd.n_train, cfg, xp, comm)
    history = list(history or [])
    if restore is not None:
        state, history, elapsed = restore(prob)
        history = list(history)
    if state is None:
        state = init_state(prob, widths, cfg, xp, comm, block=max(1 << 15, cfg.block_size))
        entry = evaluate(state, dd, objective.objective_parts(state, prob, cfg, xp).flat(), cfg, comm, xp, cfg.penalties(0), True, ops)
        entry.update(iter=0, time_s=0.0, iter_s=0.0)
        history = [entry]
    backend.synchronize()
    setup_s = time.perf_counter() - t_setup
    first_obj = next((h["objective"] for h in history if h.get("iter") == 1), None)
    best = max((h.get("test_acc", 0.0) or 0.0 for h in history), default=0.0)
    stop_reason = "iters"
    eval_s = 0.0
    accel = AndersonState(cfg.anderson) if cfg.anderson else None  # (a resumed run starts with an empty memory)
    t_wall = time.perf_counter()
    while state.iteration < opts.iters:
        it = state.iteration
        pen = cfg.penalties(it, state.penalty_scale)
        backend.synchronize()
        comm0 = getattr(comm, "comm_time", 0.0)
        t0 = time.perf_counter()
        with ops.iteration_context():
            sums = accelerated_iteration(state, prob, cfg, xp, comm, ops, accel, update_multiplier=it >= cfg.warm_start)
        backend.synchronize()
        dt = time.perf_counter() - t0
        comm_dt = getattr(comm, "comm_time", 0.0) - comm0
        elapsed += dt
        t1 = time.perf_counter()
        with_acc = state.iteration % opts.eval_every == 0 or state.iteration == opts.iters
        entry = evaluate(state, dd, sums.flat(), cfg, comm, xp, pen, with_acc, ops)
        eval_s += time.perf_counter() - t1
        entry.update(iter=state.iteration, time_s=elapsed, iter_s=dt, comm_s=comm_dt)
        entry["residuals"] = residuals(entry, sums)
        if cfg.penalty_growth != 1.0 or cfg.residual_balancing:
            entry["gamma"], entry["beta"] = list(pen.gamma), list(pen.beta)
        if first_obj is None:
            first_obj = entry["objective"]
        check_finite(entry, state.iteration, first_obj, cfg.dtype)
        history.append(entry)
        if "test_acc" in entry:
            best = max(best, entry["test_acc"])
        if progress is not None:
            acc = f" test {entry['test_acc']:.4f}" if "test_acc" in entry else ""
            progress.update(state.iteration, f"obj {entry['objective']:.4g}{acc} {dt:.3f} s/it")
        if on_iteration is not None and on_iteration(state, prob, history, elapsed) == "stop":
            stop_reason = "stopped"
            break
        if opts.target_acc is not None and entry.get("test_acc", 0.0) >= opts.target_acc:
            stop_reason = "target"
            break
        # The slowest rank's clock decides, so that every rank stops after the same iteration.
        if opts.max_time is not None and (comm.allreduce_max(elapsed) if comm.size > 1 else elapsed) >= opts.max_time:
            stop_reason = "max_time"
            break
    if "test_acc" not in history[-1]:  # stopped between evaluations: measure the final weights
        history[-1].update(accuracy(state, dd, cfg, comm, xp, ops))
        best = max(best, history[-1]["test_acc"])
    last_acc = history[-1]
    final = {
        "iters": state.iteration,
        "test_acc": last_acc.get("test_acc"),
        "train_acc": last_acc.get("train_acc"),
        "best_test_acc": best,
        "objective": history[-1]["objective"],
        "train_s": elapsed,
        "eval_s": eval_s,
        "setup_s": setup_s,
        "warmup_s": warmup_s,
        "wall_s": setup_s + (time.perf_counter() - t_wall),
        "stop_reason": stop_reason,
        "time_to_target_s": (first_reached(history, opts.target_acc) or {}).get("time_s"),
    }
    peak = peak_memory_bytes(backend)
    if peak is not None:
        final["peak_device_memory_bytes"] = peak
    return TrainResult(state=state, history=history, final=final, widths=widths, problem=prob, stop_reason=stop_reason)

