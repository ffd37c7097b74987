"""Settings searches, scored on validation rows carved from the training split.

``python -m baselines tune --method M`` (the same as ``admm-xp baseline-tune``)
trains method M once per point of a grid, learning rate x batch size x L2
weight for SGD and Adam, L2 weight for CG and L-BFGS (they have no step size
to tune: their line search sets it), for ``--epochs`` epochs (passes) on the
training rows minus a seeded fraction of them (default 20%, chosen by a hash
of the row index, see :func:`admm_xp.data.load_dataset`'s ``validation``);
those rows score the point. The test split is never read. The score is the
mean validation accuracy of the last 5 evaluations, one every epochs / 20
epochs (SGD, Adam) or iterations (CG, L-BFGS), i.e. over the end of the run:
less noisy than the last evaluation alone. The best point
(ties: the first in grid order) and the whole table go to a run record, by
default ``results/baselines/lr_search_<sgd|adam>.json`` or
``l2_search_<cg|lbfgs>.json``, from which ``baseline`` runs with the same
data set, network and loss take their defaults. A search there for another
data set, network or loss is not replaced: give ``--out FILE`` for this one
(``baseline --tuned FILE`` reads it).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from admm_xp.cli.options import check_output_path
from admm_xp.cli.options import add_data_options, add_device_options, parse_floats
from admm_xp.errors import ConfigError

from . import cli
from .schedules import SCHEDULES
from .train import METHODS, MINIBATCH, Settings

L2_GRID = "0,0.001,0.003,0.01"
DEFAULT_GRID = {
    "sgd": {"lr": "0.03,0.1,0.3", "batch_size": "128", "l2": L2_GRID},
    "adam": {"lr": "0.0003,0.001,0.003,0.01", "batch_size": "128", "l2": L2_GRID},
    "cg": {"l2": "0,0.001,0.002,0.003,0.005,0.01"},
    "lbfgs": {"l2": "0,0.001,0.002,0.003,0.005,0.01"},
}
SCORE_LAST = 5  # the score averages the last SCORE_LAST evaluations, made every epochs / SCORE_SPAN
SCORE_SPAN = 20  # epochs (SGD, Adam) or iterations (CG, L-BFGS: one or more passes each)


def add_tune_parser(sub) -> None:
    from .cli import RESULTS, add_network_options

    p = sub.add_parser("baseline-tune", help="search a baseline's learning rate and L2 weight on validation rows",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True, choices=METHODS, help="sgd, adam (learning rate, batch size, L2) or cg, lbfgs (L2)")
    add_data_options(p)
    add_network_options(p)
    g = p.add_argument_group("grid (comma-separated values; every combination is trained)")
    g.add_argument("--lr", default=None, metavar="ETA[,ETA...]",
                   help=f"learning rates (default {DEFAULT_GRID['sgd']['lr']} for SGD, {DEFAULT_GRID['adam']['lr']} for Adam)")
    g.add_argument("--batch-size", default=None, metavar="B[,B...]", help="mini-batch sizes (default 128)")
    g.add_argument("--l2", default=None, metavar="L[,L...]",
                   help=f"L2 weights (default {L2_GRID} for SGD and Adam, {DEFAULT_GRID['cg']['l2']} for CG and L-BFGS)")
    g.add_argument("--schedule", default=None, choices=SCHEDULES,
                   help="learning-rate schedule (default: the method's, cosine for SGD, constant for Adam)")
    r = p.add_argument_group("run")
    r.add_argument("--epochs", type=int, default=200, metavar="N",
                   help="epochs per grid point: use the budget of the runs that will use the result (default 200)")
    r.add_argument("--validation", type=float, default=0.2, metavar="F",
                   help="fraction of the training rows held out to score the grid (default 0.2)")
    r.add_argument("--out", default=None, metavar="FILE",
                   help="the search's record (default: this checkout's results/baselines/lr_search_<method>.json "
                        "for sgd and adam, l2_search_<method>.json for cg and lbfgs, read by `baseline` runs; "
                        "a search there for another data set, network or loss is not replaced)")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    add_device_options(p)
    p.set_defaults(func=cmd_tune, results_dir=RESULTS)


def _grid(args) -> list[dict]:
    return grid_points(args.method, lr=args.lr, batch_size=args.batch_size, l2=args.l2, schedule=args.schedule)


def grid_points(method: str, lr=None, batch_size=None, l2=None, schedule=None) -> list[dict]:
    """The search's points for ``method``: the comma-separated values given, else :data:`DEFAULT_GRID`'s
    (learning rate x batch size x L2 for SGD and Adam, L2 alone for CG and L-BFGS)."""
    defaults = DEFAULT_GRID[method]
    l2s = parse_floats(defaults["l2"] if l2 is None else l2, "--l2")
    if method not in MINIBATCH:
        wrong = [o for o, v in (("--lr", lr), ("--batch-size", batch_size), ("--schedule", schedule)) if v is not None]
        if wrong:
            raise ConfigError(f"{', '.join(wrong)}: {method} has no learning rate or batches to search; search --l2")
        return [{"l2": v} for v in l2s]
    lrs = parse_floats(defaults["lr"] if lr is None else lr, "--lr")
    text = defaults["batch_size"] if batch_size is None else batch_size
    try:
        sizes = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise ConfigError(f"--batch-size must be comma-separated integers, got {text!r}") from None
    if not sizes:
        raise ConfigError("--batch-size must not be empty")
    return [{"lr": r, "batch_size": b, "l2": v} for b in sizes for v in l2s for r in lrs]


def eval_every(epochs: int) -> int:
    """A search run evaluates once every epochs / :data:`SCORE_SPAN` epochs (SGD, Adam) or iterations."""
    return max(1, epochs // SCORE_SPAN)


def score_run(history: list) -> dict:
    """A search point's score from its run's history, whose "test" entries are the validation rows: the
    mean validation accuracy of the last :data:`SCORE_LAST` evaluations after the start, with the last
    and the best of them."""
    accs = [h["test_acc"] for h in history[1:] if h.get("test_acc") is not None]
    accs = accs or [h["test_acc"] for h in history if h.get("test_acc") is not None]
    last = accs[-SCORE_LAST:]
    return {"score": sum(last) / len(last), "val_acc_final": accs[-1], "val_acc_best": max(accs)}


def best_index(rows: list) -> int:
    """The row with the best ``score`` (ties: the first in grid order); a row whose score is None (a
    point that diverged) wins only when every row has none."""
    return max(range(len(rows)), key=lambda k: (rows[k].get("score") is not None, rows[k].get("score") or 0.0, -k))


def search(dd, points: list, settings: list, backend, comm, report=None, progress=None,
           keep_diverged: bool = False) -> tuple[list, int]:
    """Train every point (``settings[k]``, made from ``points[k]``) on ``dd``, whose test split is the
    validation rows; returns the table's rows and the best row's index (:func:`best_index`).
    ``report(i, row, seconds)`` runs after point i (1-based); ``progress`` goes to :func:`baselines.train.train`.
    ``keep_diverged``: a point whose run diverges gets a row with score None (and the message) instead of
    ending the search (every rank sees the same divergence: the objective is reduced over ranks)."""
    from admm_xp.errors import DivergenceError

    from .train import train

    rows = []
    for i, (point, s) in enumerate(zip(points, settings), 1):
        t0 = time.perf_counter()
        try:
            res = train(dd, s, backend, comm, progress=progress)
        except DivergenceError as exc:
            if not keep_diverged:
                raise
            rows.append({**point, "score": None, "diverged": str(exc)})
        else:
            rows.append({**point, **score_run(res.history), "train_loss_final": res.history[-1]["loss"],
                         "train_s": res.final["train_s"], "passes": res.final["passes"]})
        if report is not None:
            report(i, rows[-1], time.perf_counter() - t0)
    return rows, best_index(rows)


def cmd_tune(args, comm) -> int:
    from admm_xp.runtime.backend import resolve_device
    from admm_xp.data import load_dataset
    from admm_xp.runrecord import base_record, write_json_atomic
    from admm_xp.runtime.threads import configure_threads
    from admm_xp.data.device import to_device

    from .cli import parse_hidden

    if not 0.0 < args.validation < 1.0:
        raise ConfigError(f"--validation must be a fraction in (0, 1), got {args.validation}")
    if args.epochs < 1:
        raise ConfigError(f"--epochs must be an integer >= 1, got {args.epochs}")
    hidden = parse_hidden(args.hidden)
    dtype = args.dtype or ("float32" if str(args.device).startswith("cuda") else "float64")
    points = _grid(args)
    common = dict(method=args.method, hidden=hidden, loss=args.loss, bias=args.bias == "on", seed=args.seed,
                  dtype=dtype, epochs=args.epochs, schedule=args.schedule, eval_every=eval_every(args.epochs))
    settings = [Settings(**common, **p) for p in points]  # every point is checked before any training
    out = args.out or cli.search_path(args.results_dir, args.method)
    check_output_path(out, "--out")
    if not args.out:
        _keep_other_search(args, out)
    device = f"cuda:{comm.local_rank}" if comm.size > 1 and args.device == "cuda" else args.device
    backend = resolve_device(device)
    configure_threads(comm)
    ds = load_dataset(args.dataset, test_path=args.test_path, n_train=args.n_train, n_test=args.n_test,
                      data_dir=args.data_dir, label_col=args.label_col, test_fraction=args.test_fraction,
                      validation=args.validation, standardize=args.standardize, comm=comm)
    dd = to_device(ds, backend, dtype)
    lead = comm.rank == 0

    def report(i, row, seconds):
        if lead and not args.quiet:
            print(f"tune {args.method} {i}/{len(points)}: {_describe({k: row[k] for k in points[0]})} -> validation "
                  f"accuracy {row['score']:.4f} ({seconds:.0f} s)", file=sys.stderr, flush=True)

    rows, best = search(dd, points, settings, backend, comm, report=report)
    chosen = {k: rows[best][k] for k in points[0]}
    if lead:
        config = {"method": args.method, "dataset": args.dataset, "hidden": list(hidden), "loss": args.loss,
                  "bias": args.bias == "on", "seed": args.seed, "epochs": args.epochs,
                  "schedule": settings[0].schedule, "validation": args.validation,
                  "grid": {k: sorted({p[k] for p in points}) for k in points[0]},
                  "score": f"mean validation accuracy of the last {SCORE_LAST} evaluations (one every "
                           f"{max(1, args.epochs // SCORE_SPAN)} epochs or iterations); validation = a seeded "
                           f"{args.validation:.0%} of the training rows (the test split is not read)"}
        rec = base_record(method=f"{args.method}-lr-search", dataset=ds.describe(), layers=[ds.n_features, *hidden, 1 if
                          ds.n_classes == 2 else ds.n_classes], backend=backend, dtype=dtype, ranks=comm.size, config=config)
        rec["history"] = rows
        rec["final"] = {"chosen": chosen, "score": rows[best]["score"]}
        write_json_atomic(out, rec)
        print(f"{args.method}: {_describe(chosen)} (validation accuracy {rows[best]['score']:.4f}) -> {out}")
    return 0


def _keep_other_search(args, path: str) -> None:
    """Refuse to replace the checkout's search (the one ``baseline`` runs read) with one for another run.

    "Another run" is what :func:`baselines.cli.tuned_values` calls so: another data set, network or loss.
    A search for the same run is refreshed; a file there that is not this method's search record is kept too."""
    if not os.path.exists(path) or os.path.abspath(path) != os.path.abspath(cli.search_path(cli.RESULTS, args.method)):
        return  # nothing there, or not the file `baseline` runs read by default
    shown = os.path.relpath(path)
    try:
        _, source = cli.tuned_values(argparse.Namespace(**{**vars(args), "tuned": None}))
        if source is not None:
            return  # the same data set, network and loss: a refresh
        with open(path) as fh:
            held = json.load(fh)["config"]
    except (ConfigError, OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"{shown}: exists and is not a {args.method} search record; pass --out FILE to write "
                          f"this search elsewhere (`baseline --tuned FILE` reads it)") from None
    this = {"dataset": args.dataset, "hidden": list(cli.parse_hidden(args.hidden)), "loss": args.loss,
            "bias": args.bias == "on"}
    raise ConfigError(f"{shown} holds the {args.method} search for {_run_words(held)}, which `baseline` runs "
                      f"use; this run ({_run_words(this)}) would replace it: pass --out FILE to keep this search "
                      f"elsewhere (`baseline --tuned FILE` reads it)")


def _run_words(cfg: dict) -> str:
    hidden = cfg.get("hidden")
    net = (",".join(str(w) for w in hidden) or "none") if isinstance(hidden, list) else hidden
    return (f"dataset {cfg.get('dataset')}, hidden {net}, {cfg.get('loss')} loss, "
            f"bias {'on' if cfg.get('bias') else 'off'}")


def _describe(point: dict) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in point.items())
