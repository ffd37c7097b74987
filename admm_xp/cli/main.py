"""The ``admm-xp`` command line (also ``python -m admm_xp``): the parser, dispatch, the relaunch under
mpiexec for ``--ranks P``, and error handling.

Subcommands: ``train`` (ADMM), ``predict`` and ``data fetch`` (:mod:`admm_xp.cli`), ``baseline`` and
``baseline-tune`` (``baselines.cli``), and the experiments ``bench``, ``scaling``, ``reproduce``,
``sweep``, ``ablation`` and ``compare`` (:mod:`admm_xp.experiments`). Bad input ends with one line on stderr,
``admm-xp: error: <what is wrong and what to do>``, and exit code 2; under MPI the first failing rank
ends every rank.
"""
from __future__ import annotations

import argparse
import sys
import traceback

from baselines import cli as baseline_commands
from baselines import tune as baseline_tune

from ..version import __version__
from ..errors import ConfigError, UserError
from ..experiments import ablation, bench, compare, reproduce, scaling
from ..runtime.comm import default_comm, rank_from_env, world_size_from_env
from . import data, predict, train
from .options import MPIEXEC_HINT, PROG, find_mpiexec

# Every subcommand, in the order of ``admm-xp --help``: each function adds its parsers to ``sub``.
REGISTER = (train.register, predict.register, data.register, bench.register, baseline_commands.register,
            baseline_tune.add_tune_parser, scaling.register, reproduce.register, ablation.register, compare.register)


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
    for register in REGISTER:
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


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (``admm-xp: error: ...``) and exit code 2."""

    def error(self, message):
        where = self.prog[len(PROG) + 1 :] + ": " if self.prog.startswith(PROG + " ") else ""
        raise ConfigError(f"{where}{message} (see {self.prog} --help)")


def _maybe_relaunch(args, argv) -> int | None:
    """``--ranks P`` outside mpiexec: run the same command under ``mpiexec -n P``."""
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
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help()
            return 0
        if args.func is train.cmd_train:
            args.given_options = given_options(parser, argv)
        relaunched = _maybe_relaunch(args, argv)
        if relaunched is not None:
            return relaunched
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
