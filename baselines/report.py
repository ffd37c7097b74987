"""The table of ``results/baselines/README.md``, made from the run records beside it.

``python -m baselines.report FOLDER [ADMM_RECORD]`` reads the method runs
in FOLDER (``sgd.json``, ``adam.json``, ``cg.json``, ``lbfgs.json``, those
present), the logistic regression (``logistic_regression.json``), the
searches that chose their settings (``lr_search_*.json``,
``l2_search_*.json``) and, for reference, ADMM's record on the same network
(by default ``train_default.json`` in FOLDER's parent folder, the quick
start's), and writes the markdown table with the exact commands to
FOLDER/README.md. Nothing in it is typed in by hand.
"""
from __future__ import annotations

import json
import os
import sys

from admm_xp.runrecord import write_text_atomic

TARGET = 0.64
RUNS = (("sgd", "SGD (Nesterov momentum, cosine decay)"), ("adam", "Adam"), ("cg", "nonlinear CG (PR+)"),
        ("lbfgs", "L-BFGS (m = 10)"), ("logistic_regression", "logistic regression (no hidden layer), L-BFGS"))
SEARCHES = ("lr_search_sgd", "lr_search_adam", "l2_search_cg", "l2_search_lbfgs")
TUNED = ("lr", "batch_size", "l2", "history", "schedule")


def time_to(history, acc: float):
    """Training seconds until the test accuracy first reached ``acc`` (None if never)."""
    return next((h["time_s"] for h in history if (h.get("test_acc") or 0.0) >= acc), None)


def _load(path):
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def _fmt(v, spec=".4f", unit=""):
    return "n/a" if v is None else f"{v:{spec}}{unit}"


def _settings(rec) -> str:
    cfg = rec["config"]
    parts = [f"{k.replace('_', ' ')} {cfg[k]:g}" if isinstance(cfg[k], (int, float)) else f"{k} {cfg[k]}"
             for k in TUNED if k in cfg]
    return ", ".join([f"{cfg['loss']} loss", *parts])


def table(folder: str, admm_record: str | None) -> str:
    runs = [(label, _load(os.path.join(folder, f"{name}.json"))) for name, label in RUNS]
    runs = [(label, rec) for label, rec in runs if rec is not None]
    if not runs:
        raise SystemExit(f"{folder}: no baseline run records")
    first = runs[0][1]
    m = first["machine"]
    lines = [
        "# Gradient baselines on the embedded HIGGS rows", "",
        "Written by `scripts/run_baselines.sh` (through `python -m baselines.report`) from the records in this folder.",
        f"Commit `{first['commit']}`, {first['date']}; {m.get('cpu')} ({m.get('affinity_cores', m.get('cores'))} cores), "
        f"{first['backend']} {first['dtype']}, {first['ranks']} process.", "",
        f"Data: {first['dataset']}, {first['n_train']:,} training and {first['n_test']:,} test rows. Network: "
        f"{first['layers']} (ReLU, no bias, He initialisation, seed {first['config']['seed']}), ADMM's network. "
        "Settings: chosen by the searches below on validation rows carved from the training rows; the test "
        "split was never used to choose anything. Times are training seconds (device synchronised, evaluation "
        "excluded); the test accuracy is measured after every epoch (SGD, Adam) or iteration (CG, L-BFGS).", "",
        f"| method | settings | time to {TARGET} test acc | best test acc | final test acc | training time | passes | stop |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for label, rec in runs:
        fin = rec["final"]
        lines.append(f"| {label} | {_settings(rec)} | {_fmt(time_to(rec['history'], TARGET), '.2f', ' s')} | "
                     f"{_fmt(fin['best_test_acc'])} | {_fmt(fin['test_acc'])} | {_fmt(fin['train_s'], '.1f', ' s')} | "
                     f"{_fmt(fin.get('passes'), 'g')} | {fin['stop_reason']} |")
    admm = _load(admm_record) if admm_record else None
    if admm is not None:
        fin = admm["final"]
        lines += ["", f"For reference, ADMM's default preset on the same network (`{os.path.relpath(admm_record)}`, commit "
                      f"`{admm['commit']}`, `{admm['command']}`, {admm['machine'].get('cpu')}): time to {TARGET} "
                      f"{_fmt(time_to(admm['history'], TARGET), '.2f', ' s')}, best test accuracy "
                      f"{_fmt(fin['best_test_acc'])}, final {_fmt(fin['test_acc'])}, {_fmt(fin['train_s'], '.1f', ' s')} "
                      f"of training ({fin['iters']} iterations)."]
    searches = [(name, _load(os.path.join(folder, f"{name}.json"))) for name in SEARCHES]
    searches = [(name, rec) for name, rec in searches if rec is not None]
    if searches:
        lines += ["", "## Searches (validation rows, not the test split)", "",
                  "| search | grid | chosen | validation accuracy |", "|---|---|---|---:|"]
        for name, rec in searches:
            grid = "; ".join(f"{k.replace('_', ' ')} {', '.join(f'{v:g}' for v in vs)}"
                             for k, vs in rec["config"]["grid"].items())
            chosen = ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in rec["final"]["chosen"].items())
            lines.append(f"| `{name}.json` | {grid} | {chosen} | {rec['final']['score']:.4f} |")
        cfg = searches[0][1]["config"]
        lines += ["", f"Score: {cfg['score']}; {cfg['epochs']} epochs (passes) per grid point, as the runs above."]
    lines += ["", "## Commands", "", "```"]
    lines += [rec["command"] for _, rec in searches]
    for name, _ in RUNS:
        rec = _load(os.path.join(folder, f"{name}.json"))
        if rec is not None:
            lines.append(rec["command"])
    lines += ["```", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = argv[0] if argv else os.path.join("results", "baselines")
    if len(argv) > 1 and not os.path.isfile(argv[1]):
        raise SystemExit(f"{argv[1]}: no such ADMM run record to cite (give an existing record, or none for the quick start's)")
    admm = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(folder)), "train_default.json")
    text = table(folder, admm if os.path.exists(admm) else None)
    write_text_atomic(os.path.join(folder, "README.md"), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
