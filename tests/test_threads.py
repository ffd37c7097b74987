"""Threads per rank: ADMM_XP_THREADS is obeyed, and the choice never leaks into child processes' environment."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from admm_xp.runtime import threads
from admm_xp.runtime.comm import LocalComm


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(threads, "_configured", None)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(None):  # restore BLAS's thread count after the test
        yield


def test_the_environment_variable_sets_the_threads_of_a_rank(fresh, monkeypatch):
    numba_cpu = pytest.importorskip("admm_xp.kernels.numba_cpu")
    import array_api_compat.numpy as xp

    monkeypatch.setenv("ADMM_XP_THREADS", "1")
    assert threads.configure_threads(LocalComm()) == 1
    assert numba_cpu.NumbaKernels(xp).threads == 1
    assert os.environ["ADMM_XP_THREADS"] == "1"


def test_without_it_a_lone_rank_takes_every_core_and_leaves_the_environment_alone(fresh, monkeypatch):
    monkeypatch.delenv("ADMM_XP_THREADS", raising=False)
    n = threads.configure_threads(LocalComm())
    assert n == len(os.sched_getaffinity(0))
    assert threads.threads_per_rank() == n
    assert "ADMM_XP_THREADS" not in os.environ  # MPI ranks started from here choose for themselves


@pytest.mark.parametrize("bad", ["0", "-2", "two", ""])
def test_values_that_are_not_positive_integers_are_ignored(fresh, monkeypatch, bad):
    monkeypatch.setenv("ADMM_XP_THREADS", bad)
    assert threads.configure_threads(LocalComm()) == len(os.sched_getaffinity(0))


def test_the_run_record_names_the_threads_it_ran_with(tmp_path):
    out = tmp_path / "run.json"
    env = dict(os.environ, ADMM_XP_THREADS="1")
    res = subprocess.run([sys.executable, "-m", "admm_xp", "train", "--iters", "2", "--n-train", "500", "--quiet",
                          "--out", str(out)], capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr
    assert json.loads(out.read_text())["threads_per_rank"] == 1
