"""Choose an array namespace and device from a user-facing ``--device`` string.

| ``--device``                     | library          | device                       |
|----------------------------------|------------------|------------------------------|
| ``cpu`` (default)                | NumPy            | host                         |
| ``cuda``, ``cuda:N``             | CuPy             | GPU N                        |
| ``array-api-strict[:DEV]``       | array-api-strict | ``CPU_DEVICE`` or ``device1``|
| ``torch[:cpu|:cuda:N]``          | PyTorch          | as named                     |

The solver receives ``backend.xp`` (an array-api-compat namespace) and
``backend.device`` and nothing else; the last two rows exist so the test suite
can run the same code on a strict implementation of the standard and on a
second, non-host device.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Backend:
    name: str  # "numpy", "cupy", "array_api_strict", "torch"
    xp: Any  # array-api-compat namespace
    device: Any  # device object accepted by xp.asarray(..., device=)
    label: str  # canonical --device string

    def dtype(self, name: str):
        if name not in DTYPES:
            raise ConfigError(f"unknown dtype {name!r}: use one of {', '.join(DTYPES)}")
        return getattr(self.xp, name)

    def synchronize(self) -> None:
        """Wait for queued device work, so that a host clock reads honest times."""
        if self.name == "cupy":
            import cupy

            cupy.cuda.Device(self.device.id).synchronize()
        elif self.name == "torch" and str(self.device).startswith("cuda"):
            import torch

            torch.cuda.synchronize(self.device)

    @property
    def is_gpu(self) -> bool:
        return self.name == "cupy" or (self.name == "torch" and str(self.device).startswith("cuda"))


def _import(module: str, device: str, hint: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"--device {device} needs {module}, which is not installed: {hint}") from None


def resolve_device(spec: str = "cpu") -> Backend:
    """Parse ``spec`` (see the module docstring) into a :class:`Backend`."""
    spec = "cpu" if spec is None else str(spec).strip()
    if not spec:
        raise ConfigError("--device is empty; give cpu, cuda or cuda:N (also array-api-strict, torch)")
    low = spec.lower()
    if low in ("cpu", "numpy"):
        import array_api_compat.numpy as xp

        return Backend("numpy", xp, "cpu", "cpu")
    if low == "cuda" or low.startswith("cuda:"):
        index = _device_index(spec, low[5:] if low.startswith("cuda:") else "0")
        _import("cupy", spec, "pip install 'admm_xp[gpu]' (CuPy for your CUDA version)")
        import array_api_compat.cupy as xp
        import cupy

        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception:  # CUDA driver missing or broken
            count = 0
        if count == 0:
            raise ConfigError(f"--device {spec}: CuPy is installed but no CUDA GPU is visible; use --device cpu")
        if index >= count:
            raise ConfigError(f"--device {spec}: only {count} GPU(s) visible (cuda:0..cuda:{count - 1})")
        dev = cupy.cuda.Device(index)
        dev.use()
        return Backend("cupy", xp, dev, f"cuda:{index}")
    if low.startswith("array-api-strict") or low.startswith("strict"):
        _import("array_api_strict", spec, "pip install array-api-strict")
        import array_api_strict as xp

        name = spec.split(":", 1)[1] if ":" in spec else "CPU_DEVICE"
        known = {_strict_device_name(d): d for d in xp.__array_namespace_info__().devices()}
        if name not in known:
            raise ConfigError(f"--device {spec}: array-api-strict has no device {name!r} (known: {', '.join(known)})")
        return Backend("array_api_strict", xp, known[name], f"array-api-strict:{name}")
    if low == "torch" or low.startswith("torch:"):
        _import("torch", spec, "pip install torch")
        import array_api_compat.torch as xp
        import torch

        where = spec.split(":", 1)[1] if ":" in spec else "cpu"
        try:
            dev = torch.device(where)
        except RuntimeError:
            raise ConfigError(f"--device {spec}: torch does not know device {where!r}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"--device {spec}: torch sees no CUDA GPU; use --device torch:cpu")
        return Backend("torch", xp, dev, f"torch:{dev}")
    raise ConfigError(
        f"unknown device {spec!r}: use cpu, cuda, cuda:N (CuPy), or for testing array-api-strict[:device1], torch[:cpu]"
    )


def _device_index(spec: str, text: str) -> int:
    try:
        index = int(text)
    except ValueError:
        index = -1
    if index < 0:
        raise ConfigError(f"unknown device {spec!r}: a GPU is named cuda or cuda:N with N >= 0")
    return index


def _strict_device_name(dev) -> str:
    """``array_api_strict.Device('device1')`` -> ``'device1'``."""
    text = repr(dev)
    return text.split("'")[1] if "'" in text else text
