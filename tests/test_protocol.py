"""Every kernel set implements admm_xp.kernels.protocol.KernelSet, and its capability flags are honest:
a member whose flag is False answers None, so the pass may skip the call."""
from __future__ import annotations

import numpy as np
import pytest

import array_api_compat.numpy as xp_np
from admm_xp.kernels import kernels_for
from admm_xp.kernels.protocol import KernelSet

FLAGS = ("fuses_blocks", "fuses_layers", "sums_input_cross", "writable_views")


def kernel_sets():
    sets = [kernels_for(xp_np, "portable")]
    try:
        sets.append(kernels_for(xp_np, "numba"))
    except Exception:  # numba not installed
        pass
    return sets


@pytest.mark.parametrize("ops", kernel_sets(), ids=lambda o: o.name)
def test_each_kernel_set_is_a_kernel_set_with_explicit_flags(ops):
    assert isinstance(ops, KernelSet)
    for flag in FLAGS:
        assert isinstance(getattr(ops, flag), bool), flag
    assert isinstance(ops.threads, int) and ops.threads >= 1
    rng = np.random.default_rng(0)
    d, k, n, d0 = 6, 1, 64, 3
    z, a = rng.normal(size=(d, n)), rng.normal(size=(d, n))
    z_next, X = rng.normal(size=(k, n)), rng.normal(size=(d0, n))
    W, Wt, P = rng.normal(size=(d, d0)), rng.normal(size=(k, d)), rng.normal(size=(d, k))
    m = W @ X
    sl = slice(0, n)
    calls = {
        "fuses_blocks": lambda: ops.hidden_block(z.copy(), z_next, a.copy(), m, sl, Wt, None, P, 1.0, 1.0),
        "fuses_layers": lambda: ops.layer_block(z.copy(), z_next, a.copy(), X, W, sl, Wt, None, P, 1.0, 1.0,
                                                False, False),
        "sums_input_cross": lambda: ops.input_cross(z, X, sl),
        "writable_views": lambda: ops.view(z, sl),
    }
    for flag, call in calls.items():
        if not getattr(ops, flag):
            assert call() is None, flag
    if not ops.fuses_layers:
        assert ops.c_kernels_for(z, X, False, k) is False


def test_the_protocol_names_what_a_set_lacks():
    class Partial:
        name, eval_block, threads = "partial", 1, 1

    assert not isinstance(Partial(), KernelSet)
