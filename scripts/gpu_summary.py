"""Summarise a device check's records (scripts/device_check.sh) as markdown."""
from __future__ import annotations

import json
import os
import sys


def load(folder, name):
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def main(folder: str) -> None:
    print("# GPU device check\n")
    any_rec = None
    rows = []
    for name, label in (("bench_higgs.json", "HIGGS scale"), ("bench_higgs_f64.json", "HIGGS scale"),
                        ("bench_naive.json", "1M, with naive"), ("bench_svhn.json", "SVHN scale")):
        r = load(folder, name)
        if r is None:
            rows.append(f"| {label} | not produced (see tests.log) | | | | | | |")
            continue
        any_rec = any_rec or r
        naive = f"{r['speedup_vs_naive']:.1f}x" if r.get("speedup_vs_naive") else "-"
        at_products = f"{r['floor_ratio_at_product_rates']:.2f}" if r.get("floor_ratio_at_product_rates") else "-"
        rows.append(f"| {label} | {r['n']:,} x {r['layers']} {r['dtype']} | {r['time_per_iter_s']:.4f} s | "
                    f"{r['gemm']['gflops']:.0f} GFLOP/s | {r['gemm_fraction']:.2f} | {r['floor_ratio']:.2f} | {at_products} | {naive} |")
    if any_rec:
        gpu = any_rec["machine"].get("gpu", {})
        print(f"Device: {gpu.get('name', '?')} ({gpu.get('memory_gib', '?')} GiB); commit `{any_rec['commit']}`; date {any_rec['date']}.")
        print("Data at the paper's sizes is synthetic (made on the device), not HIGGS or SVHN.\n")
    print("| run | shape | s / iteration | GEMM rate | of GEMM rate | time / floor | time / floor at product rates | vs naive |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(row)
    t = load(folder, "train_gpu.json")
    if t:
        f = t["final"]
        print(f"\n`admm-xp train --device cuda` on the embedded HIGGS rows: test accuracy {f['test_acc']:.4f} after "
              f"{f['iters']} iterations, {f['train_s']:.2f} s of training (warm-up {f.get('warmup_s', 0):.2f} s excluded), "
              f"peak device memory {f.get('peak_device_memory_bytes', 0) / 2**20:.0f} MiB.")
    b = load(folder, "baselines_gpu.json")
    if b:
        print("\n| baseline on the GPU (synthetic data) | data | best test accuracy | training time |\n|---|---|---:|---:|")
        for r in b:
            print(f"| {r['method']} | {r['dataset']} {r['n_train']:,} x {r['layers']} | "
                  f"{r['final'].get('best_test_acc', 0):.4f} | {r['final'].get('train_s', 0):.1f} s |")
    print()


if __name__ == "__main__":
    main(sys.argv[1])
