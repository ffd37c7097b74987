"""Markdown table of `admm-xp bench` records: python scripts/bench_table.py results/bench/*.json"""
from __future__ import annotations

import json
import sys

HEADER = ("| shape | dtype | N | time / iteration | floor | time / floor | floor at product rates | time / that floor "
          "| Gram rate / GEMM rate | vs naive | peak memory / state |\n"
          "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def row(r: dict) -> str:
    grams = [p["gflops"] / r["gemm"]["gflops"] for p in r.get("products", []) if p["gram"] and p["gflops"]]
    naive = f"{r['speedup_vs_naive']:.0f}x" if r.get("speedup_vs_naive") else "-"
    if r.get("floor_at_product_rates_s"):  # records from before the product timings lack it
        at_products = f"{r['floor_at_product_rates_s']:.3f} s | {r['floor_ratio_at_product_rates']:.2f}"
    else:
        at_products = "- | -"
    return (f"| {'-'.join(str(w) for w in r['layers'])} | {r['dtype']} | {r['n']:,} | {r['time_per_iter_s']:.3f} s "
            f"| {r['floor_s']:.3f} s | {r['floor_ratio']:.2f} | {at_products} "
            f"| {', '.join(f'{g:.2f}' for g in grams) or '-'} | {naive} | {r['peak_memory_ratio']:.2f} |")


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


if __name__ == "__main__":
    main(sys.argv[1:])
