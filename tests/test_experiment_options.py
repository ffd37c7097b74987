"""`scaling`, `reproduce`, `sweep` and `ablation`: every option is checked before any run or file.

Bad input ends in one line on stderr and exit code 2 with nothing written; a run that fails makes
`reproduce` exit non-zero and name it. These tests run in-process and start no training.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import types

import pytest

from admm_xp.experiments import reproduce
from admm_xp.cli.main import build_parser, main


def _fails_in_one_line(capsys, argv, *needles, code=2):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == code, err
    assert err.strip().count("\n") == 0 and err.startswith("admm-xp: error:"), err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, (n, err)
    return err


# scaling ---------------------------------------------------------------------------------
@pytest.mark.parametrize("opt, value", [
    ("--bandwidth", "0"), ("--bandwidth", "nan"), ("--target-acc", "5"), ("--target-acc", "0"), ("--latency", "-1"),
    ("--timeout", "0"), ("--n-train", "0"), ("--svhn-iters-to-target", "-1"), ("--svhn-iters-to-target", "0"),
    ("--iters", "0"), ("--data-dir", "/nonexistent/admm-xp"), ("--dataset", "no-such-set"), ("--dataset", "higgs"),
])
def test_scaling_rejects_bad_options_before_any_run(tmp_path, capsys, opt, value):
    out = tmp_path / "s"
    _fails_in_one_line(capsys, ["scaling", opt, value, "--rank-counts", "1", "--out-dir", str(out)], opt)
    assert not out.exists()


def test_scaling_needs_mpiexec_before_the_one_rank_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no mpiexec anywhere
    out = tmp_path / "s"
    _fails_in_one_line(capsys, ["scaling", "--rank-counts", "1,2", "--iters", "1", "--n-train", "64", "--out-dir", str(out)],
                       "mpiexec", "--rank-counts 1")
    assert not out.exists()  # no train_p1.json: the check came first


def test_scaling_out_dir_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "f"
    f.write_text("x")
    _fails_in_one_line(capsys, ["scaling", "--rank-counts", "1", "--out-dir", str(f)], "--out-dir", "is a file")


# reproduce -------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, needle", [
    (["--quick", "--device", "tpu", "--figure", "1b"], "unknown device 'tpu'"),
    (["--quick", "--device", "tpu"], "unknown device 'tpu'"),
    (["--quick", "--timeout", "-1"], "--timeout"),
    (["--quick", "--timeout", "0"], "--timeout"),
    (["--data-dir", "/nonexistent/admm-xp"], "--data-dir /nonexistent/admm-xp: no such folder"),
    (["--figure", "1b", "--n-train", "0"], "--n-train"),
])
def test_reproduce_rejects_bad_options_before_any_run(tmp_path, capsys, argv, needle):
    out = tmp_path / "r"
    _fails_in_one_line(capsys, ["reproduce", *argv, "--out", str(out)], needle)
    assert not out.exists()


def test_reproduce_needs_mpiexec_for_the_cores_panels(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "r"
    _fails_in_one_line(capsys, ["reproduce", "--figure", "1a", "--ranks", "2", "--out", str(out)], "mpiexec", "--ranks 1")
    assert not out.exists()


def _fake_subprocess(run):
    return types.SimpleNamespace(run=run, PIPE=subprocess.PIPE, TimeoutExpired=subprocess.TimeoutExpired)


def test_reproduce_exits_nonzero_and_names_the_runs_that_failed(tmp_path, capsys, monkeypatch):
    def run(cmd, **kw):  # every training run times out
        raise subprocess.TimeoutExpired(cmd, kw.get("timeout"))

    monkeypatch.setattr(reproduce, "subprocess", _fake_subprocess(run))
    out = tmp_path / "r"
    rc = main(["reproduce", "--quick", "--figure", "1b", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "Traceback" not in err
    assert "7 run(s) failed" in err and "figure 1b: admm;" in err and "figure 1b: lbfgs" in err
    assert "figure 1b: admm (layer-wise)" in err  # the paper's SVHN network has two hidden layers
    assert "--timeout 1800" in err  # each timed-out run says why
    assert not (out / "fig1b" / "fig1b.csv").exists() and not (out / "summary.md").exists()  # no empty panel, no summary


def _succeeds(cmd, **kw):
    """A training run that writes a two-point record to its --out and exits 0."""
    rec = {"history": [{"iter": 1, "time_s": 0.1, "test_acc": 0.5}, {"iter": 2, "time_s": 0.2, "test_acc": 0.97}],
           "n_train": 10, "n_test": 5, "machine": {}, "backend": "numpy", "dtype": "float64", "commit": "0" * 10,
           "final": {"best_test_acc": 0.97}}
    with open(cmd[cmd.index("--out") + 1], "w") as fh:
        json.dump(rec, fh)
    return types.SimpleNamespace(returncode=0, stderr="")


def _fails(cmd, **kw):
    return types.SimpleNamespace(returncode=2, stderr="admm-xp: error: something went wrong\n")


def test_reproduce_keeps_the_runs_that_succeeded_and_still_exits_nonzero(tmp_path, capsys, monkeypatch):
    def run(cmd, **kw):  # only ADMM (default preset, the whole network) succeeds
        return _succeeds(cmd) if cmd[3] == "train" and "--layerwise" in cmd else _fails(cmd)

    monkeypatch.setattr(reproduce, "subprocess", _fake_subprocess(run))
    monkeypatch.setattr("admm_xp.experiments.figures.have_matplotlib", lambda: False)
    out = tmp_path / "r"
    rc = main(["reproduce", "--quick", "--figure", "1b", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "6 run(s) failed" in err and "figure 1b: admm (paper preset)" in err and "something went wrong" in err
    assert "figure 1b: admm;" not in err
    rows = (out / "fig1b" / "fig1b.csv").read_text().splitlines()
    assert len(rows) == 3  # header and the two points of the run that succeeded
    assert (out / "summary.md").exists()


def test_reproduce_scaling_failure_exits_nonzero_without_a_panel(tmp_path, capsys, monkeypatch):
    def run(cmd, **kw):
        raise subprocess.TimeoutExpired(cmd, kw.get("timeout"))

    monkeypatch.setattr(reproduce, "subprocess", _fake_subprocess(run))
    out = tmp_path / "r"
    rc = main(["reproduce", "--figure", "2a", "--ranks", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and "figure 2a: the scaling runs" in err and "Traceback" not in err
    assert not (out / "fig2a" / "fig2a.csv").exists()


# sweep and ablation ----------------------------------------------------------------------
@pytest.mark.parametrize("argv, needle", [
    (["sweep", "--iters", "0"], "--iters must be >= 1"),
    (["sweep", "--n-train", "0"], "--n-train"),
    (["sweep", "--gamma", "1,0"], "--gamma"),
    (["sweep", "--weight-decay", "-1"], "--weight-decay"),
    (["sweep", "--dataset", "no-such-set"], "--dataset"),
    (["sweep", "--lagrangian", "augmented,foo"], "--lagrangian"),
    (["ablation", "--iters", "0"], "--iters must be >= 1"),
    (["ablation", "--tasks", ","], "--tasks"),
    (["ablation", "--options", "99"], "--options"),
    (["ablation", "--seed", "1,1"], "--seed"),
    (["ablation", "--seed", "-1"], "--seed"),
    (["ablation", "--seed", "zero"], "--seed"),
])
def test_sweep_and_ablation_reject_bad_options_before_training(tmp_path, capsys, argv, needle):
    out = tmp_path / "o"
    _fails_in_one_line(capsys, [*argv, "--out-dir", str(out)], needle)
    assert not out.exists()


# help ------------------------------------------------------------------------------------
def _subparser(name):
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("name", ["sweep", "ablation", "scaling", "reproduce"])
def test_every_option_has_help_that_states_its_default(name):
    p = _subparser(name)
    for action in p._actions:
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
            continue
        assert action.help, f"{name} {action.option_strings} has no help"
        takes_value = action.nargs != 0
        if takes_value:
            assert "default" in action.help, f"{name} {action.option_strings}: help does not state the default"


def test_sweep_and_ablation_have_their_own_descriptions():
    sweep, ablation = _subparser("sweep").description, _subparser("ablation").description
    assert sweep and ablation and sweep != ablation
    assert "validation" in sweep and "ablation" not in sweep.lower()
    assert "four tasks" in ablation and "validation" in ablation and "grid" not in ablation


def test_a_failed_rerun_leaves_no_panel_of_the_earlier_run(tmp_path, capsys, monkeypatch):
    """Rerun into the same folder with every run failing: the earlier run's panel and summary are
    removed, not passed off as this run's."""
    monkeypatch.setattr("admm_xp.experiments.figures.have_matplotlib", lambda: False)
    out = tmp_path / "r"
    monkeypatch.setattr(reproduce, "subprocess", _fake_subprocess(_succeeds))
    assert main(["reproduce", "--quick", "--figure", "1b", "--out", str(out)]) == 0
    assert (out / "fig1b" / "fig1b.csv").exists() and (out / "fig1b" / "fig1b.json").exists()
    assert (out / "summary.md").exists()
    capsys.readouterr()

    monkeypatch.setattr(reproduce, "subprocess", _fake_subprocess(_fails))
    assert main(["reproduce", "--quick", "--figure", "1b", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "removed the panel of an earlier run" in err
    assert not (out / "fig1b" / "fig1b.csv").exists() and not (out / "fig1b" / "fig1b.json").exists()
    assert not (out / "summary.md").exists()


def test_ablation_scores_every_run_on_validation_rows_and_never_loads_the_test_split(tmp_path, monkeypatch, capsys):
    """Every data set the ablation loads (ADMM's runs and the logistic regression's) carves validation
    rows from the training split, and the table reports them as validation accuracy."""
    pytest.importorskip("sklearn")
    import json

    from admm_xp import data as data_pkg

    calls = []
    real = data_pkg.load_dataset

    def spy(name, **kw):
        calls.append(kw.get("validation"))
        return real(name, **kw)

    monkeypatch.setattr(data_pkg, "load_dataset", spy)
    out = tmp_path / "abl"
    assert main(["ablation", "--tasks", "digits", "--iters", "2", "--options", "0,8", "--quiet",
                 "--out-dir", str(out)]) == 0
    assert calls and all(v == 0.2 for v in calls), calls
    rows = json.loads((out / "ablation.json").read_text())["final"]["rows"]
    assert [r["option"] for r in rows][:2] == ["paper", "default preset"]
    n_train_split = 1257  # digits: 70% of 1,797 rows, before the validation rows are carved
    assert all(r["n_validation"] + r["n_train"] == n_train_split for r in rows if "n_validation" in r)
    assert "validation" in (out / "ablation.md").read_text()


def test_ablation_over_several_seeds_reports_the_mean_and_the_runs_that_lost_accuracy(tmp_path, monkeypatch):
    """With --seed 0,2 every row runs once per seed, each seed drawing its own validation rows and its own
    initialisation; the row holds the mean, the lowest final accuracy and the count of runs that ended
    below their accuracy at the early iteration (100; 3 here, of 6)."""
    pytest.importorskip("sklearn")
    import json

    from admm_xp.experiments import ablation

    monkeypatch.setattr(ablation, "EARLY", 3)
    monkeypatch.setitem(ablation.TASKS, "digits", (*ablation.TASKS["digits"][:3], 0.5))  # a target reached at once
    out = tmp_path / "abl"
    assert main(["ablation", "--tasks", "digits", "--iters", "6", "--options", "8", "--seed", "0,2", "--quiet",
                 "--out-dir", str(out)]) == 0
    rec = json.loads((out / "ablation.json").read_text())
    assert rec["config"]["seeds"] == [0, 2]
    row = rec["final"]["rows"][0]
    runs = row["per_seed"]
    assert [r["seed"] for r in runs] == [0, 2] and row["runs"] == 2
    assert rec["history"]["digits/default preset/seed 0"] != rec["history"]["digits/default preset/seed 2"]  # two runs
    assert row["final_val_acc"] == pytest.approx(sum(r["final_val_acc"] for r in runs) / 2)
    assert row["lowest_final_val_acc"] == min(r["final_val_acc"] for r in runs)
    assert row["runs_lower_at_end"] == sum(r["final_val_acc"] < r["val_acc_at_3"] for r in runs)
    assert set(rec["history"]) == {"digits/default preset/seed 0", "digits/default preset/seed 2"}
    # one seed: the initialisation seed is that seed too (the history differs from seed 0's)
    one = tmp_path / "one"
    assert main(["ablation", "--tasks", "digits", "--iters", "6", "--options", "8", "--seed", "2", "--quiet",
                 "--out-dir", str(one)]) == 0
    single = json.loads((one / "ablation.json").read_text())
    assert single["final"]["rows"][0]["final_val_acc"] == runs[1]["final_val_acc"]
    assert "lowest final" in (out / "ablation.md").read_text() and "lowest final" not in (one / "ablation.md").read_text()
    hit = single["final"]["rows"][0]["iters_to_target"]  # one seed: the iteration itself, in the table as it is
    assert isinstance(hit, int) and f"| {hit} |" in (one / "ablation.md").read_text()
    assert row["iters_to_target"] == pytest.approx(sum(r["iters_to_target"] for r in runs) / 2)


def test_every_ablation_row_is_a_valid_configuration_on_every_task():
    from admm_xp.experiments.ablation import OPTIONS, TASKS
    from admm_xp.solver.config import ADMMConfig

    for _, hidden, _, _ in TASKS.values():
        for label, preset, change in OPTIONS:
            cfg = ADMMConfig.from_preset(preset, hidden=hidden, **change)
            assert cfg.preset.startswith(preset), label


def test_ablation_task_of_three_hidden_layers_trains_the_default_rule_for_deeper_networks(tmp_path):
    """--tasks higgs-deep3: HIGGS with three hidden layers of 300, scored on validation rows; the default
    trains it one hidden layer at a time (30 iterations per lower stage, each stage a one-hidden-layer
    network under the linear form), and the row that trains it whole resolves the default as for any deeper network
    trained whole (multipliers on every constraint, a restart from the forward pass every 10 iterations)."""
    import json

    from admm_xp.cli.main import main
    from admm_xp.experiments.ablation import OPTIONS

    whole = next(i for i, (label, _, change) in enumerate(OPTIONS) if change == {"layerwise": 0})
    out = tmp_path / "deep3"
    assert main(["ablation", "--tasks", "higgs-deep3", "--quick", "--iters", "1", "--options", f"8,{whole}", "--quiet",
                 "--out-dir", str(out)]) == 0
    rows = {r["option"]: r for r in json.loads((out / "ablation.json").read_text())["final"]["rows"]}
    default, trained_whole = rows["default preset"], rows[OPTIONS[whole][0]]
    assert default["task"] == "higgs-deep3" and default["hidden"] == [300, 300, 300]
    assert default["layerwise"] == 30 and default["lagrangian"] == "linear" and default["forward_restart"] == 0
    assert trained_whole["layerwise"] == 0 and trained_whole["lagrangian"] == "full"
    assert trained_whole["forward_restart"] == 10  # three hidden layers trained whole: the restart from the forward pass
    assert default["n_train"] + default["n_validation"] == 6000  # --quick: 6,000 training rows, 20% of them validation
    assert "28-300-300-300-1 as higgs-deep3" in (out / "ablation.md").read_text()
