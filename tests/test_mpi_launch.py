"""Launching real MPI jobs (mpiexec from the mpich wheel): equivalence, output, failures."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

pytestmark = pytest.mark.mpi
MPIEXEC = shutil.which("mpiexec") or (os.path.join(os.path.dirname(sys.executable), "mpiexec"))
if not os.path.exists(MPIEXEC):
    pytest.skip("mpiexec not installed (pip install mpi4py mpich)", allow_module_level=True)
pytest.importorskip("mpi4py")


def mpirun(n, *args, timeout=240):
    env = dict(os.environ, MPIEXEC_TIMEOUT=str(timeout))
    cmd = [MPIEXEC, "-n", str(n), sys.executable, "-m", "admm_xp", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30, env=env)


def _weights(path):
    with np.load(path) as f:
        return [f[k] for k in sorted(k for k in f.files if k.startswith("W"))]


@pytest.mark.slow
def test_one_two_and_four_ranks_give_the_same_run(tmp_path):
    common = ["train", "--n-train", "3001", "--hidden", "50", "--iters", "10", "--quiet"]
    runs = {}
    for n in (1, 2, 4):
        out, model = tmp_path / f"r{n}.json", tmp_path / f"m{n}.npz"
        res = mpirun(n, *common, "--out", str(out), "--save-model", str(model))
        assert res.returncode == 0, res.stderr
        assert res.stdout.count("test accuracy") == 1  # only rank 0 prints
        runs[n] = (json.loads(out.read_text()), _weights(model))
    ref_rec, ref_w = runs[1]
    for n in (2, 4):
        rec, w = runs[n]
        assert rec["ranks"] == n
        for a, b in zip(w, ref_w):
            assert np.max(np.abs(a - b)) / np.max(np.abs(b)) < 1e-8
        for h, g in zip(rec["history"], ref_rec["history"]):
            assert h["objective"] == pytest.approx(g["objective"], rel=1e-8)
            assert h["test_acc"] == g["test_acc"]


@pytest.mark.slow
def test_ranks_option_relaunches_under_mpiexec(tmp_path):
    """--ranks finds mpiexec on PATH (as the program does): with the one found here put on PATH, the test
    also passes from a virtual environment that is not activated."""
    out = tmp_path / "r.json"
    path = os.pathsep.join([os.path.dirname(MPIEXEC), os.environ.get("PATH", "")])
    res = subprocess.run([sys.executable, "-m", "admm_xp", "train", "--ranks", "2", "--n-train", "500", "--hidden", "10",
                          "--iters", "2", "--quiet", "--out", str(out)], capture_output=True, text=True, timeout=240,
                         env=dict(os.environ, MPIEXEC_TIMEOUT="200", PATH=path))
    assert res.returncode == 0, res.stderr
    assert json.loads(out.read_text())["ranks"] == 2


def test_ranks_under_mpiexec_with_another_size_is_one_line(tmp_path):
    res = mpirun(2, "train", "--ranks", "3", "--quiet", timeout=60)
    assert res.returncode == 2
    assert res.stderr.splitlines() == ["admm-xp: error: --ranks 3 but this run has 2 MPI rank(s); launch with "
                                       "mpiexec -n 3"], res.stderr


def test_a_bad_row_on_one_rank_is_one_line_naming_the_rank_and_the_row(tmp_path):
    """A bad row that only rank 1 reads (its byte range): one line naming rank 1 and the row's number in the
    file, exit 2, nothing else (no MPI abort report), and no fixed wait."""
    rng = np.random.default_rng(0)
    lines = [",".join(f"{v:.6f}" for v in [i % 2, *rng.normal(size=3)]) for i in range(400)]
    lines[350] = "1,0.5,oops,0.1"
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "never.json"
    t0 = time.monotonic()
    res = mpirun(2, "train", "--dataset", str(path), "--iters", "3", "--quiet", "--out", str(out), timeout=60)
    elapsed = time.monotonic() - t0
    assert res.returncode == 2
    assert elapsed < 10  # start-up and imports (the time after the error: the next test)
    assert res.stderr.splitlines() == [f"admm-xp (rank 1): error: {path}: data row 351, field 3: 'oops' is not a "
                                       "number; every field must be a number, separated by ','"], res.stderr
    assert not out.exists()


FAIL_ON_RANK_1 = """
import sys, time
import admm_xp.data.datasets as datasets
from admm_xp.errors import DataError

real = datasets.standardise

def standardise(ds, comm, mode="features"):
    if comm.rank == 1:  # this rank alone: rank 0 goes on into the statistics' collectives
        with open(sys.argv[1], "w") as fh:
            fh.write(repr(time.time()))
        raise DataError("something only rank 1 sees")
    return real(ds, comm, mode)

datasets.standardise = standardise
from admm_xp.cli.main import main
sys.exit(main(["train", "--n-train", "500", "--hidden", "4", "--iters", "2", "--quiet"]))
"""


def test_an_error_on_one_rank_alone_ends_every_rank_within_a_second(tmp_path):
    stamp = tmp_path / "t"
    env = dict(os.environ, MPIEXEC_TIMEOUT="60")
    res = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-c", FAIL_ON_RANK_1, str(stamp)], capture_output=True,
                         text=True, timeout=90, env=env)
    ended = time.time()
    assert res.returncode == 2, res.stderr
    assert res.stderr.splitlines() == ["admm-xp (rank 1): error: something only rank 1 sees"], res.stderr
    assert ended - float(stamp.read_text()) < 1.0


def test_an_error_on_every_rank_is_printed_once(tmp_path):
    res = mpirun(2, "train", "--gamma", "-1", "--quiet", timeout=60)
    assert res.returncode == 2
    assert len(res.stderr.splitlines()) == 1 and res.stderr.startswith("admm-xp: error:") and "gamma" in res.stderr, \
        res.stderr


def _descendants(pid):
    """PIDs of all processes below ``pid`` (from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def _python_ranks(pid):
    ranks = []
    for p in _descendants(pid):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as fh:
                cmd = fh.read().split(b"\0")
        except OSError:
            continue
        if any(b"admm_xp" in c for c in cmd) and any(c.endswith(b"python") or b"python3" in c for c in cmd[:1]):
            ranks.append(p)
    return ranks


@pytest.mark.slow
def test_sigterm_to_one_rank_stops_all_and_resumes_to_the_same_weights(tmp_path):
    import signal

    from admm_xp import checkpoint

    ck = str(tmp_path / "ck")
    common = ["train", "--n-train", "8000", "--hidden", "100", "--quiet"]
    env = dict(os.environ, MPIEXEC_TIMEOUT="200")
    proc = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, "-m", "admm_xp", *common, "--iters", "2000",
                             "--checkpoint", ck, "--checkpoint-every", "4"], stderr=subprocess.PIPE, text=True, env=env)
    t_start = time.monotonic()
    while not os.path.exists(os.path.join(ck, "manifest.json")):
        assert time.monotonic() - t_start < 120 and proc.poll() is None
        time.sleep(0.05)
    ranks = []
    while len(ranks) < 2 and time.monotonic() - t_start < 60:
        ranks = _python_ranks(proc.pid)
        time.sleep(0.05)
    assert len(ranks) == 2, ranks
    os.kill(ranks[-1], signal.SIGTERM)  # one rank only
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 10  # every rank ended within seconds
    assert proc.returncode != 0
    assert all(not os.path.exists(f"/proc/{p}") or open(f"/proc/{p}/stat").read().split()[2] == "Z" for p in ranks)
    man = checkpoint.verify(ck)  # the last checkpoint is complete and valid
    assert man["ranks"] == 2
    end = str(man["iteration"] + 4)
    res = mpirun(2, *common, "--iters", end, "--resume", ck, "--save-model", str(tmp_path / "r.npz"))
    assert res.returncode == 0, res.stderr
    res = mpirun(2, *common, "--iters", end, "--save-model", str(tmp_path / "u.npz"))
    assert res.returncode == 0, res.stderr
    for a, b in zip(_weights(tmp_path / "r.npz"), _weights(tmp_path / "u.npz")):
        np.testing.assert_array_equal(a, b)
    # Resuming the same checkpoint on one rank re-shards it and reaches the same weights to rounding.
    res = mpirun(1, *common, "--iters", end, "--resume", ck, "--save-model", str(tmp_path / "r1.npz"))
    assert res.returncode == 0, res.stderr
    for a, b in zip(_weights(tmp_path / "r1.npz"), _weights(tmp_path / "u.npz")):
        assert np.max(np.abs(a - b)) / np.max(np.abs(b)) < 1e-8
