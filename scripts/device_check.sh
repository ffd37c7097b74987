#!/usr/bin/env bash
# The GPU check, in one call of under 8 minutes on a lent GPU machine (CuPy,
# PyTorch, mpi4py preinstalled, no network). Run from the repository root:
#
#   OUT=/some/dir scripts/device_check.sh
#
# It needs array-api-compat (and array-api-strict for the test suite's
# fixtures) carried as wheels in .whl/ (see scripts/fetch_device_wheels.sh),
# runs the project from this tree (PYTHONPATH=.; set ADMM_XP_SOURCE_COMMIT to
# the commit it was copied from: the .git that travels can be stale), and writes at most eight
# files under $OUT:
#   summary.md            what ran, on which GPU, with the numbers (scripts/gpu_probe.py's table, compare's)
#   tests.log             the CuPy tests (pytest -m cupy), every step's output and errors
#   bench_higgs.json      ADMM iteration at HIGGS scale: 10.5M x 28, hidden 300, float32
#   bench_higgs_f64.json  the same in float64
#   bench_naive.json      the same HIGGS network at 1M samples with the naive transcription
#   bench_svhn.json       ADMM iteration at SVHN scale: 120,290 x 3,072, hidden 100,50, float32
#   train_gpu.json        `admm-xp train --device cuda` on the embedded HIGGS rows
#   baselines_gpu.json    the gradient baselines on the GPU (synthetic data; SKIP_BASELINES=1 skips them)
# All data at the paper's sizes is synthetic (the full files are not on that machine).
#
# The steps run most important first, each under its own time limit, and the
# whole script stops starting steps at DEADLINE seconds (default 360), so a
# slow or failing step costs its own limit and no more.
#
# Dry run on a machine without a GPU (checks the script, not the GPU):
#   DEVICE=cpu N_HIGGS=20000 N_NAIVE=5000 N_SVHN=2000 BLOCK=4096 OUT=/tmp/dc scripts/device_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/gpu/latest}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
DEADLINE=${DEADLINE:-360}
N_HIGGS=${N_HIGGS:-10500000}
N_NAIVE=${N_NAIVE:-1000000}
N_SVHN=${N_SVHN:-120290}
BLOCK=${BLOCK:-1048576}
SKIP_BASELINES=${SKIP_BASELINES:-0}
if ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/admm_xp_site .whl/*.whl \
    && export PYTHONPATH=/tmp/admm_xp_site
fi
export PYTHONPATH=".:${PYTHONPATH:-}"
export PYTHONUNBUFFERED=1
LOG="$OUT/tests.log"
: > "$LOG"
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }
step() { echo "== $* ($(elapsed) s)" | tee -a "$LOG"; }
# limit MAX: seconds a step may take, MAX or what is left before DEADLINE (0: skip it).
limit() { local left=$(( DEADLINE - $(elapsed) )); (( left > $1 )) && echo "$1" || { (( left >= 15 )) && echo "$left" || echo 0; }; }
# run MAX CMD...: run CMD under its limit, errors into the log, a line saying how it ended.
run() {
  local max=$1; shift
  local t; t=$(limit "$max")
  if [ "$t" = 0 ]; then echo "skipped: no time left before the ${DEADLINE} s deadline" | tee -a "$LOG"; return 0; fi
  timeout "$t" "$@" >> "$LOG" 2>&1
  local rc=$?
  [ $rc = 124 ] && echo "stopped at its ${t} s limit" | tee -a "$LOG" || echo "exit code $rc" >> "$LOG"
  return 0
}

step "environment"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  "$PY" -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__)" || true
  "$PY" -m admm_xp --version || true; } > "$OUT/env.txt" 2>&1

step "bench: HIGGS scale, float32"
run 100 "$PY" -m admm_xp bench --device "$DEVICE" --dtype float32 --n "$N_HIGGS" --no-naive --quiet --out "$OUT/bench_higgs.json"

step "CuPy tests (pytest -m cupy)"
run 100 "$PY" -m pytest -q -p no:cacheprovider -m cupy tests

step "probe: each operation of one block on its own"
run 45 "$PY" scripts/gpu_probe.py --device "$DEVICE" --n "$N_HIGGS" --block "$BLOCK" --out "$OUT/probe.txt"

step "bench: naive transcription at 1M, float32"
run 60 "$PY" -m admm_xp bench --device "$DEVICE" --dtype float32 --n "$N_NAIVE" --repeats 3 --quiet --out "$OUT/bench_naive.json"

step "bench: HIGGS scale, float64"
run 80 "$PY" -m admm_xp bench --device "$DEVICE" --dtype float64 --n "$N_HIGGS" --no-naive --quiet --out "$OUT/bench_higgs_f64.json"

step "bench: SVHN scale, float32"
run 60 "$PY" -m admm_xp bench --device "$DEVICE" --dtype float32 --n "$N_SVHN" --features 3072 --hidden 100,50 --no-naive \
  --quiet --out "$OUT/bench_svhn.json"

step "train on the embedded HIGGS rows"
run 40 "$PY" -m admm_xp train --device "$DEVICE" --quiet --out "$OUT/train_gpu.json"

tmp=$(mktemp -d)
[ "$SKIP_BASELINES" = 1 ] || step "baselines on the GPU"
# HIGGS-shaped (28 features, hidden 300) synthetic data at 1M samples, each method for 6 s of training.
for m in sgd adam cg lbfgs; do
  [ "$SKIP_BASELINES" = 1 ] && break
  run 25 "$PY" -m admm_xp baseline --method "$m" --device "$DEVICE" --dataset synthetic --n-train "$N_NAIVE" --max-time 6 \
    --quiet --out "$tmp/higgs_$m.json"
done
"$PY" - "$tmp" "$OUT/baselines_gpu.json" <<'PYEOF'
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
recs = [json.load(open(os.path.join(src, f))) for f in sorted(os.listdir(src)) if f.endswith(".json")]
if recs:
    json.dump(recs, open(dst, "w"), indent=1)
PYEOF

step "compare on the GPU"
# admm-xp compare's GPU path: ADMM, Adam and a logistic regression on the embedded HIGGS rows, short searches
# (5 passes a point) and 3 s of training each; its table goes into summary.md.
run 60 "$PY" -m admm_xp compare --dataset higgs-sample --device "$DEVICE" --methods admm,adam,logreg --budget 3 \
  --tune-passes 5 --quiet --out "$tmp/compare"

step "summary"
"$PY" scripts/gpu_summary.py "$OUT" > "$OUT/summary.md" 2>> "$LOG"
{ echo; echo "## admm-xp compare on the GPU"; echo; cat "$tmp/compare/compare.md" 2>/dev/null || echo "(did not finish)"; } >> "$OUT/summary.md"
{ echo; echo '```'; cat "$OUT/probe.txt" 2>/dev/null; echo; cat "$OUT/env.txt"; echo '```'; } >> "$OUT/summary.md"
rm -f "$OUT/env.txt" "$OUT/probe.txt"
step "done"
cat "$OUT/summary.md"
