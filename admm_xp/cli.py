"""The ``admm-xp`` command line (also ``python -m admm_xp``).

Subcommands: ``train`` (ADMM), ``predict``, ``data fetch``, and the tools
registered by later modules (``baseline``, ``bench``, ``scaling``,
``reproduce``, ``ablation``). Bad input ends with one line on stderr,
``admm-xp: error: <what is wrong and what to do>``, and exit code 2; under
MPI the first failing rank ends every rank.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

from . import __version__
from .checks import MPIEXEC_HINT, check_output_dir, check_output_path, find_mpiexec
from .solver.config import CPU_BLOCK_SIZE, GPU_BLOCK_SIZE
from .errors import ConfigError, DataError, UserError

PROG = "admm-xp"


# Shared option groups ------------------------------------------------------------------
def add_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="higgs-sample", metavar="NAME|FILE",
                   help="higgs-sample (embedded real HIGGS rows, default), higgs (full UCI file in --data-dir), "
                        "svhn / svhn10 (SVHN .mat files in --data-dir: digit 0 vs 2 / all ten digits), "
                        "mnist / fashion-mnist (IDX files in --data-dir), digits (scikit-learn's 8x8 digits; "
                        "needs scikit-learn), synthetic, synthetic-svhn, synthetic-multiclass, "
                        "or a .csv (label column first) / .npz (X, y) file")
    g.add_argument("--test", dest="test_path", metavar="FILE",
                   help="test split for a file --dataset (default: a seeded 20%% of its rows is held out)")
    g.add_argument("--data-dir", metavar="DIR",
                   help="folder with the full HIGGS / SVHN / MNIST / Fashion-MNIST files (see `admm-xp data fetch`)")
    g.add_argument("--n-train", type=int, metavar="N", help="use only the first N training samples")
    g.add_argument("--n-test", type=int, metavar="N", help="test samples of a synthetic data set")
    g.add_argument("--label-col", type=int, default=0, metavar="I",
                   help="column of the label in a CSV file (0 = first, -1 = last; default 0)")
    g.add_argument("--test-fraction", type=float, default=0.2, metavar="F",
                   help="share of a file's rows held out for testing when --test is not given (default 0.2)")
    g.add_argument("--standardize", choices=("features", "global", "none"), default="features",
                   help="features: each feature by its training mean and std, the std floored at 0.1 of the median "
                        "feature's (default); global: one mean and std for all features (pixels); none: raw values")


def add_device_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("device")
    g.add_argument("--device", default="cpu", metavar="DEV",
                   help="cpu (NumPy, default), cuda or cuda:N (CuPy GPU); under MPI, cuda means cuda:<local rank>. "
                        "For testing: array-api-strict[:device1], torch[:cpu]")
    g.add_argument("--dtype", choices=("float32", "float64"), default=None,
                   help="floating-point type of the iterates (default: float64 on cpu, float32 on cuda)")
    g.add_argument("--ranks", type=int, metavar="P",
                   help="run on P MPI ranks: relaunches itself under `mpiexec -n P` (or checks the size when already under mpiexec)")
    p.set_defaults(relaunch_under_mpi=True)
    g.add_argument("--cuda-aware-mpi", action="store_true",
                   help="pass GPU buffers to MPI directly (CUDA-aware MPI only); default: stage them through host memory")
    g.add_argument("--allow-tf32", action="store_true",
                   help="let float32 matrix products on the GPU use TF32 tensor cores (faster, ~1e-3 relative error; off by default)")


def add_network_options(p: argparse.ArgumentParser, default_hidden: str = "300") -> None:
    g = p.add_argument_group("network")
    g.add_argument("--hidden", default=default_hidden, metavar="W[,W...]",
                   help=f"hidden layer widths, e.g. 300 or 100,50 (default {default_hidden})")
    g.add_argument("--seed", type=int, default=0, help="seed of the initialisation (default 0)")


def parse_floats(text: str, name: str) -> tuple[float, ...]:
    try:
        values = tuple(float(t) for t in str(text).split(",") if t.strip() != "")
    except ValueError:
        raise ConfigError(f"{name} must be a number or comma-separated numbers, got {text!r}") from None
    if not values:
        raise ConfigError(f"{name} must not be empty")
    return values


class _DefaultsMixin:
    """Adds "(default: X)" to an option's help unless its text already gives the default
    (argparse's ArgumentDefaultsHelpFormatter adds it always, so "(default 300) (default: 300)",
    and "(default: None)" for options whose default comes from a preset)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text.lower() or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


class DefaultsHelpFormatter(_DefaultsMixin, argparse.HelpFormatter):
    pass


class RawDefaultsHelpFormatter(_DefaultsMixin, argparse.RawDescriptionHelpFormatter):
    pass


def parse_widths(text: str) -> tuple[int, ...]:
    try:
        parts = str(text).split(",")
        if len(parts) > 1 and any(t.strip() == "" for t in parts):
            raise ValueError
        widths = tuple(int(t) for t in parts if t.strip() != "")
    except ValueError:
        raise ConfigError(f"--hidden must be comma-separated integers such as 300 or 100,50, got {text!r}") from None
    if not widths:
        raise ConfigError("--hidden needs at least one width, such as 300 or 100,50")
    if any(w < 1 for w in widths):
        raise ConfigError(f"--hidden widths must be >= 1, got {text!r}")
    return widths


# train -------------------------------------------------------------------------------
def add_train_parser(sub) -> None:
    p = sub.add_parser(
        "train", help="train a network with ADMM (Taylor et al. 2016)",
        description="Train a ReLU network with a hinge-loss output by ADMM, without gradients. With no options: "
                    "the embedded real HIGGS rows, one hidden layer of 300, the default preset (the paper's method "
                    "with a weight decay; --preset paper for the paper's exact method).",
        formatter_class=DefaultsHelpFormatter,
    )
    add_data_options(p)
    add_network_options(p)
    g = p.add_argument_group("ADMM (unset options take the preset's value)")
    g.add_argument("--preset", choices=("default", "paper"), default="default",
                   help="default: the best configuration measured (gamma = beta = 1, weight decay 1; results/sweep/); "
                        "paper: Taylor et al.'s method exactly (gamma 10, beta 1, no bias, Gaussian init, output multiplier)")
    g.add_argument("--iters", type=int, default=100, help="iterations to run")
    g.add_argument("--warm-start", type=int, default=None, metavar="K",
                   help="first K iterations skip the Lagrange multiplier update (both presets: 10)")
    g.add_argument("--gamma", default=None, metavar="G[,G...]", help="activation penalty gamma_l (one, or one per hidden layer)")
    g.add_argument("--beta", default=None, metavar="B[,B...]", help="pre-activation penalty beta_l (one, or one per layer)")
    g.add_argument("--weight-decay", type=float, default=None, metavar="W",
                   help="Tikhonov term of the weight updates, relative to the layer's width/samples (0 = the paper's update)")
    g.add_argument("--penalty-growth", type=float, default=None, metavar="RHO",
                   help="multiply every gamma and beta by RHO each iteration (1 = fixed, as in the paper)")
    g.add_argument("--penalty-max", type=float, default=None, metavar="P", help="cap of the grown penalties (default 1e4)")
    g.add_argument("--bias", choices=("on", "off"), default=None, help="a constant input row, so every layer has a bias")
    g.add_argument("--init", choices=("gaussian", "forward"), default=None,
                   help="gaussian: a, z i.i.d. N(0,1) (the paper); forward: He-scaled random weights and one forward pass")
    g.add_argument("--multiplier", choices=("on", "off"), default=None, help="the output layer's Lagrange multiplier")
    g.add_argument("--lagrangian", choices=("paper", "augmented", "full"), default=None,
                   help="paper: the multiplier term <z_L, lambda> of Taylor et al., seen only by the z_L update; "
                        "augmented: <z_L - W_L a, lambda>, so the output weights and the last activations fit "
                        "z_L + lambda/(2 beta) and long runs do not decay; full: multipliers on every hidden "
                        "constraint too (z_l = W_l a_{l-1}, a_l = h(z_l)), so the ADMM variables cannot absorb the loss")
    g.add_argument("--residual-balancing", choices=("on", "off"), default=None,
                   help="adapt every layer's penalties to balance its primal and dual residuals (Boyd et al. 2011, "
                        "3.4.1): x tau when primal > mu dual, / tau when dual > mu primal")
    g.add_argument("--rb-mu", type=float, default=None, metavar="MU", help="residual balancing: the ratio mu (default 10)")
    g.add_argument("--rb-tau", type=float, default=None, metavar="TAU", help="residual balancing: the factor tau (default 2)")
    g.add_argument("--rb-until", type=int, default=None, metavar="K",
                   help="residual balancing: adapt during the first K iterations only (default 50)")
    g.add_argument("--anderson", type=int, default=None, metavar="M",
                   help="Anderson acceleration with memory M (0 = off), safeguarded by restarts")
    g.add_argument("--anderson-on", choices=("weights", "state"), default=None,
                   help="what Anderson acceleration extrapolates: the weights (cheap) or the whole state (default weights)")
    g.add_argument("--dual-step", type=float, default=None, metavar="K",
                   help="step of the hidden multipliers under --lagrangian full (1 = classical ADMM; default 0.3)")
    g.add_argument("--dual-decay", type=int, default=None, metavar="K",
                   help="--lagrangian full: the hidden multipliers' step decays as dual_step * K / k after iteration K "
                        "(0 = constant, default)")
    g.add_argument("--loss", choices=("hinge", "cross-entropy"), default=None,
                   help="output loss: hinge (the paper's; one-vs-rest for C classes) or cross-entropy (logistic for two "
                        "classes, softmax for C; a per-sample Newton prox)")
    g.add_argument("--ridge", type=float, default=1e-10, help="relative ridge on Gram matrices before their Cholesky factor (numerical)")
    g.add_argument("--block-size", type=int, default=None, metavar="N",
                   help=f"samples per cache block of the fused passes (default {CPU_BLOCK_SIZE} on cpu, {GPU_BLOCK_SIZE} on cuda)")
    g.add_argument("--kernels", choices=("auto", "portable", "numba", "cupy"), default="auto",
                   help="elementwise kernels: auto picks numba on cpu and CuPy kernels on cuda; portable is the array-API reference")
    add_device_options(p)
    r = p.add_argument_group("run")
    r.add_argument("--target-acc", type=float, metavar="A", help="stop when the test accuracy reaches A (e.g. 0.64)")
    r.add_argument("--max-time", type=float, metavar="S", help="stop after S seconds of training")
    r.add_argument("--eval-every", type=int, default=1, metavar="K", help="measure train/test accuracy every K iterations")
    r.add_argument("--out", metavar="run.json", help="write the run record (JSON) here (missing folders are made)")
    r.add_argument("--save-model", metavar="model.npz",
                   help="save the trained network here, for `admm-xp predict` (missing folders are made)")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    c = p.add_argument_group("checkpoints")
    c.add_argument("--checkpoint", metavar="DIR",
                   help="save the whole solver state here every --checkpoint-every iterations and on SIGINT/SIGTERM "
                        "(atomically; the folder is made if missing)")
    c.add_argument("--checkpoint-every", type=int, default=10, metavar="K", help="iterations between checkpoints (default 10)")
    c.add_argument("--resume", metavar="DIR",
                   help="continue the run checkpointed in DIR with its options (data, solver settings, --iters, "
                        "outputs; any number of ranks): `--resume DIR` alone suffices. Options given with it must "
                        "agree on the data and solver settings; run options (--iters, --out, --max-time, ...) may change")
    p.set_defaults(func=cmd_train)


def config_from_args(args):
    from .solver.config import ADMMConfig, default_block_size

    dtype = args.dtype or ("float32" if str(args.device).startswith("cuda") else "float64")
    if args.block_size is not None and args.block_size < 1:
        raise ConfigError(f"--block-size must be an integer >= 1, got {args.block_size}")
    block = args.block_size or default_block_size(args.device)
    onoff = {"on": True, "off": False, None: None}
    return ADMMConfig.from_preset(
        args.preset,
        hidden=parse_widths(args.hidden),
        gamma=parse_floats(args.gamma, "--gamma") if args.gamma is not None else None,
        beta=parse_floats(args.beta, "--beta") if args.beta is not None else None,
        warm_start=args.warm_start, weight_decay=args.weight_decay, penalty_growth=args.penalty_growth,
        penalty_max=args.penalty_max, bias=onoff[args.bias], init=args.init, multiplier=onoff[args.multiplier],
        lagrangian=args.lagrangian, dual_step=args.dual_step, dual_decay=args.dual_decay, loss=args.loss,
        residual_balancing=onoff[args.residual_balancing], anderson=args.anderson, anderson_on=args.anderson_on, rb_mu=args.rb_mu, rb_tau=args.rb_tau, rb_until=args.rb_until,
        ridge=args.ridge, seed=args.seed, dtype=dtype, block_size=block,
    )


STOP_WORDS = {"iters": "all iterations run", "epochs": "all epochs run", "target": "reached --target-acc",
              "max_time": "reached --max-time", "stopped": "stopped by a signal", "converged": "converged",
              "line_search_failed": "line search found no better step"}


def stop_words(reason: str) -> str:
    """Why a run ended, in words for the final line."""
    return STOP_WORDS.get(reason, reason)


def run_target(target, dataset: str):
    """``(accuracy, words)`` of the target a run is timed against: ``--target-acc`` when given, else the
    paper's target for the data set (``reproduce.PROBLEMS``: 64% on HIGGS data); ``(None, "")`` for neither."""
    from .experiments.reproduce import PROBLEMS

    if target is not None:
        return float(target), "--target-acc"
    family = next((name for name in PROBLEMS if name in dataset.lower()), None)
    if family is None:
        return None, ""
    return float(PROBLEMS[family]["target"]), f"the paper's {family.upper()} target"


def first_reached(history, target):
    """The first history entry whose test accuracy is at least ``target`` (None if none is)."""
    if target is None:
        return None
    return next((h for h in history if h.get("test_acc") is not None and h["test_acc"] >= target), None)


def time_to_target(final: dict, history, target, dataset: str) -> None:
    """Fill the record's ``final["time_to_target_s"]`` (training seconds to the first evaluation at the
    target, None when never reached) and ``final["target"]`` ({acc, source}) for ``--target-acc`` or,
    without it, the paper's target for the data set, as the final line reports it."""
    acc, words = run_target(target, dataset)
    if acc is None:
        return
    hit = first_reached(history, acc)
    final["time_to_target_s"] = None if hit is None else hit["time_s"]
    final["target"] = {"acc": acc, "source": words}


def target_words(history, target, dataset: str, unit: str = "iteration") -> str:
    """When the run first reached ``target`` (or, without one, the paper's target for the data
    set: ``reproduce.PROBLEMS``), for the final line:
    '; reached 64% (the paper's HIGGS target) after 0.57 s, iteration 9'."""
    target, label = run_target(target, dataset)
    if target is None:
        return ""
    pct = f"{100 * target:g}%"
    h = first_reached(history, target)
    if h is not None:
        return f"; reached {pct} ({label}) after {h['time_s']:.2f} s, {unit} {h['iter']}"
    return f"; did not reach {pct} ({label})"


def setup_run(args, comm):
    """Backend, threads and data for a training command (shared by train, baseline, bench)."""
    from .runtime.backend import resolve_device
    from .data import load_dataset
    from .runtime.threads import configure_threads

    device = args.device
    if comm.size > 1 and device == "cuda":
        device = f"cuda:{comm.local_rank}"
    backend = resolve_device(device)
    configure_threads(comm)
    ds = load_dataset(
        args.dataset, test_path=args.test_path, n_train=args.n_train, n_test=getattr(args, "n_test", None),
        data_dir=args.data_dir, label_col=args.label_col, seed=getattr(args, "data_seed", 0),
        test_fraction=args.test_fraction, standardize=getattr(args, "standardize", "features"), comm=comm,
    )
    return backend, ds


# --resume DIR: every option of the checkpointed run that the command does not give is taken from the
# checkpoint. Given options may change the run (--iters, --out, --max-time, --device, ...) but must agree
# on the data (DATA_OPTIONS, and the data's fingerprint) and on the solver settings (checkpoint.SOLVER_KEYS).
DATA_OPTIONS = ("dataset", "test_path", "n_train", "n_test", "label_col", "test_fraction", "standardize")
NOT_SAVED = ("func", "relaunch_under_mpi", "given_options", "resume", "checkpoint", "ranks", "quiet")


def _option(dest: str) -> str:
    return {"test_path": "--test"}.get(dest, "--" + dest.replace("_", "-"))


def run_options(args) -> dict:
    """The options of this run as the checkpoint keeps them (every value, given or default)."""
    return {k: v for k, v in vars(args).items()
            if k not in NOT_SAVED and (v is None or isinstance(v, (str, int, float, bool)))}


def resume_options(args, comm):
    """``--resume DIR``: take the checkpointed run's options that this command does not give, and check
    those it gives against them. Returns the checkpoint's solver configuration (a dict)."""
    from . import checkpoint

    if not os.path.isdir(args.resume):
        raise ConfigError(f"--resume {args.resume}: no such folder; give the --checkpoint folder of an earlier run")
    meta = checkpoint.saved_run(args.resume)  # every rank reads it: the same verdict on all
    given = set(getattr(args, "given_options", ()))
    saved = meta.get("options") or {}
    for dest, value in saved.items():
        if dest in NOT_SAVED or not hasattr(args, dest):
            continue
        if dest not in given:
            setattr(args, dest, value)
        elif dest in DATA_OPTIONS and not _same_value(dest, getattr(args, dest), value):
            opt = _option(dest)
            raise DataError(f"--resume {args.resume}: the checkpoint was made on other data ({opt} {value}, here "
                            f"{opt} {getattr(args, dest)}); drop {opt} to continue on the checkpoint's data, or start a "
                            "new run")
    return meta["config"]


def _same_value(dest: str, now, then) -> bool:
    if now == then:
        return True
    if dest in ("dataset", "test_path") and isinstance(now, str) and isinstance(then, str):
        try:
            return os.path.samefile(now, then)  # the same file by another path
        except OSError:
            return False
    return False


def _check_solver_settings(folder: str, cfg, saved: dict) -> None:
    from .checkpoint import SOLVER_KEYS, _norm

    now = cfg.to_dict()
    diff = [k for k in SOLVER_KEYS if k in saved and _norm(saved.get(k)) != _norm(now.get(k))]
    if diff:
        def show(v):
            return ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v) if isinstance(v, list) else str(v)

        changes = "; ".join(f"{_option(k)} {show(saved[k])} in the checkpoint, {show(now.get(k))} here" for k in diff)
        raise ConfigError(f"--resume {folder}: the checkpoint was made with other solver settings ({changes}); "
                          "resume with the checkpoint's settings (leave out or correct those options), or start a new run")


def cmd_train(args, comm) -> int:
    from .runtime.gpu import allow_tf32
    from .model import Network
    from .progress import Progress
    from .runrecord import base_record, write_json_atomic
    from .train import RunOptions, to_device, train_admm

    saved_config = resume_options(args, comm) if args.resume else None
    cfg = config_from_args(args)
    if saved_config is not None:
        _check_solver_settings(args.resume, cfg, saved_config)
    opts = RunOptions(iters=args.iters, target_acc=args.target_acc, eval_every=args.eval_every, max_time=args.max_time,
                      kernels=args.kernels)
    check_output_path(args.out, "--out")
    check_output_path(args.save_model, "--save-model")
    ckpt_dir = args.checkpoint or args.resume
    if args.checkpoint_every < 1:
        raise ConfigError(f"--checkpoint-every must be >= 1, got {args.checkpoint_every}")
    if args.checkpoint:
        check_output_dir(args.checkpoint, "--checkpoint")
    backend, ds = setup_run(args, comm)
    tf32 = allow_tf32(backend) if args.allow_tf32 else False
    dd = to_device(ds, backend, cfg.dtype, hidden=cfg.hidden, block=cfg.block_size)
    lead = comm.rank == 0
    progress = Progress(opts.iters, "admm", enabled=lead and not args.quiet)
    if lead and not args.quiet:
        progress.message(
            f"ADMM ({cfg.preset} preset) on {ds.name}: {ds.n_train:,} train / {ds.n_test:,} test samples, "
            f"{ds.n_classes} classes, layers {[ds.n_features, *cfg.hidden, dd.n_outputs]}, {backend.label} {cfg.dtype}, "
            f"{comm.size} rank(s)"
        )
    from . import checkpoint
    from .runtime.signals import StopOnSignal

    fingerprint = checkpoint.data_fingerprint(ds)
    options = run_options(args)
    if ckpt_dir:
        checkpoint.remove_strays(ckpt_dir, comm)  # what a killed run left half-written
    stopper = StopOnSignal()

    def restore(prob):
        state, history, elapsed, man = checkpoint.load(args.resume, cfg, fingerprint, prob, backend.xp, backend.device, comm)
        if lead and not args.quiet:
            progress.message(f"resumed at iteration {state.iteration} from {args.resume} ({man['ranks']} rank(s) then, {comm.size} now)")
        return state, history, elapsed

    def on_iteration(state, prob, history, elapsed):
        stop = comm.allreduce_max(1.0 if stopper.signum else 0.0) > 0  # one rank's signal stops every rank
        if ckpt_dir and (stop or state.iteration % args.checkpoint_every == 0 or state.iteration == opts.iters):
            checkpoint.save(ckpt_dir, state, prob, cfg, fingerprint, history, elapsed, comm, options=options)
        return "stop" if stop else None

    with stopper:
        result = train_admm(dd, cfg, backend, comm, opts, progress=progress, on_iteration=on_iteration,
                            restore=restore if args.resume else None)
    progress.close()
    fin = result.final
    time_to_target(fin, result.history, opts.target_acc, ds.name)
    if lead:
        if args.out:
            rec = base_record(method="admm", dataset=ds.describe(), layers=result.widths, backend=backend,
                              dtype=cfg.dtype, ranks=comm.size, config=cfg.to_dict())
            rec["config"]["run"] = {"iters": opts.iters, "target_acc": opts.target_acc, "eval_every": opts.eval_every,
                                    "kernels": opts.kernels, "max_time": opts.max_time, "allow_tf32": tf32,
                                    "cuda_aware_mpi": bool(args.cuda_aware_mpi)}
            rec["history"] = result.history
            rec["final"] = fin
            write_json_atomic(args.out, rec)
        if args.save_model:
            from .runtime.hostio import to_host

            net = Network(weights=[to_host(w) for w in result.state.W], bias=cfg.bias, mean=ds.mean, scale=ds.scale,
                          classes=ds.classes, meta={"method": "admm", "dataset": ds.name, "config": cfg.to_dict()})
            net.save(args.save_model)
        print(
            f"test accuracy {fin['test_acc']:.4f} (train {fin['train_acc']:.4f}, best test {fin['best_test_acc']:.4f}) "
            f"after {fin['iters']} iterations, {fin['train_s']:.2f} s training ({stop_words(fin['stop_reason'])})"
            + target_words(result.history, opts.target_acc, ds.name)
        )
    if result.stop_reason == "stopped":
        code, name = stopper.exit_code(comm), stopper.name(comm)  # collectives: every rank calls them
        if lead:
            where = f"; checkpoint in {ckpt_dir} (continue with --resume {ckpt_dir})" if ckpt_dir else ""
            print(f"{PROG}: stopped by {name} after iteration {fin['iters']}{where}", file=sys.stderr)
        return code
    return 0


# predict -----------------------------------------------------------------------------
def add_predict_parser(sub) -> None:
    p = sub.add_parser("predict", help="apply a saved model to a data file",
                       description="Predict classes for the rows of a CSV or NPZ file with a model saved by "
                                   "`admm-xp train --save-model` (or a baseline). If the file has labels, the "
                                   "accuracy is printed too.")
    p.add_argument("--model", required=True, metavar="model.npz", help="a saved model")
    p.add_argument("--dataset", required=True, metavar="FILE", help=".csv or .npz rows to predict")
    p.add_argument("--label-col", type=int, default=0, metavar="I",
                   help="label column of a CSV (default 0); use --no-labels for a file of features only")
    p.add_argument("--no-labels", action="store_true",
                   help="the file holds features only (for an .npz: ignore its y and print no accuracy)")
    p.add_argument("--out", metavar="FILE", help="write one predicted label per line here (default: stdout)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args, comm) -> int:
    import numpy as np

    from .runtime.backend import resolve_device
    from .runtime.comm import LocalComm
    from .data import read_labelled_file
    from .data.datasets import label_values
    from .model import Network

    check_output_path(args.out, "--out")
    net = Network.load(args.model)
    backend = resolve_device(args.device)
    if args.dataset.lower().endswith(".npz"):
        X, y, _, _ = read_labelled_file(args.dataset, LocalComm(), need_labels=False)
        if args.no_labels:
            y = None  # labels in the file are ignored, as asked
    elif args.no_labels:
        X, _, _, _ = read_labelled_file(args.dataset, LocalComm(), need_labels=False)
        y = None
    else:
        X, y, _, _ = read_labelled_file(args.dataset, LocalComm(), label_col=args.label_col)
    if X.shape[0] == 0:
        raise UserError(f"{args.dataset}: no rows to predict")
    if y is not None:
        values = label_values(y, args.dataset)  # whole numbers, one per row (before any output)
        if np.asarray(y).shape[0] != X.shape[0]:
            raise DataError(f"{args.dataset}: {X.shape[0]} feature rows but {np.asarray(y).shape[0]} labels; give one "
                            "label per row, or --no-labels")
    pred = net.predict(X, backend=backend)
    text = "\n".join(_label_text(v) for v in pred) + "\n"
    if args.out:
        from .runrecord import write_text_atomic

        write_text_atomic(args.out, text)
    else:
        sys.stdout.write(text)
    if y is not None:
        known = [_label_text(c) for c in net.classes]
        unknown = [v for v in values.tolist() if str(v) not in known]
        if unknown:
            print(f"{PROG}: warning: {args.dataset}: label(s) {unknown[:5]} are not among the model's classes "
                  f"{known[:10]}; their rows count as errors (wrong --label-col, or a model for other labels?)",
                  file=sys.stderr)
        acc = float(np.mean(np.array([_label_text(v) for v in pred]) == np.array([_label_text(v) for v in y])))
        print(f"accuracy {acc:.4f} on {X.shape[0]} rows", file=sys.stderr)
    return 0


def _label_text(value) -> str:
    """A label as printed: whole numbers without a decimal point (labels read from a CSV are floats)."""
    import numpy as np

    if isinstance(value, (float, np.floating)) and float(value).is_integer() or isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


# data --------------------------------------------------------------------------------
def add_data_parser(sub) -> None:
    p = sub.add_parser("data", help="download the full data sets")
    dsub = p.add_subparsers(dest="data_cmd", metavar="fetch")
    f = dsub.add_parser("fetch", help="download HIGGS, SVHN, MNIST or Fashion-MNIST with progress, resume and checksum "
                                      "verification",
                        description="Download a full data set. HIGGS.csv.gz (about 2.6 GB) is converted once to "
                                    "HIGGS.npy for fast, sharded loads; SVHN's train, test and extra .mat files and "
                                    "the four gzip IDX files of MNIST or Fashion-MNIST are stored as they are (MNIST "
                                    "and Fashion-MNIST use the same file names: give each its own --data-dir). An "
                                    "interrupted download resumes when run again.")
    f.add_argument("name", choices=("higgs", "svhn", "mnist", "fashion-mnist"), help="data set")
    f.add_argument("--data-dir", required=True, metavar="DIR", help="where to store the files")
    f.add_argument("--base-url", metavar="URL", help="a mirror holding the same file names (default: the official sources)")
    f.add_argument("--no-convert", action="store_true", help="HIGGS: keep only the .csv.gz (no HIGGS.npy)")
    f.add_argument("--quiet", action="store_true", help="no progress output")
    f.set_defaults(func=cmd_data_fetch)
    p.set_defaults(func=lambda args, comm: _need_sub(p))


def _need_sub(p) -> int:
    raise ConfigError(f"{p.prog}: give a subcommand (fetch); see {p.prog} --help")


def cmd_data_fetch(args, comm) -> int:
    from .data.fetch import fetch

    if args.base_url and not args.base_url.startswith(("http://", "https://", "file://")):
        raise ConfigError(f"--base-url {args.base_url}: not a URL; give one starting with http://, https:// or file://")
    check_output_dir(args.data_dir, "--data-dir")
    if comm.rank == 0:
        paths = fetch(args.name, args.data_dir, base_url=args.base_url, quiet=args.quiet, convert=not args.no_convert)
        for path in paths:
            print(path)
    comm.barrier()
    return 0


# Entry -------------------------------------------------------------------------------
def build_parser(progs: dict | None = None) -> argparse.ArgumentParser:
    """The ``admm-xp`` parser; ``progs`` renames subcommands in their usage and help (``python -m baselines``
    runs ``baseline`` and says so)."""
    parser = _Parser(
        prog=PROG,
        description="Train neural networks without gradients by ADMM (Taylor et al., ICML 2016), on NumPy, "
                    "MPI ranks or CuPy GPUs, and compare with gradient baselines.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_train_parser(sub)
    add_predict_parser(sub)
    add_data_parser(sub)
    for register in _extra_commands():
        register(sub)
    for name, prog in (progs or {}).items():
        if name in sub.choices:
            sub.choices[name].prog = prog
    return parser


def given_options(parser: argparse.ArgumentParser, argv) -> tuple:
    """The dests of the options given on the command line ``argv`` (a subcommand's included), not taken
    from defaults: ``argv`` parsed again with every default suppressed. ``argv`` must parse."""
    changed = []

    def suppress(p):
        changed.append((p, None, p._defaults))
        p._defaults = {}
        for action in p._actions:
            changed.append((None, action, action.default))
            action.default = argparse.SUPPRESS
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    suppress(child)

    try:
        suppress(parser)
        ns = parser.parse_args(list(argv))
    finally:
        for p, action, value in reversed(changed):
            if p is not None:
                p._defaults = value
            else:
                action.default = value
    return tuple(sorted(k for k in vars(ns) if k != "command"))


def _extra_commands():
    """Subcommands defined in other modules (imported lazily, only if present)."""
    import importlib

    out = []
    for module in ("admm_xp.experiments.bench", "baselines.cli", "admm_xp.experiments.scaling", "admm_xp.experiments.reproduce", "admm_xp.experiments.ablation"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        out.append(mod.register)
    return out


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (``admm-xp: error: ...``) and exit code 2."""

    def error(self, message):
        where = self.prog[len(PROG) + 1 :] + ": " if self.prog.startswith(PROG + " ") else ""
        raise ConfigError(f"{where}{message} (see {self.prog} --help)")


def _maybe_relaunch(args, argv) -> int | None:
    """``--ranks P`` outside mpiexec: run the same command under ``mpiexec -n P``."""
    from .runtime.comm import world_size_from_env

    ranks = getattr(args, "ranks", None)
    if ranks is None or not getattr(args, "relaunch_under_mpi", False):
        return None
    if ranks < 1:
        raise ConfigError(f"--ranks must be >= 1, got {ranks}")
    size = world_size_from_env()
    if size > 1 or ranks == 1:
        if size != ranks:
            raise ConfigError(f"--ranks {ranks} but this run has {size} MPI rank(s); launch with mpiexec -n {ranks}")
        return None
    import subprocess

    mpiexec = find_mpiexec()
    if mpiexec is None:
        raise ConfigError(f"--ranks needs mpiexec on PATH: {MPIEXEC_HINT}")
    rest = _strip_option(list(argv), "--ranks")
    cmd = [mpiexec, "-n", str(ranks), sys.executable, "-m", "admm_xp", *rest]
    return subprocess.call(cmd)


def _strip_option(argv, name):
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == name:
            skip = True
            continue
        if a.startswith(name + "="):
            continue
        out.append(a)
    return out


def main(argv=None, progs: dict | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(progs)
    comm = None
    try:
        args = _parse(parser, argv)
        if args is None:
            return 2
        if getattr(args, "func", None) is None:
            parser.print_help()
            return 0
        if args.func is cmd_train:
            args.given_options = given_options(parser, argv)
        relaunched = _maybe_relaunch(args, argv)
        if relaunched is not None:
            return relaunched
        from .runtime.comm import default_comm

        comm = default_comm(cuda_aware=getattr(args, "cuda_aware_mpi", False))
        return int(args.func(args, comm) or 0)
    except UserError as exc:
        _fail(comm, f"{PROG}: error: {exc}", exc.exit_code, rank=exc.rank)
        return exc.exit_code
    except KeyboardInterrupt:
        _fail(comm, f"{PROG}: interrupted", 130)
        return 130
    except MemoryError:
        _fail(comm, f"{PROG}: error: out of memory; use fewer samples (--n-train), float32, or more ranks", 2)
        return 2
    except BrokenPipeError:
        return 1
    except OSError as exc:  # the file system refused (full disk, permissions, a path that went away)
        where = f": {exc.filename}" if exc.filename else ""
        _fail(comm, f"{PROG}: error: {exc.strerror or exc}{where}; check the path and free space, then rerun", 1)
        return 1
    except Exception as exc:  # a bug: show the traceback, and end every rank
        if type(exc).__name__ == "OutOfMemoryError":  # CuPy's, raised past the size check
            _fail(comm, f"{PROG}: error: out of GPU memory ({str(exc).splitlines()[0][:120]}); use fewer samples "
                        "(--n-train), float32, a smaller --block-size, or more GPUs", 2)
            return 2
        traceback.print_exc()
        _fail(comm, f"{PROG}: internal error (see the traceback above); please report it", 1)
        return 1


def _parse(parser, argv):
    return parser.parse_args(argv)


def _fail(comm, message: str, code: int, rank: int | None = None) -> None:
    """Print the error once and end every rank within a second.

    One process: print. Under mpiexec before the communicator exists (the
    options, the same on every rank): rank 0 prints, every rank returns the
    exit code. Under MPI: the failing ranks learn within ``FAIL_AGREE_S``
    whether every rank fails (``comm.all_failing``); if so, rank 0 prints
    (naming ``rank`` when one rank found the problem for all) and every rank
    returns the code; otherwise this rank failed alone while the others wait
    in a collective, so it prints, naming itself, and aborts them all.
    """
    from .runtime.comm import rank_from_env, world_size_from_env

    def show(text):
        print(text, file=sys.stderr)
        sys.stderr.flush()

    def named(r):
        return message if r is None else message.replace(f"{PROG}:", f"{PROG} (rank {r}):", 1)

    if comm is None or comm.size == 1:
        if comm is None and world_size_from_env() > 1 and rank_from_env() != 0:
            return  # every rank parsed the same options and failed alike: rank 0 says it
        show(message)
        return
    if comm.all_failing():
        if comm.rank == 0:
            show(named(rank))
        return
    show(named(comm.rank))
    comm.abort(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
