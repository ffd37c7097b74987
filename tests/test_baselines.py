"""The gradient baselines: gradients, optimisers against SciPy, training, MPI, the command line, bad input."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import scipy.optimize as so

from admm_xp.runtime.backend import resolve_device
from admm_xp.cli.main import main
from admm_xp.runtime.comm import LocalComm
from admm_xp.data import load_dataset
from admm_xp.runtime.hostio import from_host, to_host
from admm_xp.runrecord import SCHEMA_KEYS
from admm_xp.data.device import to_device
from baselines import batches, cg, lbfgs, schedules
from baselines.linesearch import strong_wolfe
from baselines.mlp import Architecture, init_params
from baselines.objective import Objective
from baselines.train import METHODS, Settings, train

NUMPY = resolve_device("cpu")


# Gradients ---------------------------------------------------------------------------------
GRAD_CASES = [
    pytest.param("hinge", False, (6,), 2, 0.0, id="hinge-binary"),
    pytest.param("squared-hinge", True, (5, 4), 3, 0.1, id="squared-hinge-3-classes-bias-l2"),
    pytest.param("logistic", True, (), 2, 0.01, id="logistic-regression"),
]


def _problem(backend, hidden, classes, bias, n=11, d=5, seed=0):
    rng = np.random.default_rng(seed)
    xp, dev, dt = backend.xp, backend.device, backend.dtype("float64")
    X = from_host(rng.normal(size=(d, n)), xp, dev, dt)
    y = rng.integers(0, classes, size=n)
    S = np.where(y == 0, 1.0, -1.0)[None, :] if classes == 2 else np.where(np.arange(classes)[:, None] == y, 1.0, -1.0)
    arch = Architecture((d, *hidden, 1 if classes == 2 else classes), bias)
    return arch, X, from_host(S, xp, dev, dt)


@pytest.mark.parametrize("loss,bias,hidden,classes,l2", GRAD_CASES)
def test_gradient_matches_finite_differences(backend, loss, bias, hidden, classes, l2):
    """Central differences along random directions and coordinates, float64; blocks of 3 samples (4 blocks)."""
    xp = backend.xp
    arch, X, S = _problem(backend, hidden, classes, bias)
    obj = Objective(arch, X, S, X.shape[1], loss, l2, xp, LocalComm(), block=3)
    theta = init_params(arch, 1, xp, backend.dtype("float64"), backend.device)
    theta = theta + from_host(np.random.default_rng(2).normal(scale=0.1, size=arch.size), xp, backend.device)
    f, g = obj(theta)
    g = to_host(g)
    rng = np.random.default_rng(3)
    directions = [rng.normal(size=arch.size) for _ in range(3)] + [np.eye(arch.size)[k] for k in (0, arch.size - 1)]
    for v in directions:
        vd = from_host(v, xp, backend.device)
        eps = 1e-6
        fd = (obj(theta + eps * vd)[0] - obj(theta - eps * vd)[0]) / (2 * eps)
        assert fd == pytest.approx(float(g @ v), rel=1e-6, abs=1e-8)
    # the mini-batch gradient of all samples at once is the full gradient
    gb = to_host(obj.batch_gradient(theta, X, S, X.shape[1]))
    np.testing.assert_allclose(gb, g, rtol=1e-12, atol=1e-14)


def test_initialisation_is_seeded_and_he_scaled():
    arch = Architecture((28, 300, 1), False)
    a = to_host(init_params(arch, 0, NUMPY.xp, NUMPY.xp.float64, "cpu"))
    assert np.array_equal(a, to_host(init_params(arch, 0, NUMPY.xp, NUMPY.xp.float64, "cpu")))
    assert not np.array_equal(a, to_host(init_params(arch, 1, NUMPY.xp, NUMPY.xp.float64, "cpu")))
    W1 = a[: 300 * 28]
    assert np.std(W1) == pytest.approx(math.sqrt(2 / 28), rel=0.05)


# Line search and optimisers against SciPy -----------------------------------------------
def _np_fun(f, grad):
    xp = NUMPY.xp
    return lambda x: (float(f(np.asarray(x))), xp.asarray(grad(np.asarray(x))))


def test_line_search_meets_the_strong_wolfe_conditions():
    xp = NUMPY.xp
    fun = _np_fun(so.rosen, so.rosen_der)
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.normal(size=4)
        f0, g0 = fun(x)
        d = -g0 * rng.uniform(0.001, 2.0)
        res = strong_wolfe(fun, x, f0, g0, d, 1.0, xp, c1=1e-4, c2=0.9)
        assert res.wolfe, res.message
        assert res.f <= f0 + 1e-4 * res.alpha * float(g0 @ d)
        assert abs(float(res.g @ d)) <= 0.9 * abs(float(g0 @ d))


def _ours(method, fun, x0, budget):
    """Run our optimiser for at most ``budget`` evaluations; (evaluations, f) after every iteration."""
    xp = NUMPY.xp
    mod = lbfgs if method == "lbfgs" else cg
    state = mod.init(fun, xp.asarray(x0)) if method == "lbfgs" else mod.init(fun, xp.asarray(x0), xp)
    used, trace = 1, [(1, state.f)]
    while used < budget:
        state, info = mod.step(state, fun, xp, max_evals=min(20, budget - used))
        used += info.evals
        trace.append((used, state.f))
        if info.status != "continue":
            break
    return trace


def _scipy(method, fun, x0, budget):
    """SciPy's L-BFGS-B or CG with about ``budget`` evaluations; (evaluations, best f so far) after each."""
    trace, best = [], [math.inf]

    def f2(x):
        f, g = fun(x)
        best[0] = min(best[0], f)
        trace.append((len(trace) + 1, best[0]))
        return f, np.asarray(g)

    opts = {"maxfun": budget, "maxiter": 10**6} if method == "lbfgs" else {"maxiter": budget}
    so.minimize(f2, x0, jac=True, method="L-BFGS-B" if method == "lbfgs" else "CG", options=opts)
    return trace


def _at(trace, budget):
    return min(f for n, f in trace if n <= budget)


@pytest.mark.parametrize("method", ["lbfgs", "cg"])
def test_as_strong_as_scipy_on_rosenbrock(method):
    """10-D Rosenbrock from the standard start: ours reaches 1e-8 in no more evaluations than SciPy (+5%),
    and with the evaluations SciPy takes to meet its own stopping test, a value within 1% of SciPy's
    (or both converged below 1e-8, where a relative comparison measures rounding)."""
    x0 = np.tile([-1.2, 1.0], 5)
    fun = _np_fun(so.rosen, so.rosen_der)
    theirs = _scipy(method, fun, x0, 5000)
    mine = _ours(method, fun, x0, len(theirs))
    f_theirs, f_mine = theirs[-1][1], _at(mine, len(theirs))
    assert f_mine <= 1.01 * f_theirs or max(f_mine, f_theirs) <= 1e-8, (f_mine, f_theirs)
    first = lambda tr: next(n for n, f in tr if f <= 1e-8)  # noqa: E731
    assert first(_ours(method, fun, x0, 5000)) <= 1.05 * first(theirs)


@pytest.fixture(scope="module")
def small_network_problem():
    """2,000 embedded HIGGS rows, 28-32-1, logistic loss with L2 1e-3 (see the comparison's docstring)."""
    ds = load_dataset("higgs-sample", n_train=2000)
    dd = to_device(ds, NUMPY, "float64")
    arch = Architecture((28, 32, 1), False)
    obj = Objective(arch, dd.X, dd.S, dd.n_train, "logistic", 1e-3, NUMPY.xp, LocalComm(), block=512)
    return obj, [to_host(init_params(arch, seed, NUMPY.xp, NUMPY.xp.float64, "cpu")) for seed in (0, 1)]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lbfgs", "cg"])
def test_as_strong_as_scipy_on_the_network(small_network_problem, method):
    """With 100 and 300 evaluations, ours reaches a training objective within 1% of SciPy's or lower.

    The logistic loss, not the hinge: the hinge is not differentiable, so both
    quasi-Newton line searches break down at kinks and the comparison would
    measure when each gives up rather than how well it optimises. The L2 term
    keeps the minimum finite (without it the 928 weights memorise the 2,000
    rows and f -> 0, where relative differences mean nothing). Both runs start
    from the same He initialisation; SciPy's value is its best so far, ours
    that of the last iteration completed within the budget.
    """
    obj, starts = small_network_problem
    for x0 in starts:
        theirs, mine = _scipy(method, obj, x0, 300), _ours(method, obj, x0, 300)
        for budget in (100, 300):
            assert _at(mine, budget) <= 1.01 * _at(theirs, budget), (budget, _at(mine, budget), _at(theirs, budget))


# Training ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_data():
    return load_dataset("higgs-sample", n_train=300)


def _settings(method, **kw):
    kw = {"hidden": (8,), "epochs": 6, "l2": 1e-3, "bias": True, **kw}
    if method in ("sgd", "adam"):
        kw.setdefault("lr", 0.05 if method == "sgd" else 0.01)
        kw.setdefault("batch_size", 32)
    return Settings(method=method, **kw)


@pytest.mark.parametrize("method", METHODS)
def test_each_method_decreases_the_loss(backend, tiny_data, method):
    res = train(to_device(tiny_data, backend, "float64"), _settings(method), backend, LocalComm())
    h = res.history
    assert h[0]["iter"] == 0 and h[0]["time_s"] == 0.0
    assert h[-1]["objective"] < 0.9 * h[0]["objective"]
    assert [e["iter"] for e in h] == list(range(len(h)))
    assert all(b["time_s"] >= a["time_s"] for a, b in zip(h, h[1:]))
    assert res.final["test_acc"] == h[-1]["test_acc"] and res.final["iters"] == h[-1]["iter"]


def test_runs_are_reproducible_and_the_seed_matters(tiny_data):
    dd = to_device(tiny_data, NUMPY, "float64")
    runs = [train(dd, _settings("sgd", seed=s), NUMPY, LocalComm()) for s in (0, 0, 1)]
    assert np.array_equal(to_host(runs[0].theta), to_host(runs[1].theta))
    assert [h["objective"] for h in runs[0].history] == [h["objective"] for h in runs[1].history]
    assert not np.array_equal(to_host(runs[0].theta), to_host(runs[2].theta))


def test_stops_at_the_target_accuracy(tiny_data):
    res = train(to_device(tiny_data, NUMPY, "float64"), _settings("lbfgs", epochs=200, target_acc=0.55), NUMPY, LocalComm())
    assert res.final["stop_reason"] == "target" and res.final["test_acc"] >= 0.55
    assert res.final["time_to_target_s"] == res.history[-1]["time_s"]


def test_schedules_and_batches():
    assert schedules.learning_rate("constant", 0.1, 50, 100) == 0.1
    assert schedules.learning_rate("cosine", 0.1, 0, 100) == 0.1
    assert schedules.learning_rate("cosine", 0.1, 50, 100) == pytest.approx(0.05)
    assert [schedules.learning_rate("step", 1.0, t, 100) for t in (49, 50, 75)] == pytest.approx([1.0, 0.1, 0.01])
    # three ranks' shares of every global batch are that batch, in the same epoch order
    n, b = 103, 10
    perm = np.random.default_rng([5, 2]).permutation(n)
    parts = [batches.epoch_order(5, 2, n, lo, hi - lo, b) for lo, hi in ((0, 30), (30, 31), (31, 103))]
    for k, size in enumerate(batches.batch_sizes(n, b)):
        got = []
        for (order, counts), lo in zip(parts, (0, 30, 31)):
            start = sum(counts[:k])
            got += list(order[start : start + counts[k]] + lo)
        assert sorted(got) == sorted(perm[k * b : k * b + size])


def test_logistic_regression_equals_scipy_on_the_embedded_split():
    """--hidden none --loss logistic --bias on: the same fit as an independent NumPy/SciPy logistic regression."""
    ds = load_dataset("higgs-sample")
    res = train(to_device(ds, NUMPY, "float64"), Settings(method="lbfgs", hidden=(), loss="logistic", bias=True,
                                                           epochs=1000, eval_every=1000), NUMPY, LocalComm())
    A = np.column_stack([ds.X_train, np.ones(len(ds.X_train))])
    s = 2.0 * ds.y_train - 1

    def f(w):
        u = s * (A @ w)
        return np.mean(np.logaddexp(0.0, -u)), A.T @ (-s * np.exp(-np.logaddexp(0.0, u))) / len(u)

    ref = so.minimize(f, np.zeros(29), jac=True, method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-14})
    assert res.final["stop_reason"] == "converged"
    assert res.final["objective"] <= ref.fun + 1e-7
    acc = np.mean(((np.column_stack([ds.X_test, np.ones(len(ds.X_test))]) @ ref.x) > 0) == ds.y_test)
    assert abs(res.final["test_acc"] - acc) <= 0.001


# Command line ------------------------------------------------------------------------------
def run_module(*args, timeout=300, env=None):
    return subprocess.run([sys.executable, "-m", "baselines", *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def test_cli_writes_a_run_record_and_a_model_that_predict_uses(tmp_path, capsys):
    out, model = tmp_path / "run.json", tmp_path / "m.npz"
    res = run_module("--method", "lbfgs", "--n-train", "2000", "--hidden", "16", "--epochs", "15", "--l2", "1e-3",
                     "--out", str(out), "--save-model", str(model))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("test accuracy") and "lbfgs on higgs-sample" in res.stderr
    rec = json.loads(out.read_text())
    for key in SCHEMA_KEYS:
        assert key in rec, key
    assert rec["method"] == "lbfgs" and rec["layers"] == [28, 16, 1] and rec["n_train"] == 2000
    assert rec["backend"] == "numpy" and rec["dtype"] == "float64" and rec["ranks"] == 1
    assert rec["config"]["l2"] == 1e-3 and rec["config"]["history"] == 10 and rec["config"]["c2"] == 0.9
    h = rec["history"]
    assert [e["iter"] for e in h] == list(range(len(h))) and h[-1]["passes"] <= 15
    for e in h:
        assert {"iter", "time_s", "objective", "train_acc", "test_acc"} <= set(e)
    assert [e["time_s"] for e in h] == sorted(e["time_s"] for e in h)
    fin = rec["final"]
    assert {"test_acc", "train_acc", "best_test_acc", "wall_s", "train_s", "eval_s", "iters", "stop_reason",
            "time_to_target_s"} <= set(fin)
    assert fin["test_acc"] == h[-1]["test_acc"] and fin["train_s"] == h[-1]["time_s"]
    assert fin["best_test_acc"] == max(e["test_acc"] for e in h)

    from admm_xp.data.datasets import embedded_higgs_dir

    X = np.load(str(embedded_higgs_dir() / "part2_X.npy"))[:300]
    y = np.load(str(embedded_higgs_dir() / "part2_y.npy"))[:300]
    np.savez(tmp_path / "rows.npz", X=X, y=y)
    capsys.readouterr()
    assert main(["predict", "--model", str(model), "--dataset", str(tmp_path / "rows.npz"), "--out",
                 str(tmp_path / "p.txt")]) == 0
    acc = float(capsys.readouterr().err.split()[1])
    assert acc == pytest.approx(np.mean(np.loadtxt(tmp_path / "p.txt") == y), abs=1e-4) and acc > 0.55


def test_admm_xp_baseline_is_the_same_command_with_one_entry_per_epoch(tmp_path):
    out = tmp_path / "sgd.json"
    assert main(["baseline", "--method", "sgd", "--n-train", "500", "--hidden", "8", "--epochs", "4", "--lr", "0.05",
                 "--quiet", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert [e["iter"] for e in rec["history"]] == [0, 1, 2, 3, 4]
    assert rec["config"]["lr"] == 0.05 and rec["config"]["schedule"] == "cosine" and rec["config"]["tuned_from"] is None


def test_help_explains_every_option():
    res = run_module("--help")
    assert res.returncode == 0
    for opt in ("--method", "--dataset", "--hidden", "--device", "--dtype", "--lr", "--batch-size", "--epochs",
                "--max-time", "--target-acc", "--out", "--save-model", "--seed", "--l2", "--eval-every", "--quiet",
                "--loss", "--bias", "--history", "--schedule", "--momentum", "--ranks"):
        assert opt in res.stdout, opt
    res = run_module("tune", "--help")
    assert res.returncode == 0 and "--validation" in res.stdout and "never read" in res.stdout


def test_python_m_baselines_names_itself_in_usage():
    res = run_module("--help")
    assert res.returncode == 0 and res.stdout.startswith("usage: python -m baselines [-h]"), res.stdout[:80]
    res = run_module("tune", "--help")
    assert res.returncode == 0 and res.stdout.startswith("usage: python -m baselines tune [-h]"), res.stdout[:80]
    res = run_module("--method", "sgd", "--epochs", "x")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "(see python -m baselines --help)" in res.stderr


def test_full_batch_progress_and_final_line_count_evaluations(tmp_path, capsys):
    """CG and L-BFGS spend --epochs as evaluations of f and its gradient: the bar and the final line say so
    (not '30/30 iter 29' and 'all epochs run')."""
    assert main(["baseline", "--method", "lbfgs", "--n-train", "300", "--hidden", "4", "--epochs", "12",
                 "--out", str(tmp_path / "r.json")]) == 0
    cap = capsys.readouterr()
    last = [line for line in cap.err.splitlines() if line.startswith("lbfgs 12/12")]
    fin = json.loads((tmp_path / "r.json").read_text())["final"]
    assert last and last[0].startswith(f"lbfgs 12/12 evaluations, iteration {fin['iters']} objective"), cap.err
    assert "all 12 evaluations of f and its gradient (--epochs) used" in cap.out and "all epochs run" not in cap.out
    assert main(["baseline", "--method", "sgd", "--n-train", "300", "--hidden", "4", "--epochs", "3", "--lr", "0.05"]) == 0
    cap = capsys.readouterr()
    assert "sgd 3/3 epochs, objective" in cap.err and "(all epochs run)" in cap.out


def test_baseline_records_time_to_the_papers_target(tmp_path):
    out = tmp_path / "r.json"
    assert main(["baseline", "--method", "adam", "--n-train", "15000", "--hidden", "32", "--epochs", "10",
                 "--quiet", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    first = next((h for h in rec["history"] if h["test_acc"] >= 0.64), None)
    assert first is not None  # this run reaches 64% (a regression guard of the check itself)
    assert rec["final"]["time_to_target_s"] == first["time_s"]
    assert rec["final"]["target"] == {"acc": 0.64, "source": "the paper's HIGGS target"}


def test_tune_scores_on_validation_rows_and_runs_take_its_values(tmp_path):
    search = tmp_path / "lr_search_adam.json"
    assert main(["baseline-tune", "--method", "adam", "--n-train", "1000", "--hidden", "8", "--epochs", "3",
                 "--lr", "0.001,0.03", "--l2", "0,0.001", "--quiet", "--out", str(search)]) == 0
    rec = json.loads(search.read_text())
    assert rec["n_train"] + rec["n_test"] == 1000 and 150 <= rec["n_test"] <= 250  # validation: 20% of the rows
    assert "validation" in rec["dataset_info"]["source"]
    rows = rec["history"]
    assert len(rows) == 4
    best = max(rows, key=lambda r: r["score"])
    assert rec["final"]["chosen"] == {"lr": best["lr"], "batch_size": 128, "l2": best["l2"]}
    out = tmp_path / "run.json"
    assert main(["baseline", "--method", "adam", "--n-train", "1000", "--hidden", "8", "--epochs", "2", "--quiet",
                 "--tuned", str(search), "--out", str(out)]) == 0
    cfg = json.loads(out.read_text())["config"]
    assert (cfg["lr"], cfg["l2"], cfg["tuned_from"]) == (best["lr"], best["l2"], os.path.relpath(search))


def test_report_tabulates_the_folders_runs_and_cites_the_admm_record_it_is_given(tmp_path, capsys):
    from baselines import report
    folder = tmp_path / "hidden-8x2"
    folder.mkdir()
    tiny = ["--n-train", "600", "--hidden", "8,8", "--epochs", "2", "--quiet"]
    assert main(["baseline-tune", "--method", "lbfgs", *tiny, "--l2", "0,0.01", "--out", str(folder / "l2_search_lbfgs.json")]) == 0
    assert main(["baseline", "--method", "lbfgs", *tiny, "--tuned", str(folder / "l2_search_lbfgs.json"),
                 "--out", str(folder / "lbfgs.json")]) == 0
    admm = tmp_path / "train_deep.json"
    assert main(["train", "--n-train", "600", "--hidden", "8,8", "--iters", "3", "--quiet", "--out", str(admm)]) == 0
    capsys.readouterr()
    assert report.main([str(folder), str(admm)]) == 0
    text = (folder / "README.md").read_text()
    run = json.loads((folder / "lbfgs.json").read_text())
    search = json.loads((folder / "l2_search_lbfgs.json").read_text())
    admm_final = json.loads(admm.read_text())["final"]
    assert f"| L-BFGS (m = 10) | hinge loss, l2 {search['final']['chosen']['l2']:g}" in text
    assert f"{run['final']['best_test_acc']:.4f}" in text and "| SGD" not in text  # only the runs present
    assert f"`{os.path.relpath(admm)}`" in text and f"best test accuracy {admm_final['best_test_acc']:.4f}" in text
    assert run["command"] in text and search["command"] in text
    with pytest.raises(SystemExit, match="no such ADMM run record"):
        report.main([str(folder), str(tmp_path / "missing.json")])


def test_tune_without_out_keeps_the_checkouts_search_for_another_run(tmp_path, monkeypatch, capsys):
    """The default search file is what `baseline` runs read: a search for another data set must not replace it."""
    monkeypatch.setattr("baselines.cli.RESULTS", str(tmp_path / "results"))
    default = tmp_path / "results" / "lr_search_sgd.json"
    tiny = ["--n-train", "300", "--hidden", "4", "--epochs", "1", "--batch-size", "64", "--l2", "0"]
    assert main(["baseline-tune", "--method", "sgd", *tiny, "--lr", "0.1", "--quiet"]) == 0  # no file yet: written
    held = default.read_bytes()
    assert json.loads(held)["config"]["dataset"] == "higgs-sample"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    np.savetxt(tmp_path / "my.csv", np.column_stack([(X[:, 0] > 0).astype(int), X]), delimiter=",")
    for other in (["--dataset", str(tmp_path / "my.csv")], ["--loss", "logistic"], ["--hidden", "5"]):
        capsys.readouterr()
        code = main(["baseline-tune", "--method", "sgd", *tiny, "--lr", "0.1", *other])  # not quiet: no progress line
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and err.startswith("admm-xp: error:"), err
        assert "lr_search_sgd.json" in err and "higgs-sample" in err and "--out FILE" in err and "--tuned FILE" in err
        assert default.read_bytes() == held
    out = tmp_path / "mine.json"  # an explicit --out writes where asked
    assert main(["baseline-tune", "--method", "sgd", *tiny, "--lr", "0.1", "--quiet", "--dataset",
                 str(tmp_path / "my.csv"), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["config"]["dataset"] == str(tmp_path / "my.csv") and default.read_bytes() == held
    # the same data set, network and loss: a refresh replaces it
    assert main(["baseline-tune", "--method", "sgd", *tiny, "--lr", "0.03", "--quiet"]) == 0
    assert json.loads(default.read_text())["final"]["chosen"]["lr"] == 0.03
    default.write_text("{}")  # not a search record: kept, not overwritten
    assert main(["baseline-tune", "--method", "sgd", *tiny, "--lr", "0.1", "--quiet"]) == 2
    assert "not a sgd search record" in capsys.readouterr().err and default.read_text() == "{}"


BAD = [
    ([], "--method"),
    (["--method", "newton"], "newton"),
    (["--method", "sgd", "--lr", "0"], "--lr"),
    (["--method", "adam", "--lr", "nan"], "--lr"),
    (["--method", "sgd", "--batch-size", "0"], "--batch-size"),
    (["--method", "sgd", "--momentum", "1"], "--momentum"),
    (["--method", "lbfgs", "--lr", "0.1"], "sgd and adam"),
    (["--method", "cg", "--batch-size", "10"], "sgd and adam"),
    (["--method", "adam", "--momentum", "0.5"], "sgd only"),
    (["--method", "sgd", "--history", "5"], "lbfgs only"),
    (["--method", "lbfgs", "--history", "0"], "--history"),
    (["--method", "lbfgs", "--epochs", "-1"], "--epochs"),
    (["--method", "lbfgs", "--l2", "-1"], "--l2"),
    (["--method", "lbfgs", "--max-time", "0"], "--max-time"),
    (["--method", "lbfgs", "--target-acc", "64"], "--target-acc"),
    (["--method", "lbfgs", "--eval-every", "0"], "--eval-every"),
    (["--method", "lbfgs", "--hidden", "0"], "--hidden"),
    (["--method", "lbfgs", "--hidden", "abc"], "--hidden"),
    (["--method", "lbfgs", "--loss", "hinge2"], "hinge2"),
    (["--method", "lbfgs", "--device", "tpu"], "unknown device"),
    (["--method", "lbfgs", "--dtype", "float16"], "float16"),
    (["--method", "lbfgs", "--dataset", "{nan.npz}"], "NaN or inf"),
    (["--method", "lbfgs", "--dataset", "nosuchfile.csv"], "no such file"),
    (["--method", "sgd", "--tuned", "{missing.json}"], "no such file"),
    (["--method", "sgd", "--tuned", "{nan.npz}"], "not a search record"),
]


@pytest.mark.parametrize("args,words", BAD, ids=[" ".join(a) or "no-method" for a, _ in BAD])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, args, words):
    X = np.random.default_rng(0).normal(size=(40, 3))
    X[3, 1] = np.nan
    np.savez(tmp_path / "nan.npz", X=X, y=np.arange(40) % 2)
    args = [str(tmp_path / a[1:-1]) if a.startswith("{") else a for a in args]
    out, model = tmp_path / "out" / "run.json", tmp_path / "out" / "m.npz"
    code = main(["baseline", "--epochs", "2", "--quiet", "--out", str(out), "--save-model", str(model), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("admm-xp: error:"), err
    assert words in err, err
    assert not out.exists() and not model.exists()


def test_divergence_is_one_line_exit_3_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run.json"
    code = main(["baseline", "--method", "sgd", "--loss", "squared-hinge", "--lr", "1000", "--n-train", "500",
                 "--hidden", "8", "--epochs", "3", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 3 and err.count("\n") == 1 and "lower --lr" in err, err
    assert not out.exists()


def test_bad_tune_input_and_bad_output_paths(tmp_path, capsys):
    cases = [
        (["baseline-tune", "--method", "cg", "--lr", "0.1"], "search --l2"),
        (["baseline-tune", "--method", "sgd", "--validation", "1.5"], "--validation"),
        (["baseline-tune", "--method", "sgd", "--lr", "x"], "--lr"),
        (["baseline-tune", "--method", "sgd", "--lr", ""], "--lr must not be empty"),
        (["baseline-tune", "--method", "cg", "--lr", ""], "search --l2"),
        (["baseline", "--method", "cg", "--out", str(tmp_path)], "is a directory"),
    ]
    for args, words in cases:
        code = main([*args, "--quiet"] if args[0] == "baseline" else [*args, "--out", str(tmp_path / "s.json")])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "s.json").exists()


# MPI -----------------------------------------------------------------------------------
MPIEXEC = shutil.which("mpiexec") or os.path.join(os.path.dirname(sys.executable), "mpiexec")


@pytest.mark.mpi
@pytest.mark.skipif(not os.path.exists(MPIEXEC), reason="mpiexec not installed (pip install mpi4py mpich)")
@pytest.mark.parametrize("method", ["sgd", "lbfgs"])
def test_two_ranks_train_as_one_process(tmp_path, method):
    """Data parallel: 2 ranks (shard sums, one allreduce per evaluation or mini-batch) give one process's run."""
    common = ["--method", method, "--n-train", "1001", "--hidden", "12", "--epochs", "6", "--l2", "1e-3", "--quiet"]
    if method == "sgd":
        common += ["--lr", "0.05", "--batch-size", "64"]
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    assert main(["baseline", *common, "--out", str(one)]) == 0
    env = dict(os.environ, MPIEXEC_TIMEOUT="120")
    res = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "baselines", *common, "--out", str(two)],
                         capture_output=True, text=True, timeout=150, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("test accuracy") == 1  # only rank 0 prints
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert b["ranks"] == 2 and len(a["history"]) == len(b["history"]) > 2
    for x, y in zip(a["history"], b["history"]):
        assert y["objective"] == pytest.approx(x["objective"], rel=1e-10)
        assert y["test_acc"] == x["test_acc"]
