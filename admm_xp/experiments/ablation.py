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
Train ADMM over a grid of settings (gamma x beta x weight decay x form of
the Lagrangian) and score each by its accuracy on validation rows carved
from the training split (a seeded fraction, by row index); the test split
is never read. Writes sweep.json, sweep.csv and sweep.md (best first) to
--out-dir. Its tables chose the `default` preset (admm_xp.solver.config)."""

ABLATION_DESCRIPTION = """\
Train ADMM with one option changed at a time on four tasks (the embedded real
HIGGS rows with one and with two hidden layers of 300, scikit-learn's real
8x8 digits with 10 classes, and a synthetic SVHN-shaped task with 3,072
features) and tabulate each run's accuracy on validation rows carved from
the training split (a seeded 20%; the test split is never read; the tasks
higgs-deep3, digits-deep (two hidden layers of 300) and digits-deep3 (three)
run when --tasks names them): after 100
iterations, after the last, the best, and the iteration that first reached
the task's target. The rows: the paper's method and each option the default
preset adds to it, then the default preset and each research option on top
of it. A logistic regression on the same rows gives the scale. With several
--seed values every row runs once per seed (each seed draws both the
validation rows and the initialisation) and the table shows the means, the
lowest final accuracy and how many runs ended lower than at iteration 100.
Writes ablation.json, ablation.csv and ablation.md to --out-dir."""

VALIDATION = 0.2  # share of the training rows the ablation scores on (seeded, by row index)

TASKS = {
    # name: (data set, hidden widths, training samples or None for all, target accuracy)
    "higgs-sample": ("higgs-sample", (300,), None, 0.64),
    "higgs-deep": ("higgs-sample", (300, 300), None, 0.64),
    "higgs-deep3": ("higgs-sample", (300, 300, 300), None, 0.64),
    "digits": ("digits", (300,), None, 0.97),
    "digits-deep": ("digits", (300, 300), None, 0.97),
    "digits-deep3": ("digits", (300, 300, 300), None, 0.97),
    "synthetic-svhn": ("synthetic-svhn", (100, 50), None, 0.95),
    "synthetic-multiclass": ("synthetic-multiclass", (100,), None, None),
}
DEFAULT_TASKS = ("higgs-sample", "higgs-deep", "digits", "synthetic-svhn")
# --quick: training rows per data set (None: all), whatever the network the task trains on it
QUICK_N = {"higgs-sample": 6000, "digits": None, "synthetic-svhn": 4000, "synthetic-multiclass": 8000}

# (label, preset, changes): first the paper's method with one option changed at a time, then the
# default preset (admm_xp.solver.config.DEFAULT) with its Lagrangian changed, one of its parts left
# out, or one research option added. The default trains a network of two or more hidden layers one
# hidden layer at a time (layerwise 30); the rows on its rules for a network trained whole turn that off.
OPTIONS = [
    ("paper", "paper", {}),
    ("paper + gamma = beta = 1", "paper", {"gamma": (1.0,), "beta": (1.0,)}),
    ("paper + weight decay 1", "paper", {"weight_decay": 1.0}),
    ("paper + augmented Lagrangian", "paper", {"lagrangian": "augmented"}),
    ("paper + bias", "paper", {"bias": True}),
    ("paper + forward init", "paper", {"init": "forward"}),
    ("paper + no multiplier", "paper", {"multiplier": False}),
    ("paper + penalty growth 1.05", "paper", {"penalty_growth": 1.05, "penalty_max": 100.0}),
    ("default preset", "default", {}),
    ("default, augmented Lagrangian only", "default", {"lagrangian": "augmented"}),
    ("default, full Lagrangian", "default", {"lagrangian": "full"}),
    ("default, full Lagrangian, dual decay 30", "default", {"lagrangian": "full", "dual_decay": 30}),
    ("default + cross-entropy", "default", {"loss": "cross-entropy"}),
    ("default, full Lagrangian + cross-entropy", "default", {"lagrangian": "full", "loss": "cross-entropy"}),
    ("default + residual balancing", "default", {"residual_balancing": True}),
    ("default + Anderson (weights, m = 5)", "default", {"anderson": 5, "anderson_on": "weights"}),
    ("default + Anderson (state, m = 5)", "default", {"anderson": 5, "anderson_on": "state"}),
    ("default, full Lagrangian, weight decay 0.3", "default", {"lagrangian": "full", "weight_decay": 0.3}),
    ("default whole (layer-wise off), no centred layers", "default", {"layerwise": 0, "center_layers": False}),
    ("default whole (layer-wise off), first hidden layer's penalties as given (x1)", "default",
     {"layerwise": 0, "first_layer_penalty": 1.0}),
    ("default, linear Lagrangian", "default", {"lagrangian": "linear"}),
    ("default, constant dual step (no dual decay)", "default", {"dual_decay": 0}),
    ("default, no ReLU multipliers at the start (linear form throughout)", "default", {"relu_multiplier_iters": 0}),
    ("default whole (layer-wise off), the former rule for deeper networks (augmented, no centring, first layer x1)",
     "default", {"layerwise": 0, "lagrangian": "augmented", "center_layers": False, "first_layer_penalty": 1.0}),
    ("default whole (layer-wise off), no forward restart", "default", {"layerwise": 0, "forward_restart": 0}),
    ("default whole (layer-wise off) + forward restart every 10 iterations", "default",
     {"layerwise": 0, "forward_restart": 10}),
    ("default, layer-wise, 50 iterations per lower stage", "default", {"layerwise": 50}),
    ("default, whole network at once (layer-wise off)", "default", {"layerwise": 0}),
    ("default, layer-wise, 20 iterations per lower stage", "default", {"layerwise": 20}),
]
EARLY = 100  # the iteration whose accuracy the table reports besides the last


def _load(ds_name, n_train, validation, seed):
    """The data set once for every run of a sweep or an ablation task: its validation rows are its test split."""
    from ..data import load_dataset

    return load_dataset(ds_name, n_train=n_train, validation=validation, seed=seed)


def _train(ds, hidden, cfg_kwargs, preset, iters, target=None):
    from ..runtime.backend import resolve_device
    from ..runtime.comm import LocalComm
    from ..solver.config import ADMMConfig
    from ..data.device import to_device
    from ..runrecord import first_reached
    from ..train import RunOptions, train_admm

    backend = resolve_device("cpu")
    cfg = ADMMConfig.from_preset(preset, hidden=tuple(hidden), **cfg_kwargs)
    res = train_admm(to_device(ds, backend, cfg.dtype), cfg, backend, LocalComm(),
                     RunOptions(iters=iters, target_acc=None, eval_every=1, progress=False))
    accs = [h["test_acc"] for h in res.history if h.get("test_acc") is not None]
    hit = first_reached(res.history, target) or {}
    early = next((h["test_acc"] for h in res.history if h.get("iter") == min(EARLY, iters)), accs[-1])
    return cfg, res, {"final_acc": accs[-1], "best_acc": max(accs), "train_s": res.final["train_s"],
                          "time_to_target_s": hit.get("time_s"), "iters_to_target": hit.get("iter"), "acc_at_early": early,
                          "iters": res.final["iters"]}


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
    from ..solver.config import LAGRANGIANS

    lagrangians = [v.strip() for v in args.lagrangian.split(",") if v.strip()]
    bad = [v for v in lagrangians if v not in LAGRANGIANS]
    if bad or not lagrangians:
        raise ConfigError(f"--lagrangian takes a comma-separated list of {', '.join(LAGRANGIANS)}, got {args.lagrangian!r}")
    grid = {"gamma": _floats(args.gamma, "--gamma"), "beta": _floats(args.beta, "--beta"),
            "weight_decay": _floats(args.weight_decay, "--weight-decay"), "lagrangian": lagrangians}
    combos = list(itertools.product(*grid.values()))
    settings = [{"gamma": (g,), "beta": (b,), "weight_decay": w, "lagrangian": lg} for g, b, w, lg in combos]
    for cfg_kw in settings:  # a bad grid value (gamma <= 0, weight decay < 0) fails now, not after hours of training
        try:
            ADMMConfig.from_preset(args.preset, hidden=hidden, **cfg_kw)
        except ConfigError as exc:
            raise ConfigError(f"--gamma / --beta / --weight-decay grid: {exc}") from None
    check_output_dir(args.out_dir, "--out-dir")
    ds = _load(args.dataset, args.n_train, args.validation, args.seed)
    meta_ds = ds.describe()
    rows = []
    for i, (values, cfg_kw) in enumerate(zip(combos, settings), 1):
        kw = dict(zip(grid, values))
        t0 = time.perf_counter()
        cfg, res, m = _train(ds, hidden, cfg_kw, args.preset, args.iters)
        rows.append({**kw, "val_final_acc": m["final_acc"], "val_best_acc": m["best_acc"], "train_s": m["train_s"]})
        if not args.quiet:
            print(f"sweep {i}/{len(combos)}: {kw} -> validation accuracy {m['final_acc']:.4f} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    rows.sort(key=lambda r: -r["val_final_acc"])
    rec = base_record(method="admm-sweep", dataset=meta_ds, layers=[meta_ds["n_features"], *hidden, 1 if meta_ds["n_classes"] == 2 else meta_ds["n_classes"]], backend=None,
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
          "| gamma | beta | weight decay | Lagrangian | validation accuracy (final) | best over iterations |",
          "|---:|---:|---:|---|---:|---:|"]
    md += [f"| {r['gamma']:g} | {r['beta']:g} | {r['weight_decay']:g} | {r['lagrangian']} | {r['val_final_acc']:.4f} | "
           f"{r['val_best_acc']:.4f} |" for r in rows]
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
    options = OPTIONS
    if args.options:
        wanted = [o.strip() for o in args.options.split(",") if o.strip()]
        options = [o for i, o in enumerate(OPTIONS) if str(i) in wanted]
        if len(options) != len(set(wanted)) or not options:
            raise ConfigError(f"--options takes row numbers 0..{len(OPTIONS) - 1} (see --help), got {args.options!r}")
    from ..solver.config import ADMMConfig

    for task in names:  # every row's configuration is valid before any training
        for label, preset, change in options:
            ADMMConfig.from_preset(preset, hidden=TASKS[task][1], **change)
    seeds = _seeds(args.seed)
    check_output_dir(args.out_dir, "--out-dir")
    rows, histories = [], {}
    early = min(EARLY, args.iters)
    for task in names:
        data, hidden, n_train, target = TASKS[task]
        n_train = QUICK_N[data] if args.quick else n_train
        runs = {label: [] for label, _, _ in options}
        references = []
        for seed in seeds:
            ds = _load(data, n_train, VALIDATION, seed)
            for label, preset, change in options:
                t0 = time.perf_counter()
                cfg, res, m = _train(ds, hidden, {**change, "seed": seed}, preset, args.iters, target=target)
                runs[label].append((seed, cfg, m, (ds.n_train, ds.n_test)))
                key = f"{task}/{label}" if len(seeds) == 1 else f"{task}/{label}/seed {seed}"
                histories[key] = [{k: h.get(k) for k in ("iter", "time_s", "objective", "train_acc", "test_acc")}
                                  for h in res.history]
                if not args.quiet:
                    print(f"ablation {task} / {label}{'' if len(seeds) == 1 else f' / seed {seed}'}: validation "
                          f"accuracy {m['acc_at_early']:.4f} at iteration {early}, {m['final_acc']:.4f} at "
                          f"{m['iters']} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
            references += _reference_rows(task, ds)
        for label, _, _ in options:
            _, cfg, _, (n_tr, n_val) = runs[label][0]
            resolved = cfg.resolved()
            rows.append({"task": task, "option": label, "preset": cfg.preset, "hidden": list(hidden),
                         "lagrangian": resolved.lagrangian, "forward_restart": resolved.forward_restart,
                         "layerwise": resolved.layerwise if resolved.trains_layerwise else 0,
                         "n_train": n_tr, "n_validation": n_val, "classes": ds.n_classes,
                         "synthetic": ds.synthetic, **_over_seeds([r[2] for r in runs[label]], early),
                         "target": target, "seeds": list(seeds)})
            if len(seeds) > 1:
                rows[-1]["per_seed"] = [{"seed": sd, "n_train": n[0], "n_validation": n[1],
                                         f"val_acc_at_{early}": m["acc_at_early"], "final_val_acc": m["final_acc"],
                                         "best_val_acc": m["best_acc"], "iters_to_target": m["iters_to_target"]}
                                        for sd, _, m, n in runs[label]]
        rows += _mean_reference(references)
    rec = base_record(method="admm-ablation", dataset={"name": ",".join(names), "scored_on": "validation rows"},
                      layers=[], backend=None, dtype="float64", ranks=1,
                      config={"iters": args.iters, "quick": args.quick, "validation": VALIDATION, "seeds": list(seeds),
                              "options": [{"label": o, "preset": p, "changes": {k: list(v) if isinstance(v, tuple) else v
                                                                               for k, v in c.items()}}
                                          for o, p, c in options]})
    rec["history"] = histories
    rec["final"] = {"rows": rows}
    os.makedirs(args.out_dir, exist_ok=True)
    write_json_atomic(os.path.join(args.out_dir, "ablation.json"), rec)
    write_csv_atomic(os.path.join(args.out_dir, "ablation.csv"), rows)
    md = _ablation_markdown(rec, rows, args)
    write_text_atomic(os.path.join(args.out_dir, "ablation.md"), md)
    print(md)
    return 0


def _seeds(text) -> list:
    """``--seed S[,S...]``: distinct integers >= 0."""
    try:
        seeds = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seed takes one or more distinct integers >= 0, comma-separated (e.g. 0 or 0,1,2), "
                          f"got {text!r}")
    return seeds


def _over_seeds(ms, early) -> dict:
    """One table row from the runs of one option over the seeds: the means, the lowest final accuracy and
    how many runs ended lower than at iteration ``early`` (with one seed: that run's numbers)."""
    def mean(key):
        return sum(m[key] for m in ms) / len(ms)

    hits = [m["iters_to_target"] for m in ms]
    reached = all(h is not None for h in hits)
    return {f"val_acc_at_{early}": mean("acc_at_early"), "final_val_acc": mean("final_acc"),
            "lowest_final_val_acc": min(m["final_acc"] for m in ms), "best_val_acc": mean("best_acc"),
            "runs_lower_at_end": sum(m["final_acc"] < m["acc_at_early"] for m in ms), "runs": len(ms),
            "iters_to_target": (hits[0] if len(hits) == 1 else sum(hits) / len(hits)) if reached else None,
            "time_to_target_s": (sum(m["time_to_target_s"] for m in ms) / len(ms)) if reached else None,
            "train_s": mean("train_s"), "iters": ms[0]["iters"]}


def _mean_reference(references: list) -> list:
    """The logistic regression's rows of every seed as one row, averaged (none without the baselines)."""
    if not references:
        return []
    acc = sum(r["final_val_acc"] for r in references) / len(references)
    return [dict(references[0], final_val_acc=acc, best_val_acc=acc,
                 train_s=sum(r["train_s"] for r in references) / len(references))]


def _reference_rows(task, ds):
    """A logistic regression on the same training and validation rows (``ds``), for scale (from the
    baselines package when present)."""
    try:
        from baselines.reference import logistic_regression
    except ImportError:
        return []
    res = logistic_regression(ds)
    acc = res.final["test_acc"]  # the validation rows stand in for the test split
    return [{"task": task, "option": "logistic regression (baselines, L-BFGS)", "preset": "-",
             "final_val_acc": acc, "best_val_acc": acc, "train_s": res.final["train_s"]}]


def _fmt(v, spec=".4f", unit=""):
    return "n/a" if v is None else f"{v:{spec}}{unit}"


def _sizes(row, key) -> str:
    """The row's number of training or validation rows; a range where the seeds' splits differ in size."""
    values = [p[key] for p in row.get("per_seed", [])] or [row.get(key, 0)]
    lo, hi = min(values), max(values)
    return f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"


def _ablation_markdown(rec, rows, args) -> str:
    early = min(EARLY, args.iters)
    lines = ["# Ablation: what each option adds, on validation rows", "",
             f"Command: `{rec['command']}`  ", f"Commit `{rec['commit']}`, {rec['date']}, {rec['machine'].get('cpu')} "
             f"({rec['machine'].get('cores')} cores), NumPy float64, 1 process; {args.iters} iterations per run.", "",
             f"Every accuracy here is on validation rows: a seeded {VALIDATION:.0%} of each task's training split "
             "(by row index); the test split is never read. Tasks: the embedded real HIGGS rows (28-300-1, and "
             "28-300-300-1 as higgs-deep, 28-300-300-300-1 as higgs-deep3; target 0.64); scikit-learn's real 8x8 digits (64-300-10, 10 classes, "
             "64-300-300-10 as digits-deep and 64-300-300-300-10 as digits-deep3; "
             "target 0.97, about a logistic regression); a **synthetic** SVHN-shaped binary task (3072-100-50-1, "
             "the paper's SVHN target 0.95). The first rows change one option of the paper's method; the default "
             "preset is the paper's method with gamma = beta = 1, weight decay 1 and the Lagrangian `auto` "
             "(`linear`, multipliers on every linear constraint, for one hidden layer, with the ReLU equality's "
             "multipliers for its first 30 iterations); it trains a network of two or more hidden layers one hidden "
             "layer at a time (30 iterations for each but the last, every stage a one-hidden-layer network), and "
             "a deeper network trained whole (layer-wise off) has multipliers on every constraint, `full`, "
             "centred layers and a first hidden layer with three times the penalties, and with three or more "
             "hidden layers a restart of the per-sample variables from the forward pass every 10 iterations; the "
             "rows after it change its Lagrangian, leave out one of its parts or add one research option to it.", ""]
    seeds = rec["config"]["seeds"]
    several = len(seeds) > 1
    if several:
        lines += [f"Every row is the mean of {len(seeds)} runs, seeds {', '.join(map(str, seeds))}: each seed draws "
                  "both the validation rows and the initialisation. *Lowest final* is the worst of those runs; "
                  f"*lower at the end* counts the runs whose last accuracy is below their accuracy at iteration "
                  f"{early}.", ""]
    for task in dict.fromkeys(r["task"] for r in rows):
        sub = [r for r in rows if r["task"] == task]
        first = sub[0]
        lines += [f"## {task} ({_sizes(first, 'n_train')} train / {_sizes(first, 'n_validation')} validation rows, "
                  f"hidden {first.get('hidden')}, {first.get('classes', '?')} classes"
                  f"{', synthetic' if first.get('synthetic') else ''})", ""]
        if several:
            lines += [f"| option | at iteration {early} | final | lowest final | lower at the end | best | "
                      "iterations to target | training time |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        else:
            lines += [f"| option | at iteration {early} | final | best | iterations to target | training time |",
                      "|---|---:|---:|---:|---:|---:|"]
        for r in sub:
            to_target = _fmt(r.get("iters_to_target"), ".0f" if several else "d") if r.get("target") else "-"
            label = r["option"]
            if r["option"] == "default preset":
                label += f" (layer-wise, {r['layerwise']})" if r.get("layerwise") else f" ({r['lagrangian']})"
            spread = (f" {_fmt(r.get('lowest_final_val_acc'))} | "
                      f"{'-' if r.get('runs') is None else str(r['runs_lower_at_end']) + ' of ' + str(r['runs'])} |"
                      if several else "")
            lines.append(f"| {label} | {_fmt(r.get(f'val_acc_at_{early}'))} | {_fmt(r['final_val_acc'])} |{spread} "
                         f"{_fmt(r['best_val_acc'])} | {to_target} | {_fmt(r['train_s'], '.1f', ' s')} |")
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
    p.add_argument("--lagrangian", default="augmented", metavar="L[,L...]",
                   help="forms of the Lagrangian to try: paper, augmented, full (default augmented)")
    p.add_argument("--preset", choices=("default", "paper"), default="default",
                   help="other settings come from this preset (default: default)")
    p.add_argument("--seed", type=int, default=0, help="seed of the validation split (default 0)")
    p.add_argument("--out-dir", default="results/sweep", metavar="DIR",
                   help="folder for sweep.json, sweep.csv and sweep.md (default results/sweep)")
    p.add_argument("--quiet", action="store_true", help="no progress line per setting (default: one on stderr)")
    p.set_defaults(func=cmd_sweep)

    a = sub.add_parser("ablation", help="train each option on validation rows of four tasks",
                       description=ABLATION_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--tasks", default=",".join(DEFAULT_TASKS), metavar="TASK[,TASK...]",
                   help=f"comma-separated, from {', '.join(TASKS)} (default: {','.join(DEFAULT_TASKS)})")
    a.add_argument("--options", default=None, metavar="I[,I...]",
                   help="run only these rows (numbers: " + "; ".join(f"{i} {o}" for i, (o, _, _) in enumerate(OPTIONS))
                   + "; default: all)")
    a.add_argument("--iters", type=int, default=300, metavar="K",
                   help=f"ADMM iterations per run, >= 1; the table also shows iteration {EARLY} (default 300)")
    a.add_argument("--seed", default="0", metavar="S[,S...]",
                   help="seeds of the validation rows and of the initialisation; with several, every row runs once "
                        "per seed and the table shows means and how many runs lost accuracy after iteration 100 "
                        "(default 0)")
    a.add_argument("--quick", action="store_true", help="fewer training samples per task (default: all of them)")
    a.add_argument("--out-dir", default="results/ablation", metavar="DIR",
                   help="folder for ablation.json, ablation.csv and ablation.md (default results/ablation)")
    a.add_argument("--quiet", action="store_true", help="no progress line per run (default: one on stderr)")
    a.set_defaults(func=cmd_ablation)
