"""The network: layers, the forward pass and the output losses, shared by ADMM and the baselines.

Samples are columns. Layer l maps its input a_{l-1} (d_{l-1} x n) to
``z_l = W_l a_{l-1}``; with biases the input has a constant row and the bias
b_l is stored as the last column of W_l. Hidden layers apply h = ReLU,
``a_l = h(z_l)``; the output z_L has one row for two classes and C
one-vs-rest rows for C > 2 classes. Every function takes the array namespace
``xp`` and nothing else (NumPy, CuPy, PyTorch, array-api-strict).

The forward pass is written once, here. A caller that evaluates it block by
block on its own buffers (the ADMM solver's accuracy, on every core) passes
its kernel set as ``ops``: anything with ``matmul(A, B, out)``,
``relu(z, out)`` and ``scratch(name, rows, cols, dtype, device)`` (a reusable
buffer, or None where the set keeps none), as
:class:`admm_xp.kernels.protocol.KernelSet` has.

The losses take scores ``z`` and targets ``s`` in {-1, +1} (C x n):

``hinge``          max(1 - s z, 0), per entry (the paper's loss; one-vs-rest for C rows)
``logistic``       log(1 + exp(-s z)), per entry
``cross_entropy``  per sample: the logistic loss for one row, the softmax cross-entropy
                   ``logsumexp(z) - z_y`` (y the row where s is +1) for C rows
"""
from __future__ import annotations

import array_api_compat as aac


def layer_widths(d0: int, hidden, n_outputs: int) -> tuple[int, ...]:
    """(d_0, d_1, ..., d_L): the input width, the hidden widths and the outputs."""
    return (int(d0), *[int(h) for h in hidden], int(n_outputs))


def n_outputs(n_classes: int) -> int:
    """Output rows for ``n_classes`` classes: one for two (the sign decides), else one per class."""
    return 1 if n_classes == 2 else int(n_classes)


def relu(z, xp, ops=None, out=None):
    """h(z) = max(z, 0); by ``ops.relu`` (into ``out`` where given) with a kernel set."""
    if ops is None:
        return xp.maximum(z, 0.0)
    return ops.relu(z, out=out)


def affine(W, a, bias: bool, xp, ops=None, out=None):
    """``W a``, or ``W[:, :-1] a + W[:, -1]`` when the input has a constant bias row; the product by
    ``ops.matmul`` (into ``out`` where given) with a kernel set."""
    A = W[:, :-1] if bias else W
    if ops is None:
        m = xp.matmul(A, a)
        return m + W[:, -1:] if bias else m
    m = ops.matmul(A, a, out=out)
    if bias:
        m += W[:, -1:]
    return m


def forward(W, X, bias: bool, xp, *, ops=None, inputs: list | None = None, preactivations: list | None = None):
    """Scores of the network with weights ``W`` (ReLU hidden layers), one column per sample of ``X``.

    ``ops``: a kernel set whose products, ReLU and two reused buffers (``scratch``) the pass uses.
    ``inputs``: a list that receives each layer's input a_0 = X, a_1, ..., a_{L-1}
    (backpropagation needs them). ``preactivations``: a list that receives each layer's
    z_l = W_l a_{l-1}, l = 1..L (ADMM's per-sample variables of a network that meets every
    constraint); not with ``ops``, whose buffers the next layers reuse."""
    if preactivations is not None and ops is not None:
        raise ValueError("forward: preactivations are kept only without ops (its buffers are reused)")
    a = X
    last = len(W) - 1
    for l, w in enumerate(W):
        if inputs is not None:
            inputs.append(a)
        out = None if ops is None else ops.scratch(f"fwd{l % 2}", w.shape[0], a.shape[1], a.dtype, aac.device(a))
        a = affine(w, a, bias, xp, ops, out)
        if preactivations is not None:
            preactivations.append(a)
        if l < last:
            a = relu(a, xp, ops, out=None if out is None else a)
    return a


def predict_labels(scores, xp):
    """Class indices: the sign of the single output for two classes, the argmax over rows otherwise."""
    if scores.shape[0] == 1:
        return xp.astype(scores[0, :] > 0, xp.int64)
    return xp.argmax(scores, axis=0)


def hinge(z, s, xp):
    """max(1 - s z, 0), per entry."""
    return xp.maximum(1.0 - s * z, 0.0)


def logistic(z, s, xp):
    """log(1 + exp(-s z)) per entry, without overflow for any s z."""
    x = -s * z
    return xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x)))


def cross_entropy(z, s, xp):
    """Per-sample cross-entropy (a row vector): logistic for one output row, softmax for C rows."""
    if z.shape[0] == 1:
        return logistic(z, s, xp)
    zmax = xp.max(z, axis=0, keepdims=True)
    lse = zmax + xp.log(xp.sum(xp.exp(z - zmax), axis=0, keepdims=True))
    return lse - xp.sum(z * (s + 1.0) * 0.5, axis=0, keepdims=True)


OUTPUT_LOSSES = ("hinge", "cross-entropy")


def output_loss_values(z, s, loss: str, xp):
    """The output loss per entry (``"hinge"``) or per sample (``"cross-entropy"``); its sum is the loss term."""
    if loss == "hinge":
        return hinge(z, s, xp)
    return cross_entropy(z, s, xp)
