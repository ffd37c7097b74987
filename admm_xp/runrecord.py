"""Run records: one JSON file per run, the same schema for every method.

Keys: ``method``, ``dataset``, ``n_train``, ``n_test``, ``layers``, ``device``,
``backend``, ``dtype``, ``ranks``, ``config``, ``command``, ``commit``, ``date``,
``machine``, ``history`` (a list of ``{iter, time_s, objective, train_acc,
test_acc, ...}``) and ``final`` (``{test_acc, train_acc, wall_s, iters, ...}``).
Files are written atomically (temporary file, fsync, rename): a reader never
sees half a record.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import shlex
import subprocess
import sys
from functools import lru_cache

from .runtime.atomic import write_text_atomic as _write_text

SCHEMA_KEYS = (
    "method", "dataset", "n_train", "n_test", "layers", "device", "backend", "dtype", "ranks",
    "config", "command", "commit", "date", "machine", "history", "final",
)


@lru_cache(maxsize=1)
def source_commit() -> str:
    """The git commit of the admm_xp source tree (``-dirty`` if it has uncommitted changes), else the version.

    A copy of the tree made elsewhere (the GPU check's machine, which gets the
    files but not an up-to-date ``.git``) names its commit in
    ``ADMM_XP_SOURCE_COMMIT``, which then wins; the record says it was copied.
    """
    copied = os.environ.get("ADMM_XP_SOURCE_COMMIT", "").strip()
    if copied:
        return f"{copied} (copied tree)"
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        sha = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if sha.returncode == 0:
            dirty = subprocess.run(
                ["git", "-C", here, "status", "--porcelain", "--untracked-files=normal", "--", "admm_xp", "baselines"],
                capture_output=True, text=True, timeout=10,
            )
            return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    from .version import __version__

    return f"admm_xp {__version__} (no git checkout)"


@lru_cache(maxsize=1)
def machine_info() -> dict:
    """Host name, CPU model, core count, memory (and GPU where CuPy sees one)."""
    info = {"hostname": platform.node(), "platform": platform.platform(), "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
            info["memory_gib"] = round(kb / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        info["affinity_cores"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    return info


def gpu_info(backend) -> dict | None:
    if backend is None or not backend.is_gpu:
        return None
    try:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(backend.device.id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        return {"name": name, "memory_gib": round(props["totalGlobalMem"] / 2**30, 1)}
    except Exception:
        return {"name": str(backend.device)}


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in [os.path.basename(sys.argv[0]) or "python", *sys.argv[1:]])


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def base_record(*, method, dataset, layers, backend, dtype, ranks, config, command=None) -> dict:
    """The metadata every record carries (history and final are added by the caller)."""
    from .runtime.threads import threads_per_rank

    machine = dict(machine_info())
    gpu = gpu_info(backend)
    if gpu:
        machine["gpu"] = gpu
    return {
        "method": method,
        "dataset": dataset.get("name") if isinstance(dataset, dict) else dataset,
        "dataset_info": dataset if isinstance(dataset, dict) else {"name": dataset},
        "n_train": dataset.get("n_train") if isinstance(dataset, dict) else None,
        "n_test": dataset.get("n_test") if isinstance(dataset, dict) else None,
        "layers": list(layers),
        "device": backend.label if backend is not None else "cpu",
        "backend": backend.name if backend is not None else "numpy",
        "dtype": dtype,
        "ranks": int(ranks),
        "threads_per_rank": threads_per_rank() if backend is None or backend.name == "numpy" else None,
        "config": config,
        "command": command or command_line(),
        "commit": source_commit(),
        "date": now_iso(),
        "machine": machine,
        "history": [],
        "final": {},
    }


def _clean(obj):
    """JSON-safe: NaN/inf become null, numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return obj
    try:
        f = float(obj)
    except (TypeError, ValueError):
        return str(obj)
    if isinstance(obj, float) or hasattr(obj, "dtype"):
        if hasattr(obj, "dtype") and "int" in str(getattr(obj, "dtype", "")):
            return int(obj)
        return f if math.isfinite(f) else None
    return f


def write_json_atomic(path: str, obj) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (temp file in the same folder, fsync, rename)."""
    write_text_atomic(path, json.dumps(_clean(obj), indent=1) + "\n")


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a reader sees the old file or the new one, never half."""
    _write_text(path, text)


def first_reached(history, target):
    """The first history entry whose test accuracy is at least ``target`` (None if none is, or no target)."""
    if target is None:
        return None
    return next((h for h in history if h.get("test_acc") is not None and h["test_acc"] >= target), None)
