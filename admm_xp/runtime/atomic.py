"""Files that are either complete or absent: write a temporary file, fsync, rename."""
from __future__ import annotations

import csv
import io
import os
import tempfile
from contextlib import contextmanager


@contextmanager
def atomic_open(path: str, mode: str = "w"):
    """Open a temporary file beside ``path``; on success it is fsynced and renamed to ``path``.

    On any error (or a signal that raises) the temporary file is removed and
    ``path`` keeps its old content, if it had any. Hidden temporaries start
    with a dot, so a folder listing never shows half a file under a real name.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def write_csv_atomic(path: str, rows: list) -> None:
    """Rows (dicts) as CSV, columns in order of first appearance, None as empty."""
    keys: list = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r[k]) for k in keys})
    write_text_atomic(path, buf.getvalue())
