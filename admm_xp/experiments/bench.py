"""``admm-xp bench``: how close one ADMM iteration gets to this machine's limits.

In one process (or on every rank under mpiexec) it measures

1. the GEMM rate of the backend and dtype (a large square matrix product)
   and the memory bandwidth (a large copy into a preallocated buffer,
   counting bytes read plus bytes written);
2. the ADMM iteration of the whole network at the given shape (Algorithm 1,
   as ``--layerwise 0`` trains it; default: HIGGS, 28 features,
   hidden 300; N = 200,000 on a CPU, 10.5M on a GPU; ``--features 3072
   --hidden 100,50`` is SVHN-shaped), on synthetic data of that shape: the
   median time of several iterations after a warm-up, and a
   per-step breakdown (weight updates, the activation factor, the fused a/z
   pass, the output z and multiplier pass, metrics, communication);
3. the naive transcription of Algorithm 1 (:mod:`admm_xp.experiments.naive`) at the
   same shape.

The GEMM rate and the bandwidth are measured again after the timed
iterations, and the floors use the faster of the two measurements (a
shared machine can be slow for a moment, and a floor from a slow
measurement would flatter the iteration).

From the cost model (:mod:`admm_xp.costmodel`: the per-sample matrix
products of Algorithm 1 plus the d x d factorisations and solves of each
iteration) it reports the flops per iteration, the achieved GFLOP/s, the
fraction of the GEMM rate, the roofline floor (the GEMM flops at the
measured GEMM rate plus the minimum bytes of the elementwise steps at the
measured bandwidth), the ratio of the measured time to that floor, the speedup over the naive version, and the peak memory
against the bytes the algorithm must hold (X, a, z, lambda and the targets).

A second floor shows where the rest of the gap lies: each matrix product of
the iteration is timed on its own at its real shape (the pass's block width,
one product per worker thread, as the passes run them), and the floor is
recomputed with those rates. ``time / floor`` above that second ratio is
the BLAS's rate at these shapes (a 300 x 300 Gram or a product with 28-long
sides runs well below the large square GEMM); the second ratio itself is
what the solver's own code loses around the products. The same rates split
the iteration's time by work: each timed product's share, and everything
else (the fused elementwise loops, the thin products, the sums and the
d x d solves), so the next bottleneck is visible.
"""
from __future__ import annotations

import math
import statistics
import sys
import time
import tracemalloc

import numpy as np

from .. import costmodel
from ..runtime import rng
from ..solver.config import CPU_BLOCK_SIZE, GPU_BLOCK_SIZE, ADMMConfig
from ..errors import ConfigError


def _sync(backend):
    backend.synchronize()


def measure_gemm(backend, dtype, n: int | None = None, repeats: int = 5) -> dict:
    """Best-of-``repeats`` rate of an n x n x n matrix product, in GFLOP/s."""
    xp, dev = backend.xp, backend.device
    n = n or (8192 if backend.is_gpu else 2048)
    dt = backend.dtype(dtype)
    A = rng.gaussian(xp, 1, "gemmA", n, 0, n, dtype=dt, device=dev)
    B = rng.gaussian(xp, 1, "gemmB", n, 0, n, dtype=dt, device=dev)
    xp.matmul(A, B)
    best = math.inf
    for _ in range(repeats):
        _sync(backend)
        t0 = time.perf_counter()
        C = xp.matmul(A, B)
        _sync(backend)
        best = min(best, time.perf_counter() - t0)
    del C
    return {"n": n, "seconds": best, "gflops": 2.0 * n**3 / best / 1e9}


def measure_bandwidth(backend, dtype, nbytes: int | None = None, repeats: int = 7) -> dict:
    """Best-of-``repeats`` copy into a preallocated, already-touched buffer: (read + write) bytes / s."""
    xp, dev = backend.xp, backend.device
    dt = backend.dtype(dtype)
    itemsize = 4 if dtype == "float32" else 8
    nbytes = nbytes or ((4 << 30) if backend.is_gpu else (256 << 20))
    n = nbytes // itemsize
    src = xp.ones((n,), dtype=dt, device=dev)
    dst = xp.zeros((n,), dtype=dt, device=dev)
    copy = _copy_into(backend)
    copy(dst, src)
    best = math.inf
    for _ in range(repeats):
        _sync(backend)
        t0 = time.perf_counter()
        copy(dst, src)
        _sync(backend)
        best = min(best, time.perf_counter() - t0)
    return {"bytes": n * itemsize, "seconds": best, "GBps": 2.0 * n * itemsize / best / 1e9}


def _faster(before: dict, after: dict, key: str) -> dict:
    """The faster of two measurements of one rate, with both rates listed under ``measured``."""
    best = dict(max(before, after, key=lambda m: m[key]))
    best["measured"] = [before[key], after[key]]
    return best


# Products whose fixed sides are this narrow run inside the fused elementwise loops (or are
# bandwidth-bound thin products): the shape-rate floor keeps them at the GEMM rate.
THIN = 8


def measure_products(backend, dtype, widths, block: int, ops, repeats: int = 3, min_seconds: float = 0.05,
                     c_kinds: dict | None = None) -> list[dict]:
    """Rate of each per-sample product of the iteration (:func:`costmodel.per_sample_products`)
    at the pass's block width, run as the passes run it: inside the kernels' iteration context,
    one product per worker thread at once on that thread's own columns (``ops.map_chunks``),
    the samples' operands being column views of wider arrays as in the solver's state.
    ``c_kinds`` maps the names of the products that the iteration forms with the C kernels to
    their kind (``ops.c_product``): those are timed that way, slab by slab, and marked
    ``by="C"``; the rest ``by="BLAS"``. Products with a side of at most THIN are not timed
    (``gflops`` and ``by`` None)."""
    xp, dev = backend.xp, backend.device
    dt = backend.dtype(dtype)
    workers = max(1, int(ops.threads))
    seen, out = {}, []
    for p in costmodel.per_sample_products(widths):
        M, K, N = p["shape"]
        key = (p["shape"], p["gram"])
        if min(x for x in (M, K, N) if x != "n") <= THIN:
            out.append(dict(p, gflops=None, by=None))
            continue
        kind = (c_kinds or {}).get(p["name"])
        key = key + (kind,)
        if key not in seen:
            seen[key] = _product_rate(xp, dev, dt, p, block, ops, workers, backend, repeats, min_seconds, kind)
        out.append(dict(p, gflops=seen[key], by="C" if kind else "BLAS"))
    return out


def _product_rate(xp, dev, dt, p, block, ops, workers, backend, repeats, min_seconds, kind=None) -> float:
    from ..solver.passes import sample_cross

    M, K, N = p["shape"]

    def cols(rows):
        """rows x (workers + 1) blocks; worker c uses the column view c*block .. (c+1)*block (one block
        wider than used, so even one worker's view is strided like the solver's state). The values do
        not matter to a product's speed."""
        return xp.full((rows, (workers + 1) * block), 0.5, dtype=dt, device=dev)

    if kind:  # as the fused loop forms it, with the C kernels (kinds: ops.c_product)
        W = xp.full((M, K), 0.5, dtype=dt, device=dev) if kind == "wa" else None
        A, B = (W, cols(K)) if kind == "wa" else (cols(M), cols(N) if kind == "zat" else None)
        one = lambda c: ops.c_product(kind, A, B, slice(c * block, (c + 1) * block))  # noqa: E731
    elif p["gram"]:
        A = cols(M)
        one = lambda c: ops.gram(A[:, c * block:(c + 1) * block])  # noqa: E731
    elif K == "n":  # z a^T, turned the way the passes turn it
        A, B = cols(M), cols(N)
        one = lambda c: sample_cross(A[:, c * block:(c + 1) * block], B[:, c * block:(c + 1) * block], ops, xp)  # noqa: E731
    else:
        W, B = xp.full((M, K), 0.5, dtype=dt, device=dev), cols(K)
        one = lambda c: ops.matmul(W, B[:, c * block:(c + 1) * block])  # noqa: E731

    def run(calls):  # every worker thread does `calls` products on its own columns
        def chunk(sl):  # map_chunks splits 256 * workers columns into one 256-column chunk per worker
            c = sl.start // 256
            for _ in range(calls):
                one(c)
        _sync(backend)
        t0 = time.perf_counter()
        with ops.iteration_context():
            ops.map_chunks(chunk, 256 * workers)
        _sync(backend)
        return time.perf_counter() - t0

    run(1)
    calls = max(1, int(min_seconds / max(run(1), 1e-7)))
    best = min(run(calls) for _ in range(repeats)) / calls
    chunks = len(ops.map_chunks(lambda sl: None, 256 * workers))
    return chunks * p["flops"] * block / best / 1e9


def _copy_into(backend):
    if backend.name == "numpy":
        return lambda dst, src: np.copyto(dst, src)
    if backend.name == "cupy":
        import cupy

        return lambda dst, src: cupy.copyto(dst, src)
    if backend.name == "torch":
        return lambda dst, src: dst.copy_(src)

    def assign(dst, src):
        dst[...] = src

    return assign


def synthetic_device_data(backend, dtype, n: int, d0: int, comm, seed: int = 0):
    """HIGGS-shaped synthetic data made directly on the device (this rank's columns)."""
    from ..data.shard import row_range
    from ..data.device import DeviceData

    xp, dev = backend.xp, backend.device
    dt = backend.dtype(dtype)
    a, b = row_range(n, comm.rank, comm.size)
    n_test = max(1, n // 10)
    c, e = row_range(n_test, comm.rank, comm.size)
    w = rng.gaussian(xp, seed, "bench-w", 1, 0, d0, dtype=dt, device=dev)

    def split(start, stop, name):
        X = rng.gaussian(xp, seed, ("bench-x", name), d0, start, stop, dtype=dt, device=dev)
        noise = rng.gaussian(xp, seed, ("bench-noise", name), 1, start, stop, dtype=dt, device=dev)
        y = xp.astype((xp.matmul(w, X) + noise)[0, :] > 0, xp.int64)
        return X, y

    X, y = split(a, b, "train")
    Xt, yt = split(c, e, "test")
    S = xp.astype(2 * y - 1, dt)[None, :]
    return DeviceData(X=X, S=S, y=y, X_test=Xt, y_test=yt, n_train=n, n_test=n_test, offset=a, n_classes=2)


def _live_bytes(*arrays) -> int:
    total = 0
    for x in arrays:
        if isinstance(x, (list, tuple)):
            total += _live_bytes(*x)
        elif x is not None and hasattr(x, "shape"):
            total += int(math.prod(x.shape)) * (4 if "32" in str(x.dtype) else 8)
    return total


def run_bench(backend, dtype, n, hidden, comm, *, features=28, repeats=5, warmup=2, naive_repeats=2, block=None, method=None,
              kernels="auto", gemm_n=None, skip_naive=False, log=print) -> dict:
    from ..solver.anderson import AndersonState
    from ..solver.iteration import accelerated_iteration
    from ..kernels import kernels_for
    from .naive import naive_iteration
    from ..nn import layer_widths
    from ..solver.state import init_state, make_problem
    from ..runtime.timing import StepTimer
    from ..train import evaluate

    xp = backend.xp
    d0 = int(features)
    widths = layer_widths(d0, hidden, 1)
    itemsize = 4 if dtype == "float32" else 8
    block = block or (GPU_BLOCK_SIZE if backend.is_gpu else CPU_BLOCK_SIZE)
    # The default preset, or the preset and options of ``method`` (e.g. {"lagrangian": "full", "anderson": 5}).
    # Every iteration updates the multipliers (warm start 0), as a run does after its warm start.
    # The whole network's iteration (Algorithm 1, which the cost model counts), for any depth: the stages of a
    # layer-wise run (the default's for two or more hidden layers) are one-hidden-layer iterations of their own.
    method = {"layerwise": 0, **(method or {})}
    preset = method.pop("preset", "default")
    cfg = ADMMConfig.from_preset(preset, hidden=tuple(hidden), dtype=dtype, block_size=block, warm_start=0, **method)
    cfg = cfg.resolved()
    # The linear form with relu_multiplier_iters (the default's) keeps the ReLU multipliers for its first
    # iterations only: time the iteration a run repeats after them (`--lagrangian full` times the others).
    start = cfg.steady_from
    multipliers = cfg.multiplier_arrays_at(start)  # per-sample arrays per hidden unit, in the timed iterations

    log(f"bench: GEMM and copy rates ({backend.label}, {dtype}) ...")
    gemm = measure_gemm(backend, dtype, gemm_n)
    bw = measure_bandwidth(backend, dtype)
    log(f"bench: GEMM {gemm['gflops']:.1f} GFLOP/s, copy {bw['GBps']:.1f} GB/s")

    log(f"bench: ADMM iteration, N = {n:,}, layers {list(widths)} ...")
    dd = synthetic_device_data(backend, dtype, n, d0, comm)
    t0 = time.perf_counter()
    prob = make_problem(dd.X, dd.S, dd.offset, dd.n_train, cfg, xp, comm)
    state = init_state(prob, widths, cfg, xp, comm)
    state.iteration = start
    _sync(backend)
    setup_s = time.perf_counter() - t0
    ops = kernels_for(xp, kernels)
    c_kernels = ops.c_kernels_for(state.z[0], dd.X, cfg.bias, widths[2])
    c_kinds = {}
    if c_kernels:  # the layer-1 products that layer_block forms with the C kernels of kernels/smallk.c
        c_kinds = {"W_1 a_0": "wa", "z_1 a_0^T": "zat"}
        if len(widths) > 2 and ops.gram_kernel_for(state.a[0]):
            c_kinds["a_1 a_1^T"] = "gram"
    products = measure_products(backend, dtype, widths, min(block, prob.n_local), ops, c_kinds=c_kinds)
    timer = StepTimer(backend.synchronize)
    accel = AndersonState(cfg.anderson) if cfg.anderson else None
    times, first = [], None
    comm_before = getattr(comm, "comm_time", 0.0)
    for i in range(warmup + repeats):
        if i == warmup:
            timer.reset()
            comm_before = getattr(comm, "comm_time", 0.0)
        _sync(backend)
        t = time.perf_counter()
        with ops.iteration_context():
            sums = accelerated_iteration(state, prob, cfg, xp, comm, ops, accel, timer=timer)
        _sync(backend)
        dt = time.perf_counter() - t
        if i == 0:
            first = dt
        if i >= warmup:
            times.append(dt)
            with timer("metrics"):
                evaluate(state, dd, sums.flat(), cfg, comm, xp, cfg.penalties(0), True, ops)
    comm_s = (getattr(comm, "comm_time", 0.0) - comm_before) / repeats
    breakdown = {k: v / repeats for k, v in timer.totals.items()}
    breakdown["comm"] = comm_s
    t_iter = statistics.median(times)

    # Peak memory of one more iteration: live arrays plus the largest transient allocation.
    state_bytes = costmodel.state_bytes(widths, prob.n_local, itemsize, multipliers)
    live = _live_bytes(state.W, state.a, state.z, state.lam, *state.u, *state.v, dd.X, dd.S, dd.y, dd.X_test, dd.y_test,
                       prob.gram_factor_X, *(accel.memory_arrays() if accel else []))
    if backend.name == "cupy":
        import cupy

        pool = cupy.get_default_memory_pool()
        # drop the cached blocks of the rate measurements (GEMM, copy, products: several GiB) so
        # that the pool's size after one iteration is the live arrays plus that iteration's peak
        pool.free_all_blocks()
        accelerated_iteration(state, prob, cfg, xp, comm, ops, accel)
        _sync(backend)
        peak = int(pool.total_bytes())
    else:
        tracemalloc.start()
        tracemalloc.reset_peak()
        accelerated_iteration(state, prob, cfg, xp, comm, ops, accel)
        extra = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        peak = live + extra

    # The machine's rates once more, right after the iterations: a shared machine can be slow for a
    # moment, and a floor from a slow measurement would flatter the iteration. The floors use the
    # faster of the two measurements; the record keeps both.
    gemm = _faster(gemm, measure_gemm(backend, dtype, gemm_n), "gflops")
    bw = _faster(bw, measure_bandwidth(backend, dtype), "GBps")

    naive_t = None
    if cfg.hidden_multipliers or cfg.anderson or cfg.residual_balancing:
        skip_naive = True  # the naive transcription is Algorithm 1 (with the augmented output), without these options
    if not skip_naive:
        log("bench: naive transcription ...")
        from ..solver.state import ADMMState

        nst = ADMMState(W=list(state.W), a=list(state.a), z=list(state.z), lam=state.lam, iteration=state.iteration)
        ntimes = []
        naive_timer = StepTimer(backend.synchronize)
        for i in range(1 + naive_repeats):
            _sync(backend)
            t = time.perf_counter()
            naive_iteration(nst, prob, cfg, xp, update_multiplier=False, timer=naive_timer if i else None)
            _sync(backend)
            if i:
                ntimes.append(time.perf_counter() - t)
        naive_t = statistics.median(ntimes)
        naive_breakdown = {k: v / naive_repeats for k, v in naive_timer.totals.items()}

    fl = costmodel.flops_per_sample(widths)
    fixed = costmodel.fixed_flops(widths)
    flops = fl["total"] * prob.n_local + fixed
    bytes_min = costmodel.bytes_per_sample(widths, itemsize, multipliers) * prob.n_local
    floor_gemm = flops / (gemm["gflops"] * 1e9)
    floor_bytes = bytes_min / (bw["GBps"] * 1e9)
    floor = floor_gemm + floor_bytes
    # the same floor with each product at its own measured rate at this shape (thin ones at the GEMM rate)
    shape_gemm = fixed / (gemm["gflops"] * 1e9) + sum(
        p["flops"] * prob.n_local / ((p["gflops"] or gemm["gflops"]) * 1e9) for p in products)
    shape_floor = shape_gemm + floor_bytes
    # where the time goes, with the products split out: each timed product at its own rate
    # (as in that floor); the rest is the elementwise loops, the thin products, sums and solves
    for p in products:
        p["seconds_per_iter"] = p["flops"] * prob.n_local / (p["gflops"] * 1e9) if p["gflops"] else None
    outside_products = t_iter - sum(p["seconds_per_iter"] or 0.0 for p in products)
    out = {
        "time_per_iter_s": t_iter,
        "gemm_fraction": flops / t_iter / (gemm["gflops"] * 1e9),
        "floor_ratio": t_iter / floor,
        "speedup_vs_naive": (naive_t / t_iter) if naive_t else None,
        "peak_memory_ratio": peak / state_bytes,
        "n": n,
        "n_local": prob.n_local,
        "layers": list(widths),
        "flops_per_iter": flops,
        "flops_per_sample": fl,
        "fixed_flops_per_iter": fixed,
        "achieved_gflops": flops / t_iter / 1e9,
        "gemm": gemm,
        "bandwidth": bw,
        "min_bytes_per_iter": bytes_min,
        "floor_s": floor,
        "floor_gemm_s": floor_gemm,
        "floor_bytes_s": floor_bytes,
        "products": products,
        "product_block": min(block, prob.n_local),
        "floor_at_product_rates_s": shape_floor,
        "floor_ratio_at_product_rates": t_iter / shape_floor,
        "time_outside_timed_products_s": outside_products,
        "iteration_times_s": times,
        "first_iteration_s": first,
        "timed_from_iteration": start,
        "setup_s": setup_s,
        "breakdown_s": breakdown,
        "naive_time_per_iter_s": naive_t,
        "naive_breakdown_s": naive_breakdown if naive_t else None,
        "peak_bytes": peak,
        "state_bytes": state_bytes,
        "kernels": ops.name,
        # the layer-1 products W_1 a_0, z_1 a_0^T (and the float32 Gram a_1 a_1^T) in the C kernels
        # of kernels/smallk.c, inside the loop: the products marked by="C"
        "c_kernels": c_kernels,
        "block_size": block,
        "threads": ops.threads,
        "method": {"preset": preset, **method},
        "config": cfg.to_dict(),
    }
    return out


def register(sub) -> None:
    from ..cli.options import RawDefaultsHelpFormatter

    p = sub.add_parser("bench", help="time one ADMM iteration against the machine's GEMM rate and bandwidth",
                       description=__doc__, formatter_class=RawDefaultsHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (also array-api-strict, torch[:cpu])")
    p.add_argument("--dtype", choices=("float32", "float64"), default=None, help="default: float64 on cpu, float32 on cuda")
    p.add_argument("--n", type=int, default=None, help="samples (default 200,000 on cpu, 10,500,000 on cuda)")
    p.add_argument("--hidden", default="300", help="hidden widths (default 300: the HIGGS network)")
    p.add_argument("--features", type=int, default=28, help="input features (default 28: HIGGS; 3072 is SVHN-shaped)")
    p.add_argument("--repeats", type=int, default=5, help="timed iterations after the warm-up (median reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed iterations first")
    p.add_argument("--block-size", type=int, default=None,
                   help=f"samples per cache block of the fused passes (default {CPU_BLOCK_SIZE} on cpu, {GPU_BLOCK_SIZE} on cuda)")
    p.add_argument("--kernels", choices=("auto", "portable", "numba", "cupy"), default="auto",
                   help="elementwise kernels: auto picks numba on cpu and CuPy kernels on cuda; portable is the array-API reference")
    p.add_argument("--no-naive", action="store_true", help="skip the naive transcription (slow at large N)")
    m = p.add_argument_group("method (default: the default preset)")
    m.add_argument("--preset", choices=("default", "paper"), default="default", help="the preset timed")
    m.add_argument("--lagrangian", choices=("paper", "augmented", "full", "linear"), default=None, help="as in `admm-xp train`")
    m.add_argument("--loss", choices=("hinge", "cross-entropy"), default=None, help="as in `admm-xp train`")
    m.add_argument("--residual-balancing", choices=("on", "off"), default=None, help="as in `admm-xp train`")
    m.add_argument("--anderson", type=int, default=None, metavar="M", help="as in `admm-xp train`")
    m.add_argument("--anderson-on", choices=("weights", "state"), default=None, help="as in `admm-xp train`")
    p.add_argument("--ranks", type=int, metavar="P", help="run on P MPI ranks (relaunches under mpiexec)")
    p.add_argument("--allow-tf32", action="store_true", help="let CuPy use TF32 tensor cores for float32 products")
    p.add_argument("--out", metavar="bench.json", help="write the record here")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr (the result table still prints)")
    p.set_defaults(func=cmd_bench, relaunch_under_mpi=True)


def cmd_bench(args, comm) -> int:
    from ..runtime.backend import resolve_device
    from ..cli.options import check_output_path
    from ..cli.options import parse_widths
    from ..runrecord import base_record, write_json_atomic
    from ..runtime.threads import configure_threads

    check_output_path(args.out, "--out")
    hidden = parse_widths(args.hidden)
    device = f"cuda:{comm.local_rank}" if (comm.size > 1 and args.device == "cuda") else args.device
    backend = resolve_device(device)
    if args.allow_tf32:
        from ..runtime.gpu import allow_tf32

        allow_tf32(backend)
    dtype = args.dtype or ("float32" if backend.is_gpu else "float64")
    n = args.n if args.n is not None else (10_500_000 if backend.is_gpu else 200_000)
    if args.block_size is not None and args.block_size < 1:
        raise ConfigError(f"--block-size must be an integer >= 1, got {args.block_size}")
    if n < 2 * comm.size:
        raise ConfigError(f"--n must be at least 2 per rank, got {n}")
    for name in ("repeats", "warmup"):
        if getattr(args, name) < (1 if name == "repeats" else 0):
            raise ConfigError(f"--{name} must be >= {1 if name == 'repeats' else 0}")
    configure_threads(comm)
    lead = comm.rank == 0
    log = (lambda text: print(text, file=sys.stderr, flush=True)) if (lead and not args.quiet) else (lambda text: None)
    if args.features < 1:
        raise ConfigError(f"--features must be >= 1, got {args.features}")
    method = {"preset": args.preset}
    for key in ("lagrangian", "loss", "anderson", "anderson_on"):
        if getattr(args, key) is not None:
            method[key] = getattr(args, key)
    if args.residual_balancing is not None:
        method["residual_balancing"] = args.residual_balancing == "on"
    res = run_bench(backend, dtype, n, hidden, comm, features=args.features, repeats=args.repeats, warmup=args.warmup,
                    block=args.block_size, method=method,
                    kernels=args.kernels, skip_naive=args.no_naive, log=log)
    if lead:
        rec = base_record(method="admm-bench", dataset={"name": f"synthetic ({args.features} features, made on the device)", "n_train": n,
                                                        "n_test": max(1, n // 10)},
                          layers=res["layers"], backend=backend, dtype=dtype, ranks=comm.size,
                          config={"hidden": list(hidden), "features": args.features, "repeats": args.repeats, "warmup": args.warmup,
                                  "block_size": res["block_size"], "kernels": res["kernels"], "allow_tf32": args.allow_tf32,
                                  "method": res["method"]})
        cum = 0.0
        for i, t in enumerate(res["iteration_times_s"]):
            cum += t
            rec["history"].append({"iter": args.warmup + i + 1, "iter_s": t, "time_s": cum})
        rec["final"] = {k: res[k] for k in ("time_per_iter_s", "gemm_fraction", "floor_ratio", "speedup_vs_naive", "peak_memory_ratio")}
        rec.update(res)
        if args.out:
            write_json_atomic(args.out, rec)
        print(format_bench(rec))
    return 0


def _both(m: dict) -> str:
    """", the faster of a and b (before and after the iterations)", for records that measured twice."""
    if "measured" not in m:
        return ""
    a, b = m["measured"]
    return f"; the faster of {a:.1f} and {b:.1f}, before and after the iterations"


def _from_iteration(r) -> str:
    k = r.get("timed_from_iteration") or 0
    return f"; from iteration {k + 1}, after the linear form's ReLU multipliers" if k else ""


def format_bench(r) -> str:
    b = r["breakdown_s"]
    lines = [
        f"ADMM iteration benchmark: {r['backend']} ({r['device']}), {r['dtype']}, N = {r['n']:,} on {r['ranks']} rank(s), layers {r['layers']}",
        f"  GEMM rate           {r['gemm']['gflops']:10.1f} GFLOP/s  ({r['gemm']['n']}^3 product{_both(r['gemm'])})",
        f"  copy bandwidth      {r['bandwidth']['GBps']:10.1f} GB/s     (read + write{_both(r['bandwidth'])})",
        f"  flops / iteration   {r['flops_per_iter'] / 1e9:10.2f} GFLOP    (cost model, this rank; {r['fixed_flops_per_iter'] / 1e9:.2f} of it in d x d solves)",
        f"  time / iteration    {r['time_per_iter_s']:10.4f} s        (median of {len(r['iteration_times_s'])}; first iteration {r['first_iteration_s']:.3f} s"
        f"{_from_iteration(r)})",
        f"  achieved            {r['achieved_gflops']:10.1f} GFLOP/s  = {r['gemm_fraction']:.2f} of the GEMM rate",
        f"  roofline floor      {r['floor_s']:10.4f} s        (GEMM {r['floor_gemm_s']:.4f} s + bytes {r['floor_bytes_s']:.4f} s)",
        f"  time / floor        {r['floor_ratio']:10.2f}",
    ]
    if r.get("products"):
        gemm = r["gemm"]["gflops"]
        lines.append(f"  the products at this shape (blocks of {r['product_block']:,} samples), each on its own:")
        for p in r["products"]:
            if p["gflops"] is None:
                continue
            shape = " x ".join(str(x) for x in p["shape"]) + (" (Gram)" if p["gram"] else "")
            by = {"C": "  (C kernel)", "BLAS": "  (BLAS)"}.get(p.get("by"), "")
            lines.append(f"    {p['name']:<16} {shape:<22} {p['gflops']:8.1f} GFLOP/s = {p['gflops'] / gemm:.2f} of the GEMM rate{by}")
        if r.get("c_kernels") and not any("by" in p for p in r["products"]):  # records from before "by"
            lines.append(f"    (the iteration forms {r['products'][0]['name']} and {r['products'][1]['name']} with the C kernels "
                         "of kernels/smallk.c inside the fused loop, not with BLAS: their two rates here are BLAS's)")
        thin = [p["name"] for p in r["products"] if p["gflops"] is None]
        if thin:
            lines.append(f"    thin, fused or bandwidth-bound (kept at the GEMM rate): {', '.join(thin)}")
        lines.append(f"  floor at these rates {r['floor_at_product_rates_s']:8.4f} s        -> time / this floor "
                     f"{r['floor_ratio_at_product_rates']:.2f}")
    if r.get("naive_time_per_iter_s"):
        lines.append(f"  naive iteration     {r['naive_time_per_iter_s']:10.4f} s        -> speedup {r['speedup_vs_naive']:.1f}x")
    lines.append(f"  peak memory         {r['peak_bytes'] / 2**20:10.1f} MiB      = {r['peak_memory_ratio']:.2f} x the {r['state_bytes'] / 2**20:.1f} MiB the algorithm must hold")
    lines.append("  where the time goes (mean s per timed iteration, by step; metrics, the evaluation after each, is not "
                 "in time / iteration):")
    for k, v in sorted(b.items(), key=lambda kv: -kv[1]):
        lines.append(f"    {k:<16} {v:8.4f}")
    timed = sorted((p for p in r.get("products", []) if p.get("seconds_per_iter")), key=lambda p: -p["seconds_per_iter"])
    if timed:  # records from before this split lack it
        lines.append("  time / iteration split by work (the timed products at their rates above, and the rest):")
        for p in timed:
            lines.append(f"    {p['name']:<16} {p['seconds_per_iter']:8.4f}")
        lines.append(f"    everything else  {r['time_outside_timed_products_s']:8.4f}   (elementwise loops, thin products, sums, d x d solves)")
    return "\n".join(lines)
