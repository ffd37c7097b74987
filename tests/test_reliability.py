"""Reliability: checkpoints resume to the same answer, signals stop cleanly, bad input never crashes."""
from __future__ import annotations

import json
import os
import signal
import string
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admm_xp import checkpoint
from admm_xp.cli.main import main

COMMON = ["train", "--n-train", "3000", "--hidden", "30", "--quiet"]


def _weights(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k.startswith("W")}


def run(*args, timeout=300, env=None):
    return subprocess.run([sys.executable, "-m", "admm_xp", *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


@pytest.mark.parametrize("method", [[], ["--lagrangian", "full"], ["--lagrangian", "linear", "--relu-multiplier-iters", "0"],
                                    ["--relu-multiplier-iters", "5"], ["--relu-multiplier-iters", "7"],
                                    ["--forward-restart", "3"], ["--forward-restart", "7"]],
                         ids=["default", "full", "linear", "relu-multipliers-dropped-before", "relu-multipliers-dropped-after",
                              "forward-restarts-before-and-after", "forward-restart-on-resuming"])
def test_resume_follows_the_uninterrupted_trajectory_exactly(tmp_path, method):
    """Checkpoint at iteration 7, resume to 12: the same weights and history as one run (the default's
    ReLU multipliers dropped before the checkpoint, or kept in it and dropped on resuming; restarts from
    the forward pass on both sides of the checkpoint, or as the resumed run's first step)."""
    COMMON = ["train", "--n-train", "3000", "--hidden", "30", "--quiet", *method]
    assert main([*COMMON, "--iters", "12", "--out", str(tmp_path / "full.json"), "--save-model", str(tmp_path / "full.npz")]) == 0
    assert main([*COMMON, "--iters", "7", "--checkpoint", str(tmp_path / "ck"), "--checkpoint-every", "3"]) == 0
    man = checkpoint.verify(str(tmp_path / "ck"))
    assert man["iteration"] == 7 and os.listdir(tmp_path / "ck") == ["manifest.json", "it000007"] or \
        sorted(os.listdir(tmp_path / "ck")) == ["it000007", "manifest.json"]
    assert main([*COMMON, "--iters", "12", "--resume", str(tmp_path / "ck"), "--out", str(tmp_path / "res.json"),
                 "--save-model", str(tmp_path / "res.npz")]) == 0
    full, res = _weights(tmp_path / "full.npz"), _weights(tmp_path / "res.npz")
    for k in full:
        np.testing.assert_array_equal(full[k], res[k])
    h_full = json.loads((tmp_path / "full.json").read_text())["history"]
    h_res = json.loads((tmp_path / "res.json").read_text())["history"]
    assert [h["objective"] for h in h_full] == [h["objective"] for h in h_res]
    assert [h["test_acc"] for h in h_full] == [h["test_acc"] for h in h_res]


def test_resume_refuses_other_settings_or_data_and_corrupt_files(tmp_path, capsys):
    ck = str(tmp_path / "ck")
    assert main([*COMMON, "--iters", "3", "--checkpoint", ck]) == 0
    capsys.readouterr()
    assert main([*COMMON, "--iters", "5", "--resume", ck, "--gamma", "3"]) == 2
    assert "other solver settings" in capsys.readouterr().err
    for changed in (["--relu-multiplier-iters", "3"], ["--first-layer-penalty", "2"]):  # settings added later too
        assert main([*COMMON, "--iters", "5", "--resume", ck, *changed]) == 2
        assert "other solver settings" in capsys.readouterr().err
    assert main(["train", "--n-train", "2000", "--hidden", "30", "--quiet", "--iters", "5", "--resume", ck]) == 2
    assert "other data" in capsys.readouterr().err
    shard = os.path.join(ck, "it000003", "shard-00000.npz")
    data = open(shard, "rb").read()
    open(shard, "wb").write(data[:-100])
    assert main([*COMMON, "--iters", "5", "--resume", ck]) == 2
    err = capsys.readouterr().err
    assert "corrupt" in err and err.count("\n") == 1
    assert main([*COMMON, "--iters", "5", "--resume", str(tmp_path / "nothing")]) == 2


def _interrupt_at(monkeypatch, iteration):
    """Make the next run stop as a SIGINT would, after ``iteration`` iterations (its checkpoint stays)."""
    import admm_xp.train as train_mod

    real = train_mod.accelerated_iteration

    def interrupted(state, *args, **kw):
        if state.iteration == iteration:
            raise KeyboardInterrupt
        return real(state, *args, **kw)

    monkeypatch.setattr(train_mod, "accelerated_iteration", interrupted)
    return real


def test_resume_alone_continues_with_the_checkpoints_options(tmp_path, monkeypatch, capsys):
    """`--resume DIR` alone: the data, solver settings and --iters of the checkpointed run (seed 5 here)."""
    import admm_xp.train as train_mod

    run = ["train", "--n-train", "3000", "--hidden", "20", "--seed", "5", "--gamma", "2", "--iters", "12", "--quiet"]
    assert main([*run, "--save-model", str(tmp_path / "full.npz")]) == 0
    ck = str(tmp_path / "ck")
    real = _interrupt_at(monkeypatch, 7)
    assert main([*run, "--checkpoint", ck, "--checkpoint-every", "3"]) == 130
    monkeypatch.setattr(train_mod, "accelerated_iteration", real)
    meta = checkpoint.saved_run(ck)
    assert meta["iteration"] == 6 and meta["config"]["seed"] == 5 and meta["options"]["iters"] == 12
    capsys.readouterr()
    assert main(["train", "--resume", ck, "--quiet", "--save-model", str(tmp_path / "res.npz")]) == 0
    assert "after 12 iterations" in capsys.readouterr().out
    full, res = _weights(tmp_path / "full.npz"), _weights(tmp_path / "res.npz")
    for k in full:
        np.testing.assert_array_equal(full[k], res[k])
    # Options given with --resume must agree; the message names the one that differs.
    assert main(["train", "--resume", ck, "--quiet", "--seed", "5", "--iters", "14"]) == 0  # agrees; --iters may change
    capsys.readouterr()
    assert main(["train", "--resume", ck, "--quiet", "--seed", "0"]) == 2
    err = capsys.readouterr().err
    assert "--seed 5 in the checkpoint, 0 here" in err and err.count("\n") == 1, err
    assert main(["train", "--resume", ck, "--quiet", "--n-train", "2000"]) == 2
    err = capsys.readouterr().err
    assert "other data (--n-train 3000, here --n-train 2000)" in err and err.count("\n") == 1, err


def test_stray_checkpoint_folders_are_removed_at_start(tmp_path):
    """What a SIGKILL leaves (a half-written checkpoint folder, temporary files) goes when the next run starts,
    not only at its next checkpoint."""
    ck = tmp_path / "ck"
    assert main([*COMMON, "--iters", "4", "--checkpoint", str(ck), "--checkpoint-every", "2"]) == 0
    (ck / "it000006").mkdir()
    (ck / "it000006" / "shard-00000.npz").write_bytes(b"half")
    (ck / ".manifest.json.k2j3.tmp").write_text("{")
    (ck / "it000004" / ".weights.npz.x8.tmp").write_bytes(b"half")
    (ck / "notes").mkdir()  # not a checkpoint's: kept
    assert main([*COMMON, "--iters", "4", "--resume", str(ck)]) == 0  # nothing left to run: no new checkpoint
    assert sorted(os.listdir(ck)) == ["it000004", "manifest.json", "notes"]
    assert ".weights.npz.x8.tmp" not in os.listdir(ck / "it000004")
    checkpoint.verify(str(ck))


def test_same_seed_same_run(tmp_path):
    for name in ("a", "b"):
        assert main([*COMMON, "--iters", "5", "--save-model", str(tmp_path / f"{name}.npz")]) == 0
    a, b = _weights(tmp_path / "a.npz"), _weights(tmp_path / "b.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert main([*COMMON, "--iters", "5", "--seed", "1", "--save-model", str(tmp_path / "c.npz")]) == 0
    assert not np.array_equal(a["W1"], _weights(tmp_path / "c.npz")["W1"])


def _wait_for(path, timeout=120):
    t0 = time.monotonic()
    while not os.path.exists(path):
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(path)
        time.sleep(0.05)


@pytest.mark.slow
def test_sigterm_checkpoints_writes_the_record_and_resumes(tmp_path):
    ck, out = str(tmp_path / "ck"), str(tmp_path / "partial.json")
    args = ["train", "--hidden", "100", "--iters", "400", "--checkpoint", ck, "--checkpoint-every", "5", "--out", out]
    proc = subprocess.Popen([sys.executable, "-m", "admm_xp", *args, "--quiet"], stderr=subprocess.PIPE, text=True)
    _wait_for(os.path.join(ck, "manifest.json"))
    proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 10
    assert proc.returncode == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in err and "--resume" in err
    man = checkpoint.verify(ck)
    rec = json.loads(open(out).read())
    assert rec["final"]["stop_reason"] == "stopped" and rec["final"]["iters"] == man["iteration"] < 400
    # Continue to a fixed end and compare with an uninterrupted run.
    end = str(man["iteration"] + 3)
    assert main(["train", "--hidden", "100", "--iters", end, "--resume", ck, "--quiet", "--save-model", str(tmp_path / "r.npz")]) == 0
    assert main(["train", "--hidden", "100", "--iters", end, "--quiet", "--save-model", str(tmp_path / "u.npz")]) == 0
    r, u = _weights(tmp_path / "r.npz"), _weights(tmp_path / "u.npz")
    assert all(np.array_equal(r[k], u[k]) for k in r)


def test_divergence_names_layer_and_iteration_and_keeps_the_checkpoint(tmp_path, monkeypatch, capsys):
    import admm_xp.train as train_mod

    real = train_mod.accelerated_iteration

    def poisoned(state, prob, cfg, xp, comm, ops, accel, **kw):
        sums = real(state, prob, cfg, xp, comm, ops, accel, **kw)
        if state.iteration == 5:
            state.a[0][0, 0] = float("nan")
            from admm_xp.solver.objective import objective_parts

            return objective_parts(state, prob, cfg, xp)
        return sums

    monkeypatch.setattr(train_mod, "accelerated_iteration", poisoned)
    ck = str(tmp_path / "ck")
    code = main([*COMMON, "--iters", "10", "--checkpoint", ck, "--checkpoint-every", "2", "--out", str(tmp_path / "o.json")])
    err = capsys.readouterr().err
    assert code == 3
    assert "iteration 5" in err and "layer 1" in err and "--gamma" in err and err.count("\n") == 1
    assert checkpoint.verify(ck)["iteration"] == 4  # the last good checkpoint is intact
    assert not (tmp_path / "o.json").exists()


# Fuzzed bad input --------------------------------------------------------------------------
def _check_clean_failure(code, err, out_dir):
    assert code in (0, 2), err
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("admm-xp: error:") and "Traceback" not in err, err
    for root, _, files in os.walk(out_dir):
        for f in files:
            assert not f.startswith(".") and not f.endswith((".tmp", ".part")), f  # nothing half-written
    record = os.path.join(out_dir, "run.json")
    if os.path.exists(record):
        json.loads(open(record).read())
    if os.path.exists(os.path.join(out_dir, "ck", "manifest.json")):
        checkpoint.verify(os.path.join(out_dir, "ck"))


def _train_on(path, tmp, capsys, *extra):
    out_dir = os.path.join(tmp, "out")
    capsys.readouterr()
    code = main(["train", "--dataset", path, "--iters", "2", "--hidden", "4", "--quiet", "--out",
                 os.path.join(out_dir, "run.json"), "--checkpoint", os.path.join(out_dir, "ck"), *extra])
    _check_clean_failure(code, capsys.readouterr().err, out_dir)
    return code


csv_cell = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-3, 3).map(str),
                     st.text(alphabet=string.ascii_letters + " ;\t\"'", max_size=4), st.just(""))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(csv_cell, min_size=1, max_size=5), min_size=0, max_size=30))
def test_fuzzed_csv_files(tmp_path_factory, capsys, rows):
    tmp = str(tmp_path_factory.mktemp("csv"))
    path = os.path.join(tmp, "f.csv")
    with open(path, "w") as fh:
        fh.write("\n".join(",".join(r) for r in rows))
    _train_on(path, tmp, capsys)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(0, 40), d=st.integers(0, 4), labels=st.sampled_from(["binary", "pm1", "float", "many", "short"]),
       xdtype=st.sampled_from(["float64", "float32", "int8", "complex64", "bool"]), bad=st.sampled_from([None, "nan", "inf"]),
       truncate=st.booleans(), compress=st.booleans())
def test_fuzzed_npz_files(tmp_path_factory, capsys, n, d, labels, xdtype, bad, truncate, compress):
    tmp = str(tmp_path_factory.mktemp("npz"))
    rng = np.random.default_rng(n * 7 + d)
    X = (rng.normal(size=(n, d)) * 3).astype(xdtype)
    if bad and n and d and np.issubdtype(X.dtype, np.floating):
        X[0, 0] = np.nan if bad == "nan" else np.inf
    y = {"binary": rng.integers(0, 2, n), "pm1": rng.choice([-1, 1], n), "float": rng.random(n),
         "many": rng.integers(0, 50, n), "short": rng.integers(0, 2, max(n - 1, 0))}[labels]
    path = os.path.join(tmp, "f.npz")
    (np.savez_compressed if compress else np.savez)(path, X=X, y=y)
    if truncate:
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])
    _train_on(path, tmp, capsys)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".npz", ".csv.gz", ".mat"]))
def test_fuzzed_garbage_files(tmp_path_factory, capsys, blob, suffix):
    tmp = str(tmp_path_factory.mktemp("junk"))
    path = os.path.join(tmp, "f" + suffix)
    with open(path, "wb") as fh:
        fh.write(blob)
    _train_on(path, tmp, capsys)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(min_size=0, max_size=300), keep=st.integers(0, 100))
def test_fuzzed_svhn_mat_files(tmp_path_factory, capsys, blob, keep):
    """Broken SVHN .mat files (random bytes, or a real .mat cut short) fail with one line."""
    import scipy.io

    tmp = str(tmp_path_factory.mktemp("mat"))
    rng = np.random.default_rng(keep)
    for name in ("train_32x32.mat", "test_32x32.mat"):
        scipy.io.savemat(os.path.join(tmp, name), {"X": rng.integers(0, 255, (32, 32, 3, 6)).astype(np.uint8),
                                                    "y": rng.integers(1, 11, (6, 1))})
    broken = os.path.join(tmp, "test_32x32.mat")
    data = open(broken, "rb").read()
    open(broken, "wb").write(blob if blob else data[: len(data) * keep // 100])
    out_dir = os.path.join(tmp, "out")
    capsys.readouterr()
    code = main(["train", "--dataset", "svhn", "--data-dir", tmp, "--iters", "1", "--hidden", "3", "--quiet",
                 "--out", os.path.join(out_dir, "run.json")])
    _check_clean_failure(code, capsys.readouterr().err, out_dir)


option_value = st.one_of(st.text(alphabet=string.printable, max_size=6), st.integers(-5, 5).map(str),
                         st.floats(allow_nan=True, allow_infinity=True).map(repr))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(["--hidden", "--iters", "--gamma", "--beta", "--warm-start", "--device", "--dtype",
                               "--target-acc", "--seed", "--n-train", "--eval-every", "--checkpoint-every",
                               "--weight-decay", "--penalty-growth", "--block-size", "--label-col", "--preset",
                               "--max-time", "--ridge", "--dual-decay", "--relu-multiplier-iters",
                               "--first-layer-penalty"]),
       value=option_value)
def test_fuzzed_cli_values(tmp_path_factory, capsys, option, value):
    tmp = str(tmp_path_factory.mktemp("cli"))
    out_dir = os.path.join(tmp, "out")
    capsys.readouterr()
    code = main(["train", "--n-train", "300", "--hidden", "4", "--iters", "1", "--quiet", "--out",
                 os.path.join(out_dir, "run.json"), option, value])
    _check_clean_failure(code, capsys.readouterr().err, out_dir)


# The Python API, fuzzed like the command line ----------------------------------------------
def _one_line_user_error(exc):
    from admm_xp.errors import UserError

    assert isinstance(exc, UserError), repr(exc)  # never a NumPy / LAPACK / attribute error
    assert "\n" not in str(exc) and str(exc), repr(exc)


api_labels = st.sampled_from(["binary", "pm1", "strings", "three", "float", "nan", "one", "short", "column", "matrix",
                              "none", "object", "bool", "big"])


def _api_labels(kind, n, rng):
    return {"binary": lambda: rng.integers(0, 2, n), "pm1": lambda: rng.choice([-1, 1], n),
            "strings": lambda: rng.choice(["cat", "dog"], n), "three": lambda: rng.choice([3, 7, 11], n),
            "float": lambda: rng.random(n), "nan": lambda: np.where(rng.random(n) < 0.5, np.nan, 1.0),
            "one": lambda: np.ones(n), "short": lambda: rng.integers(0, 2, max(n - 1, 0)),
            "column": lambda: rng.integers(0, 2, (n, 1)), "matrix": lambda: rng.integers(0, 2, (n, 2)),
            "none": lambda: None, "object": lambda: np.array(["a", 1] * (n // 2) + ["a"] * (n % 2), dtype=object),
            "bool": lambda: rng.random(n) < 0.5, "big": lambda: rng.integers(0, 2, n) * 70000}[kind]()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 30), d=st.integers(0, 4), labels=api_labels,
       xdtype=st.sampled_from(["float64", "float32", "int8", "complex64", "bool", "object", "list", "str"]),
       bad=st.sampled_from([None, "nan", "inf", "1e300", "-1e200"]), hidden=st.sampled_from([3, 0, (2, 2), "x"]))
def test_fuzzed_python_api_fit_predict_score(n, d, labels, xdtype, bad, hidden):
    """fit, predict and score take anything and either work or raise one-line UserErrors (never a traceback
    from inside NumPy or the solver); what they return is well formed."""
    import warnings

    from admm_xp import ADMMClassifier

    rng = np.random.default_rng(n * 13 + d)
    X = rng.normal(size=(n, d)) * 3
    if bad and n and d:
        X[rng.integers(n), rng.integers(d)] = float(bad)
    with np.errstate(over="ignore", invalid="ignore"):  # 1e300 as float32 or int8: whatever the cast makes
        X = X.tolist() if xdtype == "list" else X.astype(xdtype)
    y = _api_labels(labels, n, rng)
    clf = ADMMClassifier(hidden=hidden, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a column-vector y warns as scikit-learn does
        try:
            clf.fit(X, y)
        except Exception as exc:  # noqa: BLE001 - the point of the test
            _one_line_user_error(exc)
            return
    Xa = np.asarray(X, dtype=np.float64)
    pred = clf.predict(Xa)
    assert pred.shape == (n,) and set(np.unique(pred)) <= set(clf.classes_)
    acc = clf.score(Xa, np.ravel(y))
    assert 0.0 <= acc <= 1.0


@settings(max_examples=30, deadline=None)
@given(d_fit=st.integers(1, 4), d_pred=st.integers(0, 5), fit_labels=st.sampled_from([(0, 1), (3, 7), (1, 2, 5)]),
       pred_labels=st.sampled_from([(0, 1), (3, 7), (1, 2, 5), (9,)]), n=st.integers(0, 20),
       form=st.sampled_from(["array", "list", "float32"]), huge=st.booleans())
def test_fuzzed_predict_with_models_of_other_features_and_labels(d_fit, d_pred, fit_labels, pred_labels, n, form, huge):
    """A fitted model applied to rows of another width, or to values too large to use (1e300, refused in
    training too), fails with one line; labels outside its classes count as errors in score (a number in
    [0, 1], not a crash); lists work as arrays do."""
    from admm_xp import ADMMClassifier

    rng = np.random.default_rng(d_fit * 31 + d_pred * 7 + n)
    Xf = rng.normal(size=(60, d_fit))
    clf = ADMMClassifier(hidden=3, max_iter=2).fit(Xf, np.asarray(fit_labels)[np.arange(60) % len(fit_labels)])
    X = rng.normal(size=(n, d_pred))
    huge = huge and n > 0 and d_pred > 0
    if huge:
        X[-1, -1] = 1e300
    if form == "list" and n:  # (an empty list has no width to check)
        X = X.tolist()
    elif form == "float32" and not huge:
        X = X.astype(np.float32)
    y = np.asarray(pred_labels)[rng.integers(0, len(pred_labels), n)]
    for call in (lambda: clf.predict(X), lambda: clf.decision_function(X), lambda: clf.score(X, y)):
        try:
            out = call()
        except Exception as exc:  # noqa: BLE001
            _one_line_user_error(exc)
            assert d_pred != d_fit or huge, exc
            continue
        assert d_pred == d_fit and not huge
        if np.ndim(out) == 0:
            assert n == 0 or 0.0 <= out <= 1.0
            if n and not set(pred_labels) & set(fit_labels):
                assert out == 0.0
        else:
            assert out.shape[0] == n


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(d_fit=st.integers(1, 3), d_pred=st.integers(1, 4), fit_labels=st.sampled_from([(0, 1), (3, 7), (1, 2, 5)]),
       pred_labels=st.sampled_from([(0, 1), (3, 7), (1, 2, 5), (-1, 1)]), fmt=st.sampled_from(["csv", "npz"]))
def test_fuzzed_cli_predict_with_models_of_other_features_and_labels(tmp_path_factory, capsys, d_fit, d_pred,
                                                                      fit_labels, pred_labels, fmt):
    """`admm-xp predict` with a model of another width is one line, exit 2, no output file; with labels the
    model does not know it predicts, warns, and reports an accuracy."""
    tmp = str(tmp_path_factory.mktemp("pred"))
    rng = np.random.default_rng(d_fit * 5 + d_pred)
    X = rng.normal(size=(80, d_fit))
    np.savez(os.path.join(tmp, "fit.npz"), X=X, y=np.asarray(fit_labels)[np.arange(80) % len(fit_labels)])
    model = os.path.join(tmp, "m.npz")
    assert main(["train", "--dataset", os.path.join(tmp, "fit.npz"), "--hidden", "3", "--iters", "2", "--quiet",
                 "--save-model", model]) == 0
    Xp = rng.normal(size=(30, d_pred))
    yp = np.asarray(pred_labels)[np.arange(30) % len(pred_labels)]
    path = os.path.join(tmp, "rows." + fmt)
    if fmt == "npz":
        np.savez(path, X=Xp, y=yp)
    else:
        np.savetxt(path, np.column_stack([yp, Xp]), delimiter=",")
    out = os.path.join(tmp, "out", "pred.txt")
    capsys.readouterr()
    code = main(["predict", "--model", model, "--dataset", path, "--out", out])
    err = capsys.readouterr().err
    if d_pred != d_fit:
        assert code == 2 and err.count("\n") == 1 and f"expects {d_fit} features" in err, err
        assert not os.path.exists(out)
        return
    assert code == 0, err
    lines = err.splitlines()
    unknown = sorted(set(pred_labels) - set(fit_labels))
    assert lines[-1].startswith("accuracy ") and len(lines) == (2 if unknown else 1), err
    if unknown:
        assert lines[0].startswith("admm-xp: warning:") and str(unknown) in lines[0]
    pred = np.loadtxt(out, dtype=int).reshape(-1)
    assert pred.shape == (30,) and set(pred.tolist()) <= set(fit_labels)
    assert float(lines[-1].split()[1]) == pytest.approx(np.mean(pred == yp), abs=1e-4)


def test_a_copied_tree_records_the_commit_it_was_given(monkeypatch):
    """The GPU check runs a copy of the tree whose .git is stale or absent: its records name the
    commit passed in ADMM_XP_SOURCE_COMMIT, and without it a tree without git names the version."""
    import subprocess

    from admm_xp import runrecord

    runrecord.source_commit.cache_clear()
    try:
        monkeypatch.setenv("ADMM_XP_SOURCE_COMMIT", "a6c03a7")
        assert runrecord.source_commit() == "a6c03a7 (copied tree)"
        runrecord.source_commit.cache_clear()
        monkeypatch.delenv("ADMM_XP_SOURCE_COMMIT")

        def no_git(*args, **kwargs):
            raise OSError("git: not found")

        monkeypatch.setattr(subprocess, "run", no_git)
        assert "no git checkout" in runrecord.source_commit()
    finally:
        runrecord.source_commit.cache_clear()
