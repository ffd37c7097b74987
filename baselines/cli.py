"""``admm-xp baseline`` and ``admm-xp baseline-tune`` (also ``python -m baselines [tune] ...``).

:func:`register` adds both subcommands to the ``admm-xp`` parser (the CLI
imports this module when it exists). Errors are :class:`admm_xp.errors.UserError`
and reach the user as one line with exit code 2; every option is checked
before any data is read or any file written.
"""
from __future__ import annotations

import argparse
import json
import os

from admm_xp.cli.options import check_output_path
from admm_xp.cli.options import add_data_options, add_device_options, parse_widths, stop_words, target_words, time_to_target
from admm_xp.errors import ConfigError

from .losses import LOSSES
from .schedules import SCHEDULES
from .train import BATCH_SIZE, FALLBACK_LR, METHODS, MINIBATCH, SCHEDULE, Settings

RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results", "baselines")
TUNED = "tuned"  # package data: the searches behind the shipped defaults (copies of results/baselines/*_search_*.json)
MINIBATCH_ONLY = ("lr", "batch_size", "schedule")
OPTION = {"lr": "--lr", "batch_size": "--batch-size", "schedule": "--schedule", "momentum": "--momentum",
          "nesterov": "--nesterov", "history": "--history"}

DESCRIPTION = """\
Train the network ADMM trains (ReLU hidden layers, a scalar hinge-loss output for two classes, one-vs-rest
outputs otherwise) with a gradient method, on the same data, backends and run-record format:

  sgd    mini-batch SGD, Nesterov momentum 0.9, cosine learning-rate decay over --epochs
  adam   Adam (Kingma & Ba 2015), constant learning rate
  cg     nonlinear conjugate gradients (Polak-Ribiere+, restarts), full batch, strong Wolfe line search
  lbfgs  L-BFGS (memory --history), full batch, strong Wolfe line search

Options not given take the values of this checkout's search for the method when it was made for the same
data set, network and loss: results/baselines/lr_search_<sgd|adam>.json (learning rate, batch size, L2)
or l2_search_<cg|lbfgs>.json (L2), written by `python -m baselines tune` and scored on validation rows
carved from the training split, never on the test split. Without one: Adam's 1e-3, SGD's 0.01, no L2.
Under mpiexec every method is data parallel: ranks hold contiguous shards; CG and L-BFGS sum the shards'
losses and gradients (one allreduce per evaluation); SGD and Adam split each global mini-batch over the
ranks and sum its gradients (the same steps as one process). `admm-xp predict --model` applies a model
saved with --save-model."""


def add_network_options(p) -> None:
    g = p.add_argument_group("network and loss")
    g.add_argument("--hidden", default="300", metavar="W[,W...]|none",
                   help="hidden layer widths, e.g. 300 or 100,50; none = no hidden layer (a linear model: with "
                        "--loss logistic, logistic regression) (default 300, the paper's HIGGS network)")
    g.add_argument("--bias", choices=("on", "off"), default="off",
                   help="a bias in every layer (default off: ADMM's default network has none)")
    g.add_argument("--loss", choices=LOSSES, default="hinge",
                   help="hinge max(1 - s z, 0) (ADMM's loss, default), squared-hinge, or logistic log(1 + exp(-s z))")
    g.add_argument("--seed", type=int, default=0,
                   help="seed of the He initialisation and of the mini-batch shuffles (default 0)")


def register(sub) -> None:
    p = sub.add_parser("baseline", help="train the same network with SGD, Adam, CG or L-BFGS",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True, choices=METHODS, help="the optimiser (see above)")
    add_data_options(p)
    add_network_options(p)
    g = p.add_argument_group("optimiser")
    g.add_argument("--l2", type=float, default=None, metavar="L",
                   help="L2 penalty (L/2)||W||^2 on the weights, not the biases (default: the search's value, else 0)")
    g.add_argument("--lr", type=float, default=None, metavar="ETA",
                   help=f"SGD/Adam learning rate (default: the search's value, else {FALLBACK_LR['adam']:g} for Adam, "
                        f"{FALLBACK_LR['sgd']:g} for SGD)")
    g.add_argument("--batch-size", type=int, default=None, metavar="B",
                   help=f"SGD/Adam global mini-batch size (default: the search's value, else {BATCH_SIZE})")
    g.add_argument("--schedule", choices=SCHEDULES, default=None,
                   help=f"SGD/Adam learning-rate schedule over the run's --epochs: constant, step (x0.1 at 50%% "
                        f"and 75%%) or cosine (default {SCHEDULE['sgd']} for SGD, {SCHEDULE['adam']} for Adam)")
    g.add_argument("--momentum", type=float, default=None, metavar="MU", help="SGD momentum (default 0.9)")
    g.add_argument("--nesterov", choices=("on", "off"), default=None, help="SGD: Nesterov's momentum (default on)")
    g.add_argument("--history", type=int, default=None, metavar="M", help="L-BFGS memory: stored pairs (default 10)")
    g.add_argument("--tuned", metavar="FILE",
                   help="the search record to take defaults from (default: this checkout's "
                        "results/baselines/lr_search_<method>.json or l2_search_<method>.json, else the copy shipped in the "
                        "package, baselines/tuned/; used when it matches the run)")
    add_device_options(p)
    r = p.add_argument_group("run")
    r.add_argument("--epochs", type=int, default=200, metavar="N",
                   help="passes over the training data: epochs of SGD/Adam, evaluations of f and its gradient "
                        "(one full pass each) for CG/L-BFGS (default 200)")
    r.add_argument("--max-time", type=float, metavar="S", help="stop after S seconds of training")
    r.add_argument("--target-acc", type=float, metavar="A", help="stop when the test accuracy reaches A (e.g. 0.64)")
    r.add_argument("--eval-every", type=int, default=1, metavar="K",
                   help="measure the loss and accuracies every K epochs (SGD/Adam) or iterations (CG/L-BFGS); "
                        "evaluation time is not training time (default 1)")
    r.add_argument("--block-size", type=int, default=None, metavar="N",
                   help="samples per block of a full pass (default 512 on cpu, 262144 on a GPU)")
    r.add_argument("--out", metavar="run.json", help="write the run record (JSON) here (missing folders are made)")
    r.add_argument("--save-model", metavar="model.npz",
                   help="save the trained network here, for `admm-xp predict` (missing folders are made)")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_baseline)  # `baseline-tune` is registered beside it (baselines.tune.add_tune_parser)


def parse_hidden(text: str) -> tuple:
    return () if str(text).strip().lower() == "none" else parse_widths(text)


def settings_from_args(args, tuned: dict | None = None) -> Settings:
    """Settings from the parsed options, with the search's values where an option was not given."""
    tuned = tuned or {}
    given = {k: getattr(args, k) for k in OPTION if getattr(args, k, None) is not None}
    if args.method not in MINIBATCH:
        wrong = [OPTION[k] for k in (*MINIBATCH_ONLY, "momentum", "nesterov") if k in given]
        if wrong:
            raise ConfigError(f"{', '.join(wrong)} only appl{'ies' if len(wrong) == 1 else 'y'} to sgd and adam "
                              f"({args.method} chooses its steps by line search)")
    elif args.method == "adam" and ("momentum" in given or "nesterov" in given):
        raise ConfigError("--momentum and --nesterov apply to sgd only (Adam uses b1 = 0.9, b2 = 0.999)")
    if "history" in given and args.method != "lbfgs":
        raise ConfigError("--history applies to lbfgs only")
    kw = dict(method=args.method, hidden=parse_hidden(args.hidden), loss=args.loss, bias=args.bias == "on",
              seed=args.seed, dtype=args.dtype or ("float32" if str(args.device).startswith("cuda") else "float64"),
              epochs=args.epochs, max_time=args.max_time, target_acc=args.target_acc, eval_every=args.eval_every,
              block_size=args.block_size)
    kw["l2"] = args.l2 if args.l2 is not None else tuned.get("l2", 0.0)
    for key in ("lr", "batch_size"):
        value = given.get(key, tuned.get(key))
        if value is not None:
            kw[key] = value
    for key in ("schedule", "momentum", "history"):
        if key in given:
            kw[key] = given[key]
    if "nesterov" in given:
        kw["nesterov"] = given["nesterov"] == "on"
    return Settings(**kw)


def packaged_search(method: str):
    """The search shipped with the package for ``method`` (``baselines/tuned/``, an importlib.resources path)."""
    from importlib import resources

    return resources.files("baselines") / TUNED / os.path.basename(search_path("", method))


def search_path(results_dir: str, method: str) -> str:
    """Where a method's search is written by default and read by ``baseline`` runs."""
    return os.path.join(results_dir, f"{'lr' if method in MINIBATCH else 'l2'}_search_{method}.json")


def tuned_values(args) -> tuple[dict, str | None]:
    """(values, source) from the method's search (see :mod:`baselines.tune`) when it matches this run.

    ``--tuned FILE``, else the checkout's search (``results/baselines/``, where ``baseline-tune`` writes),
    else the search shipped as package data (``baselines/tuned/``), so an installed package keeps its defaults."""
    path = args.tuned or search_path(RESULTS, args.method)
    source = None
    if not os.path.exists(path):
        if args.tuned:
            raise ConfigError(f"--tuned {path}: no such file; run `python -m baselines tune --method {args.method}` first")
        shipped = packaged_search(args.method)
        if not shipped.is_file():
            return {}, None
        path, source = shipped, f"baselines/{TUNED}/{shipped.name} (package data)"
    try:
        rec = json.loads(_read_text(path))
        chosen, cfg = rec["final"]["chosen"], rec["config"]
        method = rec["config"]["method"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"{path}: not a search record (write one with `python -m baselines tune`)") from None
    if method != args.method:
        raise ConfigError(f"{path}: a search for {method}, not {args.method}")
    run = {"dataset": args.dataset, "hidden": list(parse_hidden(args.hidden)), "loss": args.loss, "bias": args.bias == "on"}
    if not args.tuned and any(cfg.get(k) != v for k, v in run.items()):
        return {}, None  # the checkout's search is for another data set or network
    return dict(chosen), source or os.path.relpath(path)


def _read_text(path) -> str:
    """A file's text, for a path or an importlib.resources Traversable (package data, maybe in a zip)."""
    if isinstance(path, str):
        with open(path) as fh:
            return fh.read()
    return path.read_text()


def cmd_baseline(args, comm) -> int:
    import numpy as np

    from admm_xp.cli.options import setup_run
    from admm_xp.runtime.gpu import allow_tf32
    from admm_xp.model import Network
    from admm_xp.progress import Progress
    from admm_xp.runrecord import base_record, write_json_atomic
    from admm_xp.data.device import to_device

    from .train import train

    tuned, source = tuned_values(args)
    settings = settings_from_args(args, tuned)
    check_output_path(args.out, "--out")
    check_output_path(args.save_model, "--save-model")
    backend, ds = setup_run(args, comm)
    tf32 = allow_tf32(backend) if args.allow_tf32 else False
    dd = to_device(ds, backend, settings.dtype)
    lead = comm.rank == 0
    progress = Progress(max(1, settings.epochs), args.method, enabled=lead and not args.quiet)
    n_out = 1 if ds.n_classes == 2 else ds.n_classes
    layers = [ds.n_features, *settings.hidden, n_out]
    if lead and not args.quiet:
        hyper = f"lr {settings.lr:g}, " if args.method in MINIBATCH else ""
        progress.message(f"{args.method} on {ds.name}: {ds.n_train:,} train / {ds.n_test:,} test samples, {ds.n_classes} "
                         f"classes, layers {layers}, {settings.loss} loss, {hyper}l2 {settings.l2:g}"
                         f"{f' (from {source})' if source else ''}, {backend.label} {settings.dtype}, {comm.size} rank(s)")
    result = train(dd, settings, backend, comm, progress=progress)
    progress.close()
    fin = result.final
    time_to_target(fin, result.history, args.target_acc, ds.name)
    config = settings.to_dict()
    config["tuned_from"] = source
    config["run"] = {"allow_tf32": tf32, "cuda_aware_mpi": bool(args.cuda_aware_mpi),
                     "data_parallel": "synchronous: each rank its share of every global mini-batch, gradients summed"
                     if args.method in MINIBATCH else "full batch: shard sums, one allreduce per evaluation"}
    if lead:
        if args.out:
            rec = base_record(method=args.method, dataset=ds.describe(), layers=layers, backend=backend,
                              dtype=settings.dtype, ranks=comm.size, config=config)
            rec["history"] = result.history
            rec["final"] = fin
            write_json_atomic(args.out, rec)
        if args.save_model:
            Network(weights=result.host_weights(backend.xp), bias=settings.bias, mean=ds.mean, scale=ds.scale,
                    classes=ds.classes if ds.classes is not None else np.arange(ds.n_classes), meta={"method": args.method, "dataset": ds.name, "config": config}
                    ).save(args.save_model)
        unit = "epochs" if args.method in MINIBATCH else "iterations"
        why = stop_words(fin["stop_reason"])
        if fin["stop_reason"] == "epochs" and args.method not in MINIBATCH:  # --epochs counts evaluations here
            why = f"all {settings.epochs} evaluations of f and its gradient (--epochs) used"
        print(f"test accuracy {fin['test_acc']:.4f} (train {fin['train_acc']:.4f}, best test {fin['best_test_acc']:.4f}) "
              f"after {fin['iters']} {unit}, {fin['train_s']:.2f} s training ({why})"
              + target_words(result.history, args.target_acc, ds.name, unit.rstrip("s")))
    return 0
