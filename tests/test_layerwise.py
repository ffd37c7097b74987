"""Greedy layer-wise ADMM (``layerwise``) and the centred input layer it trains its upper stages with."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from admm_xp.data.datasets import Dataset
from admm_xp.data.device import to_device
from admm_xp.kernels import kernels_for
from admm_xp.layerwise import stage_config, stage_ends
from admm_xp.nn import layer_widths
from admm_xp.runtime.comm import LocalComm
from admm_xp.solver.config import ADMMConfig
from admm_xp.solver.iteration import admm_iteration
from admm_xp.solver.objective import count_correct
from admm_xp.solver.state import init_state, make_problem
from admm_xp.train import RunOptions, train_admm
from conftest import to_np
from reference import reference_iteration


def _toy(n=300, d=5, classes=2, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + shift
    score = X[:, 0] - shift + 0.5 * (X[:, 1] - shift) ** 2 - 0.5 + 0.3 * rng.normal(size=n)
    y = (score > 0).astype(np.int64) if classes == 2 else np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    ds = Dataset("toy", X, y, X[:60], y[:60], n, 60, 0, classes, d)
    ds.mean, ds.scale = np.zeros(d), np.ones(d)
    return ds


@pytest.mark.parametrize("lagrangian", ["linear", "full", "augmented"])
def test_centred_input_layer_equals_algorithm_1_and_keeps_w1_mean_x_zero(backend, lagrangian):
    """center_input: the production iteration = the plain transcription, whose W_1 update solves the
    bordered (KKT) system of min ||z_1 - W X||^2 s.t. W mean(X) = 0 directly; W_1 mean(X) = 0 from the
    start (the initial least squares too), for inputs whose mean is far from zero."""
    import copy

    xp = backend.xp
    cfg = ADMMConfig(hidden=(7,), center_input=True, warm_start=2, block_size=37, lagrangian=lagrangian)
    dd = to_device(_toy(shift=2.0), backend, cfg.dtype)
    comm = LocalComm()
    prob = make_problem(dd.X, dd.S, 0, dd.n_train, cfg, xp, comm)
    state = init_state(prob, layer_widths(dd.X.shape[0], cfg.hidden, dd.n_outputs), cfg, xp, comm)
    xbar = to_np(dd.X).mean(axis=1)
    np.testing.assert_allclose(to_np(state.W[0]) @ xbar, 0.0, atol=1e-9)
    ref = copy.deepcopy(state) if backend.name != "torch" else None
    ops = kernels_for(xp)
    for it in range(4):
        admm_iteration(state, prob, cfg, xp, comm, ops, update_multiplier=it >= cfg.warm_start)
        if ref is not None:
            reference_iteration(ref, prob, cfg, xp, update_multiplier=it >= cfg.warm_start)
        np.testing.assert_allclose(to_np(state.W[0]) @ xbar, 0.0, atol=1e-9)
    if ref is not None:
        for name, arr in state.arrays().items():
            np.testing.assert_allclose(to_np(arr), to_np(ref.arrays()[name]), rtol=1e-8, atol=1e-9, err_msg=name)
    free = ADMMConfig(hidden=(7,), warm_start=2, lagrangian=lagrangian)
    prob_free = make_problem(dd.X, dd.S, 0, dd.n_train, free, xp, comm)
    assert prob_free.input_mean is None
    W_free = init_state(prob_free, layer_widths(dd.X.shape[0], free.hidden, dd.n_outputs), free, xp, comm).W[0]
    assert np.abs(to_np(W_free) @ xbar).max() > 1e-3  # without the constraint the first layer is not centred


def test_stage_ends_and_configs():
    two = ADMMConfig(hidden=(5, 4), layerwise=50, gamma=(1.0, 2.0), beta=(3.0, 4.0, 5.0))
    assert stage_ends(two, 100) == [50, 100]
    assert stage_ends(two, 300) == [50, 300]
    assert stage_ends(two, 20) == [10, 20]  # shorter runs: iters / layers for every stage but the last
    assert stage_ends(ADMMConfig(hidden=(5, 4, 3), layerwise=30), 100) == [30, 60, 100]
    assert stage_ends(ADMMConfig(hidden=(5, 4, 3), layerwise=50), 100) == [33, 66, 100]
    first, second = stage_config(two, 0), stage_config(two, 1)
    assert first.hidden == (5,) and first.gamma == (1.0,) and first.beta == (3.0, 5.0) and not first.center_input
    assert second.hidden == (4,) and second.gamma == (2.0,) and second.beta == (4.0, 5.0) and second.center_input
    assert first.layerwise == 0 and first.lagrangian == "linear"  # resolved as a one-hidden-layer network
    # a layer-wise run resolves "auto" as for one hidden layer (what every stage is), and its stages are the same
    resolved = ADMMConfig(hidden=(5, 4, 3), layerwise=30).resolved()
    assert resolved.lagrangian == "linear" and resolved.forward_restart == 0 and resolved.layerwise == 30
    assert two.resolved().lagrangian == "linear"
    assert all(stage_config(two.resolved(), s) == stage_config(two, s) for s in range(2))
    with pytest.raises(Exception, match="layerwise must be an integer >= 0"):
        ADMMConfig(hidden=(5, 4), layerwise=-1)


@pytest.mark.parametrize("classes", [2, 3])
def test_layerwise_run_trains_one_hidden_layer_at_a_time(backend, classes):
    """Stage 1 is a one-hidden-layer run of K iterations (the same W_1 to rounding), W_1 is then kept;
    stage 2's first layer is centred on h(W_1 X); the result is the plain feed-forward network
    W_1, W_2, W_out, whose own accuracy is the history's last; the history counts the run's iterations
    and keeps the first stage's accuracies apart as its temporary network's."""
    xp = backend.xp
    dd = to_device(_toy(classes=classes), backend, "float64")
    cfg = ADMMConfig(hidden=(6, 4), layerwise=3, warm_start=1, block_size=64)
    res = train_admm(dd, cfg, backend, LocalComm(), RunOptions(iters=8, progress=False))
    one = train_admm(dd, ADMMConfig(hidden=(6,), warm_start=1, block_size=64), backend, LocalComm(),
                     RunOptions(iters=3, progress=False))
    W = [to_np(w) for w in res.state.W]
    assert [w.shape[0] for w in W] == [6, 4, dd.n_outputs] and res.widths == (5, 6, 4, dd.n_outputs)
    np.testing.assert_allclose(W[0], to_np(one.state.W[0]), rtol=1e-9, atol=1e-12)
    F = np.maximum(W[0] @ to_np(dd.X), 0)
    np.testing.assert_allclose(W[1] @ F.mean(axis=1), 0.0, atol=1e-9)
    assert np.abs(W[1]).max() > 1e-3
    hist = res.history
    assert [h["iter"] for h in hist] == list(range(9)) and res.state.iteration == 8 == res.final["iters"]
    assert [h["stage"] for h in hist] == [1] * 4 + [2] * 5 and res.final["stages"] == 2
    assert all("test_acc" not in h and "stage_test_acc" in h for h in hist[:4])
    assert all("test_acc" in h for h in hist[4:])
    assert hist[3]["stage_test_acc"] == one.history[-1]["test_acc"]
    assert all(b["time_s"] >= a["time_s"] for a, b in zip(hist, hist[1:]))
    right = float(count_correct(res.state.W, dd.X_test, dd.y_test, False, xp))
    assert res.final["test_acc"] == hist[-1]["test_acc"] == right / dd.n_test
    assert res.final["best_test_acc"] == max(h["test_acc"] for h in hist[4:])


def test_layerwise_changes_nothing_with_one_hidden_layer(backend):
    dd = to_device(_toy(), backend, "float64")
    runs = [train_admm(dd, ADMMConfig(hidden=(6,), layerwise=k, warm_start=1), backend, LocalComm(),
                       RunOptions(iters=4, progress=False)) for k in (0, 2)]
    for a, b in zip(runs[0].state.W, runs[1].state.W):
        np.testing.assert_array_equal(to_np(a), to_np(b))
    assert "stage" not in runs[1].history[-1]


def test_cli_layerwise_run_and_its_one_line_error(tmp_path):
    base = [sys.executable, "-m", "admm_xp", "train", "--n-train", "600", "--hidden", "8,6", "--iters", "6", "--quiet"]
    out = tmp_path / "run.json"
    done = subprocess.run(base + ["--layerwise", "2", "--out", str(out), "--save-model", str(tmp_path / "m.npz")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rec = json.loads(out.read_text())
    assert rec["config"]["layerwise"] == 2 and rec["final"]["stages"] == 2 and rec["layers"] == [28, 8, 6, 1]
    assert [h["stage"] for h in rec["history"]] == [1, 1, 1, 2, 2, 2, 2]
    # the default preset trains a deeper network layer-wise (30 per lower stage; a 6-iteration run: 6 // 2);
    # --layerwise 0 and the paper's method train it whole
    for extra, stages in (([], [1, 1, 1, 1, 2, 2, 2]), (["--layerwise", "0"], None), (["--preset", "paper"], None)):
        done = subprocess.run(base + extra + ["--out", str(out)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        rec = json.loads(out.read_text())
        assert rec["config"]["layerwise"] == (30 if stages else 0)
        assert [h.get("stage") for h in rec["history"]] == (stages or [None] * 7)
    # progress names each stage, and says whose accuracies an earlier stage shows
    shown = subprocess.run([a for a in base if a != "--quiet"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "layer-wise stage 1/2, iterations 1-3: hidden layer 1 under a temporary output layer" in shown.stderr
    assert "layer-wise stage 2/2, iterations 4-6: hidden layer 2 with the network's output layer" in shown.stderr
    assert "admm 6/6 stage 2/2 obj" in shown.stderr
    bad = subprocess.run(base + ["--layerwise", "-1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "layerwise must be an integer >= 0" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_cli_layerwise_resume_follows_the_uninterrupted_run(tmp_path):
    """A layer-wise run checkpointed in its last stage and resumed = one run: the same weights and history."""
    from admm_xp import checkpoint
    from admm_xp.cli.main import main

    common = ["train", "--n-train", "1500", "--hidden", "12,8,6", "--layerwise", "3", "--quiet"]
    assert main([*common, "--iters", "14", "--out", str(tmp_path / "full.json"), "--save-model", str(tmp_path / "full.npz")]) == 0
    assert main([*common, "--iters", "10", "--checkpoint", str(tmp_path / "ck"), "--checkpoint-every", "4"]) == 0
    assert checkpoint.verify(str(tmp_path / "ck"))["iteration"] == 10  # stages end at 3, 6 and 10: the third stage's
    assert main([*common, "--iters", "14", "--resume", str(tmp_path / "ck"), "--out", str(tmp_path / "res.json"),
                 "--save-model", str(tmp_path / "res.npz")]) == 0
    _same_run(tmp_path / "full", tmp_path / "res")


def _same_run(a, b):
    with np.load(f"{a}.npz") as fa, np.load(f"{b}.npz") as fb:
        keys = [k for k in fa.files if k.startswith("W")]
        assert keys == [k for k in fb.files if k.startswith("W")] and len(keys) == 4
        for k in keys:
            np.testing.assert_array_equal(fa[k], fb[k])
    ha, hb = (json.loads(open(f"{p}.json").read())["history"] for p in (a, b))
    keys = ("iter", "stage", "objective", "test_acc", "stage_test_acc", "train_acc", "stage_train_acc")
    assert [[h.get(k) for k in keys] for h in ha] == [[h.get(k) for k in keys] for h in hb]


def test_layerwise_resume_inside_an_earlier_stage(tmp_path, backend):
    """Stopped (with a checkpoint) in the middle of the second of three stages, then resumed: the same
    weights and history as the uninterrupted run; the checkpoint holds the layer below the stage."""
    from admm_xp import checkpoint

    xp = backend.xp
    ds = _toy()
    dd = to_device(ds, backend, "float64")
    cfg = ADMMConfig(hidden=(6, 5, 4), layerwise=3, warm_start=1, block_size=64)
    full = train_admm(dd, cfg, backend, LocalComm(), RunOptions(iters=11, progress=False))
    folder = str(tmp_path / "ck")
    fp = checkpoint.data_fingerprint(ds)

    def stop_at_5(state, prob, history, elapsed):
        if state.run_iteration == 5:
            checkpoint.save(folder, state, prob, cfg, fp, history, elapsed, LocalComm())
            return "stop"
        return None

    part = train_admm(dd, cfg, backend, LocalComm(), RunOptions(iters=11, progress=False), on_iteration=stop_at_5)
    assert part.stop_reason == "stopped" and part.state.iteration == 5 and len(part.state.W) == 3  # 2 trained + stage
    saved = checkpoint.saved_stage(folder, xp, backend.device, "float64")
    assert saved["index"] == 1 and saved["offset"] == 3 and saved["ends"] == [3, 6, 11] and len(saved["frozen"]) == 1

    restore = checkpoint.Resume(folder, cfg, fp, xp, backend.device, LocalComm())
    res = train_admm(dd, cfg, backend, LocalComm(), RunOptions(iters=11, progress=False), restore=restore)
    assert len(res.state.W) == 4 and res.state.iteration == 11
    for a, b in zip(full.state.W, res.state.W):
        np.testing.assert_allclose(to_np(a), to_np(b), rtol=1e-12, atol=1e-14)
    keys = ("iter", "stage", "objective", "test_acc", "stage_test_acc")
    assert [[h.get(k) for k in keys] for h in full.history] == [[h.get(k) for k in keys] for h in res.history]


def test_estimator_layerwise_fits_the_whole_network():
    """ADMMClassifier(layerwise=K) trains every layer and predicts with the whole network; the history's
    first stage keeps its temporary network's accuracies apart."""
    from admm_xp import ADMMClassifier

    ds = _toy(classes=3)
    clf = ADMMClassifier(hidden=(8, 6), layerwise=3, max_iter=7, multiplier_warmup=1)
    clf.fit(ds.X_train, ds.y_train, eval_set=(ds.X_test, ds.y_test))
    assert clf.network_.layers == [5, 8, 6, 3] and clf.n_iter_ == 7 and clf.final_["stages"] == 2
    assert clf.score(ds.X_test, ds.y_test) == pytest.approx(clf.history_[-1]["test_acc"])
    assert "stage_test_acc" in clf.history_[1] and "test_acc" not in clf.history_[1]
    assert clf.get_params()["layerwise"] == 3
