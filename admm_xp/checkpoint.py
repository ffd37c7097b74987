"""Checkpoints: the whole solver state on disk, written so that a crash never corrupts one.

Layout of a checkpoint folder ``DIR``::

    DIR/manifest.json              the latest complete checkpoint (written last, atomically)
    DIR/it000120/weights.npz       W_1..W_L (rank 0)
    DIR/it000120/shard-00001.npz   one rank's a_l, z_l, lambda (samples as rows) and its column range
    DIR/it000120/state.json        iteration, history, elapsed time, config (the solver settings),
                                   options (the run's command-line options), data fingerprint, rank count

Every file is written to a temporary name, fsynced and renamed; the manifest
(with each file's size and SHA-256) is replaced only after all ranks have
finished their files, and older checkpoints are removed only after that. So
``DIR/manifest.json`` always names a complete, verified checkpoint, whatever
moment a run is killed at.

A run that starts with a checkpoint folder first removes what a killed run
may have left there (:func:`remove_strays`): ``it*`` folders that the
manifest does not name and hidden temporary files.

Resuming reads the manifest, verifies every file, refuses a different solver
configuration or data set, and re-shards when the number of ranks differs
(each rank reads the columns of its new range from the saved shards). The
iterates depend on nothing else (the initialisation is counter-based and the
cached ``z_1 X^T`` is recomputed bit for bit), so a resumed run follows the
uninterrupted trajectory exactly.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil

import numpy as np

from .runtime.atomic import atomic_open
from .errors import DataError
from .runtime.hostio import from_host, to_host
from .runrecord import write_json_atomic

MANIFEST = "manifest.json"
FORMAT = "admm_xp-checkpoint-1"
# Settings that define the iterates; the run options (iters, target, logging) may change on resume.
SOLVER_KEYS = ("hidden", "gamma", "beta", "warm_start", "multiplier", "lagrangian", "dual_step", "dual_decay", "loss",
               "residual_balancing", "rb_mu", "rb_tau", "rb_until", "anderson", "anderson_on", "anderson_tol", "bias", "init",
               "penalty_growth", "penalty_max", "ridge", "weight_decay", "seed", "dtype", "block_size", "center_layers",
               "relu_multiplier_iters", "first_layer_penalty", "forward_restart", "layerwise", "center_input")
# settings added after checkpoints were first written: what an older checkpoint ran with
ADDED_KEYS = {"center_layers": False, "relu_multiplier_iters": 0, "first_layer_penalty": 1.0, "forward_restart": 0,
              "layerwise": 0, "center_input": False}


def data_fingerprint(ds) -> dict:
    """What a resumed run must find again: the data set's name, sizes and standardisation statistics."""
    fp = {"name": ds.name, "n_train": int(ds.n_train), "n_test": int(ds.n_test), "n_features": int(ds.n_features),
          "n_classes": int(ds.n_classes), "mean": [float(v) for v in ds.mean], "scale": [float(v) for v in ds.scale]}
    if getattr(ds, "classes", None) is not None:
        fp["classes"] = [int(c) for c in ds.classes]
    return fp


def _same_data(saved: dict, now: dict) -> list:
    """Keys that differ (a key the saved fingerprint lacks is not compared); the statistics may differ by
    rounding (they are sums over ranks)."""
    diff = [k for k in now if k not in ("mean", "scale") and k in saved and saved.get(k) != now[k]]
    for k in ("mean", "scale"):
        a, b = np.asarray(saved.get(k, []), dtype=float), np.asarray(now[k], dtype=float)
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-9, atol=1e-12):
            diff.append(f"{k} of the features")
    return diff


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _save_npz_atomic(path: str, arrays: dict) -> None:
    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def save(folder: str, state, prob, cfg, fingerprint: dict, history: list, elapsed: float, comm,
         options: dict | None = None) -> str:
    """Write a checkpoint of ``state`` collectively (every rank calls this); returns its subfolder.

    ``options``: the run's command-line options, so that ``--resume DIR`` alone continues the same run."""
    sub = os.path.join(folder, f"it{state.run_iteration:06d}")
    if comm.rank == 0:
        os.makedirs(sub, exist_ok=True)
    comm.barrier()
    shard = {f"a{l + 1}": to_host(a).T for l, a in enumerate(state.a)}
    shard.update({f"z{l + 1}": to_host(z).T for l, z in enumerate(state.z)})
    shard["lam"] = to_host(state.lam).T
    shard.update({f"u{l + 1}": to_host(x).T for l, x in enumerate(state.u)})  # hidden multipliers (full or linear Lagrangian)
    shard.update({f"v{l + 1}": to_host(x).T for l, x in enumerate(state.v)})
    shard["columns"] = np.array([prob.offset, prob.offset + prob.n_local], dtype=np.int64)
    name = f"shard-{comm.rank:05d}.npz"
    _save_npz_atomic(os.path.join(sub, name), shard)
    entry = {"file": name, "bytes": os.path.getsize(os.path.join(sub, name)), "sha256": _sha256(os.path.join(sub, name)),
             "columns": [int(prob.offset), int(prob.offset + prob.n_local)]}
    entries = comm.gather(entry)
    if comm.rank == 0:
        _save_npz_atomic(os.path.join(sub, "weights.npz"), {f"W{l + 1}": to_host(w) for l, w in enumerate(state.W)})
        extras = ["weights.npz", "state.json"]
        meta = {"format": FORMAT, "iteration": state.iteration, "ranks": comm.size, "config": cfg.to_dict(),
                "options": dict(options or {}), "penalty_scale": list(state.penalty_scale),
                "data": fingerprint, "elapsed_s": elapsed, "history": history}
        if state.stage is not None:  # a layer-wise stage: the layers below it and the run before it
            st = state.stage
            _save_npz_atomic(os.path.join(sub, "frozen.npz"), {f"W{l + 1}": to_host(w) for l, w in enumerate(st.frozen)})
            meta["stage"] = {"index": st.index, "offset": st.offset, "ends": list(st.ends),
                             "history_before": st.history, "elapsed_before": st.elapsed}
            extras.append("frozen.npz")
        write_json_atomic(os.path.join(sub, "state.json"), meta)
        files = [*entries]
        for extra in extras:
            p = os.path.join(sub, extra)
            files.append({"file": extra, "bytes": os.path.getsize(p), "sha256": _sha256(p)})
        _fsync_dir(sub)
        write_json_atomic(os.path.join(folder, MANIFEST), {"format": FORMAT, "folder": os.path.basename(sub),
                                                          "iteration": state.run_iteration, "ranks": comm.size, "files": files})
        _fsync_dir(folder)
        for old in os.listdir(folder):  # older checkpoints go only now that the new one is in place
            if SUBFOLDER.fullmatch(old) and old != os.path.basename(sub) and os.path.isdir(os.path.join(folder, old)):
                shutil.rmtree(os.path.join(folder, old), ignore_errors=True)
    comm.barrier()
    return sub


SUBFOLDER = re.compile(r"it\d{6,}")  # one checkpoint's folder
TEMPORARY = re.compile(r"\.(manifest\.json|state\.json|weights\.npz|shard-\d+\.npz)\..+\.tmp")  # being written (atomic)


def remove_strays(folder: str, comm) -> list:
    """Remove what a killed run left in a checkpoint folder (rank 0; every rank calls this): checkpoint
    subfolders the manifest does not name (all of them without a manifest) and hidden temporary files,
    in the folder and in the named subfolder. Returns the removed paths."""
    removed = []
    if comm.rank == 0 and os.path.isdir(folder):
        try:
            keep = (_read_manifest(folder, missing_ok=True) or {}).get("folder")
        except DataError:
            keep = None  # an unreadable manifest: resuming will say so; a new run replaces it
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if SUBFOLDER.fullmatch(name) and name != keep and os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
            elif TEMPORARY.fullmatch(name) and os.path.isfile(path):
                os.remove(path)
                removed.append(path)
        if keep and os.path.isdir(os.path.join(folder, keep)):
            for name in sorted(os.listdir(os.path.join(folder, keep))):
                path = os.path.join(folder, keep, name)
                if TEMPORARY.fullmatch(name) and os.path.isfile(path):
                    os.remove(path)
                    removed.append(path)
    comm.barrier()
    return removed


def saved_run(folder: str) -> dict:
    """The ``state.json`` of ``folder``'s latest checkpoint (``config``, ``options``, ``iteration``, ...),
    after checking that file against the manifest (the other files are verified when the state loads)."""
    path = _checked(folder, _read_manifest(folder), "state.json")
    with open(path) as fh:
        meta = json.load(fh)
    if not isinstance(meta.get("config"), dict):
        raise DataError(f"{path}: the checkpoint holds no solver settings; start a new run")
    return meta


def _checked(folder: str, man: dict, name: str) -> str:
    """The path of file ``name`` of the checkpoint that ``man`` names, after checking its size and checksum."""
    entry = next((f for f in man.get("files", []) if f.get("file") == name), None)
    path = os.path.join(folder, str(man.get("folder", "")), name)
    if entry is None or not os.path.exists(path) or os.path.getsize(path) != entry["bytes"] or _sha256(path) != entry["sha256"]:
        raise DataError(f"{path}: missing or corrupt checkpoint file; the checkpoint in {folder} cannot be used")
    return path


def _read_manifest(folder: str, missing_ok: bool = False):
    path = os.path.join(folder, MANIFEST)
    if not os.path.exists(path):
        if missing_ok:
            return None
        raise DataError(f"{folder}: no checkpoint here (no {MANIFEST}); start without --resume, or give the --checkpoint folder of a run")
    try:
        with open(path) as fh:
            man = json.load(fh)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable checkpoint manifest ({exc})") from None
    if man.get("format") != FORMAT:
        raise DataError(f"{path}: not an admm_xp checkpoint")
    return man


def verify(folder: str) -> dict:
    """The manifest of ``folder``'s latest checkpoint after checking every file's size and checksum."""
    man = _read_manifest(folder)
    sub = os.path.join(folder, man["folder"])
    for f in man["files"]:
        p = os.path.join(sub, f["file"])
        if not os.path.exists(p) or os.path.getsize(p) != f["bytes"] or _sha256(p) != f["sha256"]:
            raise DataError(f"{p}: missing or corrupt checkpoint file; the checkpoint in {folder} cannot be used")
    return man


def saved_stage(folder: str, xp, device, dtype):
    """The layer-wise stage that ``folder``'s latest checkpoint was written in, or None: a dict with its
    ``index``, ``offset`` (the run's iterations before it), ``ends`` (where the stages end),
    ``history_before``, ``elapsed_before`` and ``frozen`` (the weights of the layers below it, on the device)."""
    stage = saved_run(folder).get("stage")  # (load verifies the shards)
    if stage is None:
        return None
    dt = xp.float32 if dtype == "float32" else xp.float64
    with np.load(_checked(folder, _read_manifest(folder), "frozen.npz")) as f:
        stage["frozen"] = [from_host(f[f"W{l + 1}"], xp, device, dt) for l in range(len(f.files))]
    return stage


def load(folder: str, cfg, fingerprint: dict, prob, xp, device, comm, stage_cfg=None):
    """(state, history, elapsed) of the latest checkpoint, re-sharded to this run's ranks. ``stage_cfg``:
    a layer-wise run's stage configuration, whose multipliers the saved stage state holds (``cfg`` is
    the run's, compared with the saved settings)."""
    from .solver.state import ADMMState

    man = verify(folder) if comm.rank == 0 else None
    man = comm.bcast(man)
    sub = os.path.join(folder, man["folder"])
    with open(os.path.join(sub, "state.json")) as fh:
        meta = json.load(fh)
    saved, now = meta["config"], cfg.to_dict()
    diff = [k for k in SOLVER_KEYS if comparable(saved.get(k, ADDED_KEYS.get(k))) != comparable(now.get(k))]
    if diff:
        changes = ", ".join(f"{k} {saved.get(k)!r} -> {now.get(k)!r}" for k in diff)
        raise DataError(f"{folder}: the checkpoint was made with other solver settings ({changes}); resume with the same "
                        "settings or start a new run")
    keys = _same_data(meta["data"], fingerprint)
    if keys:
        raise DataError(f"{folder}: the checkpoint was made on other data (differs in {', '.join(keys)}); resume with the "
                        "same data set and --n-train")
    dtype = xp.float32 if cfg.dtype == "float32" else xp.float64
    cfg = stage_cfg or cfg  # (the multipliers below are the stage's)
    with np.load(os.path.join(sub, "weights.npz")) as f:
        W = [from_host(f[f"W{l + 1}"], xp, device, dtype) for l in range(len(f.files))]
    start, stop = prob.offset, prob.offset + prob.n_local
    pieces: dict[str, list] = {}
    for entry in man["files"]:
        if not entry["file"].startswith("shard-"):
            continue
        c0, c1 = entry["columns"]
        lo, hi = max(c0, start), min(c1, stop)
        if lo >= hi:
            continue
        with np.load(os.path.join(sub, entry["file"])) as f:
            for key in f.files:
                if key != "columns":
                    pieces.setdefault(key, []).append((lo, f[key][lo - c0 : hi - c0]))
    arrays = {}
    for key, parts in pieces.items():
        parts.sort(key=lambda p: p[0])
        arrays[key] = from_host(np.concatenate([p[1] for p in parts]).T, xp, device, dtype)
    n_hidden = len(W) - 1
    rows = {**{f"a{l + 1}": W[l].shape[0] for l in range(n_hidden)}, **{f"z{l + 1}": W[l].shape[0] for l in range(len(W))},
            "lam": W[-1].shape[0]}
    if cfg.hidden_multipliers:
        rows.update({f"u{l + 1}": W[l].shape[0] for l in range(n_hidden)})
    with_nu = cfg.relu_multipliers_at(int(meta["iteration"]))  # the ReLU multipliers, until they are dropped
    if with_nu:
        rows.update({f"v{l + 1}": W[l].shape[0] for l in range(n_hidden)})
    for key, d in rows.items():  # a rank whose new range holds no columns
        if key not in arrays:
            arrays[key] = xp.zeros((d, 0), dtype=dtype, device=device)
    state = ADMMState(W=W, a=[arrays[f"a{l + 1}"] for l in range(n_hidden)], z=[arrays[f"z{l + 1}"] for l in range(len(W))],
                      lam=arrays["lam"], iteration=int(meta["iteration"]))
    state.penalty_scale = [float(f) for f in meta.get("penalty_scale", [])]
    if cfg.hidden_multipliers:
        state.u = [arrays[f"u{l + 1}"] for l in range(n_hidden)]
    if with_nu:
        state.v = [arrays[f"v{l + 1}"] for l in range(n_hidden)]
    return state, meta["history"], float(meta["elapsed_s"]), man


def comparable(v):
    """An option value as compared between a checkpoint and a resumed run (numbers in lists as floats)."""
    if isinstance(v, (list, tuple)):
        return [float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x for x in v]
    return v


class Resume:
    """How a run continues from the checkpoint in ``folder`` (``train_admm(..., restore=Resume(...))``).

    Called with the run's problem (and, in a layer-wise run, its stage's configuration) it returns the
    saved ``(state, history, elapsed)``, re-sharded to this run's ranks (:func:`load`); :meth:`stage`
    tells a layer-wise run which stage the checkpoint was written in (:func:`saved_stage`).
    ``on_load(manifest)`` runs after every load (the CLI reports the resumed iteration with it)."""

    def __init__(self, folder: str, cfg, fingerprint: dict, xp, device, comm, on_load=None):
        self.folder, self.cfg, self.fingerprint = folder, cfg, fingerprint
        self.xp, self.device, self.comm, self.on_load = xp, device, comm, on_load

    def __call__(self, prob, stage_cfg=None):
        state, history, elapsed, man = load(self.folder, self.cfg, self.fingerprint, prob, self.xp, self.device,
                                            self.comm, stage_cfg=stage_cfg)
        if self.on_load is not None:
            self.on_load(man)
        return state, history, elapsed

    def stage(self):
        return saved_stage(self.folder, self.xp, self.device, self.cfg.dtype)
