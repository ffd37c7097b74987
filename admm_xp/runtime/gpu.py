"""GPU specifics at the edge: TF32, memory that fits, peak memory (CuPy)."""
from __future__ import annotations

from .. import costmodel
from ..errors import ConfigError


def allow_tf32(backend) -> bool:
    """Let float32 matrix products use TF32 tensor cores (off unless asked for). Returns whether it is on."""
    if backend.name != "cupy":
        return False
    try:
        from cupy._core import _routines_linalg as rl

        rl.set_compute_type(rl.COMPUTE_TYPE_TF32)
        return True
    except Exception:  # older CuPy: only the CUPY_TF32 environment variable, read at import
        import os

        return os.environ.get("CUPY_TF32", "0") == "1"


def device_memory(backend) -> tuple[int, int] | None:
    """(free, total) bytes of the backend's GPU, or None off the GPU."""
    if backend.name != "cupy":
        return None
    import cupy

    with cupy.cuda.Device(backend.device.id):
        return cupy.cuda.runtime.memGetInfo()


def bytes_needed(widths, n_local: int, n_test_local: int, itemsize: int, block: int, multipliers: int = 0) -> int:
    """Arrays the run holds (X, a, z, lambda, targets, the hidden multipliers: ``multipliers`` arrays per
    hidden unit, the test split) plus one block's temporaries."""
    d_max = max(widths)
    temporaries = 6 * d_max * min(block, max(n_local, 1)) * itemsize
    return int(costmodel.state_bytes(widths, n_local, itemsize, multipliers) + widths[0] * n_test_local * itemsize
               + 16 * (n_local + n_test_local) + temporaries)


def check_fits(backend, widths, n_local: int, n_test_local: int, dtype: str, block: int, multipliers: int = 0) -> None:
    """A clear error, before any allocation, when the problem cannot fit on the GPU."""
    mem = device_memory(backend)
    if mem is None:
        return
    free, total = mem
    need = bytes_needed(widths, n_local, n_test_local, 4 if dtype == "float32" else 8, block, multipliers)
    if need > 0.95 * free:
        raise ConfigError(
            f"the problem needs about {need / 2**30:.1f} GiB on {backend.label} but {free / 2**30:.1f} of "
            f"{total / 2**30:.1f} GiB are free; use fewer samples (--n-train), float32, a smaller --block-size, "
            "or more GPUs (mpiexec -n P ... --device cuda)"
        )


def peak_memory_bytes(backend) -> int | None:
    """High-water mark of CuPy's memory pool (bytes), or None off the GPU."""
    if backend.name != "cupy":
        return None
    import cupy

    return int(cupy.get_default_memory_pool().total_bytes())
