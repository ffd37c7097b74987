"""The training loop of the gradient baselines, and the run's settings.

``train(dd, settings, backend, comm)`` trains ADMM's network (:mod:`baselines.mlp`)
on data already on the device (:func:`admm_xp.data.device.to_device`) and returns the
final parameters, the history and the final numbers of a run record.

Mini-batch methods (``sgd``, ``adam``): each epoch draws a seeded shuffle
(:mod:`baselines.batches`), gathers the rank's columns in that order once,
and takes one optimiser step per global mini-batch; under MPI every rank
computes its share of each global batch and one allreduce sums the
gradients (synchronous data parallelism, the same steps as one process).
One history entry per ``eval_every`` epochs.

Full-batch methods (``cg``, ``lbfgs``): one history entry per iteration; an
iteration is a line search, one or more evaluations of f and its gradient
over all samples (:class:`baselines.objective.Objective`, one allreduce each).

Budget: ``epochs`` counts passes over the training data for every method:
epochs of SGD/Adam, evaluations of f and its gradient for CG/L-BFGS (each
one full pass). A run also stops at ``max_time`` seconds of training, when
the test accuracy reaches ``target_acc``, or (CG, L-BFGS) at convergence or
when the line search finds no step.

Timing: ``time_s`` is the cumulative training time, the device synchronised
before every clock read; it includes the data shuffles, the first gradient
evaluation and the optimiser's own work, and excludes evaluation (the
training loss and accuracies written to the history), which is measured
separately as ``eval_s``, as in :mod:`admm_xp.train`.
"""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any

from admm_xp.errors import ConfigError, DivergenceError
from admm_xp.runtime.hostio import from_host, to_host
from admm_xp.data.device import targets_pm1

from . import adam, batches, cg, lbfgs, schedules, sgd
from .losses import LOSSES
from .mlp import Architecture, init_params
from .objective import Objective, default_block

METHODS = ("sgd", "adam", "cg", "lbfgs")
MINIBATCH = ("sgd", "adam")
# Used only when neither --lr nor a learning-rate search for the run's data and network is at hand:
# Kingma & Ba's default for Adam; for SGD with momentum 0.9 a common starting point.
FALLBACK_LR = {"sgd": 0.01, "adam": 0.001}
BATCH_SIZE = 128
SCHEDULE = {"sgd": "cosine", "adam": "constant"}
METHOD_OPTIONS = {"sgd": ("lr", "batch_size", "momentum", "nesterov", "schedule"),
                  "adam": ("lr", "batch_size", "schedule"), "cg": (), "lbfgs": ("history",)}
TIME_CHECK_STEPS = 64  # mini-batch steps between checks of --max-time


@dataclass
class Settings:
    """Everything that defines a baseline run (validated on creation; errors name the CLI option)."""

    method: str
    hidden: tuple = (300,)
    loss: str = "hinge"
    bias: bool = False
    l2: float = 0.0
    seed: int = 0
    dtype: str = "float64"
    lr: float | None = None
    batch_size: int = BATCH_SIZE
    momentum: float = sgd.MOMENTUM
    nesterov: bool = True
    schedule: str | None = None
    history: int = lbfgs.HISTORY
    epochs: int = 200
    max_time: float | None = None
    target_acc: float | None = None
    eval_every: int = 1
    block_size: int | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise ConfigError(f"unknown --method {self.method!r}: use one of {', '.join(METHODS)}")
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown --loss {self.loss!r}: use one of {', '.join(LOSSES)}")
        self.hidden = tuple(int(h) for h in self.hidden)
        if any(h < 1 for h in self.hidden):
            raise ConfigError(f"--hidden widths must be >= 1, got {list(self.hidden)}")
        _check_number(self.l2, "--l2", lambda v: v >= 0, ">= 0 (0 = no weight penalty)")
        _check_int(self.epochs, "--epochs", 0)
        _check_int(self.eval_every, "--eval-every", 1)
        if self.max_time is not None:
            _check_number(self.max_time, "--max-time", lambda v: v > 0, "> 0 seconds")
        if self.target_acc is not None:
            _check_number(self.target_acc, "--target-acc", lambda v: 0 < v <= 1, "a fraction in (0, 1], e.g. 0.64")
        if self.block_size is not None:
            _check_int(self.block_size, "--block-size", 1)
        if self.method in MINIBATCH:
            if self.lr is None:
                self.lr = FALLBACK_LR[self.method]
            _check_number(self.lr, "--lr", lambda v: v > 0, "> 0")
            _check_int(self.batch_size, "--batch-size", 1)
            _check_number(self.momentum, "--momentum", lambda v: 0 <= v < 1, "in [0, 1)")
            self.schedule = self.schedule or SCHEDULE[self.method]
            if self.schedule not in schedules.SCHEDULES:
                raise ConfigError(f"unknown --schedule {self.schedule!r}: use one of {', '.join(schedules.SCHEDULES)}")
        _check_int(self.history, "--history", 1)

    def to_dict(self) -> dict:
        """The settings that matter for this method (written to the run record's config)."""
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        for key in ("lr", "batch_size", "momentum", "nesterov", "schedule", "history"):
            if key not in METHOD_OPTIONS[self.method]:
                out.pop(key)
        if self.method == "adam":
            out.update(b1=adam.B1, b2=adam.B2, eps=adam.EPS)
        if self.method in ("cg", "lbfgs"):
            mod = cg if self.method == "cg" else lbfgs
            out.update(line_search="strong Wolfe (Nocedal & Wright Alg. 3.5/3.6)", c1=mod.C1, c2=mod.C2,
                       max_line_search_evals=lbfgs.MAX_LINE_SEARCH_EVALS, gtol=lbfgs.GTOL, ftol=lbfgs.FTOL)
        return out


def _check_number(value, option, ok, what):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{option} must be a number {what}, got {value!r}") from None
    if not (math.isfinite(v) and ok(v)):
        raise ConfigError(f"{option} must be {what}, got {value!r}")


def _check_int(value, option, low):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{option} must be an integer >= {low}, got {value!r}")


@dataclass
class TrainResult:
    theta: Any
    arch: Architecture
    history: list
    final: dict

    def host_weights(self, xp) -> list:
        """The W_l as NumPy arrays (the layout of :class:`admm_xp.model.Network`)."""
        return [to_host(w).copy() for w in self.arch.unflatten(self.theta, xp)]


def train(dd, settings: Settings, backend, comm, progress=None) -> TrainResult:
    """Train from the seeded He initialisation; every rank returns the same parameters and history.

    A non-finite training objective raises :class:`~admm_xp.errors.DivergenceError`
    (one line, exit code 3 on the command line); the floating-point warnings
    NumPy would print on the way there are silenced.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _train(dd, settings, backend, comm, progress)


def _train(dd, settings, backend, comm, progress):
    xp = backend.xp
    dtype = backend.dtype(settings.dtype)
    arch = Architecture((dd.X.shape[0], *settings.hidden, dd.n_outputs), settings.bias)
    block = settings.block_size or default_block(backend)
    obj = Objective(arch, dd.X, dd.S, dd.n_train, settings.loss, settings.l2, xp, comm, block)
    S_test = targets_pm1(dd.y_test, dd.n_classes, xp, dtype)
    run = _Run(settings, backend, comm, obj, dd, S_test, progress)
    theta = init_params(arch, settings.seed, xp, dtype, backend.device)
    run.record(0, theta, {"passes": 0}, evaluate=True)
    if settings.method in MINIBATCH:
        theta = _train_minibatch(run, theta, dd)
    else:
        theta = _train_full_batch(run, theta)
    return TrainResult(theta=theta, arch=arch, history=run.history, final=run.final())


class _Run:
    """Clock, history, evaluation and stopping rules shared by both loops."""

    def __init__(self, settings, backend, comm, obj, dd, S_test, progress):
        self.s, self.backend, self.comm, self.obj, self.dd, self.S_test = settings, backend, comm, obj, dd, S_test
        self.progress = progress
        self.history: list = []
        self.elapsed = 0.0
        self.eval_s = 0.0
        self.stop_reason = "epochs"
        self.stop_detail = ""
        self.best = 0.0
        self.t_wall = time.perf_counter()

    @contextlib.contextmanager
    def clock(self):
        """Adds the enclosed training work to ``elapsed`` (device synchronised at both ends)."""
        self.backend.synchronize()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.backend.synchronize()
            self.elapsed += time.perf_counter() - t0

    def time_left(self, t0: float) -> bool:
        """Whether --max-time still allows work, counting the open interval since ``t0`` (synchronised)."""
        if self.s.max_time is None:
            return True
        self.backend.synchronize()
        return self.agreed_elapsed(time.perf_counter() - t0) < self.s.max_time

    def agreed_elapsed(self, extra: float = 0.0) -> float:
        """Training seconds so far (plus ``extra``), the largest over ranks: every rank takes the same
        --max-time decision at the same step (a collective: called at the same point on every rank)."""
        t = self.elapsed + extra
        return self.comm.allreduce_max(t) if self.comm.size > 1 else t

    def record(self, it: int, theta, entry: dict, evaluate: bool) -> dict:
        entry = {"iter": it, "time_s": self.elapsed, **entry}
        if evaluate:
            t0 = time.perf_counter()
            entry.update(self.evaluate(theta))
            self.eval_s += time.perf_counter() - t0
            self.best = max(self.best, entry["test_acc"])
        value = entry.get("objective")
        if value is not None and not math.isfinite(value):
            hint = "lower --lr" if self.s.method in MINIBATCH else "add --l2 or use --dtype float64"
            raise DivergenceError(f"{self.s.method}: the training objective became {value} at iteration {it}; {hint}")
        self.history.append(entry)
        if self.progress is not None and it > 0:
            acc = f" test {entry['test_acc']:.4f}" if "test_acc" in entry else ""
            # The bar counts --epochs: epochs of SGD/Adam, evaluations of f and its gradient for CG/L-BFGS
            # (an iteration takes one or more of them in its line search).
            unit = "epochs," if self.s.method in MINIBATCH else f"evaluations, iteration {it}"
            self.progress.update(math.ceil(entry["passes"]), f"{unit} objective {entry['objective']:.4g}{acc} "
                                                            f"{self.elapsed:.1f} s")
        return entry

    def evaluate(self, theta) -> dict:
        """Training objective and loss, train and test accuracy, test loss (all ranks: one reduction)."""
        dd, obj = self.dd, self.obj
        tl, tc = obj.local_metrics(theta, dd.X, dd.S, dd.y)
        vl, vc = obj.local_metrics(theta, dd.X_test, self.S_test, dd.y_test)
        tl, tc, vl, vc = self.comm.allreduce_scalars([tl, tc, vl, vc])
        loss = tl / dd.n_train
        return {"objective": loss + obj.penalty(theta), "loss": loss, "train_acc": tc / dd.n_train,
                "test_acc": vc / dd.n_test, "test_loss": vl / dd.n_test}

    def should_stop(self, entry: dict) -> bool:
        if self.s.target_acc is not None and entry.get("test_acc", 0.0) >= self.s.target_acc:
            self.stop_reason = "target"
            return True
        if self.s.max_time is not None and self.agreed_elapsed() >= self.s.max_time:
            self.stop_reason = "max_time"
            return True
        return False

    def final(self) -> dict:
        last = self.history[-1]
        target = self.s.target_acc
        return {
            "iters": last["iter"],
            "test_acc": last.get("test_acc"),
            "train_acc": last.get("train_acc"),
            "best_test_acc": self.best,
            "objective": last.get("objective"),
            "train_s": self.elapsed,
            "eval_s": self.eval_s,
            "wall_s": time.perf_counter() - self.t_wall,
            "stop_reason": self.stop_reason,
            "stop_detail": self.stop_detail,
            "time_to_target_s": next((h["time_s"] for h in self.history
                                      if target is not None and h.get("test_acc", 0.0) >= target), None),
            "passes": last.get("passes") if self.s.method in MINIBATCH else self.obj.evals,
        }


@contextlib.contextmanager
def _single_threaded_blas(backend):
    """NumPy: small mini-batch products run far faster on one BLAS thread than on several."""
    if backend.name != "numpy":
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield


def _train_minibatch(run: _Run, theta, dd):
    s, xp, obj = run.s, run.backend.xp, run.obj
    opt = sgd if s.method == "sgd" else adam
    hyper = {"momentum": s.momentum, "nesterov": s.nesterov} if s.method == "sgd" else {}
    sizes = batches.batch_sizes(dd.n_train, s.batch_size)
    total = s.epochs * len(sizes)
    state = opt.init(theta)
    step = 0
    with _single_threaded_blas(run.backend):
        for epoch in range(1, s.epochs + 1):
            stopped = False
            with run.clock():
                t0 = time.perf_counter()
                order, counts = batches.epoch_order(s.seed, epoch, dd.n_train, dd.offset, dd.X.shape[1], s.batch_size)
                idx = from_host(order, xp, run.backend.device)
                X, S = xp.take(dd.X, idx, axis=1), xp.take(dd.S, idx, axis=1)
                start = 0
                for k, (count, size) in enumerate(zip(counts, sizes)):
                    g = obj.batch_gradient(theta, X[:, start : start + count], S[:, start : start + count], size)
                    lr = schedules.learning_rate(s.schedule, s.lr, step, total)
                    theta, state = opt.update(g, state, theta, lr=lr, **hyper)
                    start += count
                    step += 1
                    if (k + 1) % TIME_CHECK_STEPS == 0 and not run.time_left(t0):
                        stopped = True
                        break
            out_of_time = stopped or (s.max_time is not None and run.agreed_elapsed() >= s.max_time)
            if epoch % s.eval_every == 0 or epoch == s.epochs or out_of_time:
                entry = run.record(epoch, theta, {"passes": step / len(sizes), "steps": step, "lr": lr}, evaluate=True)
                if run.should_stop(entry):
                    break
    return theta


def _train_full_batch(run: _Run, theta):
    s, xp, obj = run.s, run.backend.xp, run.obj
    if s.epochs == 0:
        return theta
    with run.clock():
        state = lbfgs.init(obj, theta) if s.method == "lbfgs" else cg.init(obj, theta, xp)
    if not math.isfinite(state.f):
        raise DivergenceError(f"{s.method}: the initial training objective is {state.f}; check the data or use --dtype float64")
    it = 0
    while True:
        budget = s.epochs - obj.evals
        if budget <= 0:
            break
        with run.clock():
            if s.method == "lbfgs":
                state, info = lbfgs.step(state, obj, xp, history=s.history, max_evals=min(budget, lbfgs.MAX_LINE_SEARCH_EVALS))
            else:
                state, info = cg.step(state, obj, xp, max_evals=min(budget, lbfgs.MAX_LINE_SEARCH_EVALS))
        if info.alpha > 0.0:
            it += 1
        ending = info.status != "continue" or obj.evals >= s.epochs
        entry = {"objective": state.f, "passes": obj.evals, "step": info.alpha, "wolfe": info.wolfe}
        if info.alpha > 0.0:
            entry = run.record(it, state.theta, entry, evaluate=it % s.eval_every == 0 or ending)
            if run.should_stop(entry):
                break
        if info.status == "converged" or (info.status == "failed" and obj.evals < s.epochs):
            run.stop_reason = "converged" if info.status == "converged" else "line_search_failed"
            run.stop_detail = info.message
            break
    if "test_acc" not in run.history[-1]:
        t0 = time.perf_counter()
        run.history[-1].update(run.evaluate(state.theta))
        run.eval_s += time.perf_counter() - t0
        run.best = max(run.best, run.history[-1]["test_acc"])
    return state.theta
