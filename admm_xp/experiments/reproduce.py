"""``admm-xp reproduce``: the paper's four panels, regenerated on this machine.

Figure 1 is SVHN (digit 0 against digit 2, target 95% test accuracy, hidden
layers 100 and 50), Figure 2 is HIGGS (target 64%, hidden layer 300); the
networks are the paper's unless --hidden-svhn / --hidden-higgs say otherwise:

* **1a / 2a**: time for ADMM to reach the target against the number of
  cores (log x): points measured here on 1..P ranks (``admm-xp scaling``),
  and the scaling model's prediction out to the paper's 2,496 / 7,200 cores,
  drawn as a dashed line and labelled as a model; the baselines' times to the
  same target on this machine (and on a GPU, when a device check has
  recorded them) as horizontal reference lines.
* **1b / 2b**: test accuracy against training time (log x) for ADMM (the
  default preset and the paper's), SGD, Adam, nonlinear CG and L-BFGS, on
  the same data and network.

ADMM trains the whole network at once, as the paper does (``--layerwise 0``:
Algorithm 1's iteration, the one the scaling model counts); where the network
has two or more hidden layers, 1b / 2b also show the default preset's own
training of it, one hidden layer at a time (``admm (layer-wise)``).

Data: the full HIGGS / SVHN files in ``--data-dir`` when present, else the
embedded real HIGGS rows and a synthetic SVHN-shaped task; the titles and
CSV files say which. Every panel writes a PNG (with matplotlib), the CSV of
its points, and the run records it came from, under ``--out``.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time

from ..cli.options import parse_widths
from ..runtime.atomic import write_csv_atomic
from ..errors import ConfigError, UserError
from ..paper import PROBLEMS
from .curves import curves as run_curves, plot_curves, subtitle, summarise, time_to
from .scaling import STAND_INS, rank_list

FIGURES = {"1a": ("svhn", "cores"), "1b": ("svhn", "time"), "2a": ("higgs", "cores"), "2b": ("higgs", "time")}
BASELINES = ("sgd", "adam", "cg", "lbfgs")


def _hidden(args, problem: str) -> str:
    """The hidden widths for a problem: --hidden-higgs / --hidden-svhn, else the paper's."""
    return getattr(args, f"hidden_{problem}", None) or PROBLEMS[problem].hidden_text


def _budget(args, problem: str) -> dict:
    """Iterations and time limits per run; --quick keeps the whole command under ten minutes on two cores."""
    if args.iters_override or args.max_time_override or args.n_train:
        return {"iters": args.iters_override or 30, "max_time": args.max_time_override or 10.0, "n_train": args.n_train}
    if args.quick:
        return {"higgs": {"iters": 100, "max_time": 20.0, "n_train": None},
                "svhn": {"iters": 40, "max_time": 20.0, "n_train": 6000}}[problem]
    return {"higgs": {"iters": 300, "max_time": 600.0, "n_train": None},
            "svhn": {"iters": 150, "max_time": 300.0, "n_train": None}}[problem]


def _data(args, problem: str) -> tuple[str, bool]:
    """(data set name, synthetic?) for a problem: the full files when present, else the stand-in."""
    d = args.data_dir
    if problem == "higgs" and d and any(os.path.exists(os.path.join(d, f)) for f in ("HIGGS.npy", "HIGGS.csv.gz", "HIGGS.csv")):
        return "higgs", False
    if problem == "svhn" and d and all(os.path.exists(os.path.join(d, f)) for f in ("train_32x32.mat", "test_32x32.mat")):
        return "svhn", False
    name = STAND_INS[problem]
    return name, name.startswith("synthetic")


def _run(cmd_args: list, out: str, label: str, log, timeout: int, env=None) -> dict | None:
    tty = sys.stderr.isatty()
    cmd = [sys.executable, "-m", "admm_xp", *cmd_args, "--out", out] + ([] if tty else ["--quiet"])
    t0 = time.monotonic()
    try:
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None if tty else subprocess.PIPE, text=True, timeout=timeout,
                             env=env or dict(os.environ, PYTHONUNBUFFERED="1"))
    except subprocess.TimeoutExpired:
        log(f"reproduce: {label} FAILED (took longer than --timeout {timeout} s)")
        return None
    if res.returncode != 0 or not os.path.exists(out):
        tail = ((res.stderr or "").strip().splitlines() or ["(no message)"])[-1]
        log(f"reproduce: {label} FAILED ({tail})")
        return None
    with open(out) as fh:
        rec = json.load(fh)
    log(f"reproduce: {label}: best test accuracy {rec['final'].get('best_test_acc', 0):.4f} in "
        f"{time.monotonic() - t0:.0f} s")
    return rec


def _meta(args, figure, data, synthetic, records) -> dict:
    from ..runrecord import base_record

    rec = base_record(method=f"reproduce-{figure}", dataset={"name": data, "synthetic": synthetic}, layers=[], backend=None,
                      dtype="float64" if args.device == "cpu" else "float32", ranks=1,
                      config={"figure": figure, "quick": args.quick, "device": args.device})
    rec.pop("history")
    rec["final"] = {"records": records}
    return rec


def _panel_setup(args, fig: str):
    """(problem, its PROBLEMS entry, data set, synthetic?, budget, output folder, created) of one panel."""
    problem, _ = FIGURES[fig]
    data, synthetic = _data(args, problem)
    folder = os.path.join(args.out, f"fig{fig}")
    os.makedirs(folder, exist_ok=True)
    return problem, PROBLEMS[problem], data, synthetic, _budget(args, problem), folder


def _drop_stale_panel(folder: str, fig: str, log) -> None:
    """Remove a panel (PNG, CSV, JSON) left in ``folder`` by an earlier run, when this run could not
    make a new one: it would otherwise pass for this run's result (and summary.md would list it)."""
    stale = [os.path.join(folder, f"fig{fig}.{ext}") for ext in ("png", "csv", "json")]
    stale = [p for p in stale if os.path.exists(p)]
    for path in stale:
        os.remove(path)
    if stale:
        log(f"reproduce: figure {fig}: removed the panel of an earlier run from {folder}")


def figure_time(args, fig: str, log, failed: list | None = None) -> dict | None:
    """1b / 2b: accuracy against time for every method.

    A run that fails is logged and named in ``failed``; the panel holds the runs that succeeded, and
    nothing is written when none did (the return value is then None)."""
    from ..runrecord import write_json_atomic

    failed = [] if failed is None else failed

    problem, P, data, synthetic, b, folder = _panel_setup(args, fig)
    common = ["--dataset", data, "--hidden", _hidden(args, problem), "--device", args.device]
    if args.data_dir:
        common += ["--data-dir", args.data_dir]
    if b["n_train"]:
        common += ["--n-train", str(b["n_train"])]
    length = ["--iters", str(b["iters"]), "--max-time", str(b["max_time"])]
    runs = [("admm", ["train", *common, "--layerwise", "0", *length]),
            ("admm (paper preset)", ["train", *common, "--preset", "paper", *length])]
    if len(parse_widths(_hidden(args, problem))) > 1:  # and as the default trains a deeper network elsewhere
        runs.append(("admm (layer-wise)", ["train", *common, *length]))
    runs += [(m, ["baseline", "--method", m, *common, "--max-time", str(b["max_time"])]) for m in BASELINES]
    records = {}
    for i, (label, cmd) in enumerate(runs, 1):
        fname = label.replace(" (paper preset)", "_paper").replace(" (layer-wise)", "_layerwise") + ".json"
        if _run(cmd, os.path.join(folder, fname), f"figure {fig}: {label} ({i}/{len(runs)})", log, args.timeout) is not None:
            records[label] = fname
        else:
            failed.append(f"figure {fig}: {label}")
    if not records:
        log(f"reproduce: figure {fig}: every run failed; no panel written")
        _drop_stale_panel(folder, fig, log)
        return None
    rows, curves, n_train = _time_panel(folder, fig, data, synthetic, records)
    write_csv_atomic(os.path.join(folder, f"fig{fig}.csv"), rows)
    meta = _meta(args, fig, data, synthetic, records)
    meta["summary"] = {label: {**{k: v for k, v in summarise(pts, P.target).items()
                                  if k in ("best_test_acc", "time_to_target_s")}, "n_train": n_train[label]}
                       for label, pts in curves.items() if pts}
    write_json_atomic(os.path.join(folder, f"fig{fig}.json"), meta)
    _plot_time(folder, fig, data, synthetic, records, curves)
    return meta


def _time_panel(folder, fig, data, synthetic, records) -> tuple[list, dict, dict]:
    """CSV rows, (time, test accuracy) curves and training-set sizes of the run records ``{label: file}``."""
    rows, n_train, loaded = [], {}, {}
    for label, fname in records.items():
        with open(os.path.join(folder, fname)) as fh:
            loaded[label] = json.load(fh)
    curves = run_curves(loaded)  # the curves `admm-xp compare` draws
    for label, rec in loaded.items():
        n_train[label] = rec.get("n_train")
        for h in rec["history"]:
            if h.get("test_acc") is not None:
                rows.append({"figure": fig, "method": label, "data": data, "synthetic": synthetic, "iter": h["iter"],
                             "time_s": h["time_s"], "test_acc": h["test_acc"], "train_acc": h.get("train_acc")})
    return rows, curves, n_train


def _plot_time(folder, fig, data, synthetic, records, curves) -> None:
    """The panel's PNG, drawn as `admm-xp compare` draws compare.png."""
    problem = FIGURES[fig][0]
    title = f"Figure {fig}: {'SVHN' if problem == 'svhn' else 'HIGGS'}, test accuracy against time"
    plot_curves(os.path.join(folder, f"fig{fig}.png"), curves, PROBLEMS[problem].target, title,
                        _describe(data, synthetic, records, folder))


def _describe(data, synthetic, records, folder) -> str:
    first = next(iter(records.values()), None)
    if not first:
        return data
    with open(os.path.join(folder, first)) as fh:
        return subtitle(json.load(fh), data, synthetic)


def figure_cores(args, fig: str, log, failed: list | None = None) -> dict | None:
    """1a / 2a: time to target against cores, measured and modelled, with reference lines.

    When the scaling runs fail, that is logged and named in ``failed``, nothing is written and the
    return value is None."""
    from ..runrecord import write_json_atomic

    failed = [] if failed is None else failed
    problem, P, data, synthetic, b, folder = _panel_setup(args, fig)
    cmd = [sys.executable, "-m", "admm_xp", "scaling", "--dataset", data, "--hidden", _hidden(args, problem),
           "--iters", str(max(b["iters"], 40)), "--target-acc", str(P.target), "--out-dir", os.path.join(folder, "scaling"),
           "--timeout", str(args.timeout)]
    ranks = _scaling_ranks(args)
    if args.ranks:
        cmd += ["--rank-counts", ",".join(str(p) for p in ranks)]
    if args.data_dir and not synthetic and data in ("higgs", "svhn"):
        cmd += ["--data-dir", args.data_dir]
    if b["n_train"]:
        cmd += ["--n-train", str(b["n_train"])]
    if args.quick or args.iters_override:
        cmd += ["--quick"]
    log(f"reproduce: figure {fig}: ADMM on 1..P ranks and the scaling model ...")
    # Each scaling run has its own --timeout; this outer limit only guards against a hung launcher.
    outer = args.timeout * (len(ranks) + 8) + 600
    try:
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=outer)
    except subprocess.TimeoutExpired:
        res = None
    if res is None or res.returncode != 0:
        why = f"took longer than {outer} s" if res is None else (res.stderr.strip().splitlines() or ["?"])[-1]
        log(f"reproduce: figure {fig}: the scaling runs FAILED ({why})")
        failed.append(f"figure {fig}: the scaling runs")
        _drop_stale_panel(folder, fig, log)
        return None
    panel = _cores_panel(args.out, fig, data, synthetic)
    write_csv_atomic(os.path.join(folder, f"fig{fig}.csv"), panel["rows"])
    meta = _meta(args, fig, data, synthetic, {"scaling": "scaling/scaling.json"})
    meta["summary"] = panel["summary"]
    write_json_atomic(os.path.join(folder, f"fig{fig}.json"), meta)
    _plot_cores(folder, fig, panel)
    return meta


def _cores_panel(out, fig, data, synthetic) -> dict:
    """Everything figure 1a / 2a shows, from ``fig<fig>/scaling/scaling.json`` and the accuracy-against-time
    panel of the same problem (the baselines' reference lines): CSV rows, a summary and the plot's series."""
    problem, _ = FIGURES[fig]
    P = PROBLEMS[problem]
    with open(os.path.join(out, f"fig{fig}", "scaling", "scaling.json")) as fh:
        sc = json.load(fh)
    measured = [(r["ranks"], r["time_to_target_s"]) for r in sc["measured"]]
    model = [(r["cores"], r["time_to_target_s"]) for r in sc["model"] if r["problem"] == problem]
    n_here, n_paper = sc["measured"][0]["n_train"], P.n_train
    model_here = _model_at_this_size(sc, problem, n_here)
    net_here, net_paper = ("-".join(str(w) for w in ws) for ws in (sc["layers"], P.widths))
    models = [(f"ADMM, model at this data size ({n_here:,} samples, {net_here}; not measured)", model_here, "-."),
              (f"ADMM, model at the paper's size ({n_paper:,} samples, {net_paper}; not measured)", model, "--")]
    refs, rows = [], []
    time_fig = f"{P.figure}b"
    tf = os.path.join(out, f"fig{time_fig}", f"fig{time_fig}.json")
    if os.path.exists(tf):
        with open(tf) as fh:
            tmeta = json.load(fh)
        for label, s in tmeta.get("summary", {}).items():
            if label.startswith("admm"):
                continue
            n = f", {s['n_train']:,} samples" if s.get("n_train") else ""
            refs.append((f"{label}{n}, this machine's CPU (1 process)", s["time_to_target_s"], "--"))
    for path in sorted(glob.glob(os.path.join(out, "gpu", "*", "baselines_gpu.json"))):
        with open(path) as fh:
            for r in json.load(fh):
                if r.get("dataset") == data or (problem == "higgs" and "higgs" in str(r.get("dataset"))):
                    refs.append((f"{r['method']}, {r.get('n_train') or 0:,} samples, GPU: {r['machine'].get('gpu', {}).get('name', '?')}",
                                 time_to(run_curves({"r": r})["r"], P.target), "-."))
    for c, t in measured:
        rows.append({"figure": fig, "kind": "measured", "cores": c, "time_to_target_s": t, "label": "ADMM, measured",
                     "data": data, "synthetic": synthetic})
    for c, t in model_here:
        rows.append({"figure": fig, "kind": "model (this data)", "cores": c, "time_to_target_s": t, "label": "ADMM, model",
                     "data": f"{data} ({n_here:,} samples)", "synthetic": True})
    for c, t in model:
        rows.append({"figure": fig, "kind": "model (paper size)", "cores": c, "time_to_target_s": t, "label": "ADMM, model",
                     "data": f"paper size ({n_paper:,} samples)", "synthetic": True})
    for label, t, _ in refs:
        rows.append({"figure": fig, "kind": "reference", "cores": "", "time_to_target_s": t, "label": label, "data": data,
                     "synthetic": synthetic})
    summary = {"measured": measured, "model_at_paper_cores": next((t for c, t in model if c == P.cores), None),
               "model_this_size": model_here,
               "references": [(l, t) for l, t, _ in refs], "iters_to_target": sc["iters_to_target"].get(problem)}
    m = sc["machine"]
    sub = (f"{'SYNTHETIC stand-in ' if synthetic else ''}{data} ({n_here:,} samples) measured here ({m.get('cpu')}, "
           f"{m.get('cores')} cores); model lines: calibrated here, assumed interconnect "
           f"({sc['network_assumed']['alpha_s'] * 1e6:g} us, {sc['network_assumed']['bandwidth_Bps'] / 1e9:g} GB/s), "
           f"{_iteration_counts(sc, problem)}; commit {sc['commit'][:10]}")
    title = f"Figure {fig}: {'SVHN' if problem == 'svhn' else 'HIGGS'}, time to {P.target:.0%} test accuracy against cores"
    return {"rows": rows, "summary": summary, "plot": (measured, models, refs, title, sub, P.cores)}


def _plot_cores(folder, fig, panel) -> None:
    from . import figures

    if figures.have_matplotlib():
        figures.time_vs_cores(os.path.join(folder, f"fig{fig}.png"), *panel["plot"])


def plot_only(out: str, fig: str) -> None:
    """Redraw one panel's PNG from the files an earlier ``admm-xp reproduce`` left in ``out`` (no runs; the
    CSV and JSON files stay as they are)."""
    folder = os.path.join(out, f"fig{fig}")
    path = os.path.join(folder, f"fig{fig}.json")
    if not os.path.exists(path):
        raise UserError(f"--plot-only: {path} does not exist; run `admm-xp reproduce --figure {fig}` first")
    with open(path) as fh:
        meta = json.load(fh)
    data, synthetic = meta["dataset"], bool(meta["dataset_info"].get("synthetic"))
    if FIGURES[fig][1] == "time":
        records = meta["final"]["records"]
        _, curves, _ = _time_panel(folder, fig, data, synthetic, records)
        _plot_time(folder, fig, data, synthetic, records, curves)
    else:
        _plot_cores(folder, fig, _cores_panel(out, fig, data, synthetic))


def _iteration_counts(sc: dict, problem: str) -> str:
    """The iterations to target the model lines use, for the figure's subtitle (one count where they agree)."""
    here, paper = sc["measured"][0]["iters_to_target"], sc["iters_to_target"].get(problem)
    if here == paper:
        return f"{paper} iterations to target"
    return f"{here} iterations to target here, {paper} for the paper's network"


def _model_at_this_size(sc: dict, problem: str, n: int) -> list:
    """The scaling model at the measured problem's own size: (cores, seconds to target) for cores <= samples.

    It is the measured network's model: its calibration, the assumed interconnect, and the iterations to
    target of its own one-rank run, so that at one core it predicts that run. Where the measured network is
    the paper's, this is the paper-size model's iteration count too; where ``--hidden-*`` chose another
    network, the paper-size line keeps the count measured for the paper's network. No count (the one-rank
    run never reached the target): no curve.
    """
    from . import scaling

    widths = tuple(sc["layers"])
    key = problem if tuple(PROBLEMS[problem].widths) == widths else "fixed"
    cal, net = sc["calibration"][key], sc["network_assumed"]
    k = sc["measured"][0]["iters_to_target"]  # the first measured run (the iterates do not depend on the ranks)
    out = []
    for cores in scaling.MODEL_CORES:
        if cores > n:
            break
        m = scaling.predict_iteration(widths, n, cores, cal["c_s_per_sample"], cal["t_fixed_s"], net["alpha_s"], net["bandwidth_Bps"])
        out.append((cores, k * m["time_per_iter_s"] if k else None))
    return out


def _scaling_ranks(args) -> list:
    """The rank counts figures 1a / 2a measure: 1, 2, 4, ... up to --ranks, else up to this machine's cores."""
    return _powers(args.ranks) if args.ranks else rank_list(None)


def _powers(p):
    out, k = [], 1
    while k < p:
        out.append(k)
        k *= 2
    return out + [p]


def register(sub) -> None:
    p = sub.add_parser("reproduce", help="regenerate the paper's figures 1a, 1b, 2a, 2b",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--figure", choices=("1a", "1b", "2a", "2b", "all"), default="all", help="which panel (default all)")
    p.add_argument("--quick", action="store_true", help="small budgets: under ten minutes on two cores (what results/ holds)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] for the accuracy-against-time runs (default cpu)")
    p.add_argument("--ranks", type=int, default=None, metavar="P",
                   help="largest rank count of the measured scaling points (default: this machine's cores)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="an existing folder with the full HIGGS / SVHN files (default: none, the stand-ins: embedded HIGGS "
                        "rows, synthetic SVHN-shaped data)")
    p.add_argument("--hidden-higgs", default=PROBLEMS["higgs"].hidden_text, metavar="W[,W...]",
                   help=f"hidden widths for HIGGS (figures 2a, 2b; default the paper's {PROBLEMS['higgs'].hidden_text})")
    p.add_argument("--hidden-svhn", default=PROBLEMS["svhn"].hidden_text, metavar="W[,W...]",
                   help=f"hidden widths for SVHN (figures 1a, 1b; default the paper's {PROBLEMS['svhn'].hidden_text})")
    p.add_argument("--out", default="results/reproduce", metavar="DIR", help="output folder (default results/reproduce)")
    p.add_argument("--timeout", type=int, default=1800, metavar="S", help="seconds allowed per run, >= 1 (default 1800)")
    p.add_argument("--plot-only", action="store_true",
                   help="run nothing: redraw the PNGs from the records an earlier run left in --out")
    # Overrides for small test runs.
    p.add_argument("--n-train", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--iters-override", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--max-time-override", type=float, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_reproduce)


def cmd_reproduce(args, comm) -> int:
    from ..cli.options import MPIEXEC_HINT, check_data_dir, check_min, check_output_dir, check_positive, find_mpiexec

    if comm.size > 1:
        raise ConfigError("run `admm-xp reproduce` itself without mpiexec: it launches the MPI runs")
    # Every option is checked here, before any run starts or any file is written.
    check_min(args.ranks, "--ranks")
    check_min(args.timeout, "--timeout", hint=" seconds")
    check_min(args.n_train, "--n-train")
    check_min(args.iters_override, "--iters-override")
    check_positive(args.max_time_override, "--max-time-override", " (seconds)")
    check_output_dir(args.out, "--out")
    for opt in ("hidden_higgs", "hidden_svhn"):
        try:
            parse_widths(getattr(args, opt))
        except ConfigError:
            raise ConfigError(f"--{opt.replace('_', '-')} must be comma-separated widths >= 1 such as 300 or 100,50, "
                              f"got {getattr(args, opt)!r}") from None
    todo = ["1b", "2b", "1a", "2a"] if args.figure == "all" else [args.figure]
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    if not args.plot_only:
        from ..runtime.backend import resolve_device

        resolve_device(args.device)  # an unknown or unusable device fails here, in one line
        check_data_dir(args.data_dir)
        if any(FIGURES[f][1] == "cores" for f in todo):
            top = max(_scaling_ranks(args))
            if top > 1 and find_mpiexec() is None:
                raise ConfigError(f"figures 1a and 2a run ADMM on up to {top} MPI ranks and need mpiexec on PATH: "
                                  f"{MPIEXEC_HINT}; or use --ranks 1, or --figure 1b / 2b")
    if args.plot_only:
        from .figures import have_matplotlib

        if not have_matplotlib():
            raise ConfigError("--plot-only needs matplotlib: pip install -e '.[plot]'")
        for fig in todo:
            plot_only(args.out, fig)
            log(f"reproduce: redrew {os.path.join(args.out, f'fig{fig}', f'fig{fig}.png')}")
        return 0
    if args.data_dir:
        for problem in dict.fromkeys(FIGURES[f][0] for f in todo):
            data, _ = _data(args, problem)
            if data == STAND_INS[problem]:
                log(f"reproduce: {args.data_dir} has no full {problem.upper()} files; figures {PROBLEMS[problem].figure}a/b "
                    f"use the stand-in {data}")
    t0 = time.monotonic()
    metas, failed = {}, []
    for fig in todo:
        run = figure_time if FIGURES[fig][1] == "time" else figure_cores
        metas[fig] = run(args, fig, log, failed)
    summary_path = os.path.join(args.out, "summary.md")
    if any(os.path.exists(os.path.join(args.out, f"fig{f}", f"fig{f}.json")) for f in FIGURES):
        summary = summary_markdown(args.out)  # the panels now in the folder, this run's and earlier ones'
        from ..runrecord import write_text_atomic

        write_text_atomic(summary_path, summary)
        print(summary)
    elif os.path.exists(summary_path):  # every panel it listed is gone
        os.remove(summary_path)
    log(f"reproduce: done in {time.monotonic() - t0:.0f} s; outputs in {args.out}")
    if failed:
        print(f"admm-xp: error: {len(failed)} run(s) failed: {'; '.join(failed)} (see the messages above)",
              file=sys.stderr, flush=True)
        return 1
    return 0


def summary_markdown(out: str) -> str:
    """The table that sets the paper's numbers beside ours, from the figures' JSON files in ``out``."""
    from .figures import nice_seconds

    lines = ["# Reproduction summary", "", "| problem | method | paper: time to target (GPU) | ours: time to target | ours: best test accuracy |",
             "|---|---|---:|---:|---:|"]
    for problem, P in PROBLEMS.items():
        path = os.path.join(out, f"fig{P.figure}b", f"fig{P.figure}b.json")
        if os.path.exists(path):
            with open(path) as fh:
                meta = json.load(fh)
            data = meta["dataset"]
            for label, s in meta["summary"].items():
                paper = P.gpu_times.get(label, "-")
                name = {"admm": "admm (default preset, whole network)",
                        "admm (layer-wise)": "admm (default preset, one hidden layer at a time)"}.get(label, label) + ", 1 process"
                lines.append(f"| {problem.upper()} {P.target:.0%} ({data}{', synthetic' if meta['dataset_info'].get('synthetic') else ''}) "
                             f"| {name} | {paper} | {nice_seconds(s['time_to_target_s'])} | {s['best_test_acc']:.4f} |")
        path = os.path.join(out, f"fig{P.figure}a", f"fig{P.figure}a.json")
        if os.path.exists(path):
            with open(path) as fh:
                meta = json.load(fh)
            data = meta["dataset"]
            where = f"{problem.upper()} {P.target:.0%} ({data}{', synthetic' if meta['dataset_info'].get('synthetic') else ''})"
            for ranks, t in meta["summary"]["measured"]:
                lines.append(f"| {where} | admm, {ranks} MPI rank{'s' if ranks > 1 else ''} of one core (measured) | "
                             f"in Fig. {P.figure}a, no number | {nice_seconds(t)} | - |")
            t = meta["summary"].get("model_at_paper_cores")
            lines.append(f"| {problem.upper()} {P.target:.0%} (paper's size, **model**) | admm, {P.cores:,} cores "
                         f"(**predicted**, not measured) | in Fig. {P.figure}a, no number | {nice_seconds(t)} | - |")
    return "\n".join(lines) + "\n"
