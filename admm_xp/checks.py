"""Checks of command-line options made before any work starts, shared by every command.

Each raises :class:`admm_xp.errors.ConfigError` (one line, exit code 2) naming
the option and what to do; None means "not given" and passes.
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile

from .errors import ConfigError

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
    from .data import NAMED

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
