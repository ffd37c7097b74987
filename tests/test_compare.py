"""`admm-xp compare`: settings chosen without the test split, outputs, resumption, bad input, Ctrl-C."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from admm_xp.cli.main import main
from admm_xp.experiments import compare, curves

FAST = ["--hidden", "6", "--tune-passes", "4", "--budget", "0.15", "--quiet"]


def _blobs(seed, n, d=5, classes=3):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(classes, d)) * 2.0
    y = rng.integers(0, classes, n)
    return rng.normal(size=(n, d)) + centres[y], y


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A small 3-class task in NPZ files: train, test, and the test split with its labels permuted and its
    features replaced by noise."""
    folder = tmp_path_factory.mktemp("data")
    X, y = _blobs(1, 160)
    Xt, yt = _blobs(2, 60)
    np.savez(folder / "train.npz", X=X, y=y)
    np.savez(folder / "test.npz", X=Xt, y=yt)
    rng = np.random.default_rng(3)
    np.savez(folder / "test_scrambled.npz", X=rng.normal(size=Xt.shape) * 5, y=rng.permutation(yt))
    np.savez(folder / "test_wide.npz", X=np.zeros((10, 7)), y=np.arange(10) % 3)
    return folder


def _run(data, out, *extra, test="test.npz"):
    return main(["compare", "--dataset", str(data / "train.npz"), "--test", str(data / test), *FAST,
                 "--out", str(out), *extra])


@pytest.fixture(scope="module")
def both(data, tmp_path_factory):
    """Every method, once with the real test split and once with the scrambled one."""
    outs = {}
    for name in ("test.npz", "test_scrambled.npz"):
        out = tmp_path_factory.mktemp("cmp")
        assert _run(data, out, test=name) == 0
        outs[name] = out
    return outs


def _search(out, m):
    return json.loads((out / "search" / f"{m}.json").read_text())


def test_the_test_split_is_never_read_while_choosing(both):
    a, b = both["test.npz"], both["test_scrambled.npz"]
    for m in compare.METHODS:
        sa, sb = _search(a, m), _search(b, m)
        assert sa["final"]["chosen"] == sb["final"]["chosen"], m
        assert [r["score"] for r in sa["history"]] == [r["score"] for r in sb["history"]], m  # every point's score
        ra, rb = (json.loads((o / f"{m}.json").read_text()) for o in (a, b))
        assert ra["config"]["compare"]["chosen"] == sa["final"]["chosen"]
        # the runs saw different test splits: the test accuracies differ, the training does not
        assert [h.get("train_acc") for h in ra["history"][:3]] == [h.get("train_acc") for h in rb["history"][:3]], m
    scrambled = json.loads((b / "compare.json").read_text())["final"]["rows"]
    assert max(r["best_test_acc"] for r in scrambled) < 0.8  # noise: the scrambled test split was used by the runs


def test_outputs_are_written_and_agree(both):
    out = both["test.npz"]
    rows = list(csv.DictReader(open(out / "compare.csv")))
    assert [r["method"] for r in rows] == list(compare.METHODS)
    md = (out / "compare.md").read_text()
    table = [ln for ln in md.splitlines() if ln.startswith("| ") and not ln.startswith("| method")]
    assert [ln.split(" | ")[0][2:] for ln in table] == list(compare.METHODS)
    summary = json.loads((out / "compare.json").read_text())
    best = max(float(r["best_test_acc"]) for r in rows)
    target = summary["final"]["rows"][0]["target"]
    assert target == pytest.approx(compare.NEAR_BEST * best)
    for r in rows:
        rec = json.loads((out / r["record"]).read_text())
        for key in ("method", "dataset", "n_train", "n_test", "layers", "device", "backend", "dtype", "ranks", "config",
                    "command", "commit", "date", "machine", "history", "final"):
            assert key in rec, key
        accs = [h["test_acc"] for h in rec["history"] if h.get("test_acc") is not None]
        assert float(r["best_test_acc"]) == pytest.approx(max(accs)) == pytest.approx(rec["final"]["best_test_acc"])
        assert float(r["final_test_acc"]) == pytest.approx(rec["final"]["test_acc"])
        assert float(r["train_s"]) <= 0.15 + 0.5  # the budget ends every run (one step may pass it)
        t = next((h["time_s"] for h in rec["history"] if h.get("test_acc", 0) >= target), None)
        assert (float(r["time_to_target_s"]) if r["time_to_target_s"] else None) == (None if t is None else pytest.approx(t))
        search = _search(out, r["method"])
        assert search["final"]["chosen"] == rec["config"]["compare"]["chosen"]
        if r["method"] == "admm-paper":
            assert search["history"] == [] and rec["config"]["preset"] == "paper"
        else:
            assert len(search["history"]) == int(np.prod([len(v) for v in search["config"]["grid"].values()]))
            assert search["config"]["passes"]["passes"] == 4
            assert all(0 <= p["score"] <= 1 for p in search["history"])
        assert rec["n_train"] == 160 and rec["n_test"] == 60  # the runs: the whole training split, the test file
        assert search["n_train"] + search["n_test"] == 160  # the searches: the training split, validation rows carved
    pytest.importorskip("matplotlib")
    assert (out / "compare.png").stat().st_size > 10_000


def test_thin_keeps_every_first_time_and_the_ends():
    hist = [{"iter": i, "time_s": 0.001 * i, "test_acc": a} for i, a in
            enumerate([0.1, 0.5, 0.4, 0.6, 0.6, 0.55, 0.7] + [0.69] * 500 + [0.71, 0.7])]
    kept = curves.thin(hist, per_decade=5)
    assert kept[0] is hist[0] and kept[-1] is hist[-1] and len(kept) < 40
    pts_all, pts_kept = curves.curves({"a": {"history": hist}})["a"], curves.curves({"a": {"history": kept}})["a"]
    for target in (0.3, 0.5, 0.6, 0.65, 0.7, 0.705, 0.71, 0.9):
        assert curves.time_to(pts_kept, target) == curves.time_to(pts_all, target)
    assert curves.summarise(pts_kept, 0.6) == curves.summarise(pts_all, 0.6)


def test_round_down():
    assert [compare._round_down(x) for x in (0.3, 1, 1.9, 4.9, 9.99, 10, 14.9, 29, 46, 69, 99, 170, 2e3)] == \
        [1, 1, 1, 4, 9, 10, 10, 20, 30, 50, 70, 150, 2000]


def test_resume_skips_finished_methods_and_force_reruns(data, tmp_path, capsys):
    out = tmp_path / "c"
    methods = ["--methods", "admm-paper,logreg"]
    assert _run(data, out, *methods) == 0
    first = {m: (out / f"{m}.json").read_text() for m in ("admm-paper", "logreg")}
    capsys.readouterr()
    os.remove(out / "logreg.json")  # its run unfinished, its search finished
    assert main(["compare", "--dataset", str(data / "train.npz"), "--test", str(data / "test.npz"), *FAST[:-1],
                 "--out", str(out), *methods]) == 0
    err = capsys.readouterr().err
    assert "compare admm-paper: finished earlier" in err and "compare logreg: search finished earlier" in err
    assert "logreg: search 1/" not in err
    assert (out / "admm-paper.json").read_text() == first["admm-paper"]  # untouched
    assert json.loads((out / "logreg.json").read_text())["config"]["compare"]["chosen"] == \
        json.loads(first["logreg"])["config"]["compare"]["chosen"]
    assert _run(data, out, *methods, "--methods", "logreg") == 0  # a subset: the table holds it alone
    assert [r["method"] for r in csv.DictReader(open(out / "compare.csv"))] == ["logreg"]
    assert _run(data, out, *methods, "--force") == 0
    again = json.loads((out / "admm-paper.json").read_text())
    assert again["date"] >= json.loads(first["admm-paper"])["date"] and (out / "admm-paper.json").read_text() != first["admm-paper"]
    assert not [f for f in os.listdir(out) if f.startswith(".")]  # no temporary files left


def _one_line_error(capsys, argv, code=2):
    assert main(argv) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("admm-xp: error: "), err
    return err[0]


@pytest.mark.parametrize("extra, words", [
    (["--methods", "admm,newton"], "unknown method(s) newton"),
    (["--methods", ","], "names no method"),
    (["--budget", "0"], "--budget must be a finite number > 0"),
    (["--budget", "-3"], "--budget must be"),
    (["--tune-budget", "nan"], "--tune-budget must be"),
    (["--tune-passes", "0"], "--tune-passes must be >= 1"),
    (["--target", "1.5"], "--target must be a test accuracy"),
    (["--hidden", "0"], "--hidden widths must be >= 1"),
])
def test_bad_options_end_with_one_line(data, tmp_path, capsys, extra, words):
    out = tmp_path / "never"
    line = _one_line_error(capsys, ["compare", "--dataset", str(data / "train.npz"), "--test", str(data / "test.npz"),
                                    "--out", str(out), *extra])
    assert words in line
    assert not out.exists()


def test_bad_data_and_out_end_with_one_line(data, tmp_path, capsys):
    out = tmp_path / "o"
    base = ["compare", "--dataset", str(data / "train.npz"), "--out", str(out), *FAST]
    assert "differ in width" in _one_line_error(capsys, [*base, "--test", str(data / "test_wide.npz")])
    assert "no such file" in _one_line_error(capsys, [*base, "--test", str(data / "nope.npz")])
    assert "has its own test split" in _one_line_error(
        capsys, ["compare", "--dataset", "digits", "--test", str(data / "test.npz"), "--out", str(out)])
    assert not out.exists()
    afile = tmp_path / "file"
    afile.write_text("x")
    assert "is a file" in _one_line_error(capsys, ["compare", "--dataset", str(data / "train.npz"), "--out", str(afile)])
    out.mkdir()
    (out / "logreg.json").write_text("{}")  # not a compare record: kept, and named
    line = _one_line_error(capsys, [*base, "--test", str(data / "test.npz"), "--methods", "logreg"])
    assert "is not an `admm-xp compare` record" in line and (out / "logreg.json").read_text() == "{}"
    os.remove(out / "logreg.json")
    assert _run(data, out, "--methods", "logreg") == 0
    before = sorted(os.listdir(out))
    line = _one_line_error(capsys, ["compare", "--dataset", str(data / "train.npz"), "--test", str(data / "test.npz"),
                                    *FAST[:-3], "--budget", "0.3", "--quiet", "--out", str(out), "--methods", "logreg"])
    assert "made with other options (budget 0.15 there, 0.3 here)" in line and "--force" in line
    assert sorted(os.listdir(out)) == before


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_next_call_continues(data, tmp_path):
    out = tmp_path / "c"
    cmd = [sys.executable, "-m", "admm_xp", "compare", "--dataset", str(data / "train.npz"), "--test",
           str(data / "test.npz"), "--hidden", "6", "--tune-passes", "4", "--budget", "2", "--out", str(out),
           "--methods", "logreg,admm-paper"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    t0 = time.monotonic()
    for line in proc.stderr:  # wait for admm-paper's run: logreg has finished by then
        if "compare admm-paper: training on" in line or time.monotonic() - t0 > 60:
            break
    proc.send_signal(signal.SIGINT)
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 130
    assert "compare stopped by SIGINT during admm-paper (run)" in err and "finished: logreg" in err
    assert "Traceback" not in err
    assert sorted(os.listdir(out)) == ["logreg.json", "search"]  # nothing of the stopped run, no table yet
    assert sorted(os.listdir(out / "search")) == ["admm-paper.json", "logreg.json"]
    logreg = (out / "logreg.json").read_text()
    assert main(cmd[3:] + ["--quiet"]) == 0  # the same command again: logreg is skipped, admm-paper runs
    assert (out / "logreg.json").read_text() == logreg
    assert {r["method"] for r in csv.DictReader(open(out / "compare.csv"))} == {"logreg", "admm-paper"}


def test_tune_budget_sets_the_passes_per_point(data, tmp_path):
    out = tmp_path / "c"
    assert main(["compare", "--dataset", str(data / "train.npz"), "--test", str(data / "test.npz"), "--hidden", "6",
                 "--budget", "0.2", "--tune-budget", "0.5", "--quiet", "--out", str(out), "--methods", "admm,lbfgs"]) == 0
    for m in ("admm", "lbfgs"):
        passes = _search(out, m)["config"]["passes"]
        assert passes["rule"].startswith("--tune-budget 0.5 s over")
        n = passes["passes"]
        assert n == compare._round_down(n) and 1 <= n <= compare.MAX_SEARCH_PASSES
        assert n <= max(1, min(passes["passes_allowed_by_budget"], passes["passes_expected_in_final_run"]))
        assert all(r["passes"] <= n for r in _search(out, m)["history"])


def test_admm_searches_layerwise_or_whole_for_deeper_networks(data, tmp_path):
    """With two hidden layers ADMM's search adds the default's layer-wise training against the whole network
    (each point's run records which it trained), and the chosen run trains as its point says."""
    from admm_xp.experiments.compare import ADMM_DEEP_GRID, ADMM_GRID

    out = tmp_path / "deep"
    assert main(["compare", "--dataset", str(data / "train.npz"), "--test", str(data / "test.npz"), "--hidden", "6,5",
                 "--tune-passes", "4", "--budget", "0.15", "--quiet", "--methods", "admm", "--out", str(out)]) == 0
    search = _search(out, "admm")
    assert search["config"]["grid"]["layerwise"] == list(ADMM_DEEP_GRID["layerwise"]) == [30, 0]
    assert len(search["history"]) == 2 * int(np.prod([len(v) for v in ADMM_GRID.values()]))
    chosen = search["final"]["chosen"]
    rec = json.loads((out / "admm.json").read_text())
    assert rec["config"]["layerwise"] == chosen["layerwise"]
    assert any("stage" in h for h in rec["history"]) == (chosen["layerwise"] > 0)
    assert compare.AdmmMethod("admm").grid() == {k: list(v) for k, v in ADMM_GRID.items()}  # one hidden layer: as before
