"""Time each operation of one hidden-layer block on its own, and the alternatives tried for it.

Used by scripts/device_check.sh on a GPU to see where an iteration's time goes
below the granularity of `admm-xp bench` (which splits by step and by the
three big products). Arrays are shaped as the solver's state at the HIGGS
shape: rows of N samples, the block a column view of the first B of them.
Runs on any backend (a dry run on the CPU checks the script):

    python scripts/gpu_probe.py --device cuda --n 10500000 --block 1048576
    python scripts/gpu_probe.py --device cpu --n 200000 --block 4096
"""
from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--n", type=int, default=10_500_000, help="samples in the state arrays (their row length)")
    p.add_argument("--block", type=int, default=1 << 20, help="samples per block (the view timed)")
    p.add_argument("--hidden", type=int, default=300)
    p.add_argument("--features", type=int, default=28)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", metavar="probe.txt", help="also write the table here")
    args = p.parse_args()

    from admm_xp.runtime.backend import resolve_device
    from admm_xp.kernels import kernels_for
    from admm_xp.kernels.pieces import long_product, long_sum
    from admm_xp.solver.passes import sample_cross

    backend = resolve_device(args.device)
    xp, dev = backend.xp, backend.device
    ops = kernels_for(xp)
    dt = backend.dtype(args.dtype)
    item = 4 if args.dtype == "float32" else 8
    d, f, n, B = args.hidden, args.features, args.n, min(args.block, args.n)
    sl = slice(0, B)
    a = xp.full((d, n), 0.5, dtype=dt, device=dev)
    z = xp.full((d, n), 0.25, dtype=dt, device=dev)
    X = xp.full((f, n), 0.5, dtype=dt, device=dev)
    zn = xp.full((1, n), 0.5, dtype=dt, device=dev)
    av, zv, Xv, znv = a[:, sl], z[:, sl], X[:, sl], zn[:, sl]
    ac = xp.asarray(av, copy=True)
    m = xp.full((d, B), 0.1, dtype=dt, device=dev)
    W1 = xp.full((d, f), 0.01, dtype=dt, device=dev)
    Wt = xp.full((1, d), 0.01, dtype=dt, device=dev)
    P = xp.full((d, 1), 0.01, dtype=dt, device=dev)
    r = xp.full((1, B), 0.3, dtype=dt, device=dev)
    mm = xp.matmul
    gather = None
    if backend.name == "cupy":
        import cupy

        mm, gather = cupy.matmul, cupy.ascontiguousarray
    act_rows = lambda x, y: xp.sum((x - xp.maximum(y, 0)) ** 2, axis=-1, dtype=xp.float64)  # noqa: E731
    blk = d * B * item

    def add_matmul_product_then_add():
        out = mm(P, r)
        av[...] = out + ac  # the old path: a product into a temporary, then the add written through the view

    def composed_block():  # the pass's steps for one block when the kernel set has no fused hidden_block
        h = ops.relu(zv)
        rr = znv - ops.matmul(Wt, h)
        a_new = ops.add_matmul(h, P, rr, out=ops.view(a, sl))
        return ops.hidden_prox(a_new, m, 10.0, 1.0, out=ops.view(z, sl))

    cases = [
        ("a, z updates + sums: fused (hidden_block)", lambda: ops.hidden_block(z, zn, a, m, sl, Wt, None, P, 10.0, 1.0),
         5 * blk, None),
        ("a, z updates + sums + Gram: fused (want_gram)",
         lambda: ops.hidden_block(z, zn, a, m, sl, Wt, None, P, 10.0, 1.0, want_gram=True), 6 * blk, 2 * d * d * B),
        ("a, z updates + sums: composed steps", composed_block, 12 * blk, None),
        ("copy, contiguous block (reference)", lambda: xp.asarray(ac, copy=True), 2 * blk, None),
        ("gram: 2-D product on the view", lambda: mm(av, xp.matrix_transpose(av)), None, 2 * d * d * B),
        ("gram: 2-D product, contiguous block", lambda: mm(ac, xp.matrix_transpose(ac)), None, 2 * d * d * B),
        ("gram: pieces of the view", lambda: long_product(av, None, xp, matmul=mm), None, 2 * d * d * B),
        ("gram: contiguous pieces (ops.gram)", lambda: ops.gram(av), None, 2 * d * d * B),
        ("z a^T: pieces of the views", lambda: long_product(Xv, xp.matrix_transpose(zv), xp, matmul=mm), None, 2 * d * f * B),
        ("z a^T: contiguous pieces (sample_cross)", lambda: sample_cross(zv, Xv, ops, xp), None, 2 * d * f * B),
        ("W_1 a_0 into m", lambda: ops.matmul(W1, Xv, out=ops.scratch("m", d, B, dt, dev)), None, 2 * d * f * B),
        ("thin: W_2 h (1 x 300 x B)", lambda: ops.matmul(Wt, ac), blk, 2 * d * B),
        ("thin: W_L a on the view (ops.matmul)", lambda: ops.matmul(Wt, av), blk, 2 * d * B),
        ("thin: W_L a on the view (library matmul)", lambda: mm(Wt, av), blk, 2 * d * B),
        ("relu(z) into a new block", lambda: ops.relu(zv), 2 * blk, None),
        ("h + P r into the view: product, then add", add_matmul_product_then_add, 3 * blk, None),
        ("h + P r into the view: ops.add_matmul", lambda: ops.add_matmul(ac, P, r, out=ops.view(a, sl)), 2 * blk, None),
        ("z update + 2 sums (ops.hidden_prox)", lambda: ops.hidden_prox(av, m, 10.0, 1.0, out=ops.view(z, sl)), 7 * blk, None),
        ("one sum, split (long_sum)", lambda: long_sum(act_rows, (av, zv), xp), 2 * blk, None),
        ("one sum, whole block at once", lambda: xp.sum((av - xp.maximum(zv, 0)) ** 2, dtype=xp.float64), 2 * blk, None),
        ("row sums of the view (bias)", lambda: xp.sum(av, axis=1, dtype=xp.float64), blk, None),
        ("z_2 a_1^T: contiguous pieces", lambda: sample_cross(znv, av, ops, xp), blk, 2 * d * B),
    ]
    # The long cross products z a^T in other forms: plain 2-D products on the views and on contiguous
    # copies, the other turn, and (width 1) the matrix-vector form.
    Xc, zc, znc = xp.asarray(Xv, copy=True), xp.asarray(zv, copy=True), xp.asarray(znv, copy=True)
    T = xp.matrix_transpose
    cases += [
        ("z a^T: 2-D X z^T on the views", lambda: mm(Xv, T(zv)), None, 2 * d * f * B),
        ("z a^T: 2-D X z^T on contiguous copies", lambda: mm(Xc, T(zc)), None, 2 * d * f * B),
        ("z a^T: 2-D z X^T on contiguous copies", lambda: mm(zc, T(Xc)), None, 2 * d * f * B),
        ("z a^T: pieces, other turn (z X^T)", lambda: long_product(zv, T(Xv), xp, matmul=mm, gather=gather), None, 2 * d * f * B),
        ("z a^T: pieces of contiguous copies", lambda: long_product(Xc, T(zc), xp, matmul=mm, gather=gather), None, 2 * d * f * B),
        ("z_2 a_1^T: 2-D z a^T on the views", lambda: mm(znv, T(av)), blk, 2 * d * B),
        ("z_2 a_1^T: 2-D a z^T on the views", lambda: mm(av, T(znv)), blk, 2 * d * B),
        ("z_2 a_1^T: 2-D a z^T, contiguous", lambda: mm(ac, T(znc)), blk, 2 * d * B),
        ("z_2 a_1^T: 2-D z a^T, contiguous", lambda: mm(znc, T(ac)), blk, 2 * d * B),
        ("z_2 a_1^T: row sums of a * z", lambda: xp.sum(av * znv, axis=1, dtype=xp.float64), blk, 2 * d * B),
    ]
    if gather is not None:
        import cupy

        def pieces_nn(A, Bm):  # batched product with both operands' pieces C-contiguous as multiplied
            k, s_ = 256, B // 256
            A3 = gather(xp.permute_dims(xp.reshape(A[:, :k * s_], (A.shape[0], k, s_)), (1, 0, 2)))
            B3 = gather(xp.permute_dims(xp.reshape(Bm[:, :k * s_], (Bm.shape[0], k, s_)), (1, 2, 0)))
            return xp.sum(cupy.matmul(A3, B3), axis=0, dtype=xp.float64)

        cases += [
            ("z a^T: pieces, both C-contiguous (k,s,N)", lambda: pieces_nn(Xv, zv), None, 2 * d * f * B),
            ("z_2 a_1^T: pieces, both C-contiguous", lambda: pieces_nn(znv, av), blk, 2 * d * B),
            ("gram: pieces, both C-contiguous", lambda: pieces_nn(av, av), None, 2 * d * d * B),
        ]
        # The Gram matrix in other forms, from pieces already laid out (as the fused kernel writes
        # them): whole, or only the blocks on and above the diagonal of a split of its rows (cuBLAS
        # tiles 300 rows as 128 + 128 + 44); cuBLAS syrk on the contiguous block. GFLOP/s count the
        # full 2 d^2 B product in every row, so that the times compare.
        from admm_xp.kernels.pieces import gram_of_pieces

        kp, sp = 256, B // 256
        A3 = gather(xp.permute_dims(xp.reshape(ac[:, :kp * sp], (d, kp, sp)), (1, 0, 2)))

        def gram_split(edges):
            parts = [gather(A3[:, lo:hi, :]) for lo, hi in zip(edges[:-1], edges[1:])]
            return [xp.sum(cupy.matmul(parts[i], xp.permute_dims(parts[j], (0, 2, 1))), axis=0, dtype=xp.float64)
                    for i in range(len(parts)) for j in range(i, len(parts))]

        split_parts = {e: [gather(A3[:, lo:hi, :]) for lo, hi in zip(e[:-1], e[1:])] for e in ((0, 256, d), (0, d // 2, d))}

        def gram_split_pre(edges):  # the row blocks' pieces already apart (a kernel could write them so)
            parts = split_parts[edges]
            return [xp.sum(cupy.matmul(parts[i], xp.permute_dims(parts[j], (0, 2, 1))), axis=0, dtype=xp.float64)
                    for i in range(len(parts)) for j in range(i, len(parts))]

        def syrk_block():
            from cupy import cublas

            return cublas.syrk("N", ac)

        if d > 256:
            cases += [
                ("gram: laid-out pieces (gram_of_pieces)", lambda: gram_of_pieces(A3, None, xp, cupy.matmul), None, 2 * d * d * B),
                ("gram: pieces, rows 256 + rest, upper", lambda: gram_split_pre((0, 256, d)), None, 2 * d * d * B),
                ("gram: pieces, rows halved, upper", lambda: gram_split_pre((0, d // 2, d)), None, 2 * d * d * B),
                ("gram: pieces, rows halved, upper + split", lambda: gram_split((0, d // 2, d)), None, 2 * d * d * B),
                ("gram: cublas syrk, contiguous block", syrk_block, None, 2 * d * d * B),
            ]
    if gather is not None:
        cases.insert(1, ("gather the view's pieces (copy)", lambda: gather(
            xp.permute_dims(xp.reshape(av[:, :B - B % 256], (d, 256, B // 256)), (1, 0, 2))), 2 * blk, None))

    table = []

    def emit(line: str) -> None:
        print(line, flush=True)
        table.append(line)

    emit(f"# {backend.label} {args.dtype}: state rows of {n:,} samples, block of {B:,}, hidden {d}, features {f}; "
         f"median of {args.repeats} after one untimed call")
    emit(f"{'operation':44s} {'ms':>9s} {'GB/s':>8s} {'GFLOP/s':>9s}")
    for name, fn, nbytes, flops in cases:
        try:
            fn()
            backend.synchronize()
            ts = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                fn()
                backend.synchronize()
                ts.append(time.perf_counter() - t)
            s = statistics.median(ts)
            gbs = f"{nbytes / s / 1e9:8.0f}" if nbytes else f"{'':8s}"
            gfl = f"{flops / s / 1e9:9.0f}" if flops else f"{'':9s}"
            emit(f"{name:44s} {s * 1e3:9.3f} {gbs} {gfl}")
        except Exception as exc:  # a failing alternative must not hide the others' numbers
            emit(f"{name:44s} failed: {type(exc).__name__}: {exc}")
    if args.out:
        with open(args.out, "w") as fh:
            fh.write("\n".join(table) + "\n")


if __name__ == "__main__":
    main()
