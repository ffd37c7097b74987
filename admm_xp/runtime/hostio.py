"""The host edge: moving arrays between host (NumPy) memory and a backend.

Everything that must see NumPy to talk to the outside world (files, MPI
buffers, JSON) goes through these two functions; the solver never does.
"""
from __future__ import annotations

import numpy as np


def to_host(x) -> np.ndarray:
    """A NumPy copy (or view) of ``x``, from whatever backend and device it lives on."""
    if isinstance(x, np.ndarray):
        return x
    mod = type(x).__module__.split(".")[0]
    if mod == "cupy":
        return x.get()
    if mod == "torch":
        return x.detach().cpu().numpy()
    if mod == "array_api_strict":
        import array_api_strict as s

        return np.asarray(x.to_device(s.Device("CPU_DEVICE")))
    if np.isscalar(x):
        return np.asarray(x)
    return np.from_dlpack(x)


def from_host(a, xp, device, dtype=None):
    """``a`` (NumPy or nested lists) as an array of namespace ``xp`` on ``device``."""
    a = np.ascontiguousarray(a)
    out = xp.asarray(a, device=device)
    if dtype is not None and out.dtype != dtype:
        out = xp.astype(out, dtype)
    return out


def host_vector(items) -> np.ndarray:
    """One contiguous float64 host vector holding ``items`` (arrays or numbers), flattened in order."""
    parts = [np.asarray(to_host(x) if not isinstance(x, (int, float)) else x, dtype=np.float64).reshape(-1) for x in items]
    return np.ascontiguousarray(np.concatenate(parts)) if parts else np.zeros(0)
