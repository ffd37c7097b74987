"""What the commands share: option groups and parsers, the checks made before any work starts, the
words of the final line, and the set-up of a training run (device, threads, data).

Every check raises :class:`admm_xp.errors.ConfigError` (one line, exit code 2) naming the option and
what to do; None means "not given" and passes. The ADMM commands (:mod:`admm_xp.cli`), the gradient
baselines (``baselines.cli``) and the experiments (:mod:`admm_xp.experiments`) build their parsers
from these pieces. Nothing here loads the solver.
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile

from ..data import NAMED, load_dataset
from ..errors import ConfigError
from ..paper import problem_for
from ..runrecord import first_reached
from ..runtime.backend import resolve_device
from ..runtime.threads import configure_threads

PROG = "admm-xp"
MPIEXEC_HINT = "pip install 'admm_xp[mpi]' (mpi4py and the mpich wheel)"


def find_mpiexec() -> str | None:
    """The ``mpiexec`` every launch over several ranks uses (``--ranks``, scaling, reproduce): the one on PATH."""
    return shutil.which("mpiexec")


def check_min(value, option: str, minimum: int = 1, hint: str = "") -> None:
    """An integer option that must be >= ``minimum`` (None = not given, fine)."""
    if value is not None and value < minimum:
        raise ConfigError(f"{option} must be >= {minimum}, got {value}{hint}")


def check_positive(value, option: str, hint: str = "", zero_ok: bool = False) -> None:
    """A finite number > 0 (>= 0 with ``zero_ok``); None = not given, fine."""
    if value is None:
        return
    ok = math.isfinite(value) and (value >= 0 if zero_ok else value > 0)
    if not ok:
        raise ConfigError(f"{option} must be a finite number {'>= 0' if zero_ok else '> 0'}{hint}, got {value}")


def check_accuracy(value, option: str) -> None:
    if value is not None and not 0 < value <= 1:
        raise ConfigError(f"{option} must be a test accuracy in (0, 1], such as 0.64, got {value}")


def check_data_dir(folder, option: str = "--data-dir") -> None:
    if folder and not os.path.isdir(folder):
        raise ConfigError(f"{option} {folder}: no such folder; give the folder holding the HIGGS / SVHN files "
                          f"(`admm-xp data fetch higgs --data-dir DIR`)")


def check_dataset(name: str, data_dir=None, option: str = "--dataset", command: str | None = None) -> None:
    """A cheap check of a --dataset value (the runs load it): a known name, or a file that exists.

    ``command``: a command without --data-dir, which cannot use the full HIGGS / SVHN files."""
    if name in ("higgs", "svhn", "svhn10") and command:
        raise ConfigError(f"`admm-xp {command}` cannot read the full {name} files: use higgs-sample, synthetic-svhn, "
                          f"synthetic-multiclass or a .csv/.npz file")
    if name in ("higgs", "svhn", "svhn10") and not data_dir:
        raise ConfigError(f"{option} {name} needs --data-dir DIR with the full files (`admm-xp data fetch "
                          f"{name.rstrip('10')} --data-dir DIR`), or use the stand-ins higgs-sample / synthetic-svhn")
    if name not in NAMED and not os.path.isfile(name):
        if os.path.splitext(name)[1] or os.path.sep in name:
            raise ConfigError(f"{option} {name}: no such file; give an existing .csv/.npz file or one of {', '.join(NAMED)}")
        raise ConfigError(f"{option} {name}: unknown data set and no such file; use one of {', '.join(NAMED)} "
                          f"or a path to a .csv/.npz file")


def check_output_path(path: str | None, option: str) -> None:
    """Fail before any work when an output file could not be written there."""
    if not path:
        return
    if os.path.isdir(path):
        raise ConfigError(f"{option} {path}: is a directory; give a file name")
    check_output_dir(os.path.dirname(os.path.abspath(path)), option, shown=path)


def check_output_dir(folder: str | None, option: str, shown: str | None = None) -> None:
    """Fail before any work when files could not be made in ``folder`` (made later if missing).

    Permission bits are not enough (root passes ``os.access`` everywhere, even in /proc), so the
    nearest existing folder is tried for real: a hidden empty file is made there and removed."""
    if not folder:
        return
    shown = shown or folder
    probe = os.path.abspath(folder)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        if probe == os.path.abspath(folder) and shown == folder:  # the folder asked for is a file
            raise ConfigError(f"{option} {folder}: is a file; give a folder")
        raise ConfigError(f"{option} {shown}: {probe} is a file, not a folder; choose another path")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".admm-xp-write-test-", dir=probe)
        os.close(fd)
        os.remove(tmp)
    except OSError as exc:
        raise ConfigError(f"{option} {shown}: cannot write in {probe} ({exc.strerror or exc}); choose another path") from None


# Option groups and parsers ------------------------------------------------------------


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


STOP_WORDS = {"iters": "all iterations run", "epochs": "all epochs run", "target": "reached --target-acc",
              "max_time": "reached --max-time", "stopped": "stopped by a signal", "converged": "converged",
              "line_search_failed": "line search found no better step"}


def stop_words(reason: str) -> str:
    """Why a run ended, in words for the final line."""
    return STOP_WORDS.get(reason, reason)


def run_target(target, dataset: str):
    """``(accuracy, words)`` of the target a run is timed against: ``--target-acc`` when given, else the
    paper's target for the data set (:data:`admm_xp.paper.PROBLEMS`: 64% on HIGGS data); ``(None, "")``
    for neither."""
    if target is not None:
        return float(target), "--target-acc"
    problem = problem_for(dataset)
    if problem is None:
        return None, ""
    return float(problem.target), f"the paper's {problem.name.upper()} target"


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
    set: :data:`admm_xp.paper.PROBLEMS`), for the final line:
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
