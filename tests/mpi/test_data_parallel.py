"""Run under ``mpiexec -n P python -m pytest tests/mpi`` (also passes with P = 1).

Every rank runs the same tests; collectives keep them in step, and
MPIEXEC_TIMEOUT (set by scripts/test.sh) ends a hung run.
"""
from __future__ import annotations

import numpy as np
import pytest

from admm_xp.runtime.backend import resolve_device
from admm_xp.runtime.comm import LocalComm, default_comm
from admm_xp.solver.config import DEFAULT, ADMMConfig
from admm_xp.data import load_dataset
from admm_xp.data.shard import row_range
from admm_xp.runtime.hostio import to_host
from admm_xp.data.device import to_device
from admm_xp.train import RunOptions, train_admm

pytestmark = pytest.mark.mpi


@pytest.fixture(scope="module")
def comm():
    from admm_xp.runtime.threads import configure_threads

    c = default_comm()
    configure_threads(c)
    return c


def _train(comm, n_train=2000, hidden=(40,), iters=10, dataset="higgs-sample", bias=False, method=None, **kw):
    backend = resolve_device("cpu")
    ds = load_dataset(dataset, n_train=n_train, comm=comm, **kw)
    # the whole network's iteration unless the method trains layer-wise (the default preset's "default" does)
    cfg = ADMMConfig(hidden=hidden, warm_start=3, block_size=100, bias=bias, **{"layerwise": 0, **(method or {})})
    res = train_admm(to_device(ds, backend, "float64"), cfg, backend, comm, RunOptions(iters=iters, progress=False))
    return ds, res


METHODS = {
    # the preset's own choices: linear (one hidden layer), two hidden layers one at a time (stages of 5 here)
    "default": {"layerwise": DEFAULT["layerwise"]},
    # a deeper network trained whole: full + centred + a stiffer first layer
    "default-whole": {},
    "augmented": {"lagrangian": "augmented"},
    "paper": {"lagrangian": "paper"},
    "full-balanced": {"lagrangian": "full", "residual_balancing": True, "rb_until": 8},
    "cross-entropy": {"loss": "cross-entropy"},
    "anderson-state": {"lagrangian": "full", "anderson": 3, "anderson_on": "state"},
    "full-centred": {"lagrangian": "full", "center_layers": True},
    "linear": {"lagrangian": "linear", "relu_multiplier_iters": 0},
    # the default's schedules within the run: the ReLU multipliers dropped after iteration 5, the step decaying
    "linear-default-schedules": {"lagrangian": "linear", "relu_multiplier_iters": 5, "dual_decay": 2},
    "linear-anderson-state": {"lagrangian": "linear", "relu_multiplier_iters": 5, "anderson": 3, "anderson_on": "state"},
    # restarts from the forward pass before iterations 3, 6 and 9 (with Anderson: its memory cleared at each)
    "forward-restart": {"forward_restart": 3},
    "forward-restart-anderson": {"lagrangian": "full", "forward_restart": 3, "anderson": 3, "anderson_on": "state"},
    # greedy layer-wise: hidden layer 1 for 4 iterations, then layer 2 on its features (the centred input's mean
    # summed over ranks); no effect with one hidden layer
    "layerwise": {"layerwise": 4},
}


@pytest.mark.parametrize("hidden", [(40,), (12, 6)])
@pytest.mark.parametrize("method", list(METHODS))
def test_same_weights_and_history_as_one_process(comm, hidden, method):
    _, sharded = _train(comm, hidden=hidden, method=METHODS[method])
    _, single = _train(LocalComm(), hidden=hidden, method=METHODS[method])  # every rank also solves the whole problem alone
    for h_p, h_1 in zip(sharded.history, single.history):  # the same penalties where balancing adapts them
        assert h_p.get("beta", []) == pytest.approx(h_1.get("beta", []), rel=1e-12)
    if METHODS[method].get("residual_balancing"):  # and balancing did move them
        assert len({tuple(h["beta"]) for h in sharded.history[1:]}) > 1
    assert len(sharded.state.W) == len(single.state.W) == len(hidden) + 1
    for w_p, w_1 in zip(sharded.state.W, single.state.W):
        w_p, w_1 = to_host(w_p), to_host(w_1)
        assert np.max(np.abs(w_p - w_1)) / np.max(np.abs(w_1)) < 1e-8
    assert len(sharded.history) == len(single.history)
    for h_p, h_1 in zip(sharded.history, single.history):
        assert h_p["objective"] == pytest.approx(h_1["objective"], rel=1e-8)
        for key in ("train_acc", "test_acc", "stage_train_acc", "stage_test_acc"):  # (a layer-wise run's early stages)
            assert h_p.get(key) == h_1.get(key), key
    assert sharded.history[-1]["test_acc"] is not None


def test_each_rank_holds_only_its_shard(comm):
    ds, res = _train(comm, n_train=1001, iters=1)
    a, b = row_range(1001, comm.rank, comm.size)
    c, d = row_range(ds.n_test, comm.rank, comm.size)
    assert ds.X_train.shape[0] == b - a and ds.X_test.shape[0] == d - c
    st = res.state
    for arr in [*st.a, *st.z, st.lam]:
        assert arr.shape[1] == b - a
    assert res.problem.X.shape == (28, b - a)
    assert res.problem.offset == a


def _solve_columns(comm, X, y, start, stop, iters=6):
    import array_api_compat.numpy as xp

    from admm_xp.solver.iteration import admm_iteration
    from admm_xp.kernels import kernels_for
    from admm_xp.nn import layer_widths
    from admm_xp.solver.state import init_state, make_problem

    cfg = ADMMConfig(hidden=(7,), warm_start=2, block_size=3)
    Xs, S = np.ascontiguousarray(X[start:stop].T), (2.0 * y[start:stop] - 1)[None, :]
    prob = make_problem(Xs, S, start, X.shape[0], cfg, xp, comm)
    state = init_state(prob, layer_widths(X.shape[1], cfg.hidden, 1), cfg, xp, comm)
    ops = kernels_for(xp)
    for it in range(iters):
        admm_iteration(state, prob, cfg, xp, comm, ops, update_multiplier=it >= cfg.warm_start)
    return state


def test_uneven_and_tiny_shards(comm):
    """Rank 0 holds 2 samples, rank 1 (if any) 1 sample, the rest share the others: same weights as one process."""
    rng = np.random.default_rng(3)
    n = 301
    X = rng.normal(size=(n, 6))
    y = (X[:, 0] - X[:, 1] > 0).astype(np.int64)
    cuts = [0, 2, 3][: min(comm.size, 3)]
    rest = comm.size - len(cuts)
    cuts += [3 + (n - 3) * (k + 1) // (rest + 1) for k in range(rest)] if comm.size > 2 else []
    cuts = cuts[: comm.size] + [n]
    start, stop = cuts[comm.rank], cuts[comm.rank + 1]
    sharded = _solve_columns(comm, X, y, start, stop)
    single = _solve_columns(LocalComm(), X, y, 0, n)
    for w_p, w_1 in zip(sharded.W, single.W):
        np.testing.assert_allclose(w_p, w_1, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(sharded.z[0], single.z[0][:, start:stop], rtol=1e-8, atol=1e-10)


def test_user_csv_is_read_by_byte_ranges_with_global_offsets(comm, tmp_path_factory):
    if comm.rank == 0:
        rng = np.random.default_rng(5)
        X = rng.normal(size=(301, 4))
        y = (X[:, 0] > 0).astype(int)
        folder = tmp_path_factory.mktemp("csv")
        path = str(folder / "u.csv")
        np.savetxt(path, np.column_stack([y, X]), delimiter=",")
    else:
        path = None
    path = comm.bcast(path)
    ds = load_dataset(path, comm=comm)
    one = load_dataset(path, comm=LocalComm())
    rows = comm.allgather(ds.X_train)
    np.testing.assert_allclose(np.concatenate(rows), one.X_train)
    assert ds.train_offset == sum(r.shape[0] for r in rows[: comm.rank])
    np.testing.assert_allclose(ds.mean, one.mean)  # standardisation statistics reduced over ranks
