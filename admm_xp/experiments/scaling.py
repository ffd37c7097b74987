"""Strong scaling over MPI ranks, measured here and modelled out to thousands of cores.

``admm-xp scaling`` runs one fixed training problem on 1..P ranks (one rank
per core), records each run, and fits the model

    T_iter(P) = t_fixed + c * N / P + sum_messages ceil(log2 P) * (alpha + 8 m / B)

where ``c`` is the compute time per sample and iteration and ``t_fixed`` the
per-iteration time that does not shrink with the shard (the small d x d
factorisations every rank repeats, Python overhead), both measured here on
one rank; ``alpha`` (latency) and ``B`` (bandwidth) describe the allreduce
(recursive doubling: ``ceil(log2 P)`` steps), and ``m`` runs over the
messages of one iteration (:func:`admm_xp.costmodel.message_numbers`).
Time to a target accuracy is ``K * T_iter(P)`` with ``K`` the iterations the
measured run needed (the iterates do not depend on P, so neither does K).
Every run trains the whole network at once (``--layerwise 0``, Algorithm 1),
the iteration the model counts, whatever the depth.

The model is evaluated twice: with this machine's measured alpha and B
(to compare with the measured points) and with an assumed cluster
interconnect (``--latency``, ``--bandwidth``) at the paper's problem sizes
(SVHN 120,290 x 3,072 with hidden 100, 50; HIGGS 10,500,000 x 28 with hidden
300) out to 7,200 cores. Everything past the measured rank counts is a model,
and every output says so.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys

from .. import costmodel
from ..runtime.atomic import write_csv_atomic
from ..cli.options import (MPIEXEC_HINT, check_accuracy, check_data_dir, check_dataset, check_min, check_output_dir,
                           check_positive, find_mpiexec, parse_widths)
from ..errors import ConfigError, UserError
from ..paper import PROBLEMS

# The data that stand in for the paper's (admm_xp.paper.PROBLEMS) on one machine: the embedded HIGGS rows and
# a synthetic task of SVHN's shape.
STAND_INS = {"svhn": "synthetic-svhn", "higgs": "higgs-sample"}
MODEL_CORES = sorted({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 2496, 4096, 7200})
ASSUMED_LATENCY = 2e-6
ASSUMED_BANDWIDTH = 5e9


def predict_iteration(widths, n_total, P, c, t_fixed, alpha, bandwidth, bias=False) -> dict:
    steps = math.ceil(math.log2(P)) if P > 1 else 0
    comm = sum(steps * (alpha + 8.0 * m / bandwidth) for m in costmodel.message_numbers(widths, bias))
    compute = t_fixed + c * n_total / P
    return {"compute_s": compute, "comm_s": comm, "time_per_iter_s": compute + comm}


def _median_iter(rec, key="iter_s", skip=1):
    vals = [h[key] for h in rec["history"] if h["iter"] > skip and key in h]
    if not vals:
        vals = [h[key] for h in rec["history"] if h["iter"] >= 1 and key in h]
    return statistics.median(vals) if vals else float("nan")


def _iters_to(rec, target):
    for h in rec["history"]:
        if h.get("test_acc") is not None and h["test_acc"] >= target:
            return h["iter"], h["time_s"]
    return None, None


# One core per rank: the scaling runs and calibrations use one thread each (BLAS and fused loops).
ONE_CORE = {"ADMM_XP_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _launch(ranks, args, out, timeout):
    env = dict(os.environ, MPIEXEC_TIMEOUT=str(timeout), PYTHONUNBUFFERED="1", **ONE_CORE)
    if ranks == 1:
        cmd = [sys.executable, "-m", "admm_xp", *args, "--out", out]
    else:
        mpiexec = find_mpiexec()
        if mpiexec is None:
            raise ConfigError(f"scaling over ranks needs mpiexec on PATH: {MPIEXEC_HINT}")
        cmd = [mpiexec, "-n", str(ranks), sys.executable, "-m", "admm_xp", *args, "--out", out]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 60, env=env)
    except subprocess.TimeoutExpired:
        raise UserError(f"the {ranks}-rank run took longer than --timeout {timeout} s; raise --timeout, "
                        f"or use fewer --iters or --n-train") from None
    if res.returncode != 0:
        tail = (res.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise UserError(f"the {ranks}-rank run failed: {tail}")
    with open(out) as fh:
        return json.load(fh)


def register(sub) -> None:
    p = sub.add_parser(
        "scaling", help="measure strong scaling over MPI ranks and model it out to thousands of cores",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", default="higgs-sample", metavar="NAME|FILE", help="the fixed problem's data set (default: embedded HIGGS)")
    p.add_argument("--data-dir", metavar="DIR", help="folder with the full HIGGS / SVHN files, for --dataset higgs or svhn "
                                                     "(default: none)")
    p.add_argument("--n-train", type=int, metavar="N", help="training samples of the fixed problem, >= 1 (default: all)")
    p.add_argument("--hidden", default="300", metavar="W[,W...]", help="hidden widths of the fixed problem (default 300)")
    p.add_argument("--iters", type=int, default=100, metavar="K", help="iterations per run, >= 1 (default 100)")
    p.add_argument("--rank-counts", default=None, metavar="P[,P...]",
                   help="rank counts to measure (default: 1, 2, 4, ... up to this machine's cores)")
    p.add_argument("--target-acc", type=float, default=0.64, metavar="A", help="target test accuracy for time-to-target, in (0, 1] (default 0.64)")
    p.add_argument("--latency", type=float, default=ASSUMED_LATENCY, metavar="S",
                   help=f"assumed cluster allreduce latency per step, seconds >= 0 (default {ASSUMED_LATENCY:g})")
    p.add_argument("--bandwidth", type=float, default=ASSUMED_BANDWIDTH, metavar="B",
                   help=f"assumed cluster bandwidth, bytes/s > 0 (default {ASSUMED_BANDWIDTH:g})")
    p.add_argument("--svhn-iters-to-target", type=int, default=None, metavar="K",
                   help="iterations (>= 1) ADMM needs to reach 95%% on SVHN, for the SVHN time-to-target model "
                        "(default: measured on the synthetic SVHN-shaped task when it gets there)")
    p.add_argument("--out-dir", default="results/scaling", metavar="DIR",
                   help="where to write records, CSV and the summary (default results/scaling)")
    p.add_argument("--quick", action="store_true", help="fewer iterations and smaller calibration runs")
    p.add_argument("--timeout", type=int, default=1800, metavar="S", help="seconds allowed per run, >= 1 (default 1800)")
    p.set_defaults(func=cmd_scaling)


def rank_list(text) -> list:
    from ..runtime.threads import cores_per_rank
    from ..runtime.comm import LocalComm

    if text:
        try:
            ranks = sorted({int(t) for t in text.split(",") if t.strip()})
        except ValueError:
            raise ConfigError(f"--rank-counts must be comma-separated integers, got {text!r}") from None
        if not ranks or ranks[0] < 1:
            raise ConfigError(f"--rank-counts must be >= 1, got {text!r}")
        return ranks
    cores = cores_per_rank(LocalComm())
    out, p = [], 1
    while p <= cores:
        out.append(p)
        p *= 2
    if out[-1] != cores:
        out.append(cores)
    return out


def cmd_scaling(args, comm) -> int:
    from ..runrecord import base_record, write_json_atomic, write_text_atomic

    if comm.size > 1:
        raise ConfigError("run `admm-xp scaling` itself without mpiexec: it launches the MPI runs")
    # Every option is checked here, before any run is launched or any file written.
    parse_widths(args.hidden)
    ranks = rank_list(args.rank_counts)
    check_min(args.iters, "--iters")
    check_min(args.n_train, "--n-train", hint=" (leave it out to use every training sample)")
    check_accuracy(args.target_acc, "--target-acc")
    check_positive(args.latency, "--latency", " (seconds, e.g. 2e-6)", zero_ok=True)
    check_positive(args.bandwidth, "--bandwidth", " (bytes/s, e.g. 5e9 for 5 GB/s)")
    check_min(args.svhn_iters_to_target, "--svhn-iters-to-target", hint=" (leave it out to measure it)")
    check_min(args.timeout, "--timeout", hint=" seconds")
    check_data_dir(args.data_dir)
    check_dataset(args.dataset, args.data_dir)
    if max(ranks) > 1 and find_mpiexec() is None:
        raise ConfigError(f"measuring {max(ranks)} ranks needs mpiexec on PATH: {MPIEXEC_HINT}; "
                          f"or measure one rank only with --rank-counts 1")
    check_output_dir(args.out_dir, "--out-dir")
    iters = args.iters
    out_dir = args.out_dir
    os.makedirs(out_dir, exist_ok=True)
    # Every run trains the whole network at once (Algorithm 1, --layerwise 0): the model counts that iteration.
    base = ["train", "--dataset", args.dataset, "--hidden", args.hidden, "--iters", str(iters), "--quiet", "--eval-every", "1",
            "--layerwise", "0"]
    if args.n_train is not None:
        base += ["--n-train", str(args.n_train)]
    if args.data_dir:
        base += ["--data-dir", args.data_dir]
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731

    # 1. The fixed problem on 1..P ranks.
    records = {}
    for p in ranks:
        log(f"scaling: {p} rank(s) ...")
        records[p] = _launch(p, base, os.path.join(out_dir, f"train_p{p}.json"), args.timeout)
        rec = records[p]
        log(f"scaling: {p} rank(s): {_median_iter(rec):.4f} s/iteration (communication {_median_iter(rec, 'comm_s'):.4f} s)")

    # 2. This machine's allreduce latency and bandwidth.
    net_path = os.path.join(out_dir, "network.json")
    here = {"alpha_s": None, "bandwidth_Bps": None}
    if max(ranks) > 1:
        env = dict(os.environ, MPIEXEC_TIMEOUT="300")
        try:
            res = subprocess.run([find_mpiexec() or "mpiexec", "-n", str(max(ranks)), sys.executable, "-m",
                                  "admm_xp.experiments.mpibench", "--out", net_path], capture_output=True, text=True, timeout=400, env=env)
        except subprocess.TimeoutExpired:
            res = None
            log("scaling: the allreduce measurement timed out; the model is drawn without this machine's network")
        if res is not None and res.returncode == 0:
            with open(net_path) as fh:
                here = json.load(fh)

    # 3. Calibration: compute per sample (large shard) and the fixed cost per iteration (tiny shard), per network.
    rec1 = records[ranks[0]]
    n_fixed = rec1["n_train"] // ranks[0]
    widths_fixed = tuple(rec1["layers"])
    calib = {}
    cal_iters = "4" if args.quick else "6"
    networks = {name: (p.widths, STAND_INS[name]) for name, p in PROBLEMS.items()}
    fixed_name = next((k for k, v in networks.items() if tuple(v[0]) == widths_fixed), None)
    if fixed_name is None:
        fixed_name = "fixed"
        networks["fixed"] = (widths_fixed, args.dataset)
    for name, (widths, data) in networks.items():
        hid = ",".join(str(w) for w in widths[1:-1])
        small = 64
        sizes = (small,) if name == fixed_name and ranks[0] == 1 else (4000, small)
        recs = {}
        for n in sizes:
            recs[n] = _launch(1, ["train", "--dataset", data, "--hidden", hid, "--iters", cal_iters, "--quiet", "--layerwise", "0",
                                  "--n-train", str(n), "--eval-every", "1000"]
                              + (["--data-dir", args.data_dir] if args.data_dir and data == args.dataset else []),
                              os.path.join(out_dir, f"calibrate_{name}_n{n}.json"), args.timeout)
        if name == fixed_name and ranks[0] == 1:  # the large shard is the measured 1-rank run itself
            big, t_big = n_fixed, _median_iter(rec1, "iter_s")
        else:
            big, t_big = 4000, _median_iter(recs[4000])
        t_small = _median_iter(recs[small])
        c = max(t_big - t_small, 1e-12) / (big - small)
        calib[name] = {"c_s_per_sample": c, "t_fixed_s": t_small, "samples": [big, small], "data": data,
                       "time_per_iter_s": {str(big): t_big, str(small): t_small}}
        log(f"scaling: calibration {name} {widths}: {c * 1e6:.3f} us/sample/iteration + {t_small * 1e3:.2f} ms fixed")

    # 4. Iterations to target: from the measured run for its own network, from a one-rank run on the
    #    stand-in data (embedded HIGGS rows, the synthetic SVHN-shaped task) for the other.
    iters_to_target, notes = {}, {}
    for name, problem in PROBLEMS.items():
        widths, target = problem.widths, problem.target
        data = networks[name][1]
        if name == fixed_name:
            k, _ = _iters_to(rec1, target)
            src = f"measured in the 1-rank run above ({rec1['dataset']}, {rec1['n_train']:,} samples)"
        elif name == "svhn" and args.svhn_iters_to_target is not None:
            k, src = args.svhn_iters_to_target, "given with --svhn-iters-to-target"
        else:
            cap = "60" if args.quick else "150"
            rec_k = _launch(1, ["train", "--dataset", data, "--hidden", ",".join(str(w) for w in widths[1:-1]), "--iters", cap,
                                "--quiet", "--layerwise", "0", "--target-acc", str(target)] + (["--n-train", "6000"] if args.quick else []),
                            os.path.join(out_dir, f"iters_to_target_{name}.json"), args.timeout)
            k, _ = _iters_to(rec_k, target)
            src = f"measured on {rec_k['dataset']} ({rec_k['n_train']:,} samples, one rank)"
        iters_to_target[name] = k
        notes[name] = (src + ", assumed to carry over to the paper's data size") if k else f"{target:.0%} not reached ({src})"

    # 5. Measured points against the model with this machine's network.
    measured_rows = []
    for p in ranks:
        rec = records[p]
        t_it, t_comm = _median_iter(rec), _median_iter(rec, "comm_s")
        k, t_target = _iters_to(rec, args.target_acc)
        row = {"ranks": p, "n_train": rec["n_train"], "time_per_iter_s": t_it, "compute_s": t_it - t_comm, "comm_s": t_comm,
               "iters_to_target": k, "time_to_target_s": t_target, "final_test_acc": rec["final"]["test_acc"],
               "speedup": _median_iter(records[ranks[0]]) / t_it * ranks[0]}
        if here.get("alpha_s"):
            cal = calib[fixed_name]
            m = predict_iteration(widths_fixed, rec["n_train"], p, cal["c_s_per_sample"], cal["t_fixed_s"],
                                  here["alpha_s"], here["bandwidth_Bps"])
            row["model_time_per_iter_s"] = m["time_per_iter_s"]
        measured_rows.append(row)

    # 6. The model at the paper's sizes with the assumed interconnect.
    model_rows = []
    for name, problem in PROBLEMS.items():
        widths, n_total = problem.widths, problem.n_train
        cal = calib[name]
        for P in MODEL_CORES:
            m = predict_iteration(widths, n_total, P, cal["c_s_per_sample"], cal["t_fixed_s"], args.latency, args.bandwidth)
            k = iters_to_target[name]
            model_rows.append({"problem": name, "cores": P, "samples_per_core": n_total / P, **m,
                               "iters_to_target": k, "time_to_target_s": k * m["time_per_iter_s"] if k else None})

    meta = base_record(method="admm-scaling", dataset={"name": args.dataset, "n_train": rec1["n_train"], "n_test": rec1["n_test"]},
                       layers=widths_fixed, backend=None, dtype=rec1["dtype"], ranks=max(ranks), config=vars_clean(args))
    meta.pop("history")
    meta.pop("final")
    summary = dict(meta, measured=measured_rows, model=model_rows, calibration=calib, network_here=here,
                   network_assumed={"alpha_s": args.latency, "bandwidth_Bps": args.bandwidth},
                   iters_to_target=iters_to_target, iters_to_target_notes=notes,
                   model_formula="T_iter(P) = t_fixed + c N / P + sum_m ceil(log2 P) (alpha + 8 m / B)")
    write_json_atomic(os.path.join(out_dir, "scaling.json"), summary)
    write_csv_atomic(os.path.join(out_dir, "scaling.csv"), measured_rows)
    write_csv_atomic(os.path.join(out_dir, "model.csv"), model_rows)
    write_text_atomic(os.path.join(out_dir, "scaling.md"), _markdown(summary))
    print(_markdown(summary))
    return 0


def vars_clean(args) -> dict:
    return {k: v for k, v in vars(args).items() if k != "func"}


def _fmt(x, unit=""):
    if x is None:
        return "n/a"
    if isinstance(x, float):
        if x >= 100:
            return f"{x:,.0f}{unit}"
        return f"{x:.4g}{unit}"
    return f"{x}{unit}"


def _markdown(s) -> str:
    m = s["machine"]
    lines = [
        "# Strong scaling of ADMM over MPI ranks",
        "",
        f"Command: `{s['command']}`  ",
        f"Commit: `{s['commit']}`, date {s['date']}  ",
        f"Machine: {m.get('cpu')} ({m.get('cores')} cores, {m.get('memory_gib')} GiB), NumPy backend, {s['dtype']}, one rank per core",
        "",
        f"## Measured: {s['dataset']} ({s['n_train']:,} training samples), layers {s['layers']}",
        "",
        "| ranks | s / iteration | compute | communication (+ wait) | speedup | model (this machine) | iterations to target | time to target |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in s["measured"]:
        lines.append(f"| {r['ranks']} | {_fmt(r['time_per_iter_s'])} | {_fmt(r['compute_s'])} | {_fmt(r['comm_s'])} | "
                     f"{_fmt(r['speedup'])}x | {_fmt(r.get('model_time_per_iter_s'))} | {_fmt(r['iters_to_target'])} | "
                     f"{_fmt(r['time_to_target_s'], ' s')} |")
    here = s["network_here"]
    lines += ["", "Times are medians over iterations after the first; communication is the time in allreduce calls on rank 0, "
              "which includes waiting for the slowest rank.", ""]
    lines += ["## Model", "", f"`{s['model_formula']}`", "",
              "| input | value | source |", "|---|---|---|"]
    for name, cal in s["calibration"].items():
        lines.append(f"| c ({name}) | {cal['c_s_per_sample'] * 1e6:.4g} us per sample and iteration | measured here, one core "
                     f"({cal['data']}, {cal['samples'][0]:,} and {cal['samples'][1]} samples) |")
        lines.append(f"| t_fixed ({name}) | {cal['t_fixed_s'] * 1e3:.4g} ms per iteration | measured here with 64 samples |")
    if here.get("alpha_s"):
        lines.append(f"| alpha, B (this machine) | {here['alpha_s'] * 1e6:.3g} us, {here['bandwidth_Bps'] / 1e9:.3g} GB/s | measured here (shared memory, {here.get('ranks')} ranks) |")
    na = s["network_assumed"]
    lines.append(f"| alpha, B (cluster) | {na['alpha_s'] * 1e6:.3g} us, {na['bandwidth_Bps'] / 1e9:.3g} GB/s | assumed: a typical HPC interconnect |")
    for name, k in s["iters_to_target"].items():
        lines.append(f"| K ({name}) | {_fmt(k)} | {s['iters_to_target_notes'][name]} |")
    lines += ["", "## Predicted at the paper's sizes (a model, not a measurement)", "",
              "| problem | cores | samples/core | s / iteration | of which communication | time to target |",
              "|---|---:|---:|---:|---:|---:|"]
    for r in s["model"]:
        if r["cores"] in (1, 16, 256, 1024, 2496, 4096, 7200):
            lines.append(f"| {r['problem']} | {r['cores']:,} | {r['samples_per_core']:,.0f} | {_fmt(r['time_per_iter_s'])} | "
                         f"{_fmt(r['comm_s'])} | {_fmt(r['time_to_target_s'], ' s')} |")
    lines.append("")
    return "\n".join(lines)
