"""`admm-xp compare` on P ranks chooses every method's settings as one process does (run under mpiexec)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from admm_xp.cli.main import build_parser
from admm_xp.experiments import compare
from admm_xp.runtime.comm import LocalComm, default_comm

pytestmark = pytest.mark.mpi


def _args(data, out):
    return build_parser().parse_args(["compare", "--dataset", os.path.join(data, "train.npz"), "--test",
                                      os.path.join(data, "test.npz"), "--hidden", "5", "--tune-passes", "3",
                                      "--budget", "0.1", "--quiet", "--out", out])


def test_same_chosen_settings_on_every_rank_count(tmp_path):
    comm = default_comm()
    shared = comm.bcast(str(tmp_path) if comm.rank == 0 else None)  # rank 0's folder, for every rank
    if comm.rank == 0:
        rng = np.random.default_rng(0)
        centres = rng.normal(size=(3, 4)) * 2
        for name, n in (("train", 131), ("test", 40)):
            y = rng.integers(0, 3, n)
            np.savez(os.path.join(shared, f"{name}.npz"), X=rng.normal(size=(n, 4)) + centres[y], y=y)
    comm.barrier()
    assert compare.cmd_compare(_args(shared, os.path.join(shared, "ranks")), comm) == 0
    alone = os.path.join(shared, f"alone{comm.rank}")
    assert compare.cmd_compare(_args(shared, alone), LocalComm()) == 0
    comm.barrier()
    for m in compare.METHODS:
        with open(os.path.join(shared, "ranks", "search", f"{m}.json")) as fh:
            many = json.load(fh)
        with open(os.path.join(alone, "search", f"{m}.json")) as fh:
            one = json.load(fh)
        assert many["ranks"] == comm.size and one["ranks"] == 1
        assert many["final"]["chosen"] == one["final"]["chosen"], m
        assert [r["score"] for r in many["history"]] == pytest.approx([r["score"] for r in one["history"]], abs=1e-12), m
        with open(os.path.join(shared, "ranks", f"{m}.json")) as fh:
            assert json.load(fh)["ranks"] == comm.size
