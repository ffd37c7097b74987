#!/usr/bin/env bash
# The GPU check, in one call of under 8 minutes on a lent GPU machine (CuPy,
# PyTorch, mpi4py preinstalled, no network). Run from the repository root:
#
#   OUT=/some/dir scripts/device_check.sh
#
# It needs array-api-compat (and array-api-strict for the test suite's
# fixtures) carried as wheels in .whl/ (see scripts/fetch_device_wheels.sh),
# runs the project from this tree (PYTHONPATH=.), and writes at most eight
# files under $OUT:
#   summary.md            what ran, on which GPU, with the numbers
#   tests.log             the CuPy tests (kernels, float64 GPU run == NumPy run)
#   bench_higgs.json      ADMM iteration at HIGGS scale: 10.5M x 28, hidden 300, float32
#   bench_svhn.json       ADMM iteration at SVHN scale: 120,290 x 3,072, hidden 100,50, float32
#   bench_naive.json      the same HIGGS network at 1M samples with the naive transcription
#   train_gpu.json        `admm-xp train --device cuda` on the embedded HIGGS rows
#   baselines_gpu.json    the gradient baselines on the GPU, if the baselines package is present
# All data at the paper's sizes is synthetic (the full files are not on that machine).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/gpu/latest}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
if ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/admm_xp_site .whl/*.whl \
    && export PYTHONPATH=/tmp/admm_xp_site
fi
export PYTHONPATH=".:${PYTHONPATH:-}"
export PYTHONUNBUFFERED=1
start=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - start )) s)"; }

step "environment"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  "$PY" -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__)"; } > "$OUT/env.txt" 2>&1

step "CuPy tests"
timeout 150 "$PY" -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_updates.py tests/test_rng.py \
  -k "cupy or gpu" > "$OUT/tests.log" 2>&1
echo "exit code $?" >> "$OUT/tests.log"

step "bench: HIGGS scale"
timeout 150 "$PY" -m admm_xp bench --device cuda --dtype float32 --n 10500000 --no-naive --quiet --out "$OUT/bench_higgs.json" \
  > /dev/null 2>> "$OUT/tests.log"
step "bench: SVHN scale"
timeout 90 "$PY" -m admm_xp bench --device cuda --dtype float32 --n 120290 --features 3072 --hidden 100,50 --quiet \
  --out "$OUT/bench_svhn.json" > /dev/null 2>> "$OUT/tests.log"
step "bench: naive transcription at 1M"
timeout 90 "$PY" -m admm_xp bench --device cuda --dtype float32 --n 1000000 --quiet --out "$OUT/bench_naive.json" \
  > /dev/null 2>> "$OUT/tests.log"

step "train on the embedded HIGGS rows"
timeout 60 "$PY" -m admm_xp train --device cuda --quiet --out "$OUT/train_gpu.json" >> "$OUT/tests.log" 2>&1

if [ -d baselines ] && [ -f baselines/cli.py ]; then
  step "baselines on the GPU"
  tmp=$(mktemp -d)
  # HIGGS-shaped (28 features, hidden 300) and SVHN-shaped (3,072 features, hidden 100,50) synthetic data,
  # smaller than the paper's sets so that generating them on the host fits the time budget.
  for m in sgd adam cg lbfgs; do
    timeout 45 "$PY" -m admm_xp baseline --method "$m" --device cuda --dataset synthetic --n-train 1000000 --max-time 15 \
      --quiet --out "$tmp/higgs_$m.json" >> "$OUT/tests.log" 2>&1
    timeout 45 "$PY" -m admm_xp baseline --method "$m" --device cuda --dataset synthetic-svhn --hidden 100,50 \
      --n-train 20000 --max-time 10 --quiet --out "$tmp/svhn_$m.json" >> "$OUT/tests.log" 2>&1
  done
  "$PY" - "$tmp" "$OUT/baselines_gpu.json" <<'PYEOF'
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
recs = [json.load(open(os.path.join(src, f))) for f in sorted(os.listdir(src)) if f.endswith(".json")]
json.dump(recs, open(dst, "w"), indent=1)
PYEOF
fi

step "summary"
"$PY" scripts/gpu_summary.py "$OUT" > "$OUT/summary.md" 2>> "$OUT/tests.log"
cat "$OUT/env.txt" >> "$OUT/summary.md"; rm -f "$OUT/env.txt"
step "done"
cat "$OUT/summary.md"
