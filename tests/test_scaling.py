"""The scaling model and the `admm-xp scaling` command."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

from admm_xp import costmodel
from admm_xp.experiments.scaling import predict_iteration


def test_cost_model_counts_match_the_paper_for_higgs():
    f = costmodel.flops_per_sample((28, 300, 1))
    # W_1: 2*300*28, W_2: 2*300 + 300^2, a_1: 4*300, z_1: 2*300*28, z_2: 2*300
    assert f["total"] == 2 * 300 * 28 + (2 * 300 + 300**2) + 4 * 300 + 2 * 300 * 28 + 2 * 300
    assert costmodel.message_numbers((28, 300, 1))[:2] == [300 * 28, 300 + 300 * 300]


def test_model_compute_shrinks_and_communication_grows_with_cores():
    widths, n = (28, 300, 1), 10_500_000
    rows = [predict_iteration(widths, n, P, 4e-6, 3e-3, 2e-6, 5e9) for P in (1, 2, 16, 1024, 7200)]
    assert rows[0]["comm_s"] == 0
    assert all(a["compute_s"] > b["compute_s"] for a, b in zip(rows, rows[1:]))
    assert all(a["comm_s"] <= b["comm_s"] for a, b in zip(rows, rows[1:]))
    # Doubling the ranks adds one allreduce step of every message.
    one_step = sum(2e-6 + 8.0 * m / 5e9 for m in costmodel.message_numbers(widths))
    assert rows[1]["comm_s"] == pytest.approx(one_step)
    assert rows[0]["compute_s"] == pytest.approx(3e-3 + 4e-6 * n)


@pytest.mark.mpi
@pytest.mark.skipif(shutil.which("mpiexec") is None and not os.path.exists(os.path.join(os.path.dirname(sys.executable), "mpiexec")),
                    reason="mpiexec not installed")
@pytest.mark.slow
def test_scaling_command_writes_measured_and_model_tables(tmp_path):
    out = tmp_path / "scaling"
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    res = subprocess.run([sys.executable, "-m", "admm_xp", "scaling", "--rank-counts", "1,2", "--n-train", "600", "--hidden", "20",
                          "--iters", "4", "--quick", "--svhn-iters-to-target", "7", "--out-dir", str(out)],
                         capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr
    for name in ("scaling.json", "scaling.csv", "model.csv", "scaling.md", "train_p1.json", "train_p2.json", "network.json"):
        assert (out / name).exists(), name
    rows = list(csv.DictReader(open(out / "scaling.csv")))
    assert [int(r["ranks"]) for r in rows] == [1, 2]
    assert all(float(r["time_per_iter_s"]) > 0 for r in rows)
    model = list(csv.DictReader(open(out / "model.csv")))
    cores = [int(r["cores"]) for r in model if r["problem"] == "higgs"]
    assert 7200 in cores and 2496 in cores
    svhn = [r for r in model if r["problem"] == "svhn"]
    assert all(float(r["time_to_target_s"]) == pytest.approx(7 * float(r["time_per_iter_s"])) for r in svhn)
    summary = json.loads((out / "scaling.json").read_text())
    for key in ("command", "commit", "date", "machine", "dtype", "ranks", "model_formula", "calibration"):
        assert key in summary
    assert "a model, not a measurement" in (out / "scaling.md").read_text()
    # the model counts the whole network's iteration: the SVHN network's calibration trains it whole
    svhn_cal = json.loads((out / "calibrate_svhn_n64.json").read_text())
    assert svhn_cal["layers"][1:-1] == [100, 50] and svhn_cal["config"]["layerwise"] == 0
    assert all("stage" not in h for h in svhn_cal["history"])
