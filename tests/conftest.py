"""Shared fixtures: the array backends every solver test runs on.

``backend`` is parametrised over NumPy, array-api-strict on its default
device and on "device1" (which catches arrays created on the wrong device,
the CPU stand-in for GPU bugs), PyTorch on the CPU when installed, and
CuPy when a GPU is present (skipped otherwise). The second device and PyTorch
are marked ``slow``: ``pytest -m "not slow"`` runs NumPy and array-api-strict
only, scripts/test.sh every backend.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from admm_xp.runtime.backend import resolve_device

BACKENDS = [
    pytest.param("cpu", id="numpy"),
    pytest.param("array-api-strict", id="strict"),
    pytest.param("array-api-strict:device1", id="strict-device1", marks=pytest.mark.slow),
    pytest.param("torch:cpu", id="torch", marks=[pytest.mark.slow, pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")]),
    pytest.param("cuda", id="cupy", marks=pytest.mark.cupy),
]


def _cupy_gpu_available() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _cupy_gpu_available():
        return
    skip = pytest.mark.skip(reason="CuPy or a CUDA GPU is not available")
    for item in items:
        if "cupy" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return resolve_device(request.param)


@pytest.fixture
def xp(backend):
    return backend.xp


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def to_np(x):
    from admm_xp.runtime.hostio import to_host

    return np.asarray(to_host(x))


@pytest.fixture(autouse=True)
def _no_stray_threads_env(monkeypatch):
    monkeypatch.delenv("ADMM_XP_KERNELS", raising=False)
    yield


EMBEDDED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "admm_xp", "data", "embedded", "higgs")
