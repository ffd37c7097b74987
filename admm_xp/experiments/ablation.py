"""Hyper-parameter sweeps on validation rows, and the ablation of each option.

``admm-xp sweep`` and ``admm-xp ablation``: what each does is in
``SWEEP_DESCRIPTION`` and ``ABLATION_DESCRIPTION`` below, which are also
their ``--help`` pages.
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import time

from ..runtime.atomic import write_csv_atomic
from ..errors import ConfigError

SWEEP_DESCRIPTION = """\
Train ADMM over a grid of settings (gamma x beta x weight decay) and score
each by its accuracy on validation rows carved from the training split (a
seeded fraction, by row index); the test split is never read. Writes
sweep.json, sweep.csv and sweep.md (best first) to --out-dir. Its table
chose the `default` preset (admm_xp.solver.config)."""

ABLATION_DESCRIPTION = """\
Train the paper's method, the paper's method with one option changed at a
time, and the default preset on three tasks (the embedded HIGGS rows, a
synthetic SVHN-shaped task with 3,072 features and hidden layers 100 and 50,
and a synthetic 10-class task), and tabulate the best and final test
accuracy and the time to the paper's targets. Writes ablation.json,
ablation.csv and ablation.md to --out-dir."""

TASKS = {
    # name: (data set, hidden widths, training samples or None for all, target accuracy)
    "higgs-sample": ("higgs-sample", (300,), None, 0.64),
    "synthetic-svhn": ("synthetic-svhn", (100, 50), None, 0.95),
    "synthetic-multiclass": ("synthetic-multiclass", (100,), None, None),
}

# One option changed at a time, against the paper's method.
OPTIONS = [
    ("paper", {}),
    ("gamma = beta = 1", {"gamma": (1.0,), "beta": (1.0,)}),
    ("weight decay 1", {"weight_decay": 1.0}),
    ("bias", {"bias": True}),
    ("forward init", {"init": "forward"}),
    ("no multiplier", {"multiplier": False}),
    ("penalty growth 1.05", {"penalty_growth": 1.05, "penalty_max": 100.0}),
    ("default preset", None),
]


def _train(ds_name, hidden, n_train, cfg_kwargs, preset, iters, validation=None, seed=0, target=None, n_test=None):
    from ..runtime.backend import resolve_device
    from ..runtime.comm import LocalComm
    from ..solver.config import ADMMConfig
    from ..data import load_dataset
    from ..data.device import to_device
    from ..train import RunOptions, train_admm

    backend = resolve_device("cpu")
    ds = load_dataset(ds_name, n_train=n_train, n_test=n_test, validation=validation, seed=seed)
    cfg = ADMMConfig.from_preset(preset, hidden=tuple(hidden), **cfg_kwargs)
    res = train_admm(to_device(ds, backend, cfg.dtype), cfg, backend, LocalComm(),
                     RunOptions(iters=iters, target_acc=None, eval_every=1, progress=False))
    accs = [h["test_acc"] for h in res.history if h.get("test_acc") is not None]
    t_target = next((h["time_s"] for h in res.history if target is not None and h.get("test_acc", 0) >= target), None)
    return ds, cfg, res, {"final_acc": accs[-1], "best_acc": max(accs), "train_s": res.final["train_s"],
                          "time_to_target_s": t_target, "iters": res.final["iters"]}


def _floats(text, name):
    from ..cli.options import parse_floats

    return list(parse_floats(text, name))


# sweep ---------------------------------------------------------------------------------
def cmd_sweep(args, comm) -> int:
    from ..cli.options import parse_widths
    from ..solver.config import ADMMConfig
    from ..runrecord import base_record, write_json_atomic, write_text_atomic
    from ..cli.options import check_dataset, check_min, check_output_dir

    if comm.size > 1:
        raise ConfigError("run `admm-xp sweep` without mpiexec")
    # Every option is checked here, before any training; files are written only at the end.
    if not 0 < args.validation < 1:
        raise ConfigError(f"--validation must be in (0, 1), got {args.validation}")
    check_min(args.iters, "--iters")
    check_min(args.n_train, "--n-train", hint=" (leave it out to use every training row)")
    check_min(args.seed, "--seed", minimum=0)
    hidden = parse_widths(args.hidden)
    check_dataset(args.dataset, command="sweep")
    grid = {"gamma": _floats(args.gamma, "--gamma"), "beta": _floats(args.beta, "--beta"),
            "weight_decay": _floats(args.weight_decay, "--weight-decay")}
    combos = list(itertools.product(*grid.values()))
    settings = [{"gamma": (g,), "beta": (b,), "weight_decay": w} for g, b, w in combos]
    for cfg_kw in settings:  # a bad grid value (gamma <= 0, weight decay < 0) fails now, not after hours of training
        try:
            ADMMConfig.from_preset(args.preset, hidden=hidden, **cfg_kw)
        except ConfigError as exc:
            raise ConfigError(f"--gamma / --beta / --weight-decay grid: {exc}") from None
    check_output_dir(args.out_dir, "--out-dir")
    rows, meta_ds = [], None
    for i, (values, cfg_kw) in enumerate(zip(combos, settings), 1):
        kw = dict(zip(grid, values))
        t0 = time.perf_counter()
        ds, cfg, res, m = _train(args.dataset, hidden, args.n_train, cfg_kw, args.preset, args.iters,
                                 validation=args.validation, seed=args.seed)
        meta_ds = meta_ds or ds.describe()
        rows.append({**kw, "val_final_acc": m["final_acc"], "val_best_acc": m["best_acc"], "train_s": m["train_s"]})
        if not args.quiet:
            print(f"sweep {i}/{len(combos)}: {kw} -> validation accuracy {m['final_acc']:.4f} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    rows.sort(key=lambda r: -r["val_final_acc"])
    rec = base_record(method="admm-sweep", dataset=meta_ds, layers=[meta_ds["n_features"], *hidden, 1], backend=None,
                      dtype="float64", ranks=1, config={"grid": grid, "iters": args.iters, "validation": args.validation,
                                                         "preset": args.preset, "seed": args.seed})
    rec["history"] = rows
    rec["final"] = {"best": rows[0], "score": "accuracy on the validation rows after the last iteration"}
    os.makedirs(args.out_dir, exist_ok=True)
    write_json_atomic(os.path.join(args.out_dir, "sweep.json"), rec)
    write_csv_atomic(os.path.join(args.out_dir, "sweep.csv"), rows)
    md = [f"# Sweep on {meta_ds['name']} (validation rows, not the test split)", "",
          f"Command: `{rec['command']}`  ", f"Commit `{rec['commit']}`, {rec['date']}, {rec['machine'].get('cpu')}, NumPy float64, 1 rank  ",
          f"{meta_ds['n_train']:,} training rows, {meta_ds['n_test']:,} validation rows ({args.validation:.0%} of the training split, "
          f"seeded); hidden {list(hidden)}; {args.iters} iterations; other settings from the `{args.preset}` preset.", "",
          "| gamma | beta | weight decay | validation accuracy (final) | best over iterations |", "|---:|---:|---:|---:|---:|"]
    md += [f"| {r['gamma']:g} | {r['beta']:g} | {r['weight_decay']:g} | {r['val_final_acc']:.4f} | {r['val_best_acc']:.4f} |" for r in rows]
    write_text_atomic(os.path.join(args.out_dir, "sweep.md"), "\n".join(md) + "\n")
    print("\n".join(md[:12 + min(5, len(rows))]))
    return 0


# ablation ------------------------------------------------------------------------------
def cmd_ablation(args, comm) -> int:
    from ..runrecord import base_record, write_json_atomic, write_text_atomic
    from ..cli.options import check_min, check_output_dir

    if comm.size > 1:
        raise ConfigError("run `admm-xp ablation` without mpiexec")
    # Every option is checked here, before any training; files are written only at the end.
    names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in names if t not in TASKS]
    if unknown:
        raise ConfigError(f"unknown ablation task(s) {unknown}: use {', '.join(TASKS)}")
    if not names:
        raise ConfigError(f"--tasks names no task: use one or more of {', '.join(TASKS)}")
    check_min(args.iters, "--iters")
    check_output_dir(args.out_dir, "--out-dir")
    rows, histories = [], {}
    quick_n = {"higgs-sample": 6000, "synthetic-svhn": 4000, "synthetic-multiclass": 8000}
    for task in names:
        data, hidden, n_train, target = TASKS[task]
        n_train = quick_n[task] if args.quick else n_train
        for label, change in OPTIONS:
            preset, kw = ("default", {}) if change is None else ("paper", change)
            t0 = time.perf_counter()
            ds, cfg, res, m = _train(data, hidden, n_train, kw, preset, args.iters, target=target)
            rows.append({"task": task, "option": label, "preset": cfg.preset, "n_train": ds.n_train, "n_test": ds.n_test,
                         "classes": ds.n_classes, "synthetic": ds.synthetic, "best_test_acc": m["best_acc"],
                         "final_test_acc": m["final_acc"], "target": target, "time_to_target_s": m["time_to_target_s"],
                         "train_s": m["train_s"], "iters": m["iters"]})
            histories[f"{task}/{label}"] = [{k: h.get(k) for k in ("iter", "time_s", "objective", "train_acc", "test_acc")}
                                            for h in res.history]
            if not args.quiet:
                print(f"ablation {task} / {label}: best {m['best_acc']:.4f}, final {m['final_acc']:.4f} "
                      f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        for ref in _reference_rows(task, data, n_train):
            rows.append(ref)
    rec = base_record(method="admm-ablation", dataset={"name": ",".join(names)}, layers=[], backend=None, dtype="float64",
                      ranks=1, config={"iters": args.iters, "quick": args.quick, "options": [o for o, _ in OPTIONS]})
    rec["history"] = histories
    rec["final"] = {"rows": rows}
    os.makedirs(args.out_dir, exist_ok=True)
    write_json_atomic(os.path.join(args.out_dir, "ablation.json"), rec)
    write_csv_atomic(os.path.join(args.out_dir, "ablation.csv"), rows)
    md = _ablation_markdown(rec, rows, args)
    write_text_atomic(os.path.join(args.out_dir, "ablation.md"), md)
    print(md)
    return 0


def _reference_rows(task, data, n_train):
    """A logistic regression on the same split, for scale (from the baselines package when present)."""
    try:
        from baselines.reference import logistic_regression_accuracy
    except ImportError:
        return []
    acc, seconds = logistic_regression_accuracy(data, n_train)
    return [{"task": task, "option": "logistic regression (baselines, L-BFGS)", "preset": "-", "best_test_acc": acc,
             "final_test_acc": acc, "train_s": seconds}]


def _fmt(v, spec=".4f", unit=""):
    return "n/a" if v is None else f"{v:{spec}}{unit}"


def _ablation_markdown(rec, rows, args) -> str:
    lines = ["# Ablation: what each option adds to the paper's ADMM", "",
             f"Command: `{rec['command']}`  ", f"Commit `{rec['commit']}`, {rec['date']}, {rec['machine'].get('cpu')} "
             f"({rec['machine'].get('cores')} cores), NumPy float64, 1 process; {args.iters} iterations per run.", "",
             "Tasks: the embedded real HIGGS rows (28-300-1, target 0.64); a **synthetic** SVHN-shaped binary task "
             "(3,072 features, 3072-100-50-1, the paper's SVHN target 0.95); a **synthetic** 10-class task (64-100-10, "
             "one-vs-rest hinge). Each row changes one option of the paper's method; the last ADMM row is the default preset.", ""]
    for task in dict.fromkeys(r["task"] for r in rows):
        sub = [r for r in rows if r["task"] == task]
        first = sub[0]
        lines += [f"## {task} ({first.get('n_train', 0):,} train / {first.get('n_test', 0):,} test, {first.get('classes', '?')} classes"
                  f"{', synthetic' if first.get('synthetic') else ''})", "",
                  "| option | best test acc | final test acc | time to target | training time |", "|---|---:|---:|---:|---:|"]
        for r in sub:
            lines.append(f"| {r['option']} | {_fmt(r['best_test_acc'])} | {_fmt(r['final_test_acc'])} | "
                         f"{_fmt(r.get('time_to_target_s'), '.1f', ' s') if r.get('target') else '-'} | {_fmt(r['train_s'], '.1f', ' s')} |")
        lines.append("")
    return "\n".join(lines)


def register(sub) -> None:
    p = sub.add_parser("sweep", help="grid-search ADMM's penalties on validation rows carved from the training split",
                       description=SWEEP_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="higgs-sample", metavar="NAME|FILE",
                   help="data set to tune on, as for `admm-xp train` (default higgs-sample, the embedded HIGGS rows)")
    p.add_argument("--hidden", default="300", metavar="W[,W...]", help="hidden layer widths, e.g. 300 or 100,50 (default 300)")
    p.add_argument("--n-train", type=int, default=None, metavar="N",
                   help="training rows, >= 1, before the validation rows are carved off (default: all)")
    p.add_argument("--iters", type=int, default=100, metavar="K", help="ADMM iterations per setting, >= 1 (default 100)")
    p.add_argument("--validation", type=float, default=0.2, metavar="F",
                   help="fraction of the training rows used for scoring, in (0, 1) (default 0.2)")
    p.add_argument("--gamma", default="0.1,0.3,1,3,10", metavar="G[,G...]", help="values of gamma to try (default 0.1,0.3,1,3,10)")
    p.add_argument("--beta", default="0.1,0.3,1,3,10", metavar="B[,B...]", help="values of beta to try (default 0.1,0.3,1,3,10)")
    p.add_argument("--weight-decay", default="0,1", metavar="W[,W...]", help="values of the weight decay to try (default 0,1)")
    p.add_argument("--preset", choices=("default", "paper"), default="paper",
                   help="other settings come from this preset (default paper)")
    p.add_argument("--seed", type=int, default=0, help="seed of the validation split (default 0)")
    p.add_argument("--out-dir", default="results/sweep", metavar="DIR",
                   help="folder for sweep.json, sweep.csv and sweep.md (default results/sweep)")
    p.add_argument("--quiet", action="store_true", help="no progress line per setting (default: one on stderr)")
    p.set_defaults(func=cmd_sweep)

    a = sub.add_parser("ablation", help="train each option against the paper's method on three tasks",
                       description=ABLATION_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--tasks", default=",".join(TASKS), metavar="TASK[,TASK...]",
                   help=f"comma-separated, from {', '.join(TASKS)} (default: all three)")
    a.add_argument("--iters", type=int, default=100, metavar="K", help="ADMM iterations per run, >= 1 (default 100)")
    a.add_argument("--quick", action="store_true", help="fewer training samples per task (default: all of them)")
    a.add_argument("--out-dir", default="results/ablation", metavar="DIR",
                   help="folder for ablation.json, ablation.csv and ablation.md (default results/ablation)")
    a.add_argument("--quiet", action="store_true", help="no progress line per run (default: one on stderr)")
    a.set_defaults(func=cmd_ablation)
