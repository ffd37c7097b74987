"""The options beyond the paper's method: each update still minimises its sub-problem."""
from __future__ import annotations

import numpy as np
import pytest

from admm_xp import nn
from admm_xp.solver import updates
from admm_xp.solver.config import CPU_BLOCK_SIZE, GPU_BLOCK_SIZE, PAPER, ADMMConfig, default_block_size
from admm_xp.errors import ConfigError
from admm_xp.runtime.hostio import from_host
from conftest import to_np
from reference import objective_value, reference_iteration
from test_solver import small_problem


def test_weight_decay_update_is_the_ridge_solution(backend, rng):
    xp, dev = backend.xp, backend.device
    d_in, d_out, n, wd = 9, 4, 200, 2.0
    a, z = rng.normal(size=(d_in, n)), rng.normal(size=(d_out, n))
    cfg = ADMMConfig(hidden=(d_out,), weight_decay=wd, ridge=0.0)
    A, Z = from_host(a, xp, dev), from_host(z, xp, dev)
    G = xp.matmul(A, xp.matrix_transpose(A))
    C = xp.matmul(Z, xp.matrix_transpose(A))
    W = to_np(updates.weights_from_sums(C, updates.gram_factor(G, cfg.gram_ridge(d_in, n), xp), xp, xp.float64))
    lam = wd * d_in / n * np.trace(a @ a.T) / d_in
    ref = np.linalg.solve(a @ a.T + lam * np.eye(d_in), a @ z.T).T  # argmin ||z - W a||^2 + lam ||W||^2
    np.testing.assert_allclose(W, ref, rtol=1e-9, atol=1e-11)


def test_multiclass_output_z_is_the_brute_force_minimum(rng):
    import array_api_compat.numpy as xp

    c, n, beta = 4, 60, 0.8
    labels = rng.integers(0, c, n)
    s = np.where(np.arange(c)[:, None] == labels[None, :], 1.0, -1.0)  # one-vs-rest targets
    m, lam = rng.normal(0, 2, (c, n)), rng.normal(size=(c, n))
    z = updates.z_output_hinge(m, s, lam, beta, xp)
    grid = np.linspace(-8, 8, 32001)
    for i in range(c):
        for j in range(n):
            f = lambda t: np.maximum(1 - s[i, j] * t, 0) + lam[i, j] * t + beta * (t - m[i, j]) ** 2  # noqa: E731
            assert f(z[i, j]) <= f(grid).min() + 1e-9


@pytest.mark.parametrize("option", [{"bias": True}, {"penalty_growth": 1.3, "penalty_max": 50.0},
                                    {"weight_decay": 1.0}, {"init": "forward"}])
def test_blocks_still_descend_with_each_option(backend, option):
    """During the warm start every block update lowers the objective at that iteration's penalties."""
    cfg = ADMMConfig.from_preset("paper", hidden=(6, 4), warm_start=4, ridge=0.0, **option)
    _, prob, state, _ = small_problem(backend, cfg)
    xp = backend.xp
    for it in range(cfg.warm_start):
        pen = cfg.penalties(it)
        values = [objective_value(state, prob, cfg, xp, pen)]
        if cfg.weight_decay:
            values = None  # the weight update then minimises the objective plus the Tikhonov term
        trace = []

        def after(name):
            if values is not None:
                values.append(objective_value(state, prob, cfg, xp, pen))
                trace.append(name)

        reference_iteration(state, prob, cfg, xp, update_multiplier=False, after_block=after)
        if values is not None:
            for i in range(1, len(values)):
                assert values[i] <= values[i - 1] * (1 + 1e-10) + 1e-9, (it, trace[i - 1])


def test_bias_is_a_constant_input_row(backend):
    """With a bias, the model equals the bias-free model on inputs [a; 1]: the row stays exactly 1."""
    cfg = ADMMConfig.from_preset("paper", hidden=(5,), bias=True, warm_start=2)
    dd, prob, state, comm = small_problem(backend, cfg)
    xp = backend.xp
    for it in range(3):
        reference_iteration(state, prob, cfg, xp, update_multiplier=it >= 2)
    X = to_np(prob.X)
    a1 = to_np(state.a[0])
    ones = np.ones((1, X.shape[1]))
    W1, W2 = to_np(state.W[0]), to_np(state.W[1])
    np.testing.assert_allclose(nn.affine(W1, X, True, np), W1 @ np.vstack([X, ones]), rtol=1e-12)
    np.testing.assert_allclose(nn.affine(W2, a1, True, np), W2 @ np.vstack([a1, ones]), rtol=1e-12)
    assert a1.shape[0] == 5  # the constant row is not a variable of the activation update


def test_forward_init_is_a_feasible_network(backend):
    cfg = ADMMConfig.from_preset("paper", hidden=(7, 5), init="forward")
    _, prob, state, _ = small_problem(backend, cfg)
    X = to_np(prob.X)
    W = [to_np(w) for w in state.W]
    z1 = W[0] @ X
    np.testing.assert_allclose(to_np(state.z[0]), z1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_np(state.a[0]), np.maximum(z1, 0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_np(state.z[2]), W[2] @ to_np(state.a[1]), rtol=1e-10, atol=1e-12)


def test_presets():
    paper = ADMMConfig.from_preset("paper")
    assert (paper.gamma, paper.beta, paper.weight_decay, paper.bias, paper.init, paper.multiplier, paper.penalty_growth) == (
        (10.0,), (1.0,), 0.0, False, "gaussian", True, 1.0)
    assert paper.preset == "paper"
    assert ADMMConfig.from_preset("paper", gamma=(10.0,)).preset == "paper"  # a no-op change keeps the name
    assert ADMMConfig.from_preset("paper", bias=True).preset == "paper+bias"
    assert ADMMConfig().preset == "default" and ADMMConfig() == ADMMConfig.from_preset("default")
    assert all(getattr(paper, k) == (tuple(v) if isinstance(v, tuple) else v) for k, v in PAPER.items())
    with pytest.raises(ConfigError, match="preset"):
        ADMMConfig.from_preset("fancy")


def test_the_default_preset_decays_the_hidden_step_after_iteration_100():
    default, paper = ADMMConfig.from_preset("default"), ADMMConfig.from_preset("paper")
    assert default.dual_decay == 100 and paper.dual_decay == 0
    assert [default.dual_step_at(k) for k in (0, 50, 99)] == [default.dual_step] * 3  # iterations 1..100: constant
    assert default.dual_step_at(199) == pytest.approx(default.dual_step / 2)  # iteration 200: half
    assert default.dual_step_at(399) == pytest.approx(default.dual_step / 4)
    assert all(paper.dual_step_at(k) == paper.dual_step for k in (0, 150, 10_000))
    assert ADMMConfig.from_preset("default", dual_decay=0).preset == "default+dual_decay"  # a change is named
    assert ADMMConfig.from_preset("default", dual_decay=100).preset == "default"


def test_the_default_preset_keeps_the_relu_multipliers_for_30_iterations_of_the_linear_form():
    default, paper = ADMMConfig.from_preset("default"), ADMMConfig.from_preset("paper")
    assert default.relu_multiplier_iters == 30 and paper.relu_multiplier_iters == 0
    linear = default.resolved()
    assert linear.lagrangian == "linear"
    assert [linear.relu_multipliers_at(k) for k in (0, 29, 30, 300)] == [True, True, False, False]
    assert [linear.multiplier_arrays_at(k) for k in (0, 30)] == [2, 1] and linear.multiplier_arrays == 2
    full = default.replace(lagrangian="full")  # the full form keeps them; the other forms never have them
    assert full.relu_multipliers_at(10_000) and full.multiplier_arrays_at(10_000) == 2
    assert not default.replace(lagrangian="augmented").relu_multipliers_at(0)
    assert not linear.replace(multiplier=False).relu_multipliers_at(0)
    assert not linear.replace(relu_multiplier_iters=0).activation_multipliers
    assert ADMMConfig.from_preset("default", relu_multiplier_iters=0).preset == "default+relu_multiplier_iters"
    for bad in (-1, 2.5, True):
        with pytest.raises(ConfigError, match="relu_multiplier_iters"):
            ADMMConfig(relu_multiplier_iters=bad)


def test_cli_records_the_preset_and_options(tmp_path):
    import json

    from admm_xp.cli.main import main

    out = tmp_path / "r.json"
    assert main(["train", "--preset", "paper", "--bias", "on", "--n-train", "400", "--hidden", "8", "--iters", "2",
                 "--quiet", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["config"]["preset"] == "paper+bias" and rec["config"]["bias"] is True
    assert rec["config"]["gamma"] == [10.0]
    assert rec["config"]["block_size"] == CPU_BLOCK_SIZE  # the CPU default, from the one definition


def test_default_block_size_follows_the_device():
    from admm_xp.estimator import ADMMClassifier

    assert default_block_size("cpu") == CPU_BLOCK_SIZE == ADMMConfig().block_size
    assert default_block_size("array-api-strict") == CPU_BLOCK_SIZE
    assert default_block_size("cuda") == default_block_size("cuda:1") == default_block_size("torch:cuda") == GPU_BLOCK_SIZE
    assert ADMMClassifier(device="cuda:0")._config().block_size == GPU_BLOCK_SIZE
    assert ADMMClassifier()._config().block_size == CPU_BLOCK_SIZE


def test_cli_trains_a_ten_class_task(tmp_path):
    import json

    from admm_xp.cli.main import main

    out = tmp_path / "r.json"
    assert main(["train", "--dataset", "synthetic-multiclass", "--n-train", "3000", "--n-test", "1000", "--hidden", "40",
                 "--iters", "15", "--quiet", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["layers"][-1] == 10
    assert rec["final"]["test_acc"] > 0.3  # chance is 0.1
    assert rec["config"]["lagrangian"] == "linear"  # the default preset's choice for one hidden layer


def test_the_default_lagrangian_follows_the_depth_and_the_number_of_classes(tmp_path):
    import json

    from admm_xp.cli.main import main
    from admm_xp.estimator import ADMMClassifier

    cfg = ADMMConfig.from_preset("default")
    assert cfg.lagrangian == "auto" and cfg.augmented_output and not cfg.hidden_multipliers  # unresolved: augmented
    one = cfg.resolved()  # one hidden layer: multipliers on the linear constraints, on a = h(z) only at first
    assert one.lagrangian == "linear" and one.hidden_multipliers
    assert one.relu_multipliers_at(0) and not one.relu_multipliers_at(one.relu_multiplier_iters)
    deep = ADMMConfig.from_preset("default", hidden=(8, 6))  # deeper: one hidden layer at a time, each stage linear
    assert deep.layerwise == 30 and deep.resolved().lagrangian == "linear"  # resolved as each stage is
    from admm_xp.layerwise import stage_config

    assert all(stage_config(deep, s).lagrangian == "linear" for s in range(2))
    whole = ADMMConfig.from_preset("default", hidden=(8, 6), layerwise=0)  # trained whole: full, centred, stiffer W_1
    assert whole.resolved().lagrangian == "full" and whole.resolved().activation_multipliers
    assert whole.center_layers and whole.first_layer_penalty == 3.0
    for fixed in ("paper", "augmented", "full", "linear"):  # a chosen form is kept for any depth
        for hidden in ((300,), (8, 6)):
            chosen = ADMMConfig.from_preset("default", lagrangian=fixed, hidden=hidden, layerwise=0)
            assert chosen.resolved().lagrangian == fixed
    out = tmp_path / "r.json"
    assert main(["train", "--n-train", "400", "--hidden", "8", "--iters", "2", "--quiet", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["config"]["lagrangian"] == "linear"  # HIGGS, one hidden layer
    assert main(["train", "--n-train", "400", "--hidden", "8,6", "--iters", "2", "--layerwise", "0", "--quiet",
                 "--out", str(out)]) == 0
    assert json.loads(out.read_text())["config"]["lagrangian"] == "full"  # HIGGS, two hidden layers trained whole
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(90, 4)), np.arange(90) % 3
    assert ADMMClassifier(hidden=(6,), max_iter=2).fit(X, y).network_.meta["config"]["lagrangian"] == "linear"
    assert ADMMClassifier(hidden=(6, 5), max_iter=2, layerwise=0).fit(X, y).network_.meta["config"]["lagrangian"] == "full"


def test_cli_centred_layers_are_recorded(tmp_path):
    import json

    from admm_xp.cli.main import main

    out = tmp_path / "r.json"
    assert main(["train", "--center-layers", "off", "--n-train", "400", "--hidden", "8,6", "--iters", "2",
                 "--quiet", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["config"]["center_layers"] is False and rec["config"]["preset"] == "default+center_layers"
    assert main(["train", "--n-train", "400", "--hidden", "8,6", "--iters", "2", "--quiet", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["config"]["center_layers"] is True  # the default's choice
    assert main(["train", "--preset", "paper", "--n-train", "400", "--hidden", "8,6", "--iters", "2", "--quiet",
                 "--out", str(out)]) == 0
    assert json.loads(out.read_text())["config"]["center_layers"] is False  # the paper's method


def test_first_layer_penalty_scales_the_first_of_several_hidden_layers(tmp_path):
    """first_layer_penalty F multiplies gamma_1 and beta_1 with two or more hidden layers and nothing with one;
    a run with it is the run with those penalties given explicitly; bad values get one-line errors."""
    import json

    import numpy as np

    from admm_xp.cli.main import main
    from admm_xp.estimator import ADMMClassifier

    deep = ADMMConfig(hidden=(8, 6, 5), gamma=(2.0,), beta=(1.0, 0.5, 0.5, 4.0), first_layer_penalty=3.0)
    assert deep.gammas() == (6.0, 2.0, 2.0) and deep.betas() == (3.0, 0.5, 0.5, 4.0)
    assert deep.penalties(0).gamma == (6.0, 2.0, 2.0) and deep.penalties(0).beta == (3.0, 0.5, 0.5, 4.0)
    one = ADMMConfig(hidden=(8,), gamma=(2.0,), beta=(1.0,), first_layer_penalty=3.0)
    assert one.gammas() == (2.0,) and one.betas() == (1.0, 1.0)  # one hidden layer: no effect
    assert ADMMConfig.from_preset("paper", hidden=(8, 6)).gammas() == (10.0, 10.0)  # the paper's method: as given
    for bad in (0.0, -1.0, float("nan"), float("inf"), 1e4, "x"):
        with pytest.raises(ConfigError, match="first_layer_penalty"):
            ADMMConfig(hidden=(8, 6), first_layer_penalty=bad)
    with pytest.raises(ConfigError, match="first hidden layer's gamma"):
        ADMMConfig(hidden=(8, 6), gamma=(1e10,), first_layer_penalty=1e3)
    # the same iterates as the penalties written out (the option is nothing but those penalties)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(120, 5)), (rng.random(120) < 0.5).astype(int)
    common = dict(hidden=(7, 6), max_iter=4, random_state=1, lagrangian="full", layerwise=0)
    scaled = ADMMClassifier(**common, gamma=(1.0,), beta=(1.0,), first_layer_penalty=2.5).fit(X, y)
    given = ADMMClassifier(**common, gamma=(2.5, 1.0), beta=(2.5, 1.0, 1.0), first_layer_penalty=1.0).fit(X, y)
    plain = ADMMClassifier(**common, gamma=(1.0,), beta=(1.0,), first_layer_penalty=1.0).fit(X, y)
    np.testing.assert_allclose(scaled.decision_function(X), given.decision_function(X), rtol=1e-12, atol=1e-12)
    assert not np.allclose(scaled.decision_function(X), plain.decision_function(X))
    out = tmp_path / "r.json"
    assert main(["train", "--first-layer-penalty", "2", "--n-train", "400", "--hidden", "8,6", "--iters", "2",
                 "--quiet", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["config"]["first_layer_penalty"] == 2.0 and rec["config"]["preset"] == "default+first_layer_penalty"


def test_forward_restart_follows_the_depth_and_its_option(tmp_path, capsys):
    """forward_restart "auto" (the default preset) restarts every 10 iterations with three or more hidden
    layers trained whole and never with fewer; the paper's method never; a chosen K is kept for any depth; the CLI and
    the estimator pass it on and record it; bad values get one-line errors."""
    import json

    from admm_xp.cli.main import main
    from admm_xp.estimator import ADMMClassifier

    for hidden, every in (((300,), 0), ((8, 6), 0), ((8, 6, 5), 10), ((8, 6, 5, 4), 10)):
        cfg = ADMMConfig.from_preset("default", hidden=hidden, layerwise=0)
        assert cfg.forward_restart == "auto" and not cfg.restart_at(10)  # unresolved: never
        assert cfg.resolved().forward_restart == every
        assert cfg.resolved().restart_at(10) == bool(every) and not cfg.resolved().restart_at(5)
        assert ADMMConfig.from_preset("paper", hidden=hidden).resolved().forward_restart == 0
        assert ADMMConfig.from_preset("default", hidden=hidden, forward_restart=4,
                                      layerwise=0).resolved().forward_restart == 4
    for bad in (-1, 1.5, True, "x", None):
        with pytest.raises(ConfigError, match="forward_restart"):
            ADMMConfig(hidden=(8, 6, 5), forward_restart=bad)
    out = tmp_path / "r.json"
    assert main(["train", "--forward-restart", "3", "--n-train", "400", "--hidden", "8", "--iters", "4", "--quiet",
                 "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["config"]["forward_restart"] == 3 and rec["config"]["preset"] == "default+forward_restart"
    assert main(["train", "--n-train", "400", "--hidden", "8,6,5", "--iters", "2", "--layerwise", "0", "--quiet",
                 "--out", str(out)]) == 0
    assert json.loads(out.read_text())["config"]["forward_restart"] == 10  # resolved for the depth
    capsys.readouterr()
    assert main(["train", "--forward-restart", "-2", "--iters", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--forward-restart" in err[0] and "Traceback" not in err[0]
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(90, 4)), np.arange(90) % 2
    fitted = ADMMClassifier(hidden=(6, 5, 4), max_iter=2, layerwise=0).fit(X, y)
    assert fitted.network_.meta["config"]["forward_restart"] == 10
    restarted = ADMMClassifier(hidden=(6,), max_iter=6, forward_restart=2).fit(X, y)
    plain = ADMMClassifier(hidden=(6,), max_iter=6, forward_restart=0).fit(X, y)
    assert restarted.network_.meta["config"]["forward_restart"] == 2
    assert not np.allclose(restarted.decision_function(X), plain.decision_function(X))


@pytest.mark.parametrize("name", ["gamma", "beta"])
def test_penalties_outside_the_range_the_scaled_multipliers_survive_are_refused(name):
    """A subnormal penalty overflows nu / (2 gamma) at the first iteration and a huge one gamma a^2: both
    are refused where the configuration is made, with the range in the message."""
    for bad, word in ((2.2250738585e-313, "at least"), (1e13, "at most")):
        with pytest.raises(ConfigError, match=f"{name} must be {word}"):
            ADMMConfig(**{name: (bad,)})
    ADMMConfig(**{name: (1e-12,)})
    ADMMConfig(**{name: (1e12,)})
