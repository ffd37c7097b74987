"""Markdown table of `admm-xp bench` records: python scripts/bench_table.py results/bench/*.json

One row per record, then the command, commit and machine of each, then, for every shape and
dtype with several records of the same commit (repeated runs), the spread of their time / floor
ratios (records of different commits are not pooled: the code may differ).
"""
from __future__ import annotations

import json
import statistics
import sys

HEADER = ("| shape | method | dtype | N | time / iteration | floor | time / floor | floor at product rates | time / that floor "
          "| Gram rate / GEMM rate | vs naive | peak memory / state |\n"
          "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def method(r: dict) -> str:
    """The preset and the options that change the iteration's work (the Lagrangian, the loss, Anderson,
    residual balancing): a Lagrangian asked for on the command line (the record's ``method``) is named as an
    option, the preset's own one (``auto`` resolved by the shape) in brackets."""
    c = r.get("config", {})
    asked = r.get("method") or {}
    parts = [str(c.get("preset", "default")).split("+")[0]]
    if asked.get("lagrangian"):
        parts.append(f"lagrangian {asked['lagrangian']}")
    elif c.get("lagrangian") not in (None, "auto"):
        parts[0] += f" ({c['lagrangian']} Lagrangian)"
    if c.get("loss", "hinge") != "hinge":
        parts.append(c["loss"])
    if c.get("anderson"):
        parts.append(f"Anderson {c['anderson']} ({c.get('anderson_on', 'weights')})")
    if c.get("residual_balancing"):
        parts.append("residual balancing")
    return ", ".join(parts)


def row(r: dict) -> str:
    grams = [p["gflops"] / r["gemm"]["gflops"] for p in r.get("products", []) if p["gram"] and p["gflops"]]
    naive = f"{r['speedup_vs_naive']:.0f}x" if r.get("speedup_vs_naive") else "-"
    if r.get("floor_at_product_rates_s"):  # records from before the product timings lack it
        at_products = f"{r['floor_at_product_rates_s']:.3f} s | {r['floor_ratio_at_product_rates']:.2f}"
    else:
        at_products = "- | -"
    return (f"| {'-'.join(str(w) for w in r['layers'])} | {method(r)} | {r['dtype']} | {r['n']:,} | {r['time_per_iter_s']:.3f} s "
            f"| {r['floor_s']:.3f} s | {r['floor_ratio']:.2f} | {at_products} "
            f"| {', '.join(f'{g:.2f}' for g in grams) or '-'} | {naive} | {r['peak_memory_ratio']:.2f} |")


def spread(recs: list[dict]) -> list[str]:
    """One line per (shape, method, dtype, commit) run more than once: the range and median of time / floor."""
    groups: dict = {}
    for r in recs:
        key = ("-".join(str(w) for w in r["layers"]), method(r), r["dtype"], r["n"], r["commit"][:7])
        groups.setdefault(key, []).append(r)
    lines = []
    for (shape, meth, dtype, n, commit), rs in groups.items():
        if len(rs) < 2:
            continue
        ratios = sorted(r["floor_ratio"] for r in rs)
        times = sorted(r["time_per_iter_s"] for r in rs)
        lines.append(f"- {shape} {meth} {dtype}, N = {n:,}, commit `{commit}`: {len(rs)} runs, time / floor {ratios[0]:.2f} to {ratios[-1]:.2f} "
                     f"(median {statistics.median(ratios):.2f}), time / iteration {times[0]:.3f} to {times[-1]:.3f} s")
    return lines


def main(paths: list[str]) -> None:
    recs = [json.load(open(p)) for p in paths]
    if not recs:
        sys.exit("bench_table: name one or more bench records (JSON)")
    print(HEADER)
    for r in recs:
        print(row(r))
    print()
    for p, r in zip(paths, recs):
        m = r["machine"]
        print(f"- `{p.rsplit('/', 1)[-1]}`: `{r['command']}`, commit `{r['commit'][:7]}`, {r['date']}, {m.get('cpu')} "
              f"({m.get('cores')} cores), {r['backend']} {r['dtype']}, {r['ranks']} rank(s) x {r.get('threads')} thread(s), "
              f"GEMM {r['gemm']['gflops']:.0f} GFLOP/s, copy {r['bandwidth']['GBps']:.1f} GB/s")
    lines = spread(recs)
    if lines:
        print()
        print("Repeated runs:")
        print()
        print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
