"""The cost of one ADMM iteration: flops, bytes and messages, from the layer widths.

Counts follow the paper's cost analysis (Taylor et al. 2016, Sec. 5; restated in
docs/method.md), with a multiply-add as 2 flops, per training sample:

- W_l: 2 d_l d_{l-1} (z a^T) + d_{l-1}^2 (the symmetric Gram a a^T; none for
  l = 1, whose Gram X X^T is fixed)
- a_l: 4 d_l d_{l+1} (W_{l+1} h and P r: the factored operator of
  :func:`admm_xp.solver.updates.activation_operator`)
- z_l: 2 d_l d_{l-1} (W_l a_{l-1})

Bytes: the least traffic the per-sample (elementwise) steps need, each
operand read once and each result written once: X read; for every hidden
layer z_l read (for h(z_l)) and written, a_l written and read once more (the
next layer's product needs it after W_{l+1} is known, so it cannot stay in
cache); z_L, lambda and the targets read, z_L and lambda written.

Messages: one allreduce per weight update of the packed sums (layer 1:
``z_1 X^T``; layer l >= 2: ``z_l a_{l-1}^T`` and ``a_{l-1} a_{l-1}^T``, plus
row sums with biases), and one of the metrics' scalars.
"""
from __future__ import annotations


def flops_per_sample(widths, bias: bool = False) -> dict:
    """GEMM flops per sample and iteration, by step (widths = (d_0, ..., d_L))."""
    d = [w + (1 if bias else 0) for w in widths[:-1]] + [widths[-1]]  # inputs of each layer grow by the bias row
    L = len(widths) - 1
    out = {"W": 0.0, "a": 0.0, "z": 0.0}
    for l in range(1, L + 1):
        d_in = d[l - 1]
        out["W"] += 2 * widths[l] * d_in + (widths[l - 1] ** 2 if l > 1 else 0)
        out["z"] += 2 * widths[l] * d_in
        if l < L:
            out["a"] += 4 * widths[l] * widths[l + 1]
    out["total"] = out["W"] + out["a"] + out["z"]
    return out


def per_sample_products(widths) -> list[dict]:
    """The matrix products behind :func:`flops_per_sample` (no bias), one entry each.

    ``shape`` is ``(M, K, N)`` of an ``M x K`` by ``K x N`` product in which the
    string ``"n"`` stands for the samples (the column block of a pass); a
    ``gram`` product is ``A A^T`` with ``A`` of ``M x n``, counted as the
    symmetric ``M^2`` flops per sample. ``flops`` are per sample.
    """
    L = len(widths) - 1
    out = []
    for l in range(1, L + 1):
        d_in, d = widths[l - 1], widths[l]
        out.append(dict(step="z", name=f"W_{l} a_{l - 1}", shape=(d, d_in, "n"), gram=False, flops=2 * d * d_in))
        out.append(dict(step="W", name=f"z_{l} a_{l - 1}^T", shape=(d, "n", d_in), gram=False, flops=2 * d * d_in))
        if l > 1:
            out.append(dict(step="W", name=f"a_{l - 1} a_{l - 1}^T", shape=(d_in, "n", d_in), gram=True, flops=d_in**2))
        if l < L:
            d_next = widths[l + 1]
            out.append(dict(step="a", name=f"W_{l + 1} h_{l}", shape=(d_next, d, "n"), gram=False, flops=2 * d * d_next))
            out.append(dict(step="a", name=f"P_{l} r_{l}", shape=(d, d_next, "n"), gram=False, flops=2 * d * d_next))
    return out


def fixed_flops(widths, bias: bool = False) -> float:
    """Flops per iteration that do not grow with N: the small d x d factorisations and solves.

    W_l: two triangular solves with d_l right-hand sides (2 d_l d_{l-1}^2) and,
    for l >= 2, the Cholesky factor of the Gram matrix (d_{l-1}^3 / 3); the
    activation operator of hidden layer l: a Cholesky factor of the smaller of
    d_l, d_{l+1} (k^3 / 3), its Gram product (2 k^2 max) and the solve for P
    (2 d_l d_{l+1} k).
    """
    b = 1 if bias else 0
    L = len(widths) - 1
    total = 0.0
    for l in range(1, L + 1):
        d_in = widths[l - 1] + b
        total += 2.0 * widths[l] * d_in**2 + (d_in**3 / 3.0 if l > 1 else 0.0)
        if l < L:
            k, big = min(widths[l], widths[l + 1]), max(widths[l], widths[l + 1])
            total += k**3 / 3.0 + 2.0 * k * k * big + 2.0 * widths[l] * widths[l + 1] * k
    return total


def bytes_per_sample(widths, itemsize: int, multipliers: int = 0) -> float:
    """Minimum bytes moved per sample and iteration by the elementwise steps (``multipliers``: how many
    per-sample multipliers each hidden unit has, each read and written once more: 2 (mu and nu) under
    the full Lagrangian, 1 (mu) under the linear one once its ReLU multipliers are dropped:
    ``ADMMConfig.multiplier_arrays_at``)."""
    L = len(widths) - 1
    hidden = sum(widths[1:L])
    c = widths[-1]
    return itemsize * (widths[0] + 4 * hidden + 3 * c + 2 * c + 2 * int(multipliers) * hidden)


def message_numbers(widths, bias: bool = False) -> list[int]:
    """Numbers in each allreduce of one iteration (float64 on the wire)."""
    b = 1 if bias else 0
    L = len(widths) - 1
    sizes = [widths[1] * (widths[0] + b)]  # z_1 [X; 1]^T
    for l in range(2, L + 1):
        d_in = widths[l - 1]
        sizes.append(widths[l] * d_in + d_in * d_in + (widths[l] + d_in if bias else 0))
    sizes.append(2 * (L - 1) + 3 + 2)  # objective parts and accuracy counts
    return sizes


def state_bytes(widths, n: int, itemsize: int, multipliers: int = 0) -> float:
    """Bytes the algorithm must hold for n samples: X, every a and z, lambda and the targets (and the
    hidden multipliers: ``multipliers`` per hidden unit, as in :func:`bytes_per_sample`)."""
    L = len(widths) - 1
    per_sample = widths[0] + (2 + int(multipliers)) * sum(widths[1:L]) + widths[-1] + 2 * widths[-1]
    return float(itemsize) * per_sample * n
