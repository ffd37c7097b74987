"""The counter-based initialisation: independent of the split and of the backend."""
from __future__ import annotations

import numpy as np
from scipy import stats

import array_api_compat.numpy as xp_np
from admm_xp.runtime import rng
from conftest import to_np


def test_blocks_of_columns_equal_the_whole():
    whole = np.asarray(rng.gaussian(xp_np, 7, ("a", 1), 30, 0, 1000))
    for start, stop in [(0, 1), (1, 333), (333, 1000), (999, 1000)]:
        np.testing.assert_array_equal(whole[:, start:stop], np.asarray(rng.gaussian(xp_np, 7, ("a", 1), 30, start, stop)))


def test_same_numbers_on_every_backend(backend):
    ref = np.asarray(rng.gaussian(xp_np, 3, ("z", 2), 17, 100, 160))
    got = to_np(rng.gaussian(backend.xp, 3, ("z", 2), 17, 100, 160, device=backend.device))
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-14)


def test_standard_normal_and_uncorrelated():
    g = np.asarray(rng.gaussian(xp_np, 0, ("a", 1), 64, 0, 4000))
    assert abs(g.mean()) < 0.01 and abs(g.std() - 1) < 0.01
    assert stats.kstest(g.ravel(), "norm").pvalue > 1e-3
    c = np.corrcoef(g)
    assert np.max(np.abs(c - np.eye(64))) < 0.08  # rows are independent streams
    other = np.asarray(rng.gaussian(xp_np, 1, ("a", 1), 64, 0, 4000))
    assert abs(np.corrcoef(g.ravel(), other.ravel())[0, 1]) < 0.01  # seeds differ
    other = np.asarray(rng.gaussian(xp_np, 0, ("z", 1), 64, 0, 4000))
    assert abs(np.corrcoef(g.ravel(), other.ravel())[0, 1]) < 0.01  # streams differ
