#!/usr/bin/env bash
# Download the pure-Python wheels the GPU machine lacks into .whl/ (ignored by
# git; carried to the device machine with the working tree).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform any \
  -d .whl "array-api-compat==1.16.0" "array-api-strict==2.6.1"
ls -l .whl
