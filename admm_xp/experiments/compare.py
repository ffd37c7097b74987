"""``admm-xp compare``: ADMM against the gradient methods and a linear model on any data set, in one command.

What it does is in ``DESCRIPTION`` below (also its ``--help`` page); the curves, times to a target and the
plot come from :mod:`admm_xp.experiments.curves`, which ``admm-xp reproduce`` shares.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import shlex
import sys
import time

from ..errors import ConfigError, DivergenceError
from .curves import THIN_PER_DECADE, curves, plot_curves, subtitle, summarise, thin

DESCRIPTION = """\
Compare ADMM with the gradient methods and a logistic regression on one data set, with settings chosen
fairly and the same training-time budget for every method:

  admm        ADMM, default preset; search: gamma = beta, weight decay, lagrangian augmented | full | linear,
              and with two or more hidden layers one hidden layer at a time (layer-wise 30) | the whole network
  admm-paper  ADMM, Taylor et al.'s method exactly (--preset paper); no search
  sgd, adam   the same network by mini-batch SGD / Adam; search: learning rate x L2 (`baseline-tune`'s grid)
  cg, lbfgs   the same network by nonlinear CG / L-BFGS; search: L2 (`baseline-tune`'s grid)
  logreg      logistic regression (no hidden layer, a bias, L-BFGS); search: L2

1. Settings. Every method's search trains each point of its grid on the training split minus a seeded
   20% of its rows, and scores it by the mean accuracy on those validation rows over the last 5 of its
   evaluations (the rule of `baseline-tune`); the best point wins (ties: the first). The test split is
   never read while choosing. Each point trains for the same number of passes (ADMM iterations, epochs,
   or evaluations of f and its gradient): --tune-passes N, or else as many as --tune-budget seconds
   allow for the whole grid, measured on short runs of its first and last points, rounded down (to 1..9,
   or 1, 1.5, 2, 3, 5 or 7 times a power of ten), and at most the passes the final run is expected to make.
2. Runs. Each method then trains once on the whole training split for --budget seconds of training
   (evaluation excluded, as in every run record), evaluated on the test split after every iteration or
   epoch. SGD's cosine schedule spans the epochs expected to fit in the budget.
3. Output in --out DIR: every run record (<method>.json) and search record (search/<method>.json);
   compare.md and compare.csv (per method: the settings chosen, best and final test accuracy, training
   time, time to --target or, without one, to 0.99 of the best accuracy any method reached); compare.png
   (test accuracy against training time, log time axis); compare.json (the table as a record).

A second call with the same --out skips the methods whose records are there (and reuses finished
searches); --force runs them again. Ctrl-C stops at the end of the current iteration or epoch, keeps
what is finished and says how to continue. Under --ranks P every method runs data parallel on P MPI
ranks; with --tune-passes the chosen settings do not depend on P (ADMM's iterates do not, and the
baselines take the same steps)."""

METHODS = ("admm", "admm-paper", "sgd", "adam", "cg", "lbfgs", "logreg")
BASELINES = ("sgd", "adam", "cg", "lbfgs")
VALIDATION = 0.2  # the fraction of the training rows that scores the searches
# ADMM's grid: the penalties (gamma = beta, one value for every layer), the weight decay and where the
# multipliers enter (admm_xp.solver.config: augmented = output multiplier, full = every constraint,
# linear = every linear constraint).
ADMM_GRID = {"gamma_beta": (0.3, 1.0, 3.0), "weight_decay": (0.1, 1.0), "lagrangian": ("augmented", "full", "linear")}
# and, for two or more hidden layers: the default's layer-wise training (iterations per lower stage) or the whole network
ADMM_DEEP_GRID = {"layerwise": (30, 0)}
LOGREG_GRID = {"l2": (0.0, 1e-4, 1e-3, 1e-2)}
NEAR_BEST = 0.99  # without --target: the time to this fraction of the best test accuracy any method reached
CALIBRATION_PASSES = 3  # the short first run that measures seconds per pass
MAX_SEARCH_PASSES = 500
FOREVER = 10**7  # iterations / epochs of a run that the time budget ends
SGD_FILL = 0.9  # SGD's schedule spans this share of the epochs expected to fit in the budget


class Stopped(Exception):
    """SIGINT / SIGTERM seen by some rank (raised on every rank at the same iteration)."""


# Options --------------------------------------------------------------------------------------

def register(sub) -> None:
    from ..cli.options import RawDefaultsHelpFormatter, add_data_options, add_device_options, add_network_options

    p = sub.add_parser("compare", help="ADMM against SGD, Adam, CG, L-BFGS and logistic regression on one data set: "
                                       "settings chosen on validation rows, the same time budget, table and figure",
                       description=DESCRIPTION, formatter_class=RawDefaultsHelpFormatter)
    add_data_options(p)
    add_network_options(p)
    g = p.add_argument_group("comparison")
    g.add_argument("--methods", default=",".join(METHODS), metavar="M[,M...]",
                   help=f"comma-separated, from {', '.join(METHODS)} (default: all)")
    g.add_argument("--budget", type=float, default=60.0, metavar="SECONDS",
                   help="training seconds of each method's run on the whole training split (default 60)")
    g.add_argument("--tune-budget", type=float, default=60.0, metavar="SECONDS",
                   help="training seconds of each method's search on the validation rows (default 60)")
    g.add_argument("--tune-passes", type=int, default=None, metavar="N",
                   help="passes per search point (ADMM iterations, epochs, evaluations) instead of --tune-budget's: "
                        "the same choice on any machine and rank count")
    g.add_argument("--target", type=float, default=None, metavar="ACC",
                   help=f"test accuracy whose time the table gives (default: {NEAR_BEST} of the best any method reached)")
    g.add_argument("--out", required=True, metavar="DIR", help="folder for the records, compare.md/.csv/.png/.json")
    g.add_argument("--force", action="store_true", help="run every method again, replacing its records in --out")
    g.add_argument("--quiet", action="store_true", help="no progress lines (default: on stderr)")
    add_device_options(p)
    p.set_defaults(func=cmd_compare)


def parse_methods(text: str) -> list:
    names = list(dict.fromkeys(t.strip() for t in str(text).split(",") if t.strip()))
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise ConfigError(f"--methods: unknown method(s) {', '.join(unknown)}; use {', '.join(METHODS)}")
    if not names:
        raise ConfigError(f"--methods names no method; use one or more of {', '.join(METHODS)}")
    return names


def check_args(args) -> dict:
    """Every option checked before any work; returns the parsed values."""
    from ..cli.options import (check_accuracy, check_dataset, check_min, check_output_dir, check_positive,
                               parse_widths)

    methods = parse_methods(args.methods)
    check_positive(args.budget, "--budget", " (seconds of training per method)")
    check_positive(args.tune_budget, "--tune-budget", " (seconds of training per method's search)")
    check_min(args.tune_passes, "--tune-passes")
    check_accuracy(args.target, "--target")
    check_min(args.n_train, "--n-train", hint=" (leave it out to use every training row)")
    check_min(args.seed, "--seed", minimum=0)
    hidden = parse_widths(args.hidden)
    check_dataset(args.dataset, args.data_dir)
    if args.test_path:
        from ..data import NAMED

        if args.dataset in NAMED:
            raise ConfigError(f"--test applies to a --dataset file; {args.dataset} has its own test split")
        if not os.path.isfile(args.test_path):
            raise ConfigError(f"--test {args.test_path}: no such file; give an existing .csv/.npz file")
    check_output_dir(args.out, "--out")
    if os.path.isfile(args.out):
        raise ConfigError(f"--out {args.out}: is a file; give a folder")
    dtype = args.dtype or ("float32" if str(args.device).startswith("cuda") else "float64")
    return {"methods": methods, "hidden": hidden, "dtype": dtype}


# Resumption -----------------------------------------------------------------------------------

def fingerprint(args, ds, hidden, dtype, ranks) -> dict:
    """What the records in --out must share with this call to be reused: data, network, device, budgets."""
    from ..checkpoint import data_fingerprint

    fp = data_fingerprint(ds)
    fp.pop("mean"), fp.pop("scale")
    return {"dataset": args.dataset, "test": args.test_path, "n_train": args.n_train, "n_test": args.n_test,
            "label_col": args.label_col, "test_fraction": args.test_fraction, "standardize": args.standardize,
            "data": fp, "hidden": list(hidden), "seed": args.seed, "device": args.device, "dtype": dtype,
            "ranks": ranks, "budget": args.budget, "tune_budget": args.tune_budget, "tune_passes": args.tune_passes,
            "validation": VALIDATION}


def _read_json(path: str):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _differences(saved: dict, now: dict) -> list:
    return [f"{k} {saved.get(k)!r} there, {now[k]!r} here" for k in now if saved.get(k) != now[k]]


def reusable(path: str, fp: dict, force: bool):
    """A record in --out this call may reuse (None: there is none, or --force). A record made with other
    options, or a file there that is not a compare record, is a conflict: one line, before any work."""
    if force or not os.path.exists(path):
        return None
    rec = _read_json(path)
    saved = (rec or {}).get("config", {}).get("compare", {}).get("fingerprint") if isinstance(rec, dict) else None
    if not isinstance(saved, dict):
        raise ConfigError(f"--out: {path} exists and is not an `admm-xp compare` record; move it away, choose another "
                          f"--out, or pass --force to replace it")
    diff = _differences(saved, fp)
    if diff:
        raise ConfigError(f"--out: {path} was made with other options ({'; '.join(diff[:3])}); use another --out, "
                          f"or pass --force to run again and replace it")
    return rec


# Progress and the stop check -----------------------------------------------------------------

class Reporter:
    """Progress lines on stderr (rank 0, at most one a second per run) and, at every update, the check for
    a signal: summed over ranks, so every rank raises :class:`Stopped` at the same iteration."""

    def __init__(self, comm, stopper, quiet: bool, every_s: float = 1.0):
        self.comm, self.stopper = comm, stopper
        self.show = comm.rank == 0 and not quiet
        self.every_s = every_s
        self.prefix = "compare"
        self.validation = False
        self.last = 0.0

    def begin(self, prefix: str, validation: bool) -> None:
        self.prefix, self.validation, self.last = prefix, validation, time.monotonic()

    def check(self) -> None:
        if self.comm.allreduce_max(1.0 if self.stopper.signum else 0.0) > 0:
            raise Stopped

    def update(self, step: int, text: str, force: bool = False) -> None:
        self.check()
        now = time.monotonic()
        if self.show and (force or now - self.last >= self.every_s):
            self.last = now
            if self.validation:
                text = text.replace(" test ", " validation ")
            self.line(f"{self.prefix}: {step} {text}")

    def message(self, text: str) -> None:
        """A whole line within the current run (a layer-wise run's stages), under the run's prefix."""
        self.line(f"{self.prefix}: {text}")

    def line(self, text: str) -> None:
        if self.show:
            print(text, file=sys.stderr, flush=True)


# The methods ------------------------------------------------------------------------------------

class Context:
    """What every method's search and run share: options, backend, the two data sets, the reporter."""

    def __init__(self, args, comm, backend, ds, ds_val, hidden, dtype, reporter):
        self.args, self.comm, self.backend, self.ds, self.ds_val = args, comm, backend, ds, ds_val
        self.hidden, self.dtype, self.reporter = hidden, dtype, reporter
        self.lead = comm.rank == 0
        self._dd = {}

    def device_data(self, which: str, admm: bool):
        """The full (``"full"``) or validation (``"val"``) data on the device, made once per kind."""
        from ..data.device import to_device
        from ..solver.config import ADMMConfig, default_block_size

        key = (which, admm)
        if key not in self._dd:
            self._dd.clear()  # one copy on the device at a time
            ds = self.ds if which == "full" else self.ds_val
            self._dd[key] = (to_device(ds, self.backend, self.dtype, hidden=self.hidden, block=default_block_size(self.args.device),
                                       multipliers=max(ADMMConfig(lagrangian=lag).multiplier_arrays  # the grid's most
                                                       for lag in ADMM_GRID["lagrangian"]))
                             if admm else to_device(ds, self.backend, self.dtype))
        return self._dd[key]


def _round_down(n: float) -> int:
    """The largest whole number of the series 1, 2, ..., 9, 10, 15, 20, 30, 50, 70, 100, 150, ... not above n
    (at least 1): steps of at most 1.5x, so that small differences in measured speed rarely change it."""
    if n < 10:
        return max(1, int(n))
    k = 10 ** int(math.floor(math.log10(n)))
    return int(max(m * k for m in (1, 1.5, 2, 3, 5, 7) if m * k <= n))


def search_passes(ctx: Context, n_points: int, calibrate) -> dict:
    """Passes per search point: --tune-passes, or what --tune-budget allows for ``n_points`` points at the
    seconds per pass that ``calibrate(passes)`` measures (on the grid's first and last points; the slowest
    rank's), capped by the passes
    the final run is expected to make and by :data:`MAX_SEARCH_PASSES`."""
    args = ctx.args
    if args.tune_passes:
        return {"passes": int(args.tune_passes), "rule": "--tune-passes"}
    seconds, done = calibrate(CALIBRATION_PASSES)
    per = ctx.comm.allreduce_max(seconds / max(done, 1))
    per = max(per, 1e-6)
    allowed = args.tune_budget / (n_points * per)
    final = args.budget / (per * ctx.ds.n_train / max(ctx.ds_val.n_train, 1))
    passes = _round_down(min(allowed, final, MAX_SEARCH_PASSES))
    return {"passes": passes, "seconds_per_pass": per, "passes_allowed_by_budget": allowed,
            "passes_expected_in_final_run": final,
            "rule": f"--tune-budget {args.tune_budget:g} s over {n_points} points at the measured seconds per pass, "
                    f"at most the final run's expected passes and {MAX_SEARCH_PASSES}, rounded down to 1..9 or 1/1.5/2/3/5/7 x 10^k"}


class AdmmMethod:
    """ADMM: the default preset with its penalties, weight decay and Lagrangian searched (``admm``), or
    Taylor et al.'s method exactly, with no search (``admm-paper``)."""

    def __init__(self, name: str):
        self.name = name
        self.preset = "paper" if name == "admm-paper" else "default"

    def points(self, ctx: Context | None = None) -> list:
        grid = self.grid(ctx)
        return [dict(zip(grid, values)) for values in itertools.product(*grid.values())] if grid else []

    def grid(self, ctx: Context | None = None) -> dict:
        """The searched settings: ADMM_GRID, and ADMM_DEEP_GRID for a network of two or more hidden layers."""
        if self.preset == "paper":
            return {}
        deep = ctx is not None and len(ctx.hidden) > 1
        return {k: list(v) for k, v in {**ADMM_GRID, **(ADMM_DEEP_GRID if deep else {})}.items()}

    def config(self, ctx: Context, point: dict):
        from ..solver.config import ADMMConfig, default_block_size

        kw = {}
        if point:
            kw = {"gamma": (point["gamma_beta"],), "beta": (point["gamma_beta"],), "weight_decay": point["weight_decay"],
                  "lagrangian": point["lagrangian"], "layerwise": point.get("layerwise")}
        return ADMMConfig.from_preset(self.preset, hidden=ctx.hidden, seed=ctx.args.seed, dtype=ctx.dtype,
                                      block_size=default_block_size(ctx.args.device), **kw)

    def train(self, ctx: Context, point: dict, which: str, iters: int, max_time=None, eval_every: int = 1):
        from ..train import RunOptions, train_admm

        cfg = self.config(ctx, point)
        dd = ctx.device_data(which, admm=True)
        opts = RunOptions(iters=iters, eval_every=eval_every, max_time=max_time)
        res = train_admm(dd, cfg, ctx.backend, ctx.comm, opts, progress=ctx.reporter)
        return cfg, res

    def search_run(self, ctx, point, passes):
        from baselines.tune import eval_every

        _, res = self.train(ctx, point, "val", passes, eval_every=eval_every(passes))
        return res.history, res.final["train_s"], res.final["iters"]

    def final_run(self, ctx, point, search_rec):
        from ..runrecord import base_record

        cfg, res = self.train(ctx, point, "full", FOREVER, max_time=ctx.args.budget)
        rec = base_record(method=self.name, dataset=ctx.ds.describe(), layers=res.widths, backend=ctx.backend,
                          dtype=cfg.dtype, ranks=ctx.comm.size, config=cfg.to_dict())
        rec["config"]["run"] = {"max_time": ctx.args.budget, "iters": FOREVER, "eval_every": 1,
                                "kernels": "auto"}
        rec["history"], rec["final"] = res.history, res.final
        return rec

    def words(self, point: dict, rec: dict) -> str:
        cfg = rec.get("config", {})
        if self.preset == "paper":
            return (f"Taylor et al.'s method (gamma {_g(cfg.get('gamma'))}, beta {_g(cfg.get('beta'))}, "
                    f"lagrangian {cfg.get('lagrangian')}); no search")
        deep = {None: "", 0: ", the whole network"}.get(point.get("layerwise"),
                                                         f", layer-wise ({point.get('layerwise')} per lower stage)")
        return (f"gamma = beta = {point['gamma_beta']:g}, weight decay {point['weight_decay']:g}, "
                f"lagrangian {point['lagrangian']}{deep}")


class BaselineMethod:
    """A gradient method on ADMM's network (``sgd``, ``adam``, ``cg``, ``lbfgs``: `baseline-tune`'s grid), or
    logistic regression (``logreg``: no hidden layer, a bias, the logistic loss, L-BFGS; L2 searched)."""

    def __init__(self, name: str):
        self.name = name
        self.method = "lbfgs" if name == "logreg" else name

    def points(self, ctx: Context | None = None) -> list:
        from baselines.tune import grid_points

        if self.name == "logreg":
            return [{"l2": v} for v in LOGREG_GRID["l2"]]
        return grid_points(self.method)

    def grid(self, ctx: Context | None = None) -> dict:
        pts = self.points()
        return {k: sorted({p[k] for p in pts}) for k in pts[0]}

    def settings(self, ctx: Context, point: dict, epochs: int, eval_every: int, max_time=None):
        from baselines.train import Settings

        if self.name == "logreg":
            net = dict(hidden=(), loss="logistic", bias=True)
        else:
            net = dict(hidden=ctx.hidden, loss="hinge", bias=False)
        return Settings(method=self.method, **net, seed=ctx.args.seed, dtype=ctx.dtype, epochs=epochs,
                        eval_every=eval_every, max_time=max_time, **point)

    def search_run(self, ctx, point, passes):
        from baselines.train import train
        from baselines.tune import eval_every

        res = train(ctx.device_data("val", admm=False), self.settings(ctx, point, passes, eval_every(passes)),
                    ctx.backend, ctx.comm, progress=ctx.reporter)
        return res.history, res.final["train_s"], res.final["passes"]

    def final_epochs(self, ctx, search_rec) -> int:
        """SGD: the epochs its cosine schedule spans, from the search's seconds per pass (scaled to the whole
        training split); the other methods run until the budget ends them."""
        if self.name != "sgd":
            return FOREVER
        rows = [r for r in search_rec["history"] if r.get("passes")]
        per = sum(r["train_s"] for r in rows) / max(sum(r["passes"] for r in rows), 1e-9)
        per *= ctx.ds.n_train / max(ctx.ds_val.n_train, 1)
        per = ctx.comm.allreduce_max(per)
        return max(1, int(SGD_FILL * ctx.args.budget / max(per, 1e-9)))

    def final_run(self, ctx, point, search_rec):
        from baselines.train import MINIBATCH, train

        from ..runrecord import base_record

        settings = self.settings(ctx, point, self.final_epochs(ctx, search_rec), 1, max_time=ctx.args.budget)
        res = train(ctx.device_data("full", admm=False), settings, ctx.backend, ctx.comm, progress=ctx.reporter)
        ds = ctx.ds
        n_out = 1 if ds.n_classes == 2 else ds.n_classes
        config = settings.to_dict()
        config["tuned_from"] = "search/" + self.name + ".json"
        config["run"] = {"data_parallel": "synchronous: each rank its share of every global mini-batch, gradients summed"
                         if self.method in MINIBATCH else "full batch: shard sums, one allreduce per evaluation"}
        rec = base_record(method=self.name, dataset=ds.describe(), layers=[ds.n_features, *settings.hidden, n_out],
                          backend=ctx.backend, dtype=settings.dtype, ranks=ctx.comm.size, config=config)
        rec["history"], rec["final"] = res.history, res.final
        return rec

    def words(self, point: dict, rec: dict) -> str:
        cfg = rec.get("config", {})
        parts = []
        if "lr" in point:
            parts.append(f"lr {point['lr']:g}, batch {point['batch_size']}")
        parts.append(f"L2 {point['l2']:g}")
        if self.name == "sgd":
            parts.append(f"{cfg.get('schedule', 'cosine')} schedule over {cfg.get('epochs')} epochs")
        if self.name == "logreg":
            parts.append("logistic loss, bias")
        return ", ".join(parts)


def method_for(name: str):
    return AdmmMethod(name) if name.startswith("admm") else BaselineMethod(name)


def _g(values) -> str:
    return ",".join(f"{v:g}" for v in values) if isinstance(values, list) else str(values)


# Search, run, table -----------------------------------------------------------------------------

def run_search(ctx: Context, method, fp: dict) -> dict:
    """The method's search on the validation rows: its record (grid, passes, every point's score, the
    choice). ADMM's and the baselines' points are scored by :func:`baselines.tune.score_run`."""
    from baselines.tune import SCORE_LAST, best_index, score_run

    from ..runrecord import base_record

    points = method.points(ctx)
    rep = ctx.reporter
    rows, budget = [], {"passes": 0, "rule": "no search"}
    if points:
        def calibrate(passes):  # the first and the last point: ADMM's grid ends with the costlier Lagrangian
            seconds = done = 0
            for point in dict.fromkeys((0, len(points) - 1)):
                rep.begin(f"compare {method.name}: timing {passes} passes of {_point_words(points[point])}", validation=True)
                _, s, d = method.search_run(ctx, points[point], passes)
                seconds, done = seconds + s, done + d
            return seconds, done

        budget = search_passes(ctx, len(points), calibrate)
        passes = budget["passes"]
        rep.line(f"compare {method.name}: search of {len(points)} settings, {passes} passes each ({budget['rule'].split(' over')[0]})")
        for i, point in enumerate(points, 1):
            rep.begin(f"compare {method.name}: search {i}/{len(points)} ({_point_words(point)})", validation=True)
            t0 = time.perf_counter()
            try:
                history, seconds, done = method.search_run(ctx, point, passes)
            except DivergenceError as exc:  # every rank: the objective is reduced over ranks
                rows.append({**point, "score": None, "diverged": str(exc)})
                rep.line(f"compare {method.name}: search {i}/{len(points)} ({_point_words(point)}) diverged")
                continue
            rows.append({**point, **score_run(history), "train_s": seconds, "passes": done})
            rep.line(f"compare {method.name}: search {i}/{len(points)} ({_point_words(point)}) -> validation accuracy "
                     f"{rows[-1]['score']:.4f} ({time.perf_counter() - t0:.1f} s)")
        best = best_index(rows)
        if rows[best]["score"] is None:
            raise DivergenceError(f"{method.name}: every setting of the search diverged on the validation rows")
        chosen = {k: rows[best][k] for k in points[0]}
    else:
        chosen = {}
    ds = ctx.ds_val
    rec = base_record(method=f"{method.name}-search", dataset=ds.describe(), layers=[], backend=ctx.backend,
                      dtype=ctx.dtype, ranks=ctx.comm.size,
                      config={"compare": {"fingerprint": fp}, "grid": method.grid(ctx), "passes": budget,
                              "validation": VALIDATION,
                              "score": f"mean validation accuracy of the last {SCORE_LAST} evaluations (baselines.tune."
                                       f"score_run); validation = a seeded {VALIDATION:.0%} of the training rows; the "
                                       "test split is not read"})
    rec["history"] = rows
    rec["final"] = {"chosen": chosen, "score": rows[best_index(rows)]["score"] if rows else None}
    return rec


def _point_words(point: dict) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v:g}" if isinstance(v, float) else f"{k.replace('_', ' ')} {v}"
                     for k, v in point.items())


def table_rows(records: dict, searches: dict, target: float | None, methods) -> tuple[list, float | None, str]:
    """One row per method with a record, the target used and its words (``--target``, or NEAR_BEST of the
    best test accuracy any method reached)."""
    runs = curves(records)
    if target is None:
        best = max((a for pts in runs.values() for _, a in pts if a is not None), default=None)
        target = None if best is None else NEAR_BEST * best
        words = f"{NEAR_BEST:g} x the best test accuracy any method reached ({best:.4f})" if best is not None else "-"
    else:
        words = "--target"
    rows = []
    for name in methods:
        if name not in records:
            continue
        rec, srch = records[name], searches.get(name) or {}
        s = summarise(runs[name], target)
        chosen = rec.get("config", {}).get("compare", {}).get("chosen", {})
        rows.append({"method": name, "settings": method_for(name).words(chosen, rec),
                     "validation_score": (srch.get("final") or {}).get("score"),
                     "best_test_acc": s["best_test_acc"], "final_test_acc": s["final_test_acc"],
                     "train_s": rec["final"].get("train_s"), "iters": rec["final"].get("iters"),
                     "time_to_target_s": s["time_to_target_s"], "target": target,
                     "stop_reason": rec["final"].get("stop_reason"), "record": f"{name}.json",
                     "search_record": f"search/{name}.json"})
    return rows, target, words


def markdown(rows: list, target: float | None, words: str, first: dict, args, failed: dict) -> str:
    from ..cli.options import stop_words
    from .figures import nice_seconds

    unit = {"admm": "iterations", "admm-paper": "iterations", "sgd": "epochs", "adam": "epochs"}
    lines = [f"# admm-xp compare: {first.get('dataset')}", "",
             f"Command: `{first.get('command_compare') or ''}`  ",
             f"{subtitle(first)}; {first.get('date')}.  ",
             f"{first.get('n_train') or 0:,} training rows ({VALIDATION:.0%} of them score the searches), "
             f"{first.get('n_test') or 0:,} test rows; layers {first.get('layers')}; every method's run: "
             f"{args.budget:g} s of training on the whole training split (evaluation excluded).  ",
             f"Target: {target:.4f} ({words})." if target is not None else "Target: none.", "",
             "| method | settings (chosen on validation rows) | validation score | best test acc | final test acc "
             "| training time | iterations | time to target |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        v = "-" if r["validation_score"] is None else f"{r['validation_score']:.4f}"
        n = f"{r['iters']} {unit.get(r['method'], 'iterations')}" if r.get("iters") is not None else "-"
        why = "" if r.get("stop_reason") in ("max_time", None) else f" ({stop_words(r['stop_reason'])})"
        lines.append(f"| {r['method']} | {r['settings']} | {v} | {r['best_test_acc']:.4f} | {r['final_test_acc']:.4f} | "
                     f"{r['train_s']:.1f} s{why} | {n} | {nice_seconds(r['time_to_target_s'])} |")
    for name, why in failed.items():
        lines.append(f"| {name} | failed: {why} | | | | | | |")
    lines += ["", "Validation score: mean accuracy on the validation rows over the last 5 evaluations of the "
              "search run (the test split is not read while choosing). Iterations of CG, L-BFGS and logreg are "
              "line-search iterations. Searches and grids: search/<method>.json; runs: <method>.json."]
    return "\n".join(lines) + "\n"


def write_outputs(ctx: Context, methods, failed: dict) -> str | None:
    """compare.md, compare.csv, compare.json and compare.png from the records in --out (rank 0)."""
    from ..runrecord import base_record, write_json_atomic, write_text_atomic
    from ..runtime.atomic import write_csv_atomic

    out = ctx.args.out
    records = {m: _read_json(os.path.join(out, f"{m}.json")) for m in methods}
    records = {m: r for m, r in records.items() if r}
    if not records:
        return None
    searches = {m: _read_json(os.path.join(out, "search", f"{m}.json")) for m in records}
    rows, target, words = table_rows(records, searches, ctx.args.target, methods)
    first = dict(next(iter(records.values())))
    argv = sys.argv[1:] + (["--ranks", str(ctx.comm.size)] if ctx.comm.size > 1 and "--ranks" not in sys.argv else [])
    first["command_compare"] = "admm-xp " + " ".join(shlex.quote(a) for a in argv)  # as typed (a relaunch drops --ranks)
    md = markdown(rows, target, words, first, ctx.args, failed)
    write_csv_atomic(os.path.join(out, "compare.csv"), rows)
    rec = base_record(method="compare", dataset=ctx.ds.describe(), layers=first.get("layers", []), backend=ctx.backend,
                      dtype=ctx.dtype, ranks=ctx.comm.size,
                      config={"methods": list(methods), "budget": ctx.args.budget, "tune_budget": ctx.args.tune_budget,
                              "tune_passes": ctx.args.tune_passes, "target": ctx.args.target,
                              "target_used": target, "target_words": words})
    rec.pop("history")
    rec["final"] = {"rows": rows, "failed": failed}
    write_json_atomic(os.path.join(out, "compare.json"), rec)
    title = f"admm-xp compare on {first.get('dataset')}: test accuracy against training time"
    if not plot_curves(os.path.join(out, "compare.png"), curves(records), target, title, subtitle(first)):
        ctx.reporter.line("compare: matplotlib is not installed: no compare.png (pip install 'admm_xp[plot]')")
    write_text_atomic(os.path.join(out, "compare.md"), md)
    return md


def cmd_compare(args, comm) -> int:
    from ..cli.options import setup_run
    from ..data import load_dataset
    from ..runrecord import write_json_atomic
    from ..runtime.signals import StopOnSignal

    opts = check_args(args)
    methods, hidden, dtype = opts["methods"], opts["hidden"], opts["dtype"]
    backend, ds = setup_run(args, comm)  # the whole split: its checks (widths, labels) before any work
    if args.allow_tf32:
        from ..runtime.gpu import allow_tf32

        allow_tf32(backend)
    ds_val = load_dataset(args.dataset, test_path=args.test_path, n_train=args.n_train, n_test=args.n_test,
                          data_dir=args.data_dir, label_col=args.label_col, test_fraction=args.test_fraction,
                          standardize=args.standardize, validation=VALIDATION, comm=comm)
    fp = fingerprint(args, ds, hidden, dtype, comm.size)
    out = args.out
    # Every rank reads what --out holds (the same verdict on all); conflicts end here, before any work.
    done = {m: reusable(os.path.join(out, f"{m}.json"), fp, args.force) for m in methods}
    searched = {m: reusable(os.path.join(out, "search", f"{m}.json"), fp, args.force) for m in methods}
    stopper = StopOnSignal()
    reporter = Reporter(comm, stopper, args.quiet)
    ctx = Context(args, comm, backend, ds, ds_val, hidden, dtype, reporter)
    lead = comm.rank == 0
    reporter.line(f"compare on {ds.name}: {ds.n_train:,} train / {ds.n_test:,} test rows ({ds_val.n_train:,} + "
                  f"{ds_val.n_test:,} validation rows for the searches), {ds.n_classes} classes, hidden {list(hidden)}, "
                  f"{backend.label} {dtype}, {comm.size} rank(s); methods {', '.join(methods)}; budget {args.budget:g} s, "
                  f"search {f'{args.tune_passes} passes per point' if args.tune_passes else f'{args.tune_budget:g} s'}")
    failed, phase, name = {}, "", ""
    try:
        with stopper:
            for name in methods:
                if done[name] is not None:
                    reporter.line(f"compare {name}: finished earlier ({os.path.join(out, name + '.json')}); skipped")
                    continue
                method = method_for(name)
                try:
                    srch = searched[name]
                    if srch is None:
                        phase = "search"
                        srch = run_search(ctx, method, fp)
                        if lead:
                            write_json_atomic(os.path.join(out, "search", f"{name}.json"), srch)
                    else:
                        reporter.line(f"compare {name}: search finished earlier; chosen {_point_words(srch['final']['chosen'])}")
                    chosen = srch["final"]["chosen"]
                    phase = "run"
                    reporter.begin(f"compare {name}: run ({_point_words(chosen) or 'preset'})", validation=False)
                    reporter.line(f"compare {name}: training on the whole training split for {args.budget:g} s "
                                  f"({_point_words(chosen) or 'no search'})")
                    rec = method.final_run(ctx, chosen, srch)
                except DivergenceError as exc:
                    failed[name] = str(exc)
                    reporter.line(f"compare {name}: FAILED ({exc})")
                    continue
                rec["config"]["compare"] = {"fingerprint": fp, "chosen": chosen, "search": f"search/{name}.json"}
                n_entries = len(rec["history"])
                rec["history"] = thin(rec["history"])
                rec["final"]["history_thinned"] = {
                    "kept": len(rec["history"]), "of": n_entries,
                    "rule": f"the first and last entries, every new best test accuracy, and at most {THIN_PER_DECADE} "
                            "more per decade of training time (compare.thin)"}
                if lead:
                    write_json_atomic(os.path.join(out, f"{name}.json"), rec)
                fin = rec["final"]
                reporter.line(f"compare {name}: test accuracy {fin['test_acc']:.4f} (best {fin['best_test_acc']:.4f}) "
                              f"after {fin['train_s']:.1f} s, {fin['iters']} iterations")
    except Stopped:
        code, sig = stopper.exit_code(comm), stopper.name(comm)
        if lead:
            kept = [m for m in methods if os.path.exists(os.path.join(out, f"{m}.json"))]
            print(f"admm-xp: compare stopped by {sig} during {name} ({phase}); "
                  f"{'finished: ' + ', '.join(kept) if kept else 'no method finished'}; run the same command again to "
                  f"continue (finished methods are skipped)", file=sys.stderr, flush=True)
        return code
    if lead:
        md = write_outputs(ctx, methods, failed)
        if md:
            print(md, end="")
        reporter.line(f"compare: outputs in {out}")
        if failed:
            print(f"admm-xp: error: {len(failed)} method(s) failed: {'; '.join(f'{k}: {v}' for k, v in failed.items())}",
                  file=sys.stderr, flush=True)
    return 1 if failed else 0

