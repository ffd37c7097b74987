"""`admm-xp bench`: its record is complete and its ratios are computed from its own measurements."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from admm_xp import costmodel
from admm_xp.runrecord import SCHEMA_KEYS


@pytest.mark.slow
def test_bench_record_is_consistent(tmp_path):
    out = tmp_path / "bench.json"
    # the augmented form: the one the naive transcription implements (the default's linear form at this depth has
    # a hidden multiplier, which the naive transcription lacks, so its bench times no naive iteration)
    res = subprocess.run([sys.executable, "-m", "admm_xp", "bench", "--n", "4000", "--hidden", "40", "--repeats", "2",
                          "--warmup", "1", "--lagrangian", "augmented", "--out", str(out), "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "time / floor" in res.stdout and "where the time goes" in res.stdout
    r = json.loads(out.read_text())
    for key in ("time_per_iter_s", "gemm_fraction", "floor_ratio", "speedup_vs_naive", "peak_memory_ratio", *SCHEMA_KEYS):
        assert key in r, key
    # the rates are measured before and after the iterations; the floors use the faster measurement
    for m, key in ((r["gemm"], "gflops"), (r["bandwidth"], "GBps")):
        assert len(m["measured"]) == 2 and m[key] == max(m["measured"])
    assert "before and after the iterations" in res.stdout
    widths = (28, 40, 1)
    flops = costmodel.flops_per_sample(widths)["total"] * 4000 + costmodel.fixed_flops(widths)
    assert r["flops_per_iter"] == pytest.approx(flops)
    floor = flops / (r["gemm"]["gflops"] * 1e9) + costmodel.bytes_per_sample(widths, 8) * 4000 / (r["bandwidth"]["GBps"] * 1e9)
    assert r["floor_s"] == pytest.approx(floor)
    assert r["floor_ratio"] == pytest.approx(r["time_per_iter_s"] / floor)
    assert r["gemm_fraction"] == pytest.approx(flops / r["time_per_iter_s"] / (r["gemm"]["gflops"] * 1e9))
    assert r["speedup_vs_naive"] == pytest.approx(r["naive_time_per_iter_s"] / r["time_per_iter_s"])
    assert r["peak_memory_ratio"] >= 0.99  # at least the state itself
    assert set(r["breakdown_s"]) >= {"W", "a_z_pass", "zL_lambda_pass", "metrics", "comm"}
    assert r["ranks"] == 1 and r["backend"] == "numpy" and r["dtype"] == "float64"
    # the second floor: each product at its own measured rate (thin ones at the GEMM rate)
    prods = r["products"]
    assert [p["name"] for p in prods] == [p["name"] for p in costmodel.per_sample_products(widths)]
    for p in prods:
        thin = min(x for x in p["shape"] if x != "n") <= 8
        assert (p["gflops"] is None) == thin and (thin or p["gflops"] > 0)
    # timed as the iteration forms them: the input layer's products by the C kernels where the loop
    # uses them; the float64 Gram always by BLAS; thin ones not timed
    by = {p["name"]: p["by"] for p in prods}
    assert by["W_1 a_0"] == by["z_1 a_0^T"] == ("C" if r["c_kernels"] else "BLAS")
    assert by["a_1 a_1^T"] == "BLAS" and by["W_2 a_1"] is None
    gemm_s = costmodel.fixed_flops(widths) / (r["gemm"]["gflops"] * 1e9) + sum(
        p["flops"] * 4000 / ((p["gflops"] or r["gemm"]["gflops"]) * 1e9) for p in prods)
    assert r["floor_at_product_rates_s"] == pytest.approx(gemm_s + r["floor_bytes_s"])
    assert r["floor_ratio_at_product_rates"] == pytest.approx(r["time_per_iter_s"] / r["floor_at_product_rates_s"])
    # the time split by work: each timed product at its own rate, and the rest
    for p in prods:
        assert (p["seconds_per_iter"] is None) == (p["gflops"] is None)
        if p["gflops"]:
            assert p["seconds_per_iter"] == pytest.approx(p["flops"] * 4000 / (p["gflops"] * 1e9))
    assert r["time_outside_timed_products_s"] == pytest.approx(
        r["time_per_iter_s"] - sum(p["seconds_per_iter"] or 0.0 for p in prods))
    assert "everything else" in res.stdout
    assert "floor at these rates" in res.stdout and "a_1 a_1^T" in res.stdout
    # the scripts that turn records into the committed tables show the record's own ratios
    root = Path(__file__).resolve().parents[1]
    table = subprocess.run([sys.executable, str(root / "scripts" / "bench_table.py"), str(out)], capture_output=True, text=True)
    assert table.returncode == 0, table.stderr
    assert f"| {r['floor_ratio']:.2f} | {r['floor_at_product_rates_s']:.3f} s | {r['floor_ratio_at_product_rates']:.2f} |" in table.stdout
    assert "Repeated runs" not in table.stdout  # one record: no spread
    slower = dict(r, time_per_iter_s=2 * r["time_per_iter_s"], floor_ratio=2 * r["floor_ratio"])
    (tmp_path / "slower.json").write_text(json.dumps(slower))
    table = subprocess.run([sys.executable, str(root / "scripts" / "bench_table.py"), str(out), str(tmp_path / "slower.json")],
                           capture_output=True, text=True)
    assert table.returncode == 0, table.stderr
    assert (f"2 runs, time / floor {r['floor_ratio']:.2f} to {2 * r['floor_ratio']:.2f} "
            f"(median {1.5 * r['floor_ratio']:.2f})") in table.stdout
    gpu_dir = tmp_path / "gpu"
    gpu_dir.mkdir()
    (gpu_dir / "bench_higgs.json").write_text(out.read_text())
    summary = subprocess.run([sys.executable, str(root / "scripts" / "gpu_summary.py"), str(gpu_dir)], capture_output=True, text=True)
    assert summary.returncode == 0, summary.stderr
    assert f"| {r['floor_ratio']:.2f} | {r['floor_ratio_at_product_rates']:.2f} |" in summary.stdout


def test_bench_table_names_the_presets_own_lagrangian_and_an_asked_one():
    import importlib.util

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("bench_table", root / "scripts" / "bench_table.py")
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    own = {"method": {"preset": "default"}, "config": {"preset": "default", "lagrangian": "linear"}}
    asked = {"method": {"preset": "default", "lagrangian": "augmented"},
             "config": {"preset": "default+lagrangian", "lagrangian": "augmented", "loss": "cross-entropy"}}
    assert table.method(own) == "default (linear Lagrangian)"
    assert table.method(asked) == "default, lagrangian augmented, cross-entropy"


@pytest.mark.slow
def test_bench_times_the_float32_gram_as_the_loop_forms_it(tmp_path):
    """In float32 the layer-1 loop sums a_1 a_1^T with the C Gram kernel where the C kernels run:
    the bench then times that kernel, not BLAS, and says so."""
    out = tmp_path / "bench.json"
    res = subprocess.run([sys.executable, "-m", "admm_xp", "bench", "--n", "4000", "--hidden", "40", "--repeats", "1",
                          "--warmup", "1", "--dtype", "float32", "--no-naive", "--out", str(out), "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    r = json.loads(out.read_text())
    by = {p["name"]: p["by"] for p in r["products"]}
    expected = "C" if r["c_kernels"] else "BLAS"
    assert by["W_1 a_0"] == by["z_1 a_0^T"] == by["a_1 a_1^T"] == expected
    gram_line = next(line for line in res.stdout.splitlines() if "a_1 a_1^T" in line and "(Gram)" in line)
    assert gram_line.endswith(f"({'C kernel' if expected == 'C' else 'BLAS'})")


@pytest.mark.parametrize("widths", [(28, 300, 1), (3072, 100, 50, 1), (5, 7, 3, 2), (4, 9, 1)])
def test_products_add_up_to_the_flop_count(widths):
    """The bench's list of per-sample products is the cost model's flop count, term by term."""
    prods = costmodel.per_sample_products(widths)
    assert sum(p["flops"] for p in prods) == costmodel.flops_per_sample(widths)["total"]
    for step in ("W", "a", "z"):
        assert sum(p["flops"] for p in prods if p["step"] == step) == costmodel.flops_per_sample(widths)[step]
    for p in prods:
        M, K, N = p["shape"]
        assert "n" in (K, N) and (p["flops"] == M * M if p["gram"] else p["flops"] == 2 * M * (N if K == "n" else K))


def test_bench_rejects_bad_sizes(capsys):
    from admm_xp.cli.main import main

    assert main(["bench", "--n", "1"]) == 2
    assert "--n" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_times_a_method_with_its_options_and_counts_their_bytes(tmp_path):
    """--lagrangian full --anderson 3: the record names the method, the floor counts the hidden
    multipliers' traffic, and the memory the multipliers and the accelerator hold."""
    out = tmp_path / "bench.json"
    res = subprocess.run([sys.executable, "-m", "admm_xp", "bench", "--n", "3000", "--hidden", "30", "--repeats", "2",
                          "--warmup", "1", "--lagrangian", "full", "--anderson", "3", "--anderson-on", "weights",
                          "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    r = json.loads(out.read_text())
    assert r["method"] == {"preset": "default", "lagrangian": "full", "anderson": 3, "anderson_on": "weights",
                           "layerwise": 0}  # the whole network's iteration, which the cost model counts
    assert r["config"]["lagrangian"] == "full" and r["config"]["anderson"] == 3
    widths = (28, 30, 1)
    assert r["min_bytes_per_iter"] == pytest.approx(costmodel.bytes_per_sample(widths, 8, multipliers=2) * 3000)
    assert costmodel.bytes_per_sample(widths, 8, 2) - costmodel.bytes_per_sample(widths, 8) == 8 * 4 * 30
    # the linear Lagrangian: one multiplier array per hidden unit (mu), read and written once more
    assert costmodel.bytes_per_sample(widths, 8, 1) - costmodel.bytes_per_sample(widths, 8) == 8 * 2 * 30
    assert costmodel.state_bytes(widths, 100, 8, 1) - costmodel.state_bytes(widths, 100, 8) == 8 * 30 * 100
    assert r["state_bytes"] == pytest.approx(costmodel.state_bytes(widths, 3000, 8, multipliers=2))
    assert r["naive_time_per_iter_s"] is None  # the naive transcription has no hidden multipliers
    assert r["timed_from_iteration"] == 0  # the full form's iteration is the same from the start


def test_bench_times_the_default_after_its_relu_multipliers(tmp_path):
    """The default's linear form keeps the ReLU multipliers for its first 30 iterations: the bench
    times the iteration a run repeats after them, with the floor of one multiplier array (mu), and says so."""
    out = tmp_path / "bench.json"
    res = subprocess.run([sys.executable, "-m", "admm_xp", "bench", "--n", "3000", "--hidden", "30", "--repeats", "2",
                          "--warmup", "1", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    r = json.loads(out.read_text())
    assert r["config"]["lagrangian"] == "linear" and r["config"]["relu_multiplier_iters"] == 30
    assert r["timed_from_iteration"] == 30 and "from iteration 31" in res.stdout
    widths = (28, 30, 1)
    assert r["min_bytes_per_iter"] == pytest.approx(costmodel.bytes_per_sample(widths, 8, multipliers=1) * 3000)
    assert r["state_bytes"] == pytest.approx(costmodel.state_bytes(widths, 3000, 8, multipliers=1))
