#!/usr/bin/env bash
# Install admm_xp into a fresh virtual environment and run the whole test
# suite: the unit and CLI tests, the import-linter contracts, then the data-parallel tests under
# `mpiexec -n 2` and the rank-equivalence test under `mpiexec -n 4`
# (oversubscribed on small machines). MPIEXEC_TIMEOUT ends any hung rank.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}

"$PY" -m venv "$VENV"
# shellcheck disable=SC1091
. "$VENV/bin/activate"
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[test]"
# PyTorch (CPU) adds a third array backend to the tests; they skip without it.
if [ "${ADMM_XP_TEST_TORCH:-1}" != "0" ]; then
  python -m pip install -q "torch==2.13.0" >/dev/null 2>&1 || echo "note: torch not installable here; its tests will skip"
fi

export MPIEXEC_TIMEOUT=${MPIEXEC_TIMEOUT:-900}
export PYTHONUNBUFFERED=1
python -m pytest -q tests "$@"
lint-imports  # the layers and forbidden imports of pyproject.toml [tool.importlinter]
mpiexec -n 2 python -m pytest -q -p no:cacheprovider tests/mpi
mpiexec -n 4 python -m pytest -q -p no:cacheprovider tests/mpi -k "same_weights or uneven"
echo "all tests passed"
